"""The fleet of new-energy passenger cars: the car market, NEV sales, stock, retirement.

The quantity policies are written in is the NEV share of new-car sales, so that is what
the projection follows:

- the passenger car stock (all powertrains) is population x cars per 1000 people, an
  S-curve through the observed level of the last historic year, run back
  :data:`SPIN_UP` years before the first model year so that the cars of the first years
  have a cohort structure;
- the car market (new-car sales) is that stock run stock-driven with the car lifetime;
- it is scaled so that the observed NEV share of new-car sales in the last historic
  year is exactly registrations / market (the scale says how far the ownership
  assumption is from the region's actual market, reported as ``cars_per_1000``),
  unless the case declares a ``projection_break`` (then its own market runs as given);
- up to ``history_end`` NEV sales are the registrations (data: the same in every
  scenario); after it they are the market times the NEV share of sales, a path that
  starts from the observed share (no seam) towards the scenario's anchor years;
- the NEV stock runs inflow-driven from NEV sales with the NEV lifetime.

Sales split into powertrains by the BEV share of sales.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from . import stock
from .inputs import interpolate_years
from .lifetimes import Weibull
from .segments import PASSENGER
from .units import plain, ureg

log = logging.getLogger(__name__)

SPIN_UP = 40
"""Years of car-stock history built from the S-curve before the first model year."""


def vehicle_lifetime(p: xr.Dataset) -> Weibull:
    """NEV lifetime; scale by ``scenario`` and ``cohort``."""
    return Weibull(p["vehicle_lifetime_shape"], p["vehicle_lifetime_scale"])


def population(p: xr.Dataset, years=None) -> xr.DataArray:
    """People by ``scenario``, ``year``: the observed years (linear between them, flat
    before the first), compounded by the growth rate after the last."""
    years = p["year"].values if years is None else years
    observed = p["population_observed"].dropna("population_year", how="all").rename(population_year="year")
    last = int(observed["year"].max())
    growth = plain(p["population_growth"], "1/yr").reindex(year=years, method="nearest")
    factor = (1 + growth.where(growth["year"] > last, 0.0)).cumprod("year")
    return interpolate_years(observed, years) * factor


def _extended(da: xr.DataArray, dim: str, values: np.ndarray) -> xr.DataArray:
    """``da`` over ``values`` of ``dim``, held at its first value before it starts."""
    return da.reindex({dim: values}, method="nearest") if dim in da.dims else da


def car_market(p: xr.Dataset) -> xr.Dataset:
    """The market (new-vehicle sales, vehicle/yr) of every ``segment`` by ``scenario``,
    ``region``, ``year``, scaled to the observed NEV share of sales in the last historic
    year; and the passenger car stock (vehicle), cars per 1000 and population (person)
    behind the passenger market. A commercial segment's market is held at its size of the last historic year."""
    h = int(p.attrs["history_end"])
    years = p["year"].values
    span = np.arange(years[0] - SPIN_UP, years[-1] + 1)
    t = xr.DataArray(span.astype(float), dims="year", coords={"year": span})
    saturation, rate = plain(p["cars_per_1000_saturation"], "1"), plain(p["cars_per_1000_rate"], "1/yr")
    start = plain(p["cars_per_1000_observed"], "1")
    per_1000 = saturation / (1 + (saturation / start - 1) * np.exp(-rate * (t - h)))
    people = population(p, span)
    cars = (plain(people, "person") * per_1000 / 1000).pint.quantify("vehicle", unit_registry=ureg)
    lifetime = Weibull(p["car_lifetime_shape"], _extended(p["car_lifetime_scale"], "cohort", span))
    car_sales = plain(stock.stock_driven(cars, lifetime)["inflow"].sel(year=years), "vehicle/yr")
    segment = p["segment"]
    passenger = segment == PASSENGER
    unit_market = xr.where(passenger, car_sales, 1.0)
    nev_sales = plain(p["nev_registrations"].sel(year=h), "vehicle/yr")
    scale = nev_sales / (plain(p["nev_share_observed"], "1") * unit_market.sel(year=h))
    # a declared break (1): the scenario's own car market runs as given, not scaled to the observed one
    scale = xr.where(passenger & (plain(p["projection_break"], "1") > 0), 1.0, scale)
    car_scale = scale.sel(segment=PASSENGER, drop=True)
    market = unit_market * scale
    # A commercial market's history is unknown beyond its last year: it is at least the
    # NEV sales of each year (the early e-bus wave of 2015-17 exceeds today's market)
    registrations = plain(p["nev_registrations"], "vehicle/yr")
    market = xr.where(~passenger & (market["year"] <= h), np.maximum(market, registrations), market)
    return xr.Dataset({
        "total_car_stock": cars.sel(year=years) * car_scale,
        "total_vehicle_sales": market.pint.quantify("vehicle/yr", unit_registry=ureg),
        "cars_per_1000": (per_1000.sel(year=years) * car_scale).pint.quantify("1", unit_registry=ureg),
        "population": people.sel(year=years),
    })


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Vehicle stock, sales and retirement by ``scenario``, ``region``, ``year``,
    ``segment``, ``powertrain``; the markets and the NEV share of new-vehicle sales beside
    them. The history ends at ``p.attrs["history_end"]``."""
    h = int(p.attrs["history_end"])
    market = car_market(p)
    years = p["year"]
    market_sales = plain(market["total_vehicle_sales"], "vehicle/yr")
    registrations = plain(p["nev_registrations"], "vehicle/yr")
    observed = plain(p["nev_share_observed"], "1")
    # the share's slope over the last historic year, which the projection continues
    before = market_sales.sel(year=h - 1, drop=True)
    slope = (observed - registrations.sel(year=h - 1, drop=True) / before.where(before > 0)).fillna(0.0)
    trend = (
        plain(p["nev_share_of_sales_weight"], "1") * observed
        + plain(p["nev_share_of_sales_slope_weight"], "yr") * slope
        + plain(p["nev_share_of_sales_rest"], "1")
    )
    line = plain(p["nev_share_of_sales_line_weight"], "1") * observed + plain(p["nev_share_of_sales_line_rest"], "1")
    share_projected = np.minimum(trend, line).clip(0.0, 1.0)  # the trend, capped by the straight line
    nev_sales = xr.where(years <= h, registrations, share_projected * market_sales)
    share = nev_sales / market_sales.where(market_sales > 0)
    sales = (nev_sales * plain(p["powertrain_share"], "1").rename(cohort="year")).pint.quantify("vehicle/yr", unit_registry=ureg)
    by_powertrain = stock.inflow_driven(sales, vehicle_lifetime(p))
    return xr.Dataset(
        {
            "vehicle_sales": sales,
            "vehicle_stock": by_powertrain["stock"],
            "vehicle_retired": by_powertrain["outflow"],
            "nev_share_of_sales": share.fillna(0.0).pint.quantify("1", unit_registry=ureg),
            **market,
        }
    )
