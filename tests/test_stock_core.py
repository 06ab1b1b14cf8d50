"""The numpy stock engine (mfa.stock_core) at its edges: a NaN in a balance fails
loudly, empty inputs give empty results, both ways of summing retired to date agree."""

import numpy as np
import pytest
import xarray as xr

from mfa import lifetimes, stock
from mfa import stock_core as core

YEARS = np.arange(2020, 2030)


def _sf(n_years=YEARS.size):
    return core.survival_matrix(lambda time, entry: np.exp(-((np.clip(time - entry, 0, None) / 6.0) ** 2)), np.arange(n_years))


@pytest.mark.parametrize("where", [0, 4, -1])
def test_nan_inflow_fails_the_balance_check(where):
    inflow = np.full((YEARS.size, 3), 10.0)
    inflow[where, 1] = np.nan
    with pytest.raises(ValueError, match="balance.*NaN"):
        core.inflow_driven(inflow, _sf())


def test_nan_stock_fails_the_balance_check():
    prescribed = np.linspace(1.0, 10.0, YEARS.size)[:, None] * np.ones((1, 4))
    prescribed[6, 2] = np.nan
    with pytest.raises(ValueError, match="balance.*NaN"):
        core.stock_driven(prescribed, _sf())


def test_nan_survival_fails_the_balance_check():
    sf = _sf()
    sf[5, 2] = np.nan
    with pytest.raises(ValueError, match="balance.*NaN"):
        core.inflow_driven(np.ones(YEARS.size), sf)


def test_nan_in_a_later_block_fails_the_balance_check(monkeypatch):
    """Blocks of one year each: the NaN is met after finite blocks, where a running
    built-in max would keep the finite value."""
    monkeypatch.setattr(core, "_BLOCK_ELEMENTS", 1)
    inflow = np.full((YEARS.size, 2), 5.0)
    inflow[-2, 0] = np.nan
    with pytest.raises(ValueError, match="balance.*NaN"):
        core.inflow_driven(inflow, _sf(), derived=False)


def test_unchecked_runs_leave_the_balance_to_the_caller():
    """check=False (with derived=False) computes no balance: the NaN passes here, and the
    caller's own check (the model's, tests/test_invariants_cli.py) must catch it."""
    inflow = np.full((YEARS.size, 2), 5.0)
    inflow[3, 1] = np.nan
    for run in (
        lambda: core.inflow_driven(inflow, _sf(), derived=False, check=False),
        lambda: core.product_component(inflow, _sf(), _sf(), np.ones((YEARS.size, YEARS.size), bool), derived=False, check=False),
    ):
        result = run()
        assert result.errors == {} and "balance" not in result and np.isnan(result["stock"][3:, 1]).all()
    assert set(core.inflow_driven(inflow[:, :1], _sf(), check=False)) >= set(core.DERIVED)  # derived arrays are still derived


@pytest.mark.parametrize("values", [[1.0, np.nan, -3.0], [np.nan, 1.0], [-2.0, 5.0, np.nan]])
def test_largest_abs_never_hides_a_nan(values):
    assert np.isnan(core.largest_abs(np.array(values)))


def test_largest_abs_of_nothing_is_zero():
    assert core.largest_abs(np.zeros((3, 0))) == 0.0


@pytest.mark.parametrize(
    "run",
    [
        lambda s, sf: core.inflow_driven(s, sf),
        lambda s, sf: core.stock_driven(s, sf),
        lambda s, sf: core.stock_driven(s, sf, s[:2]),
        lambda s, sf: core.product_component(s, sf, sf, np.ones(sf.shape, bool)),
    ],
    ids=["inflow_driven", "stock_driven", "stock_driven_known", "product_component"],
)
@pytest.mark.parametrize("batch_sf", [False, True], ids=["shared", "by_series"])
def test_no_series_gives_empty_results(run, batch_sf):
    sf = _sf()
    if batch_sf:
        sf = np.broadcast_to(sf, (0, *sf.shape))
    out = run(np.zeros((YEARS.size, 0)), sf)
    assert all(v.shape == (YEARS.size, 0) for v in out.values())
    assert out.errors == {"max_abs_balance_error": 0.0, "max_rel_balance_error": 0.0}


@pytest.mark.parametrize("model", ["inflow_driven", "stock_driven", "product_component"])
def test_no_series_through_xarray_gives_empty_results(model):
    lifetime = lifetimes.Weibull(3.5, 8.0)
    empty = xr.DataArray(np.zeros((YEARS.size, 0)), dims=("year", "region"), coords={"year": YEARS, "region": []})
    args = (lifetime, lifetime) if model == "product_component" else (lifetime,)
    ds = getattr(stock, model)(empty, *args)
    assert dict(ds.sizes) == {"year": YEARS.size, "region": 0}
    assert ds.attrs["max_abs_balance_error"] == 0.0


@pytest.mark.parametrize("width", [1, core._CUMSUM_WIDTH, core._CUMSUM_WIDTH + 1])
@pytest.mark.parametrize("block_elements", [1, 7 * 300, 2**17])
def test_retired_to_date_is_the_cumulative_outflow(monkeypatch, width, block_elements):
    """Whichever way it is summed (one cumsum, or row by row) and however blocked."""
    monkeypatch.setattr(core, "_BLOCK_ELEMENTS", block_elements)
    inflow = np.random.default_rng(3).uniform(0.0, 5.0, (YEARS.size, width))
    out = core.inflow_driven(inflow, _sf())
    np.testing.assert_allclose(out["cumulative_outflow"], np.cumsum(out["outflow"], axis=0), rtol=1e-12)
    np.testing.assert_allclose(out["stock"] + out["cumulative_outflow"], np.cumsum(inflow, axis=0), rtol=1e-12)


