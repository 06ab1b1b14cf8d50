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

from .arrays import Named, dataset, from_xarray, labels, param, stack
from .segments import PASSENGER
from .units import factor

# magnitudes below: consumption x emission factor in kg/km, times km/yr
_KG_TO_T = factor("kg", "t")


def _by_powertrain(p: xr.Dataset, bev: Named, phev: Named) -> Named:
    """``bev`` and ``phev`` along ``powertrain``, in the parameters' label order."""
    by_label = {"BEV": bev, "PHEV": phev}
    return stack([by_label[label] for label in labels(p, "powertrain")], "powertrain")


def per_vehicle(p: xr.Dataset) -> Named:
    """CO2 avoided per vehicle in use, t/(vehicle yr), by ``scenario``, ``year``,
    ``segment``, ``powertrain``, ``bound``: passenger cars against petrol cars; each
    commercial segment against its own baseline (diesel for buses and trucks), its
    vehicles battery-electric."""
    petrol = param(p, "petrol_emission_factor", "kg/L")
    petrol_car = param(p, "ice_consumption", "L/km") * petrol
    grid = param(p, "grid_factor", "kg/kWh")
    on_grid = param(p, "bev_consumption", "kWh/km") * grid
    share = param(p, "phev_electric_share", "1")
    phev = share * on_grid + (1 - share) * param(p, "phev_fuel_consumption", "L/km") * petrol
    passenger = (petrol_car - _by_powertrain(p, on_grid, phev)) * param(p, "annual_mileage", "km/yr") * _KG_TO_T
    if "segment_annual_mileage" not in p:
        return stack([passenger], "segment")
    baseline = param(p, "segment_baseline_fuel_consumption", "L/km") * param(p, "segment_baseline_emission_factor", "kg/L")
    electric = param(p, "segment_electricity_consumption", "kWh/km") * grid
    bev = (baseline - electric) * param(p, "segment_annual_mileage", "km/yr") * _KG_TO_T
    commercial = _by_powertrain(p, bev, bev * 0)  # no commercial PHEVs
    rows = {label: i for i, label in enumerate(labels(p, "commercial_segment"))}
    return stack([passenger if label == PASSENGER else commercial.isel(commercial_segment=rows[label]) for label in labels(p, "segment")], "segment")


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Use-phase CO2 reduction (by ``bound``) and avoided primary-material CO2, t/yr."""
    stock = from_xarray(results.variables["vehicle_stock"], "vehicle")
    reduction = stock.dot(per_vehicle(p), ("segment", "powertrain"))
    recovered = from_xarray(results.variables["metal_recovered"], "t/yr")
    avoided = (recovered * param(p, "primary_emission_factor", "1") * param(p, "recycling_emission_saving_share", "1")).sum("element")
    return dataset({"carbon_reduction": (reduction, "t/yr"), "avoided_metal_emissions": (avoided, "t/yr")}, p)
