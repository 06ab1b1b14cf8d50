"""Named dims over plain numpy arrays, for the model's inner steps.

A :class:`Named` is a numpy array and the names of its axes, kept in one global order
(:data:`ORDER`, then any other dim by name): two arrays then line up by inserting size-1
axes (views), never by a transpose, and arithmetic broadcasts by dim name as xarray's
does. There are no coordinates: every array of a model run shares the parameters'
labels (one ``xr.Dataset``), so nothing needs aligning. ``xr.Variable`` would broadcast
by name too, but costs ~100x numpy per operation on the model's small arrays (its
reductions go through NaN-aware dispatch); a model run does a few hundred of them.

Units stay outside: :func:`from_xarray` reads an array's magnitude in a stated unit
(:func:`mfa.units.magnitude`), :func:`to_variable` attaches the unit of a result.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xarray as xr

from . import stock_core
from .lifetimes import Lifetime
from .units import attach, magnitude

ORDER = ("sample", "scenario", "region", "year", "cohort", "segment", "powertrain", "chemistry", "element", "bound")
"""Axis order of every array: the order of the results' dims (``sample`` first, as
:func:`mfa.model.run` returns them); dims not listed follow, by name."""
_RANK = {d: i for i, d in enumerate(ORDER)}


def _key(dim: str) -> tuple[int, str]:
    return _RANK.get(dim, len(ORDER)), dim


def ordered(dims) -> tuple[str, ...]:
    """``dims`` in the global axis order."""
    return tuple(sorted(dims, key=_key))


def _operator(ufunc, reflected: bool = False):
    """A binary method of :class:`Named` applying ``ufunc`` (operands swapped when ``reflected``)."""

    def method(self, other):
        return self._binary(other, ufunc, reflected)

    return method


class Named:
    """A numpy array whose axes are the dims ``dims`` (in :func:`ordered` order);
    ``+ - * /``, comparisons and :meth:`where` broadcast by dim name."""

    __slots__ = ("dims", "values")
    __array_ufunc__ = None  # numpy scalars on the left defer to the reflected operators

    def __init__(self, dims, values):
        self.dims = tuple(dims)
        self.values = np.asarray(values)
        if self.values.ndim != len(self.dims):
            raise ValueError(f"{len(self.dims)} dims {self.dims} for an array of shape {self.values.shape}")

    @classmethod
    def of(cls, dims, values) -> Named:
        """``values`` whose axes are ``dims`` in any order, put in the global order."""
        dims = tuple(dims)
        target = ordered(dims)
        if target == dims:
            return cls(dims, values)
        return cls(target, np.transpose(values, [dims.index(d) for d in target]))

    def expand(self, dims: tuple[str, ...]) -> np.ndarray:
        """The values with size-1 axes for the ``dims`` (ordered, a superset) this lacks: a view."""
        if dims == self.dims:
            return self.values
        index = tuple(slice(None) if d in self.dims else None for d in dims)
        return self.values[index]

    def sizes(self) -> dict[str, int]:
        return dict(zip(self.dims, self.values.shape))

    def _binary(self, other, op, reflected=False):
        if not isinstance(other, Named):
            values = op(other, self.values) if reflected else op(self.values, other)
            return Named(self.dims, values)
        dims = self.dims if other.dims == self.dims else ordered(set(self.dims) | set(other.dims))
        a, b = self.expand(dims), other.expand(dims)
        return Named(dims, op(b, a) if reflected else op(a, b))

    __add__, __radd__ = _operator(np.add), _operator(np.add, True)
    __sub__, __rsub__ = _operator(np.subtract), _operator(np.subtract, True)
    __mul__, __rmul__ = _operator(np.multiply), _operator(np.multiply, True)
    __truediv__, __rtruediv__ = _operator(np.divide), _operator(np.divide, True)
    __gt__, __le__, __and__ = _operator(np.greater), _operator(np.less_equal), _operator(np.logical_and)
    minimum, maximum = _operator(np.minimum), _operator(np.maximum)

    def __neg__(self):
        return Named(self.dims, -self.values)

    def __invert__(self):
        return Named(self.dims, ~self.values)

    def where(self, condition: Named, other) -> Named:
        """This where ``condition`` holds, else ``other`` (a number or a Named), as ``xr.where``."""
        arrays = [a for a in (condition, self, other) if isinstance(a, Named)]
        dims = ordered(set().union(*(a.dims for a in arrays)))
        pick = [a.expand(dims) if isinstance(a, Named) else a for a in (condition, self, other)]
        return Named(dims, np.where(*pick))

    def fillna(self, value: float) -> Named:
        return Named(self.dims, np.where(np.isnan(self.values), value, self.values))

    def sum(self, dim: str) -> Named:
        """Sum over ``dim`` (NaN stays NaN)."""
        axis = self.dims.index(dim)
        return Named(self.dims[:axis] + self.dims[axis + 1 :], self.values.sum(axis=axis))

    def dot(self, other: Named, dim: str | tuple[str, ...]) -> Named:
        """The product with ``other`` summed over ``dim`` (one or several dims; a dim
        ``other`` lacks is summed as if ``other`` were constant along it), in one
        contraction: no array of both operands' dims is built."""
        summed = (dim,) if isinstance(dim, str) else tuple(dim)
        fast = self._matmul(other, summed)
        if fast is not None:
            return fast
        dims = ordered(set(self.dims) | set(other.dims))
        letters = {d: chr(ord("a") + i) for i, d in enumerate(dims)}
        kept = tuple(d for d in dims if d not in summed)
        # size-1 axes where an operand lacks a dim shared with the other broadcast in
        # einsum; optimize: its own BLAS contraction (5x faster on the carbon step's)
        subscripts = "{},{}->{}".format(*("".join(letters[d] for d in ds) for ds in (self.dims, other.dims, kept)))
        return Named(kept, np.einsum(subscripts, self.values, other.values, optimize=True))

    def _matmul(self, other: Named, summed: tuple[str, ...]) -> Named | None:
        """:meth:`dot` as one (batched) BLAS matrix product, or None where the axes do not
        allow it without a transpose: ``summed`` must be this array's last dims and the dims
        only ``other`` has must come after all of this array's in the global order. The
        product then reads this array once, in place (einsum's loops were 4x slower on the
        model's material contents). Its rows are this array's trailing dims that ``other``
        lacks (none: None, as einsum then does better); the dims before them are matmul's
        batch dims."""
        if self.dims[len(self.dims) - len(summed) :] != ordered(summed):
            return None
        kept = self.dims[: len(self.dims) - len(summed)]
        extra = tuple(d for d in other.dims if d not in self.dims)
        if extra and kept and _key(extra[0]) < _key(kept[-1]):
            return None
        rows = len(kept)
        while rows and kept[rows - 1] not in other.dims:
            rows -= 1
        if rows == len(kept):
            return None
        batch = kept[:rows]
        sizes = {**other.sizes(), **self.sizes()}
        right = other.broadcast({d: sizes[d] for d in summed})  # small: a copy costs nothing
        arranged = (*[d for d in batch if d in other.dims], *ordered(summed), *extra)
        right = np.transpose(right.values, [right.dims.index(d) for d in arranged])
        right = right.reshape(tuple(sizes[d] if d in other.dims else 1 for d in batch) + (-1, max(1, int(np.prod([sizes[d] for d in extra], dtype=int)))))
        left = self.values.reshape(self.values.shape[:rows] + (-1, right.shape[-2]))
        product = left @ right
        return Named((*kept, *extra), product.reshape(self.values.shape[: len(kept)] + tuple(sizes[d] for d in extra)))

    def isel(self, **where: int) -> Named:
        """The values at one position along each given dim, which drops out."""
        index = tuple(where.get(d, slice(None)) for d in self.dims)
        return Named(tuple(d for d in self.dims if d not in where), self.values[index])

    def rename(self, **names: str) -> Named:
        return Named.of(tuple(names.get(d, d) for d in self.dims), self.values)

    def broadcast(self, sizes: dict[str, int]) -> Named:
        """Over ``sizes``' dims as well (a read-only view where this lacks them)."""
        dims = ordered(set(self.dims) | set(sizes))
        shape = tuple(sizes.get(d) or self.sizes()[d] for d in dims)
        return Named(dims, np.broadcast_to(self.expand(dims), shape))

    def to_variable(self, unit) -> xr.Variable:
        """An ``xr.Variable`` of these values in ``unit`` (pint-quantified)."""
        return xr.Variable(self.dims, attach(self.values, unit))


