"""mfa.lifetimes: survival and discrete pdf against scipy.stats, conventions, parameters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats as ss
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from mfa import lifetimes
from mfa.units import ureg

AGES = np.concatenate([np.linspace(0.0, 80.0, 161), np.arange(0.0, 81.0), [0.25, 1e-9, 200.0]])
MEANS = [0.5, 1.0, 3.0, 12.5, 30.0]
SDS = [0.3, 1.0, 4.0, 10.0]
SHAPES = [0.8, 1.0, 2.5, 6.0]
SCALES = [0.5, 3.0, 15.0, 30.0]


def lognormal_scipy(mean, sd):
    """scipy's lognorm with the mean and sd of the lognormal itself."""
    sigma2 = np.log1p((sd / mean) ** 2)
    return ss.lognorm(s=np.sqrt(sigma2), scale=np.exp(np.log(mean) - sigma2 / 2))


def scipy_dist(kind, a, b):
    if kind == "Normal":
        return ss.norm(loc=a, scale=b)
    if kind == "FoldedNormal":
        return ss.foldnorm(a / b, scale=b)
    if kind == "LogNormal":
        return lognormal_scipy(a, b)
    return ss.weibull_min(a, scale=b)  # Weibull(shape=a, scale=b)


CASES = [
    (kind, a, b)
    for kind in ("Normal", "FoldedNormal", "LogNormal")
    for a, b in itertools.product(MEANS, SDS)
] + [("Weibull", k, s) for k, s in itertools.product(SHAPES, SCALES)]


def make(kind, a, b):
    return getattr(lifetimes, kind)(a, b)


def _ids(case):
    return f"{case[0]}-{case[1]}-{case[2]}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_survival_matches_scipy(case):
    kind, a, b = case
    actual = make(kind, a, b).survival(AGES).values
    np.testing.assert_allclose(actual, scipy_dist(kind, a, b).sf(AGES), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_pdf_matches_scipy_and_sums_to_one(case):
    kind, a, b = case
    lifetime = make(kind, a, b)
    dist = scipy_dist(kind, a, b)
    ages = np.arange(0.0, 2001.0)
    pdf = lifetime.pdf(ages).values
    expected = np.where(ages - 1 < 0, 1.0, dist.sf(ages - 1)) - dist.sf(ages)
    np.testing.assert_allclose(pdf, expected, rtol=1e-10, atol=1e-15)
    assert pdf.min() >= -1e-15
    # It telescopes: the shares at ages 0..N sum to 1 - S(N) ...
    assert pdf[:41].sum() == pytest.approx(1.0 - float(lifetime.survival(40.0)), abs=1e-13)
    # ... so to 1 over a long enough range (the heaviest tail here, LogNormal(0.5, 10),
    # still has S(1e5) = 2.7e-10).
    large = lifetime.pdf(np.arange(0.0, 100_001.0)).values
    assert large.sum() == pytest.approx(1.0, abs=1e-9)
    # Fractional ages too: S(age - 1) - S(age).
    np.testing.assert_allclose(
        lifetime.pdf(np.array([0.5, 2.25])).values,
        lifetime.survival(np.array([-0.5, 1.25])).values - lifetime.survival(np.array([0.5, 2.25])).values,
    )


@pytest.mark.parametrize("kind", ["Normal", "FoldedNormal", "LogNormal", "Weibull"])
def test_survival_is_one_at_negative_ages(kind):
    lifetime = make(kind, 2.0, 1.5)
    np.testing.assert_array_equal(lifetime.survival(np.array([-5.0, -1.0, -1e-12])).values, 1.0)
    assert float(lifetime.pdf(-1.0)) == 0.0


def test_lognormal_parameters_are_those_of_the_lognormal():
    dist = lognormal_scipy(12.0, 4.0)
    assert dist.mean() == pytest.approx(12.0, rel=1e-12)
    assert dist.std() == pytest.approx(4.0, rel=1e-12)
    assert float(lifetimes.LogNormal(12.0, 4.0).survival(dist.median())) == pytest.approx(0.5, abs=1e-12)


def test_normal_is_not_truncated_at_zero():
    lifetime = lifetimes.Normal(1.0, 1.0)
    assert float(lifetime.survival(0.0)) == pytest.approx(ss.norm.sf(0, 1, 1))  # 0.841 < 1
    assert float(lifetime.pdf(0.0)) == pytest.approx(ss.norm.cdf(0, 1, 1))


def test_folded_normal_parameters_are_those_before_folding():
    # |X| with X ~ N(2, 3): P(|X| > a) = P(X > a) + P(X < -a).
    a = np.array([0.0, 1.0, 4.0])
    expected = ss.norm.sf(a, 2, 3) + ss.norm.cdf(-a, 2, 3)
    np.testing.assert_allclose(lifetimes.FoldedNormal(2.0, 3.0).survival(a).values, expected, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["Normal", "FoldedNormal", "LogNormal", "Weibull"]),
    a=st.floats(0.3, 30.0),
    b=st.floats(0.3, 30.0),
    ages=st.lists(st.floats(0.0, 200.0), min_size=1, max_size=20),
)
def test_survival_matches_scipy_property(kind, a, b, ages):
    if kind == "Weibull":
        a = min(max(a, 0.8), 6.0)
    ages = np.array(ages)
    actual = make(kind, a, b).survival(ages).values
    np.testing.assert_allclose(actual, scipy_dist(kind, a, b).sf(ages), rtol=1e-10, atol=1e-14)
    assert np.all(np.diff(make(kind, a, b).survival(np.sort(ages)).values) <= 1e-15)


