"""Runs the chain fleet -> batteries -> end of life -> metals -> carbon for a set of
scenarios, and checks the mass balance of every process. Nothing else."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import xarray as xr

from . import balance, batteries, carbon, config, end_of_life, fleet, metals, parameters
from .balance import Process
from .errors import InputError
from .variables import VARIABLES

log = logging.getLogger(__name__)

PROCESSES: dict[str, Process] = {
    "vehicles_in_use": Process(("vehicle_sales",), ("vehicle_retired",), "vehicle_stock"),
    "batteries_in_use": Process(
        ("battery_capacity_demand",), ("battery_retired_with_vehicle", "battery_retired_failed"), "battery_capacity_in_use"
    ),
    "battery_sorting": Process(
        ("battery_end_of_life", "battery_second_use_retired"),
        ("battery_to_second_use", "battery_collected", "battery_uncollected"),
    ),
    "battery_second_use": Process(("battery_to_second_use",), ("battery_second_use_retired",), "battery_in_second_use"),
    "metal_in_use": Process(("metal_demand",), ("metal_end_of_life",), "metal_in_use"),
    "metal_sorting": Process(
        ("metal_end_of_life", "metal_second_use_retired"), ("metal_second_use", "metal_collected", "metal_uncollected")
    ),
    "metal_second_use": Process(("metal_second_use",), ("metal_second_use_retired",), "metal_in_second_use"),
    "recycling": Process(("metal_collected",), ("metal_recovered", "metal_process_loss")),
}


def package_version() -> str:
    try:
        return version("mfa")
    except PackageNotFoundError:
        return "unknown"


def run(scenarios: dict[str, config.Scenario], draws: xr.DataArray | None = None, params: xr.Dataset | None = None) -> xr.Dataset:
    """See :func:`_run`. With dask imported, xarray asks every pint array whether it is a
    dask collection; pint answers through an AttributeError whose message prints the whole
    array (pint/facets/numpy/quantity.py), which cost seconds per run on large arrays.
    Short print options make that message cheap; nothing is printed."""
    with np.printoptions(threshold=8, edgeitems=1):
        return _run(scenarios, draws, params)


def _run(scenarios: dict[str, config.Scenario], draws: xr.DataArray | None, params: xr.Dataset | None) -> xr.Dataset:
    """Results of every scenario, pint-quantified, dims ``scenario``, ``region``, ``year``
    and ``powertrain``, ``chemistry``, ``element``, ``bound`` where they apply.

    ``attrs`` carry the largest mass-balance errors over all processes. With ``draws``
    (``scenario``, ``sample``, ``parameter``; see :mod:`mfa.uncertainty`) the parameters
    and every result gain a ``sample`` dim. ``params``: the scenarios' parameters when
    already built (:func:`mfa.parameters.build`), as Monte-Carlo chunks reuse them.
    """
    first = next(iter(scenarios.values()))
    for name, cfg in scenarios.items():
        if cfg.years != first.years or cfg.regions != first.regions or cfg.province_table != first.province_table:
            raise InputError(cfg.source, "years", "the same years and regions in every scenario of a case")
    p = parameters.build(scenarios) if params is None else params
    if draws is not None:
        p = parameters.perturb(p, draws, scenarios)
    log.info("parameters built for %d scenarios", len(scenarios))
    vehicles = fleet.run(p, first.years.history_end)
    packs = batteries.run(p, vehicles)
    eol = end_of_life.run(p, packs)
    battery_flows = xr.merge([packs, eol])
    metal = metals.run(p, battery_flows)
    emissions = carbon.run(p, vehicles, metal)
    results = xr.merge([vehicles, battery_flows, metal, emissions])
    results = results.transpose(*[d for d in ("sample", "scenario", "region", "year") if d in results.dims], ...)
    for name, (long_name, description) in VARIABLES.items():
        if name in results:
            results[name].attrs.update(long_name=long_name, description=description)
    balances = balance.check(results, PROCESSES)
    results.attrs.update(balances.attrs)
    results.attrs["balance_by_process"] = "; ".join(
        f"{name}: {float(abs(balances[name].pint.magnitude if hasattr(balances[name].data, 'units') else balances[name]).max()):.3g}"
        for name in PROCESSES
    )
    results.attrs.update(
        case=first.case.name,
        package_version=package_version(),
    )
    log.info("largest mass-balance error %.3g (relative %.3g)", results.attrs["max_abs_balance_error"], results.attrs["max_rel_balance_error"])
    return results, p
