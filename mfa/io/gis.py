"""The GIS views: ``gis.nc`` and ``gis.gpkg``, one feature per region with flat fields
that GDAL, QGIS and ArcGIS read, and ``gis_fields.csv``, their field dictionary.

``results.nc`` (:mod:`mfa.io.netcdf`) is the analysis cube (and the CF timeSeries for
DSG tools); GDAL and QGIS drop every variable with more than one dimension from a vector
layer and offer each as a meaningless raster sublayer. So this module writes only 1-D
variables along ``region`` (``shared/CONVENTIONS.md``, "NetCDF that GIS tools open"):

- ``gis.nc``: ``Conventions = "CF-1.8"``; identity fields ``region_code`` (int32),
  ``name_zh``, ``name_pinyin``, ``name_en`` (char arrays, UTF-8), ``lat``/``lon``
  (representative points); a WGS 84 ``crs`` grid mapping; headline fields of dimension
  ``(region)``: ``li_demand_cum_2023_2050_conservative``, ``li_demand_2030_conservative``,
  ``li_recovered_2050_positive``, ``vehicle_stock_2030_negative``,
  ``carbon_reduction_2050_upper_conservative`` ... each with ``units``, ``long_name``,
  ``description``; and a CF-1.8 geometry container ``region_geometry``: polygons from a
  user-supplied boundaries file (:func:`write_gis` ``boundaries=``), else the
  representative points. Every field names it in its ``geometry`` attribute, which is
  what makes GDAL list it as a field of the layer ``region_geometry``.
- ``gis.gpkg`` (layer ``regions``): the same features and fields, each field's unit and
  description as GeoPackage field metadata, written twice because readers differ: the
  ``gpkg_data_columns`` table of the schema extension (``title`` = alias, ``description``
  = comment: GDAL >= 3.7 reads them as the field's alternative name and comment, QGIS
  with such a GDAL shows them), and a default QGIS style in ``layer_styles`` whose
  aliases QGIS applies when it opens the layer, whatever its GDAL (Debian 12 has 3.6,
  which reads neither column).
- ``gis_fields.csv``: name, alias, unit, description, source variable, scenario,
  element and year(s) of each field.

Boundaries (GeoJSON, GPKG, anything GDAL reads) are read with pyogrio and shapely; a
file in another CRS is reprojected to WGS 84 with pyproj, and an :class:`InputError`
says so when pyproj is not installed. :func:`check_boundaries` reads a file the same way
before a run, so that a bad one stops it before anything is written.

The report :func:`write_gis` returns: ``path``, ``regions`` (count), ``geometry``
(``point``/``polygon``), ``fields`` (the 1-D field names), ``matched`` (codes with a
geometry), ``regions_without_polygon``, ``unknown_codes`` (codes of the file that are
no region), and with boundaries ``boundaries``, ``code_field``, ``crs``, ``reprojected``.
"""

from __future__ import annotations

import logging
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ..units import is_quantified, magnitude_and_unit, quantify, ureg
from . import write_netcdf

log = logging.getLogger(__name__)

METALS = ("Li", "Ni", "Co", "Mn")
ELEMENT_NAMES = {"Li": "lithium", "Ni": "nickel", "Co": "cobalt", "Mn": "manganese", "Al": "aluminium", "Cu": "copper", "Fe": "iron"}
MILESTONES = (2030, 2050)
CARBON_MILESTONES = (2050,)
GEOMETRY = "region_geometry"
CRS = "crs"
CODE_FIELDS = ("code", "region_code", "adcode", "gb_code", "gbcode", "gb2260")
"""Fields of a boundaries file taken as the GB/T 2260 code, first match wins (any case)."""
REGION_COLUMNS = ("code", "name_en", "name_zh", "pinyin", "lat", "lon")

