"""report.html: offline, every number traceable to results.nc, drawn in a real browser;
the feedstock and secondary-supply tables."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import cf_units
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner
from conftest import REPO, require_tool

from mfa.cli import main
from mfa.report import feedstock, fonts
from mfa.report.html import write_report

SANKEY_YEAR = 2040
RESOURCE_TAGS = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "embed": "src",
                 "video": "src", "audio": "src", "track": "src", "object": "data", "image": "href", "use": "href"}


# --------------------------------------------------------------------------- fixtures


SAVED_FIGURES: dict[str, dict] = {}
"""What every matplotlib figure of the default run showed when it was saved, by file name."""


def _record_savefig(original, into: dict):
    """``Figure.savefig`` that first notes the figure's labels, limits and lines ``into``."""

    def savefig(fig, fname, *args, **kwargs):
        axes = []
        for ax in fig.axes:
            lines = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
            axes.append({"labels": [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()], "ylim": ax.get_ylim(), "lines": lines})
        name = Path(str(fname)).name.lstrip(".").split(".png")[0] + ".png"  # atomic writes save to .NAME.png.<random>.part
        into[name] = {"axes": axes, "suptitle": fig._suptitle.get_text() if fig._suptitle else ""}
        return original(fig, fname, *args, **kwargs)

    return savefig


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run of the default case with its plots, plus its report (the test's outputs
    folder); every PNG the run and the report save is recorded in :data:`SAVED_FIGURES`."""
    from matplotlib.figure import Figure

    out = tmp_path_factory.mktemp("outputs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", _record_savefig(Figure.savefig, SAVED_FIGURES))
        result = CliRunner().invoke(main, ["run", "--plots", "--out", str(out)])
        assert result.exit_code == 0, result.output
        write_report(out, sankey_year=SANKEY_YEAR)
    return out


BOUNDARIES = REPO / "tests" / "fixtures" / "boundaries.geojson"


@pytest.fixture(scope="module")
def provinces_dir(tmp_path_factory):
    """A 31-province run (one scenario) with the synthetic boundaries, and its report."""
    out = tmp_path_factory.mktemp("provinces")
    result = CliRunner().invoke(main, ["run", "--case", "china-provinces", "--scenario", "conservative",
                                       "--boundaries", str(BOUNDARIES), "--report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def results(run_dir):
    with xr.open_dataset(run_dir / "results.nc") as ds:
        return ds.load()


@pytest.fixture(scope="module")
def page(run_dir):
    return parse(run_dir / "report.html")


QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95]
SPREAD = xr.DataArray([0.8, 0.9, 1.0, 1.1, 1.25], dims="quantile", coords={"quantile": QUANTILES})


def two_regions(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` plus region 110000 (Beijing), half of the first region; the names come
    from the packaged province table (the file's own name coordinates are dropped)."""
    ds = ds.drop_vars([c for c in ("name_zh", "name_pinyin", "name_en") if c in ds.coords])
    second = ds.map(lambda v: v * 0.5 if "region" in v.dims else v).assign_coords(region=[110000])
    for name in ds.data_vars:
        second[name].attrs = ds[name].attrs
    both = xr.concat([ds, second], dim="region", data_vars="minimal", coords="minimal", combine_attrs="override")
    both["region"] = both["region"].astype("int32")
    both.attrs = ds.attrs
    return both


@pytest.fixture(scope="module", params=["mc_variables", "quantile_on_every_variable"])
def synthetic_dir(request, run_dir, results, tmp_path_factory):
    """What a Monte-Carlo run writes, from the run's results scaled per quantile:

    - ``mc_variables``: two regions and ``<name>_quantile`` variables (quantile first), as
      ``mfa run --samples`` writes;
    - ``quantile_on_every_variable``: one region, a ``quantile`` dim on every variable.
    """
    out = tmp_path_factory.mktemp(request.param)
    for name in ("calibration.csv", "summary.csv"):
        shutil.copy(run_dir / name, out / name)
    if request.param == "mc_variables":
        ds = two_regions(results)
        summed = {"vehicle_stock": ("powertrain",), "battery_capacity_demand": ("powertrain", "chemistry"), "metal_demand": (),
                  "metal_recovered": (), "metal_in_use": (), "carbon_reduction": ()}
        for name, dims in summed.items():
            q = (ds[name].sum([d for d in dims if d in ds[name].dims]) * SPREAD).transpose("quantile", ...)
            q.attrs = {**ds[name].attrs, "long_name": f"{ds[name].attrs['long_name']}, quantiles over samples"}
            ds[f"{name}_quantile"] = q
        ds.attrs = {**results.attrs, "samples": 16, "sampling": "sobol", "seed": 0}
    else:
        ds = results.copy()
        for name in results.data_vars:
            if "year" in results[name].dims:
                ds[name] = (results[name] * SPREAD).transpose("scenario", "region", "year", ...)
                ds[name].attrs = results[name].attrs
        ds.attrs = results.attrs
    ds.to_netcdf(out / "results.nc")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_report(out, sankey_year=2035, scenario=str(ds["scenario"].values[0]))
    noisy = [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, (UserWarning, RuntimeWarning))]
    return request.param, out, ds, noisy


