"""Command line: ``mfa run``, ``report``, ``init``, ``compare``, ``sensitivity``.

Only this module configures logging, progress display and exit codes. One error path for
every command (:class:`_Main`): a mistake of the user's (an input, an option, a folder
that cannot be written) prints one line and exits with code 2; a bug of ours prints one
"please report" line, writes the traceback to a log file and exits with code 1
(``--debug`` shows the traceback instead). Each command replaces its outputs as one unit
(:mod:`mfa.io.rundir`).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import InputError
from .io import rundir

# Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
console = Console(stderr=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

DERIVED = ("report.html", "feedstock*.csv", "secondary_supply*.csv", "plots")
"""Files of a run folder computed from the run's results (by ``--plots``, ``--report`` or
``mfa report``): a new run drops them unless it writes them again, as they would describe
the old results."""

_OS_WORDS = {
    errno.ENOSPC: "disk full", errno.EDQUOT: "disk full (quota exceeded)",
    errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.EROFS: "permission denied (read-only file system)",
    errno.ENOENT: "missing directory or file", errno.ENOTDIR: "not a directory", errno.EISDIR: "a directory, where a file was expected",
}
"""What the user can do something about, in words, for the OSErrors of writing outputs."""

SENSITIVITY_END = 2050
"""The last year the outputs of ``mfa.uncertainty.OUTPUTS`` read (2040 and 2050 values)."""

SCHEDULER_TIMEOUT = 5
"""Seconds to wait for a dask scheduler to answer before giving up."""


def _mfa_version() -> str:
    try:
        return version("mfa")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _bug_log(err: BaseException) -> Path:
    """The traceback of ``err`` in a log file (the temporary folder), for a bug report."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(tempfile.gettempdir()) / f"mfa-error-{stamp}-{os.getpid()}.log"
    text = f"mfa {_mfa_version()}, Python {sys.version.split()[0]}\n{' '.join(sys.argv)}\n\n" + "".join(traceback.format_exception(err))
    path.write_text(text, encoding="utf-8")
    return path


def _failure(err: BaseException, debug: bool) -> tuple[int, str]:
    """Exit code and the one line for ``err``."""
    if isinstance(err, InputError):
        return 2, f"error: {_one_line(err)}"
    if isinstance(err, getattr(click.exceptions, "NoArgsIsHelpError", ())):  # bare `mfa`: the help, as click shows it
        return err.exit_code, err.format_message()
    if isinstance(err, click.ClickException):
        return 2, f"error: {_one_line(err.format_message())}"
    if isinstance(err, (click.Abort, _Terminated)):
        signal_name = "SIGTERM" if isinstance(err, _Terminated) else "SIGINT"
        return 128 + getattr(signal, signal_name), f"stopped by {signal_name}: the output folder is as it was before this run"
    if isinstance(err, OSError) and err.errno in _OS_WORDS:
        where = f"{err.filename}: " if err.filename else ""
        words, detail = _OS_WORDS[err.errno], _one_line(err.strerror or "")
        return 2, f"error: {where}{words}" + (f" ({detail})" if detail and detail.lower() not in words else "")
    if debug:
        traceback.print_exception(err)
        return 1, f"mfa: internal error ({type(err).__name__}); please report it with the traceback above"
    try:
        where = f"the traceback is in {_bug_log(err)}"
    except OSError:
        where = "run again with --debug for the traceback"
    return 1, f"mfa: internal error ({type(err).__name__}: {_one_line(err)[:120]}); please report it: {where}"


class _Terminated(BaseException):
    """SIGTERM, raised where the program is (a BaseException, like KeyboardInterrupt, so
    that no ``except Exception`` swallows it) to unwind like an error: staging folders are
    removed and the outputs stay as they were."""


def _stop_on_sigterm(signum, frame):
    raise _Terminated


