"""What recyclers can plan on: retired batteries and their metal, and secondary supply.

:func:`feedstock_table` gives, by scenario, region, year and chemistry, the capacity of
packs leaving cars (kWh/yr) and the Li, Ni, Co, Mn they contain (t/yr), and where they go:
second use, collection for recycling, or lost. ``results.nc`` carries metal flows by
element; metal by chemistry is capacity (kWh, by chemistry) x the run's
``metal_intensity`` (kg/kWh, also in ``results.nc``), with ``mfa.metals.content``, the
function that computes the totals.

Streams (the flows into and out of the feedstock process of the declared system,
``mfa/system.yaml``; per year ``retired + from_second_use = to_second_use + collected + lost``):

- ``retired``: packs leaving cars (scrapped with the car or failed);
- ``from_second_use``: packs coming back from stationary storage;
- ``to_second_use``: packs re-used in stationary storage;
- ``collected``: packs reaching a formal recycler (the recyclers' feedstock);
- ``lost``: packs reaching no formal recycler.

:func:`secondary_supply` gives recovered metal as a share of demand, and
:func:`secondary_supply_targets` the first year that share reaches 20 % and 30 % (China's
goal for 2035: recycled Li, Co and Ni at 30 % of consumption).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import definition
from ..io import atomic_path
from . import data

log = logging.getLogger(__name__)


def streams(direction: str | None = None) -> dict[str, str]:
    """Stream name -> battery-capacity variable of ``results.nc``: the flows into and out
    of the declared system's feedstock process (:mod:`mfa.definition`)."""
    return definition.load().feedstock_streams(direction)

ELEMENT_ORDER = ("Li", "Ni", "Co", "Mn")
MILESTONES = (2030, 2035, 2040, 2050)
THRESHOLDS = (0.2, 0.3)
CAPACITY_UNIT = "kW h yr-1"
METAL_UNIT = "t yr-1"


def capacity_column(per_year: bool = True) -> str:
    return "capacity_kWh_per_yr" if per_year else "capacity_kWh"


def metal_column(element: str, per_year: bool = True) -> str:
    return f"{element}_t_per_yr" if per_year else f"{element}_t"


# --------------------------------------------------------------------------- intensity


def metal_intensity(results: xr.Dataset) -> xr.DataArray:
    """The run's metal per kWh (``metal_intensity`` of ``results.nc``), in kg/kWh, plain
    numbers, by ``scenario``, ``chemistry``, ``element``."""
    ds = data.plain_dataset(results)
    if "metal_intensity" not in ds:
        raise ValueError("results.nc has no metal_intensity variable (written by `mfa run`): run the model again")
    da = ds["metal_intensity"]
    return da.copy(data=data.convert(da.values, data.units_of(ds, "metal_intensity"), "kg kW-1 h-1"))


def _capacity(ds: xr.Dataset, var: str) -> xr.DataArray:
    """``var`` in kWh/yr, powertrain summed, plain numbers."""
    da = ds[var]
    if "powertrain" in da.dims:
        da = da.sum("powertrain")
    values = data.convert(da.values, data.units_of(ds, var), CAPACITY_UNIT)
    return xr.DataArray(values, coords=da.coords, dims=da.dims)


def _metal(capacity: xr.DataArray, intensity: xr.DataArray) -> xr.DataArray:
    """t/yr of each element in ``capacity`` (kWh/yr by chemistry), as
    :func:`mfa.metals.content` computes it, chemistry kept."""
    from ..metals import content
    from ..units import ureg

    kwh = capacity.pint.quantify("kWh/yr", unit_registry=ureg)
    return content(kwh, intensity.pint.quantify("kg/kWh", unit_registry=ureg), keep_chemistry=True).pint.dequantify()


# --------------------------------------------------------------------------- feedstock


def feedstock_dataset(results: xr.Dataset) -> xr.Dataset:
    """Capacity (kWh/yr) and metal (t/yr, by element) of every stream by chemistry."""
    ds = data.plain_dataset(results)
    table = metal_intensity(ds)
    present = {s: var for s, var in streams().items() if var in ds}
    capacity = xr.concat([_capacity(ds, var) for var in present.values()], dim=xr.DataArray(list(present), dims="stream"))
    metal = _metal(capacity, table)
    elements = [e for e in ELEMENT_ORDER if e in metal["element"].values]
    elements += [e for e in metal["element"].values if e not in elements]
    return xr.Dataset({"capacity": capacity, "metal": metal.sel(element=elements)})


