"""The report's figures: each as a plotly figure (for report.html) and a matplotlib PNG.

Every plotly trace carries a ``meta`` selection (:mod:`mfa.report.data`) that says which
numbers of ``results.nc`` it draws, so the report can be checked against the file.
Regions are summed (``region = "all"``); with a ``quantile`` dim, lines are medians and
:func:`fan` draws the 5-95 % and 25-75 % bands.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .. import definition
from . import data, i18n
from .fonts import cjk_rc, region_label, safe_text
from .png import save

PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]
def legend(height: float) -> dict:
    """Scenario legend: top right, level with the figure title, below plotly's mode bar and
    clear of the panel titles (``height``: the figure's, px)."""
    return dict(orientation="h", yref="container", y=1 - 34 / float(height), yanchor="top", x=1, xanchor="right", font=dict(size=12))


def label(unit: str) -> str:
    """A reader's label for a UDUNITS unit (``"GW h yr-1"`` -> ``"GWh/yr"``): the
    catalogue's (``units:`` of ``locale/<lang>.yaml``), else the unit tidied."""
    unit = str(unit)
    known = i18n.unit_label(unit)
    if known is not None:
        return known
    text = " ".join(unit.split())
    for prefix in ("", "k", "M", "G", "T"):
        text = text.replace(f"{prefix}W h", f"{prefix}Wh").replace(f"h {prefix}W", f"{prefix}Wh")
    if text.endswith(" yr-1"):
        text = text[: -len(" yr-1")] + "/yr"
    return text


def colours(scenarios) -> dict[str, str]:
    return {str(s): PALETTE[i % len(PALETTE)] for i, s in enumerate(scenarios)}


def sel_for(ds: xr.Dataset, var: str, **kw) -> dict:
    """A selection of ``var`` with the median quantile added when ``var`` has quantiles."""
    sel = {"var": var, **{k: v for k, v in kw.items() if v is not None}}
    sel.setdefault("region", "all")
    sel.setdefault("agg", "value")
    if data.QUANTILE in ds[var].dims and "quantile" not in sel:
        sel["quantile"] = data.median_quantile(ds)
    return sel


_LINES: dict[int, dict[str, tuple]] = {}
"""Lines drawn so far, per live dataset (by ``id``; an entry goes when its dataset does)."""


def line(ds: xr.Dataset, sel: dict) -> tuple[list[int], list[float | None]]:
    """Years and values of a selection by year (``None`` where not finite); cached, as
    the interactive and the static figure draw the same lines."""
    if id(ds) not in _LINES:
        _LINES[id(ds)] = {}
        weakref.finalize(ds, _LINES.pop, id(ds), None)  # an id is reused once its dataset is gone
    lines = _LINES[id(ds)]
    key = json.dumps(sel, sort_keys=True, default=str)
    if key not in lines:
        s = data.series(ds, sel)
        values = [None if not np.isfinite(v) else float(v) for v in np.asarray(s.values, dtype=float)]
        lines[key] = ([int(y) for y in s["year"].values], values)
    x, y = lines[key]
    return list(x), list(y)


# --------------------------------------------------------------------------- grids of lines


def panels_by_scenario(ds: xr.Dataset, rows: list[dict], columns: list[dict], title: str, height_per_row: int = 230):
    """A plotly grid: ``rows`` x ``columns`` of panels, one line per scenario.

    Each row is ``{"var", "unit", "title"}`` (plus selection keys), each column a dict of
    selection keys with a ``"title"``; the selection of a panel is their union."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    titles = [f"{r['title']}: {c['title']}" if c.get("title") else r["title"] for r in rows for c in columns]
    fig = make_subplots(rows=len(rows), cols=len(columns), subplot_titles=titles, horizontal_spacing=0.06,
                        vertical_spacing=min(0.12, 0.3 / max(len(rows), 1)))
    for i, row in enumerate(rows, start=1):
        for j, column in enumerate(columns, start=1):
            spec = {k: v for k, v in {**row, **column}.items() if k not in ("title", "var")}
            for scenario in scenarios:
                shown = i18n.name("scenario", scenario)
                sel = sel_for(ds, row["var"], scenario=scenario, **spec)
                x, y = line(ds, sel)
                fig.add_trace(
                    go.Scatter(x=x, y=y, mode="lines", name=shown, legendgroup=scenario,
                               showlegend=(i == 1 and j == 1), line=dict(color=colour[scenario], width=2),
                               meta=data.meta(sel),
                               hovertemplate=f"{shown} %{{x}}: %{{y:,.4~r}} {label(sel['unit'])}<extra></extra>"),
                    row=i, col=j,
                )
            fig.update_yaxes(title_text=f"[{label(row['unit'])}]", row=i, col=j, rangemode="tozero")
            fig.update_xaxes(title_text=i18n.t("chart.year") if i == len(rows) else None, row=i, col=j)
    height = 120 + height_per_row * len(rows)
    fig.update_layout(title=dict(text=title, x=0.01), height=height,
                      margin=dict(l=60, r=20, t=90, b=40), legend=legend(height),
                      template="plotly_white", font=dict(size=11))
    fig.update_annotations(font_size=12)
    return fig


def panels_png(ds: xr.Dataset, rows: list[dict], columns: list[dict], title: str, path: Path) -> Path:
    """The matplotlib twin of :func:`panels_by_scenario`."""
    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    with cjk_rc():
        width, height = 3.4 * len(columns) + 0.6, 2.6 * len(rows) + 0.8
        fig, axes = plt.subplots(len(rows), len(columns), figsize=(width, height), squeeze=False, sharex=True)
        fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=0.55 / height, top=1 - 0.7 / height,
                            wspace=0.45, hspace=0.35)
        for i, row in enumerate(rows):
            for j, column in enumerate(columns):
                ax = axes[i][j]
                spec = {k: v for k, v in {**row, **column}.items() if k not in ("title", "var")}
                for scenario in scenarios:
                    shown = i18n.name("scenario", scenario)
                    x, y = line(ds, sel_for(ds, row["var"], scenario=scenario, **spec))
                    ax.plot(x, np.array(y, dtype=float), color=colour[scenario], label=shown)
                ax.set_title(f"{row['title']}: {column['title']}" if column.get("title") else row["title"], fontsize=9)
                ax.set_ylabel(f"[{label(row['unit'])}]", fontsize=8)
                ax.tick_params(labelsize=8)
                ax.set_ylim(bottom=0)
                if i == len(rows) - 1:
                    ax.set_xlabel(i18n.t("chart.year"), fontsize=8)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(safe_text(title))
        return save(fig, path)


def capacity(ds: xr.Dataset, rows: list[dict]):
    """Capacity rows as one row of panels."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    fig = make_subplots(rows=1, cols=len(rows), subplot_titles=[r["title"] for r in rows], horizontal_spacing=0.08)
    for j, row in enumerate(rows, start=1):
        for scenario in scenarios:
            shown = i18n.name("scenario", scenario)
            sel = sel_for(ds, row["var"], scenario=scenario, unit=row["unit"])
            x, y = line(ds, sel)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=shown, legendgroup=scenario, showlegend=(j == 1),
                                     line=dict(color=colour[scenario], width=2), meta=data.meta(sel),
                                     hovertemplate=f"{shown} %{{x}}: %{{y:,.4~r}} {label(row['unit'])}<extra></extra>"),
                          row=1, col=j)
        fig.update_yaxes(title_text=f"[{label(row['unit'])}]", row=1, col=j, rangemode="tozero")
        fig.update_xaxes(title_text=i18n.t("chart.year"), row=1, col=j)
    fig.update_layout(title=dict(text=i18n.t("chart.capacity_by_scenario"), x=0.01), height=400, template="plotly_white", font=dict(size=11),
                      margin=dict(l=60, r=20, t=90, b=40), legend=legend(400))
    return fig