class _Main(click.Group):
    """The ``mfa`` group, with one error path for every command (module docstring)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _stop_on_sigterm) if in_main_thread else None
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except (Exception, _Terminated) as err:  # every failure ends here: one line, and the exit code
            code, line = _failure(err, "--debug" in args)
            click.echo(line, err=True)
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
        if not standalone_mode:
            return code
        sys.exit(code)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pint").setLevel(logging.ERROR)  # cf_xarray's registry redefines a few units on import
    # dask.distributed logs INFO lines of its own (cluster start, worker addresses): only with -v.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", logging.getLevelName(max(level, logging.INFO if verbose else logging.WARNING)).lower())
    warnings.showwarning = _log_warning


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A Python warning as one log line: our own messages at WARNING (they tell the user
    something, e.g. unmatched boundary codes), anything else (other libraries', numpy's
    floating-point notes) at INFO, shown with ``-v``."""
    ours = issubclass(category, UserWarning) and Path(filename).resolve().is_relative_to(Path(__file__).resolve().parent)
    logging.getLogger("mfa" if ours else "py.warnings").log(logging.WARNING if ours else logging.INFO, "%s: %s", category.__name__, message)


@click.group(cls=_Main)
@click.version_option(_mfa_version(), "--version", prog_name="mfa", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--debug", is_flag=True, help="On an internal error, print the traceback instead of writing it to a log file.")
def main(verbose: int, debug: bool) -> None:  # noqa: ARG001 (--debug is read by _Main, as errors may come before this runs)
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

    if logging.getLogger().level >= logging.WARNING:  # distributed set its own INFO level on import
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT}s")
        except (OSError, ValueError, TypeError) as err:  # TimeoutError is an OSError
            raise InputError(None, "--scheduler", f"the address of a running dask scheduler (e.g. tcp://host:8786); none answered at {scheduler!r} within {SCHEDULER_TIMEOUT} s") from err
        with client:
            yield client
        return
    import dask

    # A nanny starts its worker with MALLOC_TRIM_THRESHOLD_ set; any explicit glibc
    # threshold turns off malloc's adaptive mmap threshold, so every array over 128 KiB is
    # a fresh mmap whose pages fault in on first touch: the 1,000-sample sweep took 19-23 s
    # on two nanny workers, 12-13 s without that variable (and 14-15 s with --no-nanny).
    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items() if k != "MALLOC_TRIM_THRESHOLD_"}
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ}),
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _progress(counted: bool = True) -> Progress:
    """Spinner, description, elapsed time; with ``counted`` a bar and "done/total" (steps, samples)."""
    counts = (BarColumn(), MofNCompleteColumn()) if counted else ()
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), *counts, TimeElapsedColumn(), console=err_console, transient=True)


SAMPLING_OPTIONS = [
    click.option("--samples", type=click.IntRange(min=1), default=None, help="Monte-Carlo draws of the uncertain parameters (scenario files' uncertainty:)."),
    click.option("--sampling", type=click.Choice(["sobol", "lhs"]), default="sobol", show_default=True, help="Quasi-random design of the draws."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draws (same seed, same draws)."),
    click.option("--chunk", type=click.IntRange(min=1), default=None, help="Samples per model run (default: ~1,024 sample x scenario x region series)."),
    click.option("--store", default=None, metavar="URL", help="Also keep every sample's headline outputs in a Zarr store at URL (a path or fsspec URL, e.g. s3://bucket/run.zarr, that every worker reaches)."),
    click.option("--workers", type=click.IntRange(min=1), default=None, help="Run the sample chunks on a local dask.distributed cluster of N worker processes."),
    click.option("--scheduler", default=None, metavar="ADDRESS", help="Run the sample chunks on the dask.distributed cluster at ADDRESS (e.g. tcp://host:8786)."),
]


LANG_OPTION = click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
                           help="Language of results.xlsx's sheet and column names and of the report.")


def sampling_options(command):
    for option in reversed(SAMPLING_OPTIONS):
        command = option(command)
    return command