def feedstock_table(results: xr.Dataset, drop_unused: bool = True) -> pd.DataFrame:
    """By scenario, region (plus ``total`` rows with several regions), year, chemistry and
    stream: ``capacity_kWh_per_yr`` and ``<element>_t_per_yr`` for Li, Ni, Co, Mn.

    ``results`` is ``results.nc`` (units attributes) or the model's quantified results.
    Chemistries with no capacity in any row are left out (``drop_unused``). With a
    ``quantile`` dim each quantile is a row (the metal of a quantile of capacity).
    """
    fs = feedstock_dataset(results)
    capacity, metal = fs["capacity"], fs["metal"]
    if drop_unused:
        used = [c for c in capacity["chemistry"].values if float(np.abs(capacity.sel(chemistry=c)).max()) > 0]
        capacity, metal = capacity.sel(chemistry=used), metal.sel(chemistry=used)
    capacity, metal = _with_total(capacity), _with_total(metal)
    frame = capacity.rename(capacity_column()).to_dataframe()[[capacity_column()]]
    wide = metal.to_dataset("element")
    for element in metal["element"].values:
        frame[metal_column(element)] = wide[element].to_series().reindex(frame.index)
    frame = frame.reset_index()
    keys = [k for k in ("scenario", "region", data.QUANTILE, "year", "chemistry", "stream") if k in frame.columns]
    keys += [k for k in frame.columns if k not in keys and not k.endswith("_per_yr")]
    frame = frame[keys + [c for c in frame.columns if c.endswith("_per_yr")]]
    for key in ("scenario", "chemistry", "stream", "region"):
        if key in frame.columns:
            frame[key] = frame[key].astype(str)
    orders = {d: [str(v) for v in capacity[d].values] for d in ("scenario", "region", "chemistry", "stream") if d in capacity.dims}
    return _sort_like(frame, keys, orders)


def _sort_like(frame: pd.DataFrame, keys: list[str], orders: dict[str, list[str]]) -> pd.DataFrame:
    """``frame`` sorted by ``keys``, string keys in the order of their coordinates."""
    helpers = {}
    for key, order in orders.items():
        if key in frame.columns:
            rank = {v: i for i, v in enumerate(order)}
            helpers[key] = f"_{key}_rank"
            frame = frame.assign(**{helpers[key]: frame[key].map(rank).fillna(len(rank))})
    sort = [helpers.get(k, k) for k in keys]
    return frame.sort_values(sort, kind="stable").drop(columns=list(helpers.values())).reset_index(drop=True)


def _with_total(da: xr.DataArray) -> xr.DataArray:
    if "region" not in da.dims:
        return da
    da = da.assign_coords(region=da["region"].astype(str))
    if da.sizes["region"] < 2:
        return da
    return xr.concat([da, da.sum("region").expand_dims(region=["total"])], "region")


def feedstock_cumulative(table: pd.DataFrame, start: int, milestones=MILESTONES) -> pd.DataFrame:
    """Sums of :func:`feedstock_table` from ``start`` to each milestone year (inclusive):
    ``capacity_kWh`` and ``<element>_t`` by scenario, region, chemistry and stream, plus
    chemistry ``all``."""
    keys = [k for k in table.columns if k not in ("year",) and not k.endswith("_per_yr")]
    values = [c for c in table.columns if c.endswith("_per_yr")]
    last = int(table["year"].max())
    frames = []
    for end in milestones:
        if end > last or end < start:
            continue
        part = table[(table["year"] >= start) & (table["year"] <= end)]
        summed = part.groupby(keys, sort=False)[values].sum().reset_index()
        chem_keys = [k for k in keys if k != "chemistry"]
        total = part.groupby(chem_keys, sort=False)[values].sum().reset_index().assign(chemistry="all")
        both = pd.concat([summed, total[summed.columns]], ignore_index=True)
        both.insert(len(keys), "year_from", start)
        both.insert(len(keys) + 1, "year_to", end)
        frames.append(both)
    out = pd.concat(frames, ignore_index=True)
    return out.rename(columns={c: c.removesuffix("_per_yr") for c in values})


