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

from . import stock_core
from .arrays import LifetimeOf, batch_of, dataset, from_xarray, from_year_first, labels, param, survival, year_axis, year_first
from .lifetimes import Normal


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Battery capacity from retirement to collection, by ``scenario``, ``region``,
    ``year``, ``chemistry``, from the packs leaving vehicles in ``results``."""
    retired = from_xarray(results.variables["battery_end_of_life"], "kWh/yr")
    to_second_use = retired * param(p, "second_use_share", "1")
    direct = retired - to_second_use
    mean, sd = param(p, "second_use_mean", "yr"), param(p, "second_use_sd", "yr")
    batch = batch_of(to_second_use, mean, sd)
    lifetime = LifetimeOf(Normal, {"mean": mean, "sd": sd})
    # check=False: the model checks the balance of second use itself (invariants.check_results)
    second_use = stock_core.inflow_driven(
        year_first(to_second_use, batch), survival(lifetime, labels(p, "year"), batch), derived=False, check=False, year_at=year_axis(batch)
    )
    leaving_second_use = from_year_first(second_use["outflow"], batch)
    collection, later = param(p, "collection_rate", "1"), param(p, "second_use_collection_rate", "1")
    return dataset(
        {
            "battery_to_second_use": (to_second_use, "kWh/yr"),
            "battery_in_second_use": (from_year_first(second_use["stock"], batch), "kWh"),
            "battery_second_use_retired": (leaving_second_use, "kWh/yr"),
            "battery_collected": (direct * collection + leaving_second_use * later, "kWh/yr"),
            "battery_uncollected": (direct * (1 - collection) + leaving_second_use * (1 - later), "kWh/yr"),
        },
        p,
    )