# --------------------------------------------------------------------------- parsing the page


class Page(HTMLParser):
    """Everything the tests need from report.html, with the stdlib parser."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.resources: list[tuple[str, str]] = []
        self.styles: list[str] = []
        self.numbers: list[dict] = []
        self.unprovenanced: list[dict] = []
        self.figures: list[dict] = []
        self._stack: list[dict] = []
        self._in_style = False
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag in RESOURCE_TAGS and a.get(RESOURCE_TAGS[tag]):
            self.resources.append((tag, a[RESOURCE_TAGS[tag]]))
        for key in ("href", "xlink:href") if tag == "link" else ():
            if a.get(key):
                self.resources.append((tag, a[key]))
        if "style" in a:
            self.styles.append(a["style"])
        if tag == "style":
            self._in_style = True
        if tag == "script" and "plotly-data" in a.get("class", ""):
            self._script = {"target": a.get("data-target"), "text": []}
        if tag in ("td", "b", "span", "div") and ("data-value" in a or "num" in a.get("class", "").split() or "data-first-year" in a):
            self._stack.append({"tag": tag, "attrs": a, "text": []})

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        if tag == "script" and self._script is not None:
            self.figures.append({"target": self._script["target"], "figure": json.loads("".join(self._script["text"]))})
            self._script = None
        if self._stack and self._stack[-1]["tag"] == tag:
            item = self._stack.pop()
            item["text"] = "".join(item["text"]).strip()
            self.numbers.append(item)

    def handle_data(self, text):
        if self._in_style:
            self.styles.append(text)
        if self._script is not None:
            self._script["text"].append(text)
        for item in self._stack:
            item["text"].append(text)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(Path(path).read_text(encoding="utf-8"))
    page.close()
    return page


# --------------------------------------------------------------------------- an independent evaluator


def _coord(da: xr.DataArray, dim: str, wanted: str):
    values = list(da[dim].values)
    if dim == "quantile":
        return values[int(np.argmin([abs(float(v) - float(wanted)) for v in values]))]
    return values[[str(v) for v in values].index(str(wanted))]


def expected_series(ds: xr.Dataset, sel: dict) -> xr.DataArray:
    """What the selection ``sel`` (data-* attributes, or a trace's meta) should show, by year."""

    def pick(var: str, unit: str) -> xr.DataArray:
        da = ds[var]
        da = da.sel(scenario=_coord(da, "scenario", sel["scenario"]))
        if "region" in da.dims:
            da = da.sum("region") if str(sel.get("region", "all")) == "all" else da.sel(region=_coord(da, "region", sel["region"]))
        for dim in ("element", "chemistry", "bound", "powertrain", "quantile"):
            if dim in da.dims and dim in sel:
                da = da.sel({dim: _coord(da, dim, sel[dim])})
        da = da.sum([d for d in da.dims if d != "year"])
        return da.copy(data=cf_units.Unit(ds[var].attrs["units"]).convert(da.values.astype(float), cf_units.Unit(unit)))

    agg = sel.get("agg", "value")
    if agg == "ratio":
        unit = ds[sel["var"]].attrs["units"]
        num, den = pick(sel["var"], unit), pick(sel["den"], unit)
        out = 100.0 * num / den.where(den != 0)
    else:
        unit = sel["unit"] + " yr-1" if agg == "sum" else sel["unit"]
        if agg == "sum" and sel["unit"] == "1":
            unit = "yr-1"
        out = pick(sel["var"], unit)
        if sel.get("minus"):
            out = out - pick(sel["minus"], unit)
    return out * float(sel.get("scale", 1.0))


def expected_value(ds: xr.Dataset, sel: dict) -> float:
    s = expected_series(ds, sel)
    if sel.get("agg") == "sum":
        return float(s.sel(year=slice(int(sel["year_from"]), int(sel["year_to"]))).sum())
    return float(s.sel(year=int(sel["year"])))


def selection_of(attrs: dict) -> dict:
    return {k[5:].replace("-", "_"): v for k, v in attrs.items() if k.startswith("data-") and k != "data-value"}


def shown_number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").strip())


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_)


