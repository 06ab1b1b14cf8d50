"""How close the model comes to the study's figures and to the official NEV stock.

One row per compared figure, labelled with its ``region``: the GB/T 2260 code of the
study's region, or ``national`` for the sum of every region against the national
figures (a multi-region case with a province table). The official stock counts every
NEV: a case with commercial segments compares the stock of all its segments; a
passenger-only case divides its stock by ``fleet.passenger_share`` first, as the ``note``
of those rows says.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from .config import resolve
from .inputs import read_rows, read_table
from .segments import PASSENGER
from .units import factor, magnitude_and_unit, plain, ureg

log = logging.getLogger(__name__)

COLUMNS = ["region", "figure", "scenario", "detail", "unit", "model", "reference", "difference_pct", "note"]
NATIONAL = "national"
DEMAND, RECOVERY, CARBON, STOCK = "cumulative_demand", "cumulative_recovery", "carbon_reduction_2050", "nev_stock"
"""The figures compared: the study's (cumulative 2023-2050 metal flows, 2050 carbon) and the official stock."""
_FIGURES = {
    DEMAND: ("metal_demand", "t"),
    RECOVERY: ("metal_recovered", "t"),
}


def _row(region, figure, scenario, detail, unit, model, reference, note=""):
    return {"region": str(region), "figure": figure, "scenario": scenario, "detail": detail, "unit": unit, "model": model,
            "reference": reference, "difference_pct": 100 * (model / reference - 1) if reference else np.nan, "note": note}


def _study_rows(results: xr.Dataset, region: int, study_file: str, report_start: int, study_end: int) -> list[dict]:
    rows = []
    scenarios = list(results["scenario"].values)
    # selections on plain numbers: on a pint array each costs milliseconds (mfa.units.dequantify)
    flows = {name: plain(results[name], "t/yr").sel(region=region)
             for name in (*(v for v, _ in _FIGURES.values()), "carbon_reduction") if name in results}
    study = read_rows(resolve(study_file), ("figure", "element", "scenario", "bound"))
    for _, r in study.iterrows():
        if r["scenario"] not in scenarios:
            continue
        if r["figure"] in _FIGURES:
            var, unit = _FIGURES[r["figure"]]
            series = flows[var].sel(scenario=r["scenario"], element=r["element"])
            model = float(series.sel(year=slice(report_start, study_end)).sum())
            rows.append(_row(region, r["figure"], r["scenario"], r["element"], unit, model, r["value"]))
        elif r["figure"] == CARBON:
            series = flows["carbon_reduction"].sel(scenario=r["scenario"], bound=r["bound"])
            model = float(series.sel(year=study_end))
            rows.append(_row(region, r["figure"], r["scenario"], r["bound"], "t yr-1", model, r["value"]))
    return rows


def _rows_by_scenario(region, figure: str, detail: str, unit: str, model: xr.DataArray, reference: float, note: str) -> list[dict]:
    """``model`` (by scenario) against ``reference``: one row, scenario ``all``, when every
    scenario has the same value (a historic year), else one row per scenario."""
    if np.allclose(model, model[0]):
        return [_row(region, figure, "all", detail, unit, float(model[0]), reference, note)]
    return [_row(region, figure, str(s), detail, unit, float(model.sel(scenario=s)), reference, note) for s in model["scenario"].values]


def _stock_rows(region, passenger_stock: xr.DataArray, passenger_share: xr.DataArray, official: dict[int, float]) -> list[dict]:
    """The model's stock of ``passenger_stock`` (vehicles by scenario, segment,
    powertrain and year; plain numbers) as all NEVs against ``official`` (by year);
    ``passenger_share``: plain numbers by scenario."""
    nev_stock, note = _all_nevs(passenger_stock, passenger_share)
    return [row for year, reference in official.items() if year in nev_stock["year"].values
            for row in _rows_by_scenario(region, STOCK, str(year), "1", nev_stock.sel(year=year), reference, note)]


