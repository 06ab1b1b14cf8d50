"""Reading ``inputs/``: long CSV tables of numbers with unit, source, year and grade.

Every table has its key columns, then ``value, unit, source, source_year, grade, note``
(see ``inputs/README.md``). :func:`table` returns one table as a read-only
:class:`Table` (numpy values on named dims) in the unit the model expects, converting
compatible units (``Wh`` -> ``kWh``) and refusing incompatible ones, with the file and
field named in the error; :func:`read_table` the same as a pint-quantified DataArray.
A file is read, checked and converted once per process and version of the file: units
are checked once per table, not per value, and repeated model runs cost no I/O.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pint
import xarray as xr

from .errors import InputError
from .units import factor, is_quantified, ureg

log = logging.getLogger(__name__)

META_COLUMNS = ("value", "unit", "source", "source_year", "grade", "note")
GRADES = {"A", "B", "C", "D"}


def per_file_version(function):
    """``function(path, *args)`` computed once per version of the file at ``path``: its
    answers are cached under the file's :func:`version`, so an edited file is read again
    and an unchanged one never is. A missing file is an input error."""
    cached = functools.lru_cache(maxsize=256)(lambda path, _version, *args: function(path, *args))

    @functools.wraps(function)
    def wrapper(path, *args):
        path = Path(path)
        found = version(path)
        if found is None:
            raise InputError(path, "file", "the file does not exist")
        return cached(path, found, *args)

    wrapper.cache_clear = cached.cache_clear
    return wrapper


def version(path: Path) -> tuple[int, int, int] | None:
    """The version of the file at ``path``: its modification time, size and inode (a
    file replaced by another, as atomic writes do); ``None`` when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def read_rows(path: Path, keys: tuple[str, ...], constants_allowed: bool = False) -> pd.DataFrame:
    """The table at ``path`` with its key and metadata columns checked (a fresh copy).

    With ``constants_allowed``, an empty ``year`` marks a value that holds in every year.
    """
    return _read_rows(path, tuple(keys), constants_allowed).copy()


@per_file_version
def _read_rows(path: Path, keys: tuple[str, ...], constants_allowed: bool) -> pd.DataFrame:
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


@per_file_version
def distinct(path: Path, keys: tuple[str, ...], column: str) -> tuple:
    """The values of ``column`` of the table at ``path``, once each, in file order."""
    return tuple(dict.fromkeys(_read_rows(path, keys, False)[column]))


def _shown(value) -> str:
    """A cell as the user wrote it: text quoted, a number plain (not numpy's repr)."""
    return repr(value) if isinstance(value, str) else f"{float(value):g}"


def _convert(df: pd.DataFrame, path: Path, unit: str) -> np.ndarray:
    out = np.empty(len(df))
    for given, rows in df.groupby("unit", dropna=False).groups.items():
        try:
            scale = factor(str(given), unit)
        except (pint.DimensionalityError, pint.UndefinedUnitError, AttributeError, ValueError) as err:
            raise InputError(path, "unit", f"a unit convertible to {unit!r}, got {given!r}") from err
        out[np.asarray([df.index.get_loc(r) for r in rows])] = df.loc[rows, "value"].to_numpy() * scale
    return out


