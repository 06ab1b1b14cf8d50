"""Vehicle segments: passenger cars and the new-energy commercial vehicles beside them
(buses, light commercial vehicles, trucks; REFERENCE s9).

:func:`extend` gives the per-vehicle parameters of a scenario a ``segment`` dim: the
passenger values as built from the fleet and battery settings, and for every segment of
``segments.include`` its own sales history (national NEV sales x the region's share of
commercial registrations), observed NEV share of new-vehicle sales and projected path,
pack size, chemistry mix, vehicle and battery lifetimes (Weibull) and carbon baseline.
Commercial vehicles are battery-electric (their PHEV share is 0). Without segments the
dim has the one entry ``passenger``, so every case has the same structure.
"""

from __future__ import annotations

import math

import numpy as np

from . import config
from .errors import InputError
from .inputs import Table, factor, interpolate_years, reindex, select_keys, table

PASSENGER = "passenger"

PER_SEGMENT = (
    "nev_registrations", "nev_share_observed", "nev_share_of_sales_weight", "nev_share_of_sales_slope_weight",
    "nev_share_of_sales_rest", "nev_share_of_sales_line_weight", "nev_share_of_sales_line_rest", "powertrain_share",
    "vehicle_lifetime_shape", "vehicle_lifetime_scale", "battery_capacity", "chemistry_share", "battery_lifetime_shape",
    "battery_lifetime_scale",
)
"""Parameters that differ by segment (the rest are shared: population, end of life...)."""


ABSENT = {
    "nev_registrations": 0.0, "nev_share_observed": 1.0, "nev_share_of_sales_weight": 0.0,
    "nev_share_of_sales_slope_weight": 0.0, "nev_share_of_sales_rest": 0.0, "nev_share_of_sales_line_weight": 0.0,
    "nev_share_of_sales_line_rest": 0.0, "powertrain_share": 0.0, "vehicle_lifetime_shape": 1.0,
    "vehicle_lifetime_scale": 1.0, "battery_capacity": 0.0, "chemistry_share": 0.0, "battery_lifetime_shape": 1.0,
    "battery_lifetime_scale": 1.0, "segment_baseline_fuel_consumption": 0.0, "segment_baseline_emission_factor": 0.0,
    "segment_electricity_consumption": 0.0, "segment_annual_mileage": 0.0,
}
"""Values of a segment that one scenario of a run models and another does not (e.g. the
study and the outlook side by side in ``mfa compare``): no registrations, a share path of
0 (so no sales), and harmless lifetimes; a missing segment is never a NaN."""


def chemistries(cfg: config.Scenario) -> list[str]:
    """The chemistries of the commercial segments' mix (none without segments)."""
    if not cfg.segments or not cfg.segments.include:
        return []
    seg = cfg.segments
    mix = _table(cfg, "segments.chemistry_file", seg.chemistry_file, ("path", "segment", "year", "chemistry"), "1", {"path": seg.chemistry_path})
    used = mix.take("segment", [s for s in seg.include if s in mix.labels("segment")]).transpose("chemistry", "segment", "year").values
    largest = np.nan_to_num(used, nan=0.0).reshape(len(used), -1).max(axis=1, initial=-np.inf)
    return [str(c) for c, top in zip(mix.labels("chemistry"), largest) if top > 0]


def _table(cfg, field: str, name: str, keys, unit: str, where=None) -> Table:
    return table(cfg.input_file(field, name), keys, unit, where)


def _life(cfg: config.Scenario, quantity: str, unit: str) -> Table:
    """A row of the lifetime table by included ``segment``."""
    seg = cfg.segments
    rows = _table(cfg, "segments.lifetime_file", seg.lifetime_file, ("segment", "quantity"), unit, {"quantity": quantity})
    return select_keys(rows, "segment", list(seg.include), seg.lifetime_file, f"a {quantity} row for every included segment")