def _all_nevs(stock: xr.DataArray, passenger_share: xr.DataArray) -> tuple[xr.DataArray, str]:
    """The model's NEV stock as every NEV type (plain numbers in, as :func:`_stock_rows`),
    and what that means: all segments when the case models commercial vehicles, else
    passenger cars scaled by their share of NEVs."""
    stock = stock.sum("powertrain")
    if list(stock["segment"].values) != [PASSENGER]:
        return stock.sum("segment"), "NEVs of every segment the case models (passenger cars, buses, light commercial vehicles, trucks)"
    share = float(np.unique(passenger_share.values)[0])
    note = (f"the model counts passenger cars; its stock is divided by the passenger share of NEVs ({share:g}, "
            "fleet.passenger_share) to compare with official figures of every NEV type")
    return stock.sum("segment") / passenger_share, note


_RETIRED = {
    "retired_capacity": ("battery_end_of_life", False, "GWh/yr", "GW h yr-1"),
    "retired_mass": ("battery_end_of_life", True, "t/yr", "t yr-1"),
    "processed_mass": ("battery_collected", True, "t/yr", "t yr-1"),
}
"""Published national figure -> (capacity flow, as pack mass?, unit, UDUNITS unit)."""


def _retired_rows(results: xr.Dataset, params: xr.Dataset, estimates_file: str) -> list[dict]:
    """The packs leaving vehicles nationally (every segment and region) against published
    estimates: capacity (GWh/yr) and pack mass (t/yr, capacity x pack mass per kWh by
    chemistry); what formal recyclers processed against the collected packs' mass."""
    rows = []
    for _, r in read_rows(resolve(estimates_file), ("figure", "year")).iterrows():
        year = int(r["year"])
        if r["figure"] not in _RETIRED or year not in results["year"].values:
            continue
        variable, as_mass, unit, udunits = _RETIRED[r["figure"]]
        # on plain numbers with their pint units alongside (mfa.units.dequantify), as pint would compute it
        flow, flow_unit = magnitude_and_unit(results[variable], variable)
        flow = flow.sel(year=year)
        flow = flow.sum([d for d in ("region", "segment") if d in flow.dims])
        if as_mass:
            mass, mass_unit = magnitude_and_unit(params["pack_mass_per_kwh"], "pack_mass_per_kwh")
            flow, flow_unit = flow * mass, flow_unit * mass_unit
        model = flow.sum("chemistry") * factor(flow_unit, unit)
        reference = float(ureg.Quantity(float(r["value"]), r["unit"]).to(unit).magnitude)
        rows += _rows_by_scenario(NATIONAL, r["figure"], str(year), udunits, model, reference, f"{r['source']} ({r['grade']}): {r['note']}")
    return rows


def table(results: xr.Dataset, params: xr.Dataset, study_file: str | None, report_start: int, region: int,
          study_end: int, national_stock_file: str | None = None, retired_estimates_file: str | None = None) -> pd.DataFrame:
    """One row per compared figure: region, model, reference, % difference, with units.

    ``region``: the study's region (its figures and official stock); with
    ``national_stock_file`` also the sum of all regions against the national stock. The
    study's figures cover ``report_start`` to ``study_end`` (cumulative) and ``study_end``
    (carbon); a figure whose years the run does not reach is left out, with a warning."""
    rows = []
    # selections and sums on plain numbers: on a pint array each costs milliseconds (mfa.units.dequantify)
    stock, share = plain(results["vehicle_stock"], "vehicle"), plain(params["passenger_share"], "1")
    if region in results["region"].values:
        if study_file and int(results["year"].max()) < study_end:
            log.warning("the run ends in %d, before the study's figures (%d-%d): calibration.csv compares only the official stock", int(results["year"].max()), report_start, study_end)
        elif study_file:
            rows += _study_rows(results, region, study_file, report_start, study_end)
        if "official_nev_stock" in params:
            official = plain(params["official_nev_stock"], "vehicle").isel(scenario=0).sel(region=region).dropna("official_year")
            # years before 2021 hold assumptions (Hainan's 2020 stock is graded D), not official figures
            years = {int(y): float(official.sel(official_year=y)) for y in official["official_year"].values if y >= 2021}
            rows += _stock_rows(region, stock.sel(region=region), share, years)
    if national_stock_file:
        national = plain(read_table(resolve(national_stock_file), ("segment", "year"), "vehicle", {"segment": "all"}), "vehicle")
        years = {int(y): float(national.sel(year=y)) for y in national["year"].values}
        rows += _stock_rows(NATIONAL, stock.sum("region"), share, years)
    if retired_estimates_file:
        rows += _retired_rows(results, params, retired_estimates_file)
    return pd.DataFrame(rows, columns=COLUMNS)



