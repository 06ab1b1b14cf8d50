"""Carbon: use-phase CO2 reduction of NEVs against the petrol cars they replace, and the
avoided primary-metal emissions of recycled metal (reported separately).

Per vehicle and year (T/CSAE 235-2021: reduction = baseline - project), for passenger cars:
``km x (petrol L/km x kg CO2/L - kWh/km x grid kg CO2/kWh)``; a PHEV drives its electric
share of km on the grid and the rest on petrol in charge-sustaining mode; a commercial
vehicle against its segment's baseline fuel (``inputs/segment_carbon.csv``). Each grid
path is a ``bound`` (e.g. lower/upper).
"""

from __future__ import annotations

import xarray as xr

from .segments import PASSENGER
from .units import ureg


def per_vehicle(p: xr.Dataset) -> xr.DataArray:
    """CO2 avoided per vehicle in use, t/(vehicle yr), by ``scenario``, ``year``,
    ``segment``, ``powertrain``, ``bound``: passenger cars against petrol cars; each
    commercial segment against its own baseline (diesel for buses and trucks), its
    vehicles battery-electric."""
    petrol_car = p["ice_consumption"] * p["petrol_emission_factor"]
    on_grid = p["bev_consumption"] * p["grid_factor"]
    phev = p["phev_electric_share"] * on_grid + (1 - p["phev_electric_share"]) * p["phev_fuel_consumption"] * p["petrol_emission_factor"]
    project = xr.concat([on_grid, phev], dim="powertrain").assign_coords(powertrain=["BEV", "PHEV"])
    passenger = ((petrol_car - project) * p["annual_mileage"] / ureg.Quantity(1, "vehicle")).pint.to("t/yr/vehicle")
    passenger = passenger.expand_dims(segment=[PASSENGER])
    if "segment_annual_mileage" not in p:
        return passenger
    baseline = p["segment_baseline_fuel_consumption"] * p["segment_baseline_emission_factor"]
    electric = p["segment_electricity_consumption"] * p["grid_factor"]
    bev = ((baseline - electric) * p["segment_annual_mileage"] / ureg.Quantity(1, "vehicle")).pint.to("t/yr/vehicle")
    bev = bev.rename(commercial_segment="segment")
    commercial = xr.concat([bev, bev * 0], dim="powertrain").assign_coords(powertrain=["BEV", "PHEV"])  # no commercial PHEVs
    unit = passenger.data.units
    both = xr.concat([passenger.pint.dequantify(), commercial.pint.to(unit).pint.dequantify().transpose(*[d for d in passenger.dims if d in commercial.dims])],
                     dim="segment", join="outer")
    return both.pint.quantify(unit, unit_registry=ureg)


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Use-phase CO2 reduction (by ``bound``) and avoided primary-material CO2, t/yr."""
    reduction = (results["vehicle_stock"] * per_vehicle(p)).sum(["segment", "powertrain"])
    avoided = (results["metal_recovered"] * p["primary_emission_factor"] * p["recycling_emission_saving_share"]).sum("element")
    return xr.Dataset(
        {
            "carbon_reduction": reduction.pint.to("t/yr"),
            "avoided_metal_emissions": avoided.pint.to("t/yr"),
        }
    )
