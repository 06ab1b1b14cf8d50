"""Sankey diagrams of one year's flows: interactive (plotly) and static (sankeyflow PNG).

Nodes follow the processes of ``mfa.model.PROCESSES``: new batteries -> in use -> end of
life (sorting) -> second use / collected / lost -> recovered / process loss. Packs
coming back from second use enter the sorting again; the part of the year's new
batteries that stays in cars is the net addition to the stock in use (a release from it
when the stock shrinks). Quantities: battery capacity (GWh/yr) or the metal of one
element (t/yr); capacity stops at collection (recovery is per element).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from . import data

NEW, IN_USE, ADDED, RELEASED = "new batteries", "in use", "added to stock in use", "released from stock in use"
EOL, BACK, SECOND, COLLECTED, LOST = "end of life (sorting)", "back from second use", "second use", "collected", "lost (not collected)"
RECOVERED, PROCESS_LOSS = "recovered", "recycling process loss"

LEVEL = {NEW: 0, RELEASED: 0, IN_USE: 1, BACK: 1, ADDED: 2, EOL: 2, SECOND: 3, COLLECTED: 3, LOST: 3, RECOVERED: 4, PROCESS_LOSS: 4}
COLOUR = {
    NEW: "#4c72b0", RELEASED: "#8c8c8c", IN_USE: "#4c72b0", BACK: "#55a868", ADDED: "#8c8c8c", EOL: "#dd8452",
    SECOND: "#55a868", COLLECTED: "#8172b3", LOST: "#c44e52", RECOVERED: "#2ca02c", PROCESS_LOSS: "#c44e52",
}

METAL_LINKS = [
    (NEW, IN_USE, "metal_demand", None),
    (IN_USE, ADDED, "metal_demand", "metal_end_of_life"),
    (IN_USE, EOL, "metal_end_of_life", None),
    (BACK, EOL, "metal_second_use_retired", None),
    (EOL, SECOND, "metal_second_use", None),
    (EOL, COLLECTED, "metal_collected", None),
    (EOL, LOST, "metal_uncollected", None),
    (COLLECTED, RECOVERED, "metal_recovered", None),
    (COLLECTED, PROCESS_LOSS, "metal_process_loss", None),
]
CAPACITY_LINKS = [
    (NEW, IN_USE, "battery_capacity_demand", None),
    (IN_USE, ADDED, "battery_capacity_demand", "battery_end_of_life"),
    (IN_USE, EOL, "battery_end_of_life", None),
    (BACK, EOL, "battery_second_use_retired", None),
    (EOL, SECOND, "battery_to_second_use", None),
    (EOL, COLLECTED, "battery_collected", None),
    (EOL, LOST, "battery_uncollected", None),
]
CAPACITY = "capacity"
UNITS = {CAPACITY: ("GW h yr-1", "GWh/yr"), "metal": ("t yr-1", "t/yr")}


def quantities(ds: xr.Dataset) -> list[str]:
    """``"capacity"`` and the elements of ``ds`` (Li, Ni, Co, Mn first)."""
    from .feedstock import ELEMENT_ORDER

    elements = [str(e) for e in ds["element"].values] if "element" in ds.dims else []
    ordered = [e for e in ELEMENT_ORDER if e in elements] + [e for e in elements if e not in ELEMENT_ORDER]
    return [CAPACITY] + ordered


def unit_of(quantity: str) -> tuple[str, str]:
    """(UDUNITS, label) of a quantity's flows."""
    return UNITS[CAPACITY] if quantity == CAPACITY else UNITS["metal"]


def label_of(quantity: str) -> str:
    return "battery capacity" if quantity == CAPACITY else quantity


def links(ds: xr.Dataset, scenario: str, year: int, quantity: str, region="all", quantile=None) -> list[dict]:
    """The year's links: ``source``, ``target``, ``value`` (>= 0) and ``sel`` (the
    selection that gives ``value``, see :mod:`mfa.report.data`)."""
    specs = CAPACITY_LINKS if quantity == CAPACITY else METAL_LINKS
    unit = unit_of(quantity)[0]
    out = []
    for source, target, var, minus in specs:
        if var not in ds or (minus and minus not in ds):
            continue
        sel = {"var": var, "scenario": str(scenario), "region": str(region), "year": int(year), "agg": "value", "unit": unit}
        if minus:
            sel["minus"] = minus
        if quantity != CAPACITY:
            sel["element"] = quantity
        if quantile is not None and data.QUANTILE in ds[var].dims:
            sel["quantile"] = quantile
        value = data.evaluate(ds, sel)
        if minus and value < 0:
            source, target = RELEASED, IN_USE
            sel["scale"] = -1.0
            value = -value
        out.append({"source": source, "target": target, "value": value, "sel": sel})
    return out


