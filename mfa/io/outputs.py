"""All outputs of a run, written to one folder: results, GIS layers, tables, plots on request, and
what makes the folder self-contained (parameters.csv with the provenance of every
setting and input row, parameters.nc with every value used, the system definition)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import xarray as xr

from .. import calibration, config, definition, provenance, regions
from . import atomic_path, excel, geopackage, gis, netcdf, tables


def write_all(
    results: xr.Dataset,
    params: xr.Dataset,
    scenarios: dict[str, config.Scenario],
    out: Path,
    samples: xr.Dataset | None = None,
    boundaries: Path | None = None,
    code_field: str | None = None,
    lang: str = "en",
    with_plots: bool = False,
) -> tuple[dict[str, Path], pd.DataFrame, dict]:
    """results.nc, gis.nc, gis.gpkg, gis_fields.csv, results.gpkg, summary.csv,
    calibration.csv, results.xlsx and, ``with_plots``, the PNGs of :func:`write_plots`;
    returns their paths, the calibration table and the GIS report (matched/unmatched
    region codes). With ``samples`` (Monte-Carlo headline outputs), results.nc gains a
    ``<name>_quantile`` variable per output. With ``boundaries`` (GeoJSON, GPKG) the
    regions of gis.nc, gis.gpkg and results.gpkg are polygons instead of points.
    ``results.xlsx`` holds the tables a planner uses; ``lang``: the language of its
    sheet and column names and of the plots' words."""
    out = Path(out)
    first = next(iter(scenarios.values()))
    attrs = {
        **results.attrs,
        "scenario_files": ", ".join(provenance.relative(p) for p in provenance.scenario_files(scenarios)),
        "input_files": ", ".join(provenance.input_files(scenarios)),
        "overrides": results.attrs.get("overrides", ""),
    }
    extra = None
    if samples is not None:
        extra = samples.regions.rename({n: f"{n}_quantile" for n in samples.regions.data_vars})
        for name in extra.data_vars:
            extra[name].attrs["long_name"] = f"{results[name.removesuffix('_quantile')].attrs.get('long_name', name)}, quantiles over samples"
        info = samples.regions.attrs
        attrs.update(samples=info["samples"], sampling=info["sampling"], seed=info["seed"])
    meta = regions.metadata(first)
    places = gis.region_coords(gis.region_table(results, meta))
    paths = {"results": netcdf.write(results, out / "results.nc", attrs, extra, places)}
    stamped = results.assign_attrs(attrs)
    gis_report = gis.write_gis(stamped, meta, out / "gis.nc", boundaries, first.years.report_start, code_field,
                               gpkg=out / "gis.gpkg", dictionary=out / "gis_fields.csv")
    paths["gis"] = Path(gis_report["path"])
    paths["gis layer"] = Path(gis_report["gpkg"])
    paths["gis fields"] = Path(gis_report["dictionary"])
    # read again (write_gis read it too, small files): results.gpkg has the same polygons
    polygons = None if boundaries is None else gis.read_boundaries(Path(boundaries), [int(c) for c in results["region"].values], code_field)[0]
    paths["geopackage"] = geopackage.write_geopackage(stamped, meta, out / "results.gpkg", geometries=polygons)
    paths["summary"] = tables.write_csv(tables.summary(results, first.years.report_start), out / "summary.csv")
    table_cfg = first.province_table
    cal = calibration.table(results, params, first.study.file, first.years.report_start, first.study.region, first.study.end,
                            table_cfg.national_stock_file if table_cfg else None, table_cfg.retired_estimates_file if table_cfg else None)
    paths["calibration"] = tables.write_csv(cal, out / "calibration.csv")
    paths["parameters"] = tables.write_csv(provenance.table(scenarios), out / "parameters.csv")
    paths["parameter values"] = netcdf.write_parameters(params, out / "parameters.nc", attrs)
    with atomic_path(out / "system.yaml") as tmp:
        shutil.copyfile(definition.DEFAULT, tmp)
    paths["system"] = out / "system.yaml"
    paths["workbook"] = excel.write_workbook(out, lang)
    if with_plots:
        paths.update(write_plots(results, out / "plots", samples, lang))
    return paths, cal, gis_report


def write_plots(results: xr.Dataset, folder: Path, samples: xr.Dataset | None = None, lang: str = "en") -> dict[str, Path]:
    """The run's PNGs in ``folder``: demand, recovery and carbon by scenario, demand by
    chemistry (and by segment), with ``samples`` the fan charts; their paths by name.
    Not part of every run: matplotlib's import and the PNG encoding take longer than
    the rest of a small run (``mfa run --plots``, or ``--report``)."""
    from ..report import i18n, plots

    paths = {}
    with i18n.drawing(lang):
        for plot in plots.all_plots(results, folder):
            paths[plot.stem] = plot
        if samples is not None:
            for name in ("metal_demand", "metal_recovered", "carbon_reduction"):
                title = i18n.t("plots.fan_title", title=i18n.t(f"fan.{name}"))
                paths[f"fan_{name}"] = plots.fan(samples.total, name, folder / f"fan_{name}.png", title)
    return paths
