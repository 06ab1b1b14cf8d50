"""`mfa init DIR --region CODE`: a case folder of one province that runs at once, with
every number sourced and graded; input paths of a case folder resolve relative to it."""

from __future__ import annotations

import pandas as pd
import pytest
import xarray as xr
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook

from mfa import config, provenance
from mfa.cli import main
from mfa.inputs import GRADES


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, line
    for fragment in fragments:
        assert fragment in line, line


@pytest.fixture(scope="module")
def guangdong(tmp_path_factory):
    folder = tmp_path_factory.mktemp("init") / "gd"
    result = invoke("init", folder, "--region", "440000")
    assert result.exit_code == 0, result.output
    return folder


def test_folder_contents(guangdong):
    names = {str(p.relative_to(guangdong)) for p in guangdong.rglob("*") if p.is_file()}
    assert names == {"base.yaml", "negative.yaml", "conservative.yaml", "positive.yaml",
                     "data/history.csv", "data/population.csv", "data/new_car_sales.csv", "data/targets.csv"}
    text = (guangdong / "base.yaml").read_text(encoding="utf-8")
    header = text.split("\nextends:")[0]
    for name in ("data/history.csv", "data/population.csv", "data/new_car_sales.csv", "data/targets.csv", "cars_per_1000_observed", "collection_rate"):
        assert name in header, name
    base = yaml.safe_load(text)
    assert base["extends"] == "china-provinces" and base["study"]["region"] == 440000
    assert base["regions"][460000] is None and base["regions"][440000]["name"] == "Guangdong"
    # every setting of the file has a grade in its comment
    _, rows = provenance.yaml_settings(guangdong / "base.yaml")
    regional = [r for r in rows if r["key"].startswith("regions.440000.") and r["key"] != "regions.440000.name"]
    assert regional and all(r["grade"] in GRADES for r in regional), regional


def test_every_number_sourced(guangdong):
    for name in ("history", "population", "new_car_sales"):
        frame = pd.read_csv(guangdong / "data" / f"{name}.csv")
        assert len(frame) and frame[["value", "unit", "source", "source_year", "grade", "note"]].notna().all().all(), name
        assert set(frame["grade"]) <= GRADES
    history = pd.read_csv(guangdong / "data" / "history.csv")
    assert list(history["year"]) == list(range(2015, 2026))
    assert (history["grade"] == "D").all() and history["note"].str.startswith("derived").all()
    # the table's 2023 passenger-EV registrations (882,709) over the passenger share (0.9)
    assert history.set_index("year").loc[2023, "value"] == round(882709 / 0.9)
    assert pd.read_csv(guangdong / "data" / "new_car_sales.csv")["value"].item() == 0.549
    targets = pd.read_csv(guangdong / "data" / "targets.csv")
    assert list(targets.columns[:7]) == ["figure", "scenario", "region", "year", "value", "unit", "weight"]
    proxy = targets[targets["figure"] == "passenger_nev_stock"].iloc[0]
    assert proxy["value"] == 2752437 and proxy["year"] == 2023 and proxy["grade"] == "B"
    empty = targets[targets["value"].isna()]
    assert len(empty) and (empty["weight"] == 0).all() and empty["note"].str.contains("no official figure").all()


