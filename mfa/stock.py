"""Cohort stock models: inflow-driven and stock-driven, vectorised over every extra dim.

Discretisation (ODYM's, the default): time runs in whole years; the stock is measured at
the end of each year; flows happen during the year. A cohort is the inflow of one year.
``sf[t, c]`` is the share of cohort ``c`` still in stock at the end of year ``t``: with
``inflow_at="end"`` it is ``S(t - c)``, the lifetime's survival at the integer ages
0, 1, 2, ... The outflow of cohort ``c`` in year ``t`` is ``i[c] * (sf[t-1, c] - sf[t, c])``,
and ``i[c] * (1 - sf[c, c])`` in its inflow year.

Other discretisations follow flodym's options: ``inflow_at="middle"`` or ``"start"``
evaluates survival at ages ``t - c + 0.5`` or ``t - c + 1``; ``n_pts_per_interval=N``
(2 to 10) spreads each year's inflow over N Gauss-Lobatto points within the year and
averages their survival (``inflow_at`` is then ignored). Use it for lifetimes of a few
years or less, where the timing of inflow within the year matters.

Inputs are ``xr.DataArray`` s with a numeric ``year`` dim (step 1) and any other dims;
flows are per year. Every other dim is a batch dim: the maths is one matrix product or
one triangular solve for all of them, never a Python loop over series. Results are
``xr.Dataset`` s with ``stock``, ``inflow``, ``outflow``, ``stock_change`` and ``balance``
(``inflow - outflow - stock_change``), and with ``by_cohort=True`` ``stock_by_cohort`` and
``outflow_by_cohort`` (dims ``year``, ``cohort``). pint units pass through: a flow in
``t/yr`` gives a stock in ``t`` and back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr
from numpy.polynomial import legendre
from scipy.linalg import solve_triangular

from . import balance
from .lifetimes import Lifetime
from .units import is_quantified, is_rate, magnitude_and_unit, ureg

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
    lifetime: Lifetime, years, discretisation: Discretisation = Discretisation()
) -> xr.DataArray:
    """``sf[year, cohort]``: share of each cohort in stock at the end of each year.

    Dims: the lifetime's extra dims, then ``year``, ``cohort`` (both with ``years`` as
    coordinates); zero above the diagonal (cohorts not yet born). Dimensionless.
    """
    years = np.asarray(years)
    if set(lifetime.dims) <= {"cohort"}:
        return _survival_matrix_2d(lifetime, years, discretisation)
    lifetime = lifetime.sel_cohorts(years)
    year = xr.DataArray(years, dims="year", coords={"year": years})
    cohort = xr.DataArray(years, dims="cohort", coords={"cohort": years})
    elapsed = (year - cohort).astype(float)
    sf = 0.0
    for point, weight in zip(*discretisation.points_and_weights()):
        sf = sf + weight * lifetime.survival(elapsed + 1.0 - point)
    sf = xr.where(elapsed >= 0, sf, 0.0)
    return sf.transpose(..., "year", "cohort")


def _survival_matrix_2d(lifetime: Lifetime, years: np.ndarray, discretisation: Discretisation) -> xr.DataArray:
    """:func:`survival_matrix` of a lifetime that varies at most by cohort, in numpy: the
    same formulas (the distribution's own ``_survival``) on plain arrays, without
    xarray's alignment on a 2-D matrix that is rebuilt for every model."""
    plain = object.__new__(type(lifetime))  # the distribution's maths on numpy parameters
    for name, p in lifetime.sel_cohorts(years).params.items():
        object.__setattr__(plain, name, p.values[None, :] if "cohort" in p.dims else p.values)
    elapsed = (years[:, None] - years[None, :]).astype(float)
    sf = np.zeros(elapsed.shape)
    for point, weight in zip(*discretisation.points_and_weights()):
        age = elapsed + 1.0 - point
        sf += weight * np.where(age < 0, 1.0, type(lifetime)._survival(plain, age))
    sf[elapsed < 0] = 0.0
    return xr.DataArray(sf, dims=("year", "cohort"), coords={"year": years, "cohort": years})


def outflow_matrix(sf: xr.DataArray) -> xr.DataArray:
    """``P[year, cohort]``: share of each cohort leaving in each year, from ``sf``.

    ``sf[t-1, c] - sf[t, c]`` below the diagonal, ``1 - sf[c, c]`` on it.
    """
    if sf.dims == ("year", "cohort"):  # the common 2-D case, in numpy
        values = sf.values
        present = np.zeros_like(values)
        present[1:] = values[:-1]
        np.fill_diagonal(present, 1.0)
        return sf.copy(data=present - values)
    return _present_at_start(sf) - sf


def _present_at_start(sf: xr.DataArray) -> xr.DataArray:
    """Share of each cohort present before the year's outflow: 1 in its inflow year."""
    prev = sf.shift(year=1, fill_value=0.0)
    diagonal = sf["year"] == sf["cohort"]
    return xr.where(diagonal, 1.0, prev).transpose(*sf.dims)


# --- validation ------------------------------------------------------------------------


def _check_series(da, name: str) -> tuple[xr.DataArray, object]:
    da, unit = magnitude_and_unit(da, name)
    if "year" not in da.dims:
        raise ValueError(f"{name}: expected a 'year' dim, got dims {da.dims}")
    if "cohort" in da.dims:
        raise ValueError(f"{name}: the dim name 'cohort' is reserved for results")
    _check_years(da["year"].values, f"{name}: 'year'")
    values = da.values
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name}: expected numbers, got dtype {values.dtype}")
    lowest = np.min(values) if values.size else 0.0  # one pass: NaN propagates through min
    if np.isnan(lowest):
        raise ValueError(f"{name}: expected numbers, found NaN")
    if lowest < 0:
        raise ValueError(f"{name}: expected values >= 0, found a minimum of {lowest}")
    return (da if values.dtype == np.float64 else da.astype(float)), unit


