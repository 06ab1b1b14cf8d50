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

Lifetimes may also change by calendar year (:class:`mfa.lifetimes.CalendarChange`):
the survival of cohort ``c`` at the end of year ``t`` then depends on ``t`` as well as on
the age.

Inputs are ``xr.DataArray`` s with a numeric ``year`` dim (step 1) and any other dims;
flows are per year. Every other dim is a batch dim: the maths is one matrix product or
one triangular solve for all of them, never a Python loop over series. Results are
``xr.Dataset`` s with

- ``stock`` (end of year), ``inflow``, ``outflow``, ``stock_change`` (per year) and
  ``balance`` (``inflow - outflow - stock_change``, zero up to rounding; its largest
  absolute and relative values are in ``attrs``);
- ``cumulative_outflow``: retired to date, the outflow summed from the first year through
  each year, in the unit of a stock (``vehicle``, not ``vehicle/yr``): the "retired to
  date" of the literature, ``sum over cohorts s <= t of inflow(s) * (1 - sf[t, s])``;
- ``stock_driven`` also ``early_retirement`` (part of ``outflow``);
- with ``by_cohort=True``, ``stock_by_cohort`` and ``outflow_by_cohort`` (dims ``year``,
  ``cohort``, then the others).

Every variable has the same dims, ``year`` then the lifetime's other dims then the
series' (an inflow that does not vary by a lifetime's dim is repeated along it), so
``ds.to_dataframe()`` and :func:`mfa.tables.to_long` give one row per combination and
sums over rows are right. pint units pass through: a flow in ``t/yr`` gives a stock in
``t`` and back. A unit-less result of 8 MiB or more per variable computes
``stock_change``, ``balance`` and ``cumulative_outflow`` when one of them is first read
(shown as ``...`` until then); its balance is checked during the call all the same.

