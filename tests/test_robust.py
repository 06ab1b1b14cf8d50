"""Nothing lost, nothing silent (issue 15): every bad input and fault, in every command and
input file, ends with exit code 2 and one line naming the file or option, with no
traceback, and leaves the previous run's outputs byte-identical. Bugs exit 1 with a
"please report" line. Everything runs on copies of scenarios/ and inputs/ (MFA_ROOT)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from mfa import config
from mfa.cli import main
from mfa.io import rundir

STUDY = "scenarios/hainan-study"


def invoke(root: Path, *args: str):
    return CliRunner().invoke(main, [str(a) for a in args], env={"MFA_ROOT": str(root)})


def snapshot(out: Path) -> dict[str, str]:
    """Every file under ``out`` with its SHA-256, and the hidden entries beside it (a
    staging folder or lock left behind would show there)."""
    files = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}
    files["<beside>"] = ",".join(sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")))
    return files


def assert_one_line_error(output: str, code: int, *fragments: str, expected_code: int = 2) -> str:
    assert code == expected_code, output
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(autouse=True)
def private_tmpdir(tmp_path_factory, monkeypatch):
    """Sample stores, bug logs and leftovers of this test in its own temporary folder."""
    folder = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A copy of the shipped scenarios/ and inputs/, the MFA_ROOT of every case."""
    folder = tmp_path_factory.mktemp("root")
    for name in ("scenarios", "inputs"):
        shutil.copytree(REPO / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def previous(root, tmp_path_factory) -> Path:
    """The output folder of a good run, which every bad case then targets."""
    out = tmp_path_factory.mktemp("previous") / "out"
    result = invoke(root, "run", "--scenario", "positive", "--out", out)
    assert result.exit_code == 0, result.output
    return out


# --- edits of the copied files ---------------------------------------------------------


def yaml_edit(relpath: str, change):
    def edit(here: Path, tmp: Path):
        path = here / relpath
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    return edit


def text(relpath: str, content: str | bytes):
    def edit(here: Path, tmp: Path):
        path = here / relpath
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return edit


def csv_edit(relpath: str, change):
    def edit(here: Path, tmp: Path):
        path = here / relpath
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        change(df).to_csv(path, index=False)

    return edit


def cell(row: int, value: str, column: str = "value"):
    def change(df):
        df.loc[row, column] = value
        return df

    return change


def remove(relpath: str):
    return lambda here, tmp: (here / relpath).unlink()


def truncated_results(here: Path, tmp: Path):
    """A run folder whose results.nc was cut short (a crash of a writer without atomic writes)."""
    shutil.copytree(tmp / "_previous", tmp / "cut")
    path = tmp / "cut" / "results.nc"
    path.write_bytes(path.read_bytes()[:100_000])


def a_file(here: Path, tmp: Path):
    (tmp / "file").write_text("not a folder")


def no_uncertainty(here: Path, tmp: Path):
    yaml_edit(f"{STUDY}/base.yaml", lambda b: b.pop("uncertainty"))(here, tmp)
    yaml_edit(f"{STUDY}/negative.yaml", lambda b: b.pop("uncertainty", None))(here, tmp)


@dataclass
class Bad:
    id: str
    args: tuple[str, ...]
    fragments: tuple[str, ...]
    edit: object = None
    marks: tuple = field(default=())

    def param(self):
        return pytest.param(self, id=self.id, marks=self.marks)


def run(*args):
    return ("run", "--scenario", "positive", "--out", "{out}", *args)


def run_into(root: Path, out: Path, *options: str):
    """The good run of :func:`run` into ``out``, with group ``options`` (e.g. --debug) first."""
    return invoke(root, *options, *[a.replace("{out}", str(out)) for a in run()])


def sets(value: str):
    return run("--set", value)


CASES = [
    # --set: lifetimes, years, ranges, syntax (class: option)
    Bad("set-vehicle-shape-0", sets("fleet.lifetime.shape=0"), ("--set fleet.lifetime.shape", "> 0, got 0")),
    Bad("set-vehicle-mean-0", sets("fleet.lifetime.mean=0"), ("--set fleet.lifetime.mean", "> 0")),
    Bad("set-vehicle-mean-negative", sets("fleet.lifetime.mean=-5"), ("--set fleet.lifetime.mean", "got -5")),
    Bad("set-battery-scale-0", sets("batteries.lifetime.scale=0"), ("--set batteries.lifetime.scale", "> 0")),
    Bad("set-battery-shape-negative", sets("batteries.lifetime.shape=-1"), ("--set batteries.lifetime.shape", "> 0")),
    Bad("set-second-use-sd-0", sets("end_of_life.second_use_lifetime.sd=0"), ("--set end_of_life.second_use_lifetime.sd", "> 0")),
    Bad("set-second-use-mean-0", sets("end_of_life.second_use_lifetime.mean=0"), ("--set end_of_life.second_use_lifetime.mean", "> 0")),
    Bad("set-end-before-history", sets("years.end=2020"), ("--set years.end", "history_end <= end")),
    Bad("set-years-reversed", sets("years.start=2030"), ("--set years.start", "start <= history_end")),
    Bad("set-start-before-data", sets("years.start=2010"), ("fleet_history.csv", "years.start", "2010")),
    Bad("set-history-past-data", sets("years.history_end=2030"), ("fleet_history.csv", "2030")),
    Bad("set-report-start-past-end", sets("years.report_start=2060"), ("--set years.report_start", "report_start")),
    Bad("set-unclosed-list", sets("end_of_life.collection_rate=[0.9"), ("--set end_of_life.collection_rate", "YAML")),
    Bad("set-huge-capacity-scale", sets("batteries.capacity_scale=1e308"), ("--set batteries.capacity_scale", "[0, 10]")),
    Bad("set-rate-above-one", sets("end_of_life.collection_rate=1.5"), ("--set end_of_life.collection_rate", "a finite number in [0, 1], got 1.5")),
    Bad("set-path-year-above-one", sets("end_of_life.collection_rate.2050=1.5"), ("--set end_of_life.collection_rate.2050", "[0, 1], got 1.5")),
    Bad("set-year-of-a-single-value", sets("end_of_life.second_use_collection_rate.2050=0.5"), ("--set end_of_life.second_use_collection_rate.2050", "single value")),
    Bad("set-misspelt", sets("fleet.pasenger_share=0.9"), ("--set fleet.pasenger_share", "no such setting")),
    Bad("set-share-two", sets("fleet.passenger_share=2"), ("--set fleet.passenger_share", "[0, 1]")),
    Bad("set-tonnes-for-a-share", sets("end_of_life.collection_rate=3 t"), ("--set end_of_life.collection_rate", "convertible to 1")),
    Bad("set-infinite-mileage", sets("carbon.annual_mileage=.inf"), ("--set carbon.annual_mileage", "finite")),
    Bad("set-negative-mileage", sets("carbon.annual_mileage=-1"), ("--set carbon.annual_mileage", ">= 0")),
    Bad("set-nan-share", sets("fleet.bev_share_of_sales=.nan"), ("--set fleet.bev_share_of_sales", "finite")),
    Bad("set-without-equals", sets("fleet.passenger_share"), ("--set fleet.passenger_share", "KEY=VALUE")),
    Bad("set-empty-key", sets("=3"), ("--set =3", "KEY=VALUE")),
    Bad("set-inside-a-value", sets("fleet.lifetime.shape.x=1"), ("--set fleet.lifetime.shape.x", "single value")),
    Bad("set-unknown-chemistry-path", sets("batteries.chemistry_path=nope"), ("chemistry_share.csv", "'nope'")),
    Bad("set-unknown-process", sets("end_of_life.recycling_process={2020: nope}"), ("--set end_of_life.recycling_process", "nope")),
    Bad("set-unknown-grid-path", sets("carbon.grid_paths=[nope]"), ("--set carbon.grid_paths", "nope")),
    Bad("set-missing-history-file", sets("regions.460000.history_file=inputs/nope.csv"), ("--set regions.460000.history_file", "inputs/nope.csv")),
    Bad("set-unknown-region", sets("case.only_regions=[1]"), ("--set case.only_regions", "[1]")),
    Bad("set-negative-age", sets("batteries.replacement_max_vehicle_age=-3"), ("--set batteries.replacement_max_vehicle_age", ">= 0")),
    Bad("set-zero-saturation", sets("fleet.cars_per_1000.saturation=0"), ("--set fleet.cars_per_1000.saturation", "> 0")),
    Bad("set-bool-for-a-number", sets("fleet.passenger_share=yes"), ("--set fleet.passenger_share",)),
    Bad("set-bad-distribution", run("--samples", "2", "--set", "uncertainty.battery_lifetime_scale.low=2"), ("--set uncertainty.battery_lifetime_scale.low", "low must be below high")),
    Bad("set-unknown-uncertain-parameter", run("--samples", "2", "--set", "uncertainty.nope={distribution: uniform, low: 0.9, high: 1.1}"), ("--set uncertainty.nope", "parameters")),
    # run options
    Bad("run-unknown-scenario", ("run", "--scenario", "nope", "--out", "{out}"), ("base.yaml", "case.scenarios", "'nope'")),
    Bad("run-unknown-case", ("run", "--case", "nope", "--out", "{out}"), ("case", "hainan-study")),
    Bad("run-zero-samples", run("--samples", "0"), ("--samples",)),
    Bad("run-zero-chunk", run("--samples", "2", "--chunk", "0"), ("--chunk",)),
    Bad("run-unknown-sampling", run("--samples", "2", "--sampling", "grid"), ("--sampling",)),
    Bad("run-unknown-option", run("--colour"), ("--colour",)),
    Bad("run-dead-scheduler", run("--samples", "2", "--scheduler", "tcp://127.0.0.1:9"), ("--scheduler", "127.0.0.1:9", "within 5 s")),
    Bad("run-missing-boundaries", run("--boundaries", "{tmp}/nope.geojson"), ("nope.geojson",)),
    Bad("run-out-under-a-file", ("run", "--scenario", "positive", "--out", "{tmp}/file/out"), ("file", "not a directory"), a_file),
    Bad("run-out-is-a-file", ("run", "--scenario", "positive", "--out", "{tmp}/file"), ("--out", "file"), a_file),
    # scenario files (class: YAML)
    Bad("base-malformed", run(), ("base.yaml", "valid YAML"), text(f"{STUDY}/base.yaml", "fleet: [unclosed\n")),
    Bad("scenario-malformed", run(), ("positive.yaml", "valid YAML"), text(f"{STUDY}/positive.yaml", "fleet: {a: 1\n")),
    Bad("base-share-out-of-range", run(), ("base.yaml", "fleet.passenger_share", "[0, 1], got 1.5"), yaml_edit(f"{STUDY}/base.yaml", lambda b: b["fleet"].update(passenger_share=1.5))),
    Bad("base-missing-field", run(), ("base.yaml", "fleet.passenger_share", "required"), yaml_edit(f"{STUDY}/base.yaml", lambda b: b["fleet"].pop("passenger_share"))),
    Bad("scenario-unknown-field", run(), ("positive.yaml", "batteries.capacity_scal", "no such setting"), yaml_edit(f"{STUDY}/positive.yaml", lambda b: b["batteries"].update(capacity_scal=1.1))),
    Bad("scenario-rate-path-above-one", run(), ("positive.yaml", "end_of_life.collection_rate.2050", "[0, 1], got 1.2"), yaml_edit(f"{STUDY}/positive.yaml", lambda b: b["end_of_life"]["collection_rate"].update({2050: 1.2}))),
    Bad("base-extends-itself", run(), ("base.yaml", "extends", "loop"), yaml_edit(f"{STUDY}/base.yaml", lambda b: b.update(extends="base.yaml"))),
    Bad("base-not-a-mapping", run(), ("base.yaml", "mapping"), text(f"{STUDY}/base.yaml", "- a\n- b\n")),
    Bad("scenario-huge-capacity-scale", run(), ("positive.yaml", "batteries.capacity_scale", "[0, 10]"), yaml_edit(f"{STUDY}/positive.yaml", lambda b: b["batteries"].update(capacity_scale=1e308))),
    Bad("base-years-reversed", run(), ("base.yaml", "years", "start <= history_end"), yaml_edit(f"{STUDY}/base.yaml", lambda b: b.update(years={"start": 2050, "end": 2015}))),
    Bad("base-zero-lifetime-by-chemistry", run(), ("base.yaml", "batteries.lifetime.scale", "> 0"), yaml_edit(f"{STUDY}/base.yaml", lambda b: b["batteries"]["lifetime"].update(scale={"LFP": 0.0, "default": 9.0}))),
    Bad("scenario-file-missing", run(), ("positive.yaml", "does not exist"), remove(f"{STUDY}/positive.yaml")),
    Bad("base-not-utf8", run(), ("base.yaml",), text(f"{STUDY}/base.yaml", b"\xff\xfe\x00bad")),
    # input tables (class: CSV)
    Bad("csv-negative-intensity", run(), ("metal_intensity.csv", "value", "-0.1"), csv_edit("inputs/metal_intensity.csv", cell(0, "-0.1"))),
    Bad("csv-infinite-intensity", run(), ("metal_intensity.csv", "finite"), csv_edit("inputs/metal_intensity.csv", cell(0, "inf"))),
    Bad("csv-negative-capacity", run(), ("battery_capacity.csv", "-50"), csv_edit("inputs/battery_capacity.csv", cell(3, "-50"))),
    Bad("csv-negative-registrations", run(), ("fleet_history.csv", "-500"), csv_edit("inputs/hainan/fleet_history.csv", cell(3, "-500"))),
    Bad("csv-negative-population", run(), ("population.csv", "-5"), csv_edit("inputs/hainan/population.csv", cell(1, "-5"))),
    Bad("csv-negative-grid-factor", run(), ("grid_factor.csv", ">= 0"), csv_edit("inputs/grid_factor.csv", cell(2, "-1"))),
    Bad("csv-word-for-a-number", run(), ("metal_intensity.csv", "'lots'"), csv_edit("inputs/metal_intensity.csv", cell(3, "lots"))),
    Bad("csv-missing-column", run(), ("battery_capacity.csv", "'unit'"), csv_edit("inputs/battery_capacity.csv", lambda df: df.drop(columns="unit"))),
    Bad("csv-tonnes-for-a-share", run(), ("chemistry_share.csv", "unit", "'1'"), csv_edit("inputs/chemistry_share.csv", lambda df: df.assign(unit="t"))),
    Bad("csv-unknown-unit", run(), ("grid_factor.csv", "unit", "furlong"), csv_edit("inputs/grid_factor.csv", cell(0, "furlong/kWh", "unit"))),
    Bad("csv-shares-not-one", run(), ("chemistry_share.csv", "summing to 1"), csv_edit("inputs/chemistry_share.csv", cell(0, "0.99"))),
    Bad("csv-duplicate-row", run(), ("metal_intensity.csv", "repeated"), csv_edit("inputs/metal_intensity.csv", lambda df: pd.concat([df, df.iloc[[0]]]))),
    Bad("csv-gap-in-years", run(), ("fleet_history.csv", "2020"), csv_edit("inputs/hainan/fleet_history.csv", lambda df: df[~((df["variable"] == "nev_registrations") & (df["year"] == "2020"))])),
    Bad("csv-bad-grade", run(), ("recovery_efficiency.csv", "grade", "'E'"), csv_edit("inputs/recovery_efficiency.csv", cell(0, "E", "grade"))),
    Bad("csv-empty-file", run(), ("carbon.csv", "readable CSV"), text("inputs/carbon.csv", "")),
    Bad("csv-not-utf8", run(), ("grid_factor.csv",), text("inputs/grid_factor.csv", b"path,year\n\xff\xfe,\x00\n")),
    Bad("csv-missing-carbon-row", run(), ("carbon.csv", "annual_mileage"), csv_edit("inputs/carbon.csv", lambda df: df[df["parameter"] != "annual_mileage"])),
    Bad("csv-file-missing", run(), ("recovery_efficiency.csv", "does not exist"), remove("inputs/recovery_efficiency.csv")),
    Bad("csv-year-not-a-year", run(), ("battery_capacity.csv", "year", "'soon'"), csv_edit("inputs/battery_capacity.csv", cell(0, "soon", "year"))),
    Bad("csv-efficiency-above-one", run(), ("recovery_efficiency.csv",), csv_edit("inputs/recovery_efficiency.csv", cell(0, "1.9"))),
    Bad("csv-share-above-one", run(), ("carbon.csv",), csv_edit("inputs/carbon.csv", lambda df: cell(int(df.index[df["parameter"] == "phev_electric_share"][0]), "1.5")(df))),
    Bad("environment-bad-root", run(), ("MFA_ROOT",), lambda here, tmp: shutil.rmtree(here / "inputs")),
    # report
    Bad("report-truncated-results", ("report", "--out", "{tmp}/cut"), ("results.nc", "cannot be read"), truncated_results),
    Bad("report-empty-folder", ("report", "--out", "{tmp}/empty"), ("results.nc", "mfa run")),
    Bad("report-unknown-scenario", ("report", "--out", "{out}", "--scenario", "nope"), ("results.nc", "'nope'")),
    Bad("report-year-outside", ("report", "--out", "{out}", "--year", "1990"), ("results.nc", "1990")),
    Bad("report-year-not-a-number", ("report", "--out", "{out}", "--year", "soon"), ("--year",)),
    # compare
    Bad("compare-same-case", ("compare", "hainan-study", "hainan-study", "--out", "{out}"), ("CASE_B", "hainan-study")),
    Bad("compare-unknown-case", ("compare", "hainan-study", "nope", "--out", "{out}"), ("case", "nope")),
    Bad("compare-unknown-scenario", ("compare", "hainan-study", "hainan-outlook", "--scenario", "nope", "--out", "{out}"), ("case.scenarios", "'nope'")),
    Bad("compare-bad-scenario-file", ("compare", "hainan-study", "hainan-outlook", "--out", "{out}"), ("positive.yaml", "valid YAML"), text(f"{STUDY}/positive.yaml", "fleet: [\n")),
    # sensitivity
    Bad("sensitivity-not-a-power-of-two", ("sensitivity", "--samples", "100", "--out", "{out}"), ("--samples", "power of 2", "64 or 128")),
    Bad("sensitivity-unknown-output", ("sensitivity", "--samples", "2", "--output", "nope", "--out", "{out}"), ("--output", "nope")),
    Bad("sensitivity-one-sample", ("sensitivity", "--samples", "1", "--out", "{out}"), ("--samples",)),
    Bad("sensitivity-bad-set", ("sensitivity", "--samples", "2", "--set", "fleet.lifetime.shape=0", "--out", "{out}"), ("--set fleet.lifetime.shape",)),
    Bad("sensitivity-years-too-short", ("sensitivity", "--samples", "2", "--set", "years.end=2045", "--out", "{out}"), ("--set years.end", "2050 or later")),
    Bad("sensitivity-nothing-uncertain", ("sensitivity", "--samples", "2", "--out", "{out}"), ("uncertainty",), no_uncertainty),
]


@pytest.mark.parametrize("bad", [c.param() for c in CASES])
def test_bad_input(bad: Bad, root, previous, tmp_path):
    """Exit code 2, one line naming the file or option, no traceback, the previous run's
    outputs byte-identical."""
    here = tmp_path / "root"
    shutil.copytree(root, here)
    shutil.copytree(previous, tmp_path / "_previous")  # for edits that need a run folder
    if bad.edit:
        bad.edit(here, tmp_path)
    before = snapshot(previous)
    result = invoke(here, *[a.replace("{out}", str(previous)).replace("{tmp}", str(tmp_path)) for a in bad.args])
    assert_one_line_error(result.output, result.exit_code, *bad.fragments)
    assert snapshot(previous) == before


def test_at_least_sixty_bad_inputs():
    assert len(CASES) >= 60


def test_dead_scheduler_gives_up_within_ten_seconds(root, tmp_path, monkeypatch):
    """The connect timeout given to dask is at most 10 s (a timeout, not a wall clock, so a
    busy machine cannot fail it)."""
    import dask.distributed

    timeouts = []
    real = dask.distributed.Client

    def client(*args, timeout=None, **kwargs):
        timeouts.append(timeout)
        return real(*args, timeout=timeout, **kwargs)

    monkeypatch.setattr(dask.distributed, "Client", client)
    result = invoke(root, "run", "--scenario", "positive", "--samples", "2", "--scheduler", "tcp://127.0.0.1:9", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert len(timeouts) == 1 and 0 < float(str(timeouts[0]).removesuffix("s")) <= 10, timeouts


def test_a_bug_is_exit_1_with_the_traceback_in_a_log(root, previous, monkeypatch):
    """A bug of ours: one "please report" line naming a log file with the traceback;
    --debug prints the traceback instead. The outputs stay as they were."""
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("mfa.model.run", broken)
    before = snapshot(previous)
    result = run_into(root, previous)
    line = assert_one_line_error(result.output, result.exit_code, "internal error", "ZeroDivisionError", "please report", expected_code=1)
    log = Path(line.rsplit("the traceback is in ", 1)[1])
    assert "Traceback" in log.read_text() and "a bug" in log.read_text()
    debug = run_into(root, previous, "--debug")
    assert debug.exit_code == 1 and "Traceback" in debug.output
    assert snapshot(previous) == before


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("mfa ")


def test_a_year_of_a_path_is_set_not_the_path_replaced(root, monkeypatch):
    monkeypatch.setenv("MFA_ROOT", str(root))
    scenario = config.load_scenarios("hainan-study", ["positive"], ["end_of_life.collection_rate.2050=0.99"], use_calibrated=False)["positive"]
    assert scenario.end_of_life.collection_rate == {2020: 0.25, 2025: 0.25, 2030: 0.9, 2050: 0.99}


def test_an_end_year_past_the_data_warns_and_calibrates_on_the_study_years(root, previous, tmp_path, caplog):
    out = tmp_path / "out"
    result = invoke(root, "run", "--scenario", "positive", "--set", "years.end=2060", "--out", out)
    assert result.exit_code == 0, result.output
    assert [r.levelname for r in caplog.records if "past the input data" in r.getMessage()] == ["WARNING"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "calibration.csv"), pd.read_csv(previous / "calibration.csv"), rtol=1e-9)


def test_the_installed_copy_is_found_from_any_directory(root, tmp_path, monkeypatch):
    """Outside a checkout and without MFA_ROOT, the cases installed with the package."""
    share = tmp_path / "prefix" / "share" / "mfa"
    shutil.copytree(root, share)
    monkeypatch.delenv("MFA_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "__file__", str(tmp_path / "site-packages" / "mfa" / "config.py"))
    monkeypatch.setattr(config, "_installed_data", lambda: [share])
    assert config.project_root() == share.resolve()
    monkeypatch.setenv("MFA_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(config.InputError, match="MFA_ROOT"):
        config.project_root()


# --- the run folder ----------------------------------------------------------------------


def test_a_run_replaces_its_files_keeps_other_commands_and_drops_derived_ones(tmp_path):
    out = tmp_path / "out"
    (out / "compare_a_vs_b").mkdir(parents=True)
    (out / "compare_a_vs_b" / "comparison.csv").write_text("kept")
    (out / "results.nc").write_text("old")
    (out / "report.html").write_text("describes the old results")
    with rundir.replacing(out, derived=("report.html",)) as staging:
        (staging / "results.nc").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == [rundir.MARK, "compare_a_vs_b", "results.nc"]
    assert (out / "results.nc").read_text() == "new" and (out / "compare_a_vs_b" / "comparison.csv").read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failed_block_leaves_the_old_set(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.nc").write_text("old")
    with pytest.raises(RuntimeError), rundir.replacing(out) as staging:
        (staging / "results.nc").write_text("half")
        raise RuntimeError("late check failed")
    assert (out / "results.nc").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_run_killed_between_the_renames_of_its_swap_gets_the_old_set_back(tmp_path):
    out = tmp_path / "out"
    old = tmp_path / ".out.old-12345"
    old.mkdir()
    (old / "results.nc").write_text("old")
    (tmp_path / ".out.staging-12345").mkdir()
    with pytest.raises(RuntimeError), rundir.replacing(out):
        assert (out / "results.nc").read_text() == "old"
        raise RuntimeError
    assert (out / "results.nc").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_the_working_directory_and_foreign_folders_are_never_swapped(root, tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "notes").mkdir(parents=True)
    (work / "notes" / "mine.txt").write_text("not outputs")
    monkeypatch.chdir(work)
    for out, words in ((".", "working directory"), ("..", "working directory"), ("notes", "holds other files")):
        result = invoke(root, "run", "--scenario", "positive", "--out", out)
        assert_one_line_error(result.output, result.exit_code, "--out", words)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["work", "work/notes", "work/notes/mine.txt"]


def test_a_second_writer_is_refused_with_the_holders_pid(root, previous):
    lock = previous.parent / f".{previous.name}.lock"
    before = snapshot(previous)
    with rundir._flock(lock) as fd:
        os.write(fd, b"4242\n")
        result = run_into(root, previous)
    assert_one_line_error(result.output, result.exit_code, "--out", "process 4242 is writing it")
    assert snapshot(previous) == before


# --- faults in real processes ------------------------------------------------------------


def start(root: Path, tmpdir: Path, *args) -> subprocess.Popen:
    env = {**os.environ, "MFA_ROOT": str(root), "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "mfa.cli", *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background test run may ignore SIGINT
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended before the fault: {process.communicate()}"
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.02)


@pytest.fixture
def out_copy(previous, tmp_path) -> Path:
    """A copy of the previous run's folder, for a test that runs into it from another process."""
    out = tmp_path / "runs" / "out"
    shutil.copytree(previous, out)
    return out


def staged(out: Path, name: str = "results.nc"):
    return lambda: any((p / name).exists() for p in out.parent.glob(f".{out.name}.staging-*"))


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_writing_leaves_the_old_set(root, out_copy, private_tmpdir, signum, code):
    before = snapshot(out_copy)
    process = start(root, private_tmpdir, "run", "--scenario", "positive", "--out", out_copy)
    wait_for(staged(out_copy), process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert_one_line_error(stderr, process.returncode, "stopped by", "as it was", expected_code=code)
    assert snapshot(out_copy) == before


def test_sigkill_during_a_monte_carlo_run_leaves_the_old_set_and_the_next_run_cleans_up(root, out_copy, private_tmpdir):
    before = snapshot(out_copy)
    process = start(root, private_tmpdir, "run", "--scenario", "positive", "--samples", "1024", "--chunk", "8", "--out", out_copy)
    wait_for(lambda: any(out_copy.parent.glob(".out.staging-*")), process)
    time.sleep(3)  # into the Monte-Carlo samples
    process.kill()
    process.wait(timeout=30)
    assert {k: v for k, v in snapshot(out_copy).items() if k != "<beside>"} == {k: v for k, v in before.items() if k != "<beside>"}
    assert list(out_copy.parent.glob(".out.staging-*"))
    again = run_into(root, out_copy)
    assert again.exit_code == 0, again.output
    # the staging folder is gone and the samples left nothing on disk (they come back to the client)
    assert snapshot(out_copy)["<beside>"] == "" and not list(private_tmpdir.glob("mfa-samples-*"))


def test_two_concurrent_runs_into_one_folder(root, out_copy, private_tmpdir):
    """One writes; the other is refused with one line (or, if it came after, writes too):
    never a mix, and the winner's terminal stays clean."""
    processes = [start(root, private_tmpdir, "run", "--scenario", scenario, "--out", out_copy) for scenario in ("positive", "negative")]
    results = [(p.wait(timeout=300), *p.communicate()) for p in processes]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for code, _, stderr in results:
        if code == 2:
            assert_one_line_error(stderr, code, "--out", "is writing it")
        else:
            assert stderr.strip() == "", stderr
    summary = pd.read_csv(out_copy / "summary.csv")
    assert summary["scenario"].nunique() == 1
    import xarray as xr

    with xr.open_dataset(out_copy / "results.nc") as ds:
        assert list(ds["scenario"].values) == list(summary["scenario"].unique())


@contextlib.contextmanager
def small_file_system(path: Path, size: str):
    """A tmpfs of ``size`` at ``path`` (root only; skipped where mounting is not allowed)."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full or read-only file system needs a tmpfs mount, which needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs in this sandbox: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def small_previous(previous: Path, out: Path) -> None:
    """The previous run's small files (the whole set does not fit the small disk)."""
    out.mkdir()
    for name in ("results.nc", "summary.csv", "calibration.csv"):
        shutil.copy2(previous / name, out / name)


def test_a_full_disk_says_so_and_leaves_the_old_set(root, previous, tmp_path):
    with small_file_system(tmp_path / "disk", "1m") as disk:
        out = disk / "out"
        small_previous(previous, out)
        before = snapshot(out)
        result = run_into(root, out)
        assert_one_line_error(result.output, result.exit_code, str(out), "disk full")
        assert snapshot(out) == before


def test_a_read_only_folder_says_permission_denied(root, previous, tmp_path):
    with small_file_system(tmp_path / "disk", "2m") as disk:
        out = disk / "out"
        small_previous(previous, out)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        before = snapshot(out)
        result = run_into(root, out)
        assert_one_line_error(result.output, result.exit_code, str(disk), "permission denied")
        assert snapshot(out) == before


# --- random mutations ----------------------------------------------------------------------

MUTATED = [
    f"{STUDY}/base.yaml", f"{STUDY}/positive.yaml",
    "inputs/battery_capacity.csv", "inputs/chemistry_share.csv", "inputs/metal_intensity.csv", "inputs/recovery_efficiency.csv",
    "inputs/carbon.csv", "inputs/grid_factor.csv", "inputs/hainan/fleet_history.csv", "inputs/hainan/population.csv",
]
ODD_VALUES = [0, -1, -1e-9, 1e-12, 0.5, 1.5, 2, 1e6, 1e308, float("nan"), float("inf"), "", "abc", "1e1", "3 t", True, None, [], {}]


def _leaves(data, path=()):
    """(path, value) of every value in a YAML document that is not a mapping."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, key))
    elif path:
        yield path, data


def mutate(path: Path, pick: int, value, drop: bool) -> str:
    """One mutation of a YAML setting or a CSV cell: ``value`` put in, or the entry dropped."""
    if path.suffix == ".yaml":
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        where, _ = list(_leaves(data))[pick % len(list(_leaves(data)))]
        node = data
        for key in where[:-1]:
            node = node[key]
        if drop:
            del node[where[-1]]
        else:
            node[where[-1]] = value
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return f"{'.'.join(map(str, where))} {'dropped' if drop else f'= {value!r}'}"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    row, column = pick % len(df), df.columns[(pick // len(df)) % len(df.columns)]
    if drop:
        df = df.drop(index=row)
    else:
        df.loc[row, column] = str(value)
    df.to_csv(path, index=False)
    return f"row {row} {'dropped' if drop else f'{column} = {value!r}'}"


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
@given(
    relpath=st.sampled_from(MUTATED),
    pick=st.integers(0, 10**6),
    value=st.one_of(st.sampled_from(ODD_VALUES), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9)),
    drop=st.booleans(),
)
def test_random_mutations_never_crash_nor_give_non_finite_results(root, previous, tmp_path_factory, relpath, pick, value, drop):
    """A mutated scenario or input file stops with exit 2, or runs (exit 0) to finite
    results (NaN only where the unmutated run has it: years before a projection starts):
    never exit 1."""
    here = tmp_path_factory.mktemp("mutated")
    shutil.copytree(root, here, dirs_exist_ok=True)
    what = mutate(here / relpath, pick, value, drop)
    out = here / "out"
    result = invoke(here, "run", "--scenario", "positive", "--out", out)
    assert result.exit_code in (0, 2), f"{relpath}: {what}: {result.output}"
    if result.exit_code == 2:
        assert_one_line_error(result.output, result.exit_code)
    else:
        assert not_finite(out / "results.nc", allowed_nan=not_finite(previous / "results.nc")) == set(), f"{relpath}: {what}"


def not_finite(path: Path, allowed_nan: set[str] = frozenset()) -> set[str]:
    """The numeric variables of a NetCDF file with an infinite value, or a NaN unless allowed."""
    import numpy as np
    import xarray as xr

    with xr.open_dataset(path) as ds:
        return {
            name for name, da in ds.data_vars.items() if np.issubdtype(da.dtype, np.number)
            and (np.isinf(da.values).any() or (name not in allowed_nan and np.isnan(da.values).any()))
        }