WGS84_WKT = (
    'GEOGCRS["WGS 84",'
    'ENSEMBLE["World Geodetic System 1984 ensemble",'
    'MEMBER["World Geodetic System 1984 (Transit)"],MEMBER["World Geodetic System 1984 (G730)"],'
    'MEMBER["World Geodetic System 1984 (G873)"],MEMBER["World Geodetic System 1984 (G1150)"],'
    'MEMBER["World Geodetic System 1984 (G1674)"],MEMBER["World Geodetic System 1984 (G1762)"],'
    'MEMBER["World Geodetic System 1984 (G2139)"],'
    'ELLIPSOID["WGS 84",6378137,298.257223563,LENGTHUNIT["metre",1]],ENSEMBLEACCURACY[2.0]],'
    'PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433]],'
    'CS[ellipsoidal,2],'
    'AXIS["geodetic latitude (Lat)",north,ORDER[1],ANGLEUNIT["degree",0.0174532925199433]],'
    'AXIS["geodetic longitude (Lon)",east,ORDER[2],ANGLEUNIT["degree",0.0174532925199433]],'
    'USAGE[SCOPE["Horizontal component of 3D system."],AREA["World."],BBOX[-90,-180,90,180]],'
    'ID["EPSG",4326]]'
)
"""EPSG:4326 as WKT2 (what PROJ prints), so that no CRS library is needed to write it."""


# --------------------------------------------------------------------------- regions


def packaged_regions() -> pd.DataFrame:
    """``inputs/provinces_meta.csv`` of the project (empty when there is none)."""
    from .. import config

    try:
        path = config.resolve("inputs/provinces_meta.csv")
    except InputError:
        return pd.DataFrame(columns=list(REGION_COLUMNS))
    if not path.exists():
        return pd.DataFrame(columns=list(REGION_COLUMNS))
    return pd.read_csv(path, dtype={"code": int})


def region_table(results: xr.Dataset, regions: pd.DataFrame) -> pd.DataFrame:
    """One row per region of ``results``, in its order: code, name_en, name_zh, pinyin, lat, lon.

    Names and points missing from ``regions`` are taken from ``inputs/provinces_meta.csv``;
    a region still without a representative point is an :class:`InputError`.
    """
    codes = [int(c) for c in np.asarray(results["region"].values)]
    given = regions.copy() if regions is not None else pd.DataFrame(columns=["code"])
    if "code" not in given.columns:
        raise InputError(None, "regions.code", "a code column (GB/T 2260) in the region table")
    given["code"] = given["code"].astype(int)
    given = given.drop_duplicates("code").set_index("code").reindex(codes)
    fallback = packaged_regions().drop_duplicates("code").set_index("code").reindex(codes)
    table = pd.DataFrame(index=pd.Index(codes, name="code"))
    for column in REGION_COLUMNS[1:]:
        mine = given[column] if column in given.columns else pd.Series(np.nan, index=given.index, dtype=object)
        other = fallback[column] if column in fallback.columns else pd.Series(np.nan, index=given.index, dtype=object)
        table[column] = mine.where(mine.notna(), other)
    missing = table.index[table["lat"].isna() | table["lon"].isna()].tolist()
    if missing:
        raise InputError(None, "regions.lat/lon", f"a representative point for every region; none for {missing}")
    for column in ("name_en", "name_zh", "pinyin"):
        table[column] = table[column].fillna("").astype(str)
    table["pinyin"] = table["pinyin"].where(table["pinyin"] != "", table["name_en"])
    table["lat"] = table["lat"].astype(float)
    table["lon"] = table["lon"].astype(float)
    return table.reset_index()


# --------------------------------------------------------------------------- fields


def _split(results: xr.Dataset, name: str) -> tuple[xr.DataArray, "pint.Unit"]:
    """The plain numbers of ``results[name]`` (pint-quantified, or with a ``units``
    attribute) and their pint unit: selections and sums below run on plain numbers, as
    each xarray operation on a pint array costs milliseconds (:func:`mfa.units.dequantify`)."""
    da = results[name]
    return magnitude_and_unit(da if is_quantified(da) else quantify(da), name)


