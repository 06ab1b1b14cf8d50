"""mfa.stock against flodym 1.1.0, its peer, on hypothesis-generated cases.

flodym's ``InflowDrivenDSM`` / ``StockDrivenDSM`` use the same discretisation options as
mfa (``inflow_at``, ``n_pts_per_interval``); a lifetime parameter indexed along flodym's
time dim is per *cohort*. Both must give the same stock, inflow and outflow to 1e-9
relative to the largest magnitude of each series.

Deliberate differences that the strategies stay clear of:

- mean lifetime 0: mfa follows ODYM (nothing survives), flodym does not (S(0) = 0.5 for
  Normal(0, sd)); means are drawn from 0.5 to 30 years.
- flodym cannot build a time dim of fewer than 3 years (``UnevenTimeDim`` extrapolates the
  interval bounds from the first two midpoints: IndexError for 2 years). The models are
  causal (year t depends on years <= t only), so a 2-year series is run in flodym padded
  to 3 years and the first 2 years are compared.
- flodym never corrects negative inflow: stock-driven runs compare with
  ``negative_inflow="allow"``, and with the default ``"retire"`` only where flodym's inflow
  has no negative value.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import flodym
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfa import lifetimes, stock

RTOL = 1e-9
INFLOW_AT = ("start", "middle", "end")
N_PTS = (1, 2, 3, 5)
REGIONS = ["r0", "r1", "r2"]

# Points within the year at which the inflow happens, and their weights, as flodym uses
# them; only to compute the survival share of each cohort at the end of its inflow year
# (the diagonal of the survival matrix) in the strategies, not to run anything.
_POINTS = {
    ("start", 1): ([0.0], [1.0]),
    ("middle", 1): ([0.5], [1.0]),
    ("end", 1): ([1.0], [1.0]),
}

# Stock-driven models divide by the survival share of each cohort at the end of its inflow
# year. Where a lifetime is short relative to that first interval (e.g. Weibull scale 0.5,
# shape 6 with inflow at the start of the year: S(1) = 1.6e-28), the inverse problem is so
# ill-conditioned that two correct solvers (flodym's manual forward substitution, mfa's
# LAPACK trtrs) legitimately disagree far beyond 1e-9. Rather than loosen the tolerance,
# stock-driven cases keep that share at or above this bound.
MIN_DIAGONAL_SURVIVAL = 0.02


def _flodym_quadrature(inflow_at: str, n_pts: int):
    from flodym.gauss_lobatto import gl_nodes, gl_weights

    if n_pts == 1:
        return _POINTS[(inflow_at, 1)]
    return [(x + 1) / 2 for x in gl_nodes[n_pts]], [w / 2 for w in gl_weights[n_pts]]


# --- lifetimes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LifetimeCase:
    """One lifetime distribution with parameters that are floats, per cohort ``(T,)``,
    per region ``(R,)`` or per cohort and region ``(T, R)``."""

    kind: str
    params: dict  # mfa parameter name -> (value, dims)

    FLODYM = {
        "Fixed": (flodym.FixedLifetime, {"mean": "mean"}),
        "Normal": (flodym.NormalLifetime, {"mean": "mean", "sd": "std"}),
        "FoldedNormal": (flodym.FoldedNormalLifetime, {"mean": "mean", "sd": "std"}),
        "LogNormal": (flodym.LogNormalLifetime, {"mean": "mean", "sd": "std"}),
        "Weibull": (flodym.WeibullLifetime, {"shape": "weibull_shape", "scale": "weibull_scale"}),
    }

    def mfa(self, years) -> lifetimes.Lifetime:
        """The mfa lifetime: cohort-varying parameters as DataArrays with dim ``cohort``
        and the years as coordinates."""
        coords = {"cohort": np.asarray(years), "region": REGIONS}
        kwargs = {}
        for name, (value, dims) in self.params.items():
            if dims:
                kwargs[name] = xr.DataArray(value, dims=dims, coords={d: coords[d] for d in dims})
            else:
                kwargs[name] = value
        return getattr(lifetimes, self.kind)(**kwargs)

    def _values(self, name: str, region: int | None) -> np.ndarray:
        """A parameter's values for one region: 0-d, or 1-d per cohort."""
        value, dims = self.params[name]
        value = np.asarray(value, float)
        return value[..., region] if "region" in dims else value

    def param_series(self, name: str, n_years: int, region: int | None) -> np.ndarray | float:
        """A parameter for flodym, per cohort (1-D, length ``n_years``) or a float, for one
        region; cohort-varying values are padded with their last value (see _flodym_dims)."""
        value = self._values(name, region)
        if value.ndim:
            return np.concatenate([value, np.full(n_years - len(value), value[-1])])
        return float(value)

    def flodym(self, dims, inflow_at, n_pts, region=None):
        cls, names = self.FLODYM[self.kind]
        n_years = dims.shape[0]
        prms = {names[k]: self.param_series(k, n_years, region) for k in self.params}
        return cls(dims=dims, inflow_at=inflow_at, n_pts_per_interval=n_pts, **prms)

    def diagonal_survival(self, inflow_at: str, n_pts: int, region=None) -> float:
        """Smallest share of a cohort surviving to the end of its inflow year (via
        scipy.stats, independent of both models)."""
        import scipy.stats as ss

        points, weights = _flodym_quadrature(inflow_at, n_pts)
        p = {k: self._values(k, region) for k in self.params}
        total = 0.0
        for point, weight in zip(points, weights):
            age = 1.0 - point
            if self.kind == "Fixed":
                sf = (age < p["mean"]).astype(float)
            elif self.kind == "Normal":
                sf = ss.norm.sf(age, loc=p["mean"], scale=p["sd"])
            elif self.kind == "FoldedNormal":
                sf = ss.foldnorm.sf(age, p["mean"] / p["sd"], scale=p["sd"])
            elif self.kind == "LogNormal":
                sigma2 = np.log1p((p["sd"] / p["mean"]) ** 2)
                sf = ss.lognorm.sf(age, s=np.sqrt(sigma2), scale=p["mean"] * np.exp(-sigma2 / 2))
            else:
                sf = ss.weibull_min.sf(age, p["shape"], scale=p["scale"])
            total = total + weight * sf
        return float(np.min(total))


