"""Scenario settings and input tables -> one ``xr.Dataset`` of model parameters.

Every variable is pint-quantified and carries the dims it varies along: ``scenario``
always, and ``year`` (calendar year), ``cohort`` (sale year), ``powertrain``,
``chemistry``, ``element``, ``bound`` where they apply. The model modules read only this
dataset; none of them knows how many scenarios there are.
"""

from __future__ import annotations

import functools
import logging
import math
import operator
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import config, segments
from .errors import InputError
from .inputs import Table, concat, distinct, interpolate, interpolate_years, per_file_version, read_rows, reindex, select_keys, table, version
from .units import as_unit, ureg

log = logging.getLogger(__name__)

POWERTRAINS = ["BEV", "PHEV"]

RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys(
        ("passenger_share", "powertrain_share", "chemistry_share", "second_use_share", "second_use_collection_rate",
         "collection_rate", "recovery_efficiency", "phev_electric_share", "recycling_emission_saving_share",
         "nev_share_observed", "projection_break", "nev_share_of_sales_weight", "nev_share_of_sales_rest", "nev_share_of_sales_line_weight",
         "nev_share_of_sales_line_rest", "black_mass_yield"),
        (0.0, 1.0),
    ),
    **dict.fromkeys(
        ("vehicle_lifetime_shape", "vehicle_lifetime_scale", "battery_lifetime_shape", "battery_lifetime_scale", "second_use_sd",
         "car_lifetime_shape", "car_lifetime_scale"),
        (np.finfo(float).tiny, np.inf),
    ),
    "population_growth": (-1.0, np.inf),
}
"""Allowed range of each parameter whose range is not ``[0, inf)``: shares and rates in
[0, 1], lifetime shapes and scales > 0 (:func:`mfa.invariants.check_parameters`)."""

OBSERVED = ("official_nev_stock", "population_observed")
"""Observations by year and region: empty (NaN) where nothing was observed."""

SETTINGS: dict[str, str] = {
    "nev_registrations": "regions.history_file | province_table.file | segments.sales_file",
    "official_nev_stock": "regions.history_file",
    "population_observed": "regions.population_file | province_table.file",
    "cars_per_1000_observed": "regions.cars_per_1000_observed | province_table.cars_per_1000_observed",
    "population_growth": "fleet.population_growth",
    "passenger_share": "fleet.passenger_share",
    "cars_per_1000_saturation": "fleet.cars_per_1000.saturation",
    "cars_per_1000_rate": "fleet.cars_per_1000.rate",
    "nev_share_observed": "regions.new_car_sales_file | province_table.nev_share_of_new_cars",
    "projection_break": "fleet.projection_break",
    "segment_baseline_fuel_consumption": "segments.carbon_file",
    "segment_baseline_emission_factor": "segments.carbon_file",
    "segment_electricity_consumption": "segments.carbon_file",
    "segment_annual_mileage": "segments.carbon_file",
    "nev_share_of_sales_weight": "fleet.nev_share_of_sales",
    "nev_share_of_sales_rest": "fleet.nev_share_of_sales",
    "nev_share_of_sales_slope_weight": "fleet.nev_share_of_sales",
    "nev_share_of_sales_line_weight": "fleet.nev_share_of_sales",
    "nev_share_of_sales_line_rest": "fleet.nev_share_of_sales",
    "car_lifetime_shape": "fleet.car_lifetime.shape",
    "car_lifetime_scale": "fleet.car_lifetime",
    "powertrain_share": "fleet.bev_share_of_sales",
    "vehicle_lifetime_shape": "fleet.lifetime.shape",
    "vehicle_lifetime_scale": "fleet.lifetime",
    "battery_capacity": "batteries.capacity_file",
    "chemistry_share": "batteries.chemistry_file",
    "metal_intensity": "batteries.intensity_file",
    "pack_mass_per_kwh": "batteries.pack_mass_file",
    "black_mass_yield": "batteries.black_mass_file",
    "battery_lifetime_shape": "batteries.lifetime.shape",
    "battery_lifetime_scale": "batteries.lifetime",
    "replacement_max_vehicle_age": "batteries.replacement_max_vehicle_age",
    "second_use_share": "end_of_life.second_use_share",
    "second_use_mean": "end_of_life.second_use_lifetime.mean",
    "second_use_sd": "end_of_life.second_use_lifetime.sd",
    "second_use_collection_rate": "end_of_life.second_use_collection_rate",
    "collection_rate": "end_of_life.collection_rate",
    "recovery_efficiency": "end_of_life.efficiency_file",
    "petrol_emission_factor": "carbon.file",
    "ice_consumption": "carbon.file",
    "bev_consumption": "carbon.file",
    "phev_electric_share": "carbon.phev_electric_share | carbon.file",
    "phev_fuel_consumption": "carbon.file",
    "annual_mileage": "carbon.annual_mileage | carbon.file",
    "grid_factor": "carbon.grid_file",
    "primary_emission_factor": "carbon.file",
    "recycling_emission_saving_share": "carbon.file",
}
"""The scenario setting (or the setting naming the input file) each parameter comes
from, for provenance and error messages; ``|`` separates alternatives."""