def stack(arrays: list[Named], dim: str) -> Named:
    """``arrays`` side by side along a new ``dim``, each broadcast over all their dims."""
    sizes = {d: n for a in arrays for d, n in a.sizes().items()}
    return Named.of((*ordered(sizes), dim), np.stack([a.broadcast(sizes).values for a in arrays], axis=-1))


def from_xarray(da: xr.DataArray | xr.Variable, unit) -> Named:
    """``da``'s numbers in ``unit`` (``da`` pint-quantified), in the global axis order."""
    variable = da.variable if isinstance(da, xr.DataArray) else da
    return Named.of(variable.dims, magnitude(variable.data, unit))


def param(p: xr.Dataset, name: str, unit) -> Named:
    """Parameter ``name`` of ``p`` in ``unit``."""
    return from_xarray(p.variables[name], unit)


def labels(ds: xr.Dataset, dim: str) -> np.ndarray:
    """The coordinate labels of ``dim`` (without building a DataArray)."""
    return ds.variables[dim].values


def dataset(variables: dict[str, tuple[Named, str] | xr.Variable], coords: xr.Dataset) -> xr.Dataset:
    """A Dataset of ``name: (array, unit)`` (or of an ``xr.Variable`` as it is), with
    ``coords``' coordinates of the dims they use."""
    variables = {name: v if isinstance(v, xr.Variable) else v[0].to_variable(v[1]) for name, v in variables.items()}
    used = [d for d in ordered(set().union(*(v.dims for v in variables.values()))) if d in coords.xindexes]
    # the indexes are reused as they are: building them anew is most of xarray's cost here
    labelled = xr.Coordinates({d: coords.variables[d] for d in used}, indexes={d: coords.xindexes[d] for d in used})
    return xr.Dataset(variables, coords=labelled)


