"""The command line: bad input gets one clear line and exit code 2, never a half-written file."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from mfa import config, model
from mfa.cli import main
from mfa.units import plain
from conftest import REPO

CASE = REPO / "scenarios" / "hainan-study"


def run_cli(*args, out: Path):
    result = CliRunner().invoke(main, ["run", "--out", str(out), *args])
    return result


def assert_clean_failure(result, out: Path, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, message
    assert not out.exists() or not any(out.rglob("*")), "an output file was written"


@pytest.fixture
def case_copy(tmp_path):
    """A copy of the study case whose base.yaml and input files a test may edit."""
    folder = tmp_path / "case"
    shutil.copytree(CASE, folder)
    return folder


def edit_base(folder: Path, change):
    base = yaml.safe_load((folder / "base.yaml").read_text())
    change(base)
    (folder / "base.yaml").write_text(yaml.safe_dump(base, allow_unicode=True))


def copy_input(tmp_path: Path, name: str, change) -> Path:
    df = pd.read_csv(REPO / name, dtype=str, keep_default_na=False)
    df = change(df)
    path = tmp_path / Path(name).name
    df.to_csv(path, index=False)
    return path


def test_missing_input_file(tmp_path):
    out = tmp_path / "out"
    result = run_cli("--set", "regions.460000.history_file=inputs/nope.csv", out=out)
    assert_clean_failure(result, out, "--set regions.460000.history_file", "inputs/nope.csv")


def test_missing_scenario_file(case_copy, tmp_path):
    (case_copy / "positive.yaml").unlink()
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--case", str(case_copy), out=out), out, "positive.yaml", "does not exist")


def test_unknown_case(tmp_path):
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--case", "no-such-case", out=out), out, "case", "hainan-study")


def test_missing_field(case_copy, tmp_path):
    edit_base(case_copy, lambda b: b["fleet"].pop("passenger_share"))
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--case", str(case_copy), out=out), out, "fleet.passenger_share", "required")


def test_misspelt_field(tmp_path):
    out = tmp_path / "out"
    result = run_cli("--set", "fleet.pasenger_share=0.9", out=out)
    assert_clean_failure(result, out, "fleet.pasenger_share", "no such setting")


def test_tonnes_where_a_share_is_expected(tmp_path):
    out = tmp_path / "out"
    result = run_cli("--set", "end_of_life.collection_rate=3 t", out=out)
    assert_clean_failure(result, out, "end_of_life.collection_rate", "convertible to 1")


def test_tonnes_in_a_share_table(case_copy, tmp_path):
    bad = copy_input(tmp_path, "inputs/chemistry_share.csv", lambda df: df.assign(unit="t"))
    edit_base(case_copy, lambda b: b["batteries"].update(chemistry_file=str(bad)))
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--case", str(case_copy), out=out), out, "chemistry_share.csv", "unit", "'1'")


def test_negative_rate(tmp_path):
    out = tmp_path / "out"
    result = run_cli("--set", "end_of_life.collection_rate=-0.1", out=out)
    assert_clean_failure(result, out, "--set end_of_life.collection_rate", "a finite number in [0, 1], got -0.1")


def test_shares_that_do_not_sum_to_one(case_copy, tmp_path):
    def inflate(df):
        row = (df["path"] == "study") & (df["year"] == "2030") & (df["chemistry"] == "LFP")
        df.loc[row, "value"] = "0.9"
        return df

    bad = copy_input(tmp_path, "inputs/chemistry_share.csv", inflate)
    edit_base(case_copy, lambda b: b["batteries"].update(chemistry_file=str(bad)))
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--case", str(case_copy), out=out), out, "chemistry_share.csv", "summing to 1", "2030")


def test_gap_in_the_years(case_copy, tmp_path):
    bad = copy_input(
        tmp_path, "inputs/hainan/fleet_history.csv",
        lambda df: df[~((df["variable"] == "nev_registrations") & (df["year"] == "2020"))],
    )
    edit_base(case_copy, lambda b: b["regions"][460000].update(history_file=str(bad)))
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--case", str(case_copy), out=out), out, "fleet_history.csv", "year", "2020")


def test_not_a_number_in_a_table(case_copy, tmp_path):
    bad = copy_input(tmp_path, "inputs/metal_intensity.csv", lambda df: df.assign(value=df["value"].where(df.index != 3, "lots")))
    edit_base(case_copy, lambda b: b["batteries"].update(intensity_file=str(bad)))
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--case", str(case_copy), out=out), out, "metal_intensity.csv", "value", "lots")


def test_malformed_yaml(case_copy, tmp_path):
    (case_copy / "negative.yaml").write_text("fleet: [unclosed\n")
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--case", str(case_copy), out=out), out, "negative.yaml", "valid YAML")


def test_watt_hours_where_kilowatt_hours_are_expected_are_converted(case_copy, tmp_path):
    def to_wh(df):
        df["value"] = (df["value"].astype(float) * 1000).astype(str)
        df["unit"] = "Wh/vehicle"
        return df

    in_wh = copy_input(tmp_path, "inputs/battery_capacity.csv", to_wh)
    edit_base(case_copy, lambda b: b["batteries"].update(capacity_file=str(in_wh)))
    reference, _ = model.run(config.load_scenarios("hainan-study", ["negative"]))
    converted, _ = model.run(config.load_scenarios(str(case_copy), ["negative"]))
    assert float(abs(plain(converted["metal_demand"] - reference["metal_demand"], "t/yr")).max()) < 1e-9


def test_the_command_itself(tmp_path):
    """The installed entry point runs one scenario and writes every output, but no plots
    unless asked (the old run's plots, which describe the old results, are dropped); a
    bad run exits 2."""
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "results.nc").write_text("an earlier run")
    (out / "plots" / "demand.png").write_text("an earlier run's plot")
    ok = subprocess.run([sys.executable, "-m", "mfa.cli", "run", "--scenario", "positive", "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert (out / "results.nc").exists() and (out / "calibration.csv").exists() and (out / "results.xlsx").exists()
    assert not (out / "plots").exists()
    assert "largest mass-balance error" in ok.stdout and "not drawn: add --plots" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "mfa.cli", "run", "--set", "fleet.passenger_share=2", "--out", str(tmp_path / "bad")], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "fleet.passenger_share" in bad.stderr


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    from mfa.io import atomic_path

    target = tmp_path / "results.nc"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_readable_by_others(tmp_path):
    """Atomic writes go through a private temporary file; the output gets the umask's mode."""
    import os

    from mfa.io import atomic_path

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "x.csv") as tmp:
            tmp.write_text("a\n")
    finally:
        os.umask(old)
    assert (tmp_path / "x.csv").stat().st_mode & 0o777 == 0o644


def test_missing_boundaries_file(tmp_path):
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--boundaries", str(tmp_path / "nope.geojson"), out=out), out, "nope.geojson", "boundaries")


def test_boundaries_without_a_code_field(tmp_path):
    path = tmp_path / "b.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "x"}, '
                    '"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}]}')
    out = tmp_path / "out"
    assert_clean_failure(run_cli("--boundaries", str(path), out=out), out, "b.geojson", "GB/T 2260", "['name']")


def test_report_without_a_run(tmp_path):
    out = tmp_path / "empty"
    result = CliRunner().invoke(main, ["report", "--out", str(out)])
    assert_clean_failure(result, out, "results.nc", "mfa run")