lifetime_years = st.floats(0.5, 30.0, allow_nan=False, allow_infinity=False)
sds = st.floats(0.3, 10.0, allow_nan=False, allow_infinity=False)
shapes = st.floats(0.8, 6.0, allow_nan=False, allow_infinity=False)


@st.composite
def param_values(draw, elements, n_years: int, batch: bool):
    """A parameter: a float, per cohort, and with ``batch`` also per region or both."""
    choices = ["scalar", "cohort"] + (["region", "cohort_region"] if batch else [])
    how = draw(st.sampled_from(choices))
    n_regions = len(REGIONS)
    if how == "scalar":
        return draw(elements), ()
    if how == "cohort":
        return np.array(draw(st.lists(elements, min_size=n_years, max_size=n_years))), ("cohort",)
    if how == "region":
        return np.array(draw(st.lists(elements, min_size=n_regions, max_size=n_regions))), ("region",)
    values = draw(st.lists(elements, min_size=n_years * n_regions, max_size=n_years * n_regions))
    return np.array(values).reshape(n_years, n_regions), ("cohort", "region")


@st.composite
def lifetime_cases(draw, n_years: int, batch: bool = False, weibull_scale_by_cohort=False):
    kind = draw(st.sampled_from(list(LifetimeCase.FLODYM)))
    if weibull_scale_by_cohort:
        kind = "Weibull"

    def p(elements):
        return draw(param_values(elements, n_years, batch))

    if kind == "Fixed":
        params = {"mean": p(lifetime_years)}
    elif kind == "Weibull":
        params = {"shape": p(shapes), "scale": p(lifetime_years)}
        if weibull_scale_by_cohort:
            scale = draw(st.lists(lifetime_years, min_size=n_years, max_size=n_years))
            params["scale"] = (np.array(scale), ("cohort",))
    else:
        params = {"mean": p(lifetime_years), "sd": p(sds)}
    return LifetimeCase(kind, params)


amounts = st.one_of(st.just(0.0), st.floats(0.0, 1e3, allow_nan=False, allow_infinity=False))


def _years(n_years: int, first: int) -> np.ndarray:
    return np.arange(first, first + n_years)


# --- flodym runs --------------------------------------------------------------------------


def _flodym_dims(n_years: int, first: int) -> flodym.DimensionSet:
    n = max(n_years, 3)  # see the module docstring: flodym needs >= 3 years
    time = flodym.Dimension(name="Time", letter="t", items=list(range(first, first + n)))
    return flodym.DimensionSet(dim_list=[time])


