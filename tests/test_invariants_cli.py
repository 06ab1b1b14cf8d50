"""Invariants through the command line: a bad value in a table or an override stops the
run with exit 2, one line naming what is wrong, and nothing written; Monte-Carlo draws
stay inside every parameter's range."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from mfa import definition
from mfa.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def project(tmp_path):
    """A copy of the shipped cases and inputs to break, found through MFA_ROOT."""
    root = tmp_path / "project"
    for folder in ("inputs", "scenarios"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def run(root: Path, out: Path, *args):
    return CliRunner().invoke(main, ["run", "--scenario", "conservative", "--out", str(out), *args], env={"MFA_ROOT": str(root)})


def edit_csv(path: Path, change) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame).to_csv(path, index=False)


def expect_refused(result, out: Path, *words):
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    for word in words:
        assert word in message, (word, message)
    assert not out.exists() or not any(out.iterdir())


def test_an_element_without_recovery_efficiency(project, tmp_path):
    edit_csv(project / "inputs/recovery_efficiency.csv", lambda f: f[f["element"] != "Fe"])
    expect_refused(run(project, tmp_path / "out"), tmp_path / "out", "recovery_efficiency.csv", "Fe")


def test_an_efficiency_above_one_in_a_table(project, tmp_path):
    def bad(frame):
        frame.loc[(frame["process"] == "miit_2024") & (frame["element"] == "Ni"), "value"] = "1.9"
        return frame

    edit_csv(project / "inputs/recovery_efficiency.csv", bad)
    expect_refused(run(project, tmp_path / "out"), tmp_path / "out", "recovery_efficiency", "[0, 1]", "1.9")


def test_infinity_in_a_table(project, tmp_path):
    def bad(frame):
        frame.loc[(frame["chemistry"] == "LFP") & (frame["element"] == "Li"), "value"] = "inf"
        return frame

    edit_csv(project / "inputs/metal_intensity.csv", bad)
    expect_refused(run(project, tmp_path / "out"), tmp_path / "out", "metal_intensity", "finite")


@pytest.mark.parametrize("override, words", [
    ("end_of_life.collection_rate=1.2", ("collection_rate",)),
    ("carbon.annual_mileage=.inf", ("annual_mileage", "finite", "--set")),
])
def test_a_bad_override(project, tmp_path, override, words):
    expect_refused(run(project, tmp_path / "out", "--set", override), tmp_path / "out", *words)


@pytest.mark.slow
def test_monte_carlo_draws_stay_in_range(tmp_path):
    """hainan-outlook positive draws collection factors that would push the rate above 1
    without clipping; every flow of the result must be finite and >= 0."""
    out = tmp_path / "mc"
    result = CliRunner().invoke(main, ["run", "--case", "hainan-outlook", "--samples", "64", "--out", str(out)])
    assert result.exit_code == 0, result.output
    system = definition.load()
    with xr.open_dataset(out / "results.nc") as ds:
        for name, var in system.variables.items():
            values = ds[name].values
            assert np.isfinite(values).all(), name
            if var.kind in ("flow", "stock", "part", "total"):
                assert values.min() >= -1e-9 * np.abs(values).max(), name
        quantiles = [n for n in ds.data_vars if n.endswith("_quantile")]
        assert quantiles
        for name in quantiles:
            assert np.isfinite(ds[name].values).all() and ds[name].values.min() >= -1e-6, name