def check_numbers(page: Page, ds: xr.Dataset, out_dir: Path) -> dict[str, int]:
    """Every formatted number of the page against its source; returns counts by kind."""
    counts = {"var": 0, "source": 0, "input": 0, "attr": 0, "balance": 0, "first_year": 0}
    csvs: dict[str, pd.DataFrame] = {}
    problems = []
    for item in page.numbers:
        a, text = item["attrs"], item["text"]
        if "data-first-year" in a:
            sel = selection_of(a)
            s = expected_series(ds, sel)
            threshold = 100 * float(a["data-threshold"])
            hits = [int(y) for y, v in zip(s["year"].values, s.values) if np.isfinite(v) and v >= threshold - 1e-10]
            want = str(hits[0]) if hits else ""
            if a["data-first-year"] != want or (want and text != want):
                problems.append(f"first year {sel}: page {a['data-first-year']!r}/{text!r}, expected {want!r}")
            counts["first_year"] += 1
            continue
        if "data-input" in a:
            source = REPO / a["data-input"]
            if source.suffix == ".csv":  # an input table: the row of the original file
                raw = pd.read_csv(source, dtype=str, keep_default_na=False).loc[int(a["data-row"]), a["data-column"]]
                if raw != text:
                    problems.append(f"{a['data-input']} row {a['data-row']}: page {text!r}, file {raw!r}")
            elif text and text not in source.read_text(encoding="utf-8"):  # a scenario setting, as written
                problems.append(f"{a['data-input']}: page {text!r} not in the file")
            counts["input"] += 1
            continue
        if "data-value" not in a:
            if "data-source" in a and text == "–":
                value = pd.read_csv(out_dir / a["data-source"]).loc[int(a["data-row"]), a["data-column"]]
                if not pd.isna(value):
                    problems.append(f"blank shown for {value} of {a}")
                counts["source"] += 1
            else:
                problems.append(f"a number without provenance: {text!r} {a}")
            continue
        value = float(a["data-value"])
        if text in ("–", ""):
            if not math.isnan(value):
                problems.append(f"blank shown for {value}: {a}")
        elif not close(shown_number(text), value, rel=5.1e-3, abs_=1e-12):
            problems.append(f"shown {text!r} but data-value {value!r}: {a}")
        if "data-var" in a:
            want = expected_value(ds, selection_of(a))
            counts["var"] += 1
        elif "data-source" in a:
            name = a["data-source"]
            if name not in csvs:
                csvs[name] = pd.read_csv(out_dir / name)
            want = float(csvs[name].loc[int(a["data-row"]), a["data-column"]])
            counts["source"] += 1
        elif "data-attr" in a:
            if a["data-attr"] == "balance_by_process":
                parts = dict(p.split(":") for p in ds.attrs["balance_by_process"].split(";"))
                want = float({k.strip(): v for k, v in parts.items()}[a["data-key"]])
            else:
                want = float(ds.attrs[a["data-attr"]])
            counts["attr"] += 1
        elif a.get("data-check") == "balance":
            from mfa import definition
            from mfa.balance import process_balance

            system = definition.load(out_dir / "system.yaml") if (out_dir / "system.yaml").exists() else definition.load()
            want = float(np.max(np.abs(process_balance(ds, system, a["data-process"], a["data-quantity"]).values)))
            counts["balance"] += 1
        else:
            problems.append(f"a number without provenance: {text!r} {a}")
            continue
        if not close(value, want, rel=1e-9, abs_=1e-9 * max(1.0, abs(want))):
            problems.append(f"{a}: page {value!r}, expected {want!r}")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} problems)"
    return counts


