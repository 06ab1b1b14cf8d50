"""The package's one pint registry, and the crossings in and out of unit-aware land.

Everything unit-aware in mfa uses :data:`ureg`, cf_xarray's UDUNITS-aware registry, with
the few units the model needs defined here once. Quantities stay pint-aware from
:func:`quantify` (inputs) to :func:`dequantify` (NetCDF/CSV), which writes UDUNITS
strings that ``cf_units`` accepts.

Two UDUNITS traps are handled on the way out (see ``shared/CONVENTIONS.md``):
pint spells kilowatt-hours ``kWh``, which UDUNITS rejects, so they are written ``kW h``;
and vehicle counts are written as ``1`` (the variable's ``long_name`` says what is
counted), because UDUNITS has no vehicle unit.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pint
import platformdirs
import xarray as xr

log = logging.getLogger(__name__)


def _definitions_cache() -> Path | None:
    """A folder with pint's unit definitions parsed and pickled (pint's ``cache_folder``),
    in the user's cache folder, never in a checkout; ``None`` when none can be written.

    Parsing them costs 0.3-1 s of every run, loading the pickles ~0.04 s. pint writes
    the pickles in place, so the folder is filled under another name and renamed: a
    process either finds it complete or not at all (then parses, as without one)."""
    folder = platformdirs.user_cache_path("mfa", appauthor=False) / f"pint-{pint.__version__}"
    if folder.is_dir():
        return folder
    staging = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        pint.UnitRegistry(cache_folder=staging)  # parses the definitions and pickles them
        staging.rename(folder)
    except OSError as err:  # not writable, or another process renamed its folder first
        log.debug("pint definitions cache %s: %s", folder, err)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return folder if folder.is_dir() else None


@contextlib.contextmanager
def _registry_options(cache: Path | None):
    """While cf_xarray.units builds its registry on import: pint's definitions from
    ``cache``, and no matplotlib (``setup_matplotlib`` imports it, 0.2 s, in runs that
    draw nothing: :mod:`mfa.report.png`, which every drawing module imports, sets pint's
    matplotlib support up)."""
    registry, setup = pint.UnitRegistry, pint.UnitRegistry.setup_matplotlib
    if cache is not None:
        pint.UnitRegistry = functools.partial(registry, cache_folder=cache)
    registry.setup_matplotlib = lambda self, enable=True: None
    try:
        yield
    finally:
        pint.UnitRegistry = registry
        registry.setup_matplotlib = setup


if "cf_xarray.units" not in sys.modules:  # else it was imported first (by a user): its registry is built
    with _registry_options(_definitions_cache()):
        import cf_xarray.units  # noqa: F401
import cf_xarray.units  # noqa: E402  (the UDUNITS-aware registry; registers pint's formatter "cf")
import pint_xarray  # noqa: E402, F401  (registers the .pint accessor)

ureg: pint.UnitRegistry = cf_xarray.units.units
"""The package-wide registry. Never create another one: pint refuses to mix them."""

# Counted things get dimensions of their own, so that vehicles never add to tonnes.
for _definition in ("vehicle = [vehicle] = veh", "person = [person]"):
    _name = _definition.split("=")[0].strip()
    if _name not in ureg:
        ureg.define(_definition)
# UDUNITS's year is the tropical year; pint's (and cf_xarray's) the Julian year, 2e-5
# longer. Our time step is "a year" whichever it is, so match what "yr" means in files.
ureg.define("year = 31556925.9747 * second = yr")
pint.set_application_registry(ureg)

_COUNT_UNITS = {"veh", "vehicle", "person"}
_WATT_HOUR = re.compile(r"^([kMGT]?)Wh(-?\d*)$")
_TOKEN = re.compile(r"^(.+?)(-?\d+)?$")


def _udunits_tokens(cf_string: str) -> list[str]:
    tokens = []
    for token in cf_string.split():
        watt_hour = _WATT_HOUR.match(token)
        if watt_hour:
            prefix, power = watt_hour.groups()
            tokens += [f"{prefix}W{power}", f"h{power}"]
            continue
        name, power = _TOKEN.match(token).groups()
        if name in _COUNT_UNITS:
            continue
        if name == "kt":  # a knot to UDUNITS (and pint); a kilotonne is a gigagram
            token = f"Gg{power or ''}"
        tokens.append(token)
    return tokens


def udunits(unit: str | pint.Unit | pint.Quantity) -> str:
    """Return the UDUNITS string for a pint unit (``"kWh/yr"`` -> ``"kW h yr-1"``).

    Counted units (vehicle, person) drop out: a count of vehicles per year is ``yr-1``.
    """
    if isinstance(unit, pint.Quantity):
        unit = unit.units
    unit = ureg.Unit(unit) if isinstance(unit, str) else unit
    if unit.dimensionless and unit == ureg.dimensionless:
        return "1"
    tokens = _udunits_tokens(format(unit, "cf"))
    return " ".join(tokens) if tokens else "1"


def quantity(value, unit: str) -> pint.Quantity:
    """A pint quantity in the package registry."""
    return ureg.Quantity(value, unit)


def is_quantified(obj) -> bool:
    """True when ``obj`` (array, DataArray or Dataset variable) carries pint units."""
    data = obj.data if isinstance(obj, xr.DataArray) else obj
    return isinstance(data, pint.Quantity)


def quantify(da: xr.DataArray, unit: str | None = None) -> xr.DataArray:
    """Attach units: ``unit`` if given, else the ``units`` attribute."""
    if is_quantified(da):
        return da if unit is None else da.pint.to(unit)
    return da.pint.quantify(unit, unit_registry=ureg) if unit else da.pint.quantify(unit_registry=ureg)


def dequantify(obj: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """Strip pint units into UDUNITS ``units`` attributes, ready for NetCDF or CSV.

    A Dataset is rebuilt in one step: assigning its variables one by one makes xarray look
    at every quantified variable still in it, and with dask installed each look at a pint
    array formats the whole array into an error message (pint's ``__getattr__`` answering
    dask's ``is_dask_collection``): milliseconds per look. Coordinates are shared, not
    copied (attributes are copied): deep copies cost milliseconds per array too."""
    if isinstance(obj, xr.Dataset):
        parts = {name: _plain(obj.variables[name]) for name in obj.data_vars}
        out = obj.copy(deep=False, data={name: data for name, (data, _) in parts.items()})
        for name, (_, attrs) in parts.items():
            out.variables[name].attrs = attrs
        return out
    if not is_quantified(obj):
        return obj
    data, attrs = _plain(obj.variable)
    out = obj.copy(deep=False, data=data)
    out.attrs = attrs
    return out


def _plain(var: xr.Variable) -> tuple:
    """The plain numbers of ``var`` and its attributes with its UDUNITS ``units``."""
    if not is_quantified(var.data):
        return var.data, dict(var.attrs)
    return var.data.magnitude, {**var.attrs, "units": udunits(var.data.units)}


def magnitude_and_unit(da: xr.DataArray, name: str) -> tuple[xr.DataArray, pint.Unit | None]:
    """Split a DataArray into plain numbers and its pint unit (``None`` when unitless);
    coordinates shared, as :func:`dequantify`.

    ``name`` is only used in error messages.
    """
    if not isinstance(da, xr.DataArray):
        raise ValueError(f"{name}: expected an xarray.DataArray, got {type(da).__name__}")
    if is_quantified(da):
        return da.copy(deep=False, data=da.data.magnitude), da.data.units
    return da, None


def plain(da: xr.DataArray, unit: str) -> xr.DataArray:
    """``da`` converted to ``unit`` as plain numbers (a DataArray, coordinates kept).

    Converted on the magnitudes (:func:`magnitude`): xarray's own path (``.pint.to``)
    looks at the pint array as :func:`dequantify` says, milliseconds per call."""
    if isinstance(da, pint.Quantity):
        return xr.DataArray(da.to(unit).magnitude)
    if not is_quantified(da):
        raise ValueError(f"{da.name}: no pint units to convert to {unit!r}")
    return da.copy(deep=False, data=magnitude(da.data, unit))


def is_rate(unit) -> bool:
    """True when ``unit`` divides by a unit of time itself (``kWh/yr``, ``vehicle/yr``);
    ``kWh`` has time in its dimensions but is an amount."""
    unit = ureg.Unit(unit) if isinstance(unit, str) else unit
    time = ureg.year.dimensionality
    return any(power < 0 and ureg.Unit(term).dimensionality == time for term, power in unit._units.items())


@functools.lru_cache(maxsize=256)
def as_unit(text) -> pint.Unit:
    """The pint unit ``text`` (or a unit) stands for, cached (parsing costs ~50 us)."""
    return ureg.Unit(text)


@functools.lru_cache(maxsize=1024)
def factor(source, target) -> float:
    """The number that converts a magnitude in unit ``source`` to one in ``target``
    (cached: a pint conversion costs ~50 us, a product with this nothing)."""
    return float(ureg.Quantity(1.0, as_unit(source)).to(as_unit(target)).magnitude)


def magnitude(value, unit) -> np.ndarray:
    """The numbers of ``value`` (a pint quantity of numbers or an array) in ``unit``; no
    copy when already in it. A plain array must be meant in ``unit`` already."""
    if not isinstance(value, pint.Quantity):
        return np.asarray(value)
    scale = 1.0 if value.units == as_unit(unit) else factor(value.units, unit)
    return value.magnitude if scale == 1.0 else value.magnitude * scale


def attach(values, unit) -> pint.Quantity:
    """``values`` (numbers) as a pint quantity in ``unit`` (no copy)."""
    return ureg.Quantity(values, as_unit(unit))