The maths runs on plain numpy arrays in :mod:`mfa.stock.core <mfa.stock_core>` (public:
call it directly to skip the xarray layer); this module checks inputs and labels once per
call and wraps the arrays. The fast path for a caller that holds plain arrays with known
dims (a model's inner step, a calibration loop): :func:`survival_array` lays a lifetime
out for them once, then ``core.stock_driven`` / ``core.inflow_driven`` /
``core.product_component`` run without xarray, pint or label checks (on one series the
maths is about a fifth of an xarray call's time, and the matrix can be reused)::

    sf = stock.survival_array(lifetime, years, dims=("region",))   # (region or 1, T, T), or (T, T)
    out = stock.core.stock_driven(stock_values, sf)                # stock_values: (T, region)
    out["inflow"], out["outflow"], out.errors["max_rel_balance_error"]
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing
from xarray.core.variable import calculate_dimensions
from xarray.indexes import PandasIndex

from . import stock_core as core
from .lifetimes import Lifetime, _as_param, _on_grid
from .stock_core import Discretisation, InflowAt
from .units import is_quantified, is_rate, magnitude_and_unit, ureg

__all__ = [
    "Discretisation",
    "core",
    "inflow_driven",
    "inflow_from_stock_by_cohort",
    "outflow_matrix",
    "product_component",
    "stock_driven",
    "survival_array",
    "survival_matrix",
]

log = logging.getLogger(__name__)


def survival_matrix(
    lifetime: Lifetime, years, discretisation: Discretisation = Discretisation()
) -> xr.DataArray:
    """``sf[year, cohort]``: share of each cohort in stock at the end of each year.

    Dims: the lifetime's extra dims, then ``year``, ``cohort`` (both with ``years`` as
    coordinates); zero above the diagonal (cohorts not yet born). Dimensionless.
    """
    years = np.asarray(years)
    return _as_dataarray(*_survival(lifetime, years, discretisation), years)


def survival_array(
    lifetime: Lifetime, years, dims=(), discretisation: Discretisation = Discretisation()
) -> np.ndarray:
    """The survival matrix as numpy, laid out for :mod:`mfa.stock.core` on series whose
    batch axes are ``dims`` (their order): ``(T, T)`` (year, cohort) when the lifetime
    varies by none of them (all series share it: one BLAS product), else
    ``(*batch, T, T)`` with the lifetime's sizes along its dims and 1 along the others.
    Its dims must be among ``dims`` (``cohort`` aside); dimensionless."""
    years = np.asarray(years)
    sf, labels = _survival(lifetime, years, discretisation)
    extra = [d for d in labels.dims if d not in dims]
    if extra:
        raise ValueError(f"lifetime: varies by {extra}, which are not among the dims {list(dims)}")
    return _sf_for(sf, labels, list(dims))


def _as_dataarray(sf: np.ndarray, labels: "_Labels", years: np.ndarray) -> xr.DataArray:
    """A survival matrix of :func:`_survival` as :func:`survival_matrix` returns it."""
    coords = {k: v for k, v in labels.variables.items() if set(v.dims) <= set(labels.dims)}
    return xr.DataArray(sf, dims=(*labels.dims, "year", "cohort"), coords={**coords, "year": years, "cohort": years})


def _survival(lifetime: Lifetime, years: np.ndarray, discretisation: Discretisation) -> tuple[np.ndarray, "_Labels"]:
    """The survival matrix as numpy (*dims, T, T), and the labels of its batch dims."""
    if not isinstance(lifetime, Lifetime):
        raise TypeError(f"lifetime: expected an mfa.lifetimes.Lifetime, got {type(lifetime).__name__}")
    dims = tuple(d for d in lifetime.dims if d != "cohort")
    sf = core.survival_matrix(lifetime._grid(years, dims), years, discretisation)
    return sf, _Labels.of(*lifetime.params.values())


def outflow_matrix(sf: xr.DataArray) -> xr.DataArray:
    """``P[year, cohort]``: share of each cohort leaving in each year, from ``sf``.

    ``sf[t-1, c] - sf[t, c]`` below the diagonal, ``1 - sf[c, c]`` on it. Same dims as ``sf``.
    """
    values = sf.transpose(..., "year", "cohort")
    return values.copy(data=core.outflow_matrix(values.values)).transpose(*sf.dims)


# --- validation ------------------------------------------------------------------------


def _check_series(da, name: str) -> tuple[xr.DataArray, object, np.ndarray]:
    """``da`` as float numbers, its pint unit (or None) and its years, checked."""
    da, unit = magnitude_and_unit(da, name)
    if "year" not in da.dims:
        raise ValueError(f"{name}: expected a 'year' dim, got dims {da.dims}")
    if "cohort" in da.dims:
        raise ValueError(f"{name}: the dim name 'cohort' is reserved for results")
    years = da.coords.variables["year"].values if "year" in da.coords else np.arange(da.sizes["year"])
    _check_years(years, f"{name}: 'year'")
    values = da.values
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name}: expected numbers, got dtype {values.dtype}")
    lowest = np.min(values) if values.size else 0.0  # one pass: NaN propagates through min
    if np.isnan(lowest):
        raise ValueError(f"{name}: expected numbers, found NaN")
    if lowest < 0:
        raise ValueError(f"{name}: expected values >= 0, found a minimum of {lowest}")
    return (da if values.dtype == np.float64 else da.astype(float)), unit, years


def _check_years(years: np.ndarray, name: str) -> None:
    if not np.issubdtype(np.asarray(years).dtype, np.number):
        raise ValueError(f"{name}: expected numeric years, got {np.asarray(years).dtype}")
    if len(years) == 0:
        raise ValueError(f"{name}: expected at least one year")
    if len(years) > 1 and not np.all(np.diff(years) == 1):
        raise ValueError(f"{name}: expected years increasing by 1, got {list(years)}")


def _flow_unit_of_stock(stock_unit):
    return None if stock_unit is None else stock_unit / ureg.year


def _stock_unit_of_flow(flow_unit, name: str):
    if flow_unit is None:
        return None
    if not is_rate(flow_unit):
        raise ValueError(f"{name}: expected a flow per year (e.g. 't/yr'), got units {flow_unit}")
    return flow_unit * ureg.year


@dataclass(frozen=True)
class _Labels:
    """What the layout needs of an input: its batch dims and their sizes, and the
    coordinates (variables and xarray indexes, reused as they are) to carry into the result."""

    dims: tuple[str, ...]
    sizes: dict[str, int]
    variables: dict[str, xr.Variable]
    indexes: dict[str, xr.Index]

    @classmethod
    def of(cls, *arrays: xr.DataArray) -> "_Labels":
        """The labels of ``arrays`` taken together (a lifetime's parameters, or one series):
        every dim but ``cohort``, and every coordinate that does not run along ``cohort``."""
        sizes, variables, indexes = {}, {}, {}
        for da in arrays:
            sizes.update({d: n for d, n in da.sizes.items() if d != "cohort"})
            for k, v in da.coords.variables.items():
                if "cohort" not in v.dims and k != "cohort":
                    variables.setdefault(k, v)
            indexes.update({k: i for k, i in da.xindexes.items() if k in variables})
        dims = tuple(d for d in sizes if d != "year")
        return cls(dims, sizes, variables, indexes)


def _batch_layout(named: dict[str, _Labels]) -> tuple[list[str], dict[str, int], _Labels]:
    """Batch dims (all but ``year``/``cohort``, in order of first appearance), their sizes,
    and the result's coordinates; labels must agree exactly where two inputs share a dim."""
    sizes: dict[str, int] = {}
    variables: dict[str, xr.Variable] = {}
    indexes: dict[str, xr.Index] = {}
    for labels in named.values():
        for d in labels.dims:
            problem = None
            if d in sizes and sizes[d] != labels.sizes[d]:
                problem = f"dim {d!r} has {sizes[d]} labels in one and {labels.sizes[d]} in another"
            elif d in labels.indexes and d in indexes and not indexes[d].equals(labels.indexes[d]):
                problem = (
                    f"labels of dim {d!r} differ: {list(indexes[d].to_pandas_index())} vs "
                    f"{list(labels.indexes[d].to_pandas_index())}"
                )
            if problem:
                raise ValueError(f"{' and '.join(named)} do not broadcast: {problem}")
            sizes.setdefault(d, labels.sizes[d])
        for k, v in labels.variables.items():
            if k not in variables:
                variables[k] = v
                if k in labels.indexes:
                    indexes[k] = labels.indexes[k]
    return list(sizes), sizes, _Labels(tuple(sizes), sizes, variables, indexes)


def _year_first(da: xr.DataArray, batch_dims: list[str], sizes: dict[str, int]) -> np.ndarray:
    """``da``'s values as (T, *batch) with size 1 where ``da`` lacks a batch dim."""
    own = [d for d in batch_dims if d in da.dims]
    values = (da if da.dims == ("year", *own) else da.transpose("year", *own)).values
    return values.reshape((da.sizes["year"],) + tuple(sizes[d] if d in da.dims else 1 for d in batch_dims))


def _sf_for(sf: np.ndarray, labels: _Labels, batch_dims: list[str]) -> np.ndarray:
    """A (*own dims, T, T) matrix as (*batch, T, T): its axes in the order of
    ``batch_dims``, size 1 along the dims it lacks; (T, T) stays as it is (shared)."""
    if sf.ndim == 2:
        return sf
    own = [d for d in labels.dims]
    order = [own.index(d) for d in batch_dims if d in own]
    sf = sf.transpose(*order, sf.ndim - 2, sf.ndim - 1)
    return sf.reshape(tuple(labels.sizes.get(d, 1) for d in batch_dims) + sf.shape[-2:])


# Unit-less results with at least this many values per variable (8 MiB) get their
# stock_change, balance and cumulative_outflow computed when one of them is first read
# (all three in one pass); the balance is checked during the call all the same, into
# ``attrs``. Writing three more arrays of this size is most of a call's memory traffic,
# and much use of a large result (Monte-Carlo, the floor of the benchmark) never reads
# them. Quantified results stay eager: a pint quantity cannot wrap a lazy array.
_LAZY_ELEMENTS = 2**20


def _derive_lazily(unit, n_years: int, sizes: dict[str, int]) -> bool:
    return unit is None and n_years * int(np.prod(list(sizes.values()), dtype=np.int64)) >= _LAZY_ELEMENTS


class _Derivation:
    """The derived arrays of one result (:data:`mfa.stock_core.DERIVED`), computed
    together on the first read of any of them; thread-safe (dask may read in parallel)."""

    def __init__(self, result: dict):
        self._result, self._arrays, self._lock = result, None, threading.Lock()

    def __getstate__(self):  # a lock does not pickle (results travel to and from dask workers)
        return self._result, self._arrays

    def __setstate__(self, state):
        (self._result, self._arrays), self._lock = state, threading.Lock()

    def get(self, name: str) -> np.ndarray:
        with self._lock:
            if self._arrays is None:
                self._arrays = core.derive(self._result)
                log.debug("derived %s on first read", ", ".join(core.DERIVED))
        return self._arrays[name]


class _DerivedArray(BackendArray):
    """One derived array, as xarray's lazy arrays from files: indexed on read."""

    def __init__(self, derivation: _Derivation, name: str, shape: tuple[int, ...]):
        self.derivation, self.name, self.shape, self.dtype = derivation, name, shape, np.dtype(float)

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._get)

    def _get(self, key):
        return self.derivation.get(self.name)[key]


