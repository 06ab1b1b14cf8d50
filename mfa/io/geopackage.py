"""``results.gpkg``: the yearly results as one long table of points, for QGIS.

QGIS shows only 1-D fields of a NetCDF layer (``mfa.io.gis``); for time series (temporal
controller, charts, filters) it wants a table. This module writes one GeoPackage layer,
``results``, with one row per region x year x scenario x element x variable:

=========  ========  =================================================================
column     type      content
=========  ========  =================================================================
region     int32     GB/T 2260 code
year       int32     model year
scenario   string    scenario name
element    string    Li, Ni, Co, Mn ...; empty for variables without element
variable   string    results.nc variable name (``carbon_reduction_lower``: with its bound)
value      float64   the value, in ``unit``
unit       string    UDUNITS string (``t yr-1``, ``t``; counts ``1``)
geometry   Point     the region's representative point, WGS 84
=========  ========  =================================================================

Metal variables are every variable of ``results`` with dims (scenario, region, year,
element); :func:`other_variables` are summed over powertrain and chemistry, and a
remaining detail dimension (``bound``) is written into the variable name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..units import is_quantified, quantify, udunits
from . import atomic_path
from .gis import region_table

LAYER = "results"
def other_variables() -> list[str]:
    """The declared system's summary variables that are not by element."""
    from .. import definition

    system = definition.load()
    return [n for n in system.summary if "element" not in system.dims_of(n)]


SUMMED_DIMS = ("powertrain", "chemistry")
KEY_DIMS = ("scenario", "region", "year")


def metal_variables(results: xr.Dataset) -> list[str]:
    """Variables with exactly the dims scenario, region, year, element (in any order)."""
    wanted = set(KEY_DIMS) | {"element"}
    return [name for name, da in results.data_vars.items() if set(da.dims) == wanted]


def long_table(results: xr.Dataset, variables: list[str] | None = None) -> pd.DataFrame:
    """The rows of the GeoPackage without geometry: region, year, scenario, element,
    variable, value, unit."""
    names = list(variables) if variables is not None else metal_variables(results) + [v for v in other_variables() if v in results]
    frames = []
    for name in names:
        da = results[name]
        da = da if is_quantified(da) else quantify(da)
        da = da.sum([d for d in SUMMED_DIMS if d in da.dims])
        unit = udunits(da.data.units)
        values = da.pint.dequantify()
        detail = [d for d in values.dims if d not in (*KEY_DIMS, "element")]
        if len(detail) > 1:
            raise ValueError(f"{name}: more than one detail dimension {detail}")
        labels = [None] if not detail else [str(v) for v in values[detail[0]].values]
        for label in labels:
            part = values if label is None else values.sel({detail[0]: label})
            order = [d for d in ("scenario", "region", "year", "element") if d in part.dims]
            df = part.transpose(*order).to_series().rename("value").reset_index()
            if "element" not in df:
                df["element"] = ""
            df["variable"] = name if label is None else f"{name}_{label}"
            df["unit"] = unit
            frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["region"] = out["region"].astype("int32")
    out["year"] = out["year"].astype("int32")
    for column in ("scenario", "element", "variable", "unit"):
        out[column] = out[column].astype(str)
    return out[["region", "year", "scenario", "element", "variable", "value", "unit"]]


def _point_wkb(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """ISO WKB of 2-D points (little endian), one bytes object per point."""
    record = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    buf = np.empty(len(lon), dtype=record)
    buf["order"], buf["type"], buf["x"], buf["y"] = 1, 1, lon, lat
    raw = buf.tobytes()
    size = record.itemsize
    return np.array([raw[i * size:(i + 1) * size] for i in range(len(lon))], dtype=object)


def write_geopackage(results: xr.Dataset, regions: pd.DataFrame, path: Path, variables: list[str] | None = None) -> Path:
    """Write the long table of ``results`` (pint-quantified) to the GeoPackage ``path``,
    layer ``results``, each row a point at its region's representative point."""
    import pyogrio

    table = long_table(results, variables)
    points = region_table(results, regions).set_index("code")
    unique = points.index.to_numpy()
    wkb_by_region = dict(zip(unique, _point_wkb(points["lon"].to_numpy(float), points["lat"].to_numpy(float))))
    geometry = np.array([wkb_by_region[c] for c in table["region"].to_numpy()], dtype=object)
    fields = list(table.columns)
    data = [table[c].to_numpy(dtype=object) if table[c].dtype == object else table[c].to_numpy() for c in fields]
    with atomic_path(path) as tmp:
        gpkg = tmp.with_name(tmp.name + ".gpkg")  # GDAL wants the .gpkg extension
        try:
            pyogrio.raw.write(
                gpkg, geometry, data, fields, layer=LAYER, driver="GPKG", geometry_type="Point", crs="EPSG:4326",
                encoding="UTF-8", layer_options={"SPATIAL_INDEX": "YES"},
                # GeoPackage 1.2: GDAL 3.6 (Debian 12) and older QGIS read it without a warning
                dataset_options={"VERSION": "1.2"},
                layer_metadata={"DESCRIPTION": "mfa results, long format: one row per region, year, scenario, element and variable"},
            )
            os.replace(gpkg, tmp)
        finally:
            for leftover in (gpkg, gpkg.with_name(gpkg.name + "-journal"), gpkg.with_name(gpkg.name + "-wal")):
                if leftover.exists():
                    leftover.unlink()
    return Path(path)