def _values(values: np.ndarray, unit, to: str) -> np.ndarray:
    """``values`` (plain numbers in pint ``unit``) in ``to`` as float64 numbers; ``to="1"``
    for counts (vehicles have a pint dimension of their own, written as ``1``)."""
    if to == "1" and unit.is_compatible_with(ureg.vehicle):
        to = "vehicle"
    return np.asarray(ureg.Quantity(values, unit).to(to).magnitude, dtype="float64")


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(text).lower()).strip("_")


def _field(values: np.ndarray, units: str, long_name: str, source_variable: str, **attrs) -> xr.DataArray:
    """A 1-D field; its ``description`` is the source variable's in the declared system."""
    from .. import definition

    description = definition.load().variables[source_variable].description
    return xr.DataArray(values, dims=("region",), attrs={
        "long_name": long_name, "units": units, "description": description, "source_variable": source_variable, **attrs,
    })


def _sum_detail(da: xr.DataArray, keep: tuple[str, ...]) -> xr.DataArray:
    return da.sum([d for d in da.dims if d not in keep])


def _elements(results: xr.Dataset) -> list[str]:
    present = [str(e) for e in results["element"].values] if "element" in results.coords else []
    return [e for e in METALS if e in present] + [e for e in present if e not in METALS]


class _Grid:
    """A variable summed over every dim but ``by``, region and year, for one field after
    another: indexed as numpy arrays by label (an xarray selection per field costs a
    millisecond, ~150 fields). The numbers are C-ordered with the years last, so a sum
    over years adds the same numbers in the same order as it would on one field's
    selection (the same float64 results)."""

    def __init__(self, values: xr.DataArray, by: tuple[str, ...], report_start: int):
        keep = (*by, "region", "year")
        da = _sum_detail(values, keep).transpose(*keep)
        da = da.copy(data=np.ascontiguousarray(da.values))
        self.positions = {d: {label: i for i, label in enumerate(da[d].values)} for d in by}
        self.years = {int(y): i for i, y in enumerate(da["year"].values)}
        self.values = da.values
        self.cumulative = da.sel(year=slice(report_start, None)).sum("year").values

    def _at(self, labels: dict) -> tuple:
        return tuple(self.positions[d][label] for d, label in labels.items())

    def year(self, year: int, **labels) -> np.ndarray:
        """The values along ``region`` in ``year``."""
        return self.values[(*self._at(labels), slice(None), self.years[year])]

    def total(self, **labels) -> np.ndarray:
        """The sum from ``report_start`` to the last year along ``region``."""
        return self.cumulative[self._at(labels)]