def test_runs_at_once_as_its_row_of_the_provinces_case(guangdong, tmp_path):
    """Until the planner's data replace it, the case reproduces Guangdong's row of the
    31-province run (the history derived the same way; registrations rounded to vehicles)."""
    out = tmp_path / "out"
    result = invoke("run", "--case", guangdong, "--scenario", "conservative", "--out", out)
    assert result.exit_code == 0, result.output
    workbook = load_workbook(out / "results.xlsx", read_only=True)
    assert "Calibration" not in workbook.sheetnames  # no official figure yet: listed on About, not an empty sheet
    assert all(workbook[name].max_row >= 2 for name in workbook.sheetnames)
    ours = xr.open_dataset(out / "results.nc")
    assert [int(r) for r in ours["region"].values] == [440000]
    inputs = pd.read_csv(out / "parameters.csv", keep_default_na=False)
    files = set(inputs.loc[inputs["kind"] == "input", "file"])
    assert str(guangdong / "data" / "history.csv") in files and not any("hainan" in f for f in files)
    reference = tmp_path / "provinces"
    result = invoke("run", "--case", "china-provinces", "--scenario", "conservative", "--set", "case.only_regions=[440000]", "--out", reference)
    assert result.exit_code == 0, result.output
    theirs = xr.open_dataset(reference / "results.nc")
    for name in ("vehicle_stock", "metal_demand", "metal_recovered"):
        xr.testing.assert_allclose(ours[name], theirs[name], rtol=1e-4)


def test_bad_region_code(tmp_path):
    one_line_error(invoke("init", tmp_path / "x", "--region", "999999"), "--region", "999999")
    one_line_error(invoke("init", tmp_path / "x", "--region", "guangdong"), "--region")
    assert not (tmp_path / "x").exists()


def test_existing_folder_needs_force(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    one_line_error(invoke("init", folder, "--region", "440000"), "--force")
    assert (folder / "notes.txt").read_text() == "mine"
    result = invoke("init", folder, "--region", "460000", "--force")
    assert result.exit_code == 0, result.output
    assert not (folder / "notes.txt").exists() and (folder / "base.yaml").exists()
    assert not list(tmp_path.glob(".mine.*")), "a staging folder was left behind"


def test_from_the_outlook_case(tmp_path):
    folder = tmp_path / "js"
    result = invoke("init", folder, "--region", "320000", "--from-case", "hainan-outlook")
    assert result.exit_code == 0, result.output
    scenarios = config.load_scenarios(str(folder))
    first = next(iter(scenarios.values()))
    assert list(first.regions) == [320000] and first.batteries.chemistry_path == "outlook"
    assert "hainan-outlook/negative.yaml" in (folder / "negative.yaml").read_text().splitlines()[0]


def test_case_folder_paths_resolve_against_it(tmp_path, monkeypatch):
    """A file named in a case folder's YAML is read from that folder when it is there;
    shipped cases' inputs/ paths resolve against the project root as before."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "case" / "inputs" / "hainan").mkdir(parents=True)
    root = config.project_root()
    assert config.resolve("inputs/carbon.csv") == root / "inputs" / "carbon.csv"
    assert config.resolve("inputs/carbon.csv", tmp_path / "case") == root / "inputs" / "carbon.csv"  # not in the folder
    mine = tmp_path / "case" / "inputs" / "carbon.csv"
    mine.write_text("x")
    assert config.resolve("inputs/carbon.csv", tmp_path / "case") == mine
    assert config.resolve(str(mine), tmp_path / "elsewhere") == mine
    # a case folder that names a file of its own, with the same relative path as a shipped one
    history = root / "inputs" / "hainan" / "fleet_history.csv"
    (tmp_path / "case" / "inputs" / "hainan" / "fleet_history.csv").write_text(history.read_text().replace("nev_registrations,2025,125000", "nev_registrations,2025,125001"))
    (tmp_path / "case" / "base.yaml").write_text("extends: hainan-study\ncase: {name: case, description: x, scenarios: [conservative]}\n"
                                                  "regions: {460000: {history_file: inputs/hainan/fleet_history.csv}}\n")
    (tmp_path / "case" / "conservative.yaml").write_text("{}\n")
    cfg = config.load_scenarios(str(tmp_path / "case"))["conservative"]
    assert cfg.regions[460000].history_file == str(tmp_path / "case" / "inputs" / "hainan" / "fleet_history.csv")
    assert cfg.regions[460000].population_file == "inputs/hainan/population.csv"  # named by the study case: as before
    shipped = config.load_scenarios("hainan-study")["conservative"]
    assert shipped.regions[460000].history_file == "inputs/hainan/fleet_history.csv"