def capacity_png(ds: xr.Dataset, rows: list[dict], path: Path) -> Path:
    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    fig, axes = plt.subplots(1, len(rows), figsize=(3.8 * len(rows), 3.6), squeeze=False, layout="constrained")
    for ax, row in zip(axes[0], rows):
        for scenario in scenarios:
            shown = i18n.name("scenario", scenario)
            x, y = line(ds, sel_for(ds, row["var"], scenario=scenario, unit=row["unit"]))
            ax.plot(x, np.array(y, dtype=float), color=colour[scenario], label=shown)
        ax.set_title(row["title"], fontsize=10)
        ax.set_ylabel(f"{row['title']} [{label(row['unit'])}]", fontsize=9)
        ax.set_xlabel(i18n.t("chart.year"))
        ax.set_ylim(bottom=0)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(i18n.t("chart.capacity_by_scenario"), fontsize=11)
    return save(fig, path)


# --------------------------------------------------------------------------- carbon


def carbon(ds: xr.Dataset):
    """Use-phase CO2 reduction (band between the bounds) and avoided primary-metal CO2."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    fig = make_subplots(rows=1, cols=2, subplot_titles=[i18n.t("chart.carbon_reduction"), i18n.t("chart.carbon_avoided")],
                        horizontal_spacing=0.1)
    bounds = [str(b) for b in ds["bound"].values] if "bound" in ds.dims else []
    for scenario in scenarios:
        shown = i18n.name("scenario", scenario)
        if "carbon_reduction" in ds:
            for k, bound in enumerate(bounds):
                sel = sel_for(ds, "carbon_reduction", scenario=scenario, bound=bound, unit="Mt yr-1")
                x, y = line(ds, sel)
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=shown, legendgroup=scenario, showlegend=(k == 0),
                                         line=dict(color=colour[scenario], width=1), fill="tonexty" if k else None,
                                         fillcolor=_rgba(colour[scenario], 0.25), meta=data.meta(sel),
                                         hovertemplate=f"{shown} ({i18n.name('bound', bound)}) %{{x}}: %{{y:,.3~r}} {label('Mt yr-1')}<extra></extra>"),
                              row=1, col=1)
        if "avoided_metal_emissions" in ds:
            sel = sel_for(ds, "avoided_metal_emissions", scenario=scenario, unit="Gg yr-1")
            x, y = line(ds, sel)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=shown, legendgroup=scenario, showlegend=False,
                                     line=dict(color=colour[scenario], width=2), meta=data.meta(sel),
                                     hovertemplate=f"{shown} %{{x}}: %{{y:,.3~r}} {label('Gg yr-1')}<extra></extra>"),
                          row=1, col=2)
    fig.update_yaxes(title_text=f"[{label('Mt yr-1')}]", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text=f"[{label('Gg yr-1')}]", row=1, col=2, rangemode="tozero")
    fig.update_xaxes(title_text=i18n.t("chart.year"))
    fig.update_layout(title=dict(text=i18n.t("chart.carbon"), x=0.01), height=420, template="plotly_white", font=dict(size=11),
                      margin=dict(l=60, r=20, t=90, b=40), legend=legend(420))
    return fig


def carbon_png(ds: xr.Dataset, path: Path) -> Path:
    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    bounds = [str(b) for b in ds["bound"].values] if "bound" in ds.dims else []
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for scenario in scenarios:
        shown = i18n.name("scenario", scenario)
        if "carbon_reduction" in ds and bounds:
            lines = [line(ds, sel_for(ds, "carbon_reduction", scenario=scenario, bound=bd, unit="Mt yr-1")) for bd in bounds]
            x = lines[0][0]
            ys = np.array([np.array(y, dtype=float) for _, y in lines])
            a.fill_between(x, ys.min(0), ys.max(0), color=colour[scenario], alpha=0.3, label=shown)
        if "avoided_metal_emissions" in ds:
            x, y = line(ds, sel_for(ds, "avoided_metal_emissions", scenario=scenario, unit="Gg yr-1"))
            b.plot(x, np.array(y, dtype=float), color=colour[scenario], label=shown)
    a.set_title(i18n.t("chart.carbon_reduction"), fontsize=10)
    a.set_ylabel(f"{i18n.t('chart.carbon_reduction_axis')} [{label('Mt yr-1')}]")
    b.set_title(i18n.t("chart.carbon_avoided"), fontsize=10)
    b.set_ylabel(f"{i18n.t('chart.carbon_avoided_axis')} [{label('Gg yr-1')}]")
    for ax in (a, b):
        ax.set_xlabel(i18n.t("chart.year"))
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    return save(fig, path)


def _rgba(colour: str, alpha: float) -> str:
    c = colour.lstrip("#")
    return f"rgba({int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},{alpha})"


# --------------------------------------------------------------------------- secondary supply


def secondary_supply(ds: xr.Dataset, elements: list[str], thresholds=(0.2, 0.3)):
    """Recovered metal as a share of demand (%), one panel per element, one line per scenario."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    fig = make_subplots(rows=1, cols=len(elements), subplot_titles=[i18n.name("element", e) for e in elements], horizontal_spacing=0.05,
                        shared_yaxes=True)
    for j, element in enumerate(elements, start=1):
        for scenario in scenarios:
            shown = i18n.name("scenario", scenario)
            sel = sel_for(ds, "metal_recovered", scenario=scenario, element=element, agg="ratio", den="metal_demand", unit="percent")
            x, y = line(ds, sel)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=shown, legendgroup=scenario, showlegend=(j == 1),
                                     line=dict(color=colour[scenario], width=2), meta=data.meta(sel),
                                     hovertemplate=f"{shown} {i18n.name('element', element)} %{{x}}: %{{y:.1f}} %<extra></extra>"),
                          row=1, col=j)
        for t in thresholds:
            fig.add_hline(y=100 * t, line=dict(color="#555", dash="dot", width=1), row=1, col=j)
        fig.update_xaxes(title_text=i18n.t("chart.year"), row=1, col=j)
    fig.update_yaxes(title_text=f"{i18n.t('chart.supply_axis')} [%]", row=1, col=1, rangemode="tozero")
    fig.update_layout(title=dict(text=i18n.t("chart.supply_title"), x=0.01),
                      height=400, template="plotly_white", font=dict(size=11), margin=dict(l=60, r=20, t=90, b=40),
                      legend=legend(400))
    return fig


