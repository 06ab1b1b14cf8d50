"""PNG plots of a run: demand, recovery and carbon by scenario; demand by chemistry."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

from .. import definition  # noqa: E402
from ..units import udunits  # noqa: E402
from . import i18n  # noqa: E402
from .charts import label  # noqa: E402
from .png import save as _save  # noqa: E402


def _unit(da: xr.DataArray) -> str:
    """The axis label of ``da``'s unit, as a reader writes it (``t/yr``, ``GWh/yr``)."""
    return label(udunits(da.data.units))


def _all_regions(da: xr.DataArray) -> xr.DataArray:
    """The sum over regions (a single region is itself)."""
    return da.sum("region") if "region" in da.dims else da


def metal_by_scenario(results: xr.Dataset, variable: str, title: str, path: Path) -> Path:
    """One panel per element, one line per scenario (all regions summed)."""
    da = _all_regions(results[variable])
    elements = list(da["element"].values)
    fig, axes = plt.subplots(1, len(elements), figsize=(3.2 * len(elements), 3.4), sharex=True, layout="constrained")
    for ax, element in zip(axes, elements):
        for scenario in da["scenario"].values:
            series = da.sel(element=element, scenario=scenario).pint.dequantify()
            ax.plot(series["year"], series, label=i18n.name("scenario", scenario))
        ax.set_title(i18n.name("element", element))
        ax.set_xlabel(i18n.t("chart.year"))
        ax.set_ylabel(f"{i18n.t(f'fan.{variable}')} [{_unit(da)}]")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def carbon(results: xr.Dataset, path: Path) -> Path:
    """Carbon reduction: the band between bounds, per scenario."""
    da = _all_regions(results["carbon_reduction"]).pint.to("Mt/yr")
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for scenario in da["scenario"].values:
        s = da.sel(scenario=scenario).pint.dequantify()
        ax.fill_between(s["year"], s.min("bound"), s.max("bound"), alpha=0.3, label=i18n.name("scenario", scenario))
    ax.set_xlabel(i18n.t("chart.year"))
    ax.set_ylabel(f"{i18n.t('chart.carbon_reduction_axis')} [{_unit(da)}]")
    ax.set_title(i18n.t("plots.carbon"))
    ax.legend(fontsize=8)
    return _save(fig, path)


def demand_by_chemistry(results: xr.Dataset, scenario: str, path: Path) -> Path:
    """Battery capacity demand stacked by chemistry, one scenario."""
    da = _all_regions(results["battery_capacity_demand"]).sel(scenario=scenario)
    da = da.sum([d for d in definition.load().summed_dims if d in da.dims and d != "chemistry"])
    da = da.pint.to("GWh/yr")
    plain = da.pint.dequantify()
    keep = [c for c in plain["chemistry"].values if float(plain.sel(chemistry=c).max()) > 0]
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    ax.stackplot(plain["year"], *[plain.sel(chemistry=c) for c in keep], labels=keep)
    ax.set_xlabel(i18n.t("chart.year"))
    ax.set_ylabel(f"{i18n.t('chart.capacity_demand')} [{_unit(da)}]")
    ax.set_title(i18n.t("plots.by_chemistry", scenario=i18n.name("scenario", scenario)))
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def by_segment(results: xr.Dataset, scenario: str, path: Path) -> Path:
    """NEV sales, stock and retirements by vehicle segment, all regions, one scenario."""
    panels = [("vehicle_sales", "plots.segment_sales", "vehicle/yr"), ("vehicle_stock", "plots.segment_stock", "vehicle"),
              ("vehicle_retired", "plots.segment_retired", "vehicle/yr")]
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.8), layout="constrained")
    for ax, (variable, title, unit) in zip(axes, panels):
        da = _all_regions(results[variable]).sel(scenario=scenario).sum("powertrain").pint.to(unit)
        plain = da.pint.dequantify()
        ax.stackplot(plain["year"], *[plain.sel(segment=s) for s in plain["segment"].values],
                     labels=[i18n.name("segment", s) for s in plain["segment"].values], alpha=0.85)
        ax.set_title(i18n.t(title))
        ax.set_xlabel(i18n.t("chart.year"))
        ax.set_ylabel(f"[{_unit(da)}]")
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(i18n.t("plots.by_segment", scenario=i18n.name("scenario", scenario)))
    return _save(fig, path)


def all_plots(results: xr.Dataset, out: Path) -> list[Path]:
    out = Path(out)
    scenarios = list(results["scenario"].values)
    middle = scenarios[len(scenarios) // 2]
    paths = [
        metal_by_scenario(results, "metal_demand", i18n.t("fan.metal_demand"), out / "demand.png"),
        metal_by_scenario(results, "metal_recovered", i18n.t("fan.metal_recovered"), out / "recovery.png"),
        carbon(results, out / "carbon.png"),
        demand_by_chemistry(results, middle, out / "demand_by_chemistry.png"),
    ]
    if results.sizes.get("segment", 1) > 1:
        paths.append(by_segment(results, middle, out / "by_segment.png"))
    return paths


def fan(quantiles: xr.Dataset, variable: str, path: Path, title: str) -> Path:
    """Fan chart: 5-95 % and 25-75 % bands and the median, per scenario; one panel per
    element (or bound). ``quantiles`` has a ``quantile`` dim (plain numbers, units in attrs)."""
    da = quantiles[variable]
    panel_dim = next((d for d in ("element", "bound") if d in da.dims), None)
    panels = list(da[panel_dim].values) if panel_dim else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.6), layout="constrained", squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, panel in zip(axes[0], panels):
        for colour, scenario in zip(colours, da["scenario"].values):
            s = da.sel(scenario=scenario)
            s = s.sel({panel_dim: panel}) if panel_dim else s
            q = lambda level: s.sel(quantile=level, method="nearest")  # noqa: E731
            ax.fill_between(s["year"], q(0.05), q(0.95), color=colour, alpha=0.15, linewidth=0)
            ax.fill_between(s["year"], q(0.25), q(0.75), color=colour, alpha=0.35, linewidth=0)
            ax.plot(s["year"], q(0.5), color=colour, label=i18n.name("scenario", scenario))
        ax.set_title(i18n.name(panel_dim, panel) if panel is not None else i18n.t(f"fan.{variable}"))
        ax.set_xlabel(i18n.t("chart.year"))
        ax.set_ylabel(f"{i18n.t(f'fan.{variable}')} [{label(da.attrs.get('units', '?'))}]")
    axes[0][0].legend(fontsize=7, title=i18n.t("plots.fan_legend"), title_fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def sobol_bars(indices: xr.Dataset, output: str, path: Path) -> Path:
    """First-order and total Sobol indices of one output, with 95 % confidence, per scenario."""
    scenarios = list(indices["scenario"].values)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 3.8), sharey=True, layout="constrained", squeeze=False)
    params = list(indices["parameter"].values)
    x = range(len(params))
    for ax, scenario in zip(axes[0], scenarios):
        one = indices.sel(output=output, scenario=scenario)
        ax.bar([i - 0.2 for i in x], one["S1"], width=0.4, yerr=one["S1_conf"], label="first order S1", capsize=2)
        ax.bar([i + 0.2 for i in x], one["ST"], width=0.4, yerr=one["ST_conf"], label="total ST", capsize=2)
        ax.set_xticks(list(x), params, rotation=60, ha="right", fontsize=7)
        ax.set_title(str(scenario))
    axes[0][0].set_ylabel("Sobol index [1]")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"What drives {indices.attrs.get(f'output_{output}', output)}")
    return _save(fig, path)
