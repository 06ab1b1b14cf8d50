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
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
import pint
import xarray as xr
from scipy import special

from .units import is_quantified

_SQRT2 = math.sqrt(2.0)


def _as_param(value, name: str, dimensionless: bool = False) -> xr.DataArray:
    if isinstance(value, xr.DataArray):
        da = value
    else:
        da = xr.DataArray(value)
    if hasattr(value, "to") and hasattr(value, "magnitude"):  # a bare pint.Quantity
        da = xr.DataArray(value)
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
        raise ValueError(f"lifetime parameter {name!r}: expected numbers, found NaN")
    return da


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
        aligned = {}
        for name, p in self.params.items():
            if "cohort" in p.dims:
                missing = np.setdiff1d(np.asarray(cohorts), p["cohort"].values)
                if missing.size:
                    raise ValueError(
                        f"{type(self).__name__}: lifetime parameter {name!r} has no value for "
                        f"cohorts {missing.tolist()}"
                    )
                p = p.sel(cohort=cohorts)
            aligned[name] = p
        return type(self)(**aligned)

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
    """|X| for X ~ Normal(mean, sd): ``mean`` and ``sd`` are those of the unfolded normal."""

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
        return np.exp(-((age.clip(min=0) / self.scale) ** self.shape))
