"""Material flows: every battery flow times the material content of its chemistry, and
recycling.

Flows are linear in capacity, so each capacity variable (kWh, by chemistry) that the
system definition gives a material twin (``content_of``) becomes a material variable
(t, by element) with one product and a sum over chemistry. Adding an element is rows of
``inputs/metal_intensity.csv`` and ``inputs/recovery_efficiency.csv``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

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
    intensity = p["metal_intensity"]
    pairs = system.content_pairs()
    # every twin in one contraction: the capacity variables share their dims, so stack
    # them (numpy, in kWh or kWh/yr, whose magnitudes times t/kWh are t or t/yr) and
    # contract chemistry once, instead of one pint-xarray product per variable
    # material is by element only: segments are summed first (linear, so exact)
    capacity = {c: results[c].sum("segment") if "segment" in results[c].dims else results[c] for c in pairs.values()}
    first = capacity[next(iter(pairs.values()))]
    dims = [d for d in first.dims if d != "chemistry"]
    stacked = np.stack([plain(capacity[c], "kWh/yr" if is_rate(capacity[c].data.units) else "kWh").transpose(*dims, "chemistry").values
                        for c in pairs.values()])
    per_kwh = plain(intensity, "t/kWh")
    by_scenario = per_kwh.transpose("scenario", "chemistry", "element").values
    axis = dims.index("scenario")
    metal = np.einsum(_subscripts(len(dims), axis), stacked, by_scenario)
    coords = {d: first[d] for d in dims} | {"element": per_kwh["element"]}
    out = xr.Dataset({
        name: xr.DataArray(metal[k], dims=[*dims, "element"], coords=coords).pint.quantify(
            "t/yr" if is_rate(results[c].data.units) else "t", unit_registry=ureg)
        for k, (name, c) in enumerate(pairs.items())
    })
    out["metal_demand_by_chemistry"] = content(capacity["battery_capacity_demand"], intensity, keep_chemistry=True)
    for name in ("metal_intensity", "pack_mass_per_kwh", "black_mass_yield"):
        out[name] = p[name]
    return out


def _subscripts(n_dims: int, scenario_axis: int) -> str:
    """einsum of (variable, *dims, chemistry) with (scenario, chemistry, element)."""
    letters = "abcdefghij"[:n_dims]
    return f"v{letters}z,{letters[scenario_axis]}zy->v{letters}y"


def recycle(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Recovered material and process loss of the material entering recycling (whatever
    the system routes there), by ``element``, at the year's process efficiency."""
    incoming = sum(results[n] for n in system.inflows("recycling", "metal"))
    recovered = incoming * p["recovery_efficiency"]
    return xr.Dataset({"metal_recovered": recovered, "metal_process_loss": incoming - recovered})