def _scalar(value, unit: str) -> Table:
    return Table((), {}, np.asarray(float(value)), unit)


def _series(value, unit: str, years: np.ndarray, dim: str = "year") -> Table:
    """A config number or ``{year: number}`` along ``dim`` over ``years`` (linear between
    the years given, flat beyond them)."""
    if isinstance(value, dict):
        values = interpolate(np.array(list(value.values()), dtype=float), np.array(list(value.keys())), years)
    else:
        values = np.full(len(years), float(value))
    return Table((dim,), {dim: years}, values, unit)


def _by_name(mapping: dict, names, unit: str, dim: str) -> Table:
    """A ``{name: value, 'default': value}`` mapping over ``names`` along ``dim``."""
    missing = [n for n in names if n not in mapping and "default" not in mapping]
    if missing:
        raise ValueError(f"no value for {missing} and no 'default'")
    values = [mapping.get(n, mapping.get("default")) for n in names]
    return Table((dim,), {dim: np.asarray(names)}, np.asarray(values, dtype=float), unit)


def _weibull_scale(spec: config.WeibullSpec, cohorts: np.ndarray, chemistries=None) -> Table:
    """Weibull scale in years by ``cohort`` (or by ``chemistry`` when given by chemistry)."""
    if spec.mean is not None:
        mean = _series(spec.mean, "yr", cohorts, "cohort")
        return mean.replace(mean.values / math.gamma(1 + 1 / spec.shape))
    if isinstance(spec.scale, dict) and all(isinstance(k, str) for k in spec.scale):
        return _by_name(spec.scale, chemistries, "yr", "chemistry")
    return _series(spec.scale, "yr", cohorts, "cohort")


def _regional_history(cfg: config.Scenario, history_years: np.ndarray) -> tuple[Table, Table | None, Table, Table, Table]:
    """Passenger registrations, official stock, population, cars per 1000 and the NEV
    share of new-car sales in the last historic year by ``region``: the province
    table's regions, replaced by those with data of their own."""
    from . import regions

    registrations, official, population, cpk, share = [], [], [], [], []
    if cfg.province_table is not None:
        table = Table.of(regions.table_registrations(cfg.province_table, history_years).pint.dequantify(), "vehicle/yr")
        table = table.take("region", [c for c in table.labels("region") if c not in cfg.regions])
        registrations.append(table)
        population.append(Table.of(regions.table_population(cfg.province_table).pint.dequantify(), "person").take("region", table.coords["region"]))
        codes = table.coords["region"]
        cpk.append(Table(("region",), {"region": codes}, np.full(len(codes), cfg.province_table.cars_per_1000_observed), "1"))
        share.append(Table(("region",), {"region": codes}, np.full(len(codes), cfg.province_table.nev_share_of_new_cars), "1"))
    for code, region in cfg.regions.items():
        reg, off, pop = regions.own_history(code, region, cfg, history_years, cfg.fleet.passenger_share)
        registrations.append(reg)
        population.append(pop)
        cpk.append(Table(("region",), {"region": np.array([code])}, np.array([float(region.cars_per_1000_observed)]), "1"))
        share.append(regions.own_nev_share(code, region, cfg, int(history_years[-1])))
        if off is not None:
            official.append(off)
    only = cfg.case.only_regions

    def join(parts: list[Table]) -> Table:
        joined = concat(parts, "region")
        codes = np.sort(joined.coords["region"], kind="stable")
        return joined.take("region", codes if only is None else [r for r in codes.tolist() if r in only])

    if only is not None:
        known = {int(r) for part in registrations for r in part.labels("region")}
        if unknown := sorted(set(only) - known):
            raise cfg.error("case.only_regions", f"codes of the case's regions; unknown {unknown}")
    return join(registrations), join(official) if official else None, join(population), join(cpk), join(share)


