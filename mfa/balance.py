"""Mass balance: inflow - outflow = change in stock, for any process and every year.

Works on plain or pint-quantified DataArrays with a ``year`` dim; the stock before the
first year is zero unless given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from . import stock_core
from .units import is_quantified, ureg

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Process:
    """Which variables of a results dataset enter, leave and accumulate in one process."""

    inflows: tuple[str, ...]
    """Names of the flows into the process (per year)."""
    outflows: tuple[str, ...]
    """Names of the flows out of the process (per year)."""
    stock: str | None = None
    """Name of the process's stock (end of year), or None for a process without one."""
    sum_over: tuple[str, ...] = field(default=())
    """Dims to sum over before balancing (e.g. ``chemistry`` when a flow splits by it)."""


def stock_change(stock: xr.DataArray, initial=0.0) -> xr.DataArray:
    """``stock[t] - stock[t-1]`` per year, with ``initial`` as the stock before the first year.

    Same dims, order and units as ``stock``; one pass, no temporaries.
    """
    quantified = is_quantified(stock)
    values = stock.data.magnitude if quantified else stock.values
    axis = stock.get_axis_num("year")
    change = np.moveaxis(stock_core.stock_change(np.moveaxis(values, axis, 0), initial), 0, axis)
    return stock.copy(data=change * stock.data.units if quantified else change)


def _largest(da: xr.DataArray) -> float:
    """Largest absolute value (two passes, no temporary array)."""
    return stock_core.largest_abs(da.data.magnitude if is_quantified(da) else da.values)


def max_errors(balance: xr.DataArray, reference: xr.Dataset | xr.DataArray) -> dict[str, float]:
    """Largest absolute balance error, and that error relative to the largest value in
    ``reference`` (the stocks and flows that were balanced)."""
    abs_error = _largest(balance)
    refs = reference.data_vars.values() if isinstance(reference, xr.Dataset) else [reference]
    scale = max((_largest(r) for r in refs), default=0.0)
    return {
        "max_abs_balance_error": abs_error,
        "max_rel_balance_error": abs_error / scale if scale > 0 else abs_error,
    }


def process_balance(ds: xr.Dataset, process: Process) -> xr.DataArray:
    """``sum(inflows) - sum(outflows) - stock change`` of one process, per year.

    With pint units, the stock change (a stock) is divided by one year to compare with flows.
    """

    def total(names):
        arrays = [ds[n].sum([d for d in process.sum_over if d in ds[n].dims]) for n in names]
        return sum(arrays[1:], arrays[0]) if arrays else 0.0

    result = total(process.inflows) - total(process.outflows)
    if process.stock is not None:
        change = stock_change(total([process.stock]))
        result = result - (change / ureg.Quantity(1, "yr") if is_quantified(change) else change)
    return result


def check(ds: xr.Dataset, processes: dict[str, Process]) -> xr.Dataset:
    """Balance of every process: a dataset with one variable per process, and the largest
    absolute and relative errors over all of them in ``attrs``."""
    balances = xr.Dataset({name: process_balance(ds, p) for name, p in processes.items()})
    worst = {"max_abs_balance_error": 0.0, "max_rel_balance_error": 0.0}
    for name, p in processes.items():
        names = [*p.inflows, *p.outflows, *([p.stock] if p.stock else [])]
        errors = max_errors(balances[name], ds[names])
        log.debug("balance of %s: %s", name, errors)
        worst = {k: max(worst[k], errors[k]) for k in worst}
    balances.attrs.update(worst)
    return balances