def _check_years(years: np.ndarray, name: str) -> None:
    if not np.issubdtype(np.asarray(years).dtype, np.number):
        raise ValueError(f"{name}: expected numeric years, got {np.asarray(years).dtype}")
    if len(years) == 0:
        raise ValueError(f"{name}: expected at least one year")
    if len(years) > 1 and not np.all(np.diff(years) == 1):
        raise ValueError(f"{name}: expected years increasing by 1, got {list(years)}")


def _broadcast_check(*arrays: xr.DataArray, names: tuple[str, ...]) -> None:
    try:
        xr.align(*arrays, join="exact", exclude={"year", "cohort"})
    except ValueError as err:
        raise ValueError(f"{' and '.join(names)} do not broadcast: {err}") from err


def _flow_unit_of_stock(stock_unit):
    return None if stock_unit is None else stock_unit / ureg.year


def _stock_unit_of_flow(flow_unit, name: str):
    if flow_unit is None:
        return None
    if not is_rate(flow_unit):
        raise ValueError(f"{name}: expected a flow per year (e.g. 't/yr'), got units {flow_unit}")
    return flow_unit * ureg.year


# --- numpy kernels ---------------------------------------------------------------------


def _cohort_recursion(sf: np.ndarray, stock: np.ndarray, known: np.ndarray, retire: bool, by_cohort: bool) -> dict:
    """Year by year over the stock of each cohort, vectorised over leading batch axes.

    ``sf``: (..., T, T); ``stock``: (..., T); ``known``: (..., H) inflows of the first H
    (historic) years. After them, each year's inflow makes up what the surviving cohorts
    lack. With ``retire``, a year whose stock falls below what survives gets no inflow and
    the surplus leaves every cohort by the same fraction, which carries on into their
    future survival (ODYM's correction); a stock that falls to zero empties every cohort
    and later cohorts start afresh. Returns ``inflow``, ``outflow``, ``early_retirement``
    and ``stock`` (..., T), and with ``by_cohort`` ``stock_by_cohort`` and
    ``outflow_by_cohort`` (..., T, T).
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


def _as_batched(da: xr.DataArray, batch_dims: list[str], tail: tuple[str, ...]) -> np.ndarray:
    """``da``'s values with axes ``batch_dims`` (size 1 where ``da`` lacks one) + ``tail``."""
    own = [d for d in batch_dims if d in da.dims]
    values = da.transpose(*own, *tail).values
    shape = [da.sizes[d] if d in da.dims else 1 for d in batch_dims] + [da.sizes[d] for d in tail]
    return values.reshape(shape)


