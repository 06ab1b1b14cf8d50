"""Writing any result of the library (a stock model, a user's own Dataset) to NetCDF.

Imports xarray and the unit registry only when called, so that ``import mfa.io`` (which
re-exports :func:`to_netcdf`) stays cheap.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import write_netcdf

log = logging.getLogger(__name__)


def to_netcdf(ds, path) -> Path:
    """Write ``ds`` (an ``xr.Dataset`` or ``xr.DataArray``) to a NetCDF file at ``path``,
    whole or not at all.

    pint units become UDUNITS ``units`` attributes (:func:`mfa.units.dequantify`:
    ``vehicle/yr`` is written ``yr-1``, kilowatt-hours ``kW h``), which xarray's own
    ``to_netcdf`` cannot do for a quantified array. The file appears only when complete
    (written beside it, then renamed). Global ``Conventions = "CF-1.8"`` unless ``ds``
    says otherwise. A variable without units is written as it is, and logged. Returns
    the path.
    """
    import xarray as xr

    from ..units import dequantify, is_quantified

    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "value")
    unitless = [name for name, v in ds.data_vars.items() if not is_quantified(v) and "units" not in v.attrs]
    if unitless:
        log.warning("to_netcdf: no units for %s; written as plain numbers", unitless)
    out = dequantify(ds)
    out.attrs.setdefault("Conventions", "CF-1.8")
    return write_netcdf(out, path)
