"""Lifetime distributions: the share of a cohort that survives to a given age.

Each distribution takes its parameters as numbers, pint quantities of time, or
``xr.DataArray`` s. A parameter that varies by cohort carries a ``cohort`` dim (inflow
year); any other dim (``region``, ``scenario``, ``sample``...) broadcasts. Ages and
parameters are in years.

Conventions (ODYM's, so that peers agree):

- A mean lifetime of 0 means "leaves in its inflow year": survival is 0 at every age,
  for every distribution that has a mean (ODYM special-cases this; flodym 1.1.0 does
  not, and gives S(0) = 0.5 for Normal(0, sd)).
- ``Normal`` is not truncated at age 0: a little of each cohort leaves in its inflow
  year, S(0) < 1.
- ``Fixed(L)`` survives ages below L and is gone at age L.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
import pandas as pd
import pint
import xarray as xr
from scipy import special

from .units import is_quantified

_SQRT2 = math.sqrt(2.0)


_PARAM_TYPES = (
    "a number, a pint quantity, an xarray.DataArray, or a pandas Series/DataFrame whose "
    "index levels are named (the names become dims, e.g. s.rename_axis('chemistry'))"
)


def _from_pandas(value, name: str) -> xr.DataArray:
    """A pandas Series (or a one-column or named-columns DataFrame) as a DataArray whose
    dims are the index level names."""
    if isinstance(value, pd.DataFrame):
        if value.columns.name is not None:  # columns are the labels of one more dim
            value = value.stack()
        elif value.shape[1] == 1:
            value = value.iloc[:, 0]
        else:
            raise TypeError(
                f"lifetime parameter {name!r}: a DataFrame needs one column, or named columns "
                f"(df.columns.name) that become a dim; got columns {list(value.columns)}"
            )
    names = list(value.index.names)
    if any(n is None for n in names):
        raise TypeError(
            f"lifetime parameter {name!r}: name every index level of the pandas object (the "
            f"names become dims, e.g. s.rename_axis('chemistry')); got names {names}"
        )
    if not value.index.is_unique:
        raise ValueError(f"lifetime parameter {name!r}: duplicate index labels {list(value.index[value.index.duplicated()])}")
    # Levels of a MultiIndex become separate dims; a missing combination becomes NaN (rejected below).
    return xr.DataArray.from_series(value)


def _as_param(value, name: str, dimensionless: bool = False) -> xr.DataArray:
    if isinstance(value, xr.DataArray):
        da = value
    elif isinstance(value, (pd.Series, pd.DataFrame)):
        da = _from_pandas(value, name)
    elif (hasattr(value, "to") and hasattr(value, "magnitude")) or isinstance(value, (numbers.Real, np.number, np.ndarray)):
        if isinstance(value, bool) or np.ndim(getattr(value, "magnitude", value)) != 0:
            raise TypeError(f"lifetime parameter {name!r}: expected {_PARAM_TYPES}; an array would get an unnamed dim, got {value!r}")
        da = xr.DataArray(value)  # a number or a bare pint.Quantity
    else:
        raise TypeError(f"lifetime parameter {name!r}: expected {_PARAM_TYPES}, got {type(value).__name__}")
    if is_quantified(da):
        unit = "1" if dimensionless or da.data.dimensionless else "yr"
        try:
            da = da.copy(data=da.data.to(unit).magnitude)
        except pint.DimensionalityError as err:
            expected = "a dimensionless number" if unit == "1" else "a time"
            raise ValueError(f"lifetime parameter {name!r}: expected {expected}, got units {da.data.units}") from err
    try:
        da = da.astype(float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"lifetime parameter {name!r}: expected numbers, got {da.dtype}") from err
    if bool(np.isnan(da).any()):
        raise ValueError(f"lifetime parameter {name!r}: expected numbers, found NaN (a gap in a table?)")
    return da


def _cohort_index(p: xr.DataArray, cohorts: np.ndarray, owner: str, name: str) -> np.ndarray | slice:
    """Positions of ``cohorts`` along ``p``'s cohort dim, or ``slice(None)`` when they are
    its labels in order (the usual case: no pandas lookup, which was most of the time a
    one-series model took to lay out its lifetime); a missing one is an error naming it."""
    if "cohort" not in p.coords:  # unlabelled: by position
        positions = np.arange(p.sizes["cohort"])
    elif np.array_equal(p.coords.variables["cohort"].values, cohorts):
        return slice(None)
    else:
        positions = p.indexes["cohort"].get_indexer(cohorts)
    if len(positions) != len(cohorts) or (positions < 0).any():
        missing = np.setdiff1d(cohorts, p["cohort"].values) if "cohort" in p.coords else cohorts
        raise ValueError(f"{owner}: lifetime parameter {name!r} has no value for cohorts {missing.tolist()}")
    return positions


def _on_grid(p: xr.DataArray, cohorts: np.ndarray, dims: tuple[str, ...], owner: str, name: str) -> np.ndarray:
    """``p`` as a numpy array laid out for the grid (*dims, year, cohort): size 1 where it
    does not vary, its cohorts selected to match ``cohorts`` (read-only: it may be a view)."""
    tail = ("cohort",) if "cohort" in p.dims else ()
    own = [d for d in dims if d in p.dims]
    values = (p if p.dims == (*own, *tail) else p.transpose(*own, *tail)).values
    if tail:
        values = values[..., _cohort_index(p, cohorts, owner, name)]
    shape = [p.sizes[d] if d in p.dims else 1 for d in dims] + [1, len(cohorts) if tail else 1]
    return values.reshape(shape)


def _normal_sf(z):
    return 0.5 * special.erfc(z / _SQRT2)


@dataclass(frozen=True)
class Lifetime:
    """Base class: subclasses define their parameters as fields and :meth:`_survival`.

    Parameters are stored as float ``xr.DataArray`` s in years.
    """

    _positive: ClassVar[tuple[str, ...]] = ()
    """Parameters that must be strictly positive (others must be >= 0)."""
    _dimensionless: ClassVar[tuple[str, ...]] = ()
    """Parameters without units (the others are times, in years)."""

    def __post_init__(self):
        for f in fields(self):
            value = _as_param(getattr(self, f.name), f.name, f.name in self._dimensionless)
            if bool((value < 0).any()):
                raise ValueError(
                    f"{type(self).__name__}: lifetime parameter {f.name!r} must be >= 0, "
                    f"got a minimum of {float(value.min())}"
                )
            if f.name in self._positive and bool((value <= 0).any()):
                raise ValueError(
                    f"{type(self).__name__}: lifetime parameter {f.name!r} must be > 0"
                )
            object.__setattr__(self, f.name, value)
        try:  # exact: labels that disagree are an error here, not a silent outer join
            xr.align(*self.params.values(), join="exact")
        except ValueError as err:
            raise ValueError(f"{type(self).__name__}: parameters do not broadcast: {err}") from err

    @property
    def params(self) -> dict[str, xr.DataArray]:
        """The parameters by name, as float DataArrays in years."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def dims(self) -> tuple[str, ...]:
        """Every dim any parameter varies along (``cohort`` among them when it does)."""
        dims: dict[str, None] = {}
        for p in self.params.values():
            dims.update(dict.fromkeys(p.dims))
        return tuple(dims)

    def sel_cohorts(self, cohorts) -> "Lifetime":
        """The same distribution with every ``cohort``-varying parameter aligned to ``cohorts``.

        Raises ``ValueError`` naming the missing cohorts when a parameter does not cover them.
        """
        cohorts = np.asarray(cohorts)
        aligned = {
            name: p.isel(cohort=_cohort_index(p, cohorts, type(self).__name__, name)) if "cohort" in p.dims else p
            for name, p in self.params.items()
        }
        return type(self)(**aligned)

    @classmethod
    def from_table(cls, table, dims=None) -> "Lifetime":
        """The distribution with one row of parameters per type, from a table.

        ``table``: a pandas DataFrame, or a path to a CSV or Excel file read with
        :func:`mfa.tables.read`, with a column per parameter (the dataclass fields, e.g.
        ``shape`` and ``scale`` for :class:`Weibull`) and the columns named in ``dims``
        (e.g. ``["powertrain", "chemistry"]``), whose values become the labels of those
        dims. With ``dims=None`` the frame's named index levels are the dims. Parameters
        in years (times) or dimensionless. A missing combination of labels, a duplicate
        row or a non-numeric cell is an error.
        """
        from .tables import read  # lazily: tables needs pandas I/O only when a path is given

        frame = read(table)
        if dims is not None:
            dims = [dims] if isinstance(dims, str) else list(dims)
            missing = [d for d in dims if d not in frame.columns]
            if missing:
                raise ValueError(f"{cls.__name__}.from_table: no column {missing}; columns are {list(frame.columns)}")
            frame = frame.set_index(dims)
        names = [f.name for f in fields(cls)]
        absent = [n for n in names if n not in frame.columns]
        extra = [c for c in frame.columns if c not in names]
        if absent or extra:
            raise ValueError(
                f"{cls.__name__}.from_table: expected parameter columns {names} besides the dims {list(frame.index.names)}; "
                f"missing {absent}, unexpected {extra}"
            )
        return cls(**{n: frame[n] for n in names})

    def _grid(self, cohorts: np.ndarray, dims: tuple[str, ...]):
        """``survival(time, entry)`` on numpy arrays laid out as (*dims, year, cohort).

        ``time`` and ``entry`` are points in calendar time (years; year ``t`` spans
        [t, t + 1)): the survival is that of an item that entered at ``entry``, at ``time``.
        Parameters are the distribution's own, selected for ``cohorts``; the formulas are
        its :meth:`_survival`, run on plain arrays (no xarray alignment per call).
        """
        return type(self).formula({name: _on_grid(p, cohorts, dims, type(self).__name__, name) for name, p in self.params.items()})

    @classmethod
    def formula(cls, params: dict[str, np.ndarray]):
        """``survival(time, entry)`` of this distribution on numpy arrays: ``params`` (every
        field, in years or dimensionless) already laid out to broadcast with ``time -
        entry``. Not checked: for parameters that are (e.g. :mod:`mfa.model`'s, by
        :func:`mfa.invariants.check_parameters`). Each call returns a new array
        (:func:`mfa.stock_core.survival_matrix` may then overwrite it, ``fresh``)."""
        plain = object.__new__(cls)
        for name, values in params.items():
            object.__setattr__(plain, name, values)

        def survival(time, entry):
            age = np.subtract(time, entry)
            values = cls._survival(plain, age)
            if values.shape != np.broadcast_shapes(values.shape, age.shape) or not values.flags.writeable:
                return np.where(age < 0, 1.0, values)
            np.copyto(values, 1.0, where=age < 0)  # in place: a fresh array of the matrices' size
            return values

        return survival

    def survival(self, age) -> xr.DataArray:
        """S(age): the share of a cohort still in use at ``age`` years (1 at negative ages).

        ``age`` may be a number or a DataArray; the result broadcasts it with the parameters.
        """
        age = age if isinstance(age, xr.DataArray) else xr.DataArray(np.asarray(age, float))
        sf = self._survival(age)
        return xr.where(age < 0, 1.0, sf)

    def pdf(self, age) -> xr.DataArray:
        """The share of a cohort that leaves in the year in which it reaches ``age``.

        Discrete, as ODYM: ``S(age - 1) - S(age)``, with everything below age 0 surviving,
        so at integer ages 0, 1, 2, ... the shares sum to one.
        """
        age = age if isinstance(age, xr.DataArray) else xr.DataArray(np.asarray(age, float))
        return self.survival(age - 1) - self.survival(age)

    def _survival(self, age: xr.DataArray) -> xr.DataArray:
        raise NotImplementedError