def _matvec(matrix: xr.DataArray, vector: xr.DataArray) -> xr.DataArray:
    """``sum over cohort of matrix[..., year, cohort] * vector[cohort, ...]``."""
    if set(matrix.dims) == {"year", "cohort"}:
        v = vector.transpose("cohort", ...)
        out = matrix.transpose("year", "cohort").values @ v.values.reshape(v.sizes["cohort"], -1)
        coords = {k: c for k, c in v.coords.items() if "cohort" not in c.dims}
        coords["year"] = matrix["year"]
        return xr.DataArray(
            out.reshape((matrix.sizes["year"],) + v.shape[1:]),
            dims=("year",) + v.dims[1:],
            coords=coords,
        )
    return xr.dot(matrix, vector, dim="cohort").transpose("year", ...)


# --- public models ---------------------------------------------------------------------


def inflow_driven(
    inflow: xr.DataArray,
    lifetime: Lifetime,
    *,
    by_cohort: bool = False,
    inflow_at: InflowAt = "end",
    n_pts_per_interval: int = 1,
) -> xr.Dataset:
    """Stock and outflow from inflow and lifetime.

    ``inflow``: dims ``year`` + any; per year (e.g. ``vehicle/yr``), >= 0.
    Returns the dataset described in the module docstring; the stock is in the inflow's
    unit times a year.
    """
    inflow, unit = _check_series(inflow, "inflow")
    stock_unit = _stock_unit_of_flow(unit, "inflow")
    disc = Discretisation(inflow_at, n_pts_per_interval)
    sf = survival_matrix(lifetime, inflow["year"].values, disc)
    _broadcast_check(sf, inflow, names=("lifetime", "inflow"))
    cohort_inflow = inflow.rename(year="cohort")
    ds = xr.Dataset(
        {
            "inflow": inflow,
            "stock": _matvec(sf, cohort_inflow),
            "outflow": _matvec(outflow_matrix(sf), cohort_inflow),
        }
    )
    if by_cohort:
        ds["stock_by_cohort"] = sf * cohort_inflow
        ds["outflow_by_cohort"] = outflow_matrix(sf) * cohort_inflow
    return _finish(ds, flow_unit=unit, stock_unit=stock_unit)


def inflow_from_stock_by_cohort(
    stock_by_cohort: xr.DataArray,
    lifetime: Lifetime,
    *,
    inflow_at: InflowAt = "end",
    n_pts_per_interval: int = 1,
) -> xr.DataArray:
    """Back-calculate the inflow of each cohort from the stock by cohort at the end of its
    last year (ODYM's ``compute_i_from_s``).

    ``stock_by_cohort``: dims ``cohort`` (consecutive years) + any. Returns inflow with
    dim ``year`` in place of ``cohort``: ``i[c] = s[c] / sf[last, c]``, 0 where the stock is
    0. A cohort that holds stock although the lifetime says none of it survives is an
    error.
    """
    values, unit = magnitude_and_unit(stock_by_cohort, "initial_stock_by_cohort")
    if "cohort" not in values.dims:
        raise ValueError(f"initial_stock_by_cohort: expected a 'cohort' dim, got {values.dims}")
    as_series = values.rename(cohort="year")
    as_series, _ = _check_series(as_series, "initial_stock_by_cohort")
    years = as_series["year"].values
    sf = survival_matrix(lifetime, years, Discretisation(inflow_at, n_pts_per_interval))
    surviving = sf.isel(year=-1, drop=True).rename(cohort="year")
    if bool(((surviving == 0) & (as_series > 0)).any()):
        raise ValueError(
            "initial_stock_by_cohort: a cohort holds stock although the lifetime leaves none "
            "of it by the last historic year"
        )
    inflow = (as_series / surviving.where(surviving > 0)).fillna(0.0)
    return inflow if unit is None else inflow.pint.quantify(unit / ureg.year, unit_registry=ureg)


