"""The xarray layer of mfa.stock: the Datasets it assembles without xarray's merge are
those the public constructor builds, and a lifetime's cohorts are found however labelled."""

import numpy as np
import pytest
import xarray as xr

from mfa import lifetimes, stock
from mfa.units import ureg

YEARS = np.arange(2020, 2030)


def _series(unit=None, **extra_coords):
    values = np.outer(np.linspace(1.0, 10.0, YEARS.size), [1.0, 2.0, 0.5])
    da = xr.DataArray(
        values,
        dims=("year", "region"),
        coords={"year": YEARS, "region": ["a", "b", "c"], **extra_coords},
    )
    return da if unit is None else da.pint.quantify(unit, unit_registry=ureg)


SCALE = xr.DataArray(np.linspace(8.0, 12.0, YEARS.size), dims="cohort", coords={"cohort": YEARS})
BY_REGION = lifetimes.Normal(xr.DataArray([9.0, 11.0, 13.0], dims="region", coords={"region": ["a", "b", "c"]}), 3.0)
CASES = {
    "inflow_driven": lambda: stock.inflow_driven(_series(), lifetimes.Weibull(3.5, SCALE)),
    "inflow_driven_by_cohort_units": lambda: stock.inflow_driven(_series("t/yr"), BY_REGION, by_cohort=True),
    "stock_driven_aux_coords": lambda: stock.stock_driven(
        _series(name=("region", ["A", "B", "C"]), case="x"), lifetimes.Weibull(3.5, SCALE), by_cohort=True
    ),
    "stock_driven_history": lambda: stock.stock_driven(
        _series().sel(year=slice(2024, None)),
        BY_REGION,
        xr.DataArray(np.ones((4, 3)), dims=("cohort", "region"), coords={"cohort": YEARS[:4], "region": ["a", "b", "c"]}),
    ),
    "stock_driven_unlabelled": lambda: stock.stock_driven(xr.DataArray(np.ones((5, 2)), dims=("year", "s")), lifetimes.Fixed(3)),
    "product_component": lambda: stock.product_component(
        _series("kW*h/yr"), BY_REGION, lifetimes.Weibull(2.0, 8.0), replace_while=xr.DataArray([5.0, 8.0], dims="scenario")
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_result_is_what_the_public_constructor_builds(case):
    ds = CASES[case]()
    rebuilt = xr.Dataset(ds.data_vars, coords=ds.coords, attrs=ds.attrs)
    xr.testing.assert_identical(ds, rebuilt)
    assert (list(ds.data_vars), list(ds.coords)) == (list(rebuilt.data_vars), list(rebuilt.coords))
    assert dict(ds.sizes) == dict(rebuilt.sizes)
    assert set(ds.xindexes) == set(rebuilt.xindexes)


def test_result_of_a_large_call_with_lazy_arrays_is_what_the_public_constructor_builds():
    n = 2**20 // YEARS.size + 1
    da = xr.DataArray(np.ones((YEARS.size, n)), dims=("year", "sample"), coords={"year": YEARS})
    ds = stock.inflow_driven(da, lifetimes.Weibull(3.5, 8.0))
    xr.testing.assert_identical(ds, xr.Dataset(ds.data_vars, coords=ds.coords, attrs=ds.attrs))


@pytest.mark.parametrize(
    "labels",
    [YEARS, YEARS[::-1], np.arange(2010, 2035), YEARS.astype(float)],
    ids=["same", "reversed", "wider", "float"],
)
def test_cohorts_are_found_however_labelled(labels):
    """A parameter by cohort gives each cohort its own value, whatever the order or extent
    of its labels (equal labels take the fast path, others a lookup)."""
    scale = xr.DataArray(8.0 + (labels - 2020) / 4.0, dims="cohort", coords={"cohort": labels})
    expected = xr.DataArray(8.0 + (YEARS - 2020) / 4.0, dims="cohort", coords={"cohort": YEARS})
    got = stock.survival_matrix(lifetimes.Weibull(3.0, scale), YEARS)
    want = stock.survival_matrix(lifetimes.Weibull(3.0, expected), YEARS)
    np.testing.assert_array_equal(got.values, want.values)


def test_missing_cohort_is_named():
    scale = xr.DataArray(np.full(5, 8.0), dims="cohort", coords={"cohort": YEARS[:5]})
    with pytest.raises(ValueError, match=r"no value for cohorts \[2025"):
        stock.survival_matrix(lifetimes.Weibull(3.0, scale), YEARS)


def test_stock_driven_with_history_builds_one_survival_matrix(monkeypatch):
    """The history's back-calculation reads the corner of the run's own matrix."""
    from mfa import stock_core

    built = []
    real = stock_core.survival_matrix
    monkeypatch.setattr(stock_core, "survival_matrix", lambda *a, **k: built.append(1) or real(*a, **k))
    ds = CASES["stock_driven_history"]()
    assert len(built) == 1
    assert ds.sizes["year"] == YEARS.size


def test_fast_path_gives_the_xarray_layer_results():
    """survival_array + core on plain arrays = the xarray call, whatever the dim order."""
    prescribed = _series().transpose("year", "region")
    lifetime = lifetimes.Normal(BY_REGION.mean, 3.0)
    ds = stock.stock_driven(prescribed, lifetime)
    sf = stock.survival_array(lifetime, YEARS, dims=("region",))
    assert sf.shape == (3, YEARS.size, YEARS.size)
    out = stock.core.stock_driven(prescribed.values, sf)
    for name in ("inflow", "outflow", "stock", "cumulative_outflow"):
        np.testing.assert_array_equal(out[name], ds[name].transpose("year", "region").values)
    shared = stock.survival_array(lifetimes.Weibull(3.5, SCALE), YEARS, dims=("scenario", "region"))
    assert shared.shape == (YEARS.size, YEARS.size)
    two = stock.survival_array(BY_REGION, YEARS, dims=("scenario", "region"))
    assert two.shape == (1, 3, YEARS.size, YEARS.size)


def test_fast_path_names_a_lifetime_dim_the_series_lack():
    with pytest.raises(ValueError, match=r"varies by \['region'\]"):
        stock.survival_array(BY_REGION, YEARS, dims=("scenario",))
