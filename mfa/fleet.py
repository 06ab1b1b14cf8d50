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
import weakref

import numpy as np
import xarray as xr

from . import stock_core
from .arrays import LifetimeOf, Named, batch_of, dataset, from_year_first, labels, param, per_matrix, survival, year_axis, year_first
from .inputs import _interp_valid
from .lifetimes import Weibull
from .segments import PASSENGER

log = logging.getLogger(__name__)

SPIN_UP = 40
"""Years of car-stock history built from the S-curve before the first model year."""


def vehicle_lifetime(p: xr.Dataset) -> LifetimeOf:
    """NEV lifetime (Weibull); scale by ``scenario`` and ``cohort`` (the model's years)."""
    return LifetimeOf(Weibull, {"shape": param(p, "vehicle_lifetime_shape", "1"), "scale": param(p, "vehicle_lifetime_scale", "yr")})


_SURVIVAL: dict[int, tuple] = {}
"""id(p) -> (weak reference to the parameter Dataset p, the lifetime's parameter values
the matrices were built from, the matrices' dims, the vehicle survival matrices); an entry
leaves when its Dataset is collected (Datasets are not hashable: no WeakKeyDictionary)."""


def vehicle_survival(p: xr.Dataset, batch: tuple[str, ...]) -> np.ndarray:
    """The survival matrices of :func:`vehicle_lifetime` over ``batch`` (as
    :func:`mfa.arrays.survival`; read-only), built once per parameter Dataset ``p`` and
    parameter values: the fleet and the battery steps of a model run both need them
    (thousands of matrices in a Monte-Carlo run). Built anew when the lifetime's values in
    ``p`` changed since (a caller may change a Dataset it passes again, in place); kept as
    long as ``p`` is. ``batch`` must hold the lifetime's dims."""
    lifetime = vehicle_lifetime(p)
    values = {name: a.values for name, a in lifetime.params.items()}
    key = id(p)
    entry = _SURVIVAL.get(key)  # dict operations are atomic: model runs on threads need no lock
    if entry is None or entry[0]() is not p or not all(np.array_equal(entry[1][n], v) for n, v in values.items()):
        dims = tuple(d for d in lifetime.dims if d != "cohort")
        matrices = survival(lifetime, labels(p, "year"), dims)
        matrices.flags.writeable = False
        built_from = {n: v.copy() for n, v in values.items()}
        entry = (weakref.ref(p, lambda _, key=key: _SURVIVAL.pop(key, None)), built_from, dims, matrices)
        _SURVIVAL[key] = entry
    _, _, dims, matrices = entry
    return matrices[tuple(slice(None) if d in dims else None for d in batch)]