# --------------------------------------------------------------------------- secondary supply


def secondary_supply(results: xr.Dataset) -> pd.DataFrame:
    """By scenario, region (plus ``total`` with several regions), element and year:
    ``recovered_t_per_yr``, ``demand_t_per_yr`` and ``share`` (recovered / demand, a
    fraction; empty where demand is zero)."""
    ds = data.plain_dataset(results)
    rec = xr.DataArray(data.convert(ds["metal_recovered"].values, data.units_of(ds, "metal_recovered"), METAL_UNIT),
                       coords=ds["metal_recovered"].coords, dims=ds["metal_recovered"].dims)
    dem = xr.DataArray(data.convert(ds["metal_demand"].values, data.units_of(ds, "metal_demand"), METAL_UNIT),
                       coords=ds["metal_demand"].coords, dims=ds["metal_demand"].dims)
    rec, dem = _with_total(rec), _with_total(dem)
    share = rec / dem.where(dem != 0)
    frame = xr.Dataset({"recovered_t_per_yr": rec, "demand_t_per_yr": dem, "share": share}).to_dataframe().reset_index()
    keys = [k for k in ("scenario", "region", data.QUANTILE, "element", "year") if k in frame.columns]
    frame = frame[keys + ["recovered_t_per_yr", "demand_t_per_yr", "share"]]
    for key in ("scenario", "region", "element"):
        frame[key] = frame[key].astype(str)
    orders = {
        "scenario": [str(v) for v in ds["scenario"].values],
        "region": [str(v) for v in rec["region"].values] if "region" in rec.dims else [],
        "element": list(ELEMENT_ORDER) + [str(e) for e in rec["element"].values if e not in ELEMENT_ORDER],
    }
    return _sort_like(frame, keys, orders)


def first_year_reaching(years, shares, threshold: float):
    """The first year whose share is at least ``threshold`` (``None`` if never)."""
    for year, share in zip(years, shares):
        if share is not None and not pd.isna(share) and share >= threshold - 1e-12:
            return int(year)
    return None


def secondary_supply_targets(supply: pd.DataFrame, thresholds=THRESHOLDS, milestones=MILESTONES) -> pd.DataFrame:
    """Per scenario, region, element: the share in the milestone years and the first year
    the share reaches each threshold (empty when it does not by the last year)."""
    keys = [k for k in ("scenario", "region", data.QUANTILE, "element") if k in supply.columns]
    rows = []
    for key, group in supply.groupby(keys, sort=False):
        group = group.sort_values("year")
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        by_year = dict(zip(group["year"], group["share"]))
        for year in milestones:
            if year in by_year:
                row[f"share_{year}"] = by_year[year]
        for threshold in thresholds:
            row[f"first_year_{round(threshold * 100)}pct"] = first_year_reaching(group["year"], group["share"], threshold)
        rows.append(row)
    out = pd.DataFrame(rows)
    for column in out.columns:
        if column.startswith("first_year_"):
            out[column] = out[column].astype("Int64")
    return out


# --------------------------------------------------------------------------- files


def _write(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return Path(path)


def write_tables(results: xr.Dataset, out_dir: Path, start: int | None = None) -> dict[str, Path]:
    """``feedstock.csv``, ``feedstock_cumulative.csv``, ``secondary_supply.csv`` and
    ``secondary_supply_targets.csv`` in ``out_dir``."""
    out_dir = Path(out_dir)
    start = int(results["year"].min()) if start is None else int(start)
    table = feedstock_table(results)
    supply = secondary_supply(results)
    return {
        "feedstock": _write(table, out_dir / "feedstock.csv"),
        "feedstock_cumulative": _write(feedstock_cumulative(table, start), out_dir / "feedstock_cumulative.csv"),
        "secondary_supply": _write(supply, out_dir / "secondary_supply.csv"),
        "secondary_supply_targets": _write(secondary_supply_targets(supply), out_dir / "secondary_supply_targets.csv"),
    }
