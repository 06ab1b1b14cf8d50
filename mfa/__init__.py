"""mfa: a dynamic material-flow model of EV traction batteries, and the stock engine under
it as a library.

The library, for models of your own:

- :mod:`mfa.stock`: inflow- and stock-driven cohort models, product-component stocks
  (:func:`~mfa.stock.inflow_driven`, :func:`~mfa.stock.stock_driven`,
  :func:`~mfa.stock.product_component`); its numpy core is :mod:`mfa.stock.core
  <mfa.stock_core>`.
- :mod:`mfa.lifetimes`: lifetime distributions (``Weibull``, ``Normal``, ``LogNormal``,
  ``FoldedNormal``, ``Fixed``), by cohort and any other dim, and ``CalendarChange``.
- :mod:`mfa.tables`: long and wide tables (DataFrame, CSV, Excel) in, tidy frames out.
- :func:`mfa.io.to_netcdf`: a result to NetCDF with UDUNITS units.
- :mod:`mfa.units`: the one pint registry (``ureg``).

Submodules and the names above load on first use (``import mfa`` itself imports
nothing heavy): ``import mfa; mfa.stock.inflow_driven(...)`` works.
"""

from __future__ import annotations

import importlib

_SUBMODULES = {
    "balance", "batteries", "calibration", "carbon", "cli", "compare", "config", "end_of_life",
    "errors", "fleet", "inputs", "io", "lifetimes", "metals", "model", "parameters", "regions",
    "report", "stock", "stock_core", "tables", "uncertainty", "units", "variables",
}
_NAMES = {
    "inflow_driven": "stock",
    "stock_driven": "stock",
    "product_component": "stock",
    "survival_matrix": "stock",
    "Lifetime": "lifetimes",
    "Weibull": "lifetimes",
    "Normal": "lifetimes",
    "LogNormal": "lifetimes",
    "FoldedNormal": "lifetimes",
    "Fixed": "lifetimes",
    "CalendarChange": "lifetimes",
    "from_long": "tables",
    "from_wide": "tables",
    "to_long": "tables",
    "to_netcdf": "io",
    "ureg": "units",
}

__all__ = ["__version__", *sorted(_NAMES), *sorted(_SUBMODULES)]


def _version() -> str:
    """The installed distribution's version (read lazily: importlib.metadata costs ~20 ms)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mfa")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        return _version()
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'mfa' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
