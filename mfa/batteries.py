"""Traction batteries: capacity and chemistry of new packs, failure and replacement.

Each car gets a pack of its sale year's capacity (by powertrain) and chemistry mix. A
pack fails by its own lifetime; a pack that fails while its car is at most
``replacement_max_vehicle_age`` old is replaced by an identical one (capacity and
chemistry of the cohort); an older car keeps its failing pack until it is scrapped.
Packs leave use with their scrapped car or when replaced. One replacement per car at
most (a replacement pack is assumed to outlive the car).

All flows are battery capacity (kWh per year) by ``chemistry``: metals follow linearly
(:mod:`mfa.metals`), so no cohort x chemistry x element array is built.
"""

from __future__ import annotations

import xarray as xr

from . import stock
from .fleet import vehicle_lifetime
from .lifetimes import Weibull
from .units import plain, ureg


def battery_lifetime(p: xr.Dataset) -> Weibull:
    """Battery lifetime; scale by ``scenario`` and, when given so, ``chemistry`` or ``cohort``."""
    return Weibull(p["battery_lifetime_shape"], p["battery_lifetime_scale"])


def replacement_matrix(p: xr.Dataset) -> xr.DataArray:
    """``R[year, cohort]``: packs replaced per pack sold, in each year after the sale.

    The car survives the year, its pack fails in it, and the car is young enough.
    """
    years = p["year"].values
    vehicle_alive = stock.survival_matrix(vehicle_lifetime(p), years)
    pack_fails = stock.outflow_matrix(stock.survival_matrix(battery_lifetime(p), years))
    age = vehicle_alive["year"] - vehicle_alive["cohort"]
    young = (age >= 0) & (age <= plain(p["replacement_max_vehicle_age"], "yr"))
    return (vehicle_alive * pack_fails).where(young, 0.0)


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Battery capacity flows and stock by ``scenario``, ``region``, ``year``,
    ``chemistry`` (all powertrains), from the vehicle sales in ``results``."""
    # Packs live in cars whatever the powertrain: summing powertrains before the lifetime
    # convolution is exact (the maths is linear) and halves every array after it.
    capacity_sold = (
        (results["vehicle_sales"].rename(year="cohort") * p["battery_capacity"]).sum("powertrain")
        * p["chemistry_share"]
    ).pint.to("kWh/yr")
    in_cars = stock.inflow_driven(capacity_sold.rename(cohort="year"), vehicle_lifetime(p))
    replaced = xr.dot(replacement_matrix(p), plain(capacity_sold, "kWh/yr"), dim="cohort").pint.quantify("kWh/yr", unit_registry=ureg)
    return xr.Dataset(
        {
            "battery_new": in_cars["inflow"],
            "battery_replacement": replaced,
            "battery_capacity_demand": in_cars["inflow"] + replaced,
            "battery_capacity_in_use": in_cars["stock"],
            "battery_end_of_life": in_cars["outflow"] + replaced,
            "battery_retired_with_vehicle": in_cars["outflow"],
            "battery_retired_failed": replaced,
        }
    )
