"""The report's tables as rows of cells (:mod:`mfa.report.cells`), each number with the
selection of ``results.nc`` or the CSV row it comes from."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from .. import definition
from . import charts, data, feedstock
from .cells import cell, fmt, from_csv, grade, selected, table
from .i18n import amount_unit, name, t

MILESTONES = (2030, 2035, 2040, 2050)
GRADES = "ABCD"


def grade_text() -> dict[str, str]:
    """What each grade means, in the report's language."""
    return {g: t(f"grade.{g}") for g in GRADES}


def _bounds(ds: xr.Dataset) -> list[str]:
    return [str(b) for b in ds["bound"].values] if "bound" in ds.dims else []


VEHICLES, TONNES = "1", "t"
"""Units of vehicle counts and masses; shown in :func:`mfa.report.i18n.amount_unit`."""


def fleet_headline(ds, scenarios, start, end) -> dict:
    rows = []
    years = [y for y in (2030, end) if y in ds["year"]]
    vehicles = amount_unit(VEHICLES)
    for scenario in scenarios:
        cells = [cell(name("scenario", scenario))]
        for y in years:
            cells.append(selected(ds, charts.sel_for(ds, "vehicle_stock", scenario=scenario, year=y, unit=vehicles)) if "vehicle_stock" in ds else cell("–"))
        for var in ("battery_capacity_demand", "battery_collected"):
            cells.append(selected(ds, charts.sel_for(ds, var, scenario=scenario, agg="sum", year_from=start, year_to=end, unit="GW h")))
        for bound in _bounds(ds):
            cells.append(selected(ds, charts.sel_for(ds, "carbon_reduction", scenario=scenario, bound=bound, year=end, unit="Mt yr-1")))
        rows.append(cells)
    headers = [t("header.scenario")] + [t("header.nevs_in_use", year=y, unit=charts.label(vehicles)) for y in years]
    headers += [t("header.battery_demand", start=start, end=end, unit=charts.label("GW h")),
                t("header.packs_collected", start=start, end=end, unit=charts.label("GW h"))]
    headers += [t("header.co2_reduction", end=end, bound=name("bound", b), unit=charts.label("Mt yr-1")) for b in _bounds(ds)]
    return table(headers, rows)


def metal_headline(ds, scenarios, elements, start, end) -> dict:
    y35 = 2035 if 2035 in ds["year"] else end
    tonnes = amount_unit(TONNES)
    rows = []
    for scenario in scenarios:
        for element in elements:
            cells = [cell(name("scenario", scenario)), cell(name("element", element))]
            for var in ("metal_demand", "metal_recovered"):
                cells.append(selected(ds, charts.sel_for(ds, var, scenario=scenario, element=element, agg="sum", year_from=start, year_to=end, unit=tonnes)))
            cells.append(selected(ds, charts.sel_for(ds, "metal_in_use", scenario=scenario, element=element, year=end, unit=tonnes)))
            cells.append(selected(ds, _share(ds, scenario, element, year=y35)))
            rows.append(cells + first_year_cells(ds, scenario, element))
    unit = charts.label(tonnes)
    return table([t("header.scenario"), t("header.element"), t("header.demand_cum", start=start, end=end, unit=unit),
                  t("header.recovered_cum", start=start, end=end, unit=unit), t("header.in_use", end=end, unit=unit),
                  t("header.share", year=y35)] + _first_year_headers(), rows)


def _first_year_headers() -> list[str]:
    return [t("header.first_year", pct=round(100 * threshold)) for threshold in feedstock.THRESHOLDS]


def _share(ds, scenario, element, **kw) -> dict:
    """The selection of recovered / demand (%) of ``element``."""
    return charts.sel_for(ds, "metal_recovered", scenario=scenario, element=element, agg="ratio", den="metal_demand", unit="percent", **kw)


def first_year_cells(ds, scenario, element) -> list[dict]:
    """The first year recovered / demand reaches each threshold, with the selection."""
    out = []
    sel = _share(ds, scenario, element)
    x, y = charts.line(ds, sel)
    for threshold in feedstock.THRESHOLDS:
        year = feedstock.first_year_reaching(x, [None if v is None else v / 100 for v in y], threshold)
        attrs = {**data.data_attrs(sel), "data-first-year": "" if year is None else year, "data-threshold": threshold}
        out.append(cell(year if year is not None else t("header.not_by", year=int(ds["year"].max())), "year", attrs))
    return out


def supply_table(ds, scenarios, elements) -> dict:
    years = [y for y in MILESTONES if y in ds["year"]]
    rows = []
    for scenario in scenarios:
        for element in elements:
            cells = [cell(name("scenario", scenario)), cell(name("element", element))]
            cells += [selected(ds, _share(ds, scenario, element, year=y)) for y in years]
            rows.append(cells + first_year_cells(ds, scenario, element))
    return table([t("header.scenario"), t("header.element")] + [t("header.share", year=y) for y in years] + _first_year_headers(), rows)


