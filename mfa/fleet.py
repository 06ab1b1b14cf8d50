"""The fleet of new-energy passenger cars: stock projection, sales, retirement.

History (up to ``years.history_end``) runs inflow-driven from registrations; after it,
the stock follows population x cars per 1000 people x NEV share of the car stock, two
S-curves anchored on the last historic year, and runs stock-driven from the historic
stock by cohort. Sales split into powertrains by the BEV share of sales.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from . import stock
from .inputs import interpolate_years
from .lifetimes import Weibull
from .units import plain, ureg

log = logging.getLogger(__name__)


def vehicle_lifetime(p: xr.Dataset) -> Weibull:
    """Vehicle lifetime; scale by ``scenario`` and ``cohort``."""
    return Weibull(p["vehicle_lifetime_shape"], p["vehicle_lifetime_scale"])


def population(p: xr.Dataset) -> xr.DataArray:
    """People by ``scenario``, ``year``: the observed years (linear between them, flat
    before the first), compounded by the growth rate after the last."""
    observed = p["population_observed"].dropna("population_year", how="all").rename(population_year="year")
    last = int(observed["year"].max())
    growth_per_year = plain(p["population_growth"], "1/yr")
    factor = (1 + growth_per_year.where(p["year"] > last, 0.0)).cumprod("year")
    return interpolate_years(observed, p["year"].values) * factor


def anchored_logistic(start: xr.DataArray, saturation, rate, years: xr.DataArray, t0: int) -> xr.DataArray:
    """``sat / (1 + (sat / start - 1) * exp(-rate * (t - t0)))``: equals ``start`` at ``t0``."""
    return saturation / (1 + (saturation / start - 1) * np.exp(-rate * (years - t0)))


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Vehicle stock, sales and retirement by ``scenario``, ``region``, ``year``,
    ``powertrain``, with ``nev_stock_projection`` (the prescribed stock) and ``population``.
    The history ends at ``p.attrs["history_end"]``."""
    history_end = int(p.attrs["history_end"])
    lifetime = vehicle_lifetime(p)
    years = p["year"]
    history_years = years.sel(year=slice(None, history_end))
    registrations = p["passenger_registrations"].sel(year=history_years)
    history = stock.inflow_driven(registrations, lifetime, by_cohort=True)
    last_cohorts = history["stock_by_cohort"].isel(year=-1, drop=True)

    people = population(p)
    t = years.astype(float)
    cpk_observed = plain(p["cars_per_1000_observed"], "1")
    cars_per_1000 = anchored_logistic(
        cpk_observed, plain(p["cars_per_1000_saturation"], "1"), plain(p["cars_per_1000_rate"], "1/yr"), t, history_end
    )
    persons = plain(people, "person")
    share_start = plain(history["stock"].isel(year=-1), "vehicle") / (persons.sel(year=history_end) * cpk_observed / 1000)
    nev_share = anchored_logistic(
        share_start, plain(p["nev_share_saturation"], "1"), plain(p["nev_share_rate"], "1/yr"), t, history_end
    )
    projection = (persons * cars_per_1000 / 1000 * nev_share).pint.quantify("vehicle", unit_registry=ureg)
    future = projection.sel(year=slice(history_end + 1, None))
    total = stock.stock_driven(future, lifetime, last_cohorts)
    early = float(plain(total["early_retirement"], "vehicle/yr").max())
    if early > 0:
        log.warning("the projected NEV stock falls in some year: up to %.0f vehicles a year retire early", early)

    sales = total["inflow"] * p["powertrain_share"].rename(cohort="year")
    by_powertrain = stock.inflow_driven(sales, lifetime)
    return xr.Dataset(
        {
            "vehicle_sales": sales,
            "vehicle_stock": by_powertrain["stock"],
            "vehicle_retired": by_powertrain["outflow"],
            "nev_stock_projection": projection,
            "population": people,
        }
    )