def secondary_supply_png(ds: xr.Dataset, elements: list[str], path: Path, thresholds=(0.2, 0.3)) -> Path:
    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    fig, axes = plt.subplots(1, len(elements), figsize=(3.3 * len(elements), 3.5), sharey=True, squeeze=False, layout="constrained")
    top = 100 * max(thresholds)
    for ax, element in zip(axes[0], elements):
        for scenario in scenarios:
            shown = i18n.name("scenario", scenario)
            x, y = line(ds, sel_for(ds, "metal_recovered", scenario=scenario, element=element, agg="ratio", den="metal_demand", unit="percent"))
            ax.plot(x, np.array(y, dtype=float), color=colour[scenario], label=shown)
            top = max([top] + [v for v in y if v is not None])
        for t in thresholds:
            ax.axhline(100 * t, color="0.4", ls=":", lw=1)
        ax.set_title(i18n.name("element", element))
        ax.set_xlabel(i18n.t("chart.year"))
    # one range for the shared axis, set once all panels are drawn: set per panel, the
    # first one's top froze the others (Ni, Co, Mn reaching 86 % were cut at Li's 80 %)
    axes[0][0].set_ylim(0, 1.05 * top)
    axes[0][0].set_ylabel(f"{i18n.t('chart.supply_axis')} [%]")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(i18n.t("chart.supply_title"), fontsize=11)
    return save(fig, path)