def _zero_mean_dies(mean: xr.DataArray, sf: xr.DataArray) -> xr.DataArray:
    return xr.where(mean == 0, 0.0, sf)


@dataclass(frozen=True)
class Fixed(Lifetime):
    """Every item lives exactly ``mean`` years: present at ages below it, gone at it."""

    mean: object
    """Lifetime, years."""

    def _survival(self, age):
        return (age < self.mean).astype(float)


@dataclass(frozen=True)
class Normal(Lifetime):
    """Normal lifetime, not truncated at 0 (ODYM); a zero mean leaves in the inflow year."""

    mean: object
    """Mean lifetime, years."""
    sd: object
    """Standard deviation, years (> 0)."""
    _positive: ClassVar[tuple[str, ...]] = ("sd",)

    def _survival(self, age):
        return _zero_mean_dies(self.mean, _normal_sf((age - self.mean) / self.sd))


@dataclass(frozen=True)
class FoldedNormal(Lifetime):
    """``|X|`` for ``X ~ Normal(mean, sd)``: ``mean`` and ``sd`` are those of the unfolded normal."""

    mean: object
    """Mean of the unfolded normal, years."""
    sd: object
    """Standard deviation of the unfolded normal, years (> 0)."""
    _positive: ClassVar[tuple[str, ...]] = ("sd",)

    def _survival(self, age):
        sf = _normal_sf((age - self.mean) / self.sd) + _normal_sf((age + self.mean) / self.sd)
        return _zero_mean_dies(self.mean, sf)


