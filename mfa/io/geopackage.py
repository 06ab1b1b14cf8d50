"""GeoPackage layers for QGIS: ``results.gpkg`` (the yearly results) and the writer that
``gis.gpkg`` (:mod:`mfa.io.gis`) shares, which gives every field its unit and
description as field metadata.

QGIS shows only 1-D fields of a NetCDF layer (:mod:`mfa.io.gis`); for time series
(Temporal Controller, charts, filters) it wants a table. ``results.gpkg`` has one layer,
``results``, with one feature per region x scenario x year and one column per variable
(and element, or bound):

==================  ========  ========================================================
column              type      content
==================  ========  ========================================================
region              int32     GB/T 2260 code
name_en, name_zh    string    region names
scenario            string    scenario name
year                int32     model year
date                Date      1 January of the year: the Temporal Controller's field
metal_demand_li...  float64   ``<variable>_<element>`` for variables by element
vehicle_stock...    float64   other summary variables, powertrain and chemistry summed;
                              a remaining detail dim in the name (``carbon_reduction_upper``)
geometry            Point or  the region's representative point, or its polygon when
                    Polygon   boundaries were given (WGS 84)
==================  ========  ========================================================

One row per region, scenario and year (wide) instead of one per value (long): the long
table repeated the keys, the unit and the geometry for every number (26 MB of points
for a 2.4 MB results.nc); units now live once per column.

The layer's default QGIS style sets the Temporal Controller up: each feature lasts one
year from ``date`` (1 January, so that a one-year step shows one model year). Field
metadata is written three ways, because readers differ (GDAL 3.6 of Debian 12
reads none of the first two): the ``gpkg_data_columns`` table of the GeoPackage schema
extension (``title``: alias with the unit, ``description``: comment), which GDAL >= 3.7
reads as each field's alternative name and comment; a default QGIS style in
``layer_styles`` whose aliases QGIS applies on opening whatever its GDAL; and the
layer's metadata (``<field>=<alias>``), which every GDAL's ``ogrinfo`` prints.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd
import xarray as xr

from ..units import is_quantified, magnitude_and_unit, quantify, udunits
from . import atomic_path
from .gis import region_table

log = logging.getLogger(__name__)

LAYER = "results"
KEY_DIMS = ("scenario", "region", "year")
DICTIONARY_COLUMNS = ("name", "alias", "unit", "description", "source_variable", "scenario", "element", "year")
"""Columns of a field dictionary (:func:`write_layer`'s ``fields``, ``gis_fields.csv``)."""


def other_variables() -> list[str]:
    """The declared system's summary variables that are not by element."""
    from .. import definition

    system = definition.load()
    return [n for n in system.summary if "element" not in system.dims_of(n)]


def metal_variables(results: xr.Dataset) -> list[str]:
    """Variables with exactly the dims scenario, region, year, element (in any order)."""
    wanted = set(KEY_DIMS) | {"element"}
    return [name for name, da in results.data_vars.items() if set(da.dims) == wanted]


def _slug(text) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(text).lower()).strip("_")


