"""Command line: ``mfa run`` (and the commands later issues add).

Only this module configures logging, progress display and exit codes. Input errors
print one line and exit with code 2.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import InputError

# Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
console = Console(stderr=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pint").setLevel(logging.ERROR)  # cf_xarray's registry redefines a few units on import
    logging.captureWarnings(True)  # library warnings (e.g. unmatched boundary codes) as one log line each
    warnings.formatwarning = lambda message, category, *_, **__: f"{category.__name__}: {message}"
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="xarray")


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """mfa: dynamic material-flow model of EV traction batteries and their metals."""
    _setup_logging(verbose)


def _calibration_table(cal) -> Table:
    table = Table(title="Model vs reference (calibration.csv)")
    for column in ("figure", "scenario", "detail", "unit", "model", "reference", "difference_pct"):
        table.add_column(column, justify="right" if column in ("model", "reference", "difference_pct") else "left")
    for _, row in cal.iterrows():
        diff = row["difference_pct"]
        style = "green" if abs(diff) <= 10 else "red"
        table.add_row(row["figure"], row["scenario"], str(row["detail"]), row["unit"], f"{row['model']:.4g}", f"{row['reference']:.4g}", f"[{style}]{diff:+.1f} %[/{style}]")
    return table


@contextlib.contextmanager
def dask_client(workers: int | None, scheduler: str | None):
    """A dask.distributed client for the block: a LocalCluster of ``workers`` processes, or
    the cluster at ``scheduler``; without either, dask's in-process threads."""
    if not workers and not scheduler:
        yield None
        return
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def _progress(counted: bool = True) -> Progress:
    """Spinner, description, elapsed time; with ``counted`` a bar and "done/total" (steps, samples)."""
    counts = (BarColumn(), MofNCompleteColumn()) if counted else ()
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), *counts, TimeElapsedColumn(), console=err_console, transient=True)