@dataclass(frozen=True)
class Table:
    """Numbers on named dims: ``values`` has one axis per entry of ``dims``, labelled by
    ``coords[dim]``, in ``unit``. Tables read from files are cached and shared, so their
    arrays and coordinates are read-only; every method returns a new table."""

    dims: tuple[str, ...]
    coords: Mapping[str, np.ndarray]
    values: np.ndarray
    unit: str

    @classmethod
    def of(cls, da: xr.DataArray, unit: str) -> Table:
        """A plain DataArray in ``unit`` as a read-only table."""
        coords = MappingProxyType({d: _frozen(da[d].values) for d in da.dims})
        return cls(tuple(da.dims), coords, _frozen(np.asarray(da.values, dtype=float)), unit)

    def axis(self, dim: str) -> int:
        return self.dims.index(dim)

    def labels(self, dim: str) -> list:
        return self.coords[dim].tolist()

    def take(self, dim: str, labels) -> Table:
        """The table at ``labels`` of ``dim``, in that order (every label must exist)."""
        position = {label: i for i, label in enumerate(self.coords[dim].tolist())}
        index = [position[label] for label in np.asarray(labels).tolist()]
        return self.replace(np.take(self.values, index, axis=self.axis(dim)), **{dim: np.asarray(labels)})

    def replace(self, values: np.ndarray, unit: str | None = None, **coords) -> Table:
        """This table with new ``values`` (same dims) and the ``coords`` given replaced."""
        return Table(self.dims, {**self.coords, **coords}, values, unit or self.unit)

    def rename(self, **names: str) -> Table:
        return Table(tuple(names.get(d, d) for d in self.dims), {names.get(d, d): c for d, c in self.coords.items()}, self.values, self.unit)

    def transpose(self, *dims: str) -> Table:
        return Table(dims, {d: self.coords[d] for d in dims}, np.transpose(self.values, [self.axis(d) for d in dims]), self.unit)

    def at(self, dim: str, label) -> Table:
        """The table at one ``label`` of ``dim``, without that dim."""
        i = self.labels(dim).index(label)
        dims = tuple(d for d in self.dims if d != dim)
        return Table(dims, {d: self.coords[d] for d in dims}, np.take(self.values, i, axis=self.axis(dim)), self.unit)

    def expand(self, dim: str, labels) -> Table:
        """This table repeated along a new leading ``dim``."""
        labels = np.asarray(labels)
        values = np.broadcast_to(self.values, (len(labels), *self.values.shape))
        return Table((dim, *self.dims), {dim: labels, **self.coords}, values, self.unit)

    def spread(self, dims: tuple[str, ...], sizes: dict[str, int]) -> np.ndarray:
        """The values on ``dims`` (the table's own and more), repeated along the dims it
        lacks (``sizes`` their lengths): a read-only view, nothing copied."""
        missing = [d for d in dims if d not in self.dims]
        values = self.values.reshape((1,) * len(missing) + self.values.shape)
        shape = [sizes[d] if d in missing else self.values.shape[self.axis(d)] for d in dims]
        return np.broadcast_to(np.transpose(values, [(missing + list(self.dims)).index(d) for d in dims]), shape)

    def dataarray(self) -> xr.DataArray:
        """A plain DataArray of its own (a copy), with ``units`` in ``attrs``."""
        coords = {d: self.coords[d].copy() for d in self.dims}
        return xr.DataArray(self.values.copy(), dims=self.dims, coords=coords, attrs={"units": self.unit})


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array)
    array.flags.writeable = False
    return array


def table(path: Path | str, keys: tuple[str, ...], unit: str, where: dict | None = None) -> Table:
    """One table as a read-only :class:`Table` with ``keys`` as dims, in ``unit``: read,
    checked and converted once per version of the file (:func:`per_file_version`).

    ``where`` selects rows by key value first (e.g. ``{"path": "study"}``); selected keys
    are dropped from the dims. Duplicate keys are an error.
    """
    return _table(path, tuple(keys), unit, tuple(sorted((where or {}).items())))


@per_file_version
def _table(path: Path, keys: tuple[str, ...], unit: str, where_key: tuple) -> Table:
    where = dict(where_key)
    df = _read_rows(path, keys, False)
    for key, wanted in where.items():
        df = df[df[key] == wanted]
        if df.empty:
            raise InputError(path, key, f"rows with {key} = {wanted!r}")
    dims = [k for k in keys if k not in where]
    df = df.assign(value=_convert(df, path, unit))
    duplicated = df.duplicated(dims)
    if duplicated.any():
        raise InputError(path, ",".join(dims), f"one row per key; {df.loc[duplicated, dims].iloc[0].to_dict()} is repeated")
    if not dims:
        return Table((), MappingProxyType({}), _frozen(np.asarray(df["value"].iloc[0], dtype=float)), unit)
    coords, values = _dense(df, dims)
    return Table(tuple(dims), MappingProxyType({d: _frozen(c) for d, c in coords.items()}), _frozen(values), unit)