def _dataset(out: dict, years: np.ndarray, batch_dims: list[str], labels: _Labels, flow_unit, stock_unit) -> xr.Dataset:
    """The result arrays as a Dataset with dims (year, [cohort,] *batch), units attached
    by wrapping each array once (no per-variable pint round trip), the inputs' coordinates
    and indexes reused (building indexes anew is most of xarray's cost on small arrays).
    Derived arrays missing from ``out`` become lazy variables (see ``_LAZY_ELEMENTS``)."""
    stock_vars = {"stock", "stock_by_cohort", "cumulative_outflow"}  # the rest are flows
    derivation = _Derivation(out)
    arrays = {**out, **{name: None for name in core.DERIVED if name not in out}}
    variables = {}
    for name, values in arrays.items():
        dims = ("year", "cohort", *batch_dims) if name.endswith("_by_cohort") else ("year", *batch_dims)
        if values is None:
            values = indexing.LazilyIndexedArray(_DerivedArray(derivation, name, out["stock"].shape))
        unit = stock_unit if name in stock_vars else flow_unit
        variables[name] = xr.Variable(dims, values if unit is None else ureg.Quantity(values, unit))
    coords, indexes = dict(labels.variables), dict(labels.indexes)
    for dim in ("year", "cohort") if any(name.endswith("_by_cohort") for name in out) else ("year",):
        if dim not in indexes:
            index = PandasIndex(years, dim)
            indexes[dim] = index
            coords.update(index.create_variables())
    return _assemble(variables, coords, indexes, dict(out.errors))