def feedstock_cumulative(ds, scenario, elements, start) -> dict:
    system = definition.load()
    tonnes = amount_unit(TONNES)
    rows = []
    for end in [y for y in MILESTONES if y in ds["year"] and y >= start]:
        for stream, var in feedstock.streams().items():
            if var not in ds:
                continue
            cells = [cell(f"{start}–{end}"), cell(charts.stream_name(stream))]
            cells.append(selected(ds, charts.sel_for(ds, var, scenario=scenario, agg="sum", year_from=start, year_to=end, unit="GW h")))
            for element in elements:
                cells.append(selected(ds, charts.sel_for(ds, system.material_twin(var), scenario=scenario, element=element,
                                                         agg="sum", year_from=start, year_to=end, unit=tonnes)))
            rows.append(cells)
    headers = [t("header.period"), t("header.stream"), t("header.capacity", unit=charts.label("GW h"))]
    return table(headers + [t("header.element_amount", element=name("element", e), unit=charts.label(tonnes)) for e in elements], rows)


def feedstock_column_header(quantity: str, unit: str) -> str:
    """The header of a quantity of feedstock.csv (``battery_capacity``, ``pack_mass``,
    ``black_mass`` or an element) with its unit as a reader writes it."""
    if quantity == "battery_capacity":
        return t("header.capacity", unit=charts.label(unit))
    if quantity in ("pack_mass", "black_mass"):
        return t(f"header.{quantity}", unit=charts.label(unit))
    return t("header.element_amount", element=name("element", quantity), unit=charts.label(unit))


def feedstock_rows(table_df: pd.DataFrame, scenario: str, year: int, regions: int) -> pd.DataFrame:
    """The all-chemistry rows of one scenario and year (the region total when there are
    several), with their row numbers in feedstock.csv as the index."""
    part = table_df[(table_df["scenario"] == scenario) & (table_df["year"] == year) & (table_df["chemistry"] == "all")]
    if regions > 1:
        part = part[part["region"] == "total"]
    return part


def feedstock_excerpt(table_df: pd.DataFrame, scenario: str, year: int, regions: int) -> dict:
    """One row per stream (inputs of sorting, then outputs), one column per quantity; each
    number points at its row of feedstock.csv."""
    part = feedstock_rows(table_df, scenario, year, regions)
    quantities = list(dict.fromkeys(part["quantity"]))
    units = dict(zip(part["quantity"], part["unit"]))
    rows = []
    for (direction, stream), group in part.groupby(["direction", "stream"], sort=False):
        by_quantity = {q: (i, v) for i, q, v in zip(group.index, group["quantity"], group["value"])}
        line = [cell(t(f"header.direction_{direction}")), cell(charts.stream_name(stream))]
        line += [from_csv(by_quantity[q][1], "feedstock.csv", by_quantity[q][0], "value") if q in by_quantity else cell("–") for q in quantities]
        rows.append(line)
    headers = [t("header.direction"), name("header", "stream")] + [feedstock_column_header(q, units[q]) for q in quantities]
    return table(headers, rows, cls="data small")


def regions_table(ds, names, scenario, elements, start, end) -> dict:
    y = 2030 if 2030 in ds["year"] else end
    vehicles, tonnes = amount_unit(VEHICLES), amount_unit(TONNES)
    rows = []
    for _, r in names.iterrows():
        code = str(r["code"])
        cells = [cell(code), cell(r["name_zh"], "zh", {"lang": "zh-Hans"}), cell(r["name_en"], None, {"lang": "en"})]
        if "vehicle_stock" in ds:
            cells.append(selected(ds, charts.sel_for(ds, "vehicle_stock", scenario=scenario, region=code, year=y, unit=vehicles)))
        for element in elements[:1]:
            for var in ("metal_demand", "metal_recovered"):
                cells.append(selected(ds, charts.sel_for(ds, var, scenario=scenario, region=code, element=element, agg="sum",
                                                         year_from=start, year_to=end, unit=tonnes)))
        cells.append(selected(ds, charts.sel_for(ds, "battery_collected", scenario=scenario, region=code, agg="sum",
                                                 year_from=start, year_to=end, unit="GW h")))
        rows.append(cells)
    e = name("element", elements[0]) if elements else ""
    headers = [t("header.code"), t("header.name"), t("header.name_en")]
    headers += [t("header.nevs_in_use", year=y, unit=charts.label(vehicles))] if "vehicle_stock" in ds else []
    headers += [t("header.element_demand_cum", element=e, start=start, end=end, unit=charts.label(tonnes)),
                t("header.element_recovered_cum", element=e, start=start, end=end, unit=charts.label(tonnes)),
                t("header.packs_collected", start=start, end=end, unit=charts.label("GW h"))]
    return table(headers, rows)


