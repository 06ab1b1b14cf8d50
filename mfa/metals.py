"""Metal flows: every battery flow times the metal content of its chemistry.

Flows are linear in capacity, so each battery-capacity variable (kWh, by chemistry)
becomes a metal variable (t, by element) with one product and a sum over chemistry.
Adding an element is a row of ``inputs/metal_intensity.csv``.
"""

from __future__ import annotations

import xarray as xr

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
    """Metal in ``capacity`` (kWh or kWh/yr, by chemistry) in t or t/yr, by element."""
    metal = capacity * intensity
    if not keep_chemistry:
        metal = metal.sum("chemistry")
    unit = "t/yr" if metal.data.units.dimensionality.get("[time]", 0) < 0 else "t"
    return metal.pint.to(unit)


def run(p: xr.Dataset, batteries: xr.Dataset) -> xr.Dataset:
    """Metal stocks and flows by ``scenario``, ``year``, ``element``, from battery capacity
    by ``chemistry`` (summed over any other dim first); recovery by process efficiency."""
    intensity = p["metal_intensity"]
    out = xr.Dataset({metal: content(batteries[b], intensity) for b, metal in METAL_OF.items()})
    out["metal_demand_by_chemistry"] = content(batteries["battery_capacity_demand"], intensity, keep_chemistry=True)
    out["metal_recovered"] = out["metal_collected"] * p["recovery_efficiency"]
    out["metal_process_loss"] = out["metal_collected"] - out["metal_recovered"]
    out["metal_lost"] = out["metal_uncollected"] + out["metal_process_loss"]
    return out
