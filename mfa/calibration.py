"""How close the model comes to the study's figures and to the official NEV stock."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from .inputs import read_rows
from .config import resolve
from .segments import PASSENGER
from .units import plain

log = logging.getLogger(__name__)

_FIGURES = {
    "cumulative_demand": ("metal_demand", "t"),
    "cumulative_recovery": ("metal_recovered", "t"),
}


COLUMNS = ["figure", "scenario", "detail", "unit", "model", "reference", "difference_pct"]


def _row(figure, scenario, detail, unit, model, study):
    return {
        "figure": figure,
        "scenario": scenario,
        "detail": detail,
        "unit": unit,
        "model": model,
        "reference": study,
        "difference_pct": 100 * (model / study - 1) if study else np.nan,
    }


def table(results: xr.Dataset, params: xr.Dataset, study_file: str | None, report_start: int, region: int, study_end: int) -> pd.DataFrame:
    """One row per compared figure of ``region``: model, reference, % difference, with units.

    The study's figures cover ``report_start`` to ``study_end`` (cumulative) and
    ``study_end`` (carbon): the model is summed over those years only, and a figure whose
    years the run does not reach is left out, with a warning."""
    rows = []
    if region not in results["region"].values:
        return pd.DataFrame(rows, columns=COLUMNS)
    res = results.sel(region=region)
    scenarios = list(res["scenario"].values)
    if study_file and int(res["year"].max()) < study_end:
        log.warning("the run ends in %d, before the study's figures (%d-%d): calibration.csv compares only the official stock", int(res["year"].max()), report_start, study_end)
    elif study_file:
        study = read_rows(resolve(study_file), ("figure", "element", "scenario", "bound"))
        for _, r in study.iterrows():
            if r["scenario"] not in scenarios:
                continue
            if r["figure"] in _FIGURES:
                var, unit = _FIGURES[r["figure"]]
                series = plain(res[var].sel(scenario=r["scenario"], element=r["element"]), "t/yr")
                model = float(series.sel(year=slice(report_start, study_end)).sum())
                rows.append(_row(r["figure"], r["scenario"], r["element"], unit, model, r["value"]))
            elif r["figure"] == "carbon_reduction_2050":
                series = plain(res["carbon_reduction"].sel(scenario=r["scenario"], bound=r["bound"]), "t/yr")
                model = float(series.sel(year=study_end))
                rows.append(_row(r["figure"], r["scenario"], r["bound"], "t yr-1", model, r["value"]))
    if "official_nev_stock" not in params:
        return pd.DataFrame(rows, columns=COLUMNS)
    official = params["official_nev_stock"].isel(scenario=0).sel(region=region).dropna("official_year")
    # The model is of passenger cars; the official figures count every NEV.
    # The official figures count every NEV: with commercial segments the model's stock of
    # all segments, passenger cars alone scaled by their share of NEVs otherwise.
    stock = res["vehicle_stock"].sum("powertrain")
    if list(stock["segment"].values) == [PASSENGER]:
        stock = stock / params["passenger_share"]
    nev_stock = plain(stock.sum("segment"), "vehicle")
    for year in official["official_year"].values:
        if year not in res["year"].values or year < 2021:
            continue
        reference = float(plain(official.sel(official_year=year), "vehicle"))
        by_scenario = nev_stock.sel(year=year)
        if np.allclose(by_scenario, by_scenario[0]):  # the history is common to all scenarios
            rows.append(_row("nev_stock", "all", str(int(year)), "1", float(by_scenario[0]), reference))
            continue
        for scenario in scenarios:
            rows.append(_row("nev_stock", scenario, str(int(year)), "1", float(by_scenario.sel(scenario=scenario)), reference))
    return pd.DataFrame(rows, columns=COLUMNS)
