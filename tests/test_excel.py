"""results.xlsx: every sheet a planner uses, opened back with openpyxl and LibreOffice,
numbers equal to the CSVs, names in the run's language."""

from __future__ import annotations

import csv
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import require_tool
from mfa.cli import main
from mfa.io import excel
from mfa.report import data, feedstock

SCENARIO = "conservative"  # one scenario keeps the run short; the tables are the same with three


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder of the default case in Chinese, with the feedstock tables `mfa report` writes."""
    out = tmp_path_factory.mktemp("xlsx") / "out"
    result = CliRunner().invoke(main, ["run", "--scenario", SCENARIO, "--lang", "zh", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "results.xlsx").exists()
    zh = load_workbook(out / "results.xlsx", read_only=True)
    # before the report: the feedstock sheets are listed as not written, the others are there
    assert zh.sheetnames == ["说明", "汇总", "校准", "假设与来源"], zh.sheetnames
    feedstock.write_tables(data.open_results(out / "results.nc"), out, 2023)
    return out


def _sheets(path):
    wb = load_workbook(path)  # not read-only: frozen panes and filters are read only in the full mode
    return {ws.title: ws for ws in wb.worksheets}


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def test_workbook_matches_csvs(run_dir):
    path = excel.write_workbook(run_dir, "en")
    sheets = _sheets(path)
    cat = excel.catalogue("en")
    assert list(sheets) == [cat["sheets"][k] for k in ("about", *excel.SHEETS)]
    for title, ws in sheets.items():
        assert ws.max_row >= 2, f"{title} is empty"
        assert ws.freeze_panes == "A2", title
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}", title
        assert all(ws.column_dimensions[c.column_letter].width >= excel.WIDTH[0] for c in ws[1])
    # every numeric column of a table with one unit names it; the others keep a unit column
    heads = {title: [c.value for c in ws[1]] for title, ws in sheets.items()}
    assert "recovered [t/yr]" in heads["Secondary supply"] and "demand [t/yr]" in heads["Secondary supply"]
    assert {"battery capacity [kWh/yr]", "pack mass [t/yr]", "Li [t/yr]"} <= set(heads["Feedstock"])
    assert "unit" in heads["Summary"] and "unit" in heads["Calibration"] and "unit" in heads["Assumptions and sources"]
    ws = sheets["Secondary supply"]
    share = heads["Secondary supply"].index("recovered / demand [%]") + 1
    assert ws.cell(2, share).number_format == "0.0%"
    assert ws.cell(2, heads["Secondary supply"].index("year") + 1).number_format == "0"

    # values: every CSV cell, in order (feedstock: the rows of chemistry "all", one column per quantity)
    for key, (name, _) in excel.SHEETS.items():
        rows = list(sheets[cat["sheets"][key]].iter_rows(min_row=2, values_only=True))
        frame = pd.read_csv(run_dir / name, dtype=str, keep_default_na=False)
        if key == "feedstock":
            frame = frame[frame["chemistry"] == "all"]
            col = {h: i for i, h in enumerate(heads["Feedstock"])}
            assert len(rows) * frame["quantity"].nunique() == len(frame)
            index = {(r[col["scenario"]], r[col["region"]], str(r[col["year"]]), r[col["stream"]]): r for r in rows}
            for _, r in frame.iterrows():
                label = "battery capacity" if r["quantity"] == "battery_capacity" else "pack mass" if r["quantity"] == "pack_mass" else "black mass" if r["quantity"] == "black_mass" else r["quantity"]
                cell = index[(r["scenario"], r["region"], r["year"], r["stream"])][col[f"{label} [{excel.readable_unit(r['unit'])}]"]]
                assert cell == pytest.approx(float(r["value"]), rel=1e-9, abs=1e-12)
            continue
        assert len(rows) == len(frame), key
        unit_dropped = "unit" in frame.columns and "unit" not in [h.split(" [")[0] for h in heads[cat["sheets"][key]]]
        columns = [c for c in frame.columns if not (unit_dropped and c == "unit")]
        for row, (_, expected) in zip(rows, frame.iterrows()):
            for cell, column in zip(row, columns):
                text = expected[column]
                if column in ("unit", "cumulative_unit"):
                    assert cell == (excel.readable_unit(text) if text else None), (key, column)
                elif _number(text) is not None and isinstance(cell, (int, float)):
                    assert cell == pytest.approx(float(text), rel=1e-9, abs=1e-12), (key, column, text, cell)
                else:
                    assert (cell if cell is not None else "") == text, (key, column)


def test_chinese_names(run_dir):
    path = excel.write_workbook(run_dir, "zh")
    sheets = _sheets(path)
    assert list(sheets) == ["说明", "汇总", "校准", "原料", "再生供应", "再生供应目标", "假设与来源"]
    for title, ws in sheets.items():
        for cell in ws[1]:  # every header Chinese, apart from element symbols and units in brackets
            name = re.sub(r"\[.*?\]", "", cell.value).strip()
            assert re.search(r"[\u4e00-\u9fff]", name) or name in ("Li", "Ni", "Co", "Mn", "Fe", "Al", "Cu", "graphite"), (title, cell.value)
    assert "再生量 [t/yr]" in [c.value for c in sheets["再生供应"][1]]
    assert "2023–2050 年累计" in [c.value for c in sheets["汇总"][1]]


def test_catalogues_agree():
    """Both languages name the same sheets and columns (a key missing in one would be a
    column left in English, or a KeyError)."""
    keys = lambda d: {(k, *sub) for k, v in d.items() for sub in (keys(v) if isinstance(v, dict) else [()])}  # noqa: E731
    en, zh = (yaml.safe_load((excel.LOCALE / f"{lang}.yaml").read_text(encoding="utf-8")) for lang in ("en", "zh"))
    assert keys(en) == keys(zh)
    for lang in excel.LANGUAGES:
        names = excel.catalogue(lang)["sheets"].values()
        assert all(len(n) <= 31 and not re.search(r"[\[\]:*?/\\]", n) for n in names), names
        assert len(set(names)) == len(names)


def test_readable_units():
    assert excel.readable_unit("t yr-1") == "t/yr"
    assert excel.readable_unit("kW h yr-1") == "kWh/yr"
    assert excel.readable_unit("kW h") == "kWh"
    assert excel.readable_unit("yr-1") == "1/yr"
    assert excel.readable_unit("1") == "1"
    assert excel.readable_unit("kg m-2") == "kg/m^2"
    assert excel.readable_unit("person") == "person"


def test_report_command_refreshes_workbook(run_dir, tmp_path, monkeypatch):
    """`mfa report --lang zh` passes the language on and rewrites results.xlsx with the
    feedstock sheets (write_report stands in for the report, whose language is the report
    branch's work)."""
    import shutil

    import mfa.report.html as html

    out = tmp_path / "out"
    shutil.copytree(run_dir, out)
    for name in ("feedstock.csv", "feedstock_cumulative.csv", "secondary_supply.csv", "secondary_supply_targets.csv"):
        (out / name).unlink()
    excel.write_workbook(out, "en")
    seen = {}

    def fake_report(out_dir, sankey_year=2040, scenario=None, lang="en"):
        seen["lang"] = lang
        feedstock.write_tables(data.open_results(out_dir / "results.nc"), out_dir, 2023)
        (out_dir / "report.html").write_text("<html></html>")
        return out_dir / "report.html"

    monkeypatch.setattr(html, "write_report", fake_report)
    result = CliRunner().invoke(main, ["report", "--out", str(out), "--lang", "zh"])
    assert result.exit_code == 0, result.output
    assert seen["lang"] == "zh"
    assert "原料" in load_workbook(out / "results.xlsx", read_only=True).sheetnames


def test_bad_language_one_line(tmp_path):
    result = CliRunner().invoke(main, ["run", "--lang", "fr", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "--lang" in result.output


def test_libreoffice_opens_every_sheet(run_dir, tmp_path):
    soffice = require_tool("soffice")
    path = excel.write_workbook(run_dir, "zh")
    # 44,34,76: comma, double quote, UTF-8; the 9th token false: raw values, not as shown;
    # the 12th, -1: one CSV per sheet (LibreOffice >= 7.2)
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless", "--convert-to",
                    "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
                    "--outdir", str(tmp_path), str(path)], check=True, capture_output=True, timeout=300)
    wb = load_workbook(path, read_only=True)
    for title in wb.sheetnames:
        exported = tmp_path / f"results-{title}.csv"
        assert exported.exists(), sorted(p.name for p in tmp_path.iterdir())
        with exported.open(encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert len(rows) >= 2 and rows[0][0], title
        assert len(rows) == wb[title].max_row, title
    rows = list(csv.reader((tmp_path / f"results-{wb.sheetnames[4]}.csv").open(encoding="utf-8")))
    assert rows[0][:2] == ["情景", "地区"]
    # LibreOffice reads the workbook's numbers (recovered, t/yr) as openpyxl wrote them
    col = rows[0].index("再生量 [t/yr]")
    values = [r[col] for r in wb[wb.sheetnames[4]].iter_rows(min_row=2, values_only=True)]
    assert np.allclose([float(r[col]) for r in rows[1:]], values, rtol=1e-9, atol=0)