def _assemble(data_vars: dict, coords: dict, indexes: dict, attrs: dict) -> xr.Dataset:
    """A Dataset of variables and indexed coordinates that agree by construction.

    ``xr.Dataset(...)`` would merge and align them again: 0.8 of the 1 ms it took a
    one-series call to wrap its result. The sizes are still checked (conflicting sizes
    raise ``ValueError``, as there); tests check the result against the public constructor.
    """
    variables = {**data_vars, **coords}
    return xr.Dataset._construct_direct(variables, set(coords), calculate_dimensions(variables), attrs, indexes)


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
    ``lifetime``: any :class:`mfa.lifetimes.Lifetime`, its parameters varying by
    ``cohort`` and any other dims (which must match the inflow's labels where shared).
    Returns the dataset described in the module docstring: ``inflow``, ``stock``,
    ``outflow``, ``stock_change``, ``balance``, ``cumulative_outflow`` (and the by-cohort
    arrays); the stock and ``cumulative_outflow`` are in the inflow's unit times a year.
    """
    inflow, unit, years = _check_series(inflow, "inflow")
    stock_unit = _stock_unit_of_flow(unit, "inflow")
    disc = Discretisation(inflow_at, n_pts_per_interval)
    sf, lifetime_labels = _survival(lifetime, years, disc)
    batch_dims, sizes, labels = _batch_layout({"lifetime": lifetime_labels, "inflow": _Labels.of(inflow)})
    out = core.inflow_driven(
        _year_first(inflow, batch_dims, sizes),
        _sf_for(sf, lifetime_labels, batch_dims),
        by_cohort=by_cohort,
        derived=not _derive_lazily(unit, years.size, sizes),
    )
    return _dataset(out, years, batch_dims, labels, unit, stock_unit)


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
    as_series, unit, years = _history(stock_by_cohort)
    inflow = _back_calculated(as_series, survival_matrix(lifetime, years, Discretisation(inflow_at, n_pts_per_interval)))
    return inflow if unit is None else inflow.pint.quantify(unit / ureg.year, unit_registry=ureg)


def _history(stock_by_cohort: xr.DataArray) -> tuple[xr.DataArray, object, np.ndarray]:
    """The stock by cohort as plain numbers with ``year`` for ``cohort``, checked as a
    series, its pint unit (or None) and its years."""
    values, unit = magnitude_and_unit(stock_by_cohort, "initial_stock_by_cohort")
    if "cohort" not in values.dims:
        raise ValueError(f"initial_stock_by_cohort: expected a 'cohort' dim, got {values.dims}")
    as_series, _, years = _check_series(values.rename(cohort="year"), "initial_stock_by_cohort")
    return as_series, unit, years


def _back_calculated(as_series: xr.DataArray, sf: xr.DataArray) -> xr.DataArray:
    """The inflow of each historic cohort (plain numbers) from its stock at the end of the
    last historic year; ``sf`` starts at the first historic year and may run on past the last."""
    n_years = as_series.sizes["year"]
    surviving = sf.isel(year=n_years - 1, cohort=slice(0, n_years), drop=True).rename(cohort="year")
    if bool(((surviving == 0) & (as_series > 0)).any()):
        raise ValueError(
            "initial_stock_by_cohort: a cohort holds stock although the lifetime leaves none "
            "of it by the last historic year"
        )
    return (as_series / surviving.where(surviving > 0)).fillna(0.0)


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

    Returns the variables of :func:`inflow_driven` plus ``early_retirement``; flows in the
    stock's unit per year, ``cumulative_outflow`` in the stock's unit.
    """
    if negative_inflow not in ("retire", "allow"):
        raise ValueError(f"negative_inflow: expected 'retire' or 'allow', got {negative_inflow!r}")
    stock, unit, years = _check_series(stock, "stock")
    disc = Discretisation(inflow_at, n_pts_per_interval)
    inputs = {"stock": stock}
    if initial_stock_by_cohort is not None:
        if is_quantified(initial_stock_by_cohort) != (unit is not None):
            raise ValueError("initial_stock_by_cohort and stock: mixed quantified and plain numbers")
        if unit is not None:
            initial_stock_by_cohort = initial_stock_by_cohort.pint.to(unit)
        history, _, past = _history(initial_stock_by_cohort)
        if years[0] > past[-1] + 1:
            raise ValueError(
                "stock: expected years from the year after the last historic cohort "
                f"({past[-1] + 1}), got {years[0]} onwards"
            )
        years = np.arange(past[0], max(years[-1], past[-1]) + 1)
    sf, lifetime_labels = _survival(lifetime, years, disc)  # once: the history's is its top-left corner
    if initial_stock_by_cohort is not None:
        known = _back_calculated(history, _as_dataarray(sf, lifetime_labels, years))
        inputs = {"stock": stock.reindex(year=years, fill_value=0.0), "initial_stock_by_cohort": known}
    batch_dims, sizes, labels = _batch_layout(
        {"lifetime": lifetime_labels, **{name: _Labels.of(da) for name, da in inputs.items()}}
    )
    history = inputs.get("initial_stock_by_cohort")
    out = core.stock_driven(
        _year_first(inputs["stock"], batch_dims, sizes),
        _sf_for(sf, lifetime_labels, batch_dims),
        None if history is None else _year_first(history, batch_dims, sizes),
        retire=negative_inflow == "retire",
        by_cohort=by_cohort,
        derived=not _derive_lazily(unit, years.size, sizes),
    )
    return _dataset(out, years, batch_dims, labels, _flow_unit_of_stock(unit), unit)


def product_component(
    product_inflow: xr.DataArray,
    product_lifetime: Lifetime,
    component_lifetime: Lifetime,
    *,
    replace_while=None,
    renewal: bool = False,
    inflow_at: InflowAt = "end",
    n_pts_per_interval: int = 1,
) -> xr.Dataset:
    """A component inside a product, each product holding one (a battery pack in a car).

    ``product_inflow``: dims ``year`` + any, per year: products sold, or the amount of
    component they carry (e.g. ``kWh/yr`` of battery capacity: the maths is linear).
    ``product_lifetime``, ``component_lifetime``: the lifetimes of the product and of a
    component, the latter by the year the component was installed (``cohort``).
    ``replace_while``: the largest product age, in years (a number, a pint time, or a
    DataArray by any dim, e.g. ``scenario``), at which a failed component is still
    replaced; ``None`` replaces at any age. A component that fails in an older product
    stays in it until the product is retired. ``renewal=False`` (default) replaces the
    original component at most once and takes the replacement to outlive the product;
    ``renewal=True`` replaces every failure, each replacement failing by the component
    lifetime of its installation year (a renewal process).

    Returns a Dataset, every variable with dims ``year`` + the inputs' others, flows in
    the inflow's unit and stocks in it times a year:

    - ``inflow_new`` (in new products), ``inflow_replacement``, ``inflow`` (their sum);
    - ``stock``: components in use, one in each product in use;
    - ``outflow_with_product`` (in retired products), ``outflow_failed`` (the failed
      components taken out when replaced; as many as ``inflow_replacement``),
      ``outflow`` (their sum);
    - ``stock_change``, ``balance``, ``cumulative_outflow`` as in :func:`inflow_driven`.
    """
    inflow, unit, years = _check_series(product_inflow, "product_inflow")
    stock_unit = _stock_unit_of_flow(unit, "product_inflow")
    disc = Discretisation(inflow_at, n_pts_per_interval)
    sf_product, product_labels = _survival(product_lifetime, years, disc)
    sf_component, component_labels = _survival(component_lifetime, years, disc)
    named = {"product_lifetime": product_labels, "component_lifetime": component_labels}
    if replace_while is not None:
        limit = _as_param(replace_while, "replace_while")
        named["replace_while"] = _Labels.of(limit)
    named["product_inflow"] = _Labels.of(inflow)
    batch_dims, sizes, labels = _batch_layout(named)
    age = years[:, None] - years[None, :]
    replace = age >= 0
    if replace_while is not None:
        grid = _on_grid(limit, years, tuple(d for d in batch_dims), "replace_while", "replace_while")
        replace = replace & (age <= grid)
    out = core.product_component(
        _year_first(inflow, batch_dims, sizes),
        _sf_for(sf_product, product_labels, batch_dims),
        _sf_for(sf_component, component_labels, batch_dims),
        replace,
        renewal=renewal,
        derived=not _derive_lazily(unit, years.size, sizes),
    )
    return _dataset(out, years, batch_dims, labels, unit, stock_unit)
