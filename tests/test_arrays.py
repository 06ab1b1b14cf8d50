"""The model's plain-array kernels against independent formulations: Named.dot (BLAS
matmul where the axes allow, einsum otherwise) against a sum of broadcast products, and
stock_core.apply's grouped matrix products against one matrix-vector product per series."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mfa import stock_core
from mfa.arrays import ORDER, Named, ordered

SIZES = {"sample": 3, "scenario": 2, "region": 4, "year": 5, "segment": 2, "powertrain": 2, "chemistry": 3, "element": 4, "bound": 2}
DIMS = [d for d in ORDER if d in SIZES]


def _named(dims, seed) -> Named:
    dims = ordered(dims)
    return Named(dims, np.random.default_rng(seed).random([SIZES[d] for d in dims]))


def _broadcast_sum(a: Named, b: Named, summed) -> Named:
    """``(a * b).sum(summed)`` the long way: the full product array, then sums."""
    dims = ordered(set(a.dims) | set(b.dims))
    product = a.expand(dims) * b.expand(dims)
    shape = np.broadcast_shapes(a.expand(dims).shape, b.expand(dims).shape)
    product = np.broadcast_to(product, shape)
    axes = tuple(dims.index(d) for d in summed)
    return Named(tuple(d for d in dims if d not in summed), product.sum(axis=axes))


@settings(max_examples=150, deadline=None)
@given(
    a_dims=st.sets(st.sampled_from(DIMS), min_size=1, max_size=6),
    b_dims=st.sets(st.sampled_from(DIMS), min_size=1, max_size=4),
    pick=st.integers(0, 2**16),
    seed=st.integers(0, 2**16),
)
def test_dot_equals_the_sum_of_the_broadcast_product(a_dims, b_dims, pick, seed):
    a = _named(a_dims, seed)
    b = _named(b_dims, seed + 1)
    candidates = sorted(a_dims)  # a summed dim is one of the first operand's
    summed = tuple(d for i, d in enumerate(candidates) if (pick >> i) & 1) or (candidates[pick % len(candidates)],)
    got = a.dot(b, summed)
    want = _broadcast_sum(a, b, summed)
    assert got.dims == want.dims
    np.testing.assert_allclose(got.values, want.values, rtol=1e-12, atol=0)


def test_dot_takes_the_matrix_product_path_for_material_contents():
    """The material step's case (capacity by segment and chemistry times intensity by
    chemistry and element) is the batched matmul path, not einsum's."""
    capacity = _named(("sample", "scenario", "region", "year", "segment", "chemistry"), 0)
    intensity = _named(("scenario", "chemistry", "element"), 1)
    assert capacity._matmul(intensity, ("segment", "chemistry")) is not None
    np.testing.assert_allclose(capacity.dot(intensity, ("segment", "chemistry")).values, _broadcast_sum(capacity, intensity, ("segment", "chemistry")).values, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), min_size=1, max_size=4),
    varies=st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=3),
    series_full=st.lists(st.booleans(), min_size=4, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_apply_equals_one_product_per_series(batch, varies, series_full, seed):
    rng = np.random.default_rng(seed)
    n_years = 6
    rank = len(batch)
    series_shape = tuple(n if full else 1 for n, full in zip(batch, series_full[:rank]))
    series = rng.random((n_years, *series_shape))
    matrices = [np.tril(rng.random(tuple(n if v else 1 for n, v in zip(batch, flags[:rank])) + (n_years, n_years))) for flags in varies]
    matrices.append(np.tril(rng.random((n_years, n_years)))[(None,) * 0])  # a shared (T, T) matrix beside batched ones
    got = stock_core.apply(matrices, series)
    full = np.broadcast_shapes(series_shape, *(m.shape[:-2] for m in matrices))
    for m, result in zip(matrices, got):
        assert result.shape == (n_years, *full) and result.flags.c_contiguous
        for index in np.ndindex(*full):
            column = series[(slice(None), *(i if n > 1 else 0 for i, n in zip(index, series_shape)))]
            matrix = m if m.ndim == 2 else m[tuple(i if n > 1 else 0 for i, n in zip(index, m.shape[:-2]))]
            np.testing.assert_allclose(result[(slice(None), *index)], matrix @ column, rtol=1e-12)
