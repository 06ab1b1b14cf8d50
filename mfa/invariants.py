"""Invariants every run keeps, checked on the values it actually used and produced.

Parameters (after layering, ``--set`` and Monte-Carlo draws): finite, inside their
declared range (:data:`mfa.parameters.RANGES`; every other parameter >= 0). Results:
every flow, stock, part and total finite and >= 0 (a stated tolerance absorbs rounding),
indicators and auxiliary variables finite, parts adding up to their flow, and every
process of the declared system balanced within :data:`BALANCE_TOLERANCE` relative. A
violation raises :class:`mfa.errors.InvariantError` naming the parameter or variable and
the first place it happens (scenario, region, year, sample ...).

Comparisons are written so that NaN fails them (``not (x <= limit)``): a hole never passes.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import balance, stock_core
from .arrays import Named, from_xarray
from .errors import InvariantError
from .units import attach, is_quantified

BALANCE_TOLERANCE = 1e-9
"""Largest balance error allowed, relative to the largest flow or stock in the balance."""
NEGATIVE_TOLERANCE = 1e-9
"""A flow may dip below zero by this much relative to its largest value (rounding)."""


def _values(da: xr.DataArray | xr.Variable) -> np.ndarray:
    return np.asarray(da.data.magnitude if is_quantified(da.data) else da.values, dtype=float)


def _unit(da: xr.DataArray) -> str:
    text = f"{da.data.units:~}" if is_quantified(da) else ""
    return f" {text}" if text else ""


def _first_bad(da: xr.DataArray, bad: np.ndarray) -> tuple[float, str, dict]:
    """The value at the first place ``bad`` is true, that place as text (``"scenario
    positive, region 460000, year 2031"``) and as labels by dim."""
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    labels = {dim: (da[dim].values[i] if dim in da.coords else i) for dim, i in zip(da.dims, index)}
    return float(_values(da)[index]), ", ".join(f"{dim} {label}" for dim, label in labels.items()), labels


def _labelled(a: Named, ds: xr.Dataset, unit: str | None = None) -> xr.DataArray:
    """``a`` as a DataArray with ``ds``'s labels (and ``unit``), to say where a value is bad."""
    data = a.values if unit is None else attach(a.values, unit)
    return xr.DataArray(data, dims=a.dims, coords={d: ds.variables[d] for d in a.dims if d in ds.coords})


def check_parameters(p: xr.Dataset, ranges: dict[str, tuple[float, float]], observed=()) -> None:
    """Every parameter finite and inside ``ranges[name]`` (default ``[0, inf)``); the
    ``observed`` ones may be empty (NaN: not observed) but never infinite."""
    for name in p.data_vars:
        values = _values(p.variables[name])
        low, high = ranges.get(name, (0.0, np.inf))
        if name in observed:
            values = np.where(np.isnan(values), low, values)
        bad = ~np.isfinite(values)
        expected = "a finite number"
        if not bad.any():
            bad = ~((values >= low) & (values <= high))
            if np.isfinite(high):
                expected = f"a number in [{low:g}, {high:g}]"
            else:
                expected = "a number > 0" if 0 < low <= np.finfo(float).tiny else f"a number >= {low:g}"
        if bad.any():
            da = p[name]
            value, place, labels = _first_bad(da, bad)
            scenario = str(labels.get("scenario", ""))
            origin = da.attrs.get(f"file_{scenario}", "")
            setting = da.attrs.get(f"setting_{scenario}", "")
            field = f"{setting} ({name})" if setting and origin and not origin.endswith(".csv") else name
            raise InvariantError(origin or None, field, f"{expected}, got {value:g}{_unit(da)} at {place}")


def check_results(results: xr.Dataset, system) -> dict[str, dict[str, float]]:
    """All result invariants of ``system``; returns the largest absolute and relative error
    of every balance, keyed ``"process (quantity)"``, when every one holds."""
    largest = {name: _finite_and_not_negative(results, name, var.kind) for name, var in system.variables.items()}
    for name, var in system.variables.items():
        if var.at_most:
            unit = system.unit(name)
            total = from_xarray(results.variables[name], unit)
            limit = from_xarray(results.variables[var.at_most], unit)
            for dim in set(total.dims) - set(limit.dims):
                total = total.sum(dim)
            excess = (total - limit).values
            bad = ~(excess <= NEGATIVE_TOLERANCE * max(stock_core.largest_abs(limit.values), np.finfo(float).tiny))
            if bad.any():
                located = _labelled(total, results, unit)
                value, place, _ = _first_bad(located, bad)
                raise InvariantError(None, name, f"at most {var.at_most}; got {value:.6g}{_unit(located)} at {place}")
    for whole in {v.part_of for v in system.variables.values() if v.part_of}:
        parts = [n for n, v in system.variables.items() if v.part_of == whole]
        unit = system.unit(whole)
        terms = [from_xarray(results.variables[n], unit) for n in parts], [from_xarray(results.variables[whole], unit)], None
        _within(terms, results, max(largest[n] for n in [whole, *parts]), f"the parts of {whole} ({', '.join(parts)})")
    errors = {}
    for process, quantity in system.balances():
        scale = max(largest[n] for n in balance.involved(system, process, quantity))
        terms = balance.terms(results, system, process, quantity)
        errors[f"{process} ({quantity})"] = _within(terms, results, scale, f"the balance of {process} ({quantity})")
    return errors


def _finite_and_not_negative(results: xr.Dataset, name: str, kind: str) -> float:
    """Raise unless variable ``name`` is finite and, for a flow, stock, part or total,
    >= 0 (within the tolerance); return its largest absolute value.

    Its smallest and largest values decide (NaN and infinities carry into them): two
    reductions, no temporary arrays; the places are looked up only when one fails."""
    values = _values(results.variables[name])
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high)):
        value, place, _ = _first_bad(results[name], ~np.isfinite(values))
        raise InvariantError(None, name, f"finite values; got {value:g} at {place}")
    largest = max(high, -low)
    if kind in ("flow", "stock", "part", "total") and not low >= -NEGATIVE_TOLERANCE * largest:
        value, place, _ = _first_bad(results[name], ~(values >= -NEGATIVE_TOLERANCE * largest))
        raise InvariantError(None, name, f"values >= 0; got {value:.6g}{_unit(results[name])} at {place}")
    return largest


def _within(terms, results: xr.Dataset, scale: float, what: str) -> dict[str, float]:
    """Raise unless every ``|gap|`` of ``terms`` (inflows, outflows, stock:
    :func:`mfa.balance.gap_of`) is within the tolerance of ``scale`` (the largest value of
    the variables it adds up); else return the largest absolute and relative gap."""
    # a slab at a time and NaN-carrying (no gap array); the places only when one fails
    largest = balance.largest_abs_gap(*terms)
    limit = BALANCE_TOLERANCE * max(scale, np.finfo(float).tiny)
    if not largest <= limit:
        gap = balance.gap_of(*terms)
        value, place, _ = _first_bad(_labelled(gap, results), ~(np.abs(gap.values) <= limit))
        raise InvariantError(None, what, f"an error within {BALANCE_TOLERANCE:g} of {scale:.6g}; got {abs(value):.6g} at {place}")
    return {"max_abs_balance_error": largest, "max_rel_balance_error": largest / scale if scale > 0 else largest}
