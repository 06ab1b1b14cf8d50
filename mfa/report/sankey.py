"""Sankey diagrams of one year's flows: interactive (plotly) and static (sankeyflow PNG).

Nodes and links come from the declared system (:mod:`mfa.definition`): one node per
process a flow of the quantity touches, one link per flow, columns by the process's
distance from the sources. A flow that goes back to an earlier process (packs returning
from second use to sorting) starts from a node of its own one column before its target,
so the diagram has no loops; a process with a stock gets a link to "added to stock"
(or from "released from stock" when its stock shrinks). Quantities: battery capacity
(GWh/yr) or the material of one element (t/yr).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .. import definition
from . import data, i18n

CAPACITY = "capacity"
UNITS = {CAPACITY: "GW h yr-1", "metal": "t yr-1"}
PALETTE = ("#4c72b0", "#4c72b0", "#dd8452", "#55a868", "#8172b3", "#2ca02c", "#c44e52", "#937860", "#da8bc3", "#64b5cd")
GREY = "#8c8c8c"
BAD = {"environment": "#c44e52"}


def quantities(ds: xr.Dataset) -> list[str]:
    """``"capacity"`` and the elements of ``ds`` (Li, Ni, Co, Mn first)."""
    from .feedstock import ELEMENT_ORDER

    elements = [str(e) for e in ds["element"].values] if "element" in ds.dims else []
    ordered = [e for e in ELEMENT_ORDER if e in elements] + [e for e in elements if e not in ELEMENT_ORDER]
    return [CAPACITY] + ordered


def unit_of(quantity: str) -> tuple[str, str]:
    """(UDUNITS, label) of a quantity's flows."""
    from .charts import label

    unit = UNITS[CAPACITY] if quantity == CAPACITY else UNITS["metal"]
    return unit, label(unit)


def label_of(quantity: str) -> str:
    return i18n.t("sankey.capacity") if quantity == CAPACITY else i18n.name("element", quantity)


def process_label(system: definition.System, process: str) -> str:
    """A process's node name: the catalogue's word for it, else its label in system.yaml."""
    shown = i18n.name("process", process)
    return shown if shown != process else system.processes[process].label


def _system_quantity(quantity: str) -> str:
    return CAPACITY if quantity == CAPACITY else "metal"


def layout(system: definition.System, quantity: str) -> tuple[dict[str, int], dict[str, str]]:
    """Column and colour of every node a diagram of ``quantity`` can show."""
    q = _system_quantity(quantity)
    levels = system.levels(q)
    column, colour = {}, {}
    for i, (process, level) in enumerate(sorted(levels.items(), key=lambda kv: kv[1])):
        label = process_label(system, process)
        column[label] = level
        colour[label] = BAD.get(process, PALETTE[i % len(PALETTE)])
    for name in system.back_flows(q):
        var = system.variables[name]
        node = _back_node(system, var.from_)
        column[node] = levels[var.to] - 1
        colour[node] = colour[process_label(system, var.from_)]
    for process in levels:
        if system.stock(process, q):
            added, released = _stock_nodes(system, process)
            column[added], column[released] = levels[process] + 1, levels[process] - 1
            colour[added] = colour[released] = GREY
    return column, colour


def _back_node(system, process: str) -> str:
    return i18n.t("sankey.back_from", process=process_label(system, process))


def _stock_nodes(system, process: str) -> tuple[str, str]:
    label = process_label(system, process)
    return i18n.t("sankey.added", process=label), i18n.t("sankey.released", process=label)


def links(ds: xr.Dataset, scenario: str, year: int, quantity: str, region="all", quantile=None, system=None) -> list[dict]:
    """The year's links: ``source``, ``target``, ``value`` (>= 0) and ``sel`` (the
    selection that gives ``value``, see :mod:`mfa.report.data`)."""
    system = system or definition.load()
    q = _system_quantity(quantity)
    unit = unit_of(quantity)[0]
    label = {name: process_label(system, name) for name in system.processes}
    back = set(system.back_flows(q))

    def sel_of(var, **extra):
        sel = {"var": var, "scenario": str(scenario), "region": str(region), "year": int(year), "agg": "value", "unit": unit, **extra}
        if quantity != CAPACITY:
            sel["element"] = quantity
        if quantile is not None and data.QUANTILE in ds[var].dims:
            sel["quantile"] = quantile
        return sel

    out = []
    for source, target, var in system.flows_between(q):
        if var not in ds:
            continue
        sel = sel_of(var)
        start = _back_node(system, source) if var in back else label[source]
        out.append({"source": start, "target": label[target], "value": data.evaluate(ds, sel), "sel": sel})
    for process in system.levels(q):
        inflows, outflows = system.inflows(process, q), system.outflows(process, q)
        if not system.stock(process, q) or not all(v in ds for v in inflows + outflows):
            continue
        added, released = _stock_nodes(system, process)
        sel = sel_of(inflows[0], **({"plus": "+".join(inflows[1:])} if inflows[1:] else {}), minus="+".join(outflows))
        value = data.evaluate(ds, sel)
        if value >= 0:
            out.append({"source": label[process], "target": added, "value": value, "sel": sel})
        else:
            out.append({"source": released, "target": label[process], "value": -value, "sel": {**sel, "scale": -1.0}})
    return out


def _nodes(all_links: list[dict], column: dict[str, int]) -> list[str]:
    names = list(dict.fromkeys(n for link in all_links for n in (link["source"], link["target"])))
    return sorted(names, key=lambda n: (column[n], list(column).index(n)))


