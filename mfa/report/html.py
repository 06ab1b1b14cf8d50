"""``report.html``: one self-contained file that planners and recyclers open offline.

:func:`write_report` reads the run folder (``results.nc``, ``summary.csv``,
``calibration.csv``, ``parameters.csv``, ``system.yaml``, ``gis.nc``) and writes
``report.html`` beside it, with

- headline figures and the scenario comparison (demand, in use, end of life, recovery,
  carbon), fan charts when ``results.nc`` has a ``quantile`` dim;
- a Sankey of one year's flows (capacity in GWh/yr or metal in t/yr);
- the secondary-supply outlook (recovered / demand, first year at 20 % and 30 %) and the
  feedstock outlook (retired packs and their metal by destination), also written as
  ``secondary_supply*.csv`` and ``feedstock*.csv`` (:mod:`mfa.report.feedstock`);
- regions (with Chinese names, and a map when ``gis.nc`` has polygons), the calibration
  table, the mass balance, the assumptions (every row of ``parameters.csv`` with its
  source and grade) and the files of the run.

This module gathers each section's data (tables of cells with their provenance,
figures; :mod:`mfa.report.tables`, :mod:`mfa.report.cells`) and renders the jinja2
templates of ``templates/`` with autoescaping; the CSS and JS are files of ``static/``.
Everything is inline: plotly.js, the figures' JSON, the static PNGs (data URIs; the files
are in ``plots/``); no CDN, no web fonts. Every number carries ``data-*`` attributes that
say where it comes from, so tests can recompute it.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

import jinja2
import pandas as pd

from .. import definition
from ..errors import InputError
from ..io import atomic_path
from . import assets, charts, data, feedstock, files, geo, sankey, tables
from .cells import Figures, fmt
from .fonts import cjk_font
from .i18n import amount_unit, drawing, name, t, t_html

log = logging.getLogger(__name__)

METAL_ROWS = [  # title: a key of the catalogue's chart section
    {"var": "metal_demand", "unit": "t yr-1", "title": "demand"},
    {"var": "metal_in_use", "unit": "t", "title": "in_use"},
    {"var": "metal_end_of_life", "unit": "t yr-1", "title": "end_of_life"},
    {"var": "metal_recovered", "unit": "t yr-1", "title": "recovered"},
]
CAPACITY_ROWS = [
    {"var": "battery_capacity_demand", "unit": "GW h yr-1", "title": "capacity_demand"},
    {"var": "battery_capacity_in_use", "unit": "GW h", "title": "capacity_in_use"},
    {"var": "battery_end_of_life", "unit": "GW h yr-1", "title": "capacity_end_of_life"},
]
FAN_VARIABLES = [
    ("metal_demand", "t yr-1"),
    ("metal_recovered", "t yr-1"),
    ("metal_in_use", "t"),
    ("battery_capacity_demand", "GW h yr-1"),
    ("carbon_reduction", "Mt yr-1"),
    ("vehicle_stock", "1"),
]
"""Variables drawn as fans (titles: the catalogue's ``fan.<name>``): ``<name>_quantile``
(what ``mfa run --samples`` writes) or ``<name>`` itself when it has the ``quantile`` dim."""


def _titled(rows: list[dict]) -> list[dict]:
    return [{**row, "title": t(f"chart.{row['title']}")} for row in rows]


def fan_variable(ds, name: str) -> str | None:
    """The variable of ``ds`` that holds quantiles of ``name`` (``None`` if none does)."""
    for candidate in (f"{name}_quantile", name):
        if candidate in ds and data.QUANTILE in ds[candidate].dims:
            return candidate
    return None


def environment() -> jinja2.Environment:
    """The templates of ``mfa/report/templates``, HTML-escaped unless marked safe."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("mfa.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "html.j2"], default_for_string=True),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.globals["t"] = t_html
    return env


def _read_csv(path: Path, **kw) -> pd.DataFrame | None:
    return pd.read_csv(path, **kw) if path.exists() else None


