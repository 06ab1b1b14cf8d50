"""End of life of retired packs: second use, collection, recycling.

Retired packs (kWh per year, by chemistry) split into a second-use share (stationary
storage, its own lifetime, then to recycling at its own collection rate) and the rest,
collected at the year's collection rate. What is not collected is lost, never dropped.
Recovery of each element from collected packs is the efficiency of the recycling
process in use that year (:mod:`mfa.metals` applies it per element).

To change a recycling rate: ``end_of_life.collection_rate`` or ``recycling_process`` in
``scenarios/<case>/*.yaml``; this module only applies them.
"""

from __future__ import annotations

import xarray as xr

from . import stock
from .lifetimes import Normal


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Battery capacity from retirement to collection, by ``scenario``, ``region``,
    ``year``, ``chemistry``, from the packs leaving vehicles in ``results``."""
    retired = results["battery_end_of_life"]
    to_second_use = retired * p["second_use_share"]
    direct = retired - to_second_use
    second_use = stock.inflow_driven(to_second_use, Normal(p["second_use_mean"], p["second_use_sd"]))
    leaving_second_use = second_use["outflow"]
    collection = p["collection_rate"]
    collected = direct * collection + leaving_second_use * p["second_use_collection_rate"]
    uncollected = direct * (1 - collection) + leaving_second_use * (1 - p["second_use_collection_rate"])
    return xr.Dataset(
        {
            "battery_to_second_use": to_second_use,
            "battery_in_second_use": second_use["stock"],
            "battery_second_use_retired": leaving_second_use,
            "battery_collected": collected,
            "battery_uncollected": uncollected,
        }
    )