def check_figures(page: Page, ds: xr.Dataset) -> int:
    """Every trace that draws numbers of results.nc against them; returns traces checked."""
    checked, problems = 0, []
    for fig in page.figures:
        for trace in fig["figure"]["data"]:
            meta = trace.get("meta")
            if trace.get("type") == "sankey":
                for value, sel in zip(trace["link"]["value"], meta["links"]):
                    want = expected_value(ds, sel)
                    if not close(float(value), want, rel=1e-9, abs_=1e-9):
                        problems.append(f"sankey link {sel}: {value} vs {want}")
                checked += 1
            elif trace.get("type") in ("bar", "choropleth"):
                for code, value in zip(meta["regions"], trace["x"] if trace["type"] == "bar" else trace["z"]):
                    want = expected_value(ds, {**meta, "region": code})
                    if not close(float(value), want):
                        problems.append(f"bar {code}: {value} vs {want}")
                checked += 1
            elif meta and "var" in meta:
                want = expected_series(ds, meta).sel(year=[int(x) for x in trace["x"]]).values
                got = np.array([np.nan if v is None else v for v in trace["y"]], dtype=float)
                if not np.allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True):
                    problems.append(f"trace {meta}: differs")
                checked += 1
            elif trace.get("type") == "scatter" and trace.get("y") is not None:
                problems.append(f"a trace without meta: {trace.get('name')}")
    assert not problems, "\n".join(problems[:20])
    return checked


# --------------------------------------------------------------------------- tests


def test_report_is_one_offline_file(run_dir, page):
    html_text = (run_dir / "report.html").read_text(encoding="utf-8")
    assert html_text.startswith("<!DOCTYPE html>")
    external = [(tag, url) for tag, url in page.resources if not url.startswith(("data:", "#"))]
    assert not external, f"resources not inline: {external[:5]}"
    for style in page.styles:
        assert "@import" not in style
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", style):
            assert url.startswith(("data:", "#")), f"stylesheet fetches {url}"
    assert "@font-face" not in "".join(page.styles)
    assert any(tag == "img" for tag, _ in page.resources), "no static PNG embedded"
    assert "Plotly.newPlot" in html_text and "plotly.js" in html_text.lower()
    for section in ("headline", "comparison", "sankey", "supply", "feedstock", "regions", "calibration", "balance", "assumptions"):
        assert f'id="{section}"' in html_text, section
    assert 'id="fans"' not in html_text, "fan charts without a quantile dim"
    assert "海南" in html_text, "the region's Chinese name is missing"


def test_every_number_comes_from_the_results(run_dir, page, results):
    counts = check_numbers(page, results, run_dir)
    assert counts["var"] > 100 and counts["source"] > 20 and counts["input"] > 50
    assert counts["attr"] >= 2 and counts["balance"] >= 1 and counts["first_year"] >= 8
    assert check_figures(page, results) >= 30


def test_report_shows_every_input_row_with_grades(run_dir, page, results):
    html_text = (run_dir / "report.html").read_text(encoding="utf-8")
    shown = {}
    for item in page.numbers:
        if "data-input" in item["attrs"]:
            shown.setdefault(item["attrs"]["data-input"], set()).add(int(item["attrs"]["data-row"]))
    for name in [f.strip() for f in results.attrs["input_files"].split(",")]:
        table = pd.read_csv(REPO / name, dtype=str, keep_default_na=False)
        if "grade" in table.columns:
            assert shown.get(name) == set(range(len(table))), name
    for name in [f.strip() for f in results.attrs["scenario_files"].split(",")]:
        assert name in html_text
    assert "collection_rate" in html_text and 'class="g gD"' in html_text