# --------------------------------------------------------------------------- feedstock


def stream_name(stream: str) -> str:
    """A feedstock stream for reading (``from_second_use`` -> ``from second use``)."""
    return i18n.name("stream", stream).replace("_", " ")


def _feed_streams() -> list[tuple[str, str, str]]:
    """(stream as shown, capacity variable, colour) of where retired packs go: the outputs
    of the declared feedstock process, coloured as their destination in the Sankey."""
    from .feedstock import streams
    from .sankey import layout, process_label

    system = definition.load()
    colour = layout(system, "capacity")[1]
    return [(stream_name(name), var, colour[process_label(system, system.variables[var].to)]) for name, var in streams("out").items()]


def feedstock(ds: xr.Dataset, scenario: str, elements: list[str]):
    """Where retired packs go (GWh/yr, stacked) and the metal collected (t/yr), one scenario."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    shown = i18n.name("scenario", scenario)
    fig = make_subplots(rows=1, cols=2, subplot_titles=[i18n.t("chart.feed_destination", scenario=shown),
                                                         i18n.t("chart.feed_collected", scenario=shown)], horizontal_spacing=0.1)
    for name, var, colour in _feed_streams():
        if var not in ds:
            continue
        sel = sel_for(ds, var, scenario=scenario, unit="GW h yr-1")
        x, y = line(ds, sel)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", stackgroup="streams", name=name, line=dict(color=colour, width=0.5),
                                 meta=data.meta(sel), hovertemplate=f"{name} %{{x}}: %{{y:,.3~r}} {label('GW h yr-1')}<extra></extra>"), row=1, col=1)
    for k, element in enumerate(elements):
        sel = sel_for(ds, "metal_collected", scenario=scenario, element=element, unit="t yr-1")
        x, y = line(ds, sel)
        element_name = i18n.name("element", element)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=i18n.t("chart.collected", element=element_name),
                                 line=dict(color=PALETTE[k % len(PALETTE)], width=2),
                                 meta=data.meta(sel), hovertemplate=f"{element_name} %{{x}}: %{{y:,.4~r}} {label('t yr-1')}<extra></extra>"), row=1, col=2)
    fig.update_yaxes(title_text=f"[{label('GW h yr-1')}]", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text=f"[{label('t yr-1')}]", row=1, col=2, rangemode="tozero")
    fig.update_xaxes(title_text=i18n.t("chart.year"))
    fig.update_layout(title=dict(text=i18n.t("chart.feed_title"), x=0.01), height=420, template="plotly_white", font=dict(size=11),
                      margin=dict(l=60, r=20, t=90, b=40))
    return fig


def feedstock_png(ds: xr.Dataset, scenario: str, elements: list[str], path: Path) -> Path:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    curves, names, cols = [], [], []
    for name, var, colour in _feed_streams():
        if var in ds:
            x, y = line(ds, sel_for(ds, var, scenario=scenario, unit="GW h yr-1"))
            curves.append(np.array(y, dtype=float))
            names.append(name)
            cols.append(colour)
    if curves:
        a.stackplot(x, *curves, labels=names, colors=cols, alpha=0.8)
    shown = i18n.name("scenario", scenario)
    a.set_title(i18n.t("chart.feed_destination", scenario=shown), fontsize=10)
    a.set_ylabel(f"{i18n.t('chart.feed_capacity_axis')} [{label('GW h yr-1')}]")
    for k, element in enumerate(elements):
        x, y = line(ds, sel_for(ds, "metal_collected", scenario=scenario, element=element, unit="t yr-1"))
        b.plot(x, np.array(y, dtype=float), color=PALETTE[k % len(PALETTE)], label=i18n.name("element", element))
    b.set_title(i18n.t("chart.feed_collected", scenario=shown), fontsize=10)
    b.set_ylabel(f"{i18n.t('chart.feed_metal_axis')} [{label('t yr-1')}]")
    for ax in (a, b):
        ax.set_xlabel(i18n.t("chart.year"))
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper left")
    return save(fig, path)


# --------------------------------------------------------------------------- regions


def regions_bar(ds: xr.Dataset, names, scenario: str, sel_base: dict, unit_label: str, title: str, axis: str = ""):
    """Horizontal bars: one number per region (``sel_base`` without the region)."""
    import plotly.graph_objects as go

    codes = [str(c) for c in names["code"]]
    values = [data.evaluate(ds, {**sel_base, "region": code}) for code in codes]
    order = np.argsort(values)
    labels = [region_label(names["name_en"].iloc[i], names["name_zh"].iloc[i], for_matplotlib=False) for i in order]
    fig = go.Figure(go.Bar(x=[values[i] for i in order], y=labels, orientation="h", marker_color=PALETTE[0],
                           meta={"regions": [codes[i] for i in order], **data.meta({k: v for k, v in sel_base.items() if k != "region"})},
                           hovertemplate=f"%{{y}}: %{{x:,.4~r}} {unit_label}<extra></extra>"))
    fig.update_layout(title=dict(text=title, x=0.01), height=max(300, 60 + 22 * len(codes)), template="plotly_white",
                      xaxis_title=f"{axis} [{unit_label}]".strip(), margin=dict(l=160, r=20, t=60, b=40), font=dict(size=11))
    return fig


def regions_png(ds: xr.Dataset, names, sel_base: dict, unit_label: str, title: str, path: Path, axis: str = "") -> Path:
    codes = [str(c) for c in names["code"]]
    values = np.array([data.evaluate(ds, {**sel_base, "region": code}) for code in codes])
    order = np.argsort(values)
    with cjk_rc():
        labels = [region_label(names["name_en"].iloc[i], names["name_zh"].iloc[i]) for i in order]
        fig, ax = plt.subplots(figsize=(8, max(3.0, 0.28 * len(codes) + 1.2)), layout="constrained")
        ax.barh(range(len(codes)), values[order], color=PALETTE[0])
        ax.set_yticks(range(len(codes)), labels, fontsize=8)
        ax.set_xlabel(f"{axis} [{unit_label}]".strip())
        ax.set_title(safe_text(title), fontsize=10)
        return save(fig, path)


# --------------------------------------------------------------------------- fans


FAN_BANDS = ((0.05, 0.95), (0.25, 0.75))


def _nearest(ds: xr.Dataset, q: float):
    values = np.asarray(ds[data.QUANTILE].values, dtype=float)
    i = int(np.argmin(np.abs(values - q)))
    return float(values[i]) if abs(values[i] - q) < 0.026 else None


def fan_bands(ds: xr.Dataset) -> list[tuple[float, float]]:
    """The 5-95 % and 25-75 % bands the quantile dim can draw (nearest quantiles)."""
    out = []
    for lo, hi in FAN_BANDS:
        a, b = _nearest(ds, lo), _nearest(ds, hi)
        if a is not None and b is not None and a < b:
            out.append((a, b))
    return out


def fan(ds: xr.Dataset, var: str, unit: str, columns: list[dict], title: str):
    """Plotly fan chart of ``var``: per column (e.g. element) and scenario, the bands and the median."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    median = data.median_quantile(ds)
    fig = make_subplots(rows=1, cols=len(columns), subplot_titles=[c.get("title", "") for c in columns], horizontal_spacing=0.06)
    for j, column in enumerate(columns, start=1):
        spec = {k: v for k, v in column.items() if k != "title"}
        for scenario in scenarios:
            shown = i18n.name("scenario", scenario)
            for lo, hi in fan_bands(ds):
                alpha = 0.15 if hi - lo > 0.6 else 0.3
                for k, q in enumerate((lo, hi)):
                    sel = sel_for(ds, var, scenario=scenario, unit=unit, quantile=q, **spec)
                    x, y = line(ds, sel)
                    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(width=0, color=colour[scenario]), showlegend=False,
                                             legendgroup=scenario, fill="tonexty" if k else None, fillcolor=_rgba(colour[scenario], alpha),
                                             name=f"{shown} {q:.0%}", meta=data.meta(sel),
                                             hovertemplate=f"{shown} q{q:.2f} %{{x}}: %{{y:,.4~r}} {label(unit)}<extra></extra>"),
                                  row=1, col=j)
            sel = sel_for(ds, var, scenario=scenario, unit=unit, quantile=median, **spec)
            x, y = line(ds, sel)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=i18n.t("chart.median", scenario=shown), legendgroup=scenario, showlegend=(j == 1),
                                     line=dict(color=colour[scenario], width=2), meta=data.meta(sel),
                                     hovertemplate=f"{shown} {i18n.t('chart.median_hover')} %{{x}}: %{{y:,.4~r}} {label(unit)}<extra></extra>"),
                          row=1, col=j)
        fig.update_xaxes(title_text=i18n.t("chart.year"), row=1, col=j)
    fig.update_yaxes(title_text=f"[{label(unit)}]", row=1, col=1, rangemode="tozero")
    bands = ", ".join(f"{lo:.0%}-{hi:.0%}" for lo, hi in fan_bands(ds))
    fig.update_layout(title=dict(text=i18n.t("chart.fan_title", title=title, bands=bands), x=0.01), height=400, template="plotly_white",
                      font=dict(size=11), margin=dict(l=60, r=20, t=90, b=40),
                      legend=legend(400))
    return fig


