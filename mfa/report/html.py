"""``report.html``: one self-contained file that planners and recyclers open offline.

:func:`write_report` reads ``results.nc``, ``calibration.csv`` and ``summary.csv`` of a
run folder and writes ``report.html`` beside them, with

- headline figures and the scenario comparison (demand, in use, end of life, recovery,
  carbon), fan charts when ``results.nc`` has a ``quantile`` dim;
- a Sankey of one year's flows (capacity in GWh/yr or metal in t/yr);
- the secondary-supply outlook (recovered / demand, first year at 20 % and 30 %) and the
  feedstock outlook (retired packs and their metal by destination), also written as
  ``secondary_supply*.csv`` and ``feedstock*.csv`` (:mod:`mfa.report.feedstock`);
- regions (with Chinese names), the calibration table, the mass balance, and the
  assumptions: every row of the run's input tables and the scenario files' settings,
  with their sources and grades.

Everything is inline: plotly.js, the figures' data (JSON), the static PNGs (base64 data
URIs, also written to ``plots/``); no CDN, no web fonts. Every number the report
formats carries ``data-*`` attributes that say where it comes from (a selection of
``results.nc``, see :mod:`mfa.report.data`, or a row of a CSV), so tests can check them.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import definition
from ..errors import InputError
from ..io import atomic_path
from . import charts, data, feedstock, sankey
from .fonts import CSS_FONT_STACK, cjk_font

log = logging.getLogger(__name__)

MILESTONES = (2030, 2035, 2040, 2050)
METAL_ROWS = [
    {"var": "metal_demand", "unit": "t yr-1", "title": "demand"},
    {"var": "metal_in_use", "unit": "t", "title": "in use"},
    {"var": "metal_end_of_life", "unit": "t yr-1", "title": "end of life"},
    {"var": "metal_recovered", "unit": "t yr-1", "title": "recovered"},
]
CAPACITY_ROWS = [
    {"var": "battery_capacity_demand", "unit": "GW h yr-1", "title": "capacity demand"},
    {"var": "battery_capacity_in_use", "unit": "GW h", "title": "capacity in use"},
    {"var": "battery_end_of_life", "unit": "GW h yr-1", "title": "capacity at end of life"},
]
FAN_VARIABLES = [
    ("metal_demand", "t yr-1", "Metal demand"),
    ("metal_recovered", "t yr-1", "Metal recovered"),
    ("metal_in_use", "t", "Metal in use"),
    ("battery_capacity_demand", "GW h yr-1", "Battery capacity demand"),
    ("carbon_reduction", "Mt yr-1", "Use-phase CO2 reduction"),
    ("vehicle_stock", "1", "NEVs in use"),
]
"""Variables drawn as fans: ``<name>_quantile`` (what ``mfa run --samples`` writes) or
``<name>`` itself when it has the ``quantile`` dim."""


def fan_variable(ds: xr.Dataset, name: str) -> str | None:
    """The variable of ``ds`` that holds quantiles of ``name`` (``None`` if none does)."""
    for candidate in (f"{name}_quantile", name):
        if candidate in ds and data.QUANTILE in ds[candidate].dims:
            return candidate
    return None


GRADE_TEXT = {
    "A": "official figure seen in a repost of the source text",
    "B": "read from a public research data repository",
    "C": "commonly cited literature value, not re-checked",
    "D": "derivation, assumption or calibration",
}


# --------------------------------------------------------------------------- small HTML helpers


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def fmt(value) -> str:
    """A number for reading: separators for large ones, about 3 significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    value = float(value)
    a = abs(value)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 100:
        return f"{value:.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _attrs(attrs: dict) -> str:
    return "".join(f' {k}="{esc(v)}"' for k, v in attrs.items() if v is not None)


def td_sel(ds: xr.Dataset, sel: dict, cls: str = "num") -> str:
    """A table cell with the number ``sel`` points at, and its provenance."""
    value = data.evaluate(ds, sel)
    text = fmt(value)
    return f"<td class=\"{cls}\"{_attrs(data.data_attrs(sel, value))}>{text}</td>"


def td_source(value, source: str, row: int, column: str, cls: str = "num") -> str:
    """A cell with a number of a CSV written to the run folder (``source``)."""
    attrs = {"data-source": source, "data-row": row, "data-column": column}
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"<td class=\"{cls}\"{_attrs(attrs)}>–</td>"
    attrs["data-value"] = repr(float(value))
    return f"<td class=\"{cls}\"{_attrs(attrs)}>{fmt(value)}</td>"


def td(text, cls: str | None = None, attrs: dict | None = None) -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<td{c}{_attrs(attrs or {})}>{esc(text)}</td>"


def table(headers: list[str], rows: list[str], cls: str = "data", caption: str | None = None) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    cap = f"<caption>{caption}</caption>" if caption else ""
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return f'<div class="scroll"><table class="{cls}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


