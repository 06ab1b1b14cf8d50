"""GIS outputs for all 31 provinces: gis.nc (CF-1.8 geometry container, 1-D fields
only), gis.gpkg with field metadata and gis_fields.csv, polygons from a boundaries file,
results.gpkg, and results.nc as a CF timeSeries; checked with GDAL's ogrinfo/gdalinfo
and IOOS compliance-checker as QGIS/ArcGIS users would see them (shared/CONVENTIONS.md).

The model runs the Hainan study once; while ``region`` holds one region, a synthetic
31-province dataset is made from it (scaled copies keyed by the GB/T codes of
inputs/provinces_meta.csv). tests/fixtures/boundaries.geojson holds synthetic squares,
not real boundaries (tests/fixtures/make_boundaries.py writes it).
"""

import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import cf_units
import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import REPO, require, require_tool

from mfa import config, model, regions
from mfa.errors import InputError
from mfa.io import geopackage, gis, netcdf
from mfa.units import plain

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BOUNDARIES = FIXTURES / "boundaries.geojson"
META = pd.read_csv(REPO / "inputs" / "provinces_meta.csv", dtype={"code": int})
METALS = ("li", "ni", "co", "mn")
REPORT_START = 2023

# compliance-checker 6.1 messages that are wrong for valid CF-1.8 geometries
# (ioos/compliance-checker#955): data variables must not carry the node dimension, and
# its interior_ring check also asks part_node_count to have length 1.
KNOWN_FALSE_WARNINGS = {
    "§7.5 Geometries": (
        re.compile(r"^Parent variable '\w+' does not include geometry dimension 'node' used in geometry variable 'region_geometry'$"),
        re.compile(r"^part_node_count variable part_node_count must have the same single dimension as interior ring variable interior_ring$"),
    ),
}


def require_module(name: str) -> None:
    require(importlib.util.find_spec(name) is not None, f"the Python package {name} is not installed")


def synthetic_provinces(results: xr.Dataset, codes: list[int]) -> xr.Dataset:
    """``results`` as is when it has every region; else scaled copies of its first region."""
    if results.sizes["region"] >= len(codes):
        return results
    one = results.isel(region=[0])
    with xr.set_options(keep_attrs=True):
        parts = [one.map(lambda v, f=0.25 + i / 20: v * f if "region" in v.dims else v).assign_coords(region=[code])
                 for i, code in enumerate(codes)]
    out = xr.concat(parts, "region", data_vars="minimal")
    out.attrs = dict(results.attrs)
    return out