def figure(ds: xr.Dataset, scenario: str, year: int, region="all", quantile=None, default: str = "Li", title: str | None = None, system=None):
    """A plotly figure: one Sankey per quantity, a menu to switch between them."""
    import plotly.graph_objects as go

    system = system or definition.load()
    names = quantities(ds)
    default = default if default in names else names[0]
    fig = go.Figure()
    for q in names:
        ls = links(ds, scenario, year, q, region, quantile, system)
        column, colour = layout(system, q)
        nodes = _nodes(ls, column)
        index = {n: i for i, n in enumerate(nodes)}
        unit_label = unit_of(q)[1]
        fig.add_trace(
            go.Sankey(
                name=f"{label_of(q)} [{unit_label}]",
                visible=(q == default),
                arrangement="snap",
                valueformat=",.3~r",
                valuesuffix=f" {unit_label}",
                node=dict(
                    label=nodes,
                    color=[colour[n] for n in nodes],
                    pad=18,
                    thickness=18,
                    line=dict(color="#444", width=0.5),
                    align="left",
                ),
                link=dict(
                    source=[index[link["source"]] for link in ls],
                    target=[index[link["target"]] for link in ls],
                    value=[float(link["value"]) for link in ls],
                    color=[_alpha(colour[link["target"]]) for link in ls],
                ),
                meta={"links": [data.meta(link["sel"]) for link in ls], "quantity": q, "unit": unit_of(q)[0]},
            )
        )
    buttons = [
        dict(label=f"{label_of(q)} [{unit_of(q)[1]}]", method="update",
             args=[{"visible": [q == other for other in names]},
                   {"title.text": _title(title, q, scenario, year)}])
        for q in names
    ]
    fig.update_layout(
        title=dict(text=_title(title, default, scenario, year), x=0.01),
        updatemenus=[dict(buttons=buttons, direction="down", x=1.0, xanchor="right", y=1.16, yanchor="top",
                          active=names.index(default), showactive=True)],
        height=520,
        margin=dict(l=20, r=20, t=90, b=20),
        font=dict(size=12),
    )
    return fig


def _title(title: str | None, quantity: str, scenario: str, year: int) -> str:
    base = title or i18n.t("sankey.title", year=year, scenario=i18n.name("scenario", scenario))
    return f"{base}: {label_of(quantity)} [{unit_of(quantity)[1]}]"


def _number(value: float) -> str:
    """A node value for a label: whole numbers with separators, 3 digits below 100."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _alpha(colour: str, alpha: float = 0.45) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def static_png(ds: xr.Dataset, scenario: str, year: int, path: Path, region="all", quantile=None, title: str | None = None, system=None) -> Path:
    """A PNG (sankeyflow, matplotlib) with one Sankey panel per quantity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sankeyflow import Sankey

    from .fonts import cjk_rc, safe_text
    from .png import save

    system = system or definition.load()
    names = quantities(ds)
    ncols = min(2, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    with cjk_rc():
        fig, axes = plt.subplots(nrows, ncols, figsize=(8.6 * ncols, 3.9 * nrows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        by_quantity = {q: links(ds, scenario, year, q, region, quantile, system) for q in names}
        for ax, q in zip(axes.flat, names):
            ls = [link for link in by_quantity[q] if link["value"] > 0]
            unit_label = unit_of(q)[1]
            ax.set_title(f"{label_of(q)} [{unit_label}]", fontsize=11)
            if not ls:
                ax.text(0.5, 0.5, i18n.t("sankey.no_flows"), ha="center", va="center", transform=ax.transAxes)
                continue
            column, colour = layout(system, q)
            levels: dict[int, dict[str, float]] = {}
            for link in ls:
                for node in (link["source"], link["target"]):
                    levels.setdefault(column[node], {}).setdefault(node, 0.0)
            inflow, outflow = {}, {}
            for link in ls:
                outflow[link["source"]] = outflow.get(link["source"], 0.0) + link["value"]
                inflow[link["target"]] = inflow.get(link["target"], 0.0) + link["value"]
            nodes = []
            for level in sorted(levels):
                row = []
                for node in sorted(levels[level], key=lambda n: list(column).index(n)):
                    value = max(inflow.get(node, 0.0), outflow.get(node, 0.0))
                    row.append((node, value, {"color": colour[node], "label_opts": {"fontsize": 8},
                                              "label": f"{node}\n{_number(value)}", "label_format": "{label}",
                                              "label_pos": "right"}))
                nodes.append(row)
            flows = [(link["source"], link["target"], link["value"]) for link in ls]
            sankey = Sankey(flows=flows, nodes=nodes, flow_color_mode="dest", node_opts={"label_pad_x": 0.03})
            sankey.draw(ax=ax)
            ax.set_xlim(-0.05, max(column.values()) + 0.75)
            ax.axis("off")
        spare = list(axes.flat)[len(names):]
        if spare:
            where = i18n.t("sankey.png_all_regions") if str(region) == "all" else i18n.t("sankey.png_region", region=region)
            note = i18n.t("sankey.png_note", year=year, scenario=i18n.name("scenario", scenario), where=where)
            if quantile is not None and any("quantile" in link["sel"] for ls in by_quantity.values() for link in ls):
                note += i18n.t("sankey.png_quantile", quantile=quantile)
            spare[0].text(0.0, 0.9, note, va="top", ha="left", fontsize=10, transform=spare[0].transAxes)
        fig.suptitle(safe_text(title or i18n.t("sankey.title", year=year, scenario=i18n.name("scenario", scenario))), fontsize=13)
        fig.tight_layout()
        save(fig, path)
    return Path(path)