class Figures:
    """Plotly figures of the page, each with its static PNG."""

    def __init__(self):
        self.count = 0

    def block(self, fig, png: Path | None, caption: str = "", fig_id: str | None = None) -> str:
        self.count += 1
        fig_id = fig_id or f"fig-{self.count}"
        payload = fig.to_json().replace("</", "<\\/")
        static = ""
        if png is not None and Path(png).exists():
            static = (f'<details class="static"><summary>static PNG (plots/{esc(Path(png).name)})</summary>'
                      f'<img alt="{esc(caption or Path(png).stem)}" src="{png_uri(png)}"></details>')
        cap = f'<p class="caption">{caption}</p>' if caption else ""
        return (f'<figure class="chart"><div id="{fig_id}" class="plotly-figure" style="height:{int(fig.layout.height or 450)}px"></div>'
                f'<script type="application/json" class="plotly-data" data-target="{fig_id}">{payload}</script>'
                f"{cap}{static}</figure>")


# --------------------------------------------------------------------------- assumptions


def _grade_badge(grade: str, inherited: bool = False) -> str:
    if not grade:
        return '<td class="grade"></td>'
    title = GRADE_TEXT.get(grade, "") + (" (from the enclosing setting)" if inherited else "")
    return f'<td class="grade"><span class="g g{esc(grade)}{" inh" if inherited else ""}" title="{esc(title)}">{esc(grade)}</span></td>'


def _provenance_block(file: str, rows: pd.DataFrame) -> str:
    """One input table or scenario file of ``parameters.csv``: every value with its
    unit, source, year, grade and note (a setting's comment is its source)."""
    counts = rows["grade"].value_counts()
    summary = ", ".join(f'<span class="g g{g}">{g}</span> {counts.get(g, 0)}' for g in "ABCD" if counts.get(g, 0))
    cells = []
    for i, (_, r) in enumerate(rows.iterrows()):
        line = td(r["key"], "key")
        line += f'<td class="num raw" data-input="{esc(file)}" data-row="{i}" data-column="value">{esc(r["value"])}</td>'
        line += td(r["unit"]) + td(r["source"], "src") + td(r["source_year"]) + _grade_badge(r["grade"]) + td(r["note"], "note")
        cells.append(line)
    headers = ["key", "value", "unit", "source", "source year", "grade", "note or comment"]
    return (f'<details class="inputs"><summary><b>{esc(file)}</b>: {len(rows)} rows; grades {summary or "none"}</summary>'
            + table(headers, cells, cls="data small") + "</details>")


def provenance_section(prov: pd.DataFrame | None) -> str:
    """The assumptions of the run, from ``parameters.csv`` in the run folder."""
    if prov is None:
        return '<p class="warn">parameters.csv not found in the run folder (written by <code>mfa run</code>).</p>'
    body = ""
    for kind, heading in (("input", "Input tables"), ("setting", "Scenario files"), ("override", "Command-line overrides")):
        part = prov[prov["kind"] == kind]
        if not part.empty:
            body += f"<h3>{heading}</h3>" + "".join(_provenance_block(f, rows) for f, rows in part.groupby("file", sort=False))
    return body


# --------------------------------------------------------------------------- mass balance


def _balance_rows(ds: xr.Dataset, system) -> tuple[list[str], str]:
    """Per balance of the declared system: the largest error the run logged and the one
    recomputed from the file; and the balance and unit of the largest logged error."""
    from ..balance import process_balance

    logged = {}
    for part in str(ds.attrs.get("balance_by_process", "")).split(";"):
        name, _, value = part.rpartition(":")
        try:
            logged[name.strip()] = float(value)
        except ValueError:
            continue
    rows, worst_text, worst_logged = [], "", -1.0
    for process, quantity in system.balances():
        name = f"{process} ({quantity})"
        flows = system.inflows(process, quantity)
        unit = data.units_of(ds, flows[0])
        balance = process_balance(ds, system, process, quantity)
        values = np.abs(np.asarray(balance.values, dtype=float))
        worst = float(np.max(values)) if values.size else 0.0
        spot = ""
        if worst and math.isfinite(worst):
            where = balance.isel({d: int(i) for d, i in zip(balance.dims, np.unravel_index(int(np.argmax(values)), values.shape))})
            spot = ", ".join(f"{d} {where[d].values}" for d in balance.dims if d in where.coords)
        if logged.get(name, -1.0) > worst_logged:
            worst_logged = logged[name]
            worst_text = f" ({esc(name)}) [{esc(charts.label(unit))}]"
        logged_cell = (f'<td class="num" data-attr="balance_by_process" data-key="{esc(name)}" data-value="{logged[name]!r}">{fmt(logged[name])}</td>'
                       if name in logged else td("–"))
        rows.append(td(name) + td(charts.label(unit)) + logged_cell
                    + f'<td class="num" data-check="balance" data-process="{esc(process)}" data-quantity="{esc(quantity)}" data-value="{worst!r}">{fmt(worst)}</td>' + td(spot))
    return rows, worst_text


