"""Parameters from input tables read once per process (mfa.inputs.table): the values are
the files' rows, an edited file is read again, a cached table cannot be changed by the
code that asked for it.

Expected values come from the CSV files read here with pandas, not from the module."""

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

from mfa import config, inputs, parameters
from conftest import REPO


@pytest.fixture(scope="module")
def study():
    return config.load_scenarios("hainan-study"), parameters.build(config.load_scenarios("hainan-study"))


def rows(name: str) -> pd.DataFrame:
    return pd.read_csv(REPO / "inputs" / name)


def values(p, name: str):
    return p[name].data.magnitude


def test_metal_intensity_and_efficiency_are_the_rows_of_their_files(study):
    scenarios, p = study
    intensity = rows("metal_intensity.csv").set_index(["chemistry", "element"])["value"]
    for chemistry in p["chemistry"].values:
        for element in p["element"].values:
            assert float(p["metal_intensity"].sel(scenario="conservative", chemistry=chemistry, element=element).data.magnitude) == intensity[(chemistry, element)]
    assert [str(e) for e in p["element"].values[:4]] == ["Li", "Ni", "Co", "Mn"]  # file order
    efficiency = rows("recovery_efficiency.csv").set_index(["process", "element"])["value"]
    process = scenarios["conservative"].end_of_life.recycling_process
    for year in (2015, 2030, 2050):
        in_use = process[max([s for s in process if s <= year], default=min(process))]
        got = p["recovery_efficiency"].sel(scenario="conservative", year=year).data.magnitude
        assert got.tolist() == [efficiency[(in_use, e)] for e in p["element"].values]
    assert str(p["metal_intensity"].data.units) == "kilogram / kilowatt_hour"


def test_capacity_grid_and_registrations_at_the_files_years(study):
    scenarios, p = study
    capacity = rows("battery_capacity.csv")
    history_end = scenarios["conservative"].years.history_end
    for _, row in capacity[capacity["year"] <= history_end].iterrows():  # history: no scenario lever
        got = p["battery_capacity"].sel(scenario="negative", segment="passenger", powertrain=row["powertrain"], cohort=row["year"])
        assert float(got.data.magnitude) == pytest.approx(row["value"], rel=1e-12)
    grid = rows("grid_factor.csv")
    paths = scenarios["conservative"].carbon.grid_paths
    at = grid[grid["path"].isin(paths) & (grid["year"] == 2023)]["value"]
    bounds = p["grid_factor"].sel(scenario="conservative", year=2023).data.magnitude
    assert bounds.tolist() == [at.max(), at.min()]
    history = rows("hainan/fleet_history.csv")
    registrations = history[history["variable"] == "nev_registrations"].set_index("year")["value"]
    share = scenarios["conservative"].fleet.passenger_share
    got = p["nev_registrations"].sel(scenario="conservative", segment="passenger").isel(region=0)
    for year in (2015, 2020, history_end):
        assert float(got.sel(year=year).data.magnitude) == pytest.approx(registrations[year] * share, rel=1e-12)
    assert float(got.sel(year=history_end + 1).data.magnitude) == 0.0


def test_interpolation_is_linear_between_given_years_and_flat_beyond():
    years = np.arange(2010, 2031)
    got = inputs.interpolate(np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]]), np.array([2015, 2020, 2025]), years)
    assert got[0].tolist() == [1.0] * 6 + [1.0 + 0.2 * k for k in range(1, 10)] + [3.0] * 6
    assert np.isnan(got[1]).all()


@pytest.fixture
def root(tmp_path, monkeypatch):
    for folder in ("scenarios", "inputs"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    monkeypatch.setenv("MFA_ROOT", str(tmp_path))
    return tmp_path


def test_an_edited_file_is_read_again(root):
    before = parameters.build(config.load_scenarios("hainan-study", ["conservative"]))
    path = root / "inputs" / "metal_intensity.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[(table["chemistry"] == "LFP") & (table["element"] == "Li"), "value"] = "0.123456"
    table.to_csv(path, index=False)
    after = parameters.build(config.load_scenarios("hainan-study", ["conservative"]))
    lithium = {"scenario": "conservative", "chemistry": "LFP", "element": "Li"}
    assert float(after["metal_intensity"].sel(lithium).data.magnitude) == 0.123456
    assert float(before["metal_intensity"].sel(lithium).data.magnitude) != 0.123456


def test_a_cached_table_cannot_be_changed_by_its_reader():
    path = REPO / "inputs" / "metal_intensity.csv"
    table = inputs.table(path, ("chemistry", "element"), "kg/kWh")
    with pytest.raises(ValueError, match="read-only"):
        table.values[0, 0] = 99.0
    with pytest.raises(ValueError, match="read-only"):
        table.coords["chemistry"][0] = "XX"
    with pytest.raises(TypeError):
        table.coords["chemistry"] = np.array(["XX"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.unit = "t/kWh"
    mine = inputs.read_table(path, ("chemistry", "element"), "kg/kWh")
    mine.data.magnitude[0, 0] = 99.0  # a DataArray of the caller's own
    assert inputs.table(path, ("chemistry", "element"), "kg/kWh").values[0, 0] != 99.0
    assert inputs.table(path, ("chemistry", "element"), "kg/kWh") is table


def test_a_second_build_equals_the_first(study):
    scenarios, p = study
    again = parameters.build(scenarios)
    for name in p.data_vars:
        assert again[name].dims == p[name].dims and again[name].data.units == p[name].data.units
        np.testing.assert_array_equal(again[name].data.magnitude, p[name].data.magnitude)
        assert again[name].attrs == p[name].attrs


def test_an_edited_scenario_file_is_read_again_and_each_reader_gets_its_own_copy(root):
    base = root / "scenarios" / "hainan-study" / "base.yaml"
    first = config.load_yaml(base)
    first["fleet"]["passenger_share"] = -1.0  # the caller's copy, not the cache's
    assert config.load_scenarios("hainan-study", ["conservative"])["conservative"].fleet.passenger_share == 0.9
    text = base.read_text(encoding="utf-8")
    assert "  passenger_share: 0.9 " in text
    base.write_text(text.replace("  passenger_share: 0.9 ", "  passenger_share: 0.85 "), encoding="utf-8")
    assert config.load_scenarios("hainan-study", ["conservative"])["conservative"].fleet.passenger_share == 0.85


def test_a_changed_setting_is_built_again_and_the_old_one_still_stands(study):
    scenarios, p = study
    scaled = parameters.build(config.load_scenarios("hainan-study", ["conservative"], ["batteries.capacity_scale=1.5"]))
    history_end = scenarios["conservative"].years.history_end
    before = p["battery_capacity"].sel(scenario="conservative").data.magnitude
    after = scaled["battery_capacity"].sel(scenario="conservative").data.magnitude
    cohorts = p["cohort"].values
    np.testing.assert_array_equal(after[..., cohorts <= history_end], before[..., cohorts <= history_end])
    np.testing.assert_allclose(after[..., cohorts > history_end], 1.5 * before[..., cohorts > history_end], rtol=1e-12)
    again = parameters.build(config.load_scenarios("hainan-study", ["conservative"]))
    np.testing.assert_array_equal(again["battery_capacity"].sel(scenario="conservative").data.magnitude, before)