_BUILT: dict[tuple, tuple[dict[str, Table], int]] = {}
""":func:`scenario_parameters` by settings and versions of the input files they name."""


def scenario_parameters(cfg: config.Scenario) -> tuple[dict[str, Table], int]:
    """All parameters of one scenario (no ``scenario`` dim), by name, each on its dims
    and in its unit (every dim has the same labels in every parameter), and the last
    year of the input data's projections. Built once per scenario settings and versions
    of the input files they name: a process running a case again (a planner moving a
    slider, mfa calibrate changing one setting of one scenario) builds only what changed."""
    files = _input_files(cfg)
    versions = [version(path) for path in files]
    if None in versions:  # the error names the setting
        return _scenario_parameters(cfg)
    key = (cfg.model_dump_json(), tuple(zip(map(str, files), versions)))
    built = _BUILT.get(key)
    if built is None:
        built = _scenario_parameters(cfg)
        if len(_BUILT) >= 64:  # the oldest out
            _BUILT.pop(next(iter(_BUILT), None), None)
        _BUILT[key] = built
    return dict(built[0]), built[1]


def _scenario_parameters(cfg: config.Scenario) -> tuple[dict[str, Table], int]:
    y = cfg.years
    years = np.arange(y.start, y.end + 1)
    fleet, bat, eol, carbon = cfg.fleet, cfg.batteries, cfg.end_of_life, cfg.carbon
    p: dict[str, Table] = {}

    # fleet
    registrations, official, population, cars_per_1000, nev_share_observed = _regional_history(cfg, years[years <= y.history_end])
    p["nev_registrations"] = reindex(registrations, {"year": years}, fill_value=0.0)
    if official is not None:
        p["official_nev_stock"] = official
    p["population_observed"] = population
    p["cars_per_1000_observed"] = cars_per_1000
    p["population_growth"] = _series(fleet.population_growth, "1/yr", years)
    p["passenger_share"] = _scalar(fleet.passenger_share, "1")
    p["cars_per_1000_saturation"] = _scalar(fleet.cars_per_1000.saturation, "1")
    p["cars_per_1000_rate"] = _scalar(fleet.cars_per_1000.rate, "1/yr")
    p["car_lifetime_shape"] = _scalar(fleet.car_lifetime.shape, "1")
    p["car_lifetime_scale"] = _weibull_scale(fleet.car_lifetime, years)
    p["nev_share_observed"] = nev_share_observed
    p["projection_break"] = _scalar(fleet.projection_break is not None, "1")
    for part, path in _share_path(fleet.nev_share_of_sales, y.history_end, years, cfg.error).items():
        p[f"nev_share_of_sales_{part}"] = path
    bev = _series(fleet.bev_share_of_sales, "1", years, "cohort")
    p["powertrain_share"] = Table(("powertrain", "cohort"), {"powertrain": np.array(POWERTRAINS), "cohort": years}, np.stack([bev.values, 1 - bev.values]), "1")
    p["vehicle_lifetime_shape"] = _scalar(fleet.lifetime.shape, "1")
    p["vehicle_lifetime_scale"] = _weibull_scale(fleet.lifetime, years)

    # batteries
    capacity_table = table(cfg.input_file("batteries.capacity_file", bat.capacity_file), ("powertrain", "year"), "kWh/vehicle")
    # capacity_scale is a scenario lever: it moves the packs of projected cohorts only,
    # never the history (the packs already sold are data, the same in every scenario)
    scale = np.where(years > y.history_end, _series(bat.capacity_scale, "1", years).values, 1.0)
    capacity = interpolate_years(capacity_table, years)
    p["battery_capacity"] = capacity.replace(capacity.values * scale).take("powertrain", POWERTRAINS).rename(year="cohort")
    chemistry_file = cfg.input_file("batteries.chemistry_file", bat.chemistry_file)
    shares = table(chemistry_file, ("path", "year", "chemistry"), "1", {"path": bat.chemistry_path})
    shares = shares.replace(np.nan_to_num(shares.values, nan=0.0))
    totals = shares.values.sum(axis=shares.axis("chemistry"))
    if not np.allclose(totals, 1.0, atol=1e-6):
        worst = int(np.argmax(np.abs(totals - 1)))
        raise InputError(chemistry_file, "value", f"chemistry shares of path {bat.chemistry_path!r} summing to 1; year {int(shares.coords['year'][worst])} sums to {totals[worst]:.4f}")
    # every chemistry of the passenger and the commercial mixes (each mix is 0 for the others')
    chemistries = list(dict.fromkeys([*shares.labels("chemistry"), *segments.chemistries(cfg)]))
    p["chemistry_share"] = reindex(interpolate_years(shares, years).rename(year="cohort"), {"chemistry": np.array(chemistries)}, fill_value=0.0)
    intensity_file = cfg.input_file("batteries.intensity_file", bat.intensity_file)
    intensity = table(intensity_file, ("chemistry", "element"), "kg/kWh")
    select_keys(intensity, "chemistry", chemistries, bat.intensity_file, "metal content for every chemistry in use")
    _require_complete(intensity, bat.intensity_file, "element", "chemistry")
    # elements in the order the file gives them (Li, Ni, Co, Mn first), not alphabetical
    elements = list(distinct(intensity_file, ("chemistry", "element"), "element"))
    intensity = intensity.take("element", elements)
    p["metal_intensity"] = intensity.take("chemistry", chemistries)
    p["pack_mass_per_kwh"] = _by_chemistry(cfg, "batteries.pack_mass_file", bat.pack_mass_file, "kg/kWh", chemistries)
    p["black_mass_yield"] = _by_chemistry(cfg, "batteries.black_mass_file", bat.black_mass_file, "1", chemistries)
    p["battery_lifetime_shape"] = _scalar(bat.lifetime.shape, "1")
    p["battery_lifetime_scale"] = _weibull_scale(bat.lifetime, years, chemistries)
    p["replacement_max_vehicle_age"] = _scalar(bat.replacement_max_vehicle_age, "yr")

    # end of life
    try:
        p["second_use_share"] = _by_name(eol.second_use_share, chemistries, "1", "chemistry")
    except ValueError as err:
        raise cfg.error("end_of_life.second_use_share", str(err)) from err
    p["second_use_mean"] = _scalar(eol.second_use_lifetime.mean, "yr")
    p["second_use_sd"] = _scalar(eol.second_use_lifetime.sd, "yr")
    p["second_use_collection_rate"] = _scalar(eol.second_use_collection_rate, "1")
    p["collection_rate"] = _series(eol.collection_rate, "1", years)
    efficiency_file = cfg.input_file("end_of_life.efficiency_file", eol.efficiency_file)
    efficiency = table(efficiency_file, ("process", "element"), "1")
    _shares_in_range(efficiency_file, efficiency)
    _require_complete(efficiency, eol.efficiency_file, "element", "process")
    efficiency = select_keys(efficiency, "element", elements, eol.efficiency_file, f"a recovery efficiency for every element of {bat.intensity_file}")
    unknown = sorted(set(eol.recycling_process.values()) - set(efficiency.labels("process")))
    if unknown:
        raise cfg.error("end_of_life.recycling_process", f"processes of {eol.efficiency_file}; unknown {unknown}")
    starts = sorted(eol.recycling_process)
    in_use = [eol.recycling_process[max([s for s in starts if s <= yr], default=starts[0])] for yr in years]
    by_year = efficiency.take("process", in_use)
    p["recovery_efficiency"] = Table(("year", "element"), {"year": years, "element": by_year.coords["element"]}, by_year.transpose("process", "element").values, "1")

    # carbon
    carbon_file = cfg.input_file("carbon.file", carbon.file)
    _shares_in_range(carbon_file, _carbon_shares(carbon_file))
    p["petrol_emission_factor"] = _carbon_scalar(carbon_file, "petrol_emission_factor", "kg/L")
    p["ice_consumption"] = _carbon_path(carbon_file, "ice_fuel_consumption", "L/km", years, carbon.ice_consumption_scale)
    p["bev_consumption"] = _carbon_path(carbon_file, "bev_consumption", "kWh/km", years, carbon.bev_consumption_scale)
    if carbon.consumption_year is not None:
        for name in ("ice_consumption", "bev_consumption"):
            p[name] = p[name].replace(np.full(len(years), p[name].values[p[name].labels("year").index(carbon.consumption_year)]))
    p["phev_electric_share"] = (
        _carbon_scalar(carbon_file, "phev_electric_share", "1") if carbon.phev_electric_share is None else _scalar(carbon.phev_electric_share, "1")
    )
    p["phev_fuel_consumption"] = _carbon_scalar(carbon_file, "phev_charge_sustaining_consumption", "L/km")
    mileage = _carbon_path(carbon_file, "annual_mileage", "km/yr", years)
    p["annual_mileage"] = mileage if carbon.annual_mileage is None else _series(carbon.annual_mileage, "km/yr", years)
    grid_file = cfg.input_file("carbon.grid_file", carbon.grid_file)
    grid = table(grid_file, ("path", "year"), "kg/kWh")
    unknown = sorted(set(carbon.grid_paths) - set(grid.labels("path")))
    if unknown or not carbon.grid_paths:
        raise cfg.error("carbon.grid_paths", f"one or more paths of {carbon.grid_file}; unknown {unknown}")
    input_data_end = max(int(t.coords["year"].max()) for t in (capacity_table, shares, grid))
    factors = interpolate_years(grid.take("path", carbon.grid_paths), years).transpose("path", "year").values
    p["grid_factor"] = Table(("bound", "year"), {"bound": np.array(["lower", "upper"]), "year": years}, np.stack([factors.max(axis=0), factors.min(axis=0)]), "kg/kWh")
    p["primary_emission_factor"] = select_keys(_carbon_by_element(carbon_file, "kg/kg"), "element", elements, carbon_file,
                                               f"a primary_emission_factor_<element> row for every element of {bat.intensity_file}", "parameter")
    p["recycling_emission_saving_share"] = _carbon_scalar(carbon_file, "recycling_emission_saving_share", "1")
    p = segments.extend(p, cfg, years, lambda anchors, field: _share_path(anchors, y.history_end, years, lambda _, expected: cfg.error(field, expected)))
    return p, input_data_end