# --------------------------------------------------------------------------- the page


def _calibration_section(calibration: pd.DataFrame | None) -> str:
    if calibration is None:
        return '<p class="warn">calibration.csv not found in the run folder.</p>'
    rows = []
    for i, r in calibration.iterrows():
        diff = r.get("difference_pct")
        flag = "bad" if isinstance(diff, (int, float)) and math.isfinite(diff) and abs(diff) > 10 else ""
        cells = td(r["figure"]) + td(r["scenario"]) + td(r["detail"]) + td(charts.label(str(r["unit"])) if str(r["unit"]) != "1" else "vehicles")
        cells += td_source(r["model"], "calibration.csv", i, "model") + td_source(r["reference"], "calibration.csv", i, "reference")
        cells += td_source(diff, "calibration.csv", i, "difference_pct", cls=f"num {flag}".strip())
        rows.append(cells)
    return table(["figure", "scenario", "detail", "unit", "model [unit]", "reference [unit]", "difference [%]"], rows)


def _metal_headline(ds, scenarios, elements, start, end, supply_targets) -> str:
    rows = []
    for scenario in scenarios:
        for element in elements:
            cells = td(scenario) + td(element)
            for var in ("metal_demand", "metal_recovered"):
                cells += td_sel(ds, charts.sel_for(ds, var, scenario=scenario, element=element, agg="sum", year_from=start, year_to=end, unit="t"))
            cells += td_sel(ds, charts.sel_for(ds, "metal_in_use", scenario=scenario, element=element, year=end, unit="t"))
            cells += td_sel(ds, charts.sel_for(ds, "metal_recovered", scenario=scenario, element=element, agg="ratio", den="metal_demand", year=2035 if 2035 in ds["year"] else end, unit="percent"))
            cells += _first_year_cells(ds, scenario, element, supply_targets)
            rows.append(cells)
    y35 = 2035 if 2035 in ds["year"] else end
    return table(["scenario", "element", f"demand {start}–{end} [t]", f"recovered {start}–{end} [t]", f"in use {end} [t]",
                  f"recovered / demand {y35} [%]", "first year ≥ 20 %", "first year ≥ 30 %"], rows)


def _first_year_cells(ds, scenario, element, supply_targets) -> str:
    out = ""
    for threshold in feedstock.THRESHOLDS:
        sel = charts.sel_for(ds, "metal_recovered", scenario=scenario, element=element, agg="ratio", den="metal_demand", unit="percent")
        x, y = charts.line(ds, sel)
        year = feedstock.first_year_reaching(x, [None if v is None else v / 100 for v in y], threshold)
        attrs = {**data.data_attrs(sel), "data-first-year": "" if year is None else year, "data-threshold": threshold}
        out += f'<td class="year"{_attrs(attrs)}>{year if year is not None else "not by " + str(int(ds["year"].max()))}</td>'
    return out


def _fleet_headline(ds, scenarios, start, end) -> str:
    rows = []
    years = [y for y in (2030, end) if y in ds["year"]]
    for scenario in scenarios:
        cells = td(scenario)
        for y in years:
            cells += td_sel(ds, charts.sel_for(ds, "vehicle_stock", scenario=scenario, year=y, unit="1")) if "vehicle_stock" in ds else td("–")
        cells += td_sel(ds, charts.sel_for(ds, "battery_capacity_demand", scenario=scenario, agg="sum", year_from=start, year_to=end, unit="GW h"))
        cells += td_sel(ds, charts.sel_for(ds, "battery_collected", scenario=scenario, agg="sum", year_from=start, year_to=end, unit="GW h"))
        for bound in ([str(b) for b in ds["bound"].values] if "bound" in ds.dims else []):
            cells += td_sel(ds, charts.sel_for(ds, "carbon_reduction", scenario=scenario, bound=bound, year=end, unit="Mt yr-1"))
        rows.append(cells)
    headers = ["scenario"] + [f"NEVs in use {y} [vehicles]" for y in years]
    headers += [f"battery demand {start}–{end} [GWh]", f"packs collected {start}–{end} [GWh]"]
    headers += [f"CO2 reduction {end}, {esc(b)} bound [Mt CO2/yr]" for b in ([str(b) for b in ds["bound"].values] if "bound" in ds.dims else [])]
    return table(headers, rows)


