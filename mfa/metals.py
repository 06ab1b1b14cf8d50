"""Metal flows: every battery flow times the metal content of its chemistry.

Flows are linear in capacity, so each battery-capacity variable (kWh, by chemistry)
becomes a metal variable (t, by element) with one product and a sum over chemistry.
Adding an element is a row of ``inputs/metal_intensity.csv``.
"""

from __future__ import annotations

import xarray as xr

from .units import is_rate, plain, ureg

# battery variable -> metal variable, for stocks (t) and flows (t/yr)
METAL_OF = {
    "battery_capacity_demand": "metal_demand",
    "battery_capacity_in_use": "metal_in_use",
    "battery_end_of_life": "metal_end_of_life",
    "battery_to_second_use": "metal_second_use",
    "battery_in_second_use": "metal_in_second_use",
    "battery_second_use_retired": "metal_second_use_retired",
    "battery_collected": "metal_collected",
    "battery_uncollected": "metal_uncollected",
}


def content(capacity: xr.DataArray, intensity: xr.DataArray, keep_chemistry: bool = False) -> xr.DataArray:
    """Metal in ``capacity`` (kWh or kWh/yr, by chemistry) in t or t/yr, by element.

    Summing over chemistry is one contraction (einsum): no chemistry x element array.
    """
    per_year = is_rate(capacity.data.units)
    unit = "t/yr" if per_year else "t"
    kwh = plain(capacity, "kWh/yr" if per_year else "kWh")
    t_per_kwh = plain(intensity, "t/kWh")
    metal = kwh * t_per_kwh if keep_chemistry else xr.dot(kwh, t_per_kwh, dim="chemistry")
    return metal.pint.quantify(unit, unit_registry=ureg)


def run(p: xr.Dataset, batteries: xr.Dataset) -> xr.Dataset:
    """Metal stocks and flows by ``scenario``, ``year``, ``element``, from battery capacity
    by ``chemistry`` (summed over any other dim first); recovery by process efficiency."""
    intensity = p["metal_intensity"]
    out = xr.Dataset({metal: content(batteries[b], intensity) for b, metal in METAL_OF.items()})
    out["metal_demand_by_chemistry"] = content(batteries["battery_capacity_demand"], intensity, keep_chemistry=True)
    out["metal_recovered"] = out["metal_collected"] * p["recovery_efficiency"]
    out["metal_process_loss"] = out["metal_collected"] - out["metal_recovered"]
    out["metal_lost"] = out["metal_uncollected"] + out["metal_process_loss"]
    out["metal_intensity"] = intensity  # in the results, so that readers can split any battery flow by chemistry
    return out