def headline_fields(results: xr.Dataset, report_start: int) -> dict[str, xr.DataArray]:
    """The 1-D (region) fields, in the order they appear as attributes in QGIS."""
    years = results["year"].values.astype(int)
    end = int(years.max())
    if report_start not in years:
        raise InputError(None, "report_start", f"a model year ({int(years.min())}-{end}), got {report_start}")
    milestones = [y for y in MILESTONES if y in years]
    fields: dict[str, xr.DataArray] = {}
    split = {name: _split(results, name) for name in ("metal_demand", "metal_recovered", "vehicle_stock", "carbon_reduction") if name in results}
    # each field picks a scenario, and an element or a bound where the variable has them
    grids = {name: _Grid(values, tuple(d for d in ("scenario", "element", "bound") if d in values.dims), report_start)
             for name, (values, _) in split.items()}
    units = {name: unit for name, (_, unit) in split.items()}
    for scenario in results["scenario"].values:
        scen = _slug(scenario)
        for element in _elements(results):
            el = _slug(element)
            metal = ELEMENT_NAMES.get(element, element)
            for short, name, what in (("demand", "metal_demand", "demand"), ("recovered", "metal_recovered", "recovery")):
                if name not in grids:
                    continue
                grid, unit = grids[name], units[name]
                fields[f"{el}_{short}_cum_{report_start}_{end}_{scen}"] = _field(
                    _values(grid.total(scenario=scenario, element=element), unit * ureg.year, "t"), "t",
                    f"cumulative {metal} {what} {report_start}-{end}, {scenario} scenario",
                    source_variable=name, element=element, scenario=str(scenario), year=f"{report_start}-{end}",
                )
                for year in milestones:
                    fields[f"{el}_{short}_{year}_{scen}"] = _field(
                        _values(grid.year(year, scenario=scenario, element=element), unit, "t/yr"), "t yr-1",
                        f"{metal} {what} in {year}, {scenario} scenario",
                        source_variable=name, element=element, scenario=str(scenario), year=str(year),
                    )
        if "vehicle_stock" in grids:
            grid, unit = grids["vehicle_stock"], units["vehicle_stock"]
            for year in milestones:
                fields[f"vehicle_stock_{year}_{scen}"] = _field(
                    _values(grid.year(year, scenario=scenario), unit, "1"), "1",
                    f"number of new-energy passenger cars in use at the end of {year}, {scenario} scenario",
                    source_variable="vehicle_stock", scenario=str(scenario), year=str(year),
                )
        if "carbon_reduction" in grids:
            grid, unit = grids["carbon_reduction"], units["carbon_reduction"]
            bounds = list(grid.positions["bound"]) if "bound" in grid.positions else [None]
            for bound in bounds:
                at = {"scenario": scenario, **({"bound": bound} if bound is not None else {})}
                for year in [y for y in CARBON_MILESTONES if y in years]:
                    suffix = f"_{_slug(bound)}" if bound is not None else ""
                    label = f", {bound} bound" if bound is not None else ""
                    fields[f"carbon_reduction_{year}{suffix}_{scen}"] = _field(
                        _values(grid.year(year, **at), unit, "t/yr"), "t yr-1",
                        f"use-phase CO2 reduction in {year}{label}, {scenario} scenario (mass of CO2)",
                        source_variable="carbon_reduction", scenario=str(scenario), year=str(year), **({"bound": str(bound)} if bound else {}),
                    )
    return fields


# --------------------------------------------------------------------------- the view


def _crs() -> xr.DataArray:
    return xr.DataArray(np.int32(0), attrs={
        "grid_mapping_name": "latitude_longitude",
        "long_name": "coordinate reference system: WGS 84 (EPSG:4326)",
        "longitude_of_prime_meridian": 0.0,
        "semi_major_axis": 6378137.0,
        "inverse_flattening": 298.257223563,
        "crs_wkt": WGS84_WKT,
        "epsg_code": "EPSG:4326",
    })


def region_coords(table: pd.DataFrame) -> dict[str, tuple]:
    """The Chinese, pinyin and English names and the representative point (``lat``,
    ``lon``) of :func:`region_table`'s regions, as auxiliary coordinates along
    ``region`` (results.nc and gis.nc carry the same)."""
    return {
        "name_zh": ("region", table["name_zh"].to_numpy(dtype=str), {"long_name": "region name (Chinese)"}),
        "name_pinyin": ("region", table["pinyin"].to_numpy(dtype=str), {"long_name": "region name (pinyin)"}),
        "name_en": ("region", table["name_en"].to_numpy(dtype=str), {"long_name": "region name (English)"}),
        "lat": ("region", table["lat"].to_numpy(dtype="float64"), {
            "standard_name": "latitude", "long_name": "latitude of the region's representative point",
            "units": "degrees_north", "axis": "Y",
        }),
        "lon": ("region", table["lon"].to_numpy(dtype="float64"), {
            "standard_name": "longitude", "long_name": "longitude of the region's representative point",
            "units": "degrees_east", "axis": "X",
        }),
    }