def _nearest(given: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in ``given`` (sorted years) of the year nearest to each of ``wanted``."""
    return np.abs(given[None, :] - wanted[:, None]).argmin(axis=1)


def _at_years(a: Named, given: np.ndarray, wanted: np.ndarray, dim: str = "year") -> Named:
    """``a`` (along ``dim``, labelled ``given``) at the ``wanted`` years: the nearest given
    year's value (held flat beyond either end)."""
    if dim not in a.dims:
        return a
    return Named(a.dims, a.values.take(_nearest(given, wanted), axis=a.dims.index(dim)))


def population(p: xr.Dataset, years=None) -> Named:
    """People (person) by ``scenario``, ``region``, ``year``: the observed years (linear
    between them, flat before the first), compounded by the growth rate after the last."""
    years = labels(p, "year") if years is None else np.asarray(years)
    observed = param(p, "population_observed", "person")
    given = labels(p, "population_year")
    axis = observed.dims.index("population_year")
    kept = ~np.all(np.isnan(np.moveaxis(observed.values, axis, -1)).reshape(-1, given.size), axis=0)
    series = np.moveaxis(observed.values, axis, -1)[..., kept]
    flat = series.reshape(-1, series.shape[-1])
    interpolated = np.stack([_interp_valid(years, given[kept].astype(float), row) for row in flat])
    rest = tuple(d for d in observed.dims if d != "population_year")
    people = Named.of((*rest, "year"), interpolated.reshape(series.shape[:-1] + (years.size,)))
    growth = _at_years(param(p, "population_growth", "1/yr"), labels(p, "year"), years)
    after = Named(("year",), years > given[kept].max())
    factor = (1 + growth.where(after, 0.0))
    return people * Named(factor.dims, np.cumprod(factor.values, axis=factor.dims.index("year")))


def _car_sales(p: xr.Dataset, cars: Named, span: np.ndarray) -> Named:
    """New cars (vehicle/yr) that keep the stock ``cars`` (over the years ``span``),
    stock-driven with the car lifetime (its scale held at its first cohort's before it)."""
    shape = param(p, "car_lifetime_shape", "1")
    scale = _at_years(param(p, "car_lifetime_scale", "yr"), labels(p, "cohort"), span, "cohort")
    batch = batch_of(cars, shape, scale)
    sf = survival(LifetimeOf(Weibull, {"shape": shape, "scale": scale}), span, batch)
    out = per_matrix(stock_core.stock_driven, year_first(cars, batch), sf, derived=False)
    return from_year_first(out["inflow"], batch)


def car_market(p: xr.Dataset) -> dict[str, tuple[Named, str]]:
    """The market (new-vehicle sales, vehicle/yr) of every ``segment`` by ``scenario``,
    ``region``, ``year``, scaled to the observed NEV share of sales in the last historic
    year; and the passenger car stock (vehicle), cars per 1000 and population (person)
    behind the passenger market. A commercial segment's market is held at its size of the
    last historic year. Values: (array, unit)."""
    h = int(p.attrs["history_end"])
    years = labels(p, "year")
    span = np.arange(years[0] - SPIN_UP, years[-1] + 1)
    in_model = slice(SPIN_UP, None)  # the model's years within span
    t = Named(("year",), span.astype(float))
    saturation, rate = param(p, "cars_per_1000_saturation", "1"), param(p, "cars_per_1000_rate", "1/yr")
    start = param(p, "cars_per_1000_observed", "1")
    per_1000 = saturation / (1 + (saturation / start - 1) * _exp(-rate * (t - h)))
    people = population(p, span)
    cars = people * per_1000 / 1000
    car_sales = _car_sales(p, cars, span)
    car_sales = _in_model(car_sales, in_model)
    passenger = Named(("segment",), labels(p, "segment") == PASSENGER)
    unit_market = car_sales.where(passenger, 1.0)
    at_h = {"year": int(np.flatnonzero(years == h)[0])}
    registrations = param(p, "nev_registrations", "vehicle/yr")
    scale = registrations.isel(**at_h) / (param(p, "nev_share_observed", "1") * unit_market.isel(**at_h))
    # a declared break (1): the scenario's own car market runs as given, not scaled to the observed one
    scale = Named.of((), 1.0).where(passenger & (param(p, "projection_break", "1") > 0), scale)
    car_scale = scale.isel(segment=int(np.flatnonzero(passenger.values)[0]))
    market = unit_market * scale
    # A commercial market's history is unknown beyond its last year: it is at least the
    # NEV sales of each year (the early e-bus wave of 2015-17 exceeds today's market)
    market = market.maximum(registrations).where(~passenger & (Named(("year",), years) <= h), market)
    return {
        "total_car_stock": (_in_model(cars, in_model) * car_scale, "vehicle"),
        "total_vehicle_sales": (market, "vehicle/yr"),
        "cars_per_1000": (_in_model(per_1000, in_model) * car_scale, "1"),
        "population": (_in_model(people, in_model), "person"),
    }


def _exp(a: Named) -> Named:
    return Named(a.dims, np.exp(a.values))


def _in_model(a: Named, in_model: slice) -> Named:
    """``a`` over the model's years of the spin-up span."""
    return Named(a.dims, a.values[tuple(in_model if d == "year" else slice(None) for d in a.dims)])


def run(p: xr.Dataset, results: xr.Dataset, system) -> xr.Dataset:
    """Vehicle stock, sales and retirement by ``scenario``, ``region``, ``year``,
    ``segment``, ``powertrain``; the markets and the NEV share of new-vehicle sales beside
    them. The history ends at ``p.attrs["history_end"]``."""
    h = int(p.attrs["history_end"])
    market = car_market(p)
    years = labels(p, "year")
    market_sales = market["total_vehicle_sales"][0]
    registrations = param(p, "nev_registrations", "vehicle/yr")
    observed = param(p, "nev_share_observed", "1")
    # the share's slope over the last historic year, which the projection continues
    before_h = {"year": int(np.flatnonzero(years == h - 1)[0])}
    before = market_sales.isel(**before_h)
    slope = (observed - registrations.isel(**before_h) / before.where(before > 0, np.nan)).fillna(0.0)
    trend = (
        param(p, "nev_share_of_sales_weight", "1") * observed
        + param(p, "nev_share_of_sales_slope_weight", "yr") * slope
        + param(p, "nev_share_of_sales_rest", "1")
    )
    line = param(p, "nev_share_of_sales_line_weight", "1") * observed + param(p, "nev_share_of_sales_line_rest", "1")
    capped = trend.minimum(line)  # the trend, capped by the straight line
    share_projected = Named(capped.dims, np.clip(capped.values, 0.0, 1.0))
    nev_sales = registrations.where(Named(("year",), years) <= h, share_projected * market_sales)
    share = nev_sales / market_sales.where(market_sales > 0, np.nan)
    sales = nev_sales * param(p, "powertrain_share", "1").rename(cohort="year")
    batch = batch_of(sales, extra=vehicle_lifetime(p).dims)
    # check=False: the model checks the balance of vehicles in use itself (invariants.check_results)
    out = stock_core.inflow_driven(year_first(sales, batch), vehicle_survival(p, batch), derived=False, check=False, year_at=year_axis(batch))
    return dataset(
        {
            "vehicle_sales": (sales, "vehicle/yr"),
            "vehicle_stock": (from_year_first(out["stock"], batch), "vehicle"),
            "vehicle_retired": (from_year_first(out["outflow"], batch), "vehicle/yr"),
            "nev_share_of_sales": (share.fillna(0.0), "1"),
            **market,
        },
        p,
    )
