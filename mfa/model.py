"""Runs the declared system (:mod:`mfa.definition`) for a set of scenarios: builds the
parameters, checks them, walks the steps in order, adds up the totals, and checks every
invariant on what came out. Nothing else."""

from __future__ import annotations

import functools
import logging
import operator
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pint
import xarray as xr

from . import blas, config, definition, invariants, parameters, units
from .errors import InputError

log = logging.getLogger(__name__)


@functools.cache
def package_version() -> str:
    try:
        return version("mfa")
    except PackageNotFoundError:
        return "unknown"


def run(
    scenarios: dict[str, config.Scenario],
    draws: xr.DataArray | None = None,
    params: xr.Dataset | None = None,
    system: definition.System | None = None,
) -> tuple[xr.Dataset, xr.Dataset]:
    """See :func:`_run`. With dask imported, xarray asks every pint array whether it is a
    dask collection; pint answers through an AttributeError whose message prints the whole
    array (pint/facets/numpy/quantity.py), which cost seconds per run on large arrays.
    Short print options make that message cheap; nothing is printed."""
    with np.printoptions(threshold=8, edgeitems=1), blas.one_thread():
        return _run(scenarios, draws, params, system or definition.load())


def _run(scenarios, draws, params, system: definition.System) -> tuple[xr.Dataset, xr.Dataset]:
    """Results of every scenario and the parameters used.

    Results: one pint-quantified variable per declared variable, dims ``scenario``,
    ``region``, ``year`` and its quantity's (``powertrain``, ``chemistry``, ``element``)
    or its own (``bound``); ``attrs`` carry the largest balance errors. With ``draws``
    (``scenario``, ``sample``, ``parameter``; see :mod:`mfa.uncertainty`) the parameters
    and every result gain a ``sample`` dim. ``params``: the scenarios' parameters when
    already built (:func:`mfa.parameters.build`), as Monte-Carlo chunks reuse them.
    """
    first = next(iter(scenarios.values()))
    for cfg in scenarios.values():
        if cfg.years != first.years or cfg.regions != first.regions or cfg.province_table != first.province_table:
            raise InputError(cfg.source, "years", "the same years and regions in every scenario of a case")
    p = parameters.build(scenarios) if params is None else params
    if draws is not None:
        p = parameters.perturb(p, draws, scenarios)
    invariants.check_parameters(p, parameters.RANGES, parameters.OBSERVED)
    log.info("parameters built and checked for %d scenarios", len(scenarios))

    variables: dict[str, xr.Variable] = {}
    coords = xr.Coordinates()
    results = xr.Dataset()
    for i, step in enumerate(system.steps):
        out = system.step_function(step)(p, results, system)
        variables.update(_conform(out, step, system))
        coords = _merged(coords, out.coords)
        for name in system.of_kind("total"):
            if system.variables[name].step == step:
                variables[name] = functools.reduce(operator.add, (variables[n] for n in system.variables[name].sum_of))
        if i < len(system.steps) - 1:  # the next step reads the variables so far (merging each step's Dataset would align all anew)
            results = xr.Dataset(variables, coords=coords)
    # Leading dims in a fixed order, and the declared metadata, set on the variables
    # before the one final Dataset (through it, each would cost a DataArray).
    leading = ("sample", *definition.BASE_DIMS)
    for name, var in system.variables.items():
        variable = variables[name]
        variable.attrs.update(long_name=var.long_name, description=var.description)
        variables[name] = variable.transpose(*[d for d in leading if d in variable.dims], ...)
    results = xr.Dataset(variables, coords=coords)

    errors = invariants.check_results(results, system)
    results.attrs.update(
        max_abs_balance_error=max(e["max_abs_balance_error"] for e in errors.values()),
        max_rel_balance_error=max(e["max_rel_balance_error"] for e in errors.values()),
        balance_by_process="; ".join(f"{k}: {e['max_abs_balance_error']:.3g}" for k, e in errors.items()),
        case=first.case.name,
        package_version=package_version(),
        projection_break=p.attrs.get("projection_break", ""),
    )
    if "clipped_draws" in p.attrs:
        results.attrs["clipped_draws"] = p.attrs["clipped_draws"]
    log.info("largest mass-balance error %.3g (relative %.3g)", results.attrs["max_abs_balance_error"], results.attrs["max_rel_balance_error"])
    return results, p


def _conform(out: xr.Dataset, step: str, system: definition.System) -> dict[str, xr.Variable]:
    """``out``'s variables, exactly those ``step`` declares (totals aside), each in its
    declared unit and with its declared dims; anything else is a definition error."""
    declared = [n for n in system.step_variables(step) if system.variables[n].kind != "total"]
    missing, extra = sorted(set(declared) - set(out.data_vars)), sorted(set(out.data_vars) - set(declared) - set(system.left_out))
    if missing or extra:
        raise ValueError(f"step {step!r} of the system definition: missing {missing}, undeclared {extra}")
    conformed = {}
    for name in declared:
        variable = out.variables[name]
        unit = system.unit(name)
        if not isinstance(variable.data, pint.Quantity):
            raise ValueError(f"step {step!r}: {name} has no unit, the definition says {unit}")
        if variable.data.units != units.as_unit(unit):
            variable = variable.copy(data=units.attach(units.magnitude(variable.data, unit), unit))
        wanted = set(system.dims_of(name))
        if set(variable.dims) - {"sample"} != wanted:
            raise ValueError(f"step {step!r}: {name} has dims {variable.dims}, the definition says {sorted(wanted)}")
        conformed[name] = variable
    return conformed


def _merged(coords: xr.Coordinates, more: xr.Coordinates) -> xr.Coordinates:
    """``coords`` and the coordinates of ``more`` it lacks (the steps share the parameters' labels)."""
    new = [k for k in more if k not in coords]
    if not new:
        return coords
    return xr.Coordinates({**coords.variables, **{k: more.variables[k] for k in new}}, indexes={**coords.xindexes, **{k: more.xindexes[k] for k in new if k in more.xindexes}})
