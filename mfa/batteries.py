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


def battery_lifetime(p: xr.Dataset) -> Weibull:
    """Battery lifetime; scale by ``scenario`` and, when given so, ``chemistry`` or ``cohort``."""
    return Weibull(p["battery_lifetime_shape"], p["battery_lifetime_scale"])


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Battery capacity flows and stock by ``scenario``, ``region``, ``year``,
    ``chemistry`` (all powertrains), from the vehicle sales in ``results``: packs as
    components of cars (:func:`mfa.stock.product_component`), replaced once on failure
    while the car is at most ``replacement_max_vehicle_age`` old."""
    # Packs live in cars whatever the powertrain: summing powertrains before the lifetime
    # convolution is exact (the maths is linear) and halves every array after it.
    capacity_sold = (
        (results["vehicle_sales"].rename(year="cohort") * p["battery_capacity"]).sum("powertrain")
        * p["chemistry_share"]
    ).pint.to("kWh/yr").rename(cohort="year")
    packs = stock.product_component(
        capacity_sold, vehicle_lifetime(p), battery_lifetime(p), replace_while=p["replacement_max_vehicle_age"]
    )
    return xr.Dataset(
        {
            "battery_new": packs["inflow_new"],
            "battery_replacement": packs["inflow_replacement"],
            "battery_capacity_demand": packs["inflow"],
            "battery_capacity_in_use": packs["stock"],
            "battery_end_of_life": packs["outflow"],
            "battery_retired_with_vehicle": packs["outflow_with_product"],
            "battery_retired_failed": packs["outflow_failed"],
        }
    )