def _commercial(cfg: config.Scenario, p: dict[str, Table], years: np.ndarray, share_path) -> dict[str, Table]:
    """The commercial segments' values of :data:`PER_SEGMENT`, each with a ``segment`` dim."""
    seg = cfg.segments
    include = list(seg.include)
    segment = np.array(include, dtype=object)
    h = cfg.years.history_end
    history = years[years <= h]
    national = _table(cfg, "segments.sales_file", seg.sales_file, ("segment", "year"), "vehicle/yr")
    missing = [(s, int(y)) for s in include for y in history if s not in national.labels("segment") or y not in national.labels("year")]
    if missing:
        raise InputError(seg.sales_file, "segment,year", f"national NEV sales of every included segment for every historic year; missing {missing[:4]}")
    shares = _table(cfg, "segments.regional_share_file", seg.regional_share_file, ("province", "segment"), "1").rename(province="region")
    shares = shares.replace(shares.values, region=shares.coords["region"].astype(int))
    shares = select_keys(shares, "region", p["nev_registrations"].labels("region"), seg.regional_share_file,
                         "a share for every region of the case", "province")
    sales = national.take("segment", include).take("year", history).values
    regional = shares.take("segment", include).transpose("segment", "region").values
    registrations = Table(("segment", "year", "region"), {"segment": segment, "year": history, "region": shares.coords["region"]},
                          sales[:, :, None] * regional[:, None, :], "vehicle/yr")

    observed = Table(("segment",), {"segment": segment}, np.array([seg.nev_share_observed[s] for s in include], dtype=float), "1")
    paths = [share_path(seg.nev_share_paths[s], f"segments.nev_share_paths.{s}") for s in include]
    path = {k: Table(("segment", "year"), {"segment": segment, "year": years}, np.stack([pth[k].values for pth in paths]), paths[0][k].unit) for k in paths[0]}

    # commercial vehicles are battery-electric: no PHEV sales, no PHEV packs
    powertrains = p["powertrain_share"].coords["powertrain"]
    bev = (powertrains == "BEV").astype(float)
    vehicle_shape = _life(cfg, "vehicle_shape", "1")
    vehicle_mean = _life(cfg, "vehicle_mean", "yr")
    vehicle_scale = vehicle_mean.replace(vehicle_mean.values / np.array([math.gamma(1 + 1 / k) for k in vehicle_shape.values]))
    packs = _table(cfg, "segments.battery_file", seg.battery_file, ("segment", "year", "quantity"), "kWh/vehicle", {"quantity": "pack_kwh"})
    packs = select_keys(packs, "segment", include, seg.battery_file, "pack_kwh rows for every included segment")
    packs = interpolate_years(packs, years).rename(year="cohort").transpose("segment", "cohort")
    capacity = Table(("powertrain", "segment", "cohort"), {"powertrain": powertrains, **packs.coords}, bev[:, None, None] * packs.values, packs.unit)
    mix = _table(cfg, "segments.chemistry_file", seg.chemistry_file, ("path", "segment", "year", "chemistry"), "1", {"path": seg.chemistry_path})
    mix = select_keys(mix, "segment", include, seg.chemistry_file, "chemistry shares for every included segment")
    mix = interpolate_years(mix.replace(np.nan_to_num(mix.values, nan=0.0)), years).rename(year="cohort")
    return {
        "nev_registrations": reindex(registrations, {"year": years}, fill_value=0.0),
        "nev_share_observed": observed,
        **{f"nev_share_of_sales_{k}": v for k, v in path.items()},
        "powertrain_share": Table(("segment", "cohort", "powertrain"), {"segment": segment, "cohort": years, "powertrain": powertrains},
                                  np.broadcast_to(bev, (len(include), len(years), len(bev))), "1"),
        "vehicle_lifetime_shape": vehicle_shape,
        "vehicle_lifetime_scale": vehicle_scale,
        "battery_capacity": capacity,
        "chemistry_share": mix,
        "battery_lifetime_shape": _life(cfg, "battery_shape", "1"),
        "battery_lifetime_scale": _life(cfg, "battery_scale", "yr"),
    }


def _beside(ours: Table, theirs: Table) -> Table:
    """The passenger values ``ours`` and the commercial ``theirs`` along ``segment``, each
    repeated along the other's dims; dims as xarray's ``broadcast_like`` orders them:
    the commercial values' own dims first, then the passenger values' others."""
    if "chemistry" in ours.dims and "chemistry" in theirs.dims:  # the chemistries of both mixes; a mix lacks the others
        theirs = reindex(theirs, {"chemistry": ours.coords["chemistry"]}, fill_value=0.0)
    dims = tuple(dict.fromkeys([*(d for d in theirs.dims if d != "segment"), *ours.dims, "segment"]))
    coords = {**theirs.coords, **ours.coords}
    sizes = {d: len(c) for d, c in coords.items()}
    axis = dims.index("segment")
    values = np.concatenate([ours.spread(dims, sizes), theirs.spread(dims, sizes) * factor(theirs.unit, ours.unit)], axis=axis)
    segment = np.concatenate([ours.coords["segment"], theirs.coords["segment"]]).astype(object)
    return Table(dims, {**{d: coords[d] for d in dims}, "segment": segment}, values, ours.unit)


def extend(p: dict[str, Table], cfg: config.Scenario, years: np.ndarray, share_path) -> dict[str, Table]:
    """``p`` with a ``segment`` dim on :data:`PER_SEGMENT` (passenger first) and the
    commercial segments' carbon baselines. ``share_path(anchors, field)`` turns anchor
    years into the weights of a projected NEV share (:func:`mfa.parameters._share_path`)."""
    passenger = {name: p[name].expand("segment", np.array([PASSENGER], dtype=object)) for name in PER_SEGMENT}
    if not cfg.segments or not cfg.segments.include:
        return {**p, **passenger}
    commercial = _commercial(cfg, p, years, share_path)
    out = {**p, **{name: _beside(passenger[name], commercial[name]) for name in PER_SEGMENT}}
    for name, unit in (("baseline_fuel_consumption", "L/km"), ("baseline_emission_factor", "kg/L"), ("electricity_consumption", "kWh/km"), ("annual_mileage", "km/yr")):
        rows = _table(cfg, "segments.carbon_file", cfg.segments.carbon_file, ("segment", "parameter"), unit, {"parameter": name})
        rows = select_keys(rows, "segment", cfg.segments.include, cfg.segments.carbon_file, f"a {name} row for every included segment")
        # on a dim of their own: passenger cars have no such row (their baseline is in carbon.csv)
        out[f"segment_{name}"] = rows.rename(segment="commercial_segment")
    return out