SAMPLING_OPTIONS = [
    click.option("--samples", type=click.IntRange(min=1), default=None, help="Monte-Carlo draws of the uncertain parameters (scenario files' uncertainty:)."),
    click.option("--sampling", type=click.Choice(["sobol", "lhs"]), default="sobol", show_default=True, help="Quasi-random design of the draws."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draws (same seed, same draws)."),
    click.option("--chunk", type=click.IntRange(min=1), default=100, show_default=True, help="Samples per task (bounds memory)."),
    click.option("--workers", type=click.IntRange(min=1), default=None, help="Run the sample chunks on a local dask.distributed cluster of N worker processes."),
    click.option("--scheduler", default=None, metavar="ADDRESS", help="Run the sample chunks on the dask.distributed cluster at ADDRESS (e.g. tcp://host:8786)."),
]


def sampling_options(command):
    for option in reversed(SAMPLING_OPTIONS):
        command = option(command)
    return command


@main.command()
@click.option("--case", default="hainan-study", show_default=True, help="Case folder under scenarios/.")
@click.option("--scenario", "scenario_names", multiple=True, help="Run only these scenarios (repeatable).")
@click.option("--out", default="outputs", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a setting, e.g. end_of_life.collection_rate=0.8 (repeatable).")
@sampling_options
@click.option("--boundaries", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Region polygons (GeoJSON, GPKG) with a GB/T 2260 code field: gis.nc gets polygons instead of points.")
@click.option("--code-field", default=None, help="The boundaries' code field (default: found by name, e.g. code, adcode).")
@click.option("--report", "with_report", is_flag=True, help="Also write report.html (as `mfa report`).")
def run(case, scenario_names, out, overrides, samples, sampling, seed, chunk, workers, scheduler, boundaries, code_field, with_report) -> None:
    """Run a case and write results.nc, gis.nc, results.gpkg, summary.csv, calibration.csv and plots."""
    start = time.perf_counter()
    try:
        with _progress() as progress:
            task = progress.add_task("loading scenarios and inputs", total=3 + bool(samples) + with_report)
            from . import config, model
            from .io import gis, outputs

            if boundaries is not None:
                gis.check_boundaries(boundaries, code_field)  # a bad file stops the run before anything is written
            scenarios = config.load_scenarios(case, list(scenario_names) or None, list(overrides))
            progress.update(task, advance=1, description=f"running {case}: {', '.join(scenarios)}")
            results, params = model.run(scenarios)
            results.attrs["overrides"] = "; ".join(overrides)
            sampled = None
            if samples:
                from . import uncertainty

                progress.update(task, advance=1, description="Monte-Carlo samples")
                bar = progress.add_task(f"samples ({sampling}, seed {seed})", total=samples)
                with dask_client(workers, scheduler):
                    sampled = uncertainty.run_samples(scenarios, samples, sampling, seed, chunk, on_samples=lambda k: progress.advance(bar, k))
            progress.update(task, advance=1, description=f"writing outputs to {out}")
            paths, cal, gis_report = outputs.write_all(results, params, scenarios, out, sampled, boundaries, code_field)
            if with_report:
                from .report.html import write_report

                progress.update(task, advance=1, description="writing report.html")
                paths["report"] = write_report(out)
            progress.update(task, advance=1)
    except InputError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    elapsed = time.perf_counter() - start
    console.print(_calibration_table(cal))
    summary = Table(title=f"mfa run --case {case}", show_header=False)
    summary.add_row("scenarios", ", ".join(scenarios))
    summary.add_row("run time", f"{elapsed:.1f} s")
    summary.add_row(
        "largest mass-balance error",
        f"{results.attrs['max_abs_balance_error']:.3g} (relative {results.attrs['max_rel_balance_error']:.3g})",
    )
    within = int((cal["difference_pct"].abs() <= 10).sum())
    summary.add_row("calibration", f"{within} of {len(cal)} rows within +-10 %")
    summary.add_row("gis.nc regions", _gis_line(gis_report))
    for name, path in paths.items():
        summary.add_row(name, str(path))
    console.print(summary)


def _gis_line(report: dict) -> str:
    line = f"{report['regions']} as {report['geometry']}s"
    if report["geometry"] == "polygon":
        line += f" from {report['boundaries']} (field {report['code_field']}): {len(report['matched'])} matched"
        if report["regions_without_polygon"]:
            line += f", [yellow]without polygon: {', '.join(map(str, report['regions_without_polygon']))}[/yellow]"
        if report["unknown_codes"]:
            line += f", [yellow]codes that are no region: {', '.join(map(str, report['unknown_codes']))}[/yellow]"
    return line


@main.command()
@click.option("--out", default="outputs", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="The run folder (results.nc, calibration.csv, summary.csv); report.html is written there.")
@click.option("--year", "sankey_year", type=int, default=2040, show_default=True, help="Year of the Sankey of flows.")
@click.option("--scenario", default=None, help="Scenario of the Sankey, feedstock and regions (default: the middle one).")
def report(out: Path, sankey_year: int, scenario: str | None) -> None:
    """Write report.html (offline, self-contained) and the feedstock and secondary-supply tables from a run folder."""
    start = time.perf_counter()
    try:
        with _progress(counted=False) as progress:
            progress.add_task(f"writing the report of {out}")
            from .report.html import write_report

            path = write_report(out, sankey_year, scenario)
    except InputError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    console.print(f"report: {path}")
    for name in ("feedstock.csv", "feedstock_cumulative.csv", "secondary_supply.csv", "secondary_supply_targets.csv"):
        if (out / name).exists():
            console.print(f"{name.removesuffix('.csv')}: {out / name}")
    console.print(f"run time {time.perf_counter() - start:.1f} s")


@main.command()
@click.option("--case", default="hainan-study", show_default=True, help="Case folder under scenarios/.")
@click.option("--scenario", "scenario_names", multiple=True, help="Only these scenarios (repeatable).")
@click.option("--out", default="outputs", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a setting (repeatable).")
@click.option("--samples", type=click.IntRange(min=2), default=256, show_default=True, help="Base sample size N (a power of 2); the model runs N x (parameters + 2) times.")
@click.option("--output", "output_names", multiple=True, help="Outputs to analyse (repeatable; default: all).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--chunk", type=click.IntRange(min=1), default=200, show_default=True, help="Samples per task.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Local dask.distributed cluster of N worker processes.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Existing dask.distributed scheduler.")
def sensitivity(case, scenario_names, out, overrides, samples, output_names, seed, chunk, workers, scheduler) -> None:
    """Sobol first-order and total indices (SALib) of the uncertain parameters for chosen outputs."""
    start = time.perf_counter()
    try:
        with _progress() as progress:
            from . import config, uncertainty
            from .io import netcdf, tables
            from .report import plots

            scenarios = config.load_scenarios(case, list(scenario_names) or None, list(overrides))
            outputs = list(output_names) or list(uncertainty.OUTPUTS)
            runs = samples * (len(uncertainty.uncertain_names(scenarios)) + 2)
            bar = progress.add_task(f"Sobol analysis of {case}, N = {samples}: model runs", total=runs)
            with dask_client(workers, scheduler):
                indices = uncertainty.sensitivity(scenarios, samples, seed, chunk, outputs, on_samples=lambda k: progress.advance(bar, k))
            folder = out / "sensitivity"
            table = indices.to_dataframe().reset_index()
            paths = {
                "netcdf": netcdf.write_plain(indices, folder / "sensitivity.nc", title=f"mfa Sobol indices: {case}"),
                "csv": tables.write_csv(table, folder / "sensitivity.csv"),
            }
            for name in outputs:
                paths[f"chart {name}"] = plots.sobol_bars(indices, name, folder / f"sobol_{name}.png")
    except InputError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    for name in outputs:
        summary = Table(title=f"Largest total Sobol indices: {indices.attrs[f'output_{name}']}")
        summary.add_column("scenario")
        summary.add_column("drivers (ST +- 95 %)")
        for scenario in indices["scenario"].values:
            one = indices.sel(output=name, scenario=scenario).sortby("ST", ascending=False).isel(parameter=slice(0, 5))
            summary.add_row(str(scenario), ", ".join(f"{p} {st:.2f}+-{c:.2f}" for p, st, c in zip(one["parameter"].values, one["ST"].values, one["ST_conf"].values)))
        console.print(summary)
    for name, path in paths.items():
        console.print(f"{name}: {path}")
    console.print(f"{indices.attrs['model_runs']} model runs per scenario in {time.perf_counter() - start:.1f} s")


@main.command()
@click.argument("case_a", default="hainan-study")
@click.argument("case_b", default="hainan-outlook")
@click.option("--scenario", "scenario_names", multiple=True, help="Compare only these scenarios (repeatable).")
@click.option("--out", default="outputs", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
def compare(case_a: str, case_b: str, scenario_names: tuple[str, ...], out: Path) -> None:
    """Two cases side by side, and the part of their difference due to each group of assumptions."""
    start = time.perf_counter()
    try:
        with _progress(counted=False) as progress:
            progress.add_task(f"running {case_a} and {case_b} with each group of assumptions switched")
            from . import compare as comparison
            from .io import netcdf, tables
            from .report.waterfall import waterfall

            ds = comparison.run(case_a, case_b, list(scenario_names) or None)
            side, parts = comparison.tables(ds)
            folder = out / f"compare_{case_a}_vs_{case_b}"
            paths = {
                "comparison": tables.write_csv(side, folder / "comparison.csv"),
                "attribution": tables.write_csv(parts, folder / "attribution.csv"),
                "netcdf": netcdf.write_plain(ds, folder / "comparison.nc", title=f"mfa comparison: {case_a} vs {case_b}"),
            }
            for element in ds["element"].values:
                paths[f"waterfall {element}"] = waterfall(ds, str(element), folder / f"waterfall_{element}.png")
    except InputError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    li = parts[(parts["figure"] == "cumulative_demand") & (parts["element"] == "Li")].set_index("scenario")
    table = Table(title=f"Cumulative Li demand: {case_b} minus {case_a}, by group of assumptions [t]")
    columns = [c for c in li.columns if c not in ("figure", "element", "year", "bound", "unit")]
    table.add_column("scenario")
    for column in columns:
        table.add_column(column, justify="right")
    for scenario, row in li.iterrows():
        table.add_row(str(scenario), *[f"{row[c]:,.0f}" for c in columns])
    console.print(table)
    for name, path in paths.items():
        console.print(f"{name}: {path}")
    console.print(f"run time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
