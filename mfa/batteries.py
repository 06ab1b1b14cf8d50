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

import numpy as np
import xarray as xr

from . import stock_core
from .arrays import LifetimeOf, batch_of, dataset, from_xarray, from_year_first, labels, param, summed_out, survival, year_axis, year_first
from .fleet import vehicle_lifetime, vehicle_survival
from .lifetimes import Weibull

def battery_lifetime(p: xr.Dataset) -> LifetimeOf:
    """Battery lifetime (Weibull); scale by ``scenario`` and, when given so, ``chemistry``
    or ``cohort`` (the model's years)."""
    return LifetimeOf(Weibull, {"shape": param(p, "battery_lifetime_shape", "1"), "scale": param(p, "battery_lifetime_scale", "yr")})


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Battery capacity flows and stock by ``scenario``, ``region``, ``year``,
    ``chemistry`` (all powertrains), from the vehicle sales in ``results``: packs as
    components of cars (:func:`mfa.stock_core.product_component`), replaced once on
    failure while the car is at most ``replacement_max_vehicle_age`` old. Dims of the
    batch that ``system`` does not declare for capacity (``segment`` in Monte-Carlo
    runs) are summed within the lifetime products."""
    # Packs live in cars whatever the powertrain: summing powertrains before the lifetime
    # convolution is exact (the maths is linear) and halves every array after it.
    sales = from_xarray(results.variables["vehicle_sales"], "vehicle/yr")
    per_vehicle = param(p, "battery_capacity", "kWh/vehicle").rename(cohort="year")
    capacity_sold = (sales * per_vehicle).sum("powertrain") * param(p, "chemistry_share", "1").rename(cohort="year")
    years = labels(p, "year")
    car_lifetime, pack_lifetime = vehicle_lifetime(p), battery_lifetime(p)
    limit = param(p, "replacement_max_vehicle_age", "yr")
    batch = batch_of(capacity_sold, limit, extra=(*car_lifetime.dims, *pack_lifetime.dims))
    age = years[:, None] - years[None, :]
    summed = summed_out(batch, system.dims_of("battery_capacity_in_use"))
    packs = stock_core.product_component(
        year_first(capacity_sold, batch),
        vehicle_survival(p, batch),
        survival(pack_lifetime, years, batch),
        (age >= 0) & (age <= limit.expand(batch)[..., None, None]),
        derived=False,
        check=False,  # the model checks the balance of batteries in use (invariants.check_results)
        year_at=year_axis(batch),
        summed=tuple(batch.index(d) for d in summed),
    )
    flows = {
        "battery_new": "inflow_new",
        "battery_replacement": "inflow_replacement",
        "battery_capacity_demand": "inflow",
        "battery_end_of_life": "outflow",
        "battery_retired_with_vehicle": "outflow_with_product",
        "battery_retired_failed": "outflow_failed",
    }
    return dataset(
        {
            **{name: (from_year_first(packs[key], batch, summed), "kWh/yr") for name, key in flows.items()},
            "battery_capacity_in_use": (from_year_first(packs["stock"], batch, summed), "kWh"),
        },
        p,
    )
