"""``mfa init DIR --region CODE``: a case folder of one province from the shipped provincial data.

A planner in any province gets a case that runs at once and shows which files to replace
with their own data. The folder holds:

- ``base.yaml``: layers on a shipped case (``extends:``), names the province as a region
  with data of its own (``regions: {CODE: ...}``, files under ``data/``), every value with
  its source and grade in a comment, and at the top the files to replace;
- the scenario files of that case, copied, so the scenarios layer on this base;
- ``data/history.csv`` (NEV registrations by year), ``data/population.csv``,
  ``data/new_car_sales.csv`` (NEV share of new-car sales) and ``data/targets.csv`` (the
  official points to calibrate against), in the long format of ``inputs/``.

The default case to layer on is ``china-provinces``: its fleet drivers (NEV share of
new-car sales, car ownership, population) are national defaults meant for every province,
where ``hainan-outlook``'s are Hainan's own (the 2030 ban on petrol-car sales, ownership
growth fitted to Hainan's vehicle stock); and the history is derived exactly as that
case derives each province's (:func:`mfa.regions.table_registrations`), so a new case
reproduces its province's row of the 31-province run until the planner's data replace it.

Registrations in ``history.csv`` are of every NEV type, as a region's history file holds
them (the model takes ``fleet.passenger_share`` of them): the provincial table's
passenger-EV registrations divided by that share (grade D, the method in each note).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import config, provenance, regions
from .errors import InputError
from .io import rundir
from .units import plain

log = logging.getLogger(__name__)

DEFAULT_CASE = "china-provinces"
PROVINCES_CASE = "china-provinces"
"""The shipped case whose ``province_table`` holds the provincial data (its files and the
national values it applies to every province)."""
SEGMENT_SALES = "inputs/china/segment_sales.csv"
CAR_SALES = "inputs/china/passenger_car_sales.csv"
COLUMNS = ["value", "unit", "source", "source_year", "grade", "note"]
TARGET_COLUMNS = ["figure", "scenario", "region", "year", "value", "unit", "weight", "source", "source_year", "grade", "note"]
OFFICIAL_YEARS = (2021, 2025)
"""Years of the official NEV stock points a planner should add (the calibration compares 2021 on)."""


def _province(table: config.ProvinceTable, text: str) -> dict:
    """The province with GB/T 2260 code ``text``: its names and rows of the provincial table."""
    meta = pd.read_csv(config.resolve(table.meta_file), dtype={"code": str})
    row = meta[meta["code"] == str(text).strip()]
    if row.empty:
        examples = ", ".join(f"{c} {n}" for c, n in meta[["code", "name_en"]].head(3).itertuples(index=False))
        raise InputError(None, "--region", f"the GB/T 2260 code of a province of {table.meta_file} (e.g. {examples}), got {text!r}")
    rows = pd.read_csv(config.resolve(table.file), dtype={"province": str})
    return {**row.iloc[0].to_dict(), "code": int(row.iloc[0]["code"]), "rows": rows[rows["province"] == row.iloc[0]["code"]].set_index("variable")}


def _nev_share(year: int) -> tuple[float, str, int]:
    """The national NEV share of new passenger-car sales in ``year``: passenger BEV + PHEV
    sales over domestic passenger-car sales (both domestic basis); value, note, source year."""
    segments = pd.read_csv(config.resolve(SEGMENT_SALES))
    cars = pd.read_csv(config.resolve(CAR_SALES))
    nev = segments[segments["segment"].isin(["passenger_bev", "passenger_phev"]) & (segments["year"] == year)]
    market = cars[(cars["basis"] == "domestic") & (cars["year"] == year)]
    if len(nev) != 2 or len(market) != 1:
        raise InputError(SEGMENT_SALES, "year", f"passenger_bev and passenger_phev rows of {year} here and a domestic row of {year} in {CAR_SALES}, the last historic year")
    share = round(float(nev["value"].sum()) / float(market["value"].iloc[0]), 3)
    note = (f"derived: national NEV share of new passenger-car sales {year}, {nev['value'].sum() / 1e6:.2f} M passenger NEVs "
            f"({SEGMENT_SALES}, passenger_bev + passenger_phev) / {market['value'].iloc[0] / 1e6:.2f} M passenger cars sold in China "
            f"({CAR_SALES}, domestic), rounded; every province gets the national share: replace it with your province's")
    return share, note, int(max(nev["source_year"].max(), market["source_year"].max()))


def _history(table, province, years, passenger_share, from_case) -> pd.DataFrame:
    """NEV registrations by year (all NEV types), with the method of each year in its note."""
    passenger = plain(regions.table_registrations(table, years).sel(region=province["code"]), "vehicle/yr")
    rows = province["rows"]
    r22, r23 = (float(rows.loc[f"registrations_{y}", "value"]) for y in (2022, 2023))
    cumulative = float(rows.loc["cumulative_registrations_2016_2023", "value"])
    source = f"{rows.loc['registrations_2023', 'source']}; CAAM national NEV sales ({table.national_sales_file}) for the shape over the years"
    source_year = int(max(rows["source_year"].max(), pd.read_csv(config.resolve(table.national_sales_file))["source_year"].max()))
    share_text = f"/ passenger share {passenger_share:g} (fleet.passenger_share of {from_case}, D) for every NEV type"
    out = []
    for year in years:
        value = float(passenger.sel(year=year))
        if year in (2022, 2023):
            how = f"passenger-EV registrations {value:,.0f} ({table.file}, B)"
        elif 2016 <= year <= 2021:
            how = (f"passenger EVs {value:,.0f}: cumulative 2016-2023 {cumulative:,.0f} minus 2022 ({r22:,.0f}) and 2023 ({r23:,.0f}), "
                   "split over 2016-2021 in proportion to national NEV sales")
        elif year < 2016:
            how = f"passenger EVs {value:,.0f}: the 2016 value x national NEV sales {year}/2016"
        else:
            how = f"passenger EVs {value:,.0f}: 2023 registrations x national NEV sales {year}/2023"
        out.append({"variable": "nev_registrations", "year": int(year), "value": round(value / passenger_share), "unit": "vehicle/yr",
                    "source": source, "source_year": source_year, "grade": "D",
                    "note": f"derived as mfa/regions.py table_registrations: {how}, {share_text}, rounded"})
    return pd.DataFrame(out, columns=["variable", "year", *COLUMNS])


def _targets(province, report_year: int = 2023) -> pd.DataFrame:
    """The stock proxy of ``report_year`` and empty rows for the official NEV stock."""
    row = province["rows"].loc["cumulative_registrations_2016_2023"]
    proxy = {"figure": "passenger_nev_stock", "scenario": "all", "region": province["code"], "year": report_year, "value": row["value"],
             "unit": "vehicle", "weight": 1, "source": row["source"], "source_year": row["source_year"], "grade": row["grade"],
             "note": ("stock proxy: passenger EVs registered 2016-2023, without scrappage, so an upper bound of the end-2023 passenger-NEV "
                      "stock (Hainan: proxy 272k against 273k official in Oct 2023, REFERENCE s7); compare with the model's vehicle_stock")}
    empty = [{"figure": "nev_stock", "scenario": "all", "region": province["code"], "year": year, "value": None, "unit": "vehicle", "weight": 0,
              "source": None, "source_year": None, "grade": None,
              "note": ("no official figure ships with mfa: enter the year-end NEV stock of every NEV type (provincial public-security "
                       "department), its source and grade, a weight > 0, and the same number as a nev_stock row of data/history.csv")}
             for year in range(OFFICIAL_YEARS[0], OFFICIAL_YEARS[1] + 1)]
    return pd.DataFrame([proxy, *empty], columns=TARGET_COLUMNS).astype({"value": "Int64", "source_year": "Int64"})


def _population(province) -> pd.DataFrame:
    row = province["rows"].loc["population_2023"]
    return pd.DataFrame([{"year": 2023, **{c: row[c] for c in COLUMNS}}], columns=["year", *COLUMNS])


def _scalar(text: str) -> str:
    """``text`` as a YAML string: plain where YAML reads it back as the same string, else quoted."""
    return text if yaml.safe_load(text) == text and not text.startswith(("'", '"')) and ": " not in text and " #" not in text else json.dumps(text, ensure_ascii=False)


def _base_yaml(folder: Path, province, from_case: str, base: config.Scenario, table: config.ProvinceTable) -> str:
    code, name, years = province["code"], province["name_en"], base.years
    population = province["rows"].loc["population_2023"]
    others = "".join(f"{f'  {other}: null':<28}# {region.name}, a region of {from_case}'s layers: not in this case\n"
                     for other, region in base.regions.items() if other != code)
    today = datetime.date.today().isoformat()
    return f"""\
