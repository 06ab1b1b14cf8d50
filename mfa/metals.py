"""Material flows: every battery flow times the material content of its chemistry, and
recycling.

Flows are linear in capacity, so each capacity variable (kWh, by chemistry) that the
system definition gives a material twin (``content_of``) becomes a material variable
(t, by element) with one product and a sum over chemistry. Adding an element is rows of
``inputs/metal_intensity.csv`` and ``inputs/recovery_efficiency.csv``.
"""

from __future__ import annotations

import functools
import operator

import xarray as xr

from .arrays import dataset, from_xarray, param
from .units import is_rate, plain, ureg


def content(capacity: xr.DataArray, intensity: xr.DataArray, keep_chemistry: bool = False) -> xr.DataArray:
    """Material in ``capacity`` (kWh or kWh/yr, by chemistry) in t or t/yr, by element.

    Summing over chemistry is one contraction (einsum): no chemistry x element array.
    """
    per_year = is_rate(capacity.data.units)
    unit = "t/yr" if per_year else "t"
    kwh = plain(capacity, "kWh/yr" if per_year else "kWh")
    t_per_kwh = plain(intensity, "t/kWh")
    metal = kwh * t_per_kwh if keep_chemistry else xr.dot(kwh, t_per_kwh, dim="chemistry")
    return metal.pint.quantify(unit, unit_registry=ureg)


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """The material twin of every capacity variable, by ``element``; material demand by
    chemistry; and the intensity, pack mass per kWh and black-mass yield themselves (in
    the results, so that readers of the run folder alone can split any battery flow by
    chemistry into material, pack tonnage and black mass)."""
    per_kwh = param(p, "metal_intensity", "t/kWh")
    out = {}
    for name, of in system.content_pairs().items():
        capacity = from_xarray(results.variables[of], system.unit(of))
        # kWh (or kWh/yr) times t/kWh: the material's t (or t/yr), by element only: one
        # contraction of chemistry and, where the capacity has them, segments (linear, so exact)
        out[name] = (capacity.dot(per_kwh, tuple(d for d in ("segment", "chemistry") if d in capacity.dims)), system.unit(name))
    if "metal_demand_by_chemistry" in system.variables:  # the largest array of a run (chemistry x element): only when declared
        demand = from_xarray(results.variables["battery_capacity_demand"], "kWh/yr")
        out["metal_demand_by_chemistry"] = ((demand.sum("segment") if "segment" in demand.dims else demand) * per_kwh, "t/yr")
    for name in ("metal_intensity", "pack_mass_per_kwh", "black_mass_yield"):
        out[name] = p.variables[name]
    return dataset(out, p)


def recycle(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Recovered material and process loss of the material entering recycling (whatever
    the system routes there), by ``element``, at the year's process efficiency."""
    incoming = functools.reduce(operator.add, (from_xarray(results.variables[n], "t/yr") for n in system.inflows("recycling", "metal")))
    recovered = incoming * param(p, "recovery_efficiency", "1")
    return dataset({"metal_recovered": (recovered, "t/yr"), "metal_process_loss": (incoming - recovered, "t/yr")}, p)
