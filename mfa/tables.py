"""Tables in and out: the long and wide tables modellers keep, as quantified DataArrays,
and results back as tidy frames.

Readers take a pandas DataFrame or a path to a CSV (``.csv``) or Excel (``.xlsx``,
``.xlsm``; read with openpyxl) file, and return an ``xr.DataArray`` with a ``year`` dim
first and one dim per label column, its values a pint quantity in the package registry
(:data:`mfa.units.ureg`). They refuse, naming the rows or labels concerned:

- a cell that is not a number (``"n/a"``, ``"1,5"``) or is empty;
- two rows for the same year and labels (duplicates);
- a gap: a year between the first and the last, or a combination of labels, with no row
  (unless ``fill_value`` says what a missing row means, e.g. 0 for sales).

>>> import pandas as pd
>>> from mfa import tables
>>> df = pd.DataFrame({"City": ["Haikou", "Haikou", "Sanya", "Sanya"], "Year": [2020, 2021, 2020, 2021],
...                    "Sales": [10.0, 12.0, 4.0, 5.0]})
>>> sales = tables.from_long(df, year="Year", dims={"City": "region"}, value="Sales", unit="vehicle/yr")
>>> sales.dims, str(sales.data.units)
(('year', 'region'), 'vehicle / year')
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .units import is_quantified, ureg

__all__ = ["from_long", "from_wide", "read", "to_long"]

log = logging.getLogger(__name__)

_EXCEL = {".xlsx", ".xlsm"}
_SHOWN = 5  # offending rows or labels quoted in an error message


def read(source, sheet: str | int | None = None) -> pd.DataFrame:
    """``source`` as a DataFrame: a DataFrame as it is, or a CSV or Excel file by path
    (``sheet``: the Excel sheet by name or position, the first by default)."""
    if isinstance(source, pd.DataFrame):
        return source
    if not isinstance(source, (str, Path)):
        raise TypeError(f"expected a pandas DataFrame or a path to a CSV or Excel file, got {type(source).__name__}")
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in _EXCEL:
        return pd.read_excel(path, sheet_name=0 if sheet is None else sheet, engine="openpyxl")
    raise ValueError(f"{path}: expected a .csv, .xlsx or .xlsm file")


def _shown(items) -> str:
    items = list(items)
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(map(str, items[:_SHOWN])) + more


def _numbers(column: pd.Series, name: str, frame: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """The column as floats; a cell that is not a number is an error naming its row."""
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna()
    if bad.any():
        rows = frame.loc[bad, labels].assign(**{name: column[bad]}).to_dict("records")
        raise ValueError(f"column {name!r}: expected numbers, got {_shown(rows)}")
    return values.to_numpy(float)


def from_long(
    table,
    *,
    year: str = "year",
    dims: Mapping[str, str] | Sequence[str] = (),
    value: str = "value",
    unit: str,
    fill_value: float | None = None,
    sheet: str | int | None = None,
) -> xr.DataArray:
    """A long table (one row per year and labels) as a quantified DataArray.

    ``table``: DataFrame or CSV/Excel path (:func:`read`). ``year``: the column of
    calendar years (integers; becomes dim ``year``). ``dims``: the label columns, either a
    list (the dims keep the column names) or a mapping column -> dim name (e.g.
    ``{"City": "region"}``). ``value``: the column of numbers. ``unit``: their unit, a
    string ``mfa.units.ureg`` parses (``"vehicle/yr"``, ``"kW h"``, ``"1"``).
    ``fill_value``: what a missing (year, labels) row means; ``None`` (default) makes a
    gap an error. Columns not named are ignored. Dims: ``year`` then ``dims`` in the
    given order; labels in order of first appearance, years ascending.
    """
    frame = read(table, sheet)
    renames = dict(dims) if isinstance(dims, Mapping) else {d: d for d in ([dims] if isinstance(dims, str) else dims)}
    needed = [year, *renames, value]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"no column {missing}; columns are {list(frame.columns)}")
    labels = list(renames)
    values = _numbers(frame[value], value, frame, [year, *labels])
    years = _numbers(frame[year], year, frame, labels)
    if not np.all(years == np.round(years)):
        raise ValueError(f"column {year!r}: expected whole years, got {_shown(np.unique(years[years != np.round(years)]))}")
    keys = pd.DataFrame({"year": years.astype(int), **{renames[c]: frame[c].to_numpy() for c in labels}})
    empty_label = keys[list(renames.values())].isna().any(axis=1)
    if empty_label.any():
        raise ValueError(f"empty label in rows {_shown(frame.index[empty_label])}")
    duplicated = keys.duplicated(keep=False)
    if duplicated.any():
        rows = keys[duplicated].drop_duplicates().to_dict("records")
        raise ValueError(f"duplicate rows for {_shown(rows)}")
    index = pd.MultiIndex.from_frame(keys)
    levels = [np.arange(keys["year"].min(), keys["year"].max() + 1), *(pd.unique(keys[d]) for d in keys.columns[1:])]
    full = pd.MultiIndex.from_product(levels, names=list(keys.columns))
    series = pd.Series(values, index=index).reindex(full)
    gaps = series.isna()
    if gaps.any():
        if fill_value is None:
            raise ValueError(
                f"gaps: no row for {_shown(full[gaps].to_frame(index=False).to_dict('records'))} "
                "(pass fill_value= to fill them)"
            )
        log.info("from_long: %d missing rows filled with %s", int(gaps.sum()), fill_value)
        series = series.fillna(fill_value)
    # ``full`` is the product of the levels in order, so the values reshape onto the grid.
    shape = [len(level) for level in levels]
    da = xr.DataArray(series.to_numpy().reshape(shape), dims=list(keys.columns), coords=dict(zip(keys.columns, levels)), name=value)
    return da.pint.quantify(ureg.Unit(unit), unit_registry=ureg)


def from_wide(
    table,
    *,
    year: str = "year",
    columns_dim: str,
    dims: Mapping[str, str] | Sequence[str] = (),
    unit: str,
    fill_value: float | None = None,
    sheet: str | int | None = None,
) -> xr.DataArray:
    """A wide table (one row per year, one column per label) as a quantified DataArray.

    Every column other than ``year`` and the label columns ``dims`` holds numbers for one
    label of the dim ``columns_dim`` (e.g. ``"chemistry"`` for columns ``LFP``, ``NCM``).
    The checks and the rest of the arguments are those of :func:`from_long`.
    """
    frame = read(table, sheet)
    renames = dict(dims) if isinstance(dims, Mapping) else {d: d for d in ([dims] if isinstance(dims, str) else dims)}
    ids = [year, *renames]
    missing = [c for c in ids if c not in frame.columns]
    if missing:
        raise ValueError(f"no column {missing}; columns are {list(frame.columns)}")
    if columns_dim in (year, *renames, *renames.values()):
        raise ValueError(f"columns_dim {columns_dim!r} is already a column or dim")
    long = frame.melt(id_vars=ids, var_name=columns_dim, value_name="value")
    return from_long(
        long, year=year, dims={**renames, columns_dim: columns_dim}, value="value", unit=unit, fill_value=fill_value
    )


def _unit_text(da: xr.DataArray) -> str:
    """The unit as pint writes it briefly (``veh / yr``), which :func:`from_long` reads back."""
    if is_quantified(da):
        return format(da.data.units, "~")
    return str(da.attrs.get("units", ""))


def to_long(results: xr.Dataset | xr.DataArray) -> pd.DataFrame:
    """A tidy frame: one row per variable and combination of labels, with columns
    ``variable``, the dims (``year``, ...), ``value`` and ``unit``.

    Works for any Dataset; the variables of a stock result share their dims, so the
    rows of one variable sum to its total (no value is repeated along a dim it does not
    have). A variable without some dim of another has an empty cell in that column.
    """
    if isinstance(results, xr.DataArray):
        results = results.to_dataset(name=results.name or "value")
    frames = []
    for name, da in results.data_vars.items():
        unit = _unit_text(da)
        plain = da.copy(data=da.data.magnitude) if is_quantified(da) else da
        plain = plain.reset_coords(drop=True)
        frame = plain.to_dataframe(name="value").reset_index() if plain.ndim else pd.DataFrame({"value": [plain.item()]})
        frame.insert(0, "variable", name)
        frame["unit"] = unit
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["variable", "value", "unit"])
    out = pd.concat(frames, ignore_index=True)
    columns = ["variable", *[c for c in out.columns if c not in ("variable", "value", "unit")], "value", "unit"]
    return out[columns]
