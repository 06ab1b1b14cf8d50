"""Waterfall charts of an attribution: from case A, group by group, to case B."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

from .charts import label  # noqa: E402
from .png import save  # noqa: E402


def waterfall(ds: xr.Dataset, element: str, path: Path, figure: str = "cumulative_demand") -> Path:
    """One panel per scenario: ``figure`` of ``element`` in case A, each group's effect,
    the interaction remainder, and case B."""
    a, b = ds.attrs["case_a"], ds.attrs["case_b"]
    parts = ds[f"{figure}_attribution"].sel(element=element)
    values = ds[figure].sel(element=element)
    unit = ds[figure].attrs["units"]
    scenarios = list(ds["scenario"].values)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.6 * len(scenarios), 4.2), sharey=True, layout="constrained", squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        start, end = float(values.sel(case=a, scenario=scenario)), float(values.sel(case=b, scenario=scenario))
        labels, bottoms, heights, colours = [a], [0.0], [start], ["0.5"]
        level = start
        for group in parts["group"].values:
            step = float(parts.sel(group=group, scenario=scenario))
            labels.append(str(group))
            bottoms.append(level if step >= 0 else level + step)
            heights.append(abs(step))
            colours.append("tab:green" if step >= 0 else "tab:red")
            level += step
        labels.append(b)
        bottoms.append(0.0)
        heights.append(end)
        colours.append("0.3")
        ax.bar(range(len(labels)), heights, bottom=bottoms, color=colours)
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
        ax.set_title(str(scenario))
    axes[0][0].set_ylabel(f"{ds[figure].attrs['long_name']}, {element} [{label(unit)}]")
    fig.suptitle(f"{element}: {a} -> {b}, by group of assumptions")
    return save(fig, path)