def region_label(code: str, names: pd.DataFrame) -> str:
    """A calibration row's region: ``"海南省 Hainan (460000)"``, or the word itself
    (``national``) when it is no region code."""
    match = names[names["code"] == str(code)]
    if match.empty:
        return name("calibration", code)
    r = match.iloc[0]
    return t("calibration.region", name_zh=r["name_zh"], name_en=r["name_en"], code=code).strip()


def calibration_table(calibration: pd.DataFrame, names: pd.DataFrame) -> dict:
    rows = []
    for i, r in calibration.iterrows():
        diff = r.get("difference_pct")
        bad = isinstance(diff, (int, float)) and math.isfinite(diff) and abs(diff) > 10
        unit = str(r["unit"])
        region = region_label(r["region"], names) if "region" in calibration.columns else ""
        rows.append([cell(region), cell(name("figure", r["figure"])), cell(name("scenario", r["scenario"])), cell(name("bound", r["detail"])),
                     cell(charts.label(unit)),
                     from_csv(r["model"], "calibration.csv", i, "model"), from_csv(r["reference"], "calibration.csv", i, "reference"),
                     from_csv(diff, "calibration.csv", i, "difference_pct", cls="num bad" if bad else "num")])
    keys = ("region", "figure", "scenario", "detail", "unit", "model", "reference", "difference")
    return table([t(f"header.{k}") for k in keys], rows)


def balance_table(ds: xr.Dataset, system) -> tuple[dict, str]:
    """Per balance of the declared system: the largest error the run logged and the one
    recomputed from the file; and the balance and unit of the largest logged error."""
    from ..balance import process_balance

    logged = {}
    for part in str(ds.attrs.get("balance_by_process", "")).split(";"):
        key, _, value = part.rpartition(":")
        try:
            logged[key.strip()] = float(value)
        except ValueError:
            continue
    rows, worst_text, worst_logged = [], "", -1.0
    for process, quantity in system.balances():
        key = f"{process} ({quantity})"  # as the run logs it
        label = f"{name('process', process)} ({name('quantity', quantity)})"
        unit = charts.label(data.units_of(ds, system.inflows(process, quantity)[0]))
        balance = process_balance(ds, system, process, quantity)
        values = np.abs(np.asarray(balance.values, dtype=float))
        worst = float(np.max(values)) if values.size else 0.0
        spot = ""
        if worst and math.isfinite(worst):
            where = balance.isel({d: int(i) for d, i in zip(balance.dims, np.unravel_index(int(np.argmax(values)), values.shape))})
            spot = ", ".join(f"{d} {where[d].values}" for d in balance.dims if d in where.coords)
        if logged.get(key, -1.0) > worst_logged:
            worst_logged = logged[key]
            worst_text = f" ({label}) [{unit}]"
        logged_cell = (cell(fmt(logged[key]), "num", {"data-attr": "balance_by_process", "data-key": key, "data-value": repr(logged[key])})
                       if key in logged else cell("–"))
        recomputed = cell(fmt(worst), "num", {"data-check": "balance", "data-process": process, "data-quantity": quantity, "data-value": repr(worst)})
        rows.append([cell(label), cell(unit), logged_cell, recomputed, cell(spot, "key")])
    headers = [t(f"header.{k}") for k in ("process", "unit", "logged", "recomputed", "where")]
    return table(headers, rows), worst_text


def provenance_groups(prov: pd.DataFrame | None) -> list[dict] | None:
    """The assumptions of the run, from ``parameters.csv``: per kind (input tables,
    scenario files, overrides) and file, every value with its unit, source, year, grade
    and note (a setting's comment is its source)."""
    if prov is None:
        return None
    texts = grade_text()
    groups = []
    for kind in ("input", "setting", "override"):
        part = prov[prov["kind"] == kind]
        blocks = []
        for file, rows in part.groupby("file", sort=False):
            counts = rows["grade"].value_counts()
            # sources and notes are the input files' own English text: marked so (lang="en")
            body = [[cell(r["key"], "key"), cell(r["value"], "num raw", {"data-input": file, "data-row": i, "data-column": "value"}),
                     cell(r["unit"], "key"), cell(r["source"], "src", {"lang": "en"}), cell(r["source_year"]),
                     grade(r["grade"], texts.get(r["grade"], "")), cell(r["note"], "note", {"lang": "en"})]
                    for i, (_, r) in enumerate(rows.iterrows())]
            headers = [t(f"header.{k}") for k in ("key", "value", "unit", "source", "source_year", "grade", "note")]
            blocks.append({"file": file, "n": len(rows), "grades": [(g, int(counts[g])) for g in "ABCD" if counts.get(g, 0)],
                           "table": table(headers, body, cls="data small")})
        if blocks:
            groups.append({"heading": t(f"assumptions.{kind}"), "blocks": blocks})
    return groups
