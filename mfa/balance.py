"""Mass balance: inflow - outflow = change in stock, for every process and every year.

Works on plain or pint-quantified DataArrays with a ``year`` dim; the stock before the
first year is zero. Which flows enter and leave a process comes from the
declared system (:mod:`mfa.definition`); nothing here keeps a list of its own.
"""

from __future__ import annotations

import functools
import logging
import operator

import numpy as np
import xarray as xr

from . import stock_core
from .arrays import Named, from_xarray

log = logging.getLogger(__name__)


def terms(ds: xr.Dataset, system, process: str, quantity: str) -> tuple[list[Named], list[Named], Named | None]:
    """What the balance of ``process`` for ``quantity`` adds up, as plain numbers: its
    inflows and outflows in the quantity's flow unit and its stock (None when it has none)
    in the quantity's unit."""
    unit = system.quantities[quantity].unit
    inflows = [from_xarray(ds.variables[n], f"{unit}/yr") for n in system.inflows(process, quantity)]
    outflows = [from_xarray(ds.variables[n], f"{unit}/yr") for n in system.outflows(process, quantity)]
    stock = system.stock(process, quantity)
    return inflows, outflows, None if stock is None else from_xarray(ds.variables[stock], unit)


def gap_of(inflows: list[Named], outflows: list[Named], stock: Named | None) -> Named:
    """``sum(inflows) - sum(outflows) - stock change`` (a stock in a unit changes by that
    unit per year; zero before the first year)."""
    total = lambda arrays: functools.reduce(operator.add, arrays) if arrays else 0.0  # noqa: E731
    result = total(inflows) - total(outflows)
    if stock is not None:
        axis = stock.dims.index("year")
        change = np.moveaxis(stock_core.stock_change(np.moveaxis(stock.values, axis, 0)), 0, axis)
        result = result - Named(stock.dims, change)
    return result


def gap(ds: xr.Dataset, system, process: str, quantity: str) -> Named:
    """``sum(inflows) - sum(outflows) - stock change`` of ``process`` for the flows of
    ``quantity``, per year, in the quantity's flow unit, as plain numbers.

    ``system`` is a :class:`mfa.definition.System`; ``ds``'s variables pint-quantified, or
    plain numbers in their declared units (as read from results.nc).
    """
    return gap_of(*terms(ds, system, process, quantity))


_SLAB_ELEMENTS = 2**17
"""Elements of each term in a slab of :func:`largest_abs_gap`: a slab's temporaries stay
in cache, so each term is read from memory once instead of once per operation."""


def largest_abs_gap(inflows: list[Named], outflows: list[Named], stock: Named | None = None) -> float:
    """``max |`` :func:`gap_of` ``|`` without the whole gap array: evaluated a slab of the
    leading dim at a time (all terms share it: ``sample`` or ``scenario``; the year axis
    stays whole). NaN when any gap is NaN (:func:`mfa.stock_core.largest_abs`)."""
    arrays = [*inflows, *outflows, *([stock] if stock is not None else [])]
    lead = arrays[0].dims[0]
    if any(a.dims[0] != lead for a in arrays) or lead == "year":
        return stock_core.largest_abs(gap_of(inflows, outflows, stock).values)
    n = arrays[0].values.shape[0]
    per_row = max(a.values[0].size for a in arrays) if n else 1
    step = max(1, _SLAB_ELEMENTS // max(per_row, 1))
    largest = 0.0
    for first in range(0, n, step):
        part = lambda a: Named(a.dims, a.values[first : first + step])  # noqa: E731
        slab = gap_of([part(a) for a in inflows], [part(a) for a in outflows], None if stock is None else part(stock))
        largest = np.maximum(largest, stock_core.largest_abs(slab.values))  # np.maximum keeps a NaN
    return float(largest)


def process_balance(ds: xr.Dataset, system, process: str, quantity: str) -> xr.DataArray:
    """:func:`gap` as a DataArray labelled as ``ds``."""
    result = gap(ds, system, process, quantity)
    return xr.DataArray(result.values, dims=result.dims, coords={d: ds.variables[d] for d in result.dims if d in ds.coords})


def involved(system, process: str, quantity: str) -> list[str]:
    """The variables one balance adds up."""
    stock = system.stock(process, quantity)
    return [*system.inflows(process, quantity), *system.outflows(process, quantity), *([stock] if stock else [])]
