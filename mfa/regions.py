"""Regions: which there are, their names and points, and their historic data.

A case names regions with data of their own (``regions:``, e.g. Hainan's registrations
and official stock) and/or a provincial table (``province_table:``). For table regions,
yearly passenger-NEV registrations 2015-2025 are derived (grade D) from the table's
2022 and 2023 registrations and its 2016-2023 cumulative figure, shaped over the other
years by national NEV sales:

- 2016-2021: the cumulative figure minus 2022 and 2023, split in proportion to national
  sales of those years;
- 2015: the 2016 figure times national sales 2015 / 2016;
- after 2023: the 2023 figure times national sales of the year / 2023.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from . import config
from .errors import InputError
from .inputs import Table, distinct, read_table, table
from .units import plain, ureg


def table_registrations(table: config.ProvinceTable, years: np.ndarray) -> xr.DataArray:
    """Passenger-NEV registrations by ``region``, ``year`` (vehicle/yr) of the table's regions."""
    path = config.resolve(table.file)

    def variable(name: str, unit: str) -> xr.DataArray:
        da = plain(read_table(path, ("province", "variable"), unit, {"variable": name}), unit)
        return da.rename(province="region").assign_coords(region=lambda d: d["region"].astype(int))

    national = plain(read_table(config.resolve(table.national_sales_file), ("year",), "vehicle/yr"), "vehicle/yr")
    missing = np.setdiff1d(years, national["year"].values)
    if missing.size:
        raise InputError(table.national_sales_file, "year", f"national sales for every historic year; missing {missing.tolist()}")
    r22 = variable("registrations_2022", "vehicle/yr")
    r23 = variable("registrations_2023", "vehicle/yr")
    early = variable("cumulative_registrations_2016_2023", "vehicle") - r22 - r23
    shape = national.sel(year=slice(2016, 2021))
    out = xr.DataArray(np.nan, coords={"region": r22["region"], "year": years}, dims=("region", "year"))
    out.loc[{"year": slice(2016, 2021)}] = early * shape / shape.sum()
    out.loc[{"year": 2022}] = r22
    out.loc[{"year": 2023}] = r23
    if 2015 in years:
        out.loc[{"year": 2015}] = out.sel(year=2016) * national.sel(year=2015) / national.sel(year=2016)
    later = years[years > 2023]
    out.loc[{"year": later}] = r23 * national.sel(year=later) / national.sel(year=2023)
    if bool(out.isnull().any()) or bool((out < 0).any()):
        raise InputError(path, "value", "registrations that give a non-negative history for every province")
    return out.pint.quantify("vehicle/yr", unit_registry=ureg)


def table_population(table: config.ProvinceTable) -> xr.DataArray:
    """Population by ``region``, ``population_year`` (person) of the table's regions."""
    rows = read_table(config.resolve(table.file), ("province", "variable"), "person", {"variable": "population_2023"})
    rows = rows.rename(province="region").assign_coords(region=lambda d: d["region"].astype(int))
    return rows.expand_dims(population_year=[2023])


def metadata(cfg: config.Scenario) -> pd.DataFrame:
    """One row per region, in output order: code, name_en, name_zh, pinyin, lat, lon, source."""
    frames = []
    if cfg.province_table is not None:
        path = config.resolve(cfg.province_table.meta_file)
        if not path.exists():
            raise InputError(path, "file", "the file does not exist")
        frames.append(pd.read_csv(path, dtype={"code": int}))
    own = pd.DataFrame([{"code": code, "name_en": r.name} for code, r in cfg.regions.items()])
    meta = pd.concat(frames, ignore_index=True) if frames else own
    missing = sorted(set(own["code"]) - set(meta["code"])) if not own.empty else []
    if missing:
        meta = pd.concat([meta, own[own["code"].isin(missing)]], ignore_index=True)
    return meta.sort_values("code").reset_index(drop=True)


def own_history(code: int, region: config.Region, cfg: config.Scenario, years: np.ndarray, passenger_share: float) -> tuple[Table, Table | None, Table]:
    """Passenger registrations (``region``, ``year``; vehicle/yr), official NEV stock
    (``region``, ``official_year``; vehicle) and population (``region``,
    ``population_year``; person) of a region with data of its own, ``region`` of one;
    ``cfg`` the scenario that names its files (for errors about them)."""
    path = cfg.input_file(f"regions.{code}.history_file", region.history_file)
    registrations = table(path, ("variable", "year"), "vehicle/yr", {"variable": "nev_registrations"})
    missing = np.setdiff1d(years, registrations.coords["year"])
    if missing.size:
        raise InputError(path, "year", f"nev_registrations for every year {years[0]}-{years[-1]} (years.start to years.history_end); missing {missing.tolist()}")
    passenger = registrations.take("year", years)
    passenger = passenger.replace(passenger.values * passenger_share)
    official = (
        table(path, ("variable", "year"), "vehicle", {"variable": "nev_stock"}).rename(year="official_year")
        if "nev_stock" in distinct(path, ("variable", "year"), "variable")
        else None
    )
    pop_path = cfg.input_file(f"regions.{code}.population_file", region.population_file)
    population = table(pop_path, ("year",), "person").rename(year="population_year")
    official = None if official is None else official.expand("region", [code])
    return passenger.expand("region", [code]), official, population.expand("region", [code])


def own_nev_share(code: int, region: config.Region, cfg: config.Scenario, year: int) -> Table:
    """The NEV share of new-car sales of a region with data of its own in ``year``
    (``nev_share_new_cars`` of its new-car sales file), with a ``region`` dim of one."""
    path = cfg.input_file(f"regions.{code}.new_car_sales_file", region.new_car_sales_file)
    shares = table(path, ("variable", "year"), "1", {"variable": "nev_share_new_cars"})
    if year not in shares.labels("year"):
        raise InputError(path, "year", f"a nev_share_new_cars row for {year}, the last historic year")
    return shares.at("year", year).expand("region", [code])