def ogrinfo(path: Path, *args: str) -> str:
    exe = require_tool("ogrinfo")
    done = subprocess.run([exe, "-ro", "-al", *args, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr and "terminated prematurely" not in done.stderr, done.stderr
    return done.stdout


def write_geojson(path: Path, change) -> Path:
    collection = json.loads(BOUNDARIES.read_text(encoding="utf-8"))
    change(collection)
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hainan():
    scenarios = config.load_scenarios("hainan-study")
    results, _ = model.run(scenarios)
    return results, scenarios


@pytest.fixture(scope="module")
def provinces(hainan):
    results, _ = hainan
    return synthetic_provinces(results, META["code"].tolist())


@pytest.fixture(scope="module")
def written(provinces, tmp_path_factory):
    require_module("pyogrio")
    require_module("shapely")
    out = tmp_path_factory.mktemp("gis")
    places = gis.region_coords(gis.region_table(provinces, META))
    paths = {
        "results": netcdf.write(provinces, out / "results.nc", dict(provinces.attrs), coords=places),
        "points": out / "gis.nc",
        "polygons": out / "gis_polygons.nc",
        "layer": out / "gis.gpkg",
        "layer_polygons": out / "gis_polygons.gpkg",
        "fields": out / "gis_fields.csv",
        "gpkg": out / "results.gpkg",
        "gpkg_polygons": out / "results_polygons.gpkg",
    }
    reports = {
        "points": gis.write_gis(provinces, META, paths["points"], report_start=REPORT_START, gpkg=paths["layer"], dictionary=paths["fields"]),
        "polygons": gis.write_gis(provinces, META, paths["polygons"], boundaries=BOUNDARIES, report_start=REPORT_START,
                                  gpkg=paths["layer_polygons"]),
    }
    geopackage.write_geopackage(provinces, META, paths["gpkg"])
    polygons, _ = gis.read_boundaries(BOUNDARIES, META["code"].tolist())
    geopackage.write_geopackage(provinces, META, paths["gpkg_polygons"], geometries=polygons)
    return paths, reports


@pytest.fixture(scope="module")
def compliance(written, provinces):
    """compliance-checker --test=cf:1.8 over results.nc and both GIS views, one process
    per file, run side by side.

    The checker's time grows with the square of the number of variables (about 60 s for
    the full gis.nc with 111 variables), so the GIS views it checks hold one scenario:
    the same variables, attributes and geometry per scenario, a third of them.
    """
    paths, _ = written
    exe = require_tool("compliance-checker")
    folder = paths["results"].parent
    one = provinces.sel(scenario=["conservative"])
    files = {
        "results.nc": paths["results"],
        "gis.nc": gis.write_view(gis.gis_view(one, META), folder / "cf_gis.nc"),
        "gis_polygons.nc": folder / "cf_gis_polygons.nc",
    }
    gis.write_gis(one, META, files["gis_polygons.nc"], boundaries=BOUNDARIES)
    running = {
        name: subprocess.Popen(
            [exe, "--test=cf:1.8", "--format=json", f"--output={path}.json", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for name, path in files.items()
    }
    out = {}
    for name, proc in running.items():
        log, _ = proc.communicate(timeout=300)
        report = Path(f"{files[name]}.json")
        assert report.exists(), log
        out[name] = json.loads(report.read_text())["cf:1.8"]
    return out


def problems(result: dict) -> tuple[list[str], list[str]]:
    """(errors, warnings) of one file's compliance-checker result, the known false
    warnings left out; errors are high-priority findings."""
    errors, warns = [], []
    for item in result["all_priorities"]:
        messages = item["msgs"]
        if item["weight"] >= 3:
            errors += [f"{item['name']}: {m}" for m in messages]
            continue
        known = KNOWN_FALSE_WARNINGS.get(item["name"], ())
        warns += [f"{item['name']}: {m}" for m in messages if not any(p.match(m) for p in known)]
    return errors, warns


# --------------------------------------------------------------------------- gis.nc


def headline_names(scenarios) -> list[str]:
    names = []
    for scenario in scenarios:
        for metal in METALS:
            for what in ("demand", "recovered"):
                names += [f"{metal}_{what}_cum_{REPORT_START}_2050_{scenario}", f"{metal}_{what}_2030_{scenario}", f"{metal}_{what}_2050_{scenario}"]
        names += [f"vehicle_stock_2030_{scenario}", f"vehicle_stock_2050_{scenario}"]
        names += [f"carbon_reduction_2050_{bound}_{scenario}" for bound in ("lower", "upper")]
    return names


def test_gis_nc_has_one_feature_per_region_and_only_1d_fields(written, provinces):
    paths, report = written
    scenarios = [str(s) for s in provinces["scenario"].values]
    with netCDF4.Dataset(paths["points"]) as nc:
        assert nc.Conventions == "CF-1.8"
        assert nc.dimensions["region"].size == 31
        code = nc["region_code"]
        assert code.dtype == np.int32 and code.long_name
        assert list(code[:]) == META["code"].tolist()
        assert nc["name_zh"].dtype == "S1" and nc["name_pinyin"].dtype == "S1"
        nc.set_auto_chartostring(True)
        assert list(nc["name_zh"][:]) == META["name_zh"].tolist()  # Chinese round-trips
        assert list(nc["name_pinyin"][:]) == META["pinyin"].tolist()
        assert (nc["lat"].standard_name, nc["lat"].units) == ("latitude", "degrees_north")
        assert (nc["lon"].standard_name, nc["lon"].units) == ("longitude", "degrees_east")
        np.testing.assert_allclose(nc["lat"][:], META["lat"])
        crs = nc["crs"]
        assert crs.grid_mapping_name == "latitude_longitude" and "WGS 84" in crs.crs_wkt
        assert crs.semi_major_axis == 6378137.0
        for name in ("region_code", "lat", "lon"):
            assert "_FillValue" not in nc[name].ncattrs(), name
        # QGIS offers every variable of two or more dims as a raster sublayer: none here
        assert [n for n, v in nc.variables.items() if v.ndim > 1 and v.dtype.kind != "S"] == []
        fields = [n for n, v in nc.variables.items() if v.dimensions == ("region",) and v.dtype.kind == "f" and n not in ("lat", "lon")]
        assert set(headline_names(scenarios)) <= set(fields)
        for name in fields:
            var = nc[name]
            assert var.geometry == "region_geometry" and var.grid_mapping == "crs", name
            assert var.description and var.source_variable, name
        for name, var in nc.variables.items():
            if var.dtype.kind in "fiu" and var.ndim:
                assert var.long_name, name
                cf_units.Unit(var.units)  # raises on anything UDUNITS cannot read
            if var.ndim and var.dtype.kind != "S":
                filters = var.filters()
                assert filters["zlib"] and filters["shuffle"], name
        assert nc["li_demand_cum_2023_2050_conservative"].units == "t"
        assert nc["li_demand_2030_conservative"].units == "t yr-1"
        assert nc["vehicle_stock_2050_conservative"].units == "1"
    assert report["points"]["geometry"] == "point" and report["points"]["regions"] == 31


def test_gdal_opens_gis_nc_as_one_vector_layer_without_raster_sublayers(written):
    paths, _ = written
    exe = require_tool("gdalinfo")
    for name in ("points", "polygons"):
        done = subprocess.run([exe, str(paths[name])], capture_output=True, text=True, timeout=60)
        assert "SUBDATASET" not in done.stdout, done.stdout[:2000]
        assert ogrinfo(paths[name], "-so").count("Layer name:") == 1


def test_results_nc_is_a_cf_timeseries_of_the_regions(written, provinces):
    import cf_xarray  # noqa: F401  (registers the .cf accessor)

    paths, _ = written
    with xr.open_dataset(paths["results"]) as ds:
        assert ds.attrs["featureType"] == "timeSeries"
        assert ds.cf.axes["T"] == ["time"] and ds.cf.axes["X"] == ["lon"] and ds.cf.axes["Y"] == ["lat"]
        assert ds["time"].dims == ("year",) and "year" in ds.dims  # readers keep selecting by year
        assert "time_bnds" in ds.coords and all(v.dtype.kind == "f" for v in ds.data_vars.values())  # data: numbers only
        assert [t.year for t in pd.DatetimeIndex(ds["time"].values)] == provinces["year"].values.tolist()
        assert set(pd.DatetimeIndex(ds["time"].values).strftime("%m-%d")) == {"07-01"}
        bounds = pd.DatetimeIndex(ds["time_bnds"].values[:, 0]), pd.DatetimeIndex(ds["time_bnds"].values[:, 1])
        assert list(bounds[0].year) == list(bounds[1].year - 1) == provinces["year"].values.tolist()
        assert ds["region"].attrs["cf_role"] == "timeseries_id"
        assert ds["lat"].dims == ("region",) and float(ds["lat"].sel(region=460000)) == pytest.approx(20.04)
        assert "lat" in ds["metal_demand"].encoding["coordinates"] and "time" in ds["metal_demand"].encoding["coordinates"]
    with netCDF4.Dataset(paths["results"]) as nc:
        time = nc["time"]
        assert (time.axis, time.standard_name, time.bounds, time.calendar) == ("T", "time", "time_bnds", "standard")
        assert time.units.startswith("days since ") and time.dtype == np.int32
        assert "_FillValue" not in time.ncattrs() and "_FillValue" not in nc["time_bnds"].ncattrs()
        for var in nc.variables.values():
            if "units" in var.ncattrs() and not var.units.startswith("days since"):
                cf_units.Unit(var.units)


def test_results_nc_units_quantify_with_cf_xarray_as_the_readme_says(written):
    import cf_xarray.units  # noqa: F401  (UDUNITS-aware pint registry)
    import pint_xarray  # noqa: F401

    paths, _ = written
    with xr.open_dataset(paths["results"]) as ds:
        q = ds[["metal_demand", "battery_collected", "pack_mass_per_kwh"]].pint.quantify()
    assert str(q["metal_demand"].pint.units) == "metric_ton / year"
    assert q["pack_mass_per_kwh"].pint.to("kg/kWh").pint.magnitude.max() > 4


def test_headline_fields_are_the_results_summed(written, provinces):
    paths, _ = written
    ds = xr.open_dataset(paths["points"])
    region = 460000
    i = int(np.flatnonzero(ds["region_code"].values == region)[0])
    pick = {"scenario": "conservative", "region": region}
    demand = plain(provinces["metal_demand"].sel(element="Li", **pick), "t/yr")
    assert ds["li_demand_cum_2023_2050_conservative"].values[i] == pytest.approx(float(demand.sel(year=slice(2023, 2050)).sum()))
    assert ds["li_demand_2030_conservative"].values[i] == pytest.approx(float(demand.sel(year=2030)))
    recovered = plain(provinces["metal_recovered"].sel(element="Co", **pick), "t/yr")
    assert ds["co_recovered_2050_conservative"].values[i] == pytest.approx(float(recovered.sel(year=2050)))
    stock = plain(provinces["vehicle_stock"].sel(**pick, year=2050).sum(["segment", "powertrain"]), "vehicle")
    assert ds["vehicle_stock_2050_conservative"].values[i] == pytest.approx(float(stock))
    carbon = plain(provinces["carbon_reduction"].sel(**pick, year=2050, bound="upper"), "t/yr")
    assert ds["carbon_reduction_2050_upper_conservative"].values[i] == pytest.approx(float(carbon))


def test_ogrinfo_shows_31_points_with_the_headline_fields(written, provinces):
    paths, _ = written
    out = ogrinfo(paths["points"])
    assert "Layer name: region_geometry" in out
    assert "Geometry: Point" in out
    assert "Feature Count: 31" in out
    assert 'ID["EPSG",4326]' in out
    fields = re.findall(r"^(\w+): (?:Real|Integer|String) ", out, re.M)
    assert fields[:4] == ["region_code", "name_zh", "name_pinyin", "name_en"]
    for name in headline_names([str(s) for s in provinces["scenario"].values]) + ["region_code", "name_zh", "name_pinyin"]:
        assert re.search(rf"^{name}: ", out, re.M), name
    assert "name_zh (String) = 海南省" in out and "name_pinyin (String) = Hainan" in out
    assert "POINT (110.32 20.04)" in out  # Hainan's representative point (lon lat)


def test_ogrinfo_shows_31_polygons_from_the_boundaries_file(written):
    paths, report = written
    out = ogrinfo(paths["polygons"])
    assert "Geometry: Multi Polygon" in out
    assert "Feature Count: 31" in out
    assert "li_demand_cum_2023_2050_conservative: Real" in out
    assert out.count("MULTIPOLYGON (((") == 31 and "EMPTY" not in out
    assert "),(116.31 40.0," in out  # Beijing's synthetic square keeps its hole
    assert re.search(r"^  MULTIPOLYGON \(\(\([^)]*\)\),\(\([^)]*\)\)\)$", out, re.M)  # Hainan is two squares
    assert report["polygons"]["matched"] == META["code"].tolist()
    assert report["polygons"]["regions_without_polygon"] == [] and report["polygons"]["unknown_codes"] == []


# --------------------------------------------------------------------------- CF checks


def test_results_nc_passes_the_cf_checker(compliance):
    errors, warns = problems(compliance["results.nc"])
    assert errors == [] and warns == []


@pytest.mark.parametrize("name", ["gis.nc", "gis_polygons.nc"])
def test_gis_nc_passes_the_cf_checker(compliance, name):
    errors, warns = problems(compliance[name])
    assert errors == [], errors
    assert warns == [], warns  # beyond the known false warnings of ioos/compliance-checker#955


# --------------------------------------------------------------------------- boundaries


def test_unmatched_codes_warn_and_the_file_stays_valid(provinces, tmp_path):
    require_module("pyogrio")

    def change(collection):
        features = [f for f in collection["features"] if f["properties"]["code"] not in (110000, 650000)]
        features[0]["properties"]["code"] = 990000
        collection["features"] = features

    boundaries = write_geojson(tmp_path / "partial.geojson", change)
    path = tmp_path / "gis.nc"
    with pytest.warns(UserWarning, match=r"3 of 31 regions have no polygon \(110000, 120000, 650000.*990000"):
        report = gis.write_gis(provinces, META, path, boundaries=boundaries)
    assert report["regions_without_polygon"] == [110000, 120000, 650000]
    assert report["unknown_codes"] == ["990000"]
    with netCDF4.Dataset(path) as nc:
        assert nc.dimensions["region"].size == 31
        assert nc["node_count"][:].tolist().count(0) == 3
    out = ogrinfo(path)
    assert "Feature Count: 31" in out and out.count("MULTIPOLYGON EMPTY") == 3


def test_a_boundaries_file_without_a_code_field_is_an_input_error(provinces, tmp_path):
    require_module("pyogrio")

    def rename(collection):
        for f in collection["features"]:
            f["properties"]["gb"] = f["properties"].pop("code")

    boundaries = write_geojson(tmp_path / "nocode.geojson", rename)
    path = tmp_path / "gis.nc"
    with pytest.raises(InputError) as err:
        gis.write_gis(provinces, META, path, boundaries=boundaries)
    assert str(boundaries) in str(err.value) and "code" in err.value.field and "GB/T 2260" in err.value.expected
    assert "gb" in err.value.expected  # lists the fields the file has
    assert not path.exists() and list(tmp_path.glob("*.part")) == []


def test_boundaries_in_another_crs_are_reprojected_to_wgs84(provinces, tmp_path):
    require_module("pyogrio")
    require_module("pyproj")
    import pyogrio
    import pyproj
    import shapely

    meta, _, wkb, fields = pyogrio.raw.read(BOUNDARIES)
    to_mercator = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    projected = shapely.transform(shapely.from_wkb(wkb), lambda xy: np.column_stack(to_mercator.transform(xy[:, 0], xy[:, 1])))
    boundaries = tmp_path / "mercator.gpkg"
    pyogrio.raw.write(boundaries, shapely.to_wkb(projected), fields, list(meta["fields"]), driver="GPKG",
                      geometry_type="MultiPolygon", promote_to_multi=True, crs="EPSG:3857")
    path = tmp_path / "gis.nc"
    report = gis.write_gis(provinces, META, path, boundaries=boundaries)
    assert report["reprojected"] is True and report["matched"] == META["code"].tolist()
    with netCDF4.Dataset(path) as nc:
        lon, lat = nc["node_lon"][:], nc["node_lat"][:]
    assert lon.min() == pytest.approx(87.32, abs=1e-6) and lat.max() == pytest.approx(46.06, abs=1e-6)


def test_regions_without_points_take_them_from_the_province_table(hainan, tmp_path):
    results, scenarios = hainan
    own = regions.metadata(next(iter(scenarios.values())))  # Hainan: code and English name only
    view = gis.gis_view(results, own)
    assert view["region_code"].values.tolist() == [460000]
    assert view["name_zh"].values.tolist() == ["海南省"]
    assert float(view["lat"][0]) == pytest.approx(20.04)
    with pytest.raises(InputError, match="representative point"):
        gis.gis_view(results.assign_coords(region=[990000]), pd.DataFrame({"code": [990000], "name_en": ["Nowhere"]}))


# --------------------------------------------------------------------------- GeoPackage


def gpkg_metadata(path: Path, layer: str) -> tuple[dict, str]:
    """gpkg_data_columns rows of ``layer`` (column -> (title, description)) and the QML of
    its default QGIS style."""
    with closing(sqlite3.connect(path)) as con:
        columns = {c: (t, d) for c, t, d in con.execute(
            "SELECT column_name, title, description FROM gpkg_data_columns WHERE table_name = ?", (layer,))}
        extension = con.execute("SELECT extension_name FROM gpkg_extensions WHERE table_name = 'gpkg_data_columns'").fetchall()
        qml = con.execute("SELECT styleQML FROM layer_styles WHERE f_table_name = ? AND useAsDefault", (layer,)).fetchone()[0]
    assert extension == [("gpkg_schema",)]
    return columns, qml


def test_gis_gpkg_has_one_feature_per_region_with_units_as_field_metadata(written, provinces):
    import xml.etree.ElementTree as ET

    import pyogrio

    paths, _ = written
    scenarios = [str(s) for s in provinces["scenario"].values]
    info = pyogrio.read_info(paths["layer"], layer=gis.LAYER)
    assert info["features"] == 31 and info["geometry_type"] == "Point" and info["crs"] == "EPSG:4326"
    fields = list(info["fields"])
    assert fields[:4] == ["region_code", "name_zh", "name_pinyin", "name_en"]
    assert set(headline_names(scenarios)) <= set(fields)
    _, _, _, data = pyogrio.raw.read(paths["layer"], layer=gis.LAYER, columns=["name_zh", "li_demand_2030_conservative"])
    with xr.open_dataset(paths["points"]) as view:
        np.testing.assert_allclose(data[1], view["li_demand_2030_conservative"].values)
    assert list(data[0]) == META["name_zh"].tolist()

    dictionary = pd.read_csv(paths["fields"], keep_default_na=False, dtype=str)
    assert list(dictionary.columns) == ["name", "alias", "unit", "description", "source_variable", "scenario", "element", "year"]
    assert dictionary["name"].tolist() == fields
    for unit in dictionary["unit"]:
        if unit:
            cf_units.Unit(unit)
    row = dictionary.set_index("name").loc["li_demand_cum_2023_2050_conservative"]
    assert (row["unit"], row["source_variable"], row["scenario"], row["element"], row["year"]) == ("t", "metal_demand", "conservative", "Li", "2023-2050")
    assert row["alias"] == "cumulative lithium demand 2023-2050, conservative scenario [t]"
    assert row["description"].startswith("Material in new-vehicle and replacement packs")

    # what GDAL >= 3.7 and QGIS read as alias and comment (the GeoPackage schema extension)
    columns, qml = gpkg_metadata(paths["layer"], gis.LAYER)
    for _, r in dictionary.iterrows():
        title, description = columns[r["name"]]
        assert title == r["alias"] and r["description"] in description
        if r["unit"]:
            assert title.endswith(f"[{r['unit']}]") and f"Unit: {r['unit']}." in description
    # what QGIS applies on opening, whatever its GDAL
    aliases = {a.get("field"): a.get("name") for a in ET.fromstring(qml.split(">", 1)[1]).iter("alias")}
    assert aliases == dict(zip(dictionary["name"], dictionary["alias"]))


def test_ogrinfo_shows_the_unit_of_every_gis_gpkg_field(written, provinces):
    paths, _ = written
    out = ogrinfo(paths["layer"], "-so")
    dictionary = pd.read_csv(paths["fields"], keep_default_na=False, dtype=str)
    assert "Feature Count: 31" in out and "Geometry: Point" in out
    for _, row in dictionary[dictionary["unit"] != ""].iterrows():
        # GDAL 3.6 prints the layer metadata; GDAL >= 3.7 also the alias of each field
        assert f"  {row['name']}={row['alias']}\n" in out, row["name"]
    assert "  li_demand_2030_conservative=lithium demand in 2030, conservative scenario [t yr-1]" in out
    polygons = ogrinfo(paths["layer_polygons"], "-so")
    assert "Feature Count: 31" in polygons and "Geometry: Multi Polygon" in polygons


def test_results_gpkg_has_one_row_per_region_scenario_year_and_a_date(written, provinces):
    import pyogrio
    import shapely

    paths, _ = written
    info = pyogrio.read_info(paths["gpkg"], layer="results")
    assert info["features"] == 31 * provinces.sizes["year"] * provinces.sizes["scenario"]
    assert info["geometry_type"] == "Point" and info["crs"] == "EPSG:4326"
    fields = list(info["fields"])
    assert fields[:6] == ["region", "name_en", "name_zh", "scenario", "year", "date"]
    assert dict(zip(fields, info["dtypes"]))["date"].startswith("datetime64")
    metal = geopackage.metal_variables(provinces)
    assert {"metal_demand", "metal_in_use", "metal_end_of_life", "metal_recovered", "metal_lost"} <= set(metal)
    wanted = [f"{v}_{e.lower()}" for v in metal for e in provinces["element"].values]
    wanted += ["vehicle_stock", "carbon_reduction_lower", "carbon_reduction_upper", "battery_collected"]
    assert set(wanted) <= set(fields)
    meta, _, wkb, data = pyogrio.raw.read(paths["gpkg"], layer="results", where="region = 460000 AND scenario = 'conservative'",
                                         columns=["year", "date", "name_zh", "metal_demand_li", "vehicle_stock"])
    rows = dict(zip(meta["fields"], data))
    pick = {"scenario": "conservative", "region": 460000}
    np.testing.assert_allclose(rows["metal_demand_li"], plain(provinces["metal_demand"].sel(element="Li", **pick), "t/yr").values)
    np.testing.assert_allclose(rows["vehicle_stock"], plain(provinces["vehicle_stock"].sel(**pick).sum(["segment", "powertrain"]), "vehicle").values)
    assert list(rows["year"]) == provinces["year"].values.tolist() and set(rows["name_zh"]) == {"海南省"}
    assert [str(d)[:10] for d in rows["date"]] == [f"{y}-01-01" for y in provinces["year"].values]
    assert shapely.from_wkb(wkb[0]).equals(shapely.Point(110.32, 20.04))
    columns, _ = gpkg_metadata(paths["gpkg"], "results")
    assert columns["metal_demand_li"][0] == "material demand, Li [t yr-1]"
    units = [re.search(r"\[([^]]*)\]$", title).group(1) for column, (title, _) in columns.items() if column not in (
        "region", "name_en", "name_zh", "scenario", "year", "date")]
    assert units and all(cf_units.Unit(u) for u in units)
    polygons = pyogrio.read_info(paths["gpkg_polygons"], layer="results")
    assert polygons["geometry_type"] == "MultiPolygon" and polygons["features"] == info["features"]


def test_mfa_run_with_boundaries_writes_polygons_and_the_geopackages(tmp_path):
    """The user's path: one command, the 31-province case, the synthetic boundaries."""
    from click.testing import CliRunner

    from mfa.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--case", "china-provinces", "--scenario", "conservative", "--out", str(out),
                                       "--boundaries", str(BOUNDARIES)])
    assert result.exit_code == 0, result.output
    assert "31 matched" in result.output
    listing = ogrinfo(out / "gis.nc", "-so")
    assert "Feature Count: 31" in listing and "Polygon" in listing
    assert "Geometry: Multi Polygon" in ogrinfo(out / "gis.gpkg", "-so")
    with xr.open_dataset(out / "results.nc") as results:
        names = results[["name_zh", "name_pinyin"]].sel(region=460000)
        assert (str(names["name_zh"].values), str(names["name_pinyin"].values)) == ("海南省", "Hainan")
    import pyogrio

    info = pyogrio.read_info(out / "results.gpkg")
    assert info["features"] == 31 * results.sizes["year"] and info["geometry_type"] == "MultiPolygon"
    assert (out / "gis_fields.csv").exists()


QGIS_CHECK = """
import json, os, sys
from qgis.core import Qgis, QgsApplication, QgsProviderRegistry, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
out = {"version": Qgis.version()}
for path, layer, field in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    vl = QgsVectorLayer(f"{path}|layername={layer}", layer, "ogr")
    loaded = int(vl.temporalProperties().isActive())
    vl.loadDefaultStyle()  # as "Layer Properties > Style > Default" does
    t = vl.temporalProperties()
    out[layer] = {
        "valid": vl.isValid(), "features": vl.featureCount(), "alias": vl.fields().field(field).alias(),
        "temporal": [loaded, int(t.isActive()), t.startField(), t.fixedDuration()],
        "sublayers": [s.name() for s in QgsProviderRegistry.instance().querySublayers(path)],
    }
print(json.dumps(out), flush=True)
os._exit(0)  # QGIS 3.22 may crash tearing down its application object
"""


def test_qgis_shows_the_aliases_and_one_layer_per_file(written):
    """PyQGIS (Debian python3-qgis, a system Python's package) when it is installed; the
    file checks above hold without it."""
    python = shutil.which("python3", path="/usr/bin")
    found = python and subprocess.run([python, "-c", "import qgis.core"], capture_output=True, timeout=60).returncode == 0
    require(bool(found), "PyQGIS is not installed (Debian python3-qgis)")
    paths, _ = written
    args = [str(paths["layer_polygons"]), gis.LAYER, "li_demand_2030_conservative", str(paths["gpkg"]), "results", "metal_demand_li"]
    done = subprocess.run([python, "-c", QGIS_CHECK, *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    report = json.loads(done.stdout.strip().splitlines()[-1])
    regions, results = report[gis.LAYER], report["results"]
    assert regions["valid"] and regions["features"] == 31 and regions["sublayers"] == [gis.LAYER]
    assert regions["alias"] == "lithium demand in 2030, conservative scenario [t yr-1]"
    assert results["valid"] and results["sublayers"] == ["results"]
    assert results["alias"] == "material demand, Li [t yr-1]"
    assert results["temporal"][1:] == [1, "date", 1.0]