def test_no_error_is_plus_zero():
    """An exact balance reports 0.0, not -0.0 (which prints as '-0')."""
    errors = core.inflow_driven(np.zeros((YEARS.size, 2)), _sf()).errors
    assert all(np.copysign(1.0, value) == 1.0 for value in errors.values())


@pytest.mark.parametrize("year_at", [0, 1, 2])
@pytest.mark.parametrize("batched", [True, False], ids=["a matrix per series", "one matrix"])
def test_apply_lays_out_its_results_with_the_year_where_asked(year_at, batched):
    """Same numbers in any layout; with the year axis moved to ``year_at``, C-ordered
    (the model's Named arrays put the year after sample, scenario, region)."""
    rng = np.random.default_rng(3)
    T = 12
    sf = np.tril(rng.random((4, 1, T, T) if batched else (T, T)))
    series = rng.random((T, 4, 5))
    default = core.apply([sf, 2 * sf], series)
    laid_out = core.apply([sf, 2 * sf], series, year_at)
    for a, b in zip(default, laid_out):
        np.testing.assert_array_equal(a, b)
        assert np.moveaxis(b, 0, year_at).flags.c_contiguous
    np.testing.assert_allclose(default[0], np.einsum("...tc,c...->t...", np.broadcast_to(sf, (4, 5, T, T)), series), rtol=1e-13)
    result = core.inflow_driven(series, sf, year_at=year_at)  # its inflow is the caller's own array, as given
    assert result["inflow"] is series and all(np.moveaxis(result[k], 0, year_at).flags.c_contiguous for k in ("stock", "outflow"))


@pytest.mark.parametrize("seed", range(12))
def test_apply_sums_the_asked_axes_as_einsum_then_sum(seed):
    """Summing batch axes inside the products (``summed``) gives the full products summed
    over those axes (einsum, an independent contraction), whether the matrices vary along
    the summed axes (summed within the product) or not (series summed first), in any layout."""
    rng = np.random.default_rng(seed)
    T, sizes = 7, rng.integers(1, 4, size=4)
    series = rng.random((T, *(int(n) if rng.random() < 0.7 else 1 for n in sizes)))
    matrices = [np.tril(rng.random((*(int(n) if rng.random() < 0.5 else 1 for n in sizes), T, T))) for _ in range(rng.integers(1, 4))]
    summed = tuple(sorted(rng.choice(4, size=rng.integers(1, 5), replace=False).tolist()))
    year_at = int(rng.integers(0, 5))
    batch = np.broadcast_shapes(series.shape[1:], *(m.shape[:-2] for m in matrices))
    for m, got in zip(matrices, core.apply(matrices, series, year_at, summed)):
        want = np.broadcast_to(np.einsum("...tc,c...->t...", m, series), (T, *batch)).sum(axis=tuple(1 + i for i in summed), keepdims=True)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert np.moveaxis(got, 0, year_at).flags.c_contiguous


@pytest.mark.parametrize("inflow_shape", [(3, 1, 4), (1, 1, 4)], ids=["varies like sf_component", "constant where only sf_component varies"])
@pytest.mark.parametrize("summed", [(0,), (1,), (2,), (0, 2), (0, 1, 2)])
def test_engines_summed_are_their_full_results_summed(summed, inflow_shape):
    """Every array of product_component and inflow_driven (inflows too, where a series is
    constant along a summed axis a matrix varies along) is the full run's summed."""
    rng = np.random.default_rng(5)
    T = 9
    inflow = rng.random((T, *inflow_shape))  # constant along axis 1, along which sf_product varies
    sf_product, sf_component = np.tril(rng.random((1, 2, 1, T, T))), np.tril(rng.random((3, 1, 1, T, T)))
    replace = rng.random((1, 1, 4, T, T)) < 0.5
    runs = [
        (core.product_component(inflow, sf_product, sf_component, replace, year_at=1),
         core.product_component(inflow, sf_product, sf_component, replace, year_at=1, summed=summed)),
        (core.inflow_driven(inflow, sf_product), core.inflow_driven(inflow, sf_product, summed=summed)),
    ]
    for full, part in runs:
        assert set(part) == set(full)
        # the balance is rounding noise; summed from series constant along an axis it is
        # that noise times the stock's size (~1e-14 absolute), so there it is held to 1e-14 of the stock
        noise = 1e-14 if inflow_shape == (3, 1, 4) else 1e-14 * max(1.0, float(np.abs(full["stock"]).sum(axis=tuple(1 + i for i in summed)).max()))
        for name in full:
            want = full[name].sum(axis=tuple(1 + i for i in summed), keepdims=True)
            assert part[name].shape == want.shape
            np.testing.assert_allclose(part[name], want, rtol=1e-12, atol=noise if name == "balance" else 1e-14)
    with pytest.raises(ValueError, match="by_cohort"):
        core.inflow_driven(inflow, sf_product, by_cohort=True, summed=summed)