def _share_path(anchors: dict[int, float], history_end: int, years: np.ndarray, error) -> dict[str, Table]:
    """The projected NEV share of sales by ``year`` as two paths from the observed share
    in ``history_end``, each ``observed * weight + slope * slope_weight + rest``:

    - ``line``: straight to the first anchor, linear between later anchors, flat after;
    - the trend path: a cubic (Hermite) that leaves the observed share with the observed
      slope of the last historic year (no seam in level or trend) and meets the line at
      the first anchor with the line's slope, then follows it.

    The model takes the lower of the two, i.e. the trend capped by the straight line (a
    one-year spurt in the history does not carry on). Weights, not values, so that the
    observed share and slope may differ by region. ``slope_weight`` is in years, the
    others are dimensionless."""
    later = sorted(a for a in anchors if a > history_end)
    if not later:
        raise error("fleet.nev_share_of_sales", f"at least one anchor year after {history_end}, e.g. {{2030: 1.0}}")
    nodes = np.array([history_end, *later], dtype=float)
    values = np.array([anchors[a] for a in later])
    linear = np.stack([np.interp(years, nodes, np.eye(len(nodes))[k]) for k in range(len(nodes))], axis=-1)
    rest = linear[:, 1:] @ values
    weight = linear[:, 0].copy()
    slope_weight = np.zeros(len(years))
    first = (years > history_end) & (years <= later[0])
    span = later[0] - history_end
    u = (years[first] - history_end) / span
    h00, h10, h01, h11 = 1 - 3 * u**2 + 2 * u**3, u - 2 * u**2 + u**3, 3 * u**2 - 2 * u**3, u**3 - u**2
    # the end slope is the straight line's, (v1 - observed): folded into both weights
    weight[first], slope_weight[first], rest[first] = h00 - h11, h10 * span, (h01 + h11) * values[0]
    line_weight, line_rest = linear[:, 0].copy(), linear[:, 1:] @ values
    history = years <= history_end
    for array, value in ((weight, 1.0), (slope_weight, 0.0), (rest, 0.0), (line_weight, 1.0), (line_rest, 0.0)):
        array[history] = value
    parts = {"weight": weight, "slope_weight": slope_weight, "rest": rest, "line_weight": line_weight, "line_rest": line_rest}
    return {k: Table(("year",), {"year": years}, v, "yr" if k == "slope_weight" else "1") for k, v in parts.items()}