def _supply_table(ds, scenarios, elements) -> str:
    years = [y for y in MILESTONES if y in ds["year"]]
    rows = []
    for scenario in scenarios:
        for element in elements:
            cells = td(scenario) + td(element)
            for y in years:
                cells += td_sel(ds, charts.sel_for(ds, "metal_recovered", scenario=scenario, element=element, agg="ratio", den="metal_demand", year=y, unit="percent"))
            cells += _first_year_cells(ds, scenario, element, None)
            rows.append(cells)
    return table(["scenario", "element"] + [f"recovered / demand {y} [%]" for y in years] + ["first year ≥ 20 %", "first year ≥ 30 %"], rows)


def _feedstock_cumulative_table(ds, scenario, elements, start) -> str:
    rows = []
    end_years = [y for y in MILESTONES if y in ds["year"] and y >= start]
    for end in end_years:
        for stream, var in feedstock.streams().items():
            if var not in ds:
                continue
            cells = td(f"{start}–{end}") + td(stream.replace("_", " "))
            cells += td_sel(ds, charts.sel_for(ds, var, scenario=scenario, agg="sum", year_from=start, year_to=end, unit="GW h"))
            for element in elements:
                cells += td_sel(ds, charts.sel_for(ds, definition.load().material_twin(var), scenario=scenario, element=element, agg="sum", year_from=start, year_to=end, unit="t"))
            rows.append(cells)
    return table(["period", "stream", "capacity [GWh]"] + [f"{e} [t]" for e in elements], rows)


def _feedstock_excerpt(table_df: pd.DataFrame, scenario: str, year: int, regions: int, quantile=None) -> str:
    region = "total" if regions > 1 else None
    part = table_df[(table_df["scenario"] == scenario) & (table_df["year"] == year)]
    if region:
        part = part[part["region"] == region]
    if quantile is not None and data.QUANTILE in part.columns:
        part = part[np.isclose(part[data.QUANTILE].astype(float), float(quantile))]
    value_columns = [c for c in table_df.columns if c.endswith("_per_yr")]
    key_columns = [c for c in table_df.columns if c not in value_columns]
    rows = []
    for i, r in part.iterrows():
        cells = "".join(td(r[k]) for k in key_columns)
        cells += "".join(td_source(r[c], "feedstock.csv", i, c) for c in value_columns)
        rows.append(cells)
    headers = [esc(k) for k in key_columns] + [_column_header(c) for c in value_columns]
    return table(headers, rows, cls="data small")


def _column_header(column: str) -> str:
    if column.startswith("capacity_kWh"):
        return "capacity [kWh/yr]" if column.endswith("_per_yr") else "capacity [kWh]"
    element = column.split("_")[0]
    return f"{esc(element)} [t/yr]" if column.endswith("_per_yr") else f"{esc(element)} [t]"


def _regions_table(ds, names, scenario, elements, start, end) -> str:
    rows = []
    for _, r in names.iterrows():
        code = str(r["code"])
        cells = td(code) + f'<td lang="zh-Hans" class="zh">{esc(r["name_zh"])}</td>' + td(r["name_en"])
        if "vehicle_stock" in ds:
            y = 2030 if 2030 in ds["year"] else end
            cells += td_sel(ds, charts.sel_for(ds, "vehicle_stock", scenario=scenario, region=code, year=y, unit="1"))
        for element in elements[:1]:
            cells += td_sel(ds, charts.sel_for(ds, "metal_demand", scenario=scenario, region=code, element=element, agg="sum", year_from=start, year_to=end, unit="t"))
            cells += td_sel(ds, charts.sel_for(ds, "metal_recovered", scenario=scenario, region=code, element=element, agg="sum", year_from=start, year_to=end, unit="t"))
        cells += td_sel(ds, charts.sel_for(ds, "battery_collected", scenario=scenario, region=code, agg="sum", year_from=start, year_to=end, unit="GW h"))
        rows.append(cells)
    y = 2030 if 2030 in ds["year"] else end
    e = elements[0] if elements else "metal"
    headers = ["code (GB/T 2260)", "name", "name (English)"]
    headers += [f"NEVs in use {y} [vehicles]"] if "vehicle_stock" in ds else []
    headers += [f"{e} demand {start}–{end} [t]", f"{e} recovered {start}–{end} [t]", f"packs collected {start}–{end} [GWh]"]
    return table(headers, rows)


