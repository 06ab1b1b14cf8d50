"""GIS outputs for all 31 provinces: gis.nc (CF-1.8 timeSeries + geometry container),
polygons from a boundaries file, results.gpkg; checked with GDAL's ogrinfo and IOOS
compliance-checker as QGIS/ArcGIS users would see them (shared/CONVENTIONS.md).

The model runs the Hainan study once; while ``region`` holds one region, a synthetic
31-province dataset is made from it (scaled copies keyed by the GB/T codes of
inputs/provinces_meta.csv). tests/fixtures/boundaries.geojson holds synthetic squares,
not real boundaries (tests/fixtures/make_boundaries.py writes it).
"""

import importlib.util
import json
import re
import subprocess
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
    paths = {
        "results": netcdf.write(provinces, out / "results.nc", dict(provinces.attrs)),
        "points": out / "gis.nc",
        "polygons": out / "gis_polygons.nc",
        "gpkg": out / "results.gpkg",
    }
    reports = {
        "points": gis.write_gis(provinces, META, paths["points"], report_start=REPORT_START),
        "polygons": gis.write_gis(provinces, META, paths["polygons"], boundaries=BOUNDARIES, report_start=REPORT_START),
    }
    geopackage.write_geopackage(provinces, META, paths["gpkg"])
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


def test_gis_nc_is_a_cf_timeseries_with_one_feature_per_region(written, provinces):
    paths, report = written
    scenarios = [str(s) for s in provinces["scenario"].values]
    with netCDF4.Dataset(paths["points"]) as nc:
        assert nc.Conventions == "CF-1.8" and nc.featureType == "timeSeries"
        assert nc.dimensions["region"].size == 31
        assert nc.dimensions["time"].size == provinces.sizes["year"]
        code = nc["region_code"]
        assert code.dtype == np.int32 and code.cf_role == "timeseries_id" and code.long_name
        assert list(code[:]) == META["code"].tolist()
        assert nc["name_zh"].dtype == "S1" and nc["name_pinyin"].dtype == "S1"
        nc.set_auto_chartostring(True)
        assert list(nc["name_zh"][:]) == META["name_zh"].tolist()  # Chinese round-trips
        assert list(nc["name_pinyin"][:]) == META["pinyin"].tolist()
        assert (nc["lat"].standard_name, nc["lat"].units) == ("latitude", "degrees_north")
        assert (nc["lon"].standard_name, nc["lon"].units) == ("longitude", "degrees_east")
        np.testing.assert_allclose(nc["lat"][:], META["lat"])
        time = nc["time"]
        assert time.dtype == np.int32 and time.standard_name == "time"
        dates = netCDF4.num2date(time[:], time.units, time.calendar)
        assert [d.year for d in dates] == provinces["year"].values.tolist()
        assert nc["year"].dtype == np.int32
        crs = nc["crs"]
        assert crs.grid_mapping_name == "latitude_longitude" and "WGS 84" in crs.crs_wkt
        assert crs.semi_major_axis == 6378137.0
        for name in ("region_code", "lat", "lon", "time", "year"):
            assert "_FillValue" not in nc[name].ncattrs(), name
        fields = [n for n, v in nc.variables.items() if v.dimensions == ("region",) and v.dtype.kind == "f" and n not in ("lat", "lon")]
        assert set(headline_names(scenarios)) <= set(fields)
        for name in fields:
            var = nc[name]
            assert var.geometry == "region_geometry" and var.grid_mapping == "crs", name
        series = [n for n, v in nc.variables.items() if v.dimensions == ("region", "time")]
        assert {f"li_demand_{s}" for s in scenarios} | {f"mn_recovered_{s}" for s in scenarios} <= set(series)
        for name, var in nc.variables.items():
            if var.dtype.kind in "fiu" and var.ndim and name != "time_bnds":  # CF: bounds carry no units of their own
                assert var.long_name, name
                cf_units.Unit(var.units)  # raises on anything UDUNITS cannot read
            if var.ndim and var.dtype.kind != "S":
                filters = var.filters()
                assert filters["zlib"] and filters["shuffle"], name
        assert nc["li_demand_cum_2023_2050_conservative"].units == "t"
        assert nc["li_demand_2030_conservative"].units == "t yr-1"
        assert nc["vehicle_stock_2050_conservative"].units == "1"
    assert report["points"]["geometry"] == "point" and report["points"]["regions"] == 31


