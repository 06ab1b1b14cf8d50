"""Reading ``inputs/``: long CSV tables of numbers with unit, source, year and grade.

Every table has its key columns, then ``value, unit, source, source_year, grade, note``
(see ``inputs/README.md``). :func:`read_table` returns one pint-quantified DataArray in
the unit the model expects, converting compatible units (``Wh`` -> ``kWh``) and refusing
incompatible ones, with the file and field named in the error.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pint
import xarray as xr

from .errors import InputError
from .units import is_quantified, ureg

log = logging.getLogger(__name__)

META_COLUMNS = ("value", "unit", "source", "source_year", "grade", "note")
GRADES = {"A", "B", "C", "D"}


def read_rows(path: Path, keys: tuple[str, ...], constants_allowed: bool = False) -> pd.DataFrame:
    """The table at ``path`` with its key and metadata columns checked (a fresh copy).

    With ``constants_allowed``, an empty ``year`` marks a value that holds in every year.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file", "the file does not exist")
    stat = path.stat()
    return _read_rows(path, keys, constants_allowed, stat.st_mtime_ns, stat.st_size).copy()


@functools.lru_cache(maxsize=64)
def _read_rows(path: Path, keys: tuple[str, ...], constants_allowed: bool, _mtime: int, _size: int) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={k: str for k in keys if k != "year"}, comment=None)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError(path, "file", f"a readable CSV table ({err})") from err
    for column in (*keys, *META_COLUMNS):
        if column not in df.columns:
            raise InputError(path, column, f"a column named {column!r} (found {list(df.columns)})")
    values = pd.to_numeric(df["value"], errors="coerce")
    bad = values.isna()
    if bad.any():
        raise InputError(path, "value", f"a number in every row; row {int(bad.idxmax()) + 2} has {_shown(df['value'][bad.idxmax()])}")
    # Every table holds amounts, shares, intensities or factors: none is negative or infinite,
    # and a stray minus sign would otherwise surface deep in the stock model.
    out_of_range = ~np.isfinite(values) | (values < 0)
    if out_of_range.any():
        row = int(out_of_range.idxmax())
        raise InputError(path, "value", f"a finite number >= 0 in every row; row {row + 2} has {_shown(df['value'][row])}")
    df["value"] = values.astype(float)
    bad_grade = ~df["grade"].isin(GRADES)
    if bad_grade.any():
        raise InputError(path, "grade", f"one of A, B, C, D; row {int(bad_grade.idxmax()) + 2} has {df['grade'][bad_grade.idxmax()]!r}")
    if df["source"].isna().any():
        raise InputError(path, "source", f"a source in every row; row {int(df['source'].isna().idxmax()) + 2} has none")
    if "year" in keys:
        years = pd.to_numeric(df["year"], errors="coerce")
        blank = df["year"].isna() if constants_allowed else False
        if (years.isna() & ~blank).any():
            raise InputError(path, "year", f"a year in every row; row {int(years.isna().idxmax()) + 2} has {df['year'][years.isna().idxmax()]!r}")
        df["year"] = years.astype("Int64" if years.isna().any() else int)
    return df


def _shown(value) -> str:
    """A cell as the user wrote it: text quoted, a number plain (not numpy's repr)."""
    return repr(value) if isinstance(value, str) else f"{float(value):g}"


def _convert(df: pd.DataFrame, path: Path, unit: str) -> np.ndarray:
    target = ureg.Unit(unit)
    out = np.empty(len(df))
    for given, rows in df.groupby("unit", dropna=False).groups.items():
        try:
            factor = ureg.Quantity(1.0, str(given)).to(target).magnitude
        except (pint.DimensionalityError, pint.UndefinedUnitError, AttributeError, ValueError) as err:
            raise InputError(path, "unit", f"a unit convertible to {unit!r}, got {given!r}") from err
        out[np.asarray([df.index.get_loc(r) for r in rows])] = df.loc[rows, "value"].to_numpy() * factor
    return out


def read_table(path: Path | str, keys: tuple[str, ...], unit: str, where: dict | None = None) -> xr.DataArray:
    """One table as a quantified DataArray with ``keys`` as dims, in ``unit``.

    ``where`` selects rows by key value first (e.g. ``{"path": "study"}``); selected keys
    are dropped from the dims. Duplicate keys are an error.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file", "the file does not exist")
    stat = path.stat()
    where_key = tuple(sorted((where or {}).items()))
    return _read_table(path, tuple(keys), unit, where_key, stat.st_mtime_ns, stat.st_size).copy()


@functools.lru_cache(maxsize=128)
def _read_table(path: Path, keys: tuple[str, ...], unit: str, where_key: tuple, _mtime: int, _size: int) -> xr.DataArray:
    where = dict(where_key)
    df = read_rows(path, keys)
    for key, wanted in (where or {}).items():
        df = df[df[key] == wanted]
        if df.empty:
            raise InputError(path, key, f"rows with {key} = {wanted!r}")
    dims = [k for k in keys if k not in (where or {})]
    df = df.assign(value=_convert(df, path, unit))
    duplicated = df.duplicated(dims)
    if duplicated.any():
        raise InputError(path, ",".join(dims), f"one row per key; {df.loc[duplicated, dims].iloc[0].to_dict()} is repeated")
    da = df.set_index(dims)["value"].to_xarray() if dims else xr.DataArray(df["value"].iloc[0])
    return da.pint.quantify(unit, unit_registry=ureg)


def select_keys(table: xr.DataArray, dim: str, wanted, file, expected: str, field: str | None = None) -> xr.DataArray:
    """``table`` at the ``wanted`` labels of ``dim``, in that order. A label it lacks is an
    input error naming ``file``, the field (``dim`` unless given) and the missing labels:
    selecting never turns a missing row into a NaN that flows on."""
    have = set(table[dim].values)
    missing = [w for w in wanted if w not in have]
    if missing:
        raise InputError(file, field or dim, f"{expected}; missing {missing[:5]}")
    return table.sel({dim: list(wanted)})


def _interp_valid(wanted: np.ndarray, given: np.ndarray, values: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(values)
    if not valid.any():
        return np.full(len(wanted), np.nan)
    return np.interp(wanted, given[valid], values[valid])


def interpolate_years(da: xr.DataArray, years) -> xr.DataArray:
    """``da`` at ``years``: linear between its given years, held flat beyond either end.

    Works per series of the other dims, each on its own given years (a table may give
    BEV and PHEV at different years). ``da`` may be quantified; without a ``year`` dim
    it is returned as is (a constant).
    """
    if "year" not in da.dims:
        return da
    unit = da.data.units if is_quantified(da) else None
    values = da.copy(data=da.data.magnitude) if unit is not None else da
    wanted = xr.DataArray(np.asarray(years), dims="new_year")
    out = xr.apply_ufunc(
        _interp_valid,
        wanted,
        values["year"].astype(float),
        values.astype(float),
        input_core_dims=[["new_year"], ["year"], ["year"]],
        output_core_dims=[["new_year"]],
        vectorize=True,
    )
    out = out.rename(new_year="year").assign_coords(year=np.asarray(years)).transpose(*da.dims)
    return out.pint.quantify(unit, unit_registry=ureg) if unit is not None else out