CSS = """
:root { --ink:#1d2733; --muted:#5b6775; --line:#d8dee6; --bg:#f6f8fa; --accent:#2f5d8a; }
* { box-sizing: border-box; }
body { font-family: %(fonts)s; color: var(--ink); margin: 0; background: #fff; line-height: 1.45; font-size: 15px; }
header.top { background: var(--accent); color: #fff; padding: 18px 28px 14px; }
header.top h1 { margin: 0 0 4px; font-size: 26px; }
header.top p { margin: 2px 0; opacity: .92; font-size: 14px; }
nav { background: var(--bg); border-bottom: 1px solid var(--line); padding: 8px 28px; font-size: 14px; position: sticky; top: 0; z-index: 5;
      display: flex; flex-wrap: wrap; gap: 4px 16px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 28px 60px; }
section { margin-top: 30px; }
h2 { border-bottom: 2px solid var(--accent); padding-bottom: 4px; font-size: 21px; }
h3 { font-size: 17px; margin-bottom: 6px; }
p.note, p.caption { color: var(--muted); font-size: 13.5px; }
p.warn { color: #9a3412; }
.scroll { overflow-x: auto; margin: 8px 0 14px; }
table.data { border-collapse: collapse; font-size: 13.5px; min-width: 40%%; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; }
table.data th { background: var(--bg); font-weight: 600; position: sticky; top: 0; }
table.data td.num, table.data td.year { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data td.bad { color: #b91c1c; font-weight: 600; }
table.small { font-size: 12.5px; }
table.small td.note, table.small td.src { max-width: 420px; }
td.key { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; white-space: nowrap; }
td.zh { font-size: 14.5px; white-space: nowrap; }
figure.chart { margin: 10px 0 26px; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
.plotly-figure { width: 100%%; }
details { margin: 6px 0; }
details.static img { max-width: 100%%; border: 1px solid var(--line); }
summary { cursor: pointer; color: var(--accent); }
.g { display: inline-block; min-width: 1.5em; text-align: center; border-radius: 4px; color: #fff; font-weight: 700; font-size: 12px; padding: 0 4px; }
.gA { background: #15803d; } .gB { background: #1d4ed8; } .gC { background: #c2410c; } .gD { background: #6b7280; }
.g.inh { opacity: .55; }
.kpi { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.kpi div { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; }
.kpi b { display: block; font-size: 20px; }
#js-errors:empty { display: none; }
#js-errors { background: #fee2e2; color: #7f1d1d; padding: 8px; white-space: pre-wrap; }
"""

ERROR_TRAP = """
window.__mfaErrors = [];
(function () {
  function note(msg) {
    window.__mfaErrors.push(String(msg));
    var box = document.getElementById('js-errors');
    if (box) { box.textContent = window.__mfaErrors.join('\\n'); }
  }
  window.addEventListener('error', function (e) { note('error: ' + (e.message || e)); });
  window.addEventListener('unhandledrejection', function (e) { note('unhandled rejection: ' + (e.reason || e)); });
  var original = console.error;
  console.error = function () { note('console.error: ' + Array.prototype.join.call(arguments, ' ')); original.apply(console, arguments); };
})();
"""

LOADER = """
(function () {
  var done = 0, failed = 0;
  document.querySelectorAll('script.plotly-data').forEach(function (s) {
    try {
      var fig = JSON.parse(s.textContent);
      Plotly.newPlot(document.getElementById(s.dataset.target), fig.data, fig.layout,
                     {responsive: true, displaylogo: false, showLink: false});
      done += 1;
    } catch (err) { failed += 1; console.error('figure ' + s.dataset.target + ': ' + err); }
  });
  document.body.setAttribute('data-figures-drawn', String(done));
  document.body.setAttribute('data-figures-failed', String(failed));
})();
"""


