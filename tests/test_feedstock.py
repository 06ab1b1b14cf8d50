"""Feedstock tables for recyclers (mfa.report.feedstock) on real runs: the 31-province
case (regions plus a total, with names), and a run with Monte-Carlo samples (P5/P50/P95);
pack mass and black-mass yield as parameters (mfa.parameters) and auxiliary results.

Expected values are computed here from results.nc with numpy, not with the module's code.
"""

import cf_units
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from mfa import config, definition, parameters
from mfa.cli import main
from mfa.errors import InputError
from mfa.report import data, feedstock

KEYS = ["scenario", "region", "name_en", "name_zh", "year", "chemistry", "direction", "stream", "quantity"]
START = 2023


def run_cli(out, *args):
    result = CliRunner().invoke(main, ["run", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return data.open_results(out / "results.nc")


@pytest.fixture(scope="module")
def provinces(tmp_path_factory):
    """A real 31-province run (one scenario, to keep it short) and its feedstock tables,
    written as the report writes them: from the run folder only."""
    out = tmp_path_factory.mktemp("provinces")
    ds = run_cli(out, "--case", "china-provinces", "--scenario", "conservative")
    written = feedstock.write_tables(ds, out, START)
    tables = {name: pd.read_csv(path, dtype={"region": str}, keep_default_na=False, na_values={"value": [""]}) for name, path in written.items()}
    return ds, tables


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    out = tmp_path_factory.mktemp("sampled")
    ds = run_cli(out, "--case", "hainan-study", "--scenario", "conservative", "--samples", "8", "--chunk", "8")
    return ds, pd.read_csv(feedstock.write_tables(ds, out, START)["feedstock"], dtype={"region": str})


def plain(ds: xr.Dataset, name: str, unit: str) -> xr.DataArray:
    """``name`` of results.nc in ``unit`` (UDUNITS), segments and powertrains summed."""
    da = ds[name]
    da = da.sum([d for d in ("segment", "powertrain") if d in da.dims])
    return da.copy(data=cf_units.Unit(da.attrs["units"]).convert(da.values, cf_units.Unit(unit)))


def test_31_regions_and_a_total_with_names_units_pack_and_black_mass(provinces):
    ds, tables = provinces
    table = tables["feedstock"]
    assert list(table.columns) == KEYS + ["value", "unit"]
    codes = [str(c) for c in ds["region"].values]
    assert len(codes) == 31 and list(dict.fromkeys(table["region"])) == codes + ["total"]
    names = table.drop_duplicates("region").set_index("region")
    assert names.loc["460000", "name_zh"] == "海南省" and names.loc["110000", "name_en"] == "Beijing"
    assert (names["name_en"] != "").all() and (names["name_zh"] != "").all()
    assert (names.loc["total", "name_en"], names.loc["total", "name_zh"]) == ("all regions", "全部地区")
    elements = [str(e) for e in ds["element"].values]
    assert set(elements) >= {"Li", "Ni", "Co", "Mn", "Al", "Cu", "graphite", "Fe"}
    assert list(dict.fromkeys(table["quantity"])) == ["battery_capacity", "pack_mass", "black_mass"] + elements
    units = table.drop_duplicates("quantity").set_index("quantity")["unit"]
    assert units["battery_capacity"] == "kW h yr-1" and set(units.drop("battery_capacity")) == {"t yr-1"}
    assert table["year"].min() == START and table["value"].notna().all() and (table["value"] >= 0).all()
    for table_name in ("feedstock", "feedstock_cumulative", "secondary_supply"):
        for unit in tables[table_name]["unit"].unique():
            cf_units.Unit(unit)
    for table_name in ("secondary_supply", "secondary_supply_targets"):
        assert list(dict.fromkeys(tables[table_name]["region"])) == codes + ["total"], table_name
        assert tables[table_name]["name_zh"].str.len().gt(0).all(), table_name


def test_streams_are_the_sorting_flows_and_inputs_equal_outputs(provinces):
    ds, _ = provinces
    table = feedstock.feedstock_table(ds, START)  # full precision (the CSV keeps 6 digits)
    system = definition.load()
    directions = table.drop_duplicates("stream").set_index("stream")["direction"].to_dict()
    assert directions == {**dict.fromkeys(system.feedstock_streams("in"), "in"), **dict.fromkeys(system.feedstock_streams("out"), "out")}
    by_direction = table.groupby(["region", "year", "chemistry", "quantity", "direction"])["value"].sum().unstack("direction")
    scale = by_direction.abs().max().max()
    np.testing.assert_allclose(by_direction["in"], by_direction["out"], rtol=1e-9, atol=1e-9 * scale)


def test_values_are_the_run_flows_times_the_run_factors(provinces):
    ds, tables = provinces
    table = tables["feedstock"]
    system = definition.load()
    years = slice(START, None)
    for stream, var in system.feedstock_streams().items():
        rows = table[(table["stream"] == stream) & (table["chemistry"] != "all") & (table["region"] != "total")]
        rows = rows.set_index(["quantity", "region", "year", "chemistry"])["value"]
        capacity = plain(ds, var, "kW h yr-1").sel(scenario="conservative", year=years)  # region, year, chemistry
        capacity = capacity.sel(chemistry=sorted(set(rows.index.get_level_values("chemistry"))))
        pack_kg = capacity * ds["pack_mass_per_kwh"].sel(scenario="conservative", chemistry=capacity["chemistry"])
        expected = {
            "battery_capacity": capacity,
            "pack_mass": pack_kg / 1000,
            "black_mass": pack_kg / 1000 * ds["black_mass_yield"].sel(scenario="conservative", chemistry=capacity["chemistry"]),
        }
        for quantity, want in expected.items():
            want = want.assign_coords(region=want["region"].astype(str)).transpose("region", "year", "chemistry").to_series()
            got = rows.xs(quantity, level="quantity").reindex(want.index)
            np.testing.assert_allclose(got.values, want.values, rtol=1e-5, atol=1e-6, err_msg=f"{stream} {quantity}")
        # chemistry "all" of an element is the model's own material flow
        metal = plain(ds, system.material_twin(var), "t yr-1").sel(scenario="conservative", year=years, element="Co")
        alls = table[(table["stream"] == stream) & (table["chemistry"] == "all") & (table["quantity"] == "Co") & (table["region"] != "total")]
        want = metal.assign_coords(region=metal["region"].astype(str)).transpose("region", "year").to_series()
        np.testing.assert_allclose(alls.set_index(["region", "year"])["value"].reindex(want.index).values, want.values, rtol=1e-5, atol=1e-6)


def test_total_rows_sum_the_regions_and_cumulative_rows_sum_the_years(provinces):
    _, tables = provinces
    table = tables["feedstock"]
    keys = ["year", "chemistry", "stream", "quantity"]
    total = table[table["region"] == "total"].set_index(keys)["value"]
    summed = table[table["region"] != "total"].groupby(keys)["value"].sum()
    np.testing.assert_allclose(total.reindex(summed.index).values, summed.values, rtol=1e-5)
    cumulative = tables["feedstock_cumulative"]
    assert list(cumulative.columns) == KEYS[:4] + ["year_from", "year_to"] + KEYS[5:] + ["value", "unit"]
    assert set(zip(cumulative["year_from"], cumulative["year_to"])) == {(START, y) for y in (2030, 2035, 2040, 2050)}
    assert set(cumulative["unit"]) == {"kW h", "t"}
    row = cumulative[(cumulative["region"] == "total") & (cumulative["year_to"] == 2040) & (cumulative["stream"] == "collected")
                     & (cumulative["chemistry"] == "all") & (cumulative["quantity"] == "black_mass")]
    part = table[(table["region"] == "total") & table["year"].between(START, 2040) & (table["stream"] == "collected")
                 & (table["chemistry"] == "all") & (table["quantity"] == "black_mass")]
    assert float(row["value"].iloc[0]) == pytest.approx(part["value"].sum(), rel=1e-5)


def test_samples_give_p5_p50_p95_where_the_kept_samples_determine_them(sampled):
    ds, table = sampled
    assert list(table.columns) == KEYS + ["value", "unit", "p5", "p50", "p95"]
    filled = table[table["p50"].notna()]
    assert set(filled["chemistry"]) == {"all"} and set(filled["quantity"]) == {"battery_capacity", *map(str, ds["element"].values)}
    assert set(filled["stream"]) == set(feedstock.streams())
    assert table[table["quantity"].isin(["pack_mass", "black_mass"]) | (table["chemistry"] != "all")]["p50"].isna().all()
    assert (filled["p5"] <= filled["p50"] + 1e-9).all() and (filled["p50"] <= filled["p95"] + 1e-9).all()
    assert (filled["p95"] > filled["p5"]).any()  # the samples differ
    q = plain(ds, "battery_collected_quantile", "kW h yr-1").sel(scenario="conservative", region=460000, year=2040, quantile=0.95)
    row = filled[(filled["stream"] == "collected") & (filled["quantity"] == "battery_capacity") & (filled["year"] == 2040)]
    assert float(row["p95"].iloc[0]) == pytest.approx(float(q), rel=1e-5)


def test_a_chemistry_without_pack_mass_is_an_input_error(tmp_path):
    source = config.resolve("inputs/pack_mass.csv")
    rows = pd.read_csv(source)
    short = tmp_path / "pack_mass.csv"
    rows[rows["chemistry"] != "LFP"].to_csv(short, index=False)
    scenarios = config.load_scenarios("hainan-study", ["conservative"], [f"batteries.pack_mass_file={short}"])
    with pytest.raises(InputError) as err:
        parameters.build(scenarios)
    assert "pack_mass.csv" in str(err.value) and "LFP" in str(err.value)


def test_pack_mass_and_black_mass_yield_are_parameters_with_provenance():
    scenarios = config.load_scenarios("hainan-study", ["conservative"])
    p = parameters.build(scenarios)
    assert float(p["pack_mass_per_kwh"].sel(scenario="conservative", chemistry="LFP").pint.to("kg/kWh").pint.magnitude) == pytest.approx(6.66)
    assert p["black_mass_yield"].attrs["file_conservative"] == "inputs/black_mass_yield.csv"
    assert parameters.RANGES["black_mass_yield"] == (0.0, 1.0)