# --- Fixed ------------------------------------------------------------------------------


@pytest.mark.parametrize("mean", [0.5, 1.0, 2.5, 3.0, 12.0, 30.0])
def test_fixed_survives_below_its_mean_and_is_gone_at_it(mean):
    lifetime = lifetimes.Fixed(mean)
    below = np.array([0.0, mean / 2, mean - 1e-9])
    at_or_above = np.array([mean, mean + 1e-9, mean + 0.5, mean + 10])
    np.testing.assert_array_equal(lifetime.survival(below).values, 1.0)
    np.testing.assert_array_equal(lifetime.survival(at_or_above).values, 0.0)
    ages = np.arange(0.0, 40.0)
    pdf = lifetime.pdf(ages).values
    # Everything leaves in the year in which it reaches the (first integer age >=) mean.
    leaves_at = np.ceil(mean)
    np.testing.assert_array_equal(pdf, (ages == leaves_at).astype(float))


def test_fixed_integer_mean_leaves_at_that_age():
    lifetime = lifetimes.Fixed(3)
    np.testing.assert_array_equal(lifetime.survival([0, 1, 2, 3, 4]).values, [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(lifetime.pdf([0, 1, 2, 3, 4]).values, [0, 0, 0, 1, 0])


# --- mean 0 (ODYM's convention) -----------------------------------------------------------


@pytest.mark.parametrize(
    "lifetime",
    [lifetimes.Fixed(0), lifetimes.Normal(0, 1.0), lifetimes.FoldedNormal(0, 1.0), lifetimes.LogNormal(0, 1.0)],
    ids=["Fixed", "Normal", "FoldedNormal", "LogNormal"],
)
def test_zero_mean_leaves_in_the_inflow_year(lifetime):
    ages = np.array([0.0, 0.5, 1.0, 10.0])
    np.testing.assert_array_equal(lifetime.survival(ages).values, 0.0)
    np.testing.assert_array_equal(lifetime.pdf(np.arange(0.0, 5.0)).values, [1, 0, 0, 0, 0])


def test_zero_mean_only_where_it_is_zero():
    mean = xr.DataArray([0.0, 10.0], dims="region", coords={"region": ["a", "b"]})
    sf = lifetimes.Normal(mean, 2.0).survival(5.0)
    assert float(sf.sel(region="a")) == 0.0
    assert float(sf.sel(region="b")) == pytest.approx(ss.norm.sf(5, 10, 2))


# --- Weibull.from_mean --------------------------------------------------------------------


@pytest.mark.parametrize("mean, shape", [(12.0, 2.0), (1.0, 0.8), (30.0, 6.0), (5.0, 1.0)])
def test_weibull_from_mean(mean, shape):
    lifetime = lifetimes.Weibull.from_mean(mean, shape)
    assert float(lifetime.scale) == pytest.approx(mean / special.gamma(1 + 1 / shape), rel=1e-14)
    assert float(lifetime.shape) == shape
    assert float(lifetime.mean) == pytest.approx(mean, rel=1e-14)
    assert ss.weibull_min(shape, scale=float(lifetime.scale)).mean() == pytest.approx(mean, rel=1e-12)
    if shape == 1.0:  # exponential
        assert float(lifetime.scale) == pytest.approx(mean)


def test_weibull_from_mean_broadcasts_and_takes_quantities():
    mean = xr.DataArray([10.0, 20.0], dims="cohort", coords={"cohort": [2000, 2001]})
    shape = xr.DataArray([1.5, 2.0, 3.0], dims="region", coords={"region": ["a", "b", "c"]})
    lifetime = lifetimes.Weibull.from_mean(mean, shape)
    assert set(lifetime.scale.dims) == {"cohort", "region"}
    xr.testing.assert_allclose(lifetime.mean.transpose("cohort", "region"), (mean * xr.ones_like(shape)).transpose("cohort", "region"))
    from_months = lifetimes.Weibull.from_mean(ureg.Quantity(144, "month"), 2.0)
    assert float(from_months.mean) == pytest.approx(12.0)


# --- broadcasting -------------------------------------------------------------------------


def test_params_broadcast_over_cohort_and_another_dim():
    cohorts = [2000, 2001, 2002]
    regions = ["a", "b"]
    mean = xr.DataArray([8.0, 10.0, 12.0], dims="cohort", coords={"cohort": cohorts})
    sd = xr.DataArray([1.0, 3.0], dims="region", coords={"region": regions})
    lifetime = lifetimes.Normal(mean, sd)
    assert set(lifetime.dims) == {"cohort", "region"}
    age = xr.DataArray([0.0, 5.0, 10.0, 20.0], dims="age")
    sf = lifetime.survival(age)
    assert set(sf.dims) == {"age", "cohort", "region"}
    for c, r in itertools.product(cohorts, regions):
        np.testing.assert_allclose(
            sf.sel(cohort=c, region=r).transpose("age").values,
            ss.norm.sf(age.values, float(mean.sel(cohort=c)), float(sd.sel(region=r))),
            rtol=1e-12,
        )
    # The age itself may vary by cohort (e.g. year - cohort).
    by_cohort = lifetime.survival(xr.DataArray([1.0, 2.0, 3.0], dims="cohort", coords={"cohort": cohorts}))
    assert set(by_cohort.dims) == {"cohort", "region"}
    assert float(by_cohort.sel(cohort=2002, region="b")) == pytest.approx(ss.norm.sf(3.0, 12.0, 3.0))


def test_weibull_scale_by_cohort_shape_by_region():
    cohorts = [2010, 2011]
    scale = xr.DataArray([5.0, 9.0], dims="cohort", coords={"cohort": cohorts})
    shape = xr.DataArray([1.0, 2.0, 4.0], dims="region", coords={"region": ["x", "y", "z"]})
    sf = lifetimes.Weibull(shape, scale).survival(4.0)
    for c, r in itertools.product(cohorts, ["x", "y", "z"]):
        expected = ss.weibull_min.sf(4.0, float(shape.sel(region=r)), scale=float(scale.sel(cohort=c)))
        assert float(sf.sel(cohort=c, region=r)) == pytest.approx(expected, rel=1e-12)


def test_sel_cohorts_aligns_and_orders():
    mean = xr.DataArray([5.0, 6.0, 7.0, 8.0], dims="cohort", coords={"cohort": [2000, 2001, 2002, 2003]})
    lifetime = lifetimes.Fixed(mean).sel_cohorts([2001, 2002])
    np.testing.assert_array_equal(lifetime.mean.values, [6.0, 7.0])
    np.testing.assert_array_equal(lifetime.mean["cohort"].values, [2001, 2002])
    # A parameter without a cohort dim is left as it is.
    assert lifetimes.Normal(mean, 2.0).sel_cohorts([2003]).sd.ndim == 0


# --- pint quantities ----------------------------------------------------------------------


def test_quantity_params_are_converted_to_years():
    assert float(lifetimes.Fixed(12 * ureg.year).mean) == 12.0
    assert float(lifetimes.Fixed(ureg.Quantity(18, "month")).mean) == pytest.approx(1.5)
    normal = lifetimes.Normal(12 * ureg.year, ureg.Quantity(24, "month"))
    assert float(normal.mean) == 12.0 and float(normal.sd) == pytest.approx(2.0)
    np.testing.assert_allclose(
        normal.survival(AGES).values, lifetimes.Normal(12.0, 2.0).survival(AGES).values, rtol=1e-14
    )
    weibull = lifetimes.Weibull(shape=2.0 * ureg.dimensionless, scale=ureg.Quantity(120, "month"))
    assert float(weibull.shape) == 2.0 and float(weibull.scale) == pytest.approx(10.0)
    for name, value in normal.params.items():
        assert not hasattr(value.data, "units"), name  # stored as plain floats in years


def test_quantified_dataarray_params_are_converted_to_years():
    months = xr.DataArray([120.0, 180.0], dims="cohort", coords={"cohort": [2000, 2001]}).pint.quantify(
        "month", unit_registry=ureg
    )
    lifetime = lifetimes.LogNormal(months, 3 * ureg.year)
    np.testing.assert_allclose(lifetime.mean.values, [10.0, 15.0])
    np.testing.assert_array_equal(lifetime.mean["cohort"].values, [2000, 2001])


def test_param_in_a_non_time_unit_is_rejected():
    with pytest.raises((ValueError, TypeError)):
        lifetimes.Fixed(ureg.Quantity(3, "m"))


def test_weibull_shape_with_time_units_is_rejected():
    with pytest.raises((ValueError, TypeError)):
        lifetimes.Weibull(shape=ureg.Quantity(2.0, "yr"), scale=10.0)


@pytest.mark.parametrize("discretisation", [dict(), dict(inflow_at="middle"), dict(inflow_at="start"), dict(n_pts_per_interval=4)])
@pytest.mark.parametrize("kind", ["Fixed", "Normal", "FoldedNormal", "LogNormal", "Weibull"])
def test_two_dim_survival_matrix_equals_the_general_one(kind, discretisation):
    """The numpy path for lifetimes that vary at most by cohort gives what the xarray path
    (taken as soon as a parameter has another dim, here a region of one) gives."""
    from mfa.stock import Discretisation, outflow_matrix, survival_matrix

    years = np.arange(2000, 2031)
    cohort = xr.DataArray(np.linspace(4.0, 12.0, years.size), dims="cohort", coords={"cohort": years})
    params = {
        "Fixed": {"mean": cohort.round()},
        "Normal": {"mean": cohort, "sd": 3.0},
        "FoldedNormal": {"mean": cohort, "sd": 4.0},
        "LogNormal": {"mean": cohort, "sd": 2.5},
        "Weibull": {"shape": 2.2, "scale": cohort},
    }[kind]
    lifetime = getattr(lifetimes, kind)(**params)
    widened = getattr(lifetimes, kind)(**{k: xr.DataArray(v).expand_dims(region=[1]) for k, v in params.items()})
    disc = Discretisation(**discretisation)
    fast = survival_matrix(lifetime, years, disc)
    general = survival_matrix(widened, years, disc).squeeze("region", drop=True)
    assert fast.dims == ("year", "cohort")
    np.testing.assert_allclose(fast.values, general.values, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(outflow_matrix(fast).values, outflow_matrix(general.expand_dims(region=[1])).squeeze("region").values, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("point", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("shape_dims", [(5, 3, 1, 1), (1, 1), (5, 3, 1, 31)], ids=["shape by batch", "one shape", "shape by cohort"])
def test_weibull_formula_on_matrices_is_the_survival_function(point, shape_dims):
    """The formula behind the model's survival matrices (exp(k ln a) per distinct age when
    k does not vary by cell) is exp(-(a / s)^k), 1 at negative ages, for every layout of k."""
    rng = np.random.default_rng(7)
    years = np.arange(31, dtype=float)
    time, entry = years[:, None] + 1.0, years[None, :] + point
    shape, scale = rng.uniform(0.6, 6.0, shape_dims), rng.uniform(0.4, 25.0, (5, 3, 1, 31))
    got = lifetimes.Weibull.formula({"shape": shape, "scale": scale})(time, entry)
    age = time - entry
    expected = np.where(age < 0, 1.0, ss.weibull_min.sf(np.maximum(age, 0), shape, scale=scale))
    assert got.shape == expected.shape == (5, 3, 31, 31)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