def _dense(df: pd.DataFrame, dims: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The ``value`` column of a long table (one row per key) as an array over ``dims``,
    NaN where a combination of keys has no row. Labels as ``Series.to_xarray`` gives
    them: in file order for one key, sorted for several (a MultiIndex's levels)."""
    if len(dims) == 1:
        return {dims[0]: df[dims[0]].to_numpy()}, df["value"].to_numpy(dtype=float)
    codes, coords = [], {}
    for d in dims:
        codes_d, coords[d] = pd.factorize(df[d], sort=True, use_na_sentinel=False)
        codes.append(codes_d)
    values = np.full([len(coords[d]) for d in dims], np.nan)
    values[tuple(codes)] = df["value"].to_numpy(dtype=float)
    return {d: np.asarray(c) for d, c in coords.items()}, values


def read_table(path: Path | str, keys: tuple[str, ...], unit: str, where: dict | None = None) -> xr.DataArray:
    """:func:`table` as a pint-quantified DataArray of the caller's own."""
    return table(path, keys, unit, where).dataarray().rename("value").pint.quantify(unit_registry=ureg)


def select_keys(table: Table, dim: str, wanted, file, expected: str, field: str | None = None) -> Table:
    """``table`` at the ``wanted`` labels of ``dim``, in that order. A label it lacks is an
    input error naming ``file``, the field (``dim`` unless given) and the missing labels:
    selecting never turns a missing row into a NaN that flows on."""
    have = set(table.labels(dim))
    missing = [w for w in wanted if w not in have]
    if missing:
        raise InputError(file, field or dim, f"{expected}; missing {missing[:5]}")
    return table.take(dim, list(wanted))


def concat(tables: list[Table], dim: str) -> Table:
    """``tables`` one after another along ``dim``, each other dim on the union of their
    labels (as xarray's outer join: sorted unless all agree), NaN where a table has none."""
    if len(tables) == 1:
        return tables[0]
    others = [d for d in tables[0].dims if d != dim]
    union = {d: functools.reduce(pd.Index.union, [pd.Index(t.coords[d]) for t in tables]).to_numpy() for d in others}
    parts = [reindex(t.transpose(*tables[0].dims), union).values for t in tables]
    labels = np.concatenate([t.coords[dim] for t in tables])
    return Table(tables[0].dims, {**union, dim: labels}, np.concatenate(parts, axis=tables[0].axis(dim)), tables[0].unit)


def reindex(table: Table, coords: dict[str, np.ndarray], fill_value: float = np.nan) -> Table:
    """``table`` on the labels ``coords`` gives for some of its dims; ``fill_value``
    where it has no value. The table itself when nothing changes."""
    changed = {d: np.asarray(c) for d, c in coords.items() if table.coords[d] is not c and not np.array_equal(table.coords[d], c)}
    if not changed:
        return table.replace(table.values, **coords)
    out = np.full([len(changed.get(d, table.coords[d])) for d in table.dims], fill_value)
    source, target = [], []
    for d in table.dims:
        position = {label: i for i, label in enumerate(table.coords[d].tolist())}
        new = changed.get(d, table.coords[d]).tolist()
        target.append([i for i, label in enumerate(new) if label in position])
        source.append([position[label] for label in new if label in position])
    out[np.ix_(*target)] = table.values[np.ix_(*source)]
    return Table(table.dims, {**table.coords, **changed}, out, table.unit)


def interpolate(values: np.ndarray, given: np.ndarray, years: np.ndarray) -> np.ndarray:
    """``values`` (year last) at ``years``: linear between the ``given`` years, flat
    beyond either end; each series on its own given years (NaN: not given), all-NaN
    series stay NaN."""
    rows = np.asarray(values, dtype=float).reshape(-1, len(given))
    given = np.asarray(given, dtype=float)
    out = np.stack([_interp_valid(years, given, row) for row in rows]) if len(rows) else np.empty((0, len(years)))
    return out.reshape(*np.shape(values)[:-1], len(years))


def _interp_valid(wanted: np.ndarray, given: np.ndarray, values: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(values)
    if not valid.any():
        return np.full(len(wanted), np.nan)
    return np.interp(wanted, given[valid], values[valid])


def interpolate_years(da, years):
    """``da`` (a DataArray, quantified or not, or a :class:`Table`) at ``years``: linear
    between its given years, held flat beyond either end.

    Works per series of the other dims, each on its own given years (a table may give
    BEV and PHEV at different years). Without a ``year`` dim ``da`` is returned as is
    (a constant).
    """
    if "year" not in da.dims:
        return da
    years = np.asarray(years)
    if isinstance(da, Table):
        moved = np.moveaxis(da.values, da.axis("year"), -1)
        return da.replace(np.moveaxis(interpolate(moved, da.coords["year"], years), -1, da.axis("year")), year=years)
    unit = da.data.units if is_quantified(da) else None
    magnitude = np.asarray(da.data.magnitude if unit is not None else da.values)
    axis = da.dims.index("year")
    values = np.moveaxis(interpolate(np.moveaxis(magnitude, axis, -1), da["year"].values, years), -1, axis)
    coords = {name: c for name, c in da.coords.items() if "year" not in c.dims}
    out = xr.DataArray(values, dims=da.dims, coords={**coords, "year": years})
    return out.pint.quantify(unit, unit_registry=ureg) if unit is not None else out