def gis_view(results: xr.Dataset, regions: pd.DataFrame, report_start: int = 2023) -> xr.Dataset:
    """The GIS view of ``results`` (pint-quantified, or with ``units`` attributes).

    One feature per region along ``region``; the geometry is the representative point
    of each region (:func:`write_gis` puts polygons in its place when given boundaries).
    """
    table = region_table(results, regions)
    coords = {
        "region_code": ("region", table["code"].to_numpy(dtype="int32"), {"long_name": "region code (GB/T 2260)", "units": "1"}),
        **region_coords(table),
    }
    # identity fields first: GDAL lists the fields in the file's variable order. One
    # Dataset of all fields: adding ~150 one by one costs a merge each (5 s under load)
    ds = xr.Dataset(coords=coords).assign({"crs": _crs(), **headline_fields(results, report_start)})
    ds.attrs = _global_attrs(results, report_start)
    return set_geometry(ds, point_container())


def _global_attrs(results: xr.Dataset, report_start: int) -> dict:
    keep = {k: (v if isinstance(v, (str, int, float)) else str(v)) for k, v in results.attrs.items()
            if k not in ("Conventions", "featureType", "title", "history", "summary") and not isinstance(v, (dict, list))}
    years = results["year"].values.astype(int)
    return {
        "Conventions": "CF-1.8",
        "title": f"mfa GIS view: {results.attrs.get('case', 'results')}",
        "summary": (
            "One feature per region: headline fields (cumulative metal demand and recovery "
            f"{report_start}-{int(years.max())}, milestone-year values) as 1-D variables that GDAL, QGIS "
            "and ArcGIS show as attributes. The analysis cube with every dimension, a CF timeSeries, is results.nc."
        ),
        "institution": "mfa project",
        "source": f"mfa {results.attrs.get('package_version', '')} dynamic material-flow model".replace("  ", " "),
        "history": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} created by mfa (mfa.io.gis)",
        "references": "He, Liu, Peng, Zuo (2024) China Mining Magazine, doi:10.12075/j.issn.1004-4051.20241947",
        "report_start": int(report_start),
        **{k: v for k, v in keep.items() if k not in ("institution", "source", "references")},
    }


# --------------------------------------------------------------------------- geometry


def point_container() -> dict[str, xr.DataArray]:
    """A point geometry container on the representative points (node coordinates lon, lat)."""
    return {GEOMETRY: xr.DataArray(np.int32(0), attrs={
        "geometry_type": "point",
        "node_coordinates": "lon lat",
        "grid_mapping": CRS,
        "long_name": "representative point of each region",
    })}


def polygon_container(geometries: list) -> dict[str, xr.DataArray]:
    """A CF-1.8 polygon geometry container for ``geometries`` (shapely Polygon,
    MultiPolygon, or None for a region without boundary: an empty geometry).

    Exterior rings are written anticlockwise, holes clockwise, as CF asks.
    ``part_node_count`` and ``interior_ring`` are written only when a region has several
    parts or a hole; an empty geometry then gets one part of zero nodes, because GDAL
    (3.6) reads every geometry as at least one part.
    """
    import shapely

    rings: list[list[tuple[np.ndarray, int]]] = []
    for geom in geometries:
        mine: list[tuple[np.ndarray, int]] = []
        if geom is not None and not geom.is_empty:
            geom = shapely.orient_polygons(geom) if hasattr(shapely, "orient_polygons") else _orient(geom)
            for polygon in getattr(geom, "geoms", [geom]):
                mine.append((np.asarray(polygon.exterior.coords)[:, :2], 0))
                mine.extend((np.asarray(r.coords)[:, :2], 1) for r in polygon.interiors)
        rings.append(mine)
    with_parts = any(len(r) > 1 for r in rings)
    xs, ys, part_nodes, interior = [], [], [], []
    for mine in rings:
        if with_parts and not mine:
            part_nodes.append(0)
            interior.append(0)
        for coords, is_hole in mine:
            xs.append(coords[:, 0])
            ys.append(coords[:, 1])
            part_nodes.append(len(coords))
            interior.append(is_hole)
    node_count = np.asarray([sum(len(c) for c, _ in mine) for mine in rings], dtype="int32")
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    container = {
        "node_count": xr.DataArray(node_count, dims="region",
                                   attrs={"long_name": "number of polygon nodes of each region", "units": "1"}),
        "node_lon": xr.DataArray(cat(xs).astype("float64"), dims="node",
                                 attrs={"long_name": "longitude of polygon nodes", "units": "degrees_east", "axis": "X"}),
        "node_lat": xr.DataArray(cat(ys).astype("float64"), dims="node",
                                 attrs={"long_name": "latitude of polygon nodes", "units": "degrees_north", "axis": "Y"}),
    }
    attrs = {
        "geometry_type": "polygon",
        "node_count": "node_count",
        "node_coordinates": "node_lon node_lat",
        "grid_mapping": CRS,
        "long_name": "boundary polygons of the regions",
    }
    if with_parts:
        container["part_node_count"] = xr.DataArray(np.asarray(part_nodes, dtype="int32"), dims="part", attrs={
            "long_name": "number of nodes of each polygon ring", "units": "1"})
        container["interior_ring"] = xr.DataArray(np.asarray(interior, dtype="int32"), dims="part", attrs={
            "long_name": "ring is a hole (1) or an exterior ring (0)", "units": "1",
            "flag_values": np.array([0, 1], dtype="int32"), "flag_meanings": "exterior interior",
        })
        attrs.update(part_node_count="part_node_count", interior_ring="interior_ring")
    container[GEOMETRY] = xr.DataArray(np.int32(0), attrs=attrs)
    return container