@dataclass(frozen=True)
class LogNormal(Lifetime):
    """Lognormal lifetime; ``mean`` and ``sd`` are those of the lognormal itself."""

    mean: object
    """Mean lifetime, years."""
    sd: object
    """Standard deviation of the lifetime, years (> 0)."""
    _positive: ClassVar[tuple[str, ...]] = ("sd",)

    def _survival(self, age):
        safe_mean = xr.where(self.mean > 0, self.mean, 1.0)
        sigma2 = np.log1p((self.sd / safe_mean) ** 2)
        mu = np.log(safe_mean) - sigma2 / 2
        log_age = np.log(xr.where(age > 0, age, 1.0))
        sf = xr.where(age > 0, _normal_sf((log_age - mu) / np.sqrt(sigma2)), 1.0)
        return _zero_mean_dies(self.mean, sf)


@dataclass(frozen=True)
class Weibull(Lifetime):
    """Weibull lifetime, S(age) = exp(-(age / scale) ** shape)."""

    shape: object
    """Shape parameter k (> 0), dimensionless."""
    scale: object
    """Scale parameter, years (> 0)."""
    _positive: ClassVar[tuple[str, ...]] = ("shape", "scale")
    _dimensionless: ClassVar[tuple[str, ...]] = ("shape",)

    @classmethod
    def from_mean(cls, mean, shape) -> "Weibull":
        """The Weibull with this mean and shape: scale = mean / Gamma(1 + 1/shape)."""
        shape_da = _as_param(shape, "shape", dimensionless=True)
        return cls(shape=shape_da, scale=_as_param(mean, "mean") / special.gamma(1 + 1 / shape_da))

    @property
    def mean(self) -> xr.DataArray:
        """Mean lifetime, years."""
        return self.scale * special.gamma(1 + 1 / self.shape)

    def _survival(self, age):
        if not isinstance(age, np.ndarray):  # labelled (xarray): broadcasting by name
            return np.exp(-((age.clip(min=0) / self.scale) ** self.shape))
        # On survival matrices (mfa.stock_core.survival_matrix): exp(-exp(k (ln a - ln s))),
        # the broadcast array built once and the rest in place (1.7x the power's speed on
        # Monte-Carlo runs' thousands of matrices; equal to ~1e-15). ln 0 = -inf gives S = 1.
        with np.errstate(divide="ignore"):
            log_age = np.log(np.maximum(age, 0.0))
        shape, scale = np.asarray(self.shape), np.asarray(self.scale)
        one_shape = log_age.ndim == 2 and shape.shape[-2:] == (1, 1)  # k the same for all cells of a matrix
        distinct, where = np.unique(log_age, return_inverse=True) if one_shape else (None, None)
        if one_shape and 4 * distinct.size <= log_age.size:
            # A matrix's T x T ages are its T distinct ages (age = year - cohort), and k
            # is the same for all its cells: a^k = exp(k ln a) for those T ages only, put
            # in place by index, times s^-k per cohort: one exp per cell instead of two
            # (1.4x faster on Monte-Carlo runs' matrices).
            powered = np.exp(shape * distinct)[..., 0, :]  # (*batch, ages)
            values = powered[..., where.reshape(-1)].reshape(*powered.shape[:-1], *log_age.shape)
            per_cohort = np.exp(-shape * np.log(scale))
            if values.shape == np.broadcast_shapes(values.shape, per_cohort.shape):
                values *= per_cohort
            else:
                values = values * per_cohort
        else:
            values = np.empty(np.broadcast_shapes(log_age.shape, scale.shape, shape.shape))
            np.subtract(log_age, np.log(scale), out=values)
            values *= shape
            np.exp(values, out=values)
        np.negative(values, out=values)
        return np.exp(values, out=values)


