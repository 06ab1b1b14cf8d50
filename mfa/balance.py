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


def gap(ds: xr.Dataset, system, process: str, quantity: str) -> Named:
    """``sum(inflows) - sum(outflows) - stock change`` of ``process`` for the flows of
    ``quantity``, per year, in the quantity's flow unit, as plain numbers.

    ``system`` is a :class:`mfa.definition.System`; ``ds``'s variables pint-quantified, or
    plain numbers in their declared units (as read from results.nc).
    """
    unit = system.quantities[quantity].unit

    def total(names):
        arrays = [from_xarray(ds.variables[n], f"{unit}/yr") for n in names]
        return functools.reduce(operator.add, arrays) if arrays else 0.0

    result = total(system.inflows(process, quantity)) - total(system.outflows(process, quantity))
    stock = system.stock(process, quantity)
    if stock is not None:
        # a stock in the quantity's unit changes by that unit per year
        held = from_xarray(ds.variables[stock], unit)
        axis = held.dims.index("year")
        change = np.moveaxis(stock_core.stock_change(np.moveaxis(held.values, axis, 0)), 0, axis)
        result = result - Named(held.dims, change)
    return result


def process_balance(ds: xr.Dataset, system, process: str, quantity: str) -> xr.DataArray:
    """:func:`gap` as a DataArray labelled as ``ds``."""
    result = gap(ds, system, process, quantity)
    return xr.DataArray(result.values, dims=result.dims, coords={d: ds.variables[d] for d in result.dims if d in ds.coords})


def involved(system, process: str, quantity: str) -> list[str]:
    """The variables one balance adds up."""
    stock = system.stock(process, quantity)
    return [*system.inflows(process, quantity), *system.outflows(process, quantity), *([stock] if stock else [])]