def stock_driven(
    stock: xr.DataArray,
    lifetime: Lifetime,
    initial_stock_by_cohort: xr.DataArray | None = None,
    *,
    negative_inflow: Literal["retire", "allow"] = "retire",
    by_cohort: bool = False,
    inflow_at: InflowAt = "end",
    n_pts_per_interval: int = 1,
) -> xr.Dataset:
    """Inflow and outflow that keep the prescribed stock, given the lifetime.

    ``stock``: dims ``year`` + any; a stock (e.g. ``vehicle``), >= 0, at the end of each year.

    ``initial_stock_by_cohort``: optional, dims ``cohort`` + any: the stock of each historic
    cohort at the end of the last historic year. The historic inflows are back-calculated
    from it (:func:`inflow_from_stock_by_cohort`), reported as ``inflow`` over those years,
    and the stock of those years follows from them; ``stock`` is then used only for the
    years after. The result spans the historic and the prescribed years.

    ``negative_inflow``: when the stock falls faster than the lifetime retires items,
    ``"retire"`` (default) keeps inflow at zero and lets the surplus leave every cohort by
    the same fraction (reported as ``early_retirement``, part of ``outflow``); the
    prescribed stock is still met. ``"allow"`` keeps the negative inflow.
    """
    if negative_inflow not in ("retire", "allow"):
        raise ValueError(f"negative_inflow: expected 'retire' or 'allow', got {negative_inflow!r}")
    stock, unit = _check_series(stock, "stock")
    disc = Discretisation(inflow_at, n_pts_per_interval)
    years = stock["year"].values
    known = xr.DataArray(np.zeros(0), dims="year", coords={"year": years[:0]})
    if initial_stock_by_cohort is not None:
        if is_quantified(initial_stock_by_cohort) != (unit is not None):
            raise ValueError("initial_stock_by_cohort and stock: mixed quantified and plain numbers")
        if unit is not None:
            initial_stock_by_cohort = initial_stock_by_cohort.pint.to(unit)
        known = inflow_from_stock_by_cohort(
            initial_stock_by_cohort, lifetime, inflow_at=inflow_at, n_pts_per_interval=n_pts_per_interval
        )
        known, _ = magnitude_and_unit(known, "initial_stock_by_cohort")
        years = np.arange(known["year"].values[0], max(years[-1], known["year"].values[-1]) + 1)
        if stock["year"].values[0] > known["year"].values[-1] + 1:
            raise ValueError(
                "stock: expected years from the year after the last historic cohort "
                f"({known['year'].values[-1] + 1}), got {stock['year'].values[0]} onwards"
            )
        stock = stock.reindex(year=years, fill_value=0.0)
    sf = survival_matrix(lifetime, years, disc)
    _broadcast_check(sf, stock, known, names=("lifetime", "stock", "initial_stock_by_cohort"))
    solved = _solve(sf, stock, known, retire=negative_inflow == "retire", by_cohort=by_cohort)
    n_known = known.sizes["year"]
    if n_known:  # the historic years' stock follows from their cohorts; the rest is as prescribed
        solved["stock"] = xr.concat([solved["stock"].isel(year=slice(None, n_known)), stock.isel(year=slice(n_known, None))], "year")
    else:
        solved["stock"] = stock
    return _finish(xr.Dataset(solved), flow_unit=_flow_unit_of_stock(unit), stock_unit=unit)


def _solve(sf: xr.DataArray, stock: xr.DataArray, known: xr.DataArray, retire: bool, by_cohort: bool) -> dict:
    """Inflow, outflow, early retirement and stock (and cohort arrays) as DataArrays.

    When the lifetime has no extra dims, one LAPACK triangular solve serves every series
    (:func:`_solve_shared`); otherwise :func:`_cohort_recursion` runs for all series.
    """
    batch_dims = list(dict.fromkeys([*sf.dims[:-2], *[d for d in stock.dims if d != "year"], *[d for d in known.dims if d != "year"]]))
    coords = {"year": stock["year"], "cohort": xr.DataArray(stock["year"].values, dims="cohort")}
    for source in (sf, stock, known):
        coords.update(
            {k: c for k, c in source.coords.items() if k not in ("year", "cohort") and set(c.dims) <= set(batch_dims)}
        )
    if sf.ndim == 2:
        out, batch_dims = _solve_shared(sf, stock, known, retire, by_cohort)
        layout = lambda extra: ("year", *extra, *batch_dims)  # noqa: E731
    else:
        stock_np = _as_batched(stock, batch_dims, ("year",))
        known_np = _as_batched(known, batch_dims, ("year",))
        sf_np = _as_batched(sf, batch_dims, ("year", "cohort"))
        out = _cohort_recursion(sf_np, stock_np, known_np, retire, by_cohort)
        layout = None
    result = {}
    for name, values in out.items():
        cohort = ("cohort",) if name.endswith("_by_cohort") else ()
        dims = layout(cohort) if layout else (*batch_dims, "year", *cohort)
        da = xr.DataArray(values, dims=dims, coords={k: v for k, v in coords.items() if set(v.dims) <= set(dims)})
        result[name] = da.transpose("year", ...)
    return result


