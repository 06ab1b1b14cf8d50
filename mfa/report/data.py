"""Reading a run's outputs for reports, and one way to point at a number in them.

A *selection* is a small dict that says where a number of the report comes from::

    {"var": "metal_demand", "scenario": "positive", "region": "all", "element": "Li",
     "agg": "sum", "year_from": 2023, "year_to": 2050, "unit": "t"}

- ``var``: a variable of ``results.nc``; ``plus`` / ``minus``: others (names joined by
  ``+``) added to or subtracted from it;
  ``den``: a denominator (``agg = "ratio"``, unit ``percent``);
- ``scenario``; ``region``: a code or ``"all"`` (the sum over regions);
- any other dim by name (``element``, ``chemistry``, ``bound``, ``powertrain``,
  ``quantile``) selects one value; every other dim but ``year`` is summed;
- ``agg``: ``"value"`` (at ``year``), ``"sum"`` (``year_from``..``year_to`` inclusive,
  the unit loses its ``yr-1``), ``"ratio"`` (``var / den`` at ``year``);
- ``unit``: the UDUNITS unit of the number as shown; ``scale``: a factor (-1 for a flow
  drawn the other way round).

The report writes selections into ``data-*`` attributes of table cells and into the
``meta`` of plotly traces, so a test can recompute every number from ``results.nc``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cf_units
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ..units import is_quantified, udunits

BASE_DIMS = ("scenario", "region", "year")
SELECTABLE = ("element", "chemistry", "bound", "powertrain", "quantile")
QUANTILE = "quantile"


def open_results(path: Path) -> xr.Dataset:
    """``results.nc`` loaded into memory (the file is closed again); an :class:`InputError`
    for a file that is not a complete results.nc (truncated, damaged, something else)."""
    try:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
    except (OSError, ValueError, RuntimeError) as err:  # netCDF4 and xarray's engine guessing raise these
        raise InputError(path, "file", f"a complete results.nc written by `mfa run` (this one cannot be read: {err}); run mfa run again") from err
    if "scenario" not in ds.dims or "year" not in ds.dims:
        raise InputError(path, "file", "a results.nc written by `mfa run` (this file has no scenario and year dims)")
    return ds


def plain_dataset(results: xr.Dataset) -> xr.Dataset:
    """``results`` with plain numbers and UDUNITS ``units`` attributes (pint stripped)."""
    out = results.copy()
    for name in results.data_vars:
        da = results[name]
        if is_quantified(da):
            out[name] = da.copy(data=da.data.magnitude)
            out[name].attrs = {**da.attrs, "units": udunits(da.data.units)}
    return out


def units_of(ds: xr.Dataset, var: str) -> str:
    return str(ds[var].attrs.get("units", "1"))


def convert(values, from_unit: str, to_unit: str):
    """``values`` from one UDUNITS unit to another (``percent`` for fractions)."""
    if from_unit == to_unit:
        return values
    return cf_units.Unit(from_unit).convert(np.asarray(values, dtype=float), cf_units.Unit(to_unit))


def per_year_removed(unit: str) -> str:
    """The unit of a sum over years of a flow in ``unit`` (``"t yr-1"`` -> ``"t"``)."""
    tokens = [t for t in unit.split() if t != "yr-1"]
    return " ".join(tokens) if tokens else "1"


def has_quantiles(ds: xr.Dataset) -> bool:
    return QUANTILE in ds.dims


def median_quantile(ds: xr.Dataset):
    """The ``quantile`` value nearest 0.5 (``None`` without a quantile dim)."""
    if not has_quantiles(ds):
        return None
    q = np.asarray(ds[QUANTILE].values, dtype=float)
    return float(q[np.argmin(np.abs(q - 0.5))])


def _coord_value(da: xr.DataArray, dim: str, wanted):
    """The coordinate value of ``da[dim]`` that matches ``wanted`` (string-compared)."""
    values = da[dim].values
    for v in values:
        if str(v) == str(wanted):
            return v
    if dim == QUANTILE:
        q = np.asarray(values, dtype=float)
        i = int(np.argmin(np.abs(q - float(wanted))))
        if abs(q[i] - float(wanted)) < 1e-9:
            return values[i]
    raise KeyError(f"{dim}={wanted!r} not in {list(values)}")


def reduce(ds: xr.Dataset, var: str, sel: dict) -> xr.DataArray:
    """``var`` selected as ``sel`` says, every other dim but ``year`` summed; in the
    variable's own unit (the returned array's ``units`` attr)."""
    da = ds[var]
    unit = units_of(ds, var)
    if "scenario" in da.dims and "scenario" in sel:
        da = da.sel(scenario=_coord_value(da, "scenario", sel["scenario"]))
    region = sel.get("region", "all")
    if "region" in da.dims:
        da = da.sum("region") if str(region) == "all" else da.sel(region=_coord_value(da, "region", region))
    for dim in SELECTABLE:
        if dim in sel and dim in da.dims:
            da = da.sel({dim: _coord_value(da, dim, sel[dim])})
    if QUANTILE in da.dims:
        raise ValueError(f"selection {sel} needs a quantile for {var}")
    rest = [d for d in da.dims if d != "year"]
    if rest:
        da = da.sum(rest)
    da.attrs["units"] = unit
    return da


def series(ds: xr.Dataset, sel: dict) -> xr.DataArray:
    """The selection by ``year`` in ``sel["unit"]`` (``agg`` "value" or "ratio")."""
    agg = sel.get("agg", "value")
    da = reduce(ds, sel["var"], sel)
    if agg == "ratio":
        den = reduce(ds, sel["den"], sel)
        values = convert(xr.where(den != 0, da / den.where(den != 0), np.nan), "1", sel.get("unit", "1"))
        return xr.DataArray(values, coords=da.coords, dims=da.dims) * sel.get("scale", 1.0)
    unit = units_of(ds, sel["var"])
    for key, sign in (("plus", 1.0), ("minus", -1.0)):
        for name in _names(sel.get(key)):
            other = reduce(ds, name, sel)
            other_values = convert(other.values, units_of(ds, name), unit)
            da = da + sign * xr.DataArray(other_values, coords=other.coords, dims=other.dims)
    target = sel.get("unit", unit)
    if agg == "sum":
        target = target + " yr-1" if target != "1" else "yr-1"
    values = convert(da.values, unit, target)
    return xr.DataArray(values, coords=da.coords, dims=da.dims) * sel.get("scale", 1.0)


def _names(value) -> list[str]:
    """A ``plus``/``minus`` entry: one variable name, or several joined by ``+``."""
    return [n for n in str(value).split("+") if n] if value else []


def evaluate(ds: xr.Dataset, sel: dict) -> float:
    """The one number ``sel`` points at."""
    agg = sel.get("agg", "value")
    s = series(ds, sel)
    if agg == "sum":
        return float(s.sel(year=slice(int(sel["year_from"]), int(sel["year_to"]))).sum("year"))
    return float(s.sel(year=int(sel["year"])))


def data_attrs(sel: dict, value: float | None = None) -> dict[str, str]:
    """``data-*`` attributes of an HTML element that shows the number ``sel`` points at."""
    out = {}
    for key, v in sel.items():
        out["data-" + key.replace("_", "-")] = str(v)
    if value is not None:
        out["data-value"] = repr(float(value))
    return out


def meta(sel: dict) -> dict:
    """``sel`` as JSON-safe values for a plotly trace's ``meta``."""
    return json.loads(json.dumps(sel, default=str))