def _by_chemistry(cfg: config.Scenario, field: str, name: str, unit: str, chemistries: list[str]) -> Table:
    """A table keyed by chemistry, in ``unit``, for every chemistry in use; a chemistry
    without a row is an input error naming the file and the chemistries (never a NaN)."""
    return select_keys(table(cfg.input_file(field, name), ("chemistry",), unit), "chemistry", chemistries, name,
                       "a row for every chemistry in use")


def _shares_in_range(path, shares: Table) -> None:
    """Every share of a table in [0, 1], used by this run or not: a wrong number in a file
    is an input error wherever it stands."""
    bad = (shares.values < 0) | (shares.values > 1)
    if bad.any():
        where = tuple(np.argwhere(bad)[0])
        keys = ", ".join(f"{d} {np.asarray(shares.coords[d][i])}" for d, i in zip(shares.dims, where))
        raise InputError(path, "value", f"a share in [0, 1], got {float(shares.values[where]):g} at {keys}")


def _require_complete(table: Table, file: str, dim: str, along: str) -> None:
    """Every ``dim`` x ``along`` combination of a long table given (a gap is an input
    error naming the missing keys, never a NaN that flows on)."""
    holes = np.isnan(table.transpose(along, dim).values)
    if holes.any():
        pairs = [f"{along} {table.coords[along][a]}, {dim} {table.coords[dim][d]}" for a, d in np.argwhere(holes)]
        raise InputError(file, "value", f"a row for every {along} and {dim}; missing {pairs[:5]}")