def test_static_pngs(run_dir, results):
    plots = run_dir / "plots"
    scenario = str(results["scenario"].values[len(results["scenario"]) // 2])
    for name in ("comparison_capacity", "comparison_metals", "comparison_carbon", "secondary_supply",
                 f"sankey_{scenario}_{SANKEY_YEAR}", f"feedstock_{scenario}"):
        path = plots / f"{name}.png"
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_feedstock_table(run_dir, results):
    """The tidy feedstock.csv the report reads (its balance and values are checked against
    results.nc in tests/test_feedstock.py): one number per row with its unit, the streams
    of the declared sorting process, and the report's excerpt points at its rows."""
    table = pd.read_csv(run_dir / "feedstock.csv", dtype={"region": str})
    assert ["scenario", "region", "name_en", "name_zh", "year", "chemistry", "direction", "stream", "quantity", "value", "unit"] == list(table.columns)[:11]
    assert set(table["stream"]) == set(feedstock.streams())
    elements = {str(e) for e in results["element"].values}
    assert {"battery_capacity", "pack_mass", "black_mass"} | elements == set(table["quantity"])
    html_text = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'data-source="feedstock.csv"' in html_text


def test_secondary_supply(run_dir, results):
    supply = pd.read_csv(run_dir / "secondary_supply.csv", dtype={"region": str})
    assert list(supply.columns) == ["scenario", "region", "name_en", "name_zh", "element", "year", "recovered", "demand", "unit", "share"]
    row = supply[(supply["element"] == "Li") & (supply["year"] == 2035)].iloc[0]
    rec = float(results["metal_recovered"].sel(scenario=row["scenario"], element="Li", year=2035).sum())
    dem = float(results["metal_demand"].sel(scenario=row["scenario"], element="Li", year=2035).sum())
    assert math.isclose(row["share"], rec / dem, rel_tol=1e-5)
    targets = pd.read_csv(run_dir / "secondary_supply_targets.csv", dtype={"region": str})
    assert {"first_year_20pct", "first_year_30pct", "share_2030", "share_2035", "share_2040", "share_2050"} <= set(targets.columns)
    for _, t in targets.iterrows():
        series = supply[(supply["scenario"] == t["scenario"]) & (supply["element"] == t["element"])].set_index("year")["share"]
        for pct in (20, 30):
            year = t[f"first_year_{pct}pct"]
            if pd.isna(year):
                assert (series < pct / 100).all()
            else:
                assert series[int(year)] >= pct / 100 - 1e-9 and (series[series.index < int(year)] < pct / 100).all()


def test_regions_and_quantiles(synthetic_dir):
    layout, out, ds, noisy = synthetic_dir
    assert not noisy, noisy
    html_text = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="fans"' in html_text
    page = parse(out / "report.html")
    assert check_numbers(page, ds, out)["var"] > 100
    assert check_figures(page, ds) > 60
    fans = [t["meta"] for f in page.figures for t in f["figure"]["data"] if (t.get("meta") or {}).get("quantile") in (0.05, 0.95)]
    assert {m["var"] for m in fans} >= ({"metal_demand_quantile", "carbon_reduction_quantile"} if layout == "mc_variables" else {"metal_demand"})
    assert (out / "plots" / "report_fan_metal_demand.png").exists()
    table = pd.read_csv(out / "feedstock.csv", dtype={"region": str})
    if layout == "mc_variables":
        assert "北京市" in html_text and "海南省" in html_text
        assert {"460000", "110000", "total"} == set(table["region"])
        assert "regions_" in " ".join(p.name for p in (out / "plots").iterdir())


def test_bad_arguments(run_dir):
    with pytest.raises(ValueError, match="scenario"):
        write_report(run_dir, scenario="nope")
    with pytest.raises(ValueError, match="sankey year"):
        write_report(run_dir, sankey_year=1990)


def test_chinese_names_fall_back_without_a_cjk_font(monkeypatch, tmp_path, results):
    from mfa.report import charts, data

    assert list(data.region_names(results)["name_zh"]) == [str(n) for n in results["name_zh"].values] == ["海南省"]
    ds = two_regions(results)
    names = data.region_names(ds)
    assert "北京市" in list(names["name_zh"])
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    assert fonts.region_label("Beijing", "北京市") == "Beijing"
    assert fonts.region_label("Beijing", "北京市", for_matplotlib=False) == "北京市 Beijing"
    assert fonts.safe_text("Hainan 海南省") == "Hainan"
    sel = {"var": "metal_demand", "scenario": str(ds["scenario"].values[0]), "element": "Li", "agg": "sum",
           "year_from": 2023, "year_to": 2050, "unit": "t"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charts.regions_png(ds, names, sel, "t", "Li 北京市", tmp_path / "r.png")
    assert not [w for w in caught if "Glyph" in str(w.message) or "missing from" in str(w.message)]


def test_cjk_font_is_used_when_installed():
    fonts.cjk_font.cache_clear()
    family = fonts.cjk_font()
    if family is None:
        pytest.skip("no CJK font installed (Debian fonts-noto-cjk or fonts-wqy-microhei)")
    assert fonts.region_label("Hainan", "海南省") == "海南省 Hainan"


def test_a_cjk_font_installed_after_matplotlib_cached_its_font_list_is_found(monkeypatch):
    """matplotlib writes its font list once; a font installed later (apt-get install
    fonts-wqy-microhei after a first run) is found from the font files themselves."""
    from matplotlib import font_manager

    fonts.cjk_font.cache_clear()
    if fonts.cjk_font() is None:
        pytest.skip("no CJK font installed (Debian fonts-noto-cjk or fonts-wqy-microhei)")
    cached = [f for f in font_manager.fontManager.ttflist if fonts._preferred({f.name}) is None]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", cached)  # the list as before the font came
    fonts.cjk_font.cache_clear()
    try:
        assert fonts.cjk_font() is not None
    finally:
        fonts.cjk_font.cache_clear()


# --------------------------------------------------------------------------- page size, PNGs, files


PAGE_LIMIT = 2_500_000
"""Bytes: a page that goes by mail and opens quickly (7.2 MB with the full plotly.js)."""


def test_page_is_light(run_dir, provinces_dir):
    for folder in (run_dir, provinces_dir):
        size = (folder / "report.html").stat().st_size
        assert size < PAGE_LIMIT, f"{folder.name}: report.html is {size / 1e6:.2f} MB"


def test_pngs_have_readable_units_and_nothing_clipped(run_dir):
    from PIL import Image

    names = {p.name for p in (run_dir / "plots").glob("*.png")}
    assert names and names <= set(SAVED_FIGURES), names - set(SAVED_FIGURES)
    bracketed = set()
    for name in names:
        with Image.open(run_dir / "plots" / name) as image:
            assert [round(d) for d in image.info["dpi"]] == [150, 150], name
        for ax in SAVED_FIGURES[name]["axes"]:
            for text in ax["labels"]:
                assert "yr-1" not in text and "W h" not in text, f"{name}: {text!r}"
                bracketed.update(re.findall(r"\[([^\]]+)\]", text))
            bottom, top = ax["ylim"]
            for y in ax["lines"]:
                y = y[np.isfinite(y)]
                if y.size:
                    assert bottom - 1e-9 <= y.min() and y.max() <= top + 1e-9, f"{name}: a line leaves the axes ({y.max()} > {top})"
    assert {"t/yr", "GWh/yr", "%"} <= bracketed, bracketed


def listed_files(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    section = text.split('<section id="files">')[1].split("</section>")[0]
    return set(re.findall(r'<td class="key">([^<]+)</td>', section))


def test_every_file_of_the_run_is_listed(run_dir, provinces_dir):
    for folder in (run_dir, provinces_dir):
        # the run folder's hidden marker (.mfa-outputs, mfa.io.rundir) is no file for a reader
        present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")}
        # --report draws the run's plots too (as --plots)
        assert {"gis.nc", "results.gpkg", "parameters.csv", "parameters.nc", "system.yaml", "report.html", "plots/demand.png"} <= present
        assert listed_files(folder / "report.html") == present


# --------------------------------------------------------------------------- 31 provinces


def test_calibration_rows_name_their_region(provinces_dir):
    calibration = pd.read_csv(provinces_dir / "calibration.csv", dtype={"region": str})
    assert list(calibration.columns[:2]) == ["region", "figure"]
    assert set(calibration["region"]) == {"460000", "national"}
    national = calibration[(calibration["region"] == "national") & (calibration["figure"] == "nev_stock")].set_index("detail")
    official = pd.read_csv(REPO / "inputs" / "china" / "national_nev_stock.csv")
    official = official[official["segment"] == "all"].set_index("year")["value"]
    assert sorted(national.index.astype(int)) == list(official.index)
    with xr.open_dataset(provinces_dir / "results.nc") as results:
        for year, row in national.iterrows():
            # every province's NEVs of every segment, as the official figure counts every NEV type
            model = float(results["vehicle_stock"].sel(year=int(year)).isel(scenario=0).sum())
            assert math.isclose(row["model"], model, rel_tol=1e-5) and row["reference"] == official[int(year)]
            assert "segment" in row["note"]
    page = parse(provinces_dir / "report.html")
    html_text = (provinces_dir / "report.html").read_text(encoding="utf-8")
    calibration_html = html_text.split('<section id="calibration">')[1].split("</section>")[0]
    assert "海南省 Hainan (460000)" in calibration_html and "<td>national</td>" in calibration_html
    assert check_numbers(page, xr.open_dataset(provinces_dir / "results.nc").load(), provinces_dir)["source"] >= len(calibration) * 3


def test_map_of_the_regions(provinces_dir, tmp_path):
    page = parse(provinces_dir / "report.html")
    maps = [t for f in page.figures for t in f["figure"]["data"] if t.get("type") == "choropleth"]
    assert len(maps) == 1
    trace = maps[0]
    assert len(trace["locations"]) == 31 and {f["id"] for f in trace["geojson"]["features"]} == set(trace["locations"])
    with xr.open_dataset(provinces_dir / "results.nc") as results:
        assert check_figures(page, results.load()) >= 3  # the map's values among them
    binary = require_tool("chromium")
    dom = chromium(binary, tmp_path / "profile", "--virtual-time-budget=20000", "--dump-dom", (provinces_dir / "report.html").as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<pre id="js-errors"></pre>' in dom.stdout, dom.stdout.split('id="js-errors">')[1][:500]
    assert f'data-figures-drawn="{len(page.figures)}"' in dom.stdout
    drawn = [tag for tag in re.findall(r"<path [^>]*>", dom.stdout) if "choroplethlocation" in tag and ' d="M' in tag]
    assert len(drawn) == 31, f"{len(drawn)} regions drawn on the map"


def test_no_map_without_boundaries(run_dir, page):
    assert not [t for f in page.figures for t in f["figure"]["data"] if t.get("type") == "choropleth"]


# --------------------------------------------------------------------------- the report in Chinese


@pytest.fixture(scope="module")
def zh_dir(run_dir, tmp_path_factory):
    """The default run's report in Chinese (a copy of the run folder); every PNG it saves
    is recorded in :data:`SAVED_FIGURES_ZH`."""
    from matplotlib.figure import Figure

    out = tmp_path_factory.mktemp("zh")
    shutil.copytree(run_dir, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("report.html", "plots"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", _record_savefig(Figure.savefig, SAVED_FIGURES_ZH))
        write_report(out, sankey_year=SANKEY_YEAR, lang="zh")
    return out


SAVED_FIGURES_ZH: dict[str, dict] = {}


class VisibleText(HTMLParser):
    """The page's visible text, except what is marked as not being in the page's
    language (``lang="en"``: sources and notes of the input files) and identifiers
    (code, file names and keys, values of the input tables)."""

    VOID = {"meta", "img", "br", "input", "link", "hr", "col", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        a = {k: (v or "") for k, v in attrs}
        classes = set(a.get("class", "").split())
        hidden = tag in ("script", "style", "code", "title") or a.get("lang") == "en" or bool(classes & {"key", "raw"})
        self._stack.append(hidden or (self._stack[-1] if self._stack else False))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self._stack:
            self._stack.pop()

    def handle_data(self, text):
        if not (self._stack and self._stack[-1]):
            self.texts.append(text)


def figure_texts(figure: dict) -> list[str]:
    """What a plotly figure shows: titles, axis titles, annotations, legend entries,
    node labels, menu labels, hover texts."""
    layout, texts = figure["layout"], []
    texts.append((layout.get("title") or {}).get("text", ""))
    texts += [a.get("text", "") for a in layout.get("annotations", [])]
    texts += [(v.get("title") or {}).get("text", "") for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
    texts += [b.get("label", "") for m in layout.get("updatemenus", []) for b in m.get("buttons", [])]
    for trace in figure["data"]:
        texts += [trace.get("name", ""), re.sub(r"%\{[^}]*\}|<extra></extra>", " ", trace.get("hovertemplate", ""))]
        texts += list((trace.get("node") or {}).get("label", []))
        texts += [str(v) for v in trace.get("y", []) if trace.get("type") == "bar"]
        texts.append(((trace.get("colorbar") or {}).get("title") or {}).get("text", ""))
    return texts


def english_words(texts, allowed: set[str]) -> set[str]:
    """Latin-script words of ``texts`` that are not ``allowed``: file names, codes and
    acronyms (LFP, NCM622, GWh) are names, not English."""
    found = set()
    for text in texts:
        for token in str(text).split():
            if re.search(r"[._/]", token.strip(".,;:()（）")):  # a file name or a key
                continue
            if re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", token.strip(".,;:()（）")):  # a number (a balance error of 5e-16)
                continue
            for word in re.findall(r"[A-Za-z][A-Za-z-]*", token):
                if word not in allowed and not re.fullmatch(r"[A-Z0-9-]+|[A-Z][a-z]?", word):
                    found.add(word)
    return found


UNITS_AND_NAMES = {"mfa", "GWh", "kWh", "dpi", "NetCDF", "GeoPackage", "Sankey", "hainan-study", "sobol", "lhs"}
"""Units, formats and names that stay in Latin script in a Chinese report."""


def test_chinese_report_has_no_english(zh_dir, results):
    text = (zh_dir / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh">' in text and "主要结果" in text and "梯次利用" in text and "万吨" in text and "万辆" in text
    allowed = UNITS_AND_NAMES | {w for n in data_names(results) for w in re.findall(r"[A-Za-z-]+", n)}
    parser = VisibleText()
    parser.feed(text)
    assert not english_words(parser.texts, allowed), sorted(english_words(parser.texts, allowed))
    page = parse(zh_dir / "report.html")
    shown = [t for f in page.figures for t in figure_texts(f["figure"])]
    assert not english_words(shown, allowed), sorted(english_words(shown, allowed))
    pngs = [t for fig in SAVED_FIGURES_ZH.values() for t in [fig["suptitle"]] + [label for ax in fig["axes"] for label in ax["labels"]]]
    assert len(SAVED_FIGURES_ZH) >= 6
    assert not english_words(pngs, allowed), sorted(english_words(pngs, allowed))


def data_names(results) -> list[str]:
    """Region names in Latin script (proper names)."""
    from mfa.report import data

    return [str(n) for n in data.region_names(results)["name_en"]]


def test_chinese_report_numbers_come_from_the_results(zh_dir, results):
    page = parse(zh_dir / "report.html")
    counts = check_numbers(page, results, zh_dir)
    assert counts["var"] > 100
    units = {item["attrs"].get("data-unit") for item in page.numbers}
    assert {"1e4", "1e4 t"} <= units, units  # 万辆, 万吨
    assert check_figures(page, results) >= 30


def test_run_pngs_in_chinese(results, tmp_path):
    """The run's own PNGs (plots/ of ``mfa run``), drawn in Chinese."""
    from matplotlib.figure import Figure

    from mfa.report import i18n, plots
    from mfa.units import quantify

    quantified = results.copy()
    for name in ("metal_demand", "metal_recovered", "carbon_reduction", "battery_capacity_demand"):
        quantified[name] = quantify(results[name])
    saved: dict[str, dict] = {}
    with pytest.MonkeyPatch.context() as patch, i18n.drawing("zh"):
        patch.setattr(Figure, "savefig", _record_savefig(Figure.savefig, saved))
        plots.all_plots(quantified, tmp_path)
    assert len(saved) == 4
    texts = [t for fig in saved.values() for t in [fig["suptitle"]] + [label for ax in fig["axes"] for label in ax["labels"]]]
    assert not english_words(texts, UNITS_AND_NAMES), sorted(english_words(texts, UNITS_AND_NAMES))
    assert any("碳减排" in text for text in texts)


def test_unknown_language(run_dir):
    with pytest.raises(ValueError, match="report language"):
        write_report(run_dir, lang="fr")


def test_catalogues_have_the_same_keys():
    from mfa.report import i18n

    en, zh = i18n.catalogue("en"), i18n.catalogue("zh")
    names = ("scenario.", "bound.", "element.", "stream.", "process.", "quantity.", "figure.")
    assert set(en) == {k for k in zh if not k.startswith(names)}
    for key, message in en.items():
        if isinstance(message, str):  # Chinese may leave out an argument (the English name), never need a new one
            assert set(re.findall(r"\{(\w+)", str(zh[key]))) <= set(re.findall(r"\{(\w+)", message)), key


# --------------------------------------------------------------------------- a real browser


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
                  "--disable-extensions", "--mute-audio"]


def chromium(binary: str, profile: Path, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    shutil.rmtree(profile, ignore_errors=True)
    profile.mkdir(parents=True)
    env = {**os.environ, "HOME": str(profile)}
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def test_report_draws_in_chromium(run_dir, page, tmp_path):
    binary = require_tool("chromium")
    url = (run_dir / "report.html").resolve().as_uri()
    dom = chromium(binary, tmp_path / "profile-dom", "--virtual-time-budget=20000", "--enable-logging=stderr", "--v=0",
                   "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html_text = dom.stdout
    n_figures = len(page.figures)
    assert f'data-figures-drawn="{n_figures}"' in html_text, "not every figure was drawn"
    assert 'data-figures-failed="0"' in html_text
    assert '<pre id="js-errors"></pre>' in html_text, "JavaScript errors: " + html_text.split('id="js-errors">')[1][:500]
    console_errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("Error" in line or "Uncaught" in line)]
    assert not console_errors, console_errors[:5]
    assert html_text.count('class="main-svg"') >= n_figures
    assert 'class="sankey-node' in html_text and 'class="sankey-link' in html_text, "the Sankey was not drawn"
    assert html_text.count('class="sankey-node"') >= 8

    shot = tmp_path / "report_screenshot.png"  # never into the checkout
    result = chromium(binary, tmp_path / "profile-shot", "--virtual-time-budget=20000", "--window-size=1400,4600",
                      f"--screenshot={shot}", url)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 100_000, "the screenshot looks empty"