def _orient(geom):
    from shapely.geometry import MultiPolygon
    from shapely.geometry.polygon import orient

    if geom.geom_type == "MultiPolygon":
        return MultiPolygon([orient(p, 1.0) for p in geom.geoms])
    return orient(geom, 1.0)


GEOMETRY_VARIABLES = ("node_count", "part_node_count", "interior_ring", "node_lon", "node_lat", GEOMETRY)


def set_geometry(ds: xr.Dataset, container: dict[str, xr.DataArray]) -> xr.Dataset:
    """``ds`` with ``container`` as its geometry: every variable along ``region`` (data
    variables and the name/code fields) gets ``geometry`` and ``grid_mapping``."""
    ds = ds.drop_vars([v for v in GEOMETRY_VARIABLES if v in ds.variables])
    for name, da in container.items():
        ds[name] = da
    for name, var in ds.variables.items():
        if name in GEOMETRY_VARIABLES or name in ("lat", "lon") or "region" not in var.dims:
            continue
        var.attrs["geometry"] = GEOMETRY
        var.attrs["grid_mapping"] = CRS
    return ds


# --------------------------------------------------------------------------- boundaries


def _wgs84(crs: str | None) -> bool:
    if not crs:
        return True
    text = str(crs).upper().replace(" ", "")
    return text in ("EPSG:4326", "OGC:CRS84", "OGC:1.3:CRS84", "CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84", "URN:OGC:DEF:CRS:EPSG::4326")