def _solve_shared(sf: xr.DataArray, stock: xr.DataArray, known: xr.DataArray, retire: bool, by_cohort: bool):
    """The shared-lifetime case, year-first: all series are the columns of one matrix.

    One LAPACK triangular solve gives every inflow and one matrix product every outflow;
    :func:`_cohort_recursion` redoes only the columns that need the retirement correction
    (or that a zero survival in the inflow year leaves singular). Arrays come back with
    axes (year, [cohort,] batch...), and the batch dims in their order.
    """
    if set(known.dims) - set(stock.dims):
        stock = stock.broadcast_like(known.isel(year=0, drop=True))
    batch_dims = [d for d in stock.dims if d != "year"]
    shape = tuple(stock.sizes[d] for d in batch_dims)
    n_years, n_known = stock.sizes["year"], known.sizes["year"]
    target = stock.transpose("year", *batch_dims).values.reshape(n_years, -1)  # a view when year comes first
    matrix, leaving = sf.transpose("year", "cohort").values, outflow_matrix(sf).transpose("year", "cohort").values
    singular = bool(np.any(np.diag(matrix)[n_known:] == 0))
    if n_known == 0 and not singular:  # the common case: LAPACK's result is the inflow, no copy
        inflow = solve_triangular(matrix, target, lower=True, check_finite=False)
    else:
        inflow = np.zeros_like(target)
        if n_known:
            history = known.broadcast_like(stock.isel(year=0, drop=True)).transpose("year", *batch_dims)
            inflow[:n_known] = history.values.reshape(n_known, -1)
        if n_years > n_known and not singular:
            rhs = target[n_known:] - matrix[n_known:, :n_known] @ inflow[:n_known]
            inflow[n_known:] = solve_triangular(matrix[n_known:, n_known:], rhs, lower=True, check_finite=False)
    out = {
        "inflow": inflow,
        "outflow": leaving @ inflow,
        "early_retirement": np.zeros(inflow.shape),  # calloc: costs nothing until written (zeros_like fills)
        "stock": np.concatenate([matrix[:n_known] @ inflow, target[n_known:]]) if n_known else target,
    }
    if by_cohort:
        out["stock_by_cohort"] = matrix[:, :, None] * inflow[None, :, :]
        out["outflow_by_cohort"] = leaving[:, :, None] * inflow[None, :, :]
    falls = retire and n_years > n_known and inflow[n_known:].min() < 0  # one pass; columns only if needed
    redo = np.ones(inflow.shape[1], bool) if singular else (inflow[n_known:] < 0).any(axis=0) if falls else None
    if redo is not None and redo.any():
        again = _cohort_recursion(matrix, target[:, redo].T, inflow[:n_known, redo].T, retire, by_cohort)
        for name, values in again.items():
            if name != "stock":  # the prescribed stock stands
                out[name][..., redo] = np.moveaxis(values, 0, -1)
    return {name: values.reshape(values.shape[:-1] + shape) for name, values in out.items()}, batch_dims


def _finish(ds: xr.Dataset, flow_unit, stock_unit) -> xr.Dataset:
    """Stock change, balance and its largest errors; then units back on."""
    ds["stock_change"] = change = balance.stock_change(ds["stock"])
    if ds["inflow"].dims == ds["outflow"].dims == change.dims:  # the usual case: plain arrays, in place
        net = ds["inflow"].values - ds["outflow"].values
        net -= change.values
        ds["balance"] = change.copy(data=net)
    else:
        ds["balance"] = ds["inflow"] - ds["outflow"] - change
    # Relative to the largest stock (the flows' scale too unless lifetimes are very short).
    reference = ds["stock"] if float(ds["stock"].max()) > 0 else ds[["inflow", "outflow"]]
    ds.attrs.update(balance.max_errors(ds["balance"], reference))
    ds = ds.transpose("year", ...)
    if flow_unit is None:
        return ds
    stock_vars = {"stock", "stock_change", "stock_by_cohort"}
    for name in ds.data_vars:
        unit = stock_unit if name in stock_vars else flow_unit
        if name == "stock_change":
            unit = flow_unit  # a change per year, as the other flows
        ds[name] = ds[name].pint.quantify(unit, unit_registry=ureg)
    return ds