class _Run:
    """What every section needs to know about the run folder."""

    def __init__(self, out_dir: Path, sankey_year: int, scenario: str | None):
        self.out_dir = out_dir
        nc = out_dir / "results.nc"
        if not nc.exists():
            raise InputError(nc, "results.nc", f"no results in this folder (run `mfa run --out {out_dir}` first)")
        self.ds = ds = data.open_results(nc)
        self.calibration = _read_csv(out_dir / "calibration.csv", dtype={"region": str})
        self.summary = _read_csv(out_dir / "summary.csv")
        self.prov = _read_csv(out_dir / "parameters.csv", dtype=str, keep_default_na=False)
        self.system = definition.load(out_dir / "system.yaml") if (out_dir / "system.yaml").exists() else definition.load()
        self.scenarios = [str(s) for s in ds["scenario"].values]
        self.scenario = self.scenarios[len(self.scenarios) // 2] if scenario is None else str(scenario)
        if self.scenario not in self.scenarios:
            raise InputError(nc, "scenario", f"{self.scenario!r} is not in the results (scenarios: {', '.join(self.scenarios)})")
        years = [int(y) for y in ds["year"].values]
        if int(sankey_year) not in years:
            raise InputError(nc, "sankey year", f"{sankey_year} is outside the results ({years[0]}-{years[-1]})")
        self.sankey_year = int(sankey_year)
        self.start, self.end = data.report_start(self.summary, ds), years[-1]
        self.elements = [q for q in sankey.quantities(ds) if q != sankey.CAPACITY]
        self.names = data.region_names(ds)
        self.plots = out_dir / "plots"
        self.median = data.median_quantile(ds)
        self.median_on_main = any(v in ds and data.QUANTILE in ds[v].dims for v in ("metal_demand", "battery_capacity_demand"))
        if len(self.names) == 1:
            r = self.names.iloc[0]
            self.where = t("page.where_one", name_en=r["name_en"], name_zh=r["name_zh"], code=r["code"]).replace("  ", " ")
        else:
            self.where = t("page.where_all", n=len(self.names)) if len(self.names) else ""
        self.figs = Figures()


def _comparison(run: _Run) -> dict:
    ds, figs, plots = run.ds, run.figs, run.plots
    figures = []
    cap_rows = _titled([r for r in CAPACITY_ROWS if r["var"] in ds])
    metal_rows = _titled([r for r in METAL_ROWS if r["var"] in ds])
    if cap_rows:
        figures.append(figs.block(charts.capacity(ds, cap_rows), charts.capacity_png(ds, cap_rows, plots / "comparison_capacity.png"),
                                  t("caption.capacity")))
    if metal_rows:
        columns = _element_columns(run.elements)
        title = t("chart.metals_by_scenario")
        figures.append(figs.block(charts.panels_by_scenario(ds, metal_rows, columns, title),
                                  charts.panels_png(ds, metal_rows, columns, title, plots / "comparison_metals.png"), t("caption.metals")))
    if "carbon_reduction" in ds or "avoided_metal_emissions" in ds:
        figures.append(figs.block(charts.carbon(ds), charts.carbon_png(ds, plots / "comparison_carbon.png"), t("caption.carbon")))
    return {"figures": figures}


def _element_columns(elements: list[str]) -> list[dict]:
    return [{"element": e, "title": name("element", e)} for e in elements]


def _fans(run: _Run) -> dict:
    ds = run.ds
    figures = []
    for variable, unit in FAN_VARIABLES:
        var = fan_variable(ds, variable)
        if var is None:
            continue
        if "element" in ds[var].dims:
            cols = _element_columns(run.elements)
        elif "bound" in ds[var].dims:
            cols = [{"bound": str(b), "title": t("chart.bound", bound=name("bound", b))} for b in ds["bound"].values]
        else:
            cols = [{"title": ""}]
        title = t(f"fan.{variable}")
        png = charts.fan_png(ds, var, unit, cols, title, run.plots / f"report_fan_{variable}.png")
        figures.append(run.figs.block(charts.fan(ds, var, unit, cols, title), png))
    return {"figures": figures, "samples": ds.attrs.get("samples"), "sampling": ds.attrs.get("sampling", ""),
            "seed": ds.attrs.get("seed", ""), "n_regions": len(run.names)}


def _regions(run: _Run) -> dict:
    ds, scenario, start, end = run.ds, run.scenario, run.start, run.end
    out = {"map": None, "figure": None, "cjk_font": cjk_font() is not None,
           "table": tables.regions_table(ds, run.names, scenario, run.elements, start, end)}
    if len(run.names) > 1 and run.elements:
        element = name("element", run.elements[0])
        base = charts.sel_for(ds, "metal_demand", scenario=scenario, element=run.elements[0], agg="sum", year_from=start, year_to=end,
                              unit=amount_unit(tables.TONNES))
        unit = charts.label(base["unit"])
        title = t("chart.regions_title", element=element, start=start, end=end, scenario=name("scenario", scenario))
        axis = t("chart.regions_axis", element=element, start=start, end=end)
        out["figure"] = run.figs.block(charts.regions_bar(ds, run.names, scenario, base, unit, title, axis),
                                       charts.regions_png(ds, run.names, base, unit, title, run.plots / f"regions_{scenario}.png", axis))
        shapes = geo.region_shapes(run.out_dir / "gis.nc")
        if shapes is not None:
            out["map"] = run.figs.block(geo.choropleth(ds, run.names, shapes, base, unit, title), None, t("caption.map"))
    return out


def _balance(run: _Run) -> dict:
    table, worst = tables.balance_table(run.ds, run.system)
    kpis = []
    for key, title in (("max_abs_balance_error", t("balance.largest_abs", worst=worst)), ("max_rel_balance_error", t("balance.largest_rel"))):
        value = run.ds.attrs.get(key)
        if value is not None:
            kpis.append({"attr": key, "title": title, "value": repr(float(value)), "text": fmt(float(value))})
    return {"kpis": kpis, "table": table}


def _sections(run: _Run) -> list[dict]:
    ds, scenario, start, end, figs = run.ds, run.scenario, run.start, run.end, run.figs
    try:
        written = feedstock.write_tables(ds, run.out_dir, start)
        feed_table, feed_error = pd.read_csv(written["feedstock"], dtype={"region": str}), None
    except ValueError as err:
        log.warning("feedstock tables not written: %s", err)
        feed_table, feed_error = None, str(err)
    shown = name("scenario", scenario)
    common = {"median": run.median, "median_on_main": run.median_on_main, "where": run.where, "scenario": shown,
              "n_regions": len(run.names)}

    def section(sid: str, title_args: dict | None = None, **content) -> dict:
        return {"id": sid, "title": t(f"section.{sid}", **(title_args or {})), **content}

    sections = [section("headline", start=start, end=end, **common, fleet=tables.fleet_headline(ds, run.scenarios, start, end),
                        metals=tables.metal_headline(ds, run.scenarios, run.elements, start, end)),
                section("comparison", **_comparison(run))]
    if data.has_quantiles(ds):
        sections.append(section("fans", **_fans(run)))
    sankey_png = sankey.static_png(ds, scenario, run.sankey_year, run.plots / f"sankey_{scenario}_{run.sankey_year}.png",
                                   quantile=run.median, system=run.system)
    sections.append(section("sankey", {"year": run.sankey_year}, year=run.sankey_year, **common,
                            figure=figs.block(sankey.figure(ds, scenario, run.sankey_year, quantile=run.median, system=run.system),
                                              sankey_png, t("caption.sankey"))))
    sections.append(section("supply", figure=figs.block(charts.secondary_supply(ds, run.elements),
                                                        charts.secondary_supply_png(ds, run.elements, run.plots / "secondary_supply.png")),
                            table=tables.supply_table(ds, run.scenarios, run.elements)))
    sections.append(section("feedstock", year=run.sankey_year, **common, error=feed_error,
                            figure=figs.block(charts.feedstock(ds, scenario, run.elements),
                                              charts.feedstock_png(ds, scenario, run.elements, run.plots / f"feedstock_{scenario}.png")),
                            cumulative=tables.feedstock_cumulative(ds, scenario, run.elements, start),
                            excerpt=None if feed_table is None else tables.feedstock_excerpt(feed_table, scenario, run.sankey_year,
                                                                                            len(run.names))))
    sections.append(section("regions", {"scenario": shown}, **_regions(run)))
    sections.append(section("calibration", notes=_calibration_notes(run.calibration),
                            table=None if run.calibration is None else tables.calibration_table(run.calibration, run.names)))
    sections.append(section("balance", **_balance(run)))
    sections.append(section("assumptions", grades=tables.grade_text(), groups=tables.provenance_groups(run.prov)))
    sections.append(section("files", table=files.files_table(run.out_dir)))
    return sections


def _calibration_notes(calibration: pd.DataFrame | None) -> list[str]:
    """What the rows compare, as calibration.csv says in its ``note`` column."""
    if calibration is None or "note" not in calibration.columns:
        return []
    return [str(n) for n in calibration["note"].dropna().unique() if str(n)]


def write_report(out_dir: Path, sankey_year: int = 2040, scenario: str | None = None, lang: str = "en") -> Path:
    """Write ``out_dir/report.html`` (and the feedstock and secondary-supply CSVs and the
    report's PNGs in ``out_dir/plots/``) from the run in ``out_dir``; return its path.

    ``scenario`` (default: the middle one) is the one shown in the Sankey, the feedstock
    and the regions; ``sankey_year`` the year of the Sankey; ``lang`` the language of the
    page and its PNGs (``en`` or ``zh``, :mod:`mfa.report.i18n`).
    """
    with drawing(lang):
        run = _Run(Path(out_dir), sankey_year, scenario)
        sections = _sections(run)
        ds = run.ds
        case = ds.attrs.get("case", "")
        page = environment().get_template("report.html.j2").render(
            lang=lang, title=t("page.title", case=case) if case else t("page.title_no_case"), case=case, scenario=run.scenario,
            scenarios=[name("scenario", s) for s in run.scenarios], elements=[name("element", e) for e in run.elements],
            n_regions=ds.sizes.get("region", 1), years=f"{int(ds['year'].min())}–{int(ds['year'].max())}",
            version=ds.attrs.get("package_version", ""), history=ds.attrs.get("history", ""),
            stamp=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), sections=sections, static=assets.static())
    path = run.out_dir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("report.html: %.2f MB", path.stat().st_size / 1e6)
    return path
