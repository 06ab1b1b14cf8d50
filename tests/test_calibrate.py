"""mfa calibrate: a bounded fit inside the declared bands, an overlay that mfa run layers
after the scenario files, deterministic, and bad declarations refused with one line."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from mfa import calibration, config, model
from mfa.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def case(tmp_path):
    """A copy of hainan-study to calibrate (the overlay is written beside the case)."""
    folder = tmp_path / "hainan-study"
    shutil.copytree(REPO / "scenarios" / "hainan-study", folder)
    return folder


def _rows(case_dir: Path, scenario: str, use_calibrated: bool, overrides=()) -> pd.DataFrame:
    scenarios = config.load_scenarios(str(case_dir), [scenario], list(overrides), use_calibrated=use_calibrated)
    results, params = model.run(scenarios)
    first = scenarios[scenario]
    cal = calibration.table(results, params, first.study.file, first.years.report_start, first.study.region, first.study.end)
    return cal[(cal["scenario"] == scenario) & (cal["figure"] != "nev_stock")]


@pytest.mark.slow
def test_fit_stays_in_band_improves_and_is_used_by_run(case, tmp_path):
    first = CliRunner().invoke(main, ["calibrate", "--case", str(case), "--scenario", "negative", "--out", str(tmp_path / "fit")])
    assert first.exit_code == 0, first.output
    overlay = case / config.CALIBRATED
    written = overlay.read_text()
    fitted = yaml.safe_load(written)["negative"]
    bands = config.load_scenarios(str(case), ["negative"], use_calibrated=False)["negative"].calibration.parameters
    for path, band in bands.items():
        node = fitted
        for part in path.split("."):
            node = node[int(part) if part.isdigit() else part]
        assert band.low <= node <= band.high, (path, node)
    after = _rows(case, "negative", use_calibrated=True)
    # the fit minimises the squared relative differences: never worse than where it started,
    # the case's own values moved into their bands (parameters.csv, column start)
    report = pd.read_csv(tmp_path / "fit" / "calibration_fit" / "targets.csv")
    started = pd.read_csv(tmp_path / "fit" / "calibration_fit" / "parameters.csv")
    before = _rows(case, "negative", use_calibrated=False, overrides=[f"{r.parameter}={r.start!r}" for r in started.itertuples()])
    assert (after["difference_pct"] ** 2).sum() <= (before["difference_pct"] ** 2).sum() + 1e-6
    assert set(report["figure"]) >= {"cumulative_demand", "cumulative_recovery"}
    # mfa run layers the overlay and says so
    run = CliRunner().invoke(main, ["run", "--case", str(case), "--scenario", "negative", "--out", str(tmp_path / "run")])
    assert run.exit_code == 0 and "calibrated values" in run.output, run.output
    # the same fit again gives the same overlay
    again = CliRunner().invoke(main, ["calibrate", "--case", str(case), "--scenario", "negative", "--out", str(tmp_path / "fit2")])
    assert again.exit_code == 0
    assert overlay.read_text() == written


@pytest.mark.parametrize("declaration, words", [
    ({"fleet.no_such_setting": {"low": 0, "high": 1, "source": "x"}}, ["fleet.no_such_setting"]),
    ({"fleet.cars_per_1000.rate": {"low": 0.4, "high": 0.1, "source": "x"}}, ["low", "high"]),
])
def test_a_bad_declaration_is_one_line(case, tmp_path, declaration, words):
    base = yaml.safe_load((case / "base.yaml").read_text())
    base["calibration"]["parameters"] = declaration
    (case / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    result = CliRunner().invoke(main, ["calibrate", "--case", str(case), "--scenario", "negative", "--out", str(tmp_path / "fit")])
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    for word in words:
        assert word in message, message
    assert not (case / config.CALIBRATED).exists()