# --- the stock engine (mfa.stock_core) on Named arrays ---------------------------------


def batch_of(*arrays: Named, extra=()) -> tuple[str, ...]:
    """The batch dims of a stock model over ``arrays`` (all their dims but ``year`` and
    ``cohort``) and ``extra`` ones, ordered."""
    dims = set(extra).union(*(a.dims for a in arrays)) - {"year", "cohort"}
    return ordered(dims)


def year_first(a: Named, batch: tuple[str, ...]) -> np.ndarray:
    """``a``'s values as (T, *batch), size 1 along the batch dims it lacks (a view)."""
    dims = ordered((*batch, "year"))
    return np.moveaxis(a.expand(dims), dims.index("year"), 0)


def year_axis(batch: tuple[str, ...]) -> int:
    """Where the year axis lies among ``batch`` dims in the global order: the ``year_at``
    of :mod:`mfa.stock_core`'s engines, whose results are then C-ordered Named arrays."""
    return ordered((*batch, "year")).index("year")


def from_year_first(values: np.ndarray, batch: tuple[str, ...], summed: tuple[str, ...] = ()) -> Named:
    """(T, *batch) engine output as a Named array, without the ``summed`` batch dims
    (of size 1: the engine summed over them)."""
    if summed:
        values = values.squeeze(tuple(1 + batch.index(d) for d in summed))
        batch = tuple(d for d in batch if d not in summed)
    return Named.of(("year", *batch), values)


def summed_out(batch: tuple[str, ...], declared: tuple[str, ...]) -> tuple[str, ...]:
    """The ``batch`` dims a variable declared with dims ``declared`` lacks (``sample``
    aside): the dims a step's engine sums its results over (:mod:`mfa.stock_core`'s
    ``summed``), e.g. ``segment`` for battery capacity in Monte-Carlo runs."""
    return tuple(d for d in batch if d != "sample" and d not in declared)


class LifetimeOf(NamedTuple):
    """A lifetime distribution of the model: its class (:mod:`mfa.lifetimes`) and its
    parameters by field name, as Named arrays (``cohort``: the years the matrix is for)."""

    kind: type[Lifetime]
    params: dict[str, Named]

    @property
    def dims(self) -> tuple[str, ...]:
        return ordered(set().union(*(a.dims for a in self.params.values())))


def survival(lifetime: LifetimeOf, years: np.ndarray, batch: tuple[str, ...]) -> np.ndarray:
    """The survival matrix of ``lifetime`` (as :func:`mfa.stock.survival_matrix`) as
    (*batch, T, T), size 1 along the batch dims it does not vary by. The parameters go
    to the distribution's formula as they are (checked with every parameter of the run):
    building checked, labelled :class:`mfa.lifetimes.Lifetime` objects was most of a
    small model run's time in its lifetimes."""
    grid = ordered((*batch, "cohort"))
    on_grid = {}
    for name, a in lifetime.params.items():
        on_grid[name] = np.moveaxis(a.expand(grid), grid.index("cohort"), -1)[..., None, :]  # (*batch, year, cohort)
    return stock_core.survival_matrix(lifetime.kind.formula(on_grid), years, fresh=True)


def per_matrix(engine, series: np.ndarray, sf: np.ndarray, **options) -> dict[str, np.ndarray]:
    """``engine`` (a :mod:`mfa.stock_core` model of one series array and one survival
    matrix) run once per distinct matrix of ``sf`` (*batch, T, T), each shared by all its
    series: a few BLAS solves instead of the engine's batched-matrix path, which for
    :func:`mfa.stock_core.stock_driven` is a Python loop over the years. Returns the
    engine's arrays, shape (T, *batch) broadcast with ``series`` (T, *batch)."""
    batch = np.broadcast_shapes(series.shape[1:], sf.shape[:-2])
    series = np.broadcast_to(series, series.shape[:1] + batch)
    out: dict[str, np.ndarray] = {}
    for index in np.ndindex(sf.shape[:-2]):
        where = (slice(None), *(i if n > 1 else slice(None) for i, n in zip(index, sf.shape[:-2])))
        for name, values in engine(np.ascontiguousarray(series[where]), sf[index], **options).items():
            out.setdefault(name, np.empty(series.shape))[where] = values
    return out