def _nodes(all_links: list[dict]) -> list[str]:
    names = {n for link in all_links for n in (link["source"], link["target"])}
    return sorted(names, key=lambda n: (LEVEL[n], list(LEVEL).index(n)))


def figure(ds: xr.Dataset, scenario: str, year: int, region="all", quantile=None, default: str = "Li", title: str | None = None):
    """A plotly figure: one Sankey per quantity, a menu to switch between them."""
    import plotly.graph_objects as go

    names = quantities(ds)
    default = default if default in names else names[0]
    fig = go.Figure()
    for q in names:
        ls = links(ds, scenario, year, q, region, quantile)
        nodes = _nodes(ls)
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
                    color=[COLOUR[n] for n in nodes],
                    pad=18,
                    thickness=18,
                    line=dict(color="#444", width=0.5),
                    align="left",
                ),
                link=dict(
                    source=[index[link["source"]] for link in ls],
                    target=[index[link["target"]] for link in ls],
                    value=[float(link["value"]) for link in ls],
                    color=[_alpha(COLOUR[link["target"]]) for link in ls],
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
    base = title or f"Flows of {year}, scenario {scenario}"
    return f"{base}: {label_of(quantity)} [{unit_of(quantity)[1]}]"


def _y(name: str, nodes: list[str]) -> float:
    same = [n for n in nodes if LEVEL[n] == LEVEL[name]]
    return 0.001 + 0.998 * (same.index(name) + 0.5) / len(same) if len(same) > 1 else 0.35


def _number(value: float) -> str:
    """A node value for a label: whole numbers with separators, 3 digits below 100."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _alpha(colour: str, alpha: float = 0.45) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def static_png(ds: xr.Dataset, scenario: str, year: int, path: Path, region="all", quantile=None, title: str | None = None) -> Path:
    """A PNG (sankeyflow, matplotlib) with one Sankey panel per quantity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sankeyflow import Sankey

    from ..io import atomic_path
    from .fonts import cjk_rc, safe_text

    names = quantities(ds)
    ncols = min(2, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    with cjk_rc():
        fig, axes = plt.subplots(nrows, ncols, figsize=(8.6 * ncols, 3.9 * nrows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        by_quantity = {q: links(ds, scenario, year, q, region, quantile) for q in names}
        for ax, q in zip(axes.flat, names):
            ls = [link for link in by_quantity[q] if link["value"] > 0]
            unit_label = unit_of(q)[1]
            ax.set_title(f"{label_of(q)} [{unit_label}]", fontsize=11)
            if not ls:
                ax.text(0.5, 0.5, "no flows in this year", ha="center", va="center", transform=ax.transAxes)
                continue
            levels: dict[int, dict[str, float]] = {}
            for link in ls:
                for node in (link["source"], link["target"]):
                    levels.setdefault(LEVEL[node], {}).setdefault(node, 0.0)
            inflow, outflow = {}, {}
            for link in ls:
                outflow[link["source"]] = outflow.get(link["source"], 0.0) + link["value"]
                inflow[link["target"]] = inflow.get(link["target"], 0.0) + link["value"]
            nodes = []
            for level in sorted(levels):
                row = []
                for node in sorted(levels[level], key=lambda n: list(LEVEL).index(n)):
                    value = max(inflow.get(node, 0.0), outflow.get(node, 0.0))
                    row.append((node, value, {"color": COLOUR[node], "label_opts": {"fontsize": 8},
                                              "label": f"{node}\n{_number(value)}", "label_format": "{label}",
                                              "label_pos": "right"}))
                nodes.append(row)
            flows = [(link["source"], link["target"], link["value"]) for link in ls]
            sankey = Sankey(flows=flows, nodes=nodes, flow_color_mode="dest", node_opts={"label_pad_x": 0.03})
            sankey.draw(ax=ax)
            ax.set_xlim(-0.05, 4.75)
            ax.axis("off")
        spare = list(axes.flat)[len(names):]
        if spare:
            where = "all regions" if str(region) == "all" else f"region {region}"
            note = (f"Flows of {year}, scenario {scenario}, {where}.\n"
                    "Capacity in GWh/yr, metal in t/yr.\n"
                    "'added to stock in use' = new batteries - end of life;\n"
                    "'back from second use' re-enters the sorting.")
            if quantile is not None and any("quantile" in link["sel"] for ls in by_quantity.values() for link in ls):
                note += f"\nQuantile {quantile:g} of each flow (flows need not balance)."
            spare[0].text(0.0, 0.9, note, va="top", ha="left", fontsize=10, transform=spare[0].transAxes)
        fig.suptitle(safe_text(title or f"Flows of {year}, scenario {scenario}"), fontsize=13)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
    return Path(path)