def test_headline_fields_are_the_results_summed(written, provinces):
    paths, _ = written
    ds = xr.open_dataset(paths["points"])
    region = 460000
    i = int(np.flatnonzero(ds["region_code"].values == region)[0])
    pick = {"scenario": "conservative", "region": region}
    demand = plain(provinces["metal_demand"].sel(element="Li", **pick), "t/yr")
    assert ds["li_demand_cum_2023_2050_conservative"].values[i] == pytest.approx(float(demand.sel(year=slice(2023, 2050)).sum()))
    assert ds["li_demand_2030_conservative"].values[i] == pytest.approx(float(demand.sel(year=2030)))
    np.testing.assert_allclose(ds["li_demand_conservative"].values[i], demand.values)
    recovered = plain(provinces["metal_recovered"].sel(element="Co", **pick), "t/yr")
    assert ds["co_recovered_2050_conservative"].values[i] == pytest.approx(float(recovered.sel(year=2050)))
    stock = plain(provinces["vehicle_stock"].sel(**pick, year=2050).sum("powertrain"), "vehicle")
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


def test_geopackage_has_one_row_per_region_year_scenario_element_variable(written, provinces):
    import pyogrio

    paths, _ = written
    info = pyogrio.read_info(paths["gpkg"], layer="results")
    metal = geopackage.metal_variables(provinces)
    assert {"metal_demand", "metal_in_use", "metal_end_of_life", "metal_recovered", "metal_lost"} <= set(metal)
    others = [v for v in geopackage.other_variables() if v in provinces]
    per_key = 31 * provinces.sizes["year"] * provinces.sizes["scenario"]
    expected = per_key * (len(metal) * provinces.sizes["element"] + len(others) + provinces.sizes["bound"] - 1)
    assert info["features"] == expected
    assert info["geometry_type"] == "Point" and info["crs"] == "EPSG:4326"
    assert list(info["fields"]) == ["region", "year", "scenario", "element", "variable", "value", "unit"]
    _, _, wkb, data = pyogrio.raw.read(
        paths["gpkg"], where="region = 460000 AND scenario = 'conservative' AND element = 'Li' AND variable = 'metal_demand'"
    )
    rows = dict(zip(["region", "year", "scenario", "element", "variable", "value", "unit"], data))
    demand = plain(provinces["metal_demand"].sel(scenario="conservative", region=460000, element="Li"), "t/yr")
    np.testing.assert_allclose(rows["value"], demand.values)
    assert set(rows["unit"]) == {"t yr-1"} and list(rows["year"]) == provinces["year"].values.tolist()
    import shapely

    assert shapely.from_wkb(wkb[0]).equals(shapely.Point(110.32, 20.04))
    _, _, _, data = pyogrio.raw.read(paths["gpkg"], where="variable = 'vehicle_stock'", columns=["element", "unit"])
    assert set(data[0]) == {""} and set(data[1]) == {"1"}
    _, _, _, data = pyogrio.raw.read(paths["gpkg"], sql="SELECT DISTINCT unit FROM results", read_geometry=False)
    for unit in data[0]:
        cf_units.Unit(unit)  # every unit string is UDUNITS


def test_mfa_run_with_boundaries_writes_polygons_and_the_geopackage(tmp_path):
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
    with xr.open_dataset(out / "results.nc") as results:
        names = results[["name_zh", "name_pinyin"]].sel(region=460000)
        assert (str(names["name_zh"].values), str(names["name_pinyin"].values)) == ("海南省", "Hainan")
    import pyogrio

    info = pyogrio.read_info(out / "results.gpkg")
    assert info["features"] > 0 and "value" in list(info["fields"])

