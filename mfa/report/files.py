"""The "files of this run" table: every file of the run folder, with what it holds."""

from __future__ import annotations

from pathlib import Path

from .cells import cell, table

WHAT = {
    "results.nc": "all variables, CF-1.8 NetCDF (the analysis cube)",
    "gis.nc": "one feature per region with the headline fields, CF-1.8 NetCDF for GIS tools",
    "results.gpkg": "yearly values per region, GeoPackage for QGIS",
    "summary.csv": "cumulative and milestone values",
    "calibration.csv": "model vs reference, by region",
    "parameters.csv": "every setting and input row used, with source and grade",
    "parameters.nc": "every parameter value the run used, with units",
    "system.yaml": "the declared system: processes, flows, stocks",
    "feedstock.csv": "retired packs and their metal by scenario, region, year, chemistry and stream",
    "feedstock_cumulative.csv": "the feedstock summed to 2030, 2035, 2040, 2050",
    "secondary_supply.csv": "recovered metal as a share of demand, by year",
    "secondary_supply_targets.csv": "first years at 20 % and 30 %, shares at milestones",
    "report.html": "this page",
}
"""What a file holds, by name; a file not named here is listed all the same."""


def run_files(out_dir: Path) -> list[str]:
    """Every file of the run folder (sub-folders too), relative, plus ``report.html``
    (about to be written); temporary files of an atomic write are not the run's."""
    found = {p.relative_to(out_dir).as_posix() for p in Path(out_dir).rglob("*") if p.is_file() and not p.name.startswith(".")}
    found.add("report.html")
    top = sorted(f for f in found if "/" not in f)
    return top + sorted(f for f in found if "/" in f)


def files_table(out_dir: Path) -> dict:
    rows = []
    for name in run_files(out_dir):
        what = WHAT.get(name) or ("figure (PNG, 150 dpi)" if name.endswith(".png") else "")
        rows.append([cell(name, "key"), cell(what)])
    return table(["file", "what"], rows)
