"""The analysis cube ``results.nc``: CF-1.8 NetCDF with UDUNITS units.

Conventions (shared/CONVENTIONS.md): ``Conventions = "CF-1.8"``; strings as char
arrays; years as int32; zlib + shuffle compression; no ``_FillValue`` on coordinates.

The file is also a CF timeSeries (``featureType = "timeSeries"``, orthogonal
multidimensional representation), as ArcGIS, Panoply and cf_xarray want one: the region
code is the ``timeseries_id`` (``cf_role``), ``lat``/``lon`` (representative points) and
the region names are auxiliary coordinates along ``region``, and ``time(year)`` is a real
time coordinate (middle of each model year, ``days since <first year>-01-01``,
``axis = "T"``) with ``time_bnds`` over the calendar year. ``year`` stays the dimension
every reader selects by.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from ..units import dequantify, is_quantified
from . import write_netcdf

COORD_UNITS = {"year": "1", "region": "1"}
TIME_BOUNDS = "time_bnds"


def cf_time(years, dim: str = "year") -> dict[str, xr.DataArray]:
    """``time`` along ``dim`` at the middle (1 July) of each year, in days since 1 January
    of the first year (int32, standard calendar), and its bounds :data:`TIME_BOUNDS`
    (1 January to 1 January of the next year)."""
    years = np.asarray(years, dtype=int)
    epoch = np.datetime64(f"{years.min()}-01-01", "D")

    def days(month_day: str, offset: int = 0) -> np.ndarray:
        dates = np.array([np.datetime64(f"{y + offset}-{month_day}", "D") for y in years])
        return (dates - epoch).astype(int).astype("int32")

    time = xr.DataArray(days("07-01"), dims=dim, attrs={
        "standard_name": "time", "long_name": "time (middle of the model year)",
        "units": f"days since {years.min()}-01-01 00:00:00", "calendar": "standard", "axis": "T", "bounds": TIME_BOUNDS,
    })
    bounds = xr.DataArray(np.stack([days("01-01"), days("01-01", 1)], axis=1), dims=(dim, "nv"))
    return {"time": time, TIME_BOUNDS: bounds}


def coord_attrs() -> dict[str, dict]:
    """Long names of the declared dims (:mod:`mfa.definition`), units where numeric."""
    from .. import definition

    dims = definition.load().dims
    return {name: {"long_name": dim.long_name, **({"units": COORD_UNITS[name]} if name in COORD_UNITS else {})} for name, dim in dims.items()}


def to_cf(results: xr.Dataset, attrs: dict) -> xr.Dataset:
    """Plain-number dataset with UDUNITS units and CF global attributes."""
    unitless = [n for n, v in results.data_vars.items() if not is_quantified(v)]
    if unitless:
        raise ValueError(f"results without units: {unitless}")
    ds = dequantify(results)
    attrs_of = coord_attrs()
    for name, extra in attrs_of.items():
        if name in ds.coords:
            ds[name].attrs.update(extra)
    for name in ("year", "region"):
        if name in ds.coords:
            ds = ds.assign_coords({name: ds[name].astype("int32")})
            ds[name].attrs.update(attrs_of[name])
    for name in ds.coords:
        if ds[name].dtype.kind in "OU":
            ds = ds.assign_coords({name: ds[name].astype(str)})
            ds[name].attrs.update(attrs_of.get(name, {}))
    ds.attrs = {
        "Conventions": "CF-1.8",
        "title": f"mfa results: {attrs.get('case', '')}",
        "institution": "mfa project",
        "source": f"mfa {attrs.get('package_version', '')} dynamic material-flow model",
        "history": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} created by mfa run",
        "references": "He, Liu, Peng, Zuo (2024) China Mining Magazine, doi:10.12075/j.issn.1004-4051.20241947",
        **{k: (v if isinstance(v, (str, int, float)) else str(v)) for k, v in attrs.items()},
    }
    return ds


def encoding(ds: xr.Dataset) -> dict:
    enc = {}
    for name, var in ds.variables.items():
        if name in ds.coords:
            enc[name] = {"_FillValue": None}
            if var.dtype.kind == "U":
                enc[name]["dtype"] = "S1"
        elif var.dtype.kind == "f":
            enc[name] = {"zlib": True, "shuffle": True, "complevel": 4, "_FillValue": np.nan}
    return enc


def write(results: xr.Dataset, path: Path, attrs: dict, extra: xr.Dataset | None = None, coords: dict | None = None) -> Path:
    """Write ``results`` (pint-quantified) to ``path`` atomically, with ``extra`` variables
    (plain numbers, units in ``attrs``) and auxiliary ``coords`` along ``region`` (names,
    ``lat``/``lon``: :func:`mfa.io.gis.region_coords`) alongside. With ``lat``/``lon``
    the file is a CF timeSeries of the regions (module docstring)."""
    ds = to_cf(results, attrs)
    if coords:
        ds = ds.assign_coords(coords)
    # the bounds as a coordinate too: xarray lists it in the global "coordinates" attribute,
    # so readers that loop over the data variables (all numbers in units) never meet it.
    # xarray writes it without units and calendar, as CF asks (they are the coordinate's)
    ds = ds.assign_coords(cf_time(ds["year"].values))
    if "lat" in ds.coords and "lon" in ds.coords:
        ds["region"].attrs["cf_role"] = "timeseries_id"
        ds.attrs["featureType"] = "timeSeries"
    if extra is not None:
        ds = ds.merge(extra.assign_coords({k: ds[k] for k in ds.coords if k in extra.coords}), combine_attrs="override")
    return write_netcdf(ds, path, encoding(ds))


def write_plain(ds: xr.Dataset, path: Path, title: str) -> Path:
    """Write a dataset of plain numbers (units already in ``attrs``) atomically, CF-1.8."""
    ds = ds.copy()
    for name in ds.coords:
        if ds[name].dtype.kind in "OU":
            ds = ds.assign_coords({name: ds[name].astype(str)})
        elif ds[name].dtype.kind == "i":
            ds = ds.assign_coords({name: ds[name].astype("int32")})
    ds.attrs = {
        "Conventions": "CF-1.8",
        "title": title,
        "history": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} created by mfa",
        **{k: (v if isinstance(v, (str, int, float)) else str(v)) for k, v in ds.attrs.items()},
    }
    return write_netcdf(ds, path, encoding(ds))


def write_parameters(params: xr.Dataset, path: Path, attrs: dict) -> Path:
    """Every parameter value a run used (``params``, pint-quantified), UDUNITS units,
    each variable's setting and source file per scenario in its attributes."""
    ds = dequantify(params)
    ds.attrs = {}
    return write_plain(ds, path, title=f"mfa parameters: {attrs.get('case', '')}")
