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

import numpy as np
import xarray as xr

from . import config
from .errors import InputError
from .inputs import interpolate_years, read_table, select_keys
from .units import plain, ureg

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
    table = _table(cfg, "segments.chemistry_file", seg.chemistry_file, ("path", "segment", "year", "chemistry"), "1", {"path": seg.chemistry_path})
    used = table.sel(segment=[s for s in seg.include if s in table["segment"].values]).pint.dequantify().fillna(0.0)
    return [str(c) for c in table["chemistry"].values if float(used.sel(chemistry=c).max()) > 0]


def _table(cfg, field: str, name: str, keys, unit: str, where=None) -> xr.DataArray:
    return read_table(cfg.input_file(field, name), keys, unit, where)


def _commercial(cfg: config.Scenario, p: xr.Dataset, years: np.ndarray, share_path) -> dict[str, xr.DataArray]:
    """The commercial segments' values of :data:`PER_SEGMENT`, each with a ``segment`` dim."""
    seg = cfg.segments
    include = list(seg.include)
    h = cfg.years.history_end
    history = years[years <= h]
    national = _table(cfg, "segments.sales_file", seg.sales_file, ("segment", "year"), "vehicle/yr")
    missing = [(s, int(y)) for s in include for y in history if s not in national["segment"].values or y not in national["year"].values]
    if missing:
        raise InputError(seg.sales_file, "segment,year", f"national NEV sales of every included segment for every historic year; missing {missing[:4]}")
    shares = _table(cfg, "segments.regional_share_file", seg.regional_share_file, ("province", "segment"), "1")
    shares = shares.rename(province="region").assign_coords(region=lambda d: d["region"].astype(int))
    shares = select_keys(shares, "region", p["nev_registrations"]["region"].values, seg.regional_share_file,
                         "a share for every region of the case", "province")
    registrations = (national.sel(segment=include, year=history) * shares.sel(segment=include)).reindex(year=years, fill_value=0.0)

    observed = xr.DataArray([seg.nev_share_observed[s] for s in include], dims="segment", coords={"segment": include})
    paths = [share_path(seg.nev_share_paths[s], f"segments.nev_share_paths.{s}") for s in include]
    path = {k: xr.concat([pth[k] for pth in paths], dim=xr.DataArray(include, dims="segment")) for k in paths[0]}

    def life(quantity: str, unit: str) -> xr.DataArray:
        rows = _table(cfg, "segments.lifetime_file", seg.lifetime_file, ("segment", "quantity"), unit, {"quantity": quantity})
        return select_keys(rows, "segment", include, seg.lifetime_file, f"a {quantity} row for every included segment")

    from scipy.special import gamma

    vehicle_shape = life("vehicle_shape", "1")
    vehicle_scale = life("vehicle_mean", "yr") / gamma(1 + 1 / plain(vehicle_shape, "1"))
    packs = _table(cfg, "segments.battery_file", seg.battery_file, ("segment", "year", "quantity"), "kWh/vehicle", {"quantity": "pack_kwh"})
    packs = select_keys(packs, "segment", include, seg.battery_file, "pack_kwh rows for every included segment")
    capacity = interpolate_years(packs, years).rename(year="cohort")
    capacity = xr.concat([capacity, capacity * 0], dim=xr.DataArray(["BEV", "PHEV"], dims="powertrain"))
    chemistry = _table(cfg, "segments.chemistry_file", seg.chemistry_file, ("path", "segment", "year", "chemistry"), "1", {"path": seg.chemistry_path})
    chemistry = select_keys(chemistry, "segment", include, seg.chemistry_file, "chemistry shares for every included segment")
    chemistry = interpolate_years(chemistry.fillna(0.0), years).rename(year="cohort")
    return {
        "nev_registrations": registrations,
        "nev_share_observed": observed.pint.quantify("1", unit_registry=ureg),
        **{f"nev_share_of_sales_{k}": v.pint.quantify("yr" if k == "slope_weight" else "1", unit_registry=ureg) for k, v in path.items()},
        "powertrain_share": xr.DataArray([1.0, 0.0], dims="powertrain", coords={"powertrain": ["BEV", "PHEV"]}).expand_dims(segment=include, cohort=years).pint.quantify("1", unit_registry=ureg),
        "vehicle_lifetime_shape": vehicle_shape,
        "vehicle_lifetime_scale": vehicle_scale,
        "battery_capacity": capacity,
        "chemistry_share": chemistry,
        "battery_lifetime_shape": life("battery_shape", "1"),
        "battery_lifetime_scale": life("battery_scale", "yr"),
    }


def extend(p: xr.Dataset, cfg: config.Scenario, years: np.ndarray, share_path) -> xr.Dataset:
    """``p`` with a ``segment`` dim on :data:`PER_SEGMENT` (passenger first) and the
    commercial segments' carbon baselines. ``share_path(anchors, field)`` turns anchor
    years into the weights of a projected NEV share (:func:`mfa.parameters._share_path`)."""
    passenger = {name: p[name].expand_dims(segment=[PASSENGER]) for name in PER_SEGMENT}
    if not cfg.segments or not cfg.segments.include:
        return p.assign(passenger)
    commercial = _commercial(cfg, p, years, share_path)
    out = p.copy()
    for name in PER_SEGMENT:
        unit = passenger[name].data.units
        ours, theirs = plain(passenger[name], str(unit)), plain(commercial[name], str(unit))
        if "chemistry" in ours.dims:  # the chemistries of both mixes; a mix lacks the others
            theirs = theirs.reindex(chemistry=ours["chemistry"].values, fill_value=0.0)
        ours = ours.broadcast_like(theirs.isel(segment=0, drop=True))
        theirs = theirs.broadcast_like(ours.isel(segment=0, drop=True))
        out[name] = xr.concat([ours, theirs.transpose(*ours.dims)], dim="segment").pint.quantify(unit, unit_registry=ureg)
    for name, unit in (("baseline_fuel_consumption", "L/km"), ("baseline_emission_factor", "kg/L"), ("electricity_consumption", "kWh/km"), ("annual_mileage", "km/yr")):
        rows = _table(cfg, "segments.carbon_file", cfg.segments.carbon_file, ("segment", "parameter"), unit, {"parameter": name})
        rows = select_keys(rows, "segment", cfg.segments.include, cfg.segments.carbon_file, f"a {name} row for every included segment")
        # on a dim of their own: passenger cars have no such row (their baseline is in carbon.csv)
        out[f"segment_{name}"] = rows.rename(segment="commercial_segment")
    return out