# {name} ({province['name_zh']}, GB/T 2260 {code}): a case of its own, made by `mfa init` on {today}
# from the provincial data shipped with mfa. It layers on the case {from_case}: every setting not
# written here (chemistry, lifetimes, end of life, carbon, the fleet's S-curves) is that case's,
# with its source and grade in that case's files (`mfa run` lists them all in parameters.csv).
#
# Replace these with your own data (same columns; every row with source, source_year, grade A-D, note):
#   data/history.csv        NEV registrations (all NEV types) by year {years.start}-{years.history_end};
#                           official NEV stock rows (variable nev_stock) are left for you to add
#   data/population.csv     resident population by year
#   data/new_car_sales.csv  NEV share of new-car sales (the {years.history_end} row is required)
#   data/targets.csv        official figures to calibrate against (figure, scenario, region, year, value, unit, weight)
#   regions.{code}.cars_per_1000_observed below: passenger cars per 1000 people in {years.history_end}
# To change a recycling rate: end_of_life.collection_rate (share of retired packs reaching a formal
# recycler, by year) in a scenario file of this folder (negative.yaml ...) or here for all scenarios.
# The data/ paths are read from this folder, wherever it is; inputs/ paths of the layers below
# from mfa's own inputs. Run: mfa run --case {folder}
extends: {from_case}
case:
  name: {_scalar(folder.name)}
  description: {_scalar(f"{name} ({province['name_zh']}) {years.start}-{years.end}, from the shipped provincial data, layered on {from_case}")}
  scenarios: [{", ".join(map(_scalar, base.case.scenarios))}]