@dataclass(frozen=True)
class CalendarChange(Lifetime):
    """A lifetime that changes in calendar year ``year`` for every item still in use.

    Until the start of ``year``, items age by ``before``; from then on by ``after``. An item
    of cohort ``c`` that is ``a_s`` years old at the switch and ``a`` years old later
    survives to ``a`` with

        S(a) = S_before(a_s) * S_after(a) / S_after(a_s)

    (the hazard switches: the items that survived the old regime until the switch leave
    from then on at the new distribution's rate for their age; where ``S_after(a_s) = 0``,
    the new distribution says no item is that old, and they leave at the switch). Items
    that enter at or after the switch follow ``after`` alone.

    Why the hazard: it needs no assumption on how the two distributions relate, so it
    works for any pair (a longer Weibull scale from a policy year, a switch from Normal
    to Weibull), it keeps survival continuous at the switch, and it is what "from that
    year on, items fail at the new rate" means. A lifetime extension as a scale factor
    is ``CalendarChange(Weibull(k, s), Weibull(k, 1.1 * s), 2024)``.

    Ages are those of the discretisation (:class:`mfa.stock.Discretisation`): an item of
    cohort ``c`` entering at ``c + point`` is ``year - c - point`` years old at the switch.
    ``before`` and ``after`` may vary by cohort and any other dim (they must broadcast),
    and may themselves be ``CalendarChange`` s (several switches). Used through
    :func:`mfa.stock.survival_matrix` and the stock models; it has no survival by age
    alone.
    """

    before: Lifetime
    """The lifetime until the start of ``year``."""
    after: Lifetime
    """The lifetime from the start of ``year`` on."""
    year: int
    """The first calendar year of ``after``."""

    def __post_init__(self):
        for name in ("before", "after"):
            if not isinstance(getattr(self, name), Lifetime):
                raise TypeError(f"CalendarChange: {name!r} must be a Lifetime, got {type(getattr(self, name)).__name__}")
        if not isinstance(self.year, (numbers.Integral, np.integer)) or isinstance(self.year, bool):
            raise TypeError(f"CalendarChange: 'year' must be an integer calendar year, got {self.year!r}")
        try:
            xr.align(*self.before.params.values(), *self.after.params.values(), join="exact")
        except ValueError as err:
            raise ValueError(f"CalendarChange: 'before' and 'after' do not broadcast: {err}") from err

    @property
    def params(self) -> dict[str, xr.DataArray]:
        """The parameters of both lifetimes, named ``before.<name>`` and ``after.<name>``."""
        return {f"{side}.{k}": v for side in ("before", "after") for k, v in getattr(self, side).params.items()}

    @classmethod
    def from_table(cls, table, dims=None):
        raise TypeError("CalendarChange.from_table: read 'before' and 'after' with their own from_table")

    def sel_cohorts(self, cohorts) -> "CalendarChange":
        return CalendarChange(self.before.sel_cohorts(cohorts), self.after.sel_cohorts(cohorts), self.year)

    def survival(self, age):
        raise TypeError(
            "CalendarChange: survival depends on the calendar year as well as the age; use "
            "mfa.stock.survival_matrix(lifetime, years)"
        )

    def _grid(self, cohorts, dims):
        before, after = self.before._grid(cohorts, dims), self.after._grid(cohorts, dims)
        switch = float(self.year)

        def survival(time, entry):
            at_switch, now = after(switch, entry), after(time, entry)
            kept = before(switch, entry) * now / np.where(at_switch > 0, at_switch, 1.0)
            changed = np.where(at_switch > 0, kept, 0.0)
            changed = np.where(np.subtract(switch, entry) > 0, changed, now)  # entered after the switch
            return np.where(np.asarray(time) > switch, changed, before(time, entry))

        return survival
