"""Mass balance: inflow - outflow = change in stock, for every process and every year.

Works on plain or pint-quantified DataArrays with a ``year`` dim; the stock before the
first year is zero unless given. Which flows enter and leave a process comes from the
declared system (:mod:`mfa.definition`); nothing here keeps a list of its own.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from . import stock_core
from .units import is_quantified, ureg

log = logging.getLogger(__name__)


def stock_change(stock: xr.DataArray, initial=0.0) -> xr.DataArray:
    """``stock[t] - stock[t-1]`` per year, with ``initial`` as the stock before the first year.

    Same dims, order and units as ``stock``; one pass, no temporaries.
    """
    quantified = is_quantified(stock)
    values = stock.data.magnitude if quantified else stock.values
    axis = stock.get_axis_num("year")
    change = np.moveaxis(stock_core.stock_change(np.moveaxis(values, axis, 0), initial), 0, axis)
    return stock.copy(data=change * stock.data.units if quantified else change)


def largest(da: xr.DataArray) -> float:
    """Largest absolute value; NaN when any value is NaN (a hole is never hidden)."""
    return stock_core.largest_abs(da.data.magnitude if is_quantified(da) else np.asarray(da.values))


def process_balance(ds: xr.Dataset, system, process: str, quantity: str) -> xr.DataArray:
    """``sum(inflows) - sum(outflows) - stock change`` of ``process`` for the flows of
    ``quantity``, per year, in the quantity's flow unit (plain numbers).

    ``system`` is a :class:`mfa.definition.System`.
    """
    flow_unit = f"{system.quantities[quantity].unit}/yr"

    def total(names):
        arrays = [_plain(ds[n], flow_unit) for n in names]
        return sum(arrays[1:], arrays[0]) if arrays else 0.0

    result = total(system.inflows(process, quantity)) - total(system.outflows(process, quantity))
    stock = system.stock(process, quantity)
    if stock is not None:
        change = stock_change(ds[stock])
        result = result - _plain(change / ureg.Quantity(1, "yr") if is_quantified(change) else change, flow_unit)
    return result


def _plain(da: xr.DataArray, unit: str) -> xr.DataArray:
    if not is_quantified(da):
        return da
    return da.copy(data=da.data.to(unit).magnitude)


def involved(system, process: str, quantity: str) -> list[str]:
    """The variables one balance adds up."""
    stock = system.stock(process, quantity)
    return [*system.inflows(process, quantity), *system.outflows(process, quantity), *([stock] if stock else [])]