def _ratio_terms(cal: pd.DataFrame):
    """``(ratio, detail, numerators, denominators)`` of the study's internal ratios
    (REFERENCE s1), each term a ``(figure, scenario, detail)`` row of calibration.csv:
    the demand spread (last scenario / first, by element), Ni:Co:Mn of cumulative demand,
    recovery-to-demand by element and Li's over Ni's, the carbon bound ratio (upper /
    lower) and each scenario's 2050 carbon over the last scenario's."""
    def scenarios(figure):
        return list(dict.fromkeys(cal.loc[cal["figure"] == figure, "scenario"]))

    def details(figure):
        return list(dict.fromkeys(cal.loc[cal["figure"] == figure, "detail"]))

    metal = scenarios(DEMAND)
    for element in details(DEMAND):
        yield "demand_spread", f"{element} {metal[-1]}/{metal[0]}", [(DEMAND, metal[-1], element)], [(DEMAND, metal[0], element)]
    for s in metal:
        for element in ("Ni", "Co"):
            yield "demand_to_Mn", f"{s} {element}:Mn", [(DEMAND, s, element)], [(DEMAND, s, "Mn")]
        for element in details(RECOVERY):
            yield "recovery_to_demand", f"{s} {element}", [(RECOVERY, s, element)], [(DEMAND, s, element)]
        yield "recovery_to_demand", f"{s} Li/Ni", [(RECOVERY, s, "Li"), (DEMAND, s, "Ni")], [(DEMAND, s, "Li"), (RECOVERY, s, "Ni")]
    carbon = scenarios(CARBON)
    for s in carbon:
        yield "carbon_bound_ratio", f"{s} upper/lower", [(CARBON, s, "upper")], [(CARBON, s, "lower")]
    for bound in details(CARBON):
        for s in carbon[:-1]:
            yield "carbon_2050_to_last_scenario", f"{bound} {s}/{carbon[-1]}", [(CARBON, s, bound)], [(CARBON, carbon[-1], bound)]


def study_ratios(cal: pd.DataFrame) -> pd.DataFrame:
    """The study's internal ratios (REFERENCE s1) for the model and for the study, from
    the rows of calibration.csv (its ``model`` and ``reference`` columns), with the %
    difference: ratio, detail, model, study, difference_pct. A ratio whose rows the table
    lacks is left out."""
    rows = cal.drop_duplicates(["figure", "scenario", "detail"]).set_index(["figure", "scenario", "detail"])
    out = []
    for ratio, detail, numerators, denominators in _ratio_terms(cal.reset_index(drop=True)):
        if not set(numerators + denominators) <= set(rows.index):
            continue
        model, study = ((rows.loc[numerators, c].prod() / rows.loc[denominators, c].prod()) for c in ("model", "reference"))
        out.append({"ratio": ratio, "detail": detail, "model": model, "study": study, "difference_pct": 100 * (model / study - 1)})
    return pd.DataFrame(out, columns=["ratio", "detail", "model", "study", "difference_pct"])
