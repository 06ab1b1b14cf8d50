"""Two cases side by side, and which assumptions make the difference.

For each scenario the settings of case A are switched to those of case B one group of
assumptions at a time (fleet, battery capacity, chemistry, lifetimes, end of life,
carbon factors). A group's effect is the change it alone makes; the interaction
remainder is what is left of the total difference, so the parts add up to the whole.
Every variant runs in one vectorised model run (variants are extra scenarios).
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pandas as pd
import xarray as xr

from . import config, model
from .errors import InputError
from .units import plain

log = logging.getLogger(__name__)

GROUPS: dict[str, tuple[str, ...]] = {
    "fleet": (
        "fleet.passenger_share", "fleet.population_growth", "fleet.cars_per_1000", "fleet.car_lifetime", "fleet.nev_share_of_sales", "fleet.projection_break",
        "fleet.bev_share_of_sales", "regions", "province_table", "years", "segments",
    ),
    "battery capacity": ("batteries.capacity_file", "batteries.capacity_scale"),
    "chemistry": ("batteries.chemistry_file", "batteries.chemistry_path", "batteries.intensity_file"),
    "lifetimes": (
        "fleet.lifetime", "batteries.lifetime", "batteries.replacement_max_vehicle_age", "end_of_life.second_use_lifetime",
    ),
    "end of life": (
        "end_of_life.second_use_share", "end_of_life.second_use_collection_rate", "end_of_life.collection_rate",
        "end_of_life.recycling_process", "end_of_life.efficiency_file",
    ),
    "carbon factors": ("carbon",),
}
NOT_ASSUMPTIONS = ("case", "study", "extends", "calibration", "uncertainty")
"""Settings that name or describe a case rather than assume anything about the world."""
REMAINDER = "interaction remainder"
SEP = "|"


def _set(data: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    if value is config.MISSING:
        data.pop(last, None)
    else:
        data[last] = copy.deepcopy(value)


def _leaves(data, prefix="") -> dict[str, object]:
    if not isinstance(data, dict) or not data or not all(isinstance(k, str) for k in data):
        return {prefix: data}
    out = {}
    for key, value in data.items():
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else key))
    return out


def switched(base: dict, other: dict, groups) -> dict:
    """``base`` with every setting of ``groups`` taken from ``other``."""
    out = copy.deepcopy(base)
    for group in groups:
        for path in GROUPS[group]:
            _set(out, path, config.setting_at(other, path))
    return out


def uncovered(base: dict, other: dict) -> list[str]:
    """Settings that differ between the two but belong to no group."""
    a, b = _leaves(base), _leaves(other)
    paths = [p for p in set(a) | set(b) if a.get(p, config.MISSING) != b.get(p, config.MISSING)]
    covered = lambda p: p.split(".")[0] in NOT_ASSUMPTIONS or any(p == g or p.startswith(g + ".") for gs in GROUPS.values() for g in gs)  # noqa: E731
    return sorted(p for p in paths if not covered(p))


def variants(case_a: str, case_b: str, scenarios: list[str] | None = None) -> dict[str, config.Scenario]:
    """Every variant to run, named ``scenario|variant``: ``A``, each group switched, ``B``
    (A with every group switched, which must be case B exactly)."""
    a_data = config.scenario_data(case_a, scenarios)
    b_data = config.scenario_data(case_b, scenarios)
    out = {}
    for name, (a, files) in a_data.items():
        if name not in b_data:
            raise InputError(config.case_dir(case_b) / "base.yaml", "case.scenarios", f"a scenario named {name!r}, as case {case_a} has")
        b = b_data[name][0]
        if missing := uncovered(a, b):
            raise InputError(b_data[name][1][-1], missing[0], f"a setting of one of the groups {list(GROUPS)}")
        out[f"{name}{SEP}{case_a}"] = config.validate(a, files)
        for group in GROUPS:
            out[f"{name}{SEP}{group}"] = config.validate(switched(a, b, [group]), files)
        out[f"{name}{SEP}{case_b}"] = config.validate(switched(a, b, GROUPS), files)
    return out


def metrics(results: xr.Dataset, report_start: int) -> xr.Dataset:
    """The compared figures by ``scenario`` (variant), summed over regions; each variable
    carries its UDUNITS unit in ``attrs``."""
    res = results.sum("region") if "region" in results.dims else results
    end = int(res["year"].max())
    milestones = [2030, end]

    def cumulative(name):
        return plain(res[name], "t/yr").sel(year=slice(report_start, None)).sum("year")

    out = xr.Dataset(
        {
            "cumulative_demand": cumulative("metal_demand"),
            "cumulative_recovery": cumulative("metal_recovered"),
            "vehicles_in_use": plain(res["vehicle_stock"].sum(["segment", "powertrain"]), "vehicle").sel(year=milestones),
            "metal_in_use": plain(res["metal_in_use"], "t").sel(year=milestones),
            "carbon_reduction": plain(res["carbon_reduction"], "t/yr").sel(year=end, drop=True),
        }
    )
    units = {"cumulative_demand": "t", "cumulative_recovery": "t", "vehicles_in_use": "1", "metal_in_use": "t", "carbon_reduction": "t yr-1"}
    for name, unit in units.items():
        out[name].attrs["units"] = unit
    out["cumulative_demand"].attrs["long_name"] = f"cumulative metal demand {report_start}-{end}"
    out["cumulative_recovery"].attrs["long_name"] = f"cumulative metal recovered {report_start}-{end}"
    out["vehicles_in_use"].attrs["long_name"] = "NEV passenger cars in use"
    out["metal_in_use"].attrs["long_name"] = "metal in cars in use"
    out["carbon_reduction"].attrs["long_name"] = f"use-phase CO2 reduction in {end}"
    return out


def run(case_a: str, case_b: str, scenarios: list[str] | None = None) -> xr.Dataset:
    """Both cases and the attribution of their difference, by ``scenario`` and ``group``.

    Variables: ``<metric>`` with a ``case`` dim (A, B), ``<metric>_difference`` (B - A),
    ``<metric>_attribution`` with a ``group`` dim whose last entry is the remainder.
    """
    runs = variants(case_a, case_b, scenarios)
    results, _ = model.run(runs)
    report_start = next(iter(runs.values())).years.report_start
    values = metrics(results, report_start)
    names = list(dict.fromkeys(n.split(SEP)[0] for n in runs))

    def pick(variant):
        return values.sel(scenario=[f"{n}{SEP}{variant}" for n in names]).assign_coords(scenario=names)

    a, b = pick(case_a), pick(case_b)
    effects = xr.concat([pick(g) - a for g in GROUPS], dim=xr.DataArray(list(GROUPS), dims="group"))
    remainder = (b - a) - effects.sum("group")
    attribution = xr.concat([effects, remainder.expand_dims(group=[REMAINDER])], "group")
    ds = xr.Dataset(coords={"case": [case_a, case_b], "scenario": names})
    for name, var in values.data_vars.items():
        ds[name] = xr.concat([a[name], b[name]], dim="case").assign_attrs(var.attrs)
        ds[f"{name}_difference"] = (b[name] - a[name]).assign_attrs(var.attrs, long_name=f"{var.attrs['long_name']}: {case_b} minus {case_a}")
        ds[f"{name}_attribution"] = attribution[name].assign_attrs(
            var.attrs, long_name=f"{var.attrs['long_name']}: part of the difference due to each group of assumptions"
        )
    ds.attrs.update(case_a=case_a, case_b=case_b, max_abs_balance_error=results.attrs["max_abs_balance_error"])
    return ds


METRICS = ("cumulative_demand", "cumulative_recovery", "vehicles_in_use", "metal_in_use", "carbon_reduction")


def tables(ds: xr.Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long tables: side by side (one row per scenario and figure), and the attribution
    (one column per group, then the remainder and the total)."""
    a, b = ds.attrs["case_a"], ds.attrs["case_b"]
    side_rows, part_rows = [], []
    for name in METRICS:
        unit = ds[name].attrs["units"]
        values = ds[name].to_series().unstack("case").reset_index()
        values.insert(0, "figure", name)
        values["unit"] = unit
        side_rows.append(values)
        parts = ds[f"{name}_attribution"].to_series().unstack("group").reset_index()
        parts.insert(0, "figure", name)
        parts["total"] = ds[f"{name}_difference"].to_series().values
        parts["unit"] = unit
        part_rows.append(parts)
    side = pd.concat(side_rows, ignore_index=True)
    side["difference"] = side[b] - side[a]
    side["difference_pct"] = 100 * side["difference"] / side[a].where(side[a] != 0)
    parts = pd.concat(part_rows, ignore_index=True)
    keys = [c for c in parts.columns if c not in (*GROUPS, REMAINDER, "total", "unit")]
    parts = parts[[*keys, *GROUPS, REMAINDER, "total", "unit"]]
    return side[[*[c for c in side.columns if c not in (a, b, "difference", "difference_pct", "unit")], a, b, "difference", "difference_pct", "unit"]], parts