@per_file_version
def _carbon_rows(path: Path) -> dict[str, tuple]:
    """The rows of the carbon table by parameter: ``(years, values, units)``, file order."""
    rows = read_rows(path, ("parameter", "year"), constants_allowed=True)
    return {name: (group["year"], group["value"].to_numpy(), group["unit"].astype(str).tolist()) for name, group in rows.groupby("parameter", sort=False)}


@per_file_version
def _carbon_shares(path: Path) -> Table:
    """The values of the carbon table given as shares (unit ``1``) by file ``row``."""
    rows = read_rows(path, ("parameter", "year"), constants_allowed=True)
    shares = rows[rows["unit"].astype(str) == "1"]
    return Table(("row",), {"row": (shares.index + 2).to_numpy()}, shares["value"].to_numpy(), "1")


@per_file_version
def _carbon_value(path: Path, name: str, unit: str) -> tuple[float, Table | None]:
    """A carbon parameter in ``unit``: its first row's value, and its values by ``year``
    (file order) when its rows give years."""
    if name not in _carbon_rows(path):
        raise InputError(path, "parameter", f"a row for {name!r}")
    years, values, units = _carbon_rows(path)[name]
    converted = np.array([ureg.Quantity(v, u).to(unit).magnitude for v, u in zip(values, units)])
    if years.isna().all():
        return float(converted[0]), None
    return float(converted[0]), Table(("year",), {"year": years.astype(int).to_numpy()}, converted, unit)


def _carbon_scalar(path: Path, name: str, unit: str) -> Table:
    return _scalar(_carbon_value(path, name, unit)[0], unit)


def _carbon_path(path: Path, name: str, unit: str, years: np.ndarray, scale: float = 1.0) -> Table:
    """A carbon parameter by ``year`` (times ``scale``): interpolated when its rows give
    years, else its one value in every year."""
    first, by_year = _carbon_value(path, name, unit)
    series = _series(first, unit, years) if by_year is None else interpolate_years(by_year, years)
    return series.replace(series.values * scale)


@per_file_version
def _carbon_by_element(path: Path, unit: str) -> Table:
    """``primary_emission_factor_<element>`` rows by ``element``, in ``unit``."""
    rows = read_rows(path, ("parameter", "year"), constants_allowed=True)
    rows = rows[rows["parameter"].str.startswith("primary_emission_factor_")]
    elements = [p.removeprefix("primary_emission_factor_") for p in rows["parameter"]]
    values = [ureg.Quantity(v, u).to(unit).magnitude for v, u in zip(rows["value"], rows["unit"])]
    return Table(("element",), {"element": np.array(elements)}, np.array(values, dtype=float), unit)


def _stack(per_scenario: dict[str, dict[str, Table]]) -> tuple[dict[str, xr.Variable], dict[str, np.ndarray]]:
    """Every parameter of every scenario along a leading ``scenario`` dim, as xarray's
    outer join would align them: each dim on the union of the scenarios' labels (sorted
    unless all agree), a parameter lacking a dim repeated along it, NaN where a
    scenario has no value. Plain numbers; ``attrs['units']`` the unit."""
    # a scenario's parameters on the labels its first parameter with each dim gives (as
    # assigning into one dataset would align them), then on the union of the scenarios'
    own = [{} for _ in per_scenario]
    for mine, p in zip(own, per_scenario.values()):
        for t in p.values():
            for d in t.dims:
                mine.setdefault(d, t.coords[d])
    coords = {}
    for dim in dict.fromkeys(d for labels in own for d in labels):
        given = [labels[dim] for labels in own if dim in labels]
        same = all(np.array_equal(given[0], g) for g in given[1:])
        labels = given[0] if same else functools.reduce(pd.Index.union, map(pd.Index, given)).to_numpy()
        coords[dim] = labels.astype(str) if labels.dtype.kind == "O" else labels  # names as numpy strings, whichever table gave them
    sizes = {d: len(c) for d, c in coords.items()}
    variables = {}
    for name in dict.fromkeys(name for p in per_scenario.values() for name in p):
        present = [p[name] for p in per_scenario.values() if name in p]
        dims = tuple(dict.fromkeys(d for t in present for d in t.dims))
        shape = tuple(sizes[d] for d in dims)
        rows = []
        for p in per_scenario.values():
            if name not in p:
                rows.append(np.full(shape, np.nan))
                continue
            t = reindex(p[name], {d: coords[d] for d in p[name].dims})
            rows.append(t.values if t.dims == dims else t.spread(dims, sizes))
        variables[name] = xr.Variable(("scenario", *dims), np.stack(rows), attrs={"units": present[0].unit})
    return variables, coords