def region_names(ds: xr.Dataset) -> pd.DataFrame:
    """One row per region of ``ds``: ``code``, ``name_en``, ``name_zh`` (empty when unknown)."""
    codes = [str(c) for c in np.asarray(ds["region"].values)] if "region" in ds.dims else []
    table = pd.DataFrame({"code": codes, "name_en": codes, "name_zh": [""] * len(codes)})
    if "name_en" in ds.coords and "name_zh" in ds.coords:  # results.nc carries the names
        return table.assign(name_en=[str(n) for n in ds["name_en"].values], name_zh=[str(n) for n in ds["name_zh"].values])
    try:
        from ..io.gis import packaged_regions

        meta_table = packaged_regions()
    except Exception:
        meta_table = pd.DataFrame()
    if not meta_table.empty and "code" in meta_table.columns:
        meta_table = meta_table.assign(code=meta_table["code"].astype(str)).drop_duplicates("code").set_index("code")
        for column in ("name_en", "name_zh"):
            if column in meta_table.columns:
                found = table["code"].map(meta_table[column])
                table[column] = found.where(found.notna() & (found.astype(str) != "nan"), table[column]).astype(str)
    return table


def report_start(summary: pd.DataFrame | None, ds: xr.Dataset) -> int:
    """The first year of the cumulative figures (from ``summary.csv``), else the first year."""
    if summary is not None:
        for column in summary.columns:
            parts = str(column).split("_")
            if len(parts) == 3 and parts[0] == "cumulative" and parts[1].isdigit():
                return int(parts[1])
    return int(ds["year"].min())