def _pad(values: np.ndarray, n: int, mode: str) -> np.ndarray:
    values = np.asarray(values, float)
    if len(values) >= n:
        return values
    fill = 0.0 if mode == "zero" else values[-1]
    return np.concatenate([values, np.full(n - len(values), fill)])


def _flodym_run(model, given: str, case, series, first, inflow_at, n_pts, region, pad: str):
    """Run a flodym stock model on ``series`` (the ``given`` array), padded to flodym's
    minimum length, and return stock, inflow and outflow for the original years."""
    n_years = len(series)
    dims = _flodym_dims(n_years, first)
    lifetime = case.flodym(dims, inflow_at, n_pts, region)
    values = _pad(series, dims.shape[0], pad)
    dsm = model(dims=dims, lifetime_model=lifetime, **{given: flodym.StockArray(dims=dims, values=values)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dsm.compute()
    return {k: getattr(dsm, k).values[:n_years].copy() for k in ("stock", "inflow", "outflow")}


def flodym_inflow_driven(case, inflow, first, inflow_at, n_pts, region=None):
    return _flodym_run(flodym.InflowDrivenDSM, "inflow", case, inflow, first, inflow_at, n_pts, region, "zero")


def flodym_stock_driven(case, stocks, first, inflow_at, n_pts, region=None):
    return _flodym_run(flodym.StockDrivenDSM, "stock", case, stocks, first, inflow_at, n_pts, region, "repeat")


def assert_run_close(actual, expected: dict, what: str, keys=("stock", "inflow", "outflow")):
    """``actual[key]`` equals ``expected[key]`` to ``RTOL``, elementwise, with an absolute
    floor of ``RTOL`` times the largest magnitude among the run's stock, inflow and outflow.

    The floor is run-wide, not per series, because the outflow is a difference of survival
    shares close to 1 (e.g. ``1 - S(0.1)`` for a lifetime of 9 years): when every outflow is
    tiny (5e-13 for a stock of 1), it is all cancellation error, which is bounded by the
    cohorts' size, not by the outflow's. The same scale as mfa's max_rel_balance_error.
    """
    scale = max(float(np.max(np.abs(expected[k]))) for k in ("stock", "inflow", "outflow"))
    for key in keys:
        a, e = np.asarray(actual[key], float), np.asarray(expected[key], float)
        assert a.shape == e.shape, f"{what}: {key}"
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=RTOL * scale, err_msg=f"{what}: {key}")


def _series(values, years, extra=None) -> xr.DataArray:
    if extra is None:
        return xr.DataArray(np.asarray(values, float), dims="year", coords={"year": years})
    return xr.DataArray(
        np.asarray(values, float), dims=("year", "region"), coords={"year": years, "region": REGIONS}
    )


# --- strategies for whole cases -----------------------------------------------------------

discretisations = st.tuples(st.sampled_from(INFLOW_AT), st.sampled_from(N_PTS))


@st.composite
def inflow_cases(draw, weibull_scale_by_cohort=False):
    n_years = draw(st.integers(2, 40))
    first = draw(st.integers(1950, 2050))
    inflow = draw(st.lists(amounts, min_size=n_years, max_size=n_years))
    case = draw(lifetime_cases(n_years, weibull_scale_by_cohort=weibull_scale_by_cohort))
    inflow_at, n_pts = draw(discretisations)
    return n_years, first, np.array(inflow), case, inflow_at, n_pts


@st.composite
def stock_series(draw, n_years: int):
    """Stocks of three kinds: any values (often with falls that need negative inflow),
    non-decreasing, and one that rises then falls."""
    kind = draw(st.sampled_from(["any", "rising", "rise_and_fall"]))
    if kind == "any":
        return np.array(draw(st.lists(amounts, min_size=n_years, max_size=n_years)))
    steps = np.array(draw(st.lists(st.floats(0.0, 100.0), min_size=n_years, max_size=n_years)))
    rising = np.cumsum(steps)
    if kind == "rising":
        return rising
    peak = draw(st.integers(0, n_years - 1))
    return np.concatenate([rising[: peak + 1], rising[peak] * np.linspace(1, 0.2, n_years - peak)[1:]])


@st.composite
def stock_cases(draw, weibull_scale_by_cohort=False):
    n_years = draw(st.integers(2, 40))
    first = draw(st.integers(1950, 2050))
    stocks = draw(stock_series(n_years))
    inflow_at, n_pts = draw(discretisations)
    case = draw(
        lifetime_cases(n_years, weibull_scale_by_cohort=weibull_scale_by_cohort).filter(
            lambda c: c.diagonal_survival(inflow_at, n_pts) >= MIN_DIAGONAL_SURVIVAL
        )
    )
    return n_years, first, stocks, case, inflow_at, n_pts


# --- tests --------------------------------------------------------------------------------
# Examples: 80 + 80 + 25 + 25 + 20 = 230 generated cases (>= 200), about 20-30 s.


def _settings(n: int):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mfa_run(ds: xr.Dataset) -> dict:
    return {k: ds[k].values for k in ds.data_vars}


def _check_inflow_driven(n_years, first, inflow, case, inflow_at, n_pts):
    years = _years(n_years, first)
    ds = stock.inflow_driven(
        _series(inflow, years), case.mfa(years), inflow_at=inflow_at, n_pts_per_interval=n_pts
    )
    expected = flodym_inflow_driven(case, inflow, first, inflow_at, n_pts)
    assert_run_close(_mfa_run(ds), expected, f"inflow-driven {case} {inflow_at} {n_pts}")


@_settings(80)
@given(inflow_cases())
def test_inflow_driven_matches_flodym(args):
    _check_inflow_driven(*args)


@_settings(25)
@given(inflow_cases(weibull_scale_by_cohort=True))
def test_inflow_driven_weibull_scale_by_cohort_matches_flodym(args):
    _check_inflow_driven(*args)


def _check_stock_driven(n_years, first, stocks, case, inflow_at, n_pts) -> bool:
    """Compare with "allow" always, with "retire" when flodym's inflow is >= 0; return
    whether the latter happened."""
    years = _years(n_years, first)
    lifetime = case.mfa(years)
    kwargs = dict(inflow_at=inflow_at, n_pts_per_interval=n_pts)
    what = f"{case} {inflow_at} {n_pts}"
    expected = flodym_stock_driven(case, stocks, first, inflow_at, n_pts)
    assert np.all(np.isfinite(expected["inflow"]))

    allowed = stock.stock_driven(_series(stocks, years), lifetime, negative_inflow="allow", **kwargs)
    assert_run_close(_mfa_run(allowed), expected, f"stock-driven, allow, {what}")

    retired = stock.stock_driven(_series(stocks, years), lifetime, **kwargs)
    np.testing.assert_array_equal(retired["stock"].values, stocks)
    nonnegative = bool(expected["inflow"].min() >= 0)
    if nonnegative:
        assert_run_close(_mfa_run(retired), expected, f"stock-driven, retire, {what}")
        assert_run_close(
            _mfa_run(retired), {**expected, "early_retirement": np.zeros(n_years)}, what, keys=["early_retirement"]
        )
    return nonnegative


@_settings(80)
@given(stock_cases())
def test_stock_driven_matches_flodym(args):
    _check_stock_driven(*args)


@_settings(25)
@given(stock_cases(weibull_scale_by_cohort=True))
def test_stock_driven_weibull_scale_by_cohort_matches_flodym(args):
    _check_stock_driven(*args)


def test_stock_driven_retire_branch_is_exercised():
    """A fixed case where flodym's inflow is >= 0 everywhere, so the "retire" comparison
    certainly runs, and one where it is negative (mfa then retires early instead)."""
    case = LifetimeCase("Weibull", {"shape": (2.0, ()), "scale": (np.linspace(8, 14, 12), ("cohort",))})
    rising = np.cumsum(np.linspace(5, 20, 12))
    assert _check_stock_driven(12, 2000, rising, case, "middle", 1)
    falling = np.concatenate([rising[:6], rising[5] * np.array([0.5, 0.4, 0.3, 0.3, 0.3, 0.3])])
    assert not _check_stock_driven(12, 2000, falling, case, "end", 3)


@pytest.mark.parametrize("n_pts", N_PTS)
@pytest.mark.parametrize("inflow_at", INFLOW_AT)
def test_every_discretisation_matches_flodym(inflow_at, n_pts):
    """Every (inflow_at, n_pts_per_interval) pair at least once, with a short lifetime,
    where the timing within the year matters most."""
    case = LifetimeCase("LogNormal", {"mean": (1.5, ()), "sd": (0.8, ())})
    inflow = np.array([3.0, 0.0, 5.0, 7.5, 1.0, 0.0, 0.0, 2.0])
    _check_inflow_driven(len(inflow), 2010, inflow, case, inflow_at, n_pts)
    _check_stock_driven(len(inflow), 2010, np.cumsum(inflow) / 2, case, inflow_at, n_pts)


@pytest.mark.parametrize("n_years", [2, 3])
def test_short_series(n_years):
    """2 years (flodym padded to 3) and 3 years (flodym as is)."""
    case = LifetimeCase("Normal", {"mean": (1.2, ()), "sd": (0.5, ())})
    inflow = np.array([4.0, 2.0, 1.0])[:n_years]
    _check_inflow_driven(n_years, 2020, inflow, case, "middle", 1)
    _check_stock_driven(n_years, 2020, np.array([4.0, 5.0, 5.5])[:n_years], case, "end", 2)


# --- batch dims ---------------------------------------------------------------------------


@st.composite
def batch_cases(draw):
    n_years = draw(st.integers(2, 25))
    first = draw(st.integers(1950, 2050))
    inflow_at, n_pts = draw(discretisations)
    case = draw(
        lifetime_cases(n_years, batch=True).filter(
            lambda c: min(c.diagonal_survival(inflow_at, n_pts, r) for r in range(len(REGIONS)))
            >= MIN_DIAGONAL_SURVIVAL
        )
    )
    inflow = np.column_stack(
        [draw(st.lists(amounts, min_size=n_years, max_size=n_years)) for _ in REGIONS]
    )
    stocks = np.column_stack([draw(stock_series(n_years)) for _ in REGIONS])
    return n_years, first, inflow, stocks, case, inflow_at, n_pts


@_settings(20)
@given(batch_cases())
def test_region_batch_matches_flodym_per_series(args):
    """One vectorised mfa call over ``region`` (3) equals flodym run region by region, with
    lifetime parameters that vary by nothing, cohort, region, or cohort and region."""
    n_years, first, inflow, stocks, case, inflow_at, n_pts = args
    years = _years(n_years, first)
    lifetime = case.mfa(years)
    kwargs = dict(inflow_at=inflow_at, n_pts_per_interval=n_pts)
    by_inflow = stock.inflow_driven(_series(inflow, years, REGIONS), lifetime, **kwargs)
    allowed = stock.stock_driven(_series(stocks, years, REGIONS), lifetime, negative_inflow="allow", **kwargs)
    retired = stock.stock_driven(_series(stocks, years, REGIONS), lifetime, **kwargs)
    for ds in (by_inflow, allowed, retired):
        assert ds["stock"].dims == ("year", "region")
        assert list(ds["region"].values) == REGIONS
    for r, region in enumerate(REGIONS):
        def one(ds):
            return _mfa_run(ds.sel(region=region))

        what = f"{case} {inflow_at} {n_pts} {region}"
        expected = flodym_inflow_driven(case, inflow[:, r], first, inflow_at, n_pts, r)
        assert_run_close(one(by_inflow), expected, f"inflow-driven {what}")
        expected = flodym_stock_driven(case, stocks[:, r], first, inflow_at, n_pts, r)
        assert_run_close(one(allowed), expected, f"stock-driven, allow, {what}")
        np.testing.assert_array_equal(retired["stock"].sel(region=region).values, stocks[:, r])
        if expected["inflow"].min() >= 0:
            assert_run_close(one(retired), expected, f"stock-driven, retire, {what}")


def test_region_batch_with_region_free_lifetime_matches_flodym():
    """Stocks by region with one lifetime for all (mfa's one-LAPACK-call path), where one
    region needs the retirement correction and the others do not."""
    case = LifetimeCase("Normal", {"mean": (6.0, ()), "sd": (2.0, ())})
    years = _years(10, 2000)
    stocks = np.column_stack(
        [np.linspace(10, 100, 10), np.full(10, 50.0), np.r_[np.linspace(10, 100, 5), np.linspace(80, 20, 5)]]
    )
    retired = stock.stock_driven(_series(stocks, years, REGIONS), case.mfa(years))
    for r, region in enumerate(REGIONS):
        expected = flodym_stock_driven(case, stocks[:, r], 2000, "end", 1)
        if r < 2:
            assert_run_close(_mfa_run(retired.sel(region=region)), expected, region)
        else:
            assert expected["inflow"].min() < 0
            assert float(retired["early_retirement"].sel(region=region).sum()) > 0
            assert float(retired["inflow"].sel(region=region).min()) >= 0
