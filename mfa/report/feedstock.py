"""What recyclers can plan on: the packs sorting receives and sends on, their mass and
material, and secondary supply.

:func:`feedstock_table` is a tidy long table, one number per row: by scenario, region
(code, ``name_en``, ``name_zh``; a ``total`` region with several regions), year,
chemistry (and ``all``, their sum), direction, stream and quantity, the ``value`` in
``unit``. Quantities:

- ``battery_capacity`` (kW h yr-1);
- ``pack_mass`` (t yr-1): capacity x the run's ``pack_mass_per_kwh`` by chemistry;
- ``black_mass`` (t yr-1): pack mass x the run's ``black_mass_yield`` by chemistry (an
  upper bound: active material only);
- every element of the run (t yr-1): capacity x ``metal_intensity`` through
  :func:`mfa.metals.content`, kept by chemistry (the model's material flows are the
  same product, summed over chemistry).

All three factors are auxiliary variables of ``results.nc``, so the tables need only the
run folder. Pack counts are not given: a stream's capacity is not split by cohort, and
packs of different years hold different kWh, so capacity / a mean pack size would be a
guess dressed as a count.

Streams are the flows into (``direction`` ``in``) and out of (``out``) the declared
system's feedstock process (``feedstock`` in ``mfa/system.yaml``); no flow is in two
streams, and per year and quantity ``sum(in) = sum(out)``:

- in: ``retired`` (packs leaving cars, scrapped with the car or failed) and
  ``from_second_use`` (packs back from stationary storage);
- out: ``to_second_use``, ``collected`` (reaching a formal recycler: the recyclers'
  feedstock) and ``lost`` (reaching none).

Sum rows of one direction, one chemistry other than ``all`` and one region other than
``total`` to avoid counting a flow twice.

With Monte-Carlo samples (``results.nc`` holds ``<variable>_quantile``), ``p5``,
``p50``, ``p95`` give the 5/50/95 % quantiles over samples of the rows the kept samples
determine: chemistry ``all``, each region, battery capacity and elements (the capacity
flows through sorting and their material twins are headline outputs, kept per sample
summed over chemistry). They are empty elsewhere: the quantile of a sum (over regions,
chemistries, years) is not the sum of quantiles, and pack and black mass need capacity
by chemistry per sample, which is not kept.

:func:`secondary_supply` gives recovered material as a share of demand, and
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
from ..io.tables import TOTAL
from ..units import quantify, udunits
from . import data

log = logging.getLogger(__name__)

ELEMENT_ORDER = ("Li", "Ni", "Co", "Mn")
MILESTONES = (2030, 2035, 2040, 2050)
THRESHOLDS = (0.2, 0.3)
CAPACITY = "battery_capacity"
PACK_MASS = "pack_mass"
BLACK_MASS = "black_mass"
ALL = "all"
"""The ``chemistry`` of rows that sum every chemistry."""
TOTAL_NAMES = {"name_en": "all regions", "name_zh": "全部地区"}
"""Names of the :data:`~mfa.io.tables.TOTAL` region."""
CAPACITY_UNIT = "kWh/yr"
MASS_UNIT = "t/yr"
PERCENTILES = {0.05: "p5", 0.5: "p50", 0.95: "p95"}
"""Quantile over samples -> column of the feedstock table."""
KEYS = ("scenario", "region", "name_en", "name_zh", "year", "chemistry", "direction", "stream", "quantity")
"""Columns that say what a feedstock row is, in the order written."""


def streams(direction: str | None = None) -> dict[str, str]:
    """Stream name -> battery-capacity variable of ``results.nc``: the flows into
    (``direction="in"``) and out of (``"out"``) the declared system's feedstock process
    (:mod:`mfa.definition`), or both."""
    return definition.load().feedstock_streams(direction)


# --------------------------------------------------------------------------- feedstock


def _quantified(ds: xr.Dataset, name: str) -> xr.DataArray:
    """``name`` of ``ds`` (plain numbers with UDUNITS ``units``) as a pint array, with
    only its dimension coordinates (region names stay with the table, not the maths)."""
    if name not in ds:
        raise ValueError(f"results.nc has no {name} variable (written by `mfa run`): run the model again")
    da = ds[name]
    da = da.drop_vars([c for c in da.coords if c not in da.dims])
    # the tables are by chemistry: every other breakdown (segment, powertrain) is added up
    da = da.sum([d for d in definition.load().summed_dims if d in da.dims and d != "chemistry"], keep_attrs=True)
    return quantify(da)


def _elements(values) -> list[str]:
    present = [str(e) for e in values]
    return [e for e in ELEMENT_ORDER if e in present] + [e for e in present if e not in ELEMENT_ORDER]


def feedstock_dataset(results: xr.Dataset) -> xr.Dataset:
    """``value`` by stream and ``quantity`` (battery capacity, pack mass, black mass,
    each element) and chemistry, plain numbers in each quantity's ``unit`` (a coordinate
    along ``quantity``); ``direction`` (in/out) is a coordinate along ``stream``."""
    from ..metals import content

    ds = data.plain_dataset(results)
    directions = {s: d for d in ("in", "out") for s in streams(d)}
    present = {s: var for s, var in streams().items() if var in ds}
    capacity = xr.concat([_quantified(ds, var) for var in present.values()], dim=xr.DataArray(list(present), dims="stream", name="stream"))
    capacity = capacity.pint.to(CAPACITY_UNIT)
    pack = (capacity * _quantified(ds, "pack_mass_per_kwh")).pint.to(MASS_UNIT)
    parts = {
        CAPACITY: capacity,
        PACK_MASS: pack,
        BLACK_MASS: (pack * _quantified(ds, "black_mass_yield")).pint.to(MASS_UNIT),
    }
    metal = content(capacity, _quantified(ds, "metal_intensity"), keep_chemistry=True).pint.to(MASS_UNIT)
    for element in _elements(metal["element"].values):
        parts[element] = metal.sel(element=element, drop=True)
    units = [udunits(da.data.units) for da in parts.values()]
    value = xr.concat([da.pint.dequantify() for da in parts.values()], dim=xr.DataArray(list(parts), dims="quantity", name="quantity"),
                      coords="minimal", compat="override")
    value = value.assign_coords(unit=("quantity", units), direction=("stream", [directions[s] for s in present]))
    return xr.Dataset({"value": value})


def _with_chemistry_all(da: xr.DataArray) -> xr.DataArray:
    return xr.concat([da, da.sum("chemistry").expand_dims(chemistry=[ALL])], "chemistry")


def _string_regions(da: xr.DataArray) -> xr.DataArray:
    """``da`` with string region codes and no other coordinate along ``region``: names
    (``name_en``...) cannot be summed into a total, which is what used to drop the whole
    table of a multi-region run; :func:`_named` puts them back as columns."""
    da = da.drop_vars([c for c in da.coords if c != "region" and "region" in da[c].dims])
    return da.assign_coords(region=da["region"].astype(str))


def _with_total(da: xr.DataArray) -> xr.DataArray:
    """``da`` (:func:`_string_regions`) with, when it has several regions, a
    :data:`TOTAL` region summing them."""
    if "region" not in da.dims:
        return da
    da = _string_regions(da)
    if da.sizes["region"] < 2:
        return da
    return xr.concat([da, da.sum("region").expand_dims(region=[TOTAL])], "region")


def _named(frame: pd.DataFrame, results: xr.Dataset) -> pd.DataFrame:
    """``frame`` with ``name_en`` and ``name_zh`` after ``region`` (the run's names)."""
    names = data.region_names(results)
    names = pd.concat([names, pd.DataFrame([{"code": TOTAL, **TOTAL_NAMES}])], ignore_index=True).set_index("code")
    at = list(frame.columns).index("region") + 1
    for offset, column in enumerate(("name_en", "name_zh")):
        frame.insert(at + offset, column, frame["region"].map(names[column]).fillna(""))
    return frame


def _quantile_frame(results: xr.Dataset) -> pd.DataFrame | None:
    """p5/p50/p95 columns by scenario, region, year, stream and quantity (chemistry
    ``all``) from the ``<variable>_quantile`` variables of the feedstock streams and
    their material twins; ``None`` without samples."""
    system = definition.load()
    ds = data.plain_dataset(results)
    frames = []
    for stream, var in streams().items():
        twin = system.material_twin(var)
        for name, unit in ((var, CAPACITY_UNIT), (twin, MASS_UNIT)):
            if name is None or f"{name}_quantile" not in ds:
                continue
            da = _quantified(ds, f"{name}_quantile").pint.to(unit).pint.dequantify()
            da = da.sel(quantile=[q for q in da["quantile"].values if float(q) in PERCENTILES])
            da = da.assign_coords(quantile=[PERCENTILES[float(q)] for q in da["quantile"].values])
            if "element" not in da.dims:
                da = da.expand_dims(element=[CAPACITY])
            # no total region: a sum of per-region quantiles is no quantile of the sum
            frame = _string_regions(da).rename(element="quantity").to_series().unstack("quantile").reset_index()
            frames.append(frame.assign(stream=stream, chemistry=ALL))
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    out["scenario"] = out["scenario"].astype(str)
    return out


def feedstock_table(results: xr.Dataset, start: int | None = None, drop_unused: bool = True) -> pd.DataFrame:
    """The tidy feedstock table (module docstring): one row per scenario, region, year
    (from ``start``, default the first year), chemistry, stream and quantity.

    ``results`` is ``results.nc`` (units attributes) or the model's quantified results.
    Chemistries with no capacity in any row are left out (``drop_unused``). Other dims
    of the results (e.g. ``quantile``) become key columns.
    """
    value = feedstock_dataset(results)["value"]
    if start is not None:
        value = value.sel(year=slice(int(start), None))
    if drop_unused:
        capacity = value.sel(quantity=CAPACITY)
        used = [c for c in value["chemistry"].values if float(np.abs(capacity.sel(chemistry=c)).max()) > 0]
        value = value.sel(chemistry=used)
    value = _with_total(_with_chemistry_all(value))
    units = dict(zip(value["quantity"].values, value["unit"].values))
    directions = dict(zip(value["stream"].values, value["direction"].values))
    extra = [d for d in value.dims if d not in ("scenario", "region", "year", "chemistry", "stream", "quantity")]
    order = ["scenario", "region", *extra, "year", "chemistry", "stream", "quantity"]
    frame = value.drop_vars(["unit", "direction"]).transpose(*order).to_series().rename("value").reset_index()
    for key in ("scenario", "region", "chemistry", "stream", "quantity"):
        frame[key] = frame[key].astype(str)
    frame.insert(list(frame.columns).index("stream"), "direction", frame["stream"].map(directions))
    frame["unit"] = frame["quantity"].map(units)
    frame = _named(frame, results)
    quantiles = _quantile_frame(results)
    log.info("feedstock table: %d rows, quantiles %s", len(frame), "from the samples" if quantiles is not None else "none (no samples)")
    if quantiles is not None:
        keys = ["scenario", "region", "year", "chemistry", "stream", "quantity"]
        frame = frame.merge(quantiles[keys + list(PERCENTILES.values())], on=keys, how="left")
    return frame


def feedstock_cumulative(table: pd.DataFrame, start: int, milestones=MILESTONES) -> pd.DataFrame:
    """Sums of :func:`feedstock_table`'s values from ``start`` to each milestone year
    (inclusive), by every key but the year, with ``year_from``, ``year_to`` and the unit
    of a sum over years (``t``, ``kW h``). No quantiles: the quantile of a sum over years
    is not the sum of the yearly quantiles."""
    keys = [k for k in table.columns if k not in ("year", "value", "unit", *PERCENTILES.values())]
    last = int(table["year"].max())
    frames = []
    for end in milestones:
        if end > last or end < start:
            continue
        part = table[(table["year"] >= start) & (table["year"] <= end)]
        summed = part.groupby(keys + ["unit"], sort=False)["value"].sum().reset_index()
        at = keys.index("chemistry")
        summed.insert(at, "year_from", start)
        summed.insert(at + 1, "year_to", end)
        frames.append(summed)
    out = pd.concat(frames, ignore_index=True)
    out["unit"] = out["unit"].map(data.per_year_removed)
    return out[[c for c in out.columns if c != "unit"] + ["unit"]]


# --------------------------------------------------------------------------- secondary supply


def secondary_supply(results: xr.Dataset) -> pd.DataFrame:
    """By scenario, region (code, names; plus ``total`` with several regions), element
    and year: ``recovered`` and ``demand`` in ``unit`` (t yr-1) and ``share`` (recovered
    / demand, a fraction; empty where demand is zero)."""
    ds = data.plain_dataset(results)
    rec = _with_total(_quantified(ds, "metal_recovered").pint.to(MASS_UNIT).pint.dequantify())
    dem = _with_total(_quantified(ds, "metal_demand").pint.to(MASS_UNIT).pint.dequantify())
    share = rec / dem.where(dem != 0)
    keys = [k for k in ("scenario", "region", data.QUANTILE, "element", "year") if k in rec.dims]
    both = xr.Dataset({"recovered": rec, "demand": dem, "share": share}).transpose(*keys)
    frame = both.to_dataframe().reset_index()[keys + ["recovered", "demand", "share"]]
    for key in ("scenario", "region", "element"):
        frame[key] = frame[key].astype(str)
    frame.insert(list(frame.columns).index("share"), "unit", udunits(MASS_UNIT))
    return _named(frame, results)


def first_year_reaching(years, shares, threshold: float):
    """The first year whose share is at least ``threshold`` (``None`` if never)."""
    for year, share in zip(years, shares):
        if share is not None and not pd.isna(share) and share >= threshold - 1e-12:
            return int(year)
    return None


def secondary_supply_targets(supply: pd.DataFrame, thresholds=THRESHOLDS, milestones=MILESTONES) -> pd.DataFrame:
    """Per scenario, region, element: the share in the milestone years and the first year
    the share reaches each threshold (empty when it does not by the last year)."""
    keys = [k for k in ("scenario", "region", "name_en", "name_zh", data.QUANTILE, "element") if k in supply.columns]
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
    ``secondary_supply_targets.csv`` in ``out_dir``; the feedstock tables from ``start``
    (default: the first year of the results)."""
    out_dir = Path(out_dir)
    start = int(results["year"].min()) if start is None else int(start)
    table = feedstock_table(results, start)
    supply = secondary_supply(results)
    return {
        "feedstock": _write(table, out_dir / "feedstock.csv"),
        "feedstock_cumulative": _write(feedstock_cumulative(table, start), out_dir / "feedstock_cumulative.csv"),
        "secondary_supply": _write(supply, out_dir / "secondary_supply.csv"),
        "secondary_supply_targets": _write(secondary_supply_targets(supply), out_dir / "secondary_supply_targets.csv"),
    }