def fan_png(ds: xr.Dataset, var: str, unit: str, columns: list[dict], title: str, path: Path) -> Path:
    scenarios = [str(s) for s in ds["scenario"].values]
    colour = colours(scenarios)
    median = data.median_quantile(ds)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.4 * len(columns) + 0.6, 3.6), squeeze=False, layout="constrained")
    for ax, column in zip(axes[0], columns):
        spec = {k: v for k, v in column.items() if k != "title"}
        for scenario in scenarios:
            shown = i18n.name("scenario", scenario)
            for lo, hi in fan_bands(ds):
                x, ylo = line(ds, sel_for(ds, var, scenario=scenario, unit=unit, quantile=lo, **spec))
                _, yhi = line(ds, sel_for(ds, var, scenario=scenario, unit=unit, quantile=hi, **spec))
                ax.fill_between(x, np.array(ylo, dtype=float), np.array(yhi, dtype=float), color=colour[scenario],
                                alpha=0.15 if hi - lo > 0.6 else 0.3, lw=0)
            x, y = line(ds, sel_for(ds, var, scenario=scenario, unit=unit, quantile=median, **spec))
            ax.plot(x, np.array(y, dtype=float), color=colour[scenario], label=shown)
        ax.set_title(column.get("title", ""))
        ax.set_xlabel(i18n.t("chart.year"))
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel(f"{title} [{label(unit)}]")
    axes[0][0].legend(fontsize=8)
    bands = ", ".join(f"{lo:.0%}-{hi:.0%}" for lo, hi in fan_bands(ds))
    fig.suptitle(i18n.t("chart.fan_title", title=title, bands=bands), fontsize=11)
    return save(fig, path)