def wide_table(results: xr.Dataset, variables: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``results.gpkg`` without geometry (region, scenario, year, then one
    column per variable and element or bound) and their field dictionary."""
    from .. import definition

    system = definition.load()
    names = list(variables) if variables is not None else metal_variables(results) + [v for v in other_variables() if v in results]
    rows = ("region", "scenario", "year")
    index = None
    columns: dict[str, np.ndarray] = {}
    fields = []
    for name in names:
        # the sum on plain numbers: on a pint array it costs milliseconds (mfa.units.dequantify)
        values, unit = magnitude_and_unit(results[name] if is_quantified(results[name]) else quantify(results[name]), name)
        values = values.sum([d for d in definition.load().summed_dims if d in values.dims])
        unit = udunits(unit)
        detail = [d for d in values.dims if d not in KEY_DIMS]
        if len(detail) > 1:
            raise ValueError(f"{name}: more than one detail dimension {detail}")
        labels = [None] if not detail else [str(v) for v in values[detail[0]].values]
        var = system.variables.get(name)
        if index is None:
            index = pd.MultiIndex.from_product([values[d].values for d in rows], names=rows)
        # numpy columns in the order of the rows (region, then scenario, then year): a
        # Dataset of ~100 DataArrays would align them all only to make the same frame
        grid = values.transpose(*rows, *detail).values
        for i, label in enumerate(labels):
            column = name if label is None else f"{name}_{_slug(label)}"
            columns[column] = (grid if label is None else grid[..., i]).ravel()
            long_name = var.long_name if var else results[name].attrs.get("long_name", name)
            fields.append({
                "name": column, "alias": f"{long_name}{f', {label}' if label else ''} [{unit}]", "unit": unit,
                "description": var.description if var else "", "source_variable": name, "scenario": "",
                "element": label if detail == ["element"] else "", "year": "",
            })
    frame = pd.DataFrame(columns, index=index).reset_index()
    frame["region"] = frame["region"].astype("int32")
    frame["year"] = frame["year"].astype("int32")
    frame["scenario"] = frame["scenario"].astype(str)
    frame.insert(3, "date", pd.to_datetime(frame["year"].astype(str) + "-01-01").to_numpy(dtype="datetime64[D]"))
    return frame, pd.DataFrame(fields, columns=list(DICTIONARY_COLUMNS))


def write_geopackage(
    results: xr.Dataset,
    regions: pd.DataFrame,
    path: Path,
    variables: list[str] | None = None,
    geometries: list | None = None,
) -> Path:
    """Write ``results.gpkg``: :func:`wide_table` of ``results`` (pint-quantified), each
    row the region's representative point, or its polygon from ``geometries`` (shapely,
    one per region of ``results`` in order, ``None`` for none: :func:`mfa.io.gis.read_boundaries`)."""
    import shapely

    table, fields = wide_table(results, variables)
    places = region_table(results, regions)
    if geometries is None:
        geometries = list(shapely.points(places["lon"].to_numpy(float), places["lat"].to_numpy(float)))
    by_code = dict(zip(places["code"].astype(int), shapely.to_wkb(np.array(geometries, dtype=object))))
    names = places.set_index("code")
    table.insert(1, "name_en", table["region"].map(names["name_en"]).astype(str))
    table.insert(2, "name_zh", table["region"].map(names["name_zh"]).astype(str))
    identity = pd.DataFrame([
        {**dict.fromkeys(DICTIONARY_COLUMNS, ""), "name": name, "alias": alias, "description": description} for name, alias, description in (
            ("region", "region code (GB/T 2260)", "GB/T 2260 code of the region"),
            ("name_en", "region name (English)", "Region name in English"),
            ("name_zh", "region name (Chinese)", "Region name in Chinese"),
            ("scenario", "scenario", "Scenario of the case"),
            ("year", "model year", "Calendar year of the values (flows during it, stocks at its end)"),
            ("date", "date (start of the model year)", "1 January of the model year; each feature lasts one year (QGIS Temporal Controller)"),
        )
    ])
    geometry = np.array([by_code[c] for c in table["region"].to_numpy()], dtype=object)
    return write_layer(path, LAYER, table, geometry, pd.concat([identity, fields], ignore_index=True),
                       "mfa results: one feature per region, scenario and year, one field per variable", temporal="date")


def _geometry_type(wkb: np.ndarray) -> str:
    import shapely

    kinds = {shapely.from_wkb(g).geom_type for g in wkb if g is not None}
    return "Point" if kinds <= {"Point"} else "MultiPolygon"


def write_layer(
    path: Path, layer: str, table: pd.DataFrame, geometry: np.ndarray, fields: pd.DataFrame, description: str, temporal: str | None = None,
) -> Path:
    """Write ``table`` with ``geometry`` (WKB, WGS 84) as the GeoPackage layer ``layer``
    at ``path`` (atomically); ``fields`` (:data:`DICTIONARY_COLUMNS`) gives each
    column's alias, unit and description, written as field metadata (module docstring).
    With ``temporal`` (a date field), QGIS shows each feature for one year from it."""
    import pyogrio

    columns = list(table.columns)
    data = [table[c].to_numpy(dtype=object) if table[c].dtype == object else table[c].to_numpy() for c in columns]
    meta = fields.set_index("name").reindex(columns).fillna("")
    layer_metadata = {"DESCRIPTION": description}
    layer_metadata.update(zip(meta.index, meta["alias"]))
    kind = _geometry_type(geometry)
    with atomic_path(path) as tmp:
        gpkg = tmp.with_name(tmp.name + ".gpkg")  # GDAL wants the .gpkg extension
        try:
            pyogrio.raw.write(
                gpkg, geometry, data, columns, layer=layer, driver="GPKG", geometry_type=kind, crs="EPSG:4326",
                encoding="UTF-8", promote_to_multi=kind != "Point", layer_options={"SPATIAL_INDEX": "YES"},
                # GeoPackage 1.2: GDAL 3.6 (Debian 12) and older QGIS read it without a warning
                dataset_options={"VERSION": "1.2"}, layer_metadata=layer_metadata,
            )
            _write_field_metadata(gpkg, layer, meta, temporal)
            os.replace(gpkg, tmp)
        finally:
            for leftover in (gpkg, gpkg.with_name(gpkg.name + "-journal"), gpkg.with_name(gpkg.name + "-wal")):
                if leftover.exists():
                    leftover.unlink()
    log.info("%s: layer %s, %d features, %d fields", path, layer, len(table), len(columns))
    return Path(path)


def _rows(meta: pd.DataFrame):
    """``(name, row)`` per field of ``meta`` (indexed by name), each row a named tuple:
    a tenth of the time of ``iterrows``, which builds a Series per row."""
    return zip(meta.index, meta.itertuples(index=False))


def _qml(meta: pd.DataFrame, temporal: str | None) -> str:
    """A QGIS style of the fields category only (each field's alias; index 0 is the
    fid), and of the temporal category when ``temporal`` names a date field (mode 1:
    a date field per feature, lasting one year)."""
    aliases = "".join(
        f"<alias field={quoteattr(name)} index=\"{i}\" name={quoteattr(row.alias)}/>"
        for i, (name, row) in enumerate(_rows(meta), start=1)
    )
    categories, extra = "Fields", ""
    if temporal:
        categories = "Fields|Temporal"
        extra = (f"<temporal enabled=\"1\" mode=\"1\" startField={quoteattr(temporal)} endField=\"\" durationField=\"\""
                 " durationUnit=\"y\" fixedDuration=\"1\" accumulate=\"0\" startExpression=\"\" endExpression=\"\"/>")
    return (f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'><qgis version=\"3.22.0\" styleCategories=\"{categories}\">"
            f"{extra}<aliases>{aliases}</aliases></qgis>")


def _write_field_metadata(gpkg: Path, layer: str, meta: pd.DataFrame, temporal: str | None) -> None:
    """The ``gpkg_data_columns`` rows (schema extension, as GDAL >= 3.7 writes them) and
    a default QGIS style in ``layer_styles`` (as QGIS saves one into a GeoPackage)."""
    with closing(sqlite3.connect(gpkg)) as con, con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS gpkg_data_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT,"
            " title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT,"
            " CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE (table_name, name))"
        )
        con.execute(
            "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) SELECT 'gpkg_data_columns', NULL,"
            " 'gpkg_schema', 'http://www.geopackage.org/spec121/#extension_schema', 'read-write'"
            " WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions WHERE table_name = 'gpkg_data_columns')"
        )
        con.executemany(
            "INSERT INTO gpkg_data_columns (table_name, column_name, name, title, description) VALUES (?, ?, ?, ?, ?)",
            [(layer, name, name, row.alias, f"{row.description} Unit: {row.unit}." if row.unit else row.description)
             for name, row in _rows(meta)],
        )
        con.execute(
            "CREATE TABLE layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),"
            " f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,"
            " useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME)"
        )
        con.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, styleQML,"
            " styleSLD, useAsDefault, description, owner, ui, update_time)"
            " VALUES ('', '', ?, 'geom', ?, ?, '', 1, 'field aliases with units (mfa)', '', '', strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
            (layer, layer, _qml(meta, temporal)),
        )
        # registered as QGIS registers it: an attributes table of the GeoPackage
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change)"
            " VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles', strftime('%Y-%m-%dT%H:%M:%fZ','now'))"
        )