province_table: null        # the province has data of its own (data/), not the 31-province table
study:
  file: null                # no study to reproduce: calibration.csv compares the official NEV stock rows of data/history.csv
  region: {code}
regions:
{others}  {code}:                   # GB/T 2260 code of {name} ({table.meta_file})
    name: {_scalar(name)}
    history_file: data/history.csv          # D, derived from Tian et al. 2025 passenger-EV registrations (B) and CAAM national sales (C), method per row
    population_file: data/population.csv    # {population['grade']}, end-2023 resident population: {population['source']}
    new_car_sales_file: data/new_car_sales.csv  # D, the national {years.history_end} NEV share of new passenger-car sales, derived per its note
    cars_per_1000_observed: {table.cars_per_1000_observed:g}  # as province_table.cars_per_1000_observed of {PROVINCES_CASE}: {_comment(PROVINCES_CASE, "province_table.cars_per_1000_observed")}
"""


def _comment(case: str, key: str) -> str:
    """The comment (source and grade) of the setting ``key`` in ``case``'s base.yaml."""
    _, rows = provenance.yaml_settings(config.case_dir(case) / "base.yaml")
    return next(r["comment"] for r in rows if r["key"] == key)


def _scenario_text(source: Path, name: str) -> str:
    return f"# {name}: copied by `mfa init` from {provenance.relative(source)}; layers on base.yaml of this folder. Change here what differs in this scenario.\n" + source.read_text(encoding="utf-8")


def create(folder: Path, region: str, from_case: str = DEFAULT_CASE, force: bool = False) -> dict[str, Path]:
    """Write the case folder ``folder`` for the province ``region`` (a GB/T 2260 code),
    layered on ``from_case``; returns the written files. An existing non-empty ``folder``
    is an error unless ``force`` (then it is replaced as a whole)."""
    folder = Path(folder).absolute()
    if folder.is_file() or (folder.is_dir() and any(folder.iterdir()) and not force):
        raise InputError(folder, "DIR", "a new or empty folder for the case (or --force to replace it)")
    if folder.resolve() == Path.cwd().resolve() or folder.resolve() in Path.cwd().resolve().parents:
        raise InputError(folder, "DIR", "a folder of its own for the case, not the working directory or one above it")
    base = next(iter(config.load_scenarios(from_case).values()))
    table = base.province_table or next(iter(config.load_scenarios(PROVINCES_CASE).values())).province_table
    province = _province(table, region)
    history_years = np.arange(base.years.start, base.years.history_end + 1)
    share, share_note, share_year = _nev_share(base.years.history_end)
    source_dir = config.case_dir(from_case)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.init-{os.getpid()}"  # made with the umask's mode, as the folder should be
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        (staging / "data").mkdir()
        files = {
            "history": _history(table, province, history_years, base.fleet.passenger_share, from_case),
            "population": _population(province),
            "new_car_sales": pd.DataFrame([{"variable": "nev_share_new_cars", "year": base.years.history_end, "value": share, "unit": "1",
                                            "source": f"CAAM/CPCA via {SEGMENT_SALES} and {CAR_SALES}", "source_year": share_year, "grade": "D", "note": share_note}]),
            "targets": _targets(province, base.years.report_start),
        }
        for name, frame in files.items():
            frame.to_csv(staging / "data" / f"{name}.csv", index=False)
        (staging / "base.yaml").write_text(_base_yaml(folder, province, from_case, base, table), encoding="utf-8")
        for name in base.case.scenarios:
            (staging / f"{name}.yaml").write_text(_scenario_text(source_dir / f"{name}.yaml", name), encoding="utf-8")
        config.load_scenarios(str(staging))  # the case validates before it replaces anything
        rundir.swap(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written = sorted(p for p in folder.rglob("*") if p.is_file())
    log.info("case %s for %s (%s) on %s: %d files", folder, province["name_en"], province["code"], from_case, len(written))
    return {str(p.relative_to(folder)): p for p in written}