@functools.lru_cache(maxsize=16)
def _coordinates(labels: tuple[tuple[str, str, bytes], ...]) -> xr.Coordinates:
    """The coordinates ``(dim, dtype, bytes)`` give, with their indexes: built once, as
    repeated runs of a case have the same labels (pandas indexes cost more than the rest
    of the dataset)."""
    return xr.Coordinates({dim: np.frombuffer(data, dtype=dtype) for dim, dtype, data in labels})


_FILES: dict[int, tuple[config.Scenario, list[Path]]] = {}
_STACKED: dict[tuple, tuple[tuple, tuple, xr.Dataset]] = {}


def _input_files(cfg: config.Scenario) -> list[Path]:
    """The input files ``cfg`` names, resolved; found once per settings object (they are
    frozen), kept with it so that its id is not reused while cached."""
    from .provenance import input_files

    known = _FILES.get(id(cfg))
    if known is None or known[0] is not cfg:
        if len(_FILES) >= 64:
            _FILES.pop(next(iter(_FILES)))
        known = _FILES[id(cfg)] = (cfg, [config.resolve(name) for name in input_files({"": cfg})])
    return known[1]


def build(scenarios: dict[str, config.Scenario]) -> xr.Dataset:
    """Parameters of every scenario, stacked along ``scenario``, pint-quantified; each
    variable's ``attrs`` name, per scenario, its setting and the file it came from
    (:mod:`mfa.provenance`).

    Built once per set of scenario settings objects (frozen) and versions of the input
    files they name: running the same scenarios again (a planner's session, a benchmark)
    gets a shallow copy of the same, read-only arrays."""
    cfgs = tuple(scenarios.values())
    key = tuple((name, id(cfg)) for name, cfg in scenarios.items())
    versions = tuple(version(path) for cfg in cfgs for path in _input_files(cfg))
    hit = _STACKED.get(key)
    if hit is not None and hit[1] == versions and all(a is b for a, b in zip(hit[0], cfgs)):
        return hit[2].copy()
    stacked = _build(scenarios)
    for variable in stacked.data_vars.values():
        variable.data.magnitude.flags.writeable = False
    if None not in versions:  # a missing file is an error a rerun must give again
        if len(_STACKED) >= 16:
            _STACKED.pop(next(iter(_STACKED)))
        _STACKED[key] = (cfgs, versions, stacked)
    return stacked.copy()


def _build(scenarios: dict[str, config.Scenario]) -> xr.Dataset:
    from . import provenance

    per, data_end = {}, []
    for name, cfg in scenarios.items():
        per[name], end = scenario_parameters(cfg)
        data_end.append(end)
    # The choice for years past every projection table: run on, each path held flat at its
    # last value, and say so once (a shorter years.end avoids it).
    end, data_end = next(iter(scenarios.values())).years.end, min(data_end)
    if end > data_end:
        log.warning("years.end %d is past the input data, whose projections end in %d: every path is held flat from its last year (set years.end <= %d to avoid this)", end, data_end, data_end)
    variables, coords = _stack(per)
    settings = {SETTINGS.get(name, "") for name in variables}
    origins = {(scenario, setting): provenance.origin(cfg, setting) for scenario, cfg in scenarios.items() for setting in settings}
    data_vars = {}
    for name, variable in variables.items():
        values = variable.values
        if name in segments.ABSENT:
            values = np.where(np.isnan(values), segments.ABSENT[name], values)
        attrs = {}
        for scenario in scenarios:
            attrs[f"file_{scenario}"], attrs[f"setting_{scenario}"] = origins[scenario, SETTINGS.get(name, "")]
        data_vars[name] = xr.Variable(variable.dims, ureg.Quantity(values, as_unit(variable.attrs["units"])), attrs=attrs)
    stacked = xr.Dataset(data_vars, coords=_coordinates(tuple((d, c.dtype.str, c.tobytes()) for d, c in {"scenario": np.array(list(scenarios)), **coords}.items())))
    stacked.attrs["history_end"] = next(iter(scenarios.values())).years.history_end
    reasons = {name: cfg.fleet.projection_break for name, cfg in scenarios.items() if cfg.fleet.projection_break}
    stacked.attrs["projection_break"] = "; ".join(f"{name}: {why}" for name, why in reasons.items())
    return stacked