def _reproject(geometries: np.ndarray, crs: str, path: Path) -> np.ndarray:
    try:
        import pyproj
    except ImportError as err:
        raise InputError(path, "crs", f"boundaries in WGS 84 (EPSG:4326), got {crs} (install pyproj to reproject)") from err
    import shapely

    source = pyproj.CRS.from_user_input(crs)
    if source.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        return geometries
    transformer = pyproj.Transformer.from_crs(source, pyproj.CRS.from_epsg(4326), always_xy=True)

    def transform(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    log.info("reprojecting %s from %s to WGS 84", path, source.to_string())
    return shapely.transform(geometries, transform)


def _code(value) -> int | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    if not np.isfinite(number) or number != int(number):
        return None
    return int(number)


def read_boundaries(path: Path, codes: list[int], code_field: str | None = None) -> tuple[list, dict]:
    """Polygons of ``path`` for each of ``codes`` (``None`` where the file has none) and a
    report: the code field used, the file's CRS, whether it was reprojected, the matched
    codes, the regions without a polygon, and the file's codes that are no region.

    Features sharing a code are joined into one MultiPolygon.
    """
    import pyogrio
    import shapely

    path = Path(path)
    if not path.exists():
        raise InputError(path, "boundaries", "an existing GeoJSON or GeoPackage file")
    try:
        info = pyogrio.read_info(path)
    except Exception as err:  # pyogrio raises DataSourceError and friends
        raise InputError(path, "boundaries", f"a vector file GDAL can read ({err})") from err
    fields = [str(f) for f in info["fields"]]
    if code_field is None:
        lower = {f.lower(): f for f in fields}
        code_field = next((lower[c] for c in CODE_FIELDS if c in lower), None)
    if code_field is None or code_field not in fields:
        wanted = code_field or " or ".join(CODE_FIELDS)
        raise InputError(path, wanted, f"a field with the GB/T 2260 code of each region; the file has fields {fields}")
    meta, _, wkb, field_data = pyogrio.raw.read(path, columns=[code_field])
    geometries = shapely.from_wkb(wkb)
    crs = meta.get("crs")
    reprojected = False
    if not _wgs84(crs):
        before = geometries
        geometries = _reproject(geometries, crs, path)
        reprojected = geometries is not before
    kinds = {g.geom_type for g in geometries if g is not None and not g.is_empty}
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(path, "geometry", f"polygons or multipolygons, got {sorted(kinds)}")
    by_code: dict[int, list] = {}
    unknown: list = []
    for value, geom in zip(field_data[0], geometries):
        code = _code(value)
        if code is None or code not in codes:
            unknown.append(code if code is not None else value)
            continue
        if geom is not None and not geom.is_empty:
            by_code.setdefault(code, []).extend(getattr(geom, "geoms", [geom]))
    out = []
    for code in codes:
        parts = by_code.get(code)
        out.append(None if not parts else parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
    report = {
        "boundaries": str(path),
        "code_field": code_field,
        "crs": str(crs) if crs else "EPSG:4326 (none given)",
        "reprojected": reprojected,
        "matched": [c for c in codes if c in by_code],
        "regions_without_polygon": [c for c in codes if c not in by_code],
        "unknown_codes": sorted({str(u) for u in unknown}),
    }
    return out, report


def check_boundaries(path: Path, code_field: str | None = None) -> None:
    """Read ``path`` as :func:`write_gis` will, before a run: an :class:`InputError` for a
    missing file, no code field, non-polygons or a CRS that cannot be reprojected."""
    read_boundaries(Path(path), [], code_field)


# --------------------------------------------------------------------------- writing


def encoding(ds: xr.Dataset) -> dict:
    """zlib + shuffle on every array; strings as UTF-8 char arrays; no _FillValue on
    coordinates and geometry variables."""
    enc = {}
    for name, var in ds.variables.items():
        e: dict = {}
        if var.ndim:
            e.update(zlib=True, shuffle=True, complevel=4)
        if var.dtype.kind in "OUS":
            e.update(dtype="S1", _FillValue=None, char_dim_name=f"{name}_strlen")
        elif name in ds.coords or name in GEOMETRY_VARIABLES or name == CRS or var.dtype.kind in "iu":
            e["_FillValue"] = None
        elif var.dtype.kind == "f":
            e["_FillValue"] = np.nan
        enc[name] = e
    return enc


def write_gis(
    results: xr.Dataset,
    regions: pd.DataFrame,
    path: Path,
    boundaries: Path | None = None,
    report_start: int = 2023,
    code_field: str | None = None,
    gpkg: Path | None = None,
    dictionary: Path | None = None,
) -> dict:
    """Write the GIS view of ``results`` to ``path`` (atomically), and to the GeoPackage
    ``gpkg`` and its field dictionary CSV ``dictionary`` when given; return a report.

    With ``boundaries`` (GeoJSON, GPKG, ...: a field with the GB/T 2260 code, see
    :data:`CODE_FIELDS`) the regions are polygons; regions the file lacks get an empty
    geometry and codes that are no region are left out, each with a warning. Without,
    the regions are their representative points.
    """
    ds = gis_view(results, regions, report_start)
    codes = [int(c) for c in ds["region_code"].values]
    report: dict = {"path": str(path), "regions": len(codes), "geometry": "point", "fields": [
        n for n, v in ds.data_vars.items() if v.dims == ("region",)
    ]}
    if boundaries is not None:
        geometries, found = read_boundaries(Path(boundaries), codes, code_field)
        report.update(found, geometry="polygon")
        unmatched = found["regions_without_polygon"]
        unknown = found["unknown_codes"]
        if unmatched or unknown:
            message = (
                f"{boundaries}: {len(unmatched)} of {len(codes)} regions have no polygon"
                + (f" ({', '.join(map(str, unmatched))}; written as empty geometries)" if unmatched else "")
                + (f"; codes that are no region, left out: {', '.join(unknown)}" if unknown else "")
            )
            warnings.warn(message, UserWarning, stacklevel=2)
        ds = set_geometry(ds, polygon_container(geometries))
    else:
        geometries = None
        report.update(matched=codes, regions_without_polygon=[], unknown_codes=[])
    write_view(ds, path)
    fields = field_dictionary(ds)
    if gpkg is not None:
        write_gpkg(ds, gpkg, fields, geometries)
        report["gpkg"] = str(gpkg)
    if dictionary is not None:
        from .tables import write_csv

        write_csv(fields, dictionary)
        report["dictionary"] = str(dictionary)
    return report


LAYER = "regions"
"""The layer of ``gis.gpkg``."""


def field_dictionary(ds: xr.Dataset) -> pd.DataFrame:
    """One row per field of a GIS view (identity fields, then headline fields): name,
    alias (long name with the unit), unit, description, source variable of results.nc,
    scenario, element and year(s)."""
    from .geopackage import DICTIONARY_COLUMNS

    rows = []
    for name, var in ds.variables.items():
        if var.dims != ("region",) or name in ("lat", "lon") or name in GEOMETRY_VARIABLES:
            continue
        unit = "" if var.dtype.kind in "SUO" or name == "region_code" else str(var.attrs.get("units", ""))
        long_name = str(var.attrs.get("long_name", name))
        rows.append({
            "name": name, "alias": f"{long_name} [{unit}]" if unit else long_name, "unit": unit,
            "description": str(var.attrs.get("description", long_name)),
            **{k: str(var.attrs.get(k, "")) for k in ("source_variable", "scenario", "element", "year")},
        })
    return pd.DataFrame(rows, columns=list(DICTIONARY_COLUMNS))


def write_gpkg(ds: xr.Dataset, path: Path, fields: pd.DataFrame, geometries: list | None = None) -> Path:
    """The GIS view ``ds`` as the GeoPackage layer :data:`LAYER` at ``path``: one feature
    per region, ``geometries`` (shapely polygons, ``None`` for none) or the
    representative points, every field's alias, unit and description as field metadata
    (:func:`mfa.io.geopackage.write_layer`)."""
    import shapely

    from .geopackage import write_layer

    if geometries is None:
        geometries = list(shapely.points(ds["lon"].values, ds["lat"].values))
    table = pd.DataFrame({name: np.asarray(ds[name].values) for name in fields["name"]})
    for name in table.columns:
        if table[name].dtype.kind in "SUO":
            table[name] = table[name].astype(str).astype(object)
    wkb = shapely.to_wkb(np.array(geometries, dtype=object))
    return write_layer(path, LAYER, table, wkb, fields, ds.attrs.get("title", "mfa GIS view"))


def write_view(ds: xr.Dataset, path: Path) -> Path:
    """Write a GIS view (:func:`gis_view`, :func:`set_geometry`) to ``path`` atomically."""
    ds = ds.copy()
    for name in GEOMETRY_VARIABLES:
        if name in ds.variables and name not in ds.coords:
            ds[name].encoding["coordinates"] = None  # helper variables: no coordinates attribute
    return write_netcdf(ds, path, encoding(ds))