@main.command()
@click.option("--case", default="hainan-study", show_default=True, help="Case folder under scenarios/, or the path of a case folder (e.g. one made by mfa init).")
@click.option("--scenario", "scenario_names", multiple=True, help="Run only these scenarios (repeatable).")
@click.option("--out", default="outputs", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a setting, e.g. end_of_life.collection_rate=0.8 (repeatable).")
@sampling_options
@click.option("--boundaries", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Region polygons (GeoJSON, GPKG) with a GB/T 2260 code field: gis.nc gets polygons instead of points.")
@click.option("--code-field", default=None, help="The boundaries' code field (default: found by name, e.g. code, adcode).")
@click.option("--plots", "with_plots", is_flag=True, help="Also draw plots/*.png: demand, recovery, carbon by scenario, demand by chemistry (fan charts with --samples).")
@click.option("--report", "with_report", is_flag=True, help="Also write report.html (as `mfa report`) and the plots of --plots.")
@LANG_OPTION
def run(case, scenario_names, out, overrides, samples, sampling, seed, chunk, store, workers, scheduler, boundaries, code_field, with_plots, with_report, lang) -> None:
    """Run a case and write results.nc, gis.nc, results.gpkg, summary.csv, calibration.csv and results.xlsx (plots with --plots or --report)."""
    start = time.perf_counter()
    with _progress() as progress, rundir.replacing(out, derived=DERIVED) as staging, contextlib.ExitStack() as scratch:
        task = progress.add_task("loading scenarios and inputs", total=3 + bool(samples) + with_report)
        from . import config, model
        from .io import gis, outputs

        if boundaries is not None:
            gis.check_boundaries(boundaries, code_field)  # a bad file stops the run before the model runs
        scenarios = config.load_scenarios(case, list(scenario_names) or None, list(overrides))
        cluster = scratch.enter_context(contextlib.ExitStack())
        if samples:  # connected before the model runs, so that an unreachable scheduler stops the run in seconds
            cluster.enter_context(dask_client(workers, scheduler))
        progress.update(task, advance=1, description=f"running {case}: {', '.join(scenarios)}")
        results, params = model.run(scenarios)
        results.attrs["overrides"] = "; ".join(overrides)
        sampled = None
        if samples:
            from . import uncertainty

            progress.update(task, advance=1, description="Monte-Carlo samples")
            bar = progress.add_task(f"samples ({sampling}, seed {seed})", total=samples)
            # tasks return reduced results: nothing on a disk the workers may not share, unless --store
            sampled = uncertainty.sample_quantiles(scenarios, samples, sampling, seed, chunk, store,
                                                   on_samples=lambda k: progress.advance(bar, k), params=params)
            cluster.close()  # the quantiles are computed in this process, as before
        progress.update(task, advance=1, description=f"writing outputs to {out}")
        with_plots = with_plots or with_report
        paths, cal, gis_report = outputs.write_all(results, params, scenarios, staging, sampled, boundaries, code_field, lang=lang, with_plots=with_plots)
        if with_report:
            from .io import excel
            from .report.html import write_report

            progress.update(task, advance=1, description="writing report.html")
            paths["report"] = write_report(staging, lang=lang)
            excel.write_workbook(staging, lang)  # again, with the feedstock and secondary-supply sheets the report wrote
        progress.update(task, advance=1)
    paths = _moved(paths, staging, out)
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
    overlay = config.case_dir(case) / config.CALIBRATED
    if overlay.exists():
        summary.add_row("calibrated values", f"from {overlay} (mfa calibrate); delete it to run the case's own values")
    summary.add_row("gis.nc regions", _gis_line(gis_report))
    if not with_plots:
        summary.add_row("plots", "not drawn: add --plots (or --report) for plots/*.png")
    for name, path in paths.items():
        summary.add_row(name, str(path))
    console.print(summary)


def _moved(paths: dict[str, Path], staging: Path, out: Path) -> dict[str, Path]:
    """The written paths where they are now: under ``out`` instead of its staging folder."""
    return {name: Path(out) / Path(path).relative_to(staging) for name, path in paths.items()}


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
@LANG_OPTION
def report(out: Path, sankey_year: int, scenario: str | None, lang: str) -> None:
    """Write report.html (offline, self-contained) and the feedstock and secondary-supply tables from a run folder."""
    start = time.perf_counter()
    with _progress(counted=False) as progress, rundir.replacing(out, clone=True) as staging:
        progress.add_task(f"writing the report of {out}")
        from .io import excel
        from .report.html import write_report

        path = write_report(staging, sankey_year, scenario, lang=lang)
        workbook = excel.write_workbook(staging, lang)  # refreshed with the feedstock and secondary-supply sheets
    console.print(f"report: {out / path.relative_to(staging)}")
    console.print(f"workbook: {out / workbook.relative_to(staging)}")
    for name in ("feedstock.csv", "feedstock_cumulative.csv", "secondary_supply.csv", "secondary_supply_targets.csv"):
        if (out / name).exists():
            console.print(f"{name.removesuffix('.csv')}: {out / name}")
    console.print(f"run time {time.perf_counter() - start:.1f} s")


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--region", required=True, metavar="CODE", help="GB/T 2260 code of the province, e.g. 440000 (Guangdong).")
@click.option("--from-case", default="china-provinces", show_default=True, help="The shipped case the new one layers on (e.g. hainan-outlook for its current battery and end-of-life data).")
@click.option("--force", is_flag=True, help="Replace FOLDER if it exists and is not empty.")
def init(folder: Path, region: str, from_case: str, force: bool) -> None:
    """Write a case folder for one province from the shipped provincial data: base.yaml,
    scenario files and data/ (history, population, NEV share of new-car sales, targets)."""
    from . import new_case

    written = new_case.create(folder, region, from_case, force)
    for name in written:
        console.print(f"{name}: {folder / name}")
    console.print(f"replace the data files listed at the top of {folder / 'base.yaml'} with your own; run it with: mfa run --case {folder}")


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
    if samples & (samples - 1):
        below = 1 << (samples.bit_length() - 1)
        raise InputError(None, "--samples", f"a power of 2 (Sobol' points are balanced only in blocks of 2^k, so Sobol indices from other sizes are biased): {below} or {2 * below}, got {samples}")
    with _progress() as progress, _subfolder(out, "sensitivity") as folder:
        from . import config, uncertainty
        from .io import netcdf, tables
        from .report import plots

        scenarios = config.load_scenarios(case, list(scenario_names) or None, list(overrides))
        first = next(iter(scenarios.values()))
        if first.years.end < SENSITIVITY_END:
            raise first.error("years.end", f"{SENSITIVITY_END} or later, as the outputs of mfa sensitivity include values of {SENSITIVITY_END}; got {first.years.end}")
        outputs = list(output_names) or list(uncertainty.OUTPUTS)
        runs = samples * (len(uncertainty.uncertain_names(scenarios)) + 2)
        bar = progress.add_task(f"Sobol analysis of {case}, N = {samples}: model runs", total=runs)
        with dask_client(workers, scheduler):
            indices = uncertainty.sensitivity(scenarios, samples, seed, chunk, outputs, on_samples=lambda k: progress.advance(bar, k))
        table = indices.to_dataframe().reset_index()
        paths = {
            "netcdf": netcdf.write_plain(indices, folder / "sensitivity.nc", title=f"mfa Sobol indices: {case}"),
            "csv": tables.write_csv(table, folder / "sensitivity.csv"),
        }
        for name in outputs:
            paths[f"chart {name}"] = plots.sobol_bars(indices, name, folder / f"sobol_{name}.png")
    paths = _moved(paths, folder.parent, out)
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


@contextlib.contextmanager
def _subfolder(out: Path, name: str):
    """A fresh ``out/name`` for a command's outputs, replaced as one unit with the rest of
    ``out`` (which is kept as it is)."""
    with rundir.replacing(out, clone=True) as staging:
        shutil.rmtree(staging / name, ignore_errors=True)  # only the links of the clone: the old files stay until the swap
        (staging / name).mkdir()
        yield staging / name


@main.command()
@click.argument("case_a", default="hainan-study")
@click.argument("case_b", default="hainan-outlook")
@click.option("--scenario", "scenario_names", multiple=True, help="Compare only these scenarios (repeatable).")
@click.option("--out", default="outputs", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
def compare(case_a: str, case_b: str, scenario_names: tuple[str, ...], out: Path) -> None:
    """Two cases side by side, and the part of their difference due to each group of assumptions."""
    start = time.perf_counter()
    if case_a == case_b:
        raise InputError(None, "CASE_B", f"a case other than CASE_A to compare it with, got {case_a!r} twice")
    with _progress(counted=False) as progress, _subfolder(out, f"compare_{Path(case_a).name}_vs_{Path(case_b).name}") as folder:
        progress.add_task(f"running {case_a} and {case_b} with each group of assumptions switched")
        from . import compare as comparison
        from .io import netcdf, tables
        from .report.waterfall import waterfall

        ds = comparison.run(case_a, case_b, list(scenario_names) or None)
        side, parts = comparison.tables(ds)
        paths = {
            "comparison": tables.write_csv(side, folder / "comparison.csv"),
            "attribution": tables.write_csv(parts, folder / "attribution.csv"),
            "netcdf": netcdf.write_plain(ds, folder / "comparison.nc", title=f"mfa comparison: {case_a} vs {case_b}"),
        }
        for element in ds["element"].values:
            paths[f"waterfall {element}"] = waterfall(ds, str(element), folder / f"waterfall_{element}.png")
    paths = _moved(paths, folder.parent, out)
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


@main.command()
@click.option("--case", default="hainan-study", show_default=True, help="Case folder under scenarios/, or a path to one; calibrated.yaml is written there.")
@click.option("--scenario", "scenario_names", multiple=True, help="Fit only these scenarios (repeatable).")
@click.option("--out", default="outputs", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="Folder of the fit report (calibration_fit/).")
def calibrate(case: str, scenario_names: tuple[str, ...], out: Path) -> None:
    """Fit the parameters the case declares (calibration:) inside their bands to its targets; write calibrated.yaml beside the case."""
    start = time.perf_counter()
    from . import calibrate as fitting
    from . import config

    names = list(scenario_names) or list(config.scenario_data(case, use_calibrated=False))
    with _progress(counted=False) as progress, _subfolder(out, "calibration_fit") as folder:
        bar = progress.add_task(f"fitting {case} ({', '.join(names)}): model runs", total=None)
        result = fitting.fit(case, names, on_run=lambda sets: progress.advance(bar))
        targets, parameters = fitting.report(result)
        from .io import tables

        paths = {
            "targets": tables.write_csv(targets, folder / "targets.csv"),
            "parameters": tables.write_csv(parameters, folder / "parameters.csv"),
            "study ratios": tables.write_csv(result.ratios, folder / "ratios.csv"),
        }
        if not result.assumptions.empty:
            paths["consumption held"] = tables.write_csv(result.assumptions, folder / "consumption_held.csv")
        overlay = fitting.write_overlay(case, result.fits)
    paths = _moved(paths, folder.parent, out)
    console.print(_frame(f"mfa calibrate --case {case}: targets", targets, {"scenario_fitted": "", "figure": "", "scenario": "", "detail": "", "model": "{:.4g}", "reference": "{:.4g}", "difference_pct": "{:+.1f} %"}))
    console.print(_frame("parameters", parameters.assign(band=[f"[{lo:g}, {hi:g}]" for lo, hi in zip(parameters["low"], parameters["high"])],
                                                         **{flag: parameters[flag].map({True: "yes", False: ""}) for flag in ("shared", "at_bound")}),
                         {"scenario": "", "parameter": "", "start": "{:.4g}", "value": "{:.4g}", "band": "", "shared": "", "at_bound": ""}))
    if not result.ratios.empty:
        console.print(_frame("the study's internal ratios (REFERENCE s1): model vs study", result.ratios, {"ratio": "", "detail": "", "model": "{:.3f}", "study": "{:.3f}", "difference_pct": "{:+.1f} %"}))
    if not result.assumptions.empty:
        console.print(_frame("carbon with fuel and electricity use held at one year (an assumption) vs on their paths", result.assumptions,
                             {"scenario": "", "detail": "", "consumption_held_at": "{}", "difference_pct": "{:+.1f} %", "difference_on_paths_pct": "{:+.1f} %", "effect_of_holding_pct": "{:+.1f} %"}))
    console.print(f"overlay: {overlay}")
    for name, path in paths.items():
        console.print(f"{name}: {path}")
    console.print(f"{result.runs} model runs ({result.candidates} parameter sets) in {time.perf_counter() - start:.1f} s")


def _frame(title: str, frame, formats: dict[str, str]) -> Table:
    """A rich table of ``frame``'s columns in ``formats`` (column -> format; "" as text)."""
    table = Table(title=title)
    for column, form in formats.items():
        table.add_column(column.replace("_", " "), justify="right" if form else "left")
    for _, row in frame.iterrows():
        table.add_row(*[(form.format(row[c]) if form else str(row[c])) for c, form in formats.items()])
    return table


if __name__ == "__main__":
    main()