def perturb(p: xr.Dataset, draws: xr.DataArray, scenarios: dict[str, config.Scenario]) -> xr.Dataset:
    """Parameters with a ``sample`` dim: ``draws`` (``scenario``, ``sample``, ``parameter``)
    applied to the named variables as each scenario's distribution says (a factor on the
    parameter, or its value in the parameter's unit), optionally on a slice only and
    keeping a sum (:class:`mfa.config.Distribution`). NaN draws leave a value as it is;
    draws that would leave a parameter's range (:data:`RANGES`) are clipped to it.

    Each perturbed variable has dims ``scenario``, ``sample`` and its own; the arithmetic
    is numpy's on axes in that order (this runs once per Monte-Carlo chunk, and xarray's
    per-operation cost was most of it)."""
    changed_vars, clipped = {}, []
    drawn = draws.transpose("scenario", "sample", "parameter").values
    for j, name in enumerate(draws["parameter"].values.tolist()):
        owner = next(cfg for cfg in scenarios.values() if name in cfg.uncertainty)
        spec = owner.uncertainty[name]
        if name not in p:
            raise owner.error(f"uncertainty.{name}", f"one of the model's parameters: {sorted(p.data_vars)}")
        variable = p.variables[name]  # dims: scenario first (build stacks by scenario)
        dims = variable.dims[1:]
        base = np.asarray(variable.data.magnitude)[:, None]  # scenario, sample, *dims
        value = drawn[:, :, j].reshape(drawn.shape[:2] + (1,) * len(dims))
        changed = np.where(np.isnan(value), base, base * value if spec.multiply else value)
        if spec.where:
            unknown = [k for k in spec.where if k not in dims]
            if unknown:
                raise owner.error(f"uncertainty.{name}.where", f"dims of {name}: {list(variable.dims)}")
            mask = np.ones((1, 1) + tuple(len(p.variables[d]) if d in spec.where else 1 for d in dims), bool)
            for k, label in spec.where.items():
                axis = dims.index(k)
                mask = mask & (p.variables[k].values == label).reshape((1, 1) + tuple(-1 if i == axis else 1 for i in range(len(dims))))
            changed = np.where(mask, changed, base)
            if spec.renormalise:
                axis = 2 + dims.index(spec.renormalise)
                total = base.sum(axis, keepdims=True)
                outside_before = total - np.where(mask, base, 0.0).sum(axis, keepdims=True)
                outside_after = total - np.where(mask, changed, 0.0).sum(axis, keepdims=True)
                # the rest of the sum scales to keep it; a rest that was zero stays as it is
                rest = np.divide(outside_after, outside_before, out=np.ones(np.broadcast_shapes(outside_after.shape, outside_before.shape)), where=outside_before != 0)
                changed = np.where(mask, changed, changed * np.maximum(np.nan_to_num(rest, nan=1.0), 0.0))
        # A draw never takes a parameter out of its range: values beyond it are clipped
        # to the bound, and how many is recorded (results.nc attribute clipped_draws).
        low, high = RANGES.get(name, (0.0, np.inf))
        if not (changed.min() >= low and changed.max() <= high):  # mostly within: two reductions, no masks (a NaN takes the full path)
            outside = int(np.count_nonzero((changed < low) | (changed > high)))
            if outside:
                clipped.append(f"{name}: {outside} of {changed.size} values to [{low:g}, {high:g}]")
            changed = np.clip(changed, low, high)
        changed_vars[name] = xr.Variable(("scenario", "sample", *dims), ureg.Quantity(changed, variable.data.units), attrs=variable.attrs)
    variables = {k: changed_vars.get(k, p.variables[k]) for k in p.data_vars}
    out = xr.Dataset(variables, coords=p.coords, attrs=dict(p.attrs)).assign_coords(sample=draws["sample"].values)
    if clipped:
        out.attrs["clipped_draws"] = "; ".join(clipped)
    return out
