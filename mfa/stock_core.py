"""The stock engine on plain numpy arrays: public as ``mfa.stock.core``.

The same maths as :mod:`mfa.stock` (see its docstring for the discretisation) without
xarray, pint or label checks, for callers that run the engine many times on arrays they
already hold (a calibration loop, a slider in an app) or embed it in their own model.
Inputs are not validated here: the xarray layer does that once per call.

Layout: every series is **year first**, shape ``(T, *batch)`` (T years, any batch axes);
a survival matrix is ``(*batch, T, T)`` with axes (year, cohort) last, or ``(T, T)`` when
every series shares the lifetime (then all series are one BLAS product). Batch axes
broadcast numpy's way, so give size-1 axes where an array does not vary. Flows are per
year, stocks at the end of each year, in whatever unit the caller uses consistently.

>>> import numpy as np
>>> from mfa.stock import core
>>> years = np.arange(2020, 2026)
>>> sf = core.survival_matrix(lambda time, entry: np.exp(-(np.clip(time - entry, 0, None) / 4.0) ** 2), years)
>>> out = core.inflow_driven(np.array([10.0, 10, 10, 0, 0, 0]), sf)
>>> sorted(out)
['balance', 'cumulative_outflow', 'inflow', 'outflow', 'stock', 'stock_change']
>>> bool(np.allclose(out["stock"] + out["cumulative_outflow"], np.cumsum(out["inflow"])))
True
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from numpy.polynomial import legendre
from scipy.linalg import blas

log = logging.getLogger(__name__)

InflowAt = Literal["start", "middle", "end"]
_INFLOW_AT_POINT = {"start": 0.0, "middle": 0.5, "end": 1.0}


@dataclass(frozen=True)
class Discretisation:
    """Where in the year a cohort's inflow happens, for the survival matrix."""

    inflow_at: InflowAt = "end"
    """Point of inflow within the year when ``n_pts_per_interval == 1``."""
    n_pts_per_interval: int = 1
    """Gauss-Lobatto points per year (1 = a single point at ``inflow_at``; at most 10)."""

    def __post_init__(self):
        if self.inflow_at not in _INFLOW_AT_POINT:
            raise ValueError(
                f"inflow_at: expected one of {sorted(_INFLOW_AT_POINT)}, got {self.inflow_at!r}"
            )
        if not isinstance(self.n_pts_per_interval, int) or not 1 <= self.n_pts_per_interval <= 10:
            raise ValueError(
                f"n_pts_per_interval: expected an integer from 1 to 10, got {self.n_pts_per_interval!r}"
            )

    def points_and_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Points within the year (0 = its start, 1 = its end) and their weights (sum 1)."""
        n = self.n_pts_per_interval
        if n == 1:
            return np.array([_INFLOW_AT_POINT[self.inflow_at]]), np.array([1.0])
        # Gauss-Lobatto on [-1, 1]: the end points and the roots of P'_{n-1}.
        p_n1 = legendre.Legendre.basis(n - 1)
        nodes = np.concatenate([[-1.0], np.sort(p_n1.deriv().roots().real), [1.0]])
        weights = 2.0 / (n * (n - 1) * p_n1(nodes) ** 2)
        return (nodes + 1) / 2, weights / 2


def survival_matrix(
    survival: Callable[[np.ndarray, np.ndarray], np.ndarray],
    years,
    discretisation: Discretisation = Discretisation(),
    *,
    fresh: bool = False,
) -> np.ndarray:
    """``sf[..., t, c]``: share of cohort ``c`` in stock at the end of year ``t``.

    ``survival(time, entry)``: the share of items that entered at calendar time ``entry``
    still in use at ``time`` (years; year ``t`` spans [t, t + 1)); it gets ``time`` of shape
    (T, 1) (the end of each year) and ``entry`` of shape (1, T) (each cohort's point of
    inflow) and returns shape ``(*batch, T, T)`` or (T, T). For a lifetime that depends on
    age alone, ``lambda time, entry: S(time - entry)``; :class:`mfa.lifetimes.Lifetime`
    objects go through :func:`mfa.stock.survival_matrix`. With several points per year the
    survival is their weighted mean. Zero above the diagonal (cohorts not yet born).
    ``fresh``: ``survival`` returns a new array each call (as :mod:`mfa.lifetimes`'
    formulas do), which then becomes the result, zeroed above the diagonal in place.
    """
    years = np.asarray(years, float)
    time = years[:, None] + 1.0
    sf = None
    points, weights = discretisation.points_and_weights()
    for point, weight in zip(points, weights):
        share = np.asarray(survival(time, years[None, :] + point), float)
        share = share if weight == 1.0 else share * weight  # one point: no pass over the matrices
        sf = share if sf is None else sf + share
    unborn = years[:, None] < years[None, :]
    own = fresh or points.size > 1  # else the caller's array, which must not change
    if own and sf.flags.writeable and sf.shape == np.broadcast_shapes(sf.shape, unborn.shape):
        np.copyto(sf, 0.0, where=unborn)
        return sf
    return np.where(unborn, 0.0, sf)


def outflow_matrix(sf: np.ndarray) -> np.ndarray:
    """``P[..., t, c]``: share of cohort ``c`` leaving in year ``t``: ``sf[t-1, c] - sf[t, c]``
    below the diagonal, ``1 - sf[c, c]`` on it (the inflow year)."""
    present = np.zeros_like(sf)  # share present before each year's outflow
    present[..., 1:, :] = sf[..., :-1, :]
    diagonal = np.einsum("...ii->...i", present)  # a writable view of the diagonal
    diagonal[...] = 1.0
    present -= sf
    return present


def stock_change(stock: np.ndarray, initial=0.0) -> np.ndarray:
    """``stock[t] - stock[t-1]`` along the first axis, ``initial`` before the first year."""
    change = np.empty_like(stock)
    change[0] = stock[0] - initial
    np.subtract(stock[1:], stock[:-1], out=change[1:])
    return change


def largest_abs(values: np.ndarray) -> float:
    """Largest absolute value (two reductions, no temporary array); NaN when any value
    is NaN, so that a hole in a balance is never hidden; 0 for no values."""
    # np.maximum, not the built-in max: max(1.0, nan) is 1.0, which would hide the NaN;
    # abs, as np.maximum(0.0, -0.0) is -0.0
    return abs(float(np.maximum(values.max(), -values.min()))) if values.size else 0.0


class Result(dict):
    """A model's arrays by name (a plain dict of numpy arrays), and in ``errors`` the
    largest absolute ``balance`` (``max_abs_balance_error``) and that error relative to
    the largest stock, or to the largest flow when the stock is zero throughout
    (``max_rel_balance_error``). Without the derived arrays (``derived=False``),
    :func:`derive` computes them."""

    errors: dict[str, float]


DERIVED = ("stock_change", "balance", "cumulative_outflow")
"""The arrays a result derives from its stock, inflow and outflow."""

# Elements per block when deriving stock change, balance and retired to date: a block of
# each array (1 MiB) is still in cache when the next operation reads it, so each large
# array is read from memory once instead of once per operation (at 100,000 series,
# memory traffic is the cost, not arithmetic). Blocks are whole years (rows), which are
# contiguous in the year-first layout; a small problem is one block.
_BLOCK_ELEMENTS = 2**17

# Series up to which retired to date is one np.cumsum down the year axis; wider arrays
# are summed row by row, as np.cumsum's inner loop then strides across long rows (3x
# slower at 100,000 series), while on narrow ones the row loop's per-call cost dominates
# (20x slower at 1 series). Measured crossover: about 512 series.
_CUMSUM_WIDTH = 256


def _balance_pass(out: dict, derived: dict | None) -> dict[str, float]:
    """One pass over blocks of years: the balance errors of ``out``, and with ``derived``
    (a dict to fill) its stock change, balance and retired to date. Without it, only
    block-sized scratch arrays are written (the check costs one read of each array).
    A NaN anywhere in the balance makes ``max_abs_balance_error`` NaN."""
    shape = out["stock"].shape
    n_years, width = shape[0], math.prod(shape[1:])
    # (T, *batch) as they are: a reshape to (T, width) would copy arrays laid out year-in-the-middle (apply's year_at)
    stock, inflow, outflow = (out[k] for k in ("stock", "inflow", "outflow"))
    rows = max(1, _BLOCK_ELEMENTS // max(width, 1))
    if derived is None:  # one block of each, reused
        change, balance = (np.empty((min(rows, n_years), *shape[1:])) for _ in range(2))
    else:
        change, balance, cumulative = (np.empty(shape) for _ in DERIVED)
    largest_balance = largest_stock = 0.0
    for first in range(0, n_years, rows):  # no temporaries: arrays this size would be fresh pages each time
        last = min(first + rows, n_years)
        s = stock[first:last]
        block = slice(first, last) if derived is not None else slice(0, last - first)
        c, b = change[block], balance[block]
        if first:  # the year before the block is still in cache
            np.subtract(s, stock[first - 1 : last - 1], out=c)
        else:
            c[0] = s[0]
            np.subtract(s[1:], s[:-1], out=c[1:])
        np.subtract(inflow[first:last], outflow[first:last], out=b)
        b -= c
        if derived is not None:
            _retired_to_date(outflow, cumulative, first, last)
        # np.maximum propagates a NaN; the built-in max would drop it (max(0.0, nan) is 0.0)
        largest_balance = np.maximum(largest_balance, largest_abs(b))
        largest_stock = np.maximum(largest_stock, largest_abs(s))
    if derived is not None:
        derived.update(stock_change=change, balance=balance, cumulative_outflow=cumulative)
    # Relative to the largest stock; to the flows only when nothing is ever in stock.
    scale = float(largest_stock) or float(np.maximum(largest_abs(inflow), largest_abs(outflow)))
    error = float(largest_balance)
    return {"max_abs_balance_error": error, "max_rel_balance_error": error / scale if scale > 0 else error}


def _retired_to_date(outflow: np.ndarray, cumulative: np.ndarray, first: int, last: int) -> None:
    """``cumulative[first:last]``: the outflow (T, *batch) summed from the first year,
    given the rows before ``first``."""
    if outflow[0].size <= _CUMSUM_WIDTH:
        np.cumsum(outflow[first:last], axis=0, out=cumulative[first:last])
        if first:
            cumulative[first:last] += cumulative[first - 1]
        return
    for t in range(first, last):
        if t:
            np.add(cumulative[t - 1], outflow[t], out=cumulative[t])
        else:
            cumulative[0] = outflow[0]


def _with_balance(out: dict, derived: bool = True, check: bool = True) -> Result:
    """``out`` as a :class:`Result` with its balance errors and, with ``derived``, the
    arrays of :data:`DERIVED`: ``stock_change``, ``balance`` (inflow - outflow - stock
    change, ~0) and ``cumulative_outflow`` (retired to date, a stock). Without ``derived``
    or ``check``, neither: ``errors`` is empty, for a caller that checks the balance of
    these very arrays itself (the model checks every declared process,
    :func:`mfa.invariants.check_results`).

    Raises ``ValueError`` when the balance holds a NaN: a NaN or an infinity in an input
    or in the survival matrix, which must not pass as a result."""
    result = Result(out)
    if not (derived or check):
        result.errors = {}
        return result
    result.errors = _balance_pass(out, result if derived else None)
    if math.isnan(result.errors["max_abs_balance_error"]):
        raise ValueError(
            "balance (inflow - outflow - stock change): found NaN; an input or the survival "
            "matrix holds NaN or an infinity"
        )
    return result


def derive(result: dict) -> dict[str, np.ndarray]:
    """The arrays of :data:`DERIVED` of a result computed with ``derived=False``."""
    arrays: dict[str, np.ndarray] = {}
    _balance_pass(result, arrays)
    return arrays


def _batch_first(series: np.ndarray) -> np.ndarray:
    return np.moveaxis(series, 0, -1)


def _year_first(values: np.ndarray, by_cohort: bool = False) -> np.ndarray:
    return np.moveaxis(values, (-2, -1), (0, 1)) if by_cohort else np.moveaxis(values, -1, 0)


def _empty(shape: tuple[int, ...], year_at: int = 0) -> np.ndarray:
    """An uninitialised array of ``shape`` (T, *batch) whose year axis lies after the first
    ``year_at`` batch axes in memory (0: C order)."""
    laid_out = np.empty((*shape[1 : 1 + year_at], shape[0], *shape[1 + year_at :]))
    return np.moveaxis(laid_out, year_at, 0)


def apply(matrices: list[np.ndarray], series: np.ndarray, year_at: int = 0, summed: tuple[int, ...] = ()) -> list[np.ndarray]:
    """``m @ series`` over the cohort axis for each matrix ``m``: ``out[t] = sum over c of
    m[..., t, c] * series[c, ...]``, summed over the batch axes ``summed`` (positions
    among the batch axes; they stay, of size 1).

    ``series``: ``(T, *batch)``. A (T, T) matrix serves every series in one BLAS product;
    ``(*batch, T, T)`` ones broadcast with the series. Returns arrays of the broadcast
    shape ``(T, *batch)`` (all the same), in the order of ``matrices``, C-ordered with the
    year axis moved to position ``year_at`` (0: as returned): a caller whose arrays put
    the year after some of their batch dims gets its own layout, not a strided view.
    The sum over an axis the matrices vary along is part of the product (the matrices of
    that axis side by side, their series stacked): no array of the axis' size is built.
    """
    n_years, rank = series.shape[0], series.ndim - 1
    matrices = [m.reshape((1,) * (rank + 2 - m.ndim) + m.shape) for m in matrices]
    batch = np.broadcast_shapes(series.shape[1:], *(m.shape[:-2] for m in matrices))
    varies = [i for i in range(rank) if any(m.shape[i] != 1 for m in matrices)]
    before = tuple(i for i in summed if i not in varies)  # the same matrices all along: summed first
    if before:
        series = _summed_series(series, (n_years, *batch), before)
        batch = tuple(1 if i in before else n for i, n in enumerate(batch))
    if not varies:
        flat = series.reshape(n_years, math.prod(batch))
        products = [_product(m.reshape(n_years, n_years), flat).reshape(series.shape) for m in matrices]
        return products if year_at == 0 else [_broadcast(p, p.shape, year_at, copy=True) for p in products]
    # The series that share a matrix are the columns of one product (BLAS gemm), not a
    # matrix-vector product each. Its columns are the axes no matrix varies along that
    # follow the year in the results' layout: the product is then written straight into
    # the results (copying a product into a layout with the year in the middle cost
    # more than the product). Only when no such axis is left, and the series do share
    # matrices, are all shared axes the columns and the product copied into place.
    inner = [i for i in varies if i in summed]
    keep = [i for i in range(rank) if i not in inner]
    tail: list[int] = []
    for i in reversed([i for i in keep if i >= year_at]):
        if i in varies:
            break
        tail.insert(0, i)
    if not tail and len(varies) < rank:
        tail = [i for i in keep if i not in varies]
    rows = [i for i in keep if i not in tail]
    depth = n_years * math.prod(batch[i] for i in inner)  # the product's inner dimension
    width = math.prod(batch[i] for i in tail)
    columns = np.broadcast_to(series, (n_years, *batch)).transpose([1 + i for i in (*rows, *inner)] + [0] + [1 + i for i in tail])
    columns = columns.reshape(tuple(batch[i] for i in rows) + (depth, width))
    out_batch = tuple(1 if i in inner else n for i, n in enumerate(batch))
    results = []
    for m in matrices:
        # (rows..., T, inner..., T): a year's row runs over the cohorts of every inner position
        m = np.broadcast_to(m, tuple(batch[i] if i in inner else n for i, n in enumerate(m.shape[:-2])) + m.shape[-2:])
        own = m.transpose([*rows, rank, *inner, rank + 1, *tail]).reshape(tuple(m.shape[i] for i in rows) + (n_years, depth))
        out = _empty((n_years, *out_batch), year_at)
        flat = out[(slice(None), *(0 if i in inner else slice(None) for i in range(rank)))]
        view = flat.transpose([1 + keep.index(i) for i in rows] + [0] + [1 + keep.index(i) for i in tail])
        target = view.reshape(view.shape[: len(rows) + 1] + (width,))
        if np.may_share_memory(target, out):  # the tail axes are the results' last ones
            np.matmul(own, columns, out=target)
        else:
            np.copyto(view, (own @ columns).reshape(view.shape))
        results.append(out)
    return results


def _summed_series(series: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """``series`` broadcast to ``shape`` (T, *batch) and summed over the batch ``axes``
    (kept, of size 1), without building the broadcast array: a series that is constant
    along an axis counts once per position of it."""
    if not axes:
        return series
    along = tuple(1 + i for i in axes)
    total = series.sum(axis=tuple(a for a in along if series.shape[a] != 1), keepdims=True)
    return total * math.prod(shape[a] for a in along if series.shape[a] == 1)


def _product(matrix: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """``matrix @ flat`` for (T, T) and (T, M). The engine's matrices are lower triangular
    (nothing flows before a cohort's inflow year): BLAS ``trmm`` then does half the
    arithmetic of a full product, on the transposed system as :func:`_solve_lower`."""
    if np.any(np.triu(matrix, 1)):
        return matrix @ flat
    return blas.dtrmm(1.0, matrix, flat.T, side=1, lower=1, trans_a=1).T


def inflow_driven(
    inflow: np.ndarray,
    sf: np.ndarray,
    by_cohort: bool = False,
    derived: bool = True,
    year_at: int = 0,
    summed: tuple[int, ...] = (),
    check: bool = True,
) -> Result:
    """Stock and outflow from inflow: ``stock = sf @ inflow``, ``outflow = P @ inflow``.

    ``inflow``: ``(T, *batch)``, per year. ``sf``: (T, T) or ``(*batch, T, T)``. Returns arrays of
    the broadcast shape ``(T, *batch)``: ``inflow``, ``stock``, ``outflow``, ``stock_change``,
    ``balance``, ``cumulative_outflow``; with ``by_cohort`` also ``stock_by_cohort`` and
    ``outflow_by_cohort`` of shape ``(T, T, *batch)`` (year, cohort, ...). With
    ``derived=False``, ``stock_change``, ``balance`` and ``cumulative_outflow`` are left
    out (the balance is still checked, into ``errors``, unless ``check=False``: see
    :func:`_with_balance`); :func:`derive` computes them. ``year_at``: the arrays'
    memory layout; ``summed``: batch axes every array is summed over, of size 1 in the
    results (:func:`apply`; not with ``by_cohort``).
    """
    if by_cohort and summed:
        raise ValueError("summed: the arrays by cohort are not summed; leave out by_cohort or summed")
    leaving = outflow_matrix(sf)
    stock, outflow = apply([sf, leaving], inflow, year_at, summed)
    out = {"inflow": _summed_inflow(inflow, sf.shape, stock.shape, year_at, summed), "stock": stock, "outflow": outflow}
    if by_cohort:
        row = _batch_first(inflow)[..., None, :]
        out["stock_by_cohort"] = _year_first(sf * row, by_cohort=True)
        out["outflow_by_cohort"] = _year_first(leaving * row, by_cohort=True)
    return _with_balance(out, derived, check)


def replacement_matrix(sf_product: np.ndarray, sf_component: np.ndarray, replace: np.ndarray, renewal: bool = False) -> np.ndarray:
    """``R[..., t, c]``: components replaced in year ``t`` per product of cohort ``c``.

    A component fails by its own lifetime (``sf_component``, by the year the component
    was installed); it is replaced when its product is still in use at the end of the year
    (``sf_product``) and ``replace[..., t, c]`` is true (e.g. the product is young enough).
    Without ``renewal`` only the original component is replaced, at most once (the
    replacement is taken to outlive the product); with it, every failure is replaced,
    the replacement failing by the lifetime of its own installation year: the failures
    per original component solve the renewal equation ``m = P e_c + P m`` (``P`` the
    component's outflow matrix), i.e. ``M = (I - P)^-1 P``. All ``(..., T, T)``, broadcasting.
    """
    fails = outflow_matrix(sf_component)
    if renewal:
        if np.any(np.einsum("...ii->...i", fails) >= 1):
            raise ValueError("component_lifetime: no component survives its inflow year, so replacement never ends")
        fails = np.linalg.solve(np.eye(fails.shape[-1]) - fails, fails)
    shape = np.broadcast_shapes(sf_product.shape, fails.shape, replace.shape)
    out = fails if fails.shape == shape else np.empty(shape)  # fails is this function's own array
    np.multiply(fails, sf_product, out=out)
    return np.multiply(out, replace, out=out)


def product_component(
    product_inflow: np.ndarray,
    sf_product: np.ndarray,
    sf_component: np.ndarray,
    replace: np.ndarray,
    renewal: bool = False,
    derived: bool = True,
    year_at: int = 0,
    summed: tuple[int, ...] = (),
    check: bool = True,
) -> Result:
    """Stock and flows of a component, one in each product (e.g. a battery pack in a car).

    ``product_inflow``: ``(T, *batch)``, products (or their components' amount, e.g. kWh) per
    year. ``sf_product``, ``sf_component``, ``replace``: see :func:`replacement_matrix`.
    Returns, shape ``(T, *batch)``: ``inflow_new`` (with new products), ``inflow_replacement``,
    ``inflow`` (their sum), ``stock`` (one in each product in use), ``outflow_with_product``
    (in the products retired), ``outflow_failed`` (the failed components replaced),
    ``outflow``, and ``stock_change``, ``balance``, ``cumulative_outflow`` as
    :func:`inflow_driven` (``derived``, ``year_at``, ``summed`` and ``check`` as there). A failed component that
    is not replaced stays in its product until the product is retired.
    """
    replaced = replacement_matrix(sf_product, sf_component, replace, renewal)
    stock, with_product, replacement = apply([sf_product, outflow_matrix(sf_product), replaced], product_inflow, year_at, summed)
    new = _summed_inflow(product_inflow, replaced.shape, stock.shape, year_at, summed)  # replaced: all three matrices' broadcast
    out = {
        "inflow_new": new,
        "inflow_replacement": replacement,
        "inflow": new + replacement,
        "stock": stock,
        "outflow_with_product": with_product,
        "outflow_failed": replacement,
        "outflow": with_product + replacement,
    }
    return _with_balance(out, derived, check)


def _summed_inflow(inflow: np.ndarray, matrix_shape, shape: tuple[int, ...], year_at: int, summed: tuple[int, ...]) -> np.ndarray:
    """The inflow as the results of :func:`apply` lay it out: summed over the ``summed``
    batch axes of its broadcast with the matrices (of shape ``matrix_shape``), at ``shape``."""
    if summed:
        batch = np.broadcast_shapes(inflow.shape[1:], tuple(matrix_shape)[:-2])
        inflow = _summed_series(inflow, (inflow.shape[0], *batch), summed)
    return _broadcast(inflow, shape, year_at)


def _broadcast(values: np.ndarray, shape: tuple[int, ...], year_at: int = 0, copy: bool = False) -> np.ndarray:
    """``values`` at ``shape``: itself when it has it (unless ``copy``), else a writable
    copy (results are the caller's to change), laid out as :func:`_empty`."""
    if values.shape == shape and not copy:
        return values
    out = _empty(shape, year_at)
    np.copyto(out, values)
    return out


def stock_driven(
    stock: np.ndarray,
    sf: np.ndarray,
    known: np.ndarray | None = None,
    *,
    retire: bool = True,
    by_cohort: bool = False,
    derived: bool = True,
) -> Result:
    """Inflow and outflow that keep the stock: ``sf @ inflow = stock``, solved year by year.

    ``stock``: ``(T, *batch)``, at the end of each year. ``sf``: (T, T) or ``(*batch, T, T)``.
    ``known``: optional ``(H, *batch)``, the inflows of the first H (historic) years, which
    then are not solved for (the stock of those years is what their cohorts leave).
    ``retire``: when the stock falls faster than the lifetime retires items, keep the
    inflow at zero and retire the surplus from every cohort by the same fraction (ODYM's
    correction, reported as ``early_retirement`` and part of ``outflow``); otherwise the
    inflow goes negative. Returns the arrays of :func:`inflow_driven` plus
    ``early_retirement``, all of the broadcast shape ``(T, *batch)`` (``derived`` as there).
    """
    if known is None:
        known = np.zeros((0,) + stock.shape[1:])
    if sf.ndim == 2:
        out = _solve_shared(sf, stock, known, retire, by_cohort)
    else:
        again = _cohort_recursion(sf, _batch_first(stock), _batch_first(known), retire, by_cohort)
        out = {k: _year_first(v, by_cohort=k.endswith("_by_cohort")) for k, v in again.items()}
        n_known = known.shape[0]
        out["stock"][n_known:] = stock[n_known:]  # the prescribed stock stands
    return _with_balance(out, derived)


def _solve_shared(sf: np.ndarray, stock: np.ndarray, known: np.ndarray, retire: bool, by_cohort: bool) -> dict:
    """The shared-lifetime case: all series are the columns of one matrix.

    One LAPACK triangular solve gives every inflow and one matrix product every outflow;
    :func:`_cohort_recursion` redoes only the columns that need the retirement correction
    (or that a zero survival in the inflow year leaves singular).
    """
    batch = np.broadcast_shapes(stock.shape[1:], known.shape[1:])
    n_years, n_known = stock.shape[0], known.shape[0]
    target = _broadcast(stock, (n_years,) + batch).reshape(n_years, math.prod(batch))  # a view when stock is C-ordered
    leaving = outflow_matrix(sf)
    singular = bool(np.any(np.diag(sf)[n_known:] == 0))
    if n_known == 0 and not singular:  # the common case: the solve's result is the inflow
        inflow = _solve_lower(sf, target)
    else:
        inflow = np.zeros_like(target)
        inflow[:n_known] = np.broadcast_to(known, (n_known,) + batch).reshape(n_known, inflow.shape[1])
        if n_years > n_known and not singular:
            rhs = target[n_known:] - sf[n_known:, :n_known] @ inflow[:n_known]
            inflow[n_known:] = _solve_lower(sf[n_known:, n_known:], rhs)
    out = {
        "inflow": inflow,
        "outflow": _product(leaving, inflow),
        "early_retirement": np.zeros(inflow.shape),  # calloc: costs nothing until written
        "stock": np.concatenate([sf[:n_known] @ inflow, target[n_known:]]) if n_known else target,
    }
    if by_cohort:
        out["stock_by_cohort"] = sf[:, :, None] * inflow[None, :, :]
        out["outflow_by_cohort"] = leaving[:, :, None] * inflow[None, :, :]
    falls = retire and inflow[n_known:].size > 0 and inflow[n_known:].min() < 0  # one pass; columns only if needed
    redo = np.ones(inflow.shape[1], bool) if singular else (inflow[n_known:] < 0).any(axis=0) if falls else None
    if redo is not None and redo.any():
        log.debug("%d of %d series redone year by year (%s)", redo.sum(), redo.size, "singular" if singular else "stock falls")
        again = _cohort_recursion(sf, target[:, redo].T, inflow[:n_known, redo].T, retire, by_cohort)
        for name, values in again.items():
            if name != "stock":  # the prescribed stock stands
                out[name][..., redo] = np.moveaxis(values, 0, -1)
    return {name: values.reshape(values.shape[:-1] + batch) for name, values in out.items()}


def _solve_lower(sf: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``x`` with ``sf @ x = rhs`` for lower-triangular ``sf`` (T, T) and ``rhs`` (T, M).

    BLAS ``trsm`` on the transposed system ``x.T @ sf.T = rhs.T``: a year-first (C-ordered)
    ``rhs`` is then already in the column-major layout BLAS wants, so the only copy is the
    output itself (``solve_triangular`` would first copy ``rhs`` to column-major).
    """
    return blas.dtrsm(1.0, sf, rhs.T, side=1, lower=1, trans_a=1).T


def _cohort_recursion(sf: np.ndarray, stock: np.ndarray, known: np.ndarray, retire: bool, by_cohort: bool) -> dict:
    """Year by year over the stock of each cohort, vectorised over leading batch axes.

    ``sf``: ``(..., T, T)``; ``stock``: (..., T); ``known``: (..., H) inflows of the first H
    (historic) years. After them, each year's inflow makes up what the surviving cohorts
    lack. With ``retire``, a year whose stock falls below what survives gets no inflow and
    the surplus leaves every cohort by the same fraction, which carries on into their
    future survival (ODYM's correction); a stock that falls to zero empties every cohort
    and later cohorts start afresh. Returns ``inflow``, ``outflow``, ``early_retirement``
    and ``stock`` (..., T), and with ``by_cohort`` ``stock_by_cohort`` and
    ``outflow_by_cohort`` ``(..., T, T)``, batch axes first.
    """
    batch = np.broadcast_shapes(sf.shape[:-2], stock.shape[:-1], known.shape[:-1])
    n_years, n_known = stock.shape[-1], known.shape[-1]
    out = {name: np.zeros(batch + (n_years,)) for name in ("inflow", "outflow", "early_retirement", "stock")}
    if by_cohort:
        out["stock_by_cohort"] = np.zeros(batch + (n_years, n_years))
        out["outflow_by_cohort"] = np.zeros(batch + (n_years, n_years))
    cohorts = np.zeros(batch + (n_years,))  # stock of each cohort at the end of the previous year
    for t in range(n_years):
        previous = sf[..., t - 1, :t] if t else sf[..., :0, :0].reshape(sf.shape[:-2] + (0,))
        ratio = np.divide(sf[..., t, :t], previous, out=np.zeros(np.broadcast_shapes(previous.shape)), where=previous > 0)
        surviving = cohorts[..., :t] * ratio
        remaining = surviving.sum(axis=-1)
        diagonal = np.broadcast_to(sf[..., t, t], batch)
        if t < n_known:
            inflow, factor, early = np.broadcast_to(known[..., t], batch), 1.0, 0.0
        else:
            need = np.broadcast_to(stock[..., t], batch) - remaining
            falls = (need < 0) & retire
            if np.any((diagonal == 0) & (need != 0) & ~falls):
                raise ValueError(f"lifetime: no item survives its inflow year, so no stock can be built (year index {t})")
            inflow = np.divide(need, diagonal, out=np.zeros(batch), where=(diagonal > 0) & ~falls)
            factor = np.where(falls, np.divide(stock[..., t], remaining, out=np.zeros(batch), where=falls), 1.0)
            early = np.where(falls, -need, 0.0)
        kept = surviving * np.expand_dims(factor, -1)
        new_in_stock = inflow * diagonal
        out["inflow"][..., t] = inflow
        out["early_retirement"][..., t] = early
        out["outflow"][..., t] = cohorts[..., :t].sum(axis=-1) - kept.sum(axis=-1) + inflow - new_in_stock
        out["stock"][..., t] = kept.sum(axis=-1) + new_in_stock
        if by_cohort:
            out["outflow_by_cohort"][..., t, :t] = cohorts[..., :t] - kept
            out["outflow_by_cohort"][..., t, t] = inflow - new_in_stock
        cohorts[..., :t] = kept
        cohorts[..., t] = new_in_stock
        if by_cohort:
            out["stock_by_cohort"][..., t, :] = cohorts
    return out