def write_report(out_dir: Path, sankey_year: int = 2040, scenario: str | None = None) -> Path:
    """Write ``out_dir/report.html`` (and the feedstock and secondary-supply CSVs and the
    report's PNGs in ``out_dir/plots/``) from the run in ``out_dir``; return its path.

    ``scenario`` (default: the middle one) is the one shown in the Sankey, the feedstock
    and the regions; ``sankey_year`` the year of the Sankey.
    """
    import plotly.offline

    out_dir = Path(out_dir)
    nc = out_dir / "results.nc"
    if not nc.exists():
        raise InputError(nc, "results.nc", f"no results in this folder (run `mfa run --out {out_dir}` first)")
    ds = data.open_results(nc)
    calibration = pd.read_csv(out_dir / "calibration.csv") if (out_dir / "calibration.csv").exists() else None
    summary = pd.read_csv(out_dir / "summary.csv") if (out_dir / "summary.csv").exists() else None
    prov = pd.read_csv(out_dir / "parameters.csv", dtype=str, keep_default_na=False) if (out_dir / "parameters.csv").exists() else None
    system = definition.load(out_dir / "system.yaml") if (out_dir / "system.yaml").exists() else definition.load()
    scenarios = [str(s) for s in ds["scenario"].values]
    scenario = scenarios[len(scenarios) // 2] if scenario is None else str(scenario)
    if scenario not in scenarios:
        raise InputError(nc, "scenario", f"{scenario!r} is not in the results (scenarios: {', '.join(scenarios)})")
    years = [int(y) for y in ds["year"].values]
    if int(sankey_year) not in years:
        raise InputError(nc, "sankey year", f"{sankey_year} is outside the results ({years[0]}-{years[-1]})")
    sankey_year = int(sankey_year)
    start, end = data.report_start(summary, ds), years[-1]
    elements = [q for q in sankey.quantities(ds) if q != sankey.CAPACITY]
    names = data.region_names(ds)
    n_regions = len(names)
    plots = out_dir / "plots"
    median = data.median_quantile(ds)
    figs = Figures()
    sections: list[tuple[str, str, str]] = []

    # tables written beside the report
    try:
        written = feedstock.write_tables(ds, out_dir, start)
        feed_table = pd.read_csv(written["feedstock"], dtype={"region": str})
        targets = pd.read_csv(written["secondary_supply_targets"], dtype={"region": str})
        feed_error = None
    except ValueError as err:
        log.warning("feedstock tables not written: %s", err)
        written, feed_table, targets, feed_error = {}, None, None, str(err)

    # --- headline
    if n_regions == 1:
        r = names.iloc[0]
        where = f"region {r['name_en']} {r['name_zh']} ({r['code']})".replace("  ", " ")
    else:
        where = f"all {n_regions} regions summed" if n_regions else ""
    on_main = [v for v in ("metal_demand", "battery_capacity_demand") if v in ds and data.QUANTILE in ds[v].dims]
    if on_main:
        qnote = f" With quantiles, tables and lines show the quantile {median:g} (median)."
    elif median is not None:
        qnote = " Tables and lines show the deterministic run; the fan charts show the Monte-Carlo quantiles."
    else:
        qnote = ""
    body = (f'<p class="note">Cumulative figures run from {start} to {end} (inclusive); {esc(where)}.{qnote}</p>'
            "<h3>Fleet, batteries and carbon</h3>" + _fleet_headline(ds, scenarios, start, end)
            + "<h3>Metals</h3>" + _metal_headline(ds, scenarios, elements, start, end, targets))
    sections.append(("headline", "Headline figures", body))

    # --- comparison
    columns = [{"element": e, "title": e} for e in elements]
    cap_rows = [r for r in CAPACITY_ROWS if r["var"] in ds]
    metal_rows = [r for r in METAL_ROWS if r["var"] in ds]
    body = ""
    if cap_rows:
        fig = _capacity_side_by_side(ds, cap_rows)
        png = _capacity_png(ds, cap_rows, plots / "comparison_capacity.png")
        body += figs.block(fig, png, "Battery capacity of new and replacement packs, in cars, and leaving cars (all chemistries and powertrains).")
    if metal_rows:
        fig = charts.panels_by_scenario(ds, metal_rows, columns, "Metals by scenario")
        png = charts.panels_png(ds, metal_rows, columns, "Metals by scenario", plots / "comparison_metals.png")
        body += figs.block(fig, png, "Rows: demand (new and replacement packs), contained in cars in use, leaving cars, recovered by recycling. Columns: elements.")
    if "carbon_reduction" in ds or "avoided_metal_emissions" in ds:
        body += figs.block(charts.carbon(ds), charts.carbon_png(ds, plots / "comparison_carbon.png"),
                           "Use-phase CO2 reduction of NEVs against petrol cars (band between the grid emission-factor bounds) and CO2 avoided by recovered metal replacing primary metal.")
    sections.append(("comparison", "Scenario comparison", body))

    # --- fans
    if data.has_quantiles(ds):
        body = ""
        for name, unit, title in FAN_VARIABLES:
            var = fan_variable(ds, name)
            if var is None:
                continue
            if "element" in ds[var].dims:
                cols = columns
            elif "bound" in ds[var].dims:
                cols = [{"bound": str(b), "title": f"{b} bound"} for b in ds["bound"].values]
            else:
                cols = [{"title": ""}]
            png = charts.fan_png(ds, var, unit, cols, title, plots / f"report_fan_{name}.png")
            body += figs.block(charts.fan(ds, var, unit, cols, title), png)
        if not body:
            body = '<p class="note">results.nc has a quantile dim but none of the charted variables has it.</p>'
        intro = ""
        if "samples" in ds.attrs:
            intro += f"Monte-Carlo run: {esc(ds.attrs['samples'])} samples ({esc(ds.attrs.get('sampling', ''))}, seed {esc(ds.attrs.get('seed', ''))}). "
        intro += "Bands: 5–95 % and 25–75 % of the samples; line: the median; one colour per scenario. "
        if n_regions > 1:
            intro += ("With several regions the bands are sums of the regions' quantiles, which is wider than the "
                      "quantiles of the sum unless the regions move together. ")
        sections.append(("fans", "Uncertainty (fan charts)", f'<p class="note">{intro}</p>' + body))

    # --- sankey
    fig = sankey.figure(ds, scenario, sankey_year, quantile=median, system=system)
    png = sankey.static_png(ds, scenario, sankey_year, plots / f"sankey_{scenario}_{sankey_year}.png", quantile=median, system=system)
    body = (f'<p class="note">Flows of {sankey_year} in scenario <b>{esc(scenario)}</b>, {esc(where)}. Use the menu to switch between '
            "battery capacity (GWh/yr) and the metal of each element (t/yr); hover for values. "
            "“added to stock” is the part of what enters a process with a stock that stays there (inflows − outflows); "
            "flows “back from” a process re-enter an earlier one (packs from second use return to the sorting)."
            + (f" Each flow is its quantile {median:g} (medians need not balance)." if on_main else "") + "</p>"
            + figs.block(fig, png, "Sankey of one year's flows (interactive); the static PNG shows all quantities."))
    sections.append(("sankey", f"Flows of {sankey_year} (Sankey)", body))

    # --- secondary supply
    body = ('<p class="note">Recovered metal as a share of the metal demand of EV traction batteries (new and replacement packs) '
            "of the same year and scope. China's goal for 2035: recycled Li, Co and Ni at 30 % of consumption. "
            "Tables: <code>secondary_supply.csv</code> (by year, also by region) and <code>secondary_supply_targets.csv</code>.</p>")
    body += figs.block(charts.secondary_supply(ds, elements), charts.secondary_supply_png(ds, elements, plots / "secondary_supply.png"))
    body += _supply_table(ds, scenarios, elements)
    sections.append(("supply", "Secondary supply", body))

    # --- feedstock
    body = ('<p class="note">Retired packs and the metal in them, by destination: <i>retired</i> (leaving cars) and '
            "<i>from second use</i> (back from stationary storage) enter the sorting; <i>to second use</i>, <i>collected</i> "
            "(the recyclers' feedstock) and <i>lost</i> (no formal recycler) leave it. Metal by chemistry is capacity × metal "
            "intensity of the chemistry. Files: <code>feedstock.csv</code> (by scenario, region, year, chemistry, stream) and "
            "<code>feedstock_cumulative.csv</code> (sums to 2030, 2035, 2040, 2050).</p>")
    body += figs.block(charts.feedstock(ds, scenario, elements), charts.feedstock_png(ds, scenario, elements, plots / f"feedstock_{scenario}.png"))
    body += f"<h3>Cumulative feedstock, scenario {esc(scenario)}</h3>" + _feedstock_cumulative_table(ds, scenario, elements, start)
    if feed_table is not None:
        body += (f"<h3>feedstock.csv: the rows of {sankey_year}, scenario {esc(scenario)}"
                 + (", all regions (region total)" if n_regions > 1 else "")
                 + (f", quantile {median:g}" if median is not None else "") + "</h3>"
                 + _feedstock_excerpt(feed_table, scenario, sankey_year, n_regions, median))
    else:
        body += f'<p class="warn">feedstock.csv not written: {esc(feed_error)}</p>'
    sections.append(("feedstock", "Feedstock outlook for recyclers", body))

    # --- regions
    body = ""
    if n_regions > 1 and elements:
        base = charts.sel_for(ds, "metal_demand", scenario=scenario, element=elements[0], agg="sum", year_from=start, year_to=end, unit="t")
        title = f"Cumulative {elements[0]} demand {start}–{end} by region ({scenario})"
        axis = f"{elements[0]} demand {start}–{end}"
        body += figs.block(charts.regions_bar(ds, names, scenario, base, "t", title, axis),
                           charts.regions_png(ds, names, base, "t", title, plots / f"regions_{scenario}.png", axis))
    body += _regions_table(ds, names, scenario, elements, start, end)
    if cjk_font() is None:
        body += '<p class="note">No CJK font is installed for matplotlib: the PNGs label regions by their English names.</p>'
    sections.append(("regions", f"Regions, scenario {esc(scenario)}", body))

    # --- calibration
    sections.append(("calibration", "Calibration", '<p class="note">Model against the study\'s figures and the official NEV stock (differences beyond ±10 % in red). Source: <code>calibration.csv</code>.</p>' + _calibration_section(calibration)))

    # --- balance
    abs_err, rel_err = ds.attrs.get("max_abs_balance_error"), ds.attrs.get("max_rel_balance_error")
    rows, worst = _balance_rows(ds, system)
    body = '<div class="kpi">'
    for key, title, value in (("max_abs_balance_error", f"largest absolute error{worst}", abs_err),
                              ("max_rel_balance_error", "largest relative error [1]", rel_err)):
        if value is not None:
            body += f'<div>{title}<b data-attr="{key}" data-value="{float(value)!r}">{fmt(float(value))}</b></div>'
    body += "</div>"
    if rows:
        body += table(["process", "unit", "largest |error| logged by the run", "largest |error| in results.nc", "where (in results.nc)"], rows)
    sections.append(("balance", "Mass balance", '<p class="note">inflows − outflows − stock change of every process, per year.</p>' + body))

    # --- assumptions
    body = ('<p class="note">Grades: ' + "; ".join(f'<span class="g g{g}">{g}</span> {esc(t)}' for g, t in GRADE_TEXT.items())
            + ". Faded grades of scenario settings are inherited from the enclosing setting's comment.</p>")
    body += provenance_section(prov)
    sections.append(("assumptions", "Assumptions, sources and grades", body))

    # --- files
    files = [("results.nc", "all variables, CF-1.8 NetCDF"), ("summary.csv", "cumulative and milestone values"),
             ("calibration.csv", "model vs reference"), ("parameters.csv", "every setting and input row used, with source and grade"),
             ("parameters.nc", "every parameter value the run used, with units"), ("system.yaml", "the declared system: processes, flows, stocks")] + [(p.name, "written with this report") for p in written.values()]
    body = table(["file", "what"], [td(f) + td(w) for f, w in files if (out_dir / f).exists()])
    body += "<p class=\"note\">PNG versions of every figure are in <code>plots/</code>.</p>"
    sections.append(("files", "Files of this run", body))

    page = _page(ds, scenario, sections, plotly.offline.get_plotlyjs())
    path = out_dir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _capacity_side_by_side(ds, rows):
    """Capacity rows as one row of panels."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    scenarios = [str(s) for s in ds["scenario"].values]
    colour = charts.colours(scenarios)
    fig = make_subplots(rows=1, cols=len(rows), subplot_titles=[r["title"] for r in rows], horizontal_spacing=0.08)
    for j, row in enumerate(rows, start=1):
        for scenario in scenarios:
            sel = charts.sel_for(ds, row["var"], scenario=scenario, unit=row["unit"])
            x, y = charts.line(ds, sel)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=scenario, legendgroup=scenario, showlegend=(j == 1),
                                     line=dict(color=colour[scenario], width=2), meta=data.meta(sel),
                                     hovertemplate=f"{scenario} %{{x}}: %{{y:,.4~r}} {charts.label(row['unit'])}<extra></extra>"),
                          row=1, col=j)
        fig.update_yaxes(title_text=f"[{charts.label(row['unit'])}]", row=1, col=j, rangemode="tozero")
        fig.update_xaxes(title_text="year", row=1, col=j)
    fig.update_layout(title=dict(text="Battery capacity by scenario", x=0.01), height=400, template="plotly_white", font=dict(size=11),
                      margin=dict(l=60, r=20, t=90, b=40), legend=charts.legend(400))
    return fig


def _capacity_png(ds, rows, path):
    import matplotlib.pyplot as plt

    scenarios = [str(s) for s in ds["scenario"].values]
    colour = charts.colours(scenarios)
    fig, axes = plt.subplots(1, len(rows), figsize=(3.8 * len(rows), 3.6), squeeze=False, layout="constrained")
    for ax, row in zip(axes[0], rows):
        for scenario in scenarios:
            x, y = charts.line(ds, charts.sel_for(ds, row["var"], scenario=scenario, unit=row["unit"]))
            ax.plot(x, np.array(y, dtype=float), color=colour[scenario], label=scenario)
        ax.set_title(row["title"], fontsize=10)
        ax.set_ylabel(f"{row['title']} [{charts.label(row['unit'])}]", fontsize=9)
        ax.set_xlabel("year")
        ax.set_ylim(bottom=0)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Battery capacity by scenario", fontsize=11)
    return charts.save(fig, path)


def _page(ds: xr.Dataset, scenario: str, sections, plotly_js: str) -> str:
    case = ds.attrs.get("case", "")
    version = ds.attrs.get("package_version", "")
    history = ds.attrs.get("history", "")
    title = f"mfa report: {case}" if case else "mfa report"
    scen = ", ".join(str(s) for s in ds["scenario"].values)
    n_regions = ds.sizes.get("region", 1)
    years = f"{int(ds['year'].min())}–{int(ds['year'].max())}"
    nav = "".join(f'<a href="#{sid}">{esc(re.sub("<[^>]+>", "", t))}</a>' for sid, t, _ in sections)
    content = "".join(f'<section id="{sid}"><h2>{t}</h2>{b}</section>' for sid, t, b in sections)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS % {'fonts': CSS_FONT_STACK}}</style><script>{ERROR_TRAP}</script></head>"
        f'<body data-case="{esc(case)}" data-scenario="{esc(scenario)}">'
        f'<header class="top"><h1>{esc(title)}</h1>'
        f"<p>Dynamic material-flow model of EV traction batteries and their Li, Ni, Co, Mn. "
        f"Scenarios: {esc(scen)}; {n_regions} region{'s' if n_regions != 1 else ''}; years {years}.</p>"
        f"<p>mfa {esc(version)}; results: {esc(history)}; report written {stamp}.</p></header>"
        f"<nav>{nav}</nav><main><pre id=\"js-errors\"></pre>{content}</main>"
        f"<script>{plotly_js}</script><script>{LOADER}</script></body></html>"
    )
