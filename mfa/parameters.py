"""Scenario settings and input tables -> one ``xr.Dataset`` of model parameters.

Every variable is pint-quantified and carries the dims it varies along: ``scenario``
always, and ``year`` (calendar year), ``cohort`` (sale year), ``powertrain``,
``chemistry``, ``element``, ``bound`` where they apply. The model modules read only this
dataset; none of them knows how many scenarios there are.
"""

from __future__ import annotations

import functools
import logging
import operator
from pathlib import Path

import numpy as np
import xarray as xr

from . import config, segments
from .errors import InputError
from .inputs import interpolate_years, read_rows, read_table, select_keys
from .units import ureg

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


def _series(value, unit: str, years) -> xr.DataArray:
    """A config number or ``{year: number}`` as a quantified DataArray over ``years``."""
    if isinstance(value, dict):
        da = xr.DataArray(list(value.values()), dims="year", coords={"year": list(value.keys())})
        da = interpolate_years(da, years)
    else:
        da = xr.DataArray(np.full(len(years), float(value)), dims="year", coords={"year": years})
    return da.pint.quantify(unit, unit_registry=ureg)


def _by_name(mapping: dict, names, unit: str, dim: str) -> xr.DataArray:
    """A ``{name: value, 'default': value}`` mapping over ``names`` along ``dim``."""
    missing = [n for n in names if n not in mapping and "default" not in mapping]
    if missing:
        raise ValueError(f"no value for {missing} and no 'default'")
    values = [mapping.get(n, mapping.get("default")) for n in names]
    return xr.DataArray(values, dims=dim, coords={dim: list(names)}).pint.quantify(unit, unit_registry=ureg)


def _stack(per_scenario: dict[str, xr.DataArray | xr.Dataset]):
    names = list(per_scenario)
    return xr.concat([per_scenario[n] for n in names], dim=xr.DataArray(names, dims="scenario", name="scenario"), join="outer")


def _weibull_scale(spec: config.WeibullSpec, cohorts, chemistries=None) -> xr.DataArray:
    """Weibull scale in years by cohort (and chemistry when given by chemistry)."""
    from scipy.special import gamma

    if spec.mean is not None:
        mean = _series(spec.mean, "yr", cohorts).rename(year="cohort")
        return mean / gamma(1 + 1 / spec.shape)
    if isinstance(spec.scale, dict) and all(isinstance(k, str) for k in spec.scale):
        return _by_name(spec.scale, chemistries, "yr", "chemistry")
    return _series(spec.scale, "yr", cohorts).rename(year="cohort")


def _regional_history(cfg: config.Scenario, history_years: np.ndarray):
    """Passenger registrations, official stock, population, cars per 1000 and the NEV
    share of new-car sales in the last historic year by ``region``: the province
    table's regions, replaced by those with data of their own."""
    from . import regions

    registrations, official, population, cpk, share = [], [], [], [], []
    if cfg.province_table is not None:
        table = regions.table_registrations(cfg.province_table, history_years)
        own_codes = list(cfg.regions)
        table = table.drop_sel(region=[c for c in own_codes if c in table["region"].values])
        registrations.append(table)
        population.append(regions.table_population(cfg.province_table).sel(region=table["region"]))
        codes = table["region"].values
        cpk.append(xr.DataArray(np.full(len(codes), cfg.province_table.cars_per_1000_observed), dims="region", coords={"region": codes}))
        share.append(xr.DataArray(np.full(len(codes), cfg.province_table.nev_share_of_new_cars), dims="region", coords={"region": codes}))
    for code, region in cfg.regions.items():
        reg, off, pop = regions.own_history(code, region, cfg, history_years, cfg.fleet.passenger_share)
        registrations.append(reg)
        population.append(pop)
        cpk.append(xr.DataArray([region.cars_per_1000_observed], dims="region", coords={"region": [code]}))
        share.append(regions.own_nev_share(code, region, cfg, int(history_years[-1])))
        if off is not None:
            official.append(off)
    only = cfg.case.only_regions

    def join(parts):
        joined = xr.concat(parts, "region", join="outer").sortby("region")
        return joined if only is None else joined.sel(region=[r for r in joined["region"].values if r in only])

    if only is not None:
        known = {int(r) for part in registrations for r in part["region"].values}
        if unknown := sorted(set(only) - known):
            raise cfg.error("case.only_regions", f"codes of the case's regions; unknown {unknown}")

    cars_per_1000 = join(cpk).pint.quantify("1", unit_registry=ureg)
    return (
        join(registrations),
        join(official) if official else None,
        join(population),
        cars_per_1000,
        join(share).pint.quantify("1", unit_registry=ureg),
    )


def scenario_parameters(cfg: config.Scenario) -> xr.Dataset:
    """All parameters of one scenario (no ``scenario`` dim)."""
    y = cfg.years
    years = np.arange(y.start, y.end + 1)
    fleet, bat, eol, carbon = cfg.fleet, cfg.batteries, cfg.end_of_life, cfg.carbon
    p = xr.Dataset(coords={"year": years, "powertrain": POWERTRAINS})

    # fleet
    registrations, official, population, cars_per_1000, nev_share_observed = _regional_history(cfg, years[years <= y.history_end])
    p["nev_registrations"] = registrations.reindex(year=years, fill_value=0.0)
    if official is not None:
        p["official_nev_stock"] = official
    p["population_observed"] = population
    p["cars_per_1000_observed"] = cars_per_1000
    p["population_growth"] = _series(fleet.population_growth, "1/yr", years)
    p["passenger_share"] = ureg.Quantity(fleet.passenger_share, "1")
    p["cars_per_1000_saturation"] = ureg.Quantity(fleet.cars_per_1000.saturation, "1")
    p["cars_per_1000_rate"] = ureg.Quantity(fleet.cars_per_1000.rate, "1/yr")
    p["car_lifetime_shape"] = ureg.Quantity(fleet.car_lifetime.shape, "1")
    p["car_lifetime_scale"] = _weibull_scale(fleet.car_lifetime, years)
    p["nev_share_observed"] = nev_share_observed
    p["projection_break"] = ureg.Quantity(float(fleet.projection_break is not None), "1")
    for part, da in _share_path(fleet.nev_share_of_sales, y.history_end, years, cfg.error).items():
        p[f"nev_share_of_sales_{part}"] = da.pint.quantify("1" if part != "slope_weight" else "yr", unit_registry=ureg)
    bev = _series(fleet.bev_share_of_sales, "1", years).rename(year="cohort")
    p["powertrain_share"] = xr.concat([bev, 1 - bev], dim=xr.DataArray(POWERTRAINS, dims="powertrain"))
    p["vehicle_lifetime_shape"] = ureg.Quantity(fleet.lifetime.shape, "1")
    p["vehicle_lifetime_scale"] = _weibull_scale(fleet.lifetime, years)

    # batteries
    capacity_table = read_table(cfg.input_file("batteries.capacity_file", bat.capacity_file), ("powertrain", "year"), "kWh/vehicle")
    # capacity_scale is a scenario lever: it moves the packs of projected cohorts only,
    # never the history (the packs already sold are data, the same in every scenario)
    scale = _series(bat.capacity_scale, "1", years).where(xr.DataArray(years > y.history_end, dims="year", coords={"year": years}), 1.0)
    capacity = interpolate_years(capacity_table, years) * scale
    p["battery_capacity"] = capacity.sel(powertrain=POWERTRAINS).rename(year="cohort")
    chemistry_file = cfg.input_file("batteries.chemistry_file", bat.chemistry_file)
    shares = read_table(chemistry_file, ("path", "year", "chemistry"), "1", {"path": bat.chemistry_path}).fillna(0.0)
    totals = shares.sum("chemistry").pint.dequantify()
    if not np.allclose(totals, 1.0, atol=1e-6):
        bad = int(totals["year"][np.argmax(np.abs(totals.values - 1))])
        raise InputError(chemistry_file, "value", f"chemistry shares of path {bat.chemistry_path!r} summing to 1; year {bad} sums to {float(totals.sel(year=bad)):.4f}")
    # every chemistry of the passenger and the commercial mixes (each mix is 0 for the others')
    chemistries = list(dict.fromkeys([*shares["chemistry"].values, *segments.chemistries(cfg)]))
    p["chemistry_share"] = interpolate_years(shares, years).rename(year="cohort").reindex(chemistry=chemistries, fill_value=0.0)
    intensity = read_table(cfg.input_file("batteries.intensity_file", bat.intensity_file), ("chemistry", "element"), "kg/kWh")
    select_keys(intensity, "chemistry", chemistries, bat.intensity_file, "metal content for every chemistry in use")
    _require_complete(intensity, bat.intensity_file, "element", "chemistry")
    # elements in the order the file gives them (Li, Ni, Co, Mn first), not alphabetical
    elements = list(dict.fromkeys(read_rows(cfg.input_file("batteries.intensity_file", bat.intensity_file), ("chemistry", "element"))["element"]))
    intensity = intensity.sel(element=elements)
    p["metal_intensity"] = intensity.sel(chemistry=chemistries)
    p["pack_mass_per_kwh"] = _by_chemistry(cfg, "batteries.pack_mass_file", bat.pack_mass_file, "kg/kWh", chemistries)
    p["black_mass_yield"] = _by_chemistry(cfg, "batteries.black_mass_file", bat.black_mass_file, "1", chemistries)
    p["battery_lifetime_shape"] = ureg.Quantity(bat.lifetime.shape, "1")
    p["battery_lifetime_scale"] = _weibull_scale(bat.lifetime, years, chemistries)
    p["replacement_max_vehicle_age"] = ureg.Quantity(bat.replacement_max_vehicle_age, "yr")

    # end of life
    try:
        p["second_use_share"] = _by_name(eol.second_use_share, chemistries, "1", "chemistry")
    except ValueError as err:
        raise cfg.error("end_of_life.second_use_share", str(err)) from err
    p["second_use_mean"] = ureg.Quantity(eol.second_use_lifetime.mean, "yr")
    p["second_use_sd"] = ureg.Quantity(eol.second_use_lifetime.sd, "yr")
    p["second_use_collection_rate"] = ureg.Quantity(eol.second_use_collection_rate, "1")
    p["collection_rate"] = _series(eol.collection_rate, "1", years)
    efficiency_file = cfg.input_file("end_of_life.efficiency_file", eol.efficiency_file)
    efficiency = read_table(efficiency_file, ("process", "element"), "1")
    _shares_in_range(efficiency_file, efficiency)
    _require_complete(efficiency, eol.efficiency_file, "element", "process")
    efficiency = select_keys(efficiency, "element", intensity["element"].values, eol.efficiency_file,
                             f"a recovery efficiency for every element of {bat.intensity_file}")
    unknown = sorted(set(eol.recycling_process.values()) - set(efficiency["process"].values))
    if unknown:
        raise cfg.error("end_of_life.recycling_process", f"processes of {eol.efficiency_file}; unknown {unknown}")
    starts = sorted(eol.recycling_process)
    in_use = [eol.recycling_process[max([s for s in starts if s <= yr], default=starts[0])] for yr in years]
    p["recovery_efficiency"] = efficiency.sel(process=xr.DataArray(in_use, dims="year", coords={"year": years})).drop_vars("process")

    # carbon
    carbon_file = cfg.input_file("carbon.file", carbon.file)
    rows = read_rows(carbon_file, ("parameter", "year"), constants_allowed=True)
    carbon_shares = rows[rows["unit"].astype(str) == "1"]
    if len(carbon_shares):
        _shares_in_range(carbon_file, xr.DataArray(carbon_shares["value"].to_numpy(), dims="row", coords={"row": carbon_shares.index + 2}))

    p["petrol_emission_factor"] = _carbon_scalar(carbon_file, "petrol_emission_factor", "kg/L")
    p["ice_consumption"] = _carbon_path(carbon_file, "ice_fuel_consumption", "L/km", years) * carbon.ice_consumption_scale
    p["bev_consumption"] = _carbon_path(carbon_file, "bev_consumption", "kWh/km", years) * carbon.bev_consumption_scale
    if carbon.consumption_year is not None:
        for name in ("ice_consumption", "bev_consumption"):
            p[name] = p[name].sel(year=carbon.consumption_year, drop=True).broadcast_like(p[name])
    p["phev_electric_share"] = (
        _carbon_scalar(carbon_file, "phev_electric_share", "1")
        if carbon.phev_electric_share is None
        else ureg.Quantity(carbon.phev_electric_share, "1")
    )
    p["phev_fuel_consumption"] = _carbon_scalar(carbon_file, "phev_charge_sustaining_consumption", "L/km")
    mileage = _carbon_path(carbon_file, "annual_mileage", "km/yr", years)
    p["annual_mileage"] = mileage if carbon.annual_mileage is None else _series(carbon.annual_mileage, "km/yr", years)
    grid_file = cfg.input_file("carbon.grid_file", carbon.grid_file)
    grid = read_table(grid_file, ("path", "year"), "kg/kWh")
    unknown = sorted(set(carbon.grid_paths) - set(grid["path"].values))
    if unknown or not carbon.grid_paths:
        raise cfg.error("carbon.grid_paths", f"one or more paths of {carbon.grid_file}; unknown {unknown}")
    p.attrs["input_data_end"] = max(int(table["year"].max()) for table in (capacity_table, shares, grid))
    factors = interpolate_years(grid.sel(path=carbon.grid_paths), years)
    p["grid_factor"] = xr.concat([factors.max("path"), factors.min("path")], dim=xr.DataArray(["lower", "upper"], dims="bound"))
    factors = _carbon_by_element(carbon_file, "kg/kg")
    p["primary_emission_factor"] = select_keys(factors, "element", intensity["element"].values, carbon_file,
                                               f"a primary_emission_factor_<element> row for every element of {bat.intensity_file}", "parameter")
    p["recycling_emission_saving_share"] = _carbon_scalar(carbon_file, "recycling_emission_saving_share", "1")
    return segments.extend(p, cfg, years, lambda anchors, field: _share_path(anchors, y.history_end, years, lambda _, expected: cfg.error(field, expected)))


def _share_path(anchors: dict[int, float], history_end: int, years: np.ndarray, error) -> dict[str, xr.DataArray]:
    """The projected NEV share of sales by ``year`` as two paths from the observed share
    in ``history_end``, each ``observed * weight + slope * slope_weight + rest``:

    - ``line``: straight to the first anchor, linear between later anchors, flat after;
    - the trend path: a cubic (Hermite) that leaves the observed share with the observed
      slope of the last historic year (no seam in level or trend) and meets the line at
      the first anchor with the line's slope, then follows it.

    The model takes the lower of the two, i.e. the trend capped by the straight line (a
    one-year spurt in the history does not carry on). Weights, not values, so that the
    observed share and slope may differ by region."""
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
    coords = {"year": years}
    parts = {"weight": weight, "slope_weight": slope_weight, "rest": rest, "line_weight": line_weight, "line_rest": line_rest}
    return {k: xr.DataArray(v, dims="year", coords=coords) for k, v in parts.items()}


def _by_chemistry(cfg: config.Scenario, field: str, name: str, unit: str, chemistries: list[str]) -> xr.DataArray:
    """A table keyed by chemistry, in ``unit``, for every chemistry in use; a chemistry
    without a row is an input error naming the file and the chemistries (never a NaN)."""
    return select_keys(read_table(cfg.input_file(field, name), ("chemistry",), unit), "chemistry", chemistries, name,
                       "a row for every chemistry in use")


def _shares_in_range(path, shares: xr.DataArray) -> None:
    """Every share of a table in [0, 1], used by this run or not: a wrong number in a file
    is an input error wherever it stands."""
    values = shares.pint.dequantify() if hasattr(shares.data, "units") else shares
    bad = (values < 0) | (values > 1)
    if bool(bad.any()):
        where = values.where(bad, drop=True).stack(cell=values.dims).dropna("cell").isel(cell=0)
        keys = ", ".join(f"{d} {where[d].values}" for d in values.dims)
        raise InputError(path, "value", f"a share in [0, 1], got {float(where):g} at {keys}")


def _require_complete(table: xr.DataArray, file: str, dim: str, along: str) -> None:
    """Every ``dim`` x ``along`` combination of a long table given (a gap is an input
    error naming the missing keys, never a NaN that flows on)."""
    holes = table.pint.dequantify().isnull()
    if bool(holes.any()):
        where = holes.where(holes, drop=True)
        pairs = [f"{along} {a}, {dim} {d}" for a in where[along].values for d in where[dim].values if bool(holes.sel({along: a, dim: d}))]
        raise InputError(file, "value", f"a row for every {along} and {dim}; missing {pairs[:5]}")


def _carbon_rows(path: Path, name: str):
    rows = read_rows(path, ("parameter", "year"), constants_allowed=True)
    rows = rows[rows["parameter"] == name]
    if rows.empty:
        raise InputError(path, "parameter", f"a row for {name!r}")
    return rows


def _carbon_scalar(path: Path, name: str, unit: str):
    rows = _carbon_rows(path, name)
    return ureg.Quantity(float(rows["value"].iloc[0]), str(rows["unit"].iloc[0])).to(unit)


def _carbon_path(path: Path, name: str, unit: str, years) -> xr.DataArray:
    rows = _carbon_rows(path, name)
    if rows["year"].isna().all():
        return _series(_carbon_scalar(path, name, unit).magnitude, unit, years)
    converted = [ureg.Quantity(v, u).to(unit).magnitude for v, u in zip(rows["value"], rows["unit"])]
    da = xr.DataArray(converted, dims="year", coords={"year": rows["year"].astype(int).values})
    return interpolate_years(da, years).pint.quantify(unit, unit_registry=ureg)


def _carbon_by_element(path: Path, unit: str) -> xr.DataArray:
    rows = read_rows(path, ("parameter", "year"), constants_allowed=True)
    rows = rows[rows["parameter"].str.startswith("primary_emission_factor_")]
    elements = [p.removeprefix("primary_emission_factor_") for p in rows["parameter"]]
    values = [ureg.Quantity(v, u).to(unit).magnitude for v, u in zip(rows["value"], rows["unit"])]
    return xr.DataArray(values, dims="element", coords={"element": elements}).pint.quantify(unit, unit_registry=ureg)


def build(scenarios: dict[str, config.Scenario]) -> xr.Dataset:
    """Parameters of every scenario, stacked along ``scenario``; each variable's
    ``attrs`` name, per scenario, its setting and the file it came from
    (:mod:`mfa.provenance`)."""
    from . import provenance

    per = {}
    for name, cfg in scenarios.items():
        per[name] = scenario_parameters(cfg).pint.dequantify()
    # The choice for years past every projection table: run on, each path held flat at its
    # last value, and say so once (a shorter years.end avoids it).
    end, data_end = next(iter(scenarios.values())).years.end, min(p.attrs.pop("input_data_end") for p in per.values())
    if end > data_end:
        log.warning("years.end %d is past the input data, whose projections end in %d: every path is held flat from its last year (set years.end <= %d to avoid this)", end, data_end, data_end)
    stacked = _stack(per)
    for name, value in segments.ABSENT.items():
        if name in stacked:
            stacked[name] = stacked[name].fillna(value)
    stacked = stacked.pint.quantify(unit_registry=ureg)
    for name in stacked.data_vars:
        for scenario, cfg in scenarios.items():
            origin, setting = provenance.origin(cfg, SETTINGS.get(name, ""))
            stacked[name].attrs[f"file_{scenario}"] = origin
            stacked[name].attrs[f"setting_{scenario}"] = setting
    stacked.attrs["history_end"] = next(iter(scenarios.values())).years.history_end
    reasons = {name: cfg.fleet.projection_break for name, cfg in scenarios.items() if cfg.fleet.projection_break}
    stacked.attrs["projection_break"] = "; ".join(f"{name}: {why}" for name, why in reasons.items())
    return stacked


def perturb(p: xr.Dataset, draws: xr.DataArray, scenarios: dict[str, config.Scenario]) -> xr.Dataset:
    """Parameters with a ``sample`` dim: ``draws`` (``scenario``, ``sample``, ``parameter``)
    applied to the named variables as each scenario's distribution says (a factor on the
    parameter, or its value in the parameter's unit), optionally on a slice only and
    keeping a sum (:class:`mfa.config.Distribution`). NaN draws leave a value as it is;
    draws that would leave a parameter's range (:data:`RANGES`) are clipped to it."""
    p = p.copy()
    clipped = []
    for name in draws["parameter"].values:
        spec = next(cfg.uncertainty[name] for cfg in scenarios.values() if name in cfg.uncertainty)
        owner = next(cfg for cfg in scenarios.values() if name in cfg.uncertainty)
        if name not in p:
            raise owner.error(f"uncertainty.{name}", f"one of the model's parameters: {sorted(p.data_vars)}")
        unit = p[name].data.units
        base = p[name].copy(data=p[name].data.magnitude)
        value = draws.sel(parameter=name, drop=True)
        changed = base * value if spec.multiply else value.broadcast_like(base)
        changed = xr.where(value.isnull(), base, changed)
        if spec.where:
            unknown = [k for k in spec.where if k not in base.dims]
            if unknown:
                raise owner.error(f"uncertainty.{name}.where", f"dims of {name}: {list(base.dims)}")
            # a DataArray (xarray aligns it by dim name), not np.logical_and's bare array,
            # which broadcast by position and broke once chemistry was not the last dim
            # (unnamed: a mask named like its coordinate would lend that name to the result,
            # and pint-xarray would then put the unit on the coordinate too)
            mask = functools.reduce(operator.and_, [base[k] == v for k, v in spec.where.items()]).rename(None)
            changed = xr.where(mask, changed, base)
            if spec.renormalise:
                dim = spec.renormalise
                total = base.sum(dim)
                inside_before = base.where(mask, 0.0).sum(dim)
                inside_after = changed.where(mask, 0.0).sum(dim)
                rest = ((total - inside_after) / (total - inside_before).where(total - inside_before != 0)).fillna(1.0).clip(min=0.0)
                changed = xr.where(mask, changed, changed * rest)
        # A draw never takes a parameter out of its range: values beyond it are clipped
        # to the bound, and how many is recorded (results.nc attribute clipped_draws).
        low, high = RANGES.get(name, (0.0, np.inf))
        outside = int(((changed < low) | (changed > high)).sum())
        if outside:
            clipped.append(f"{name}: {outside} of {changed.size} values to [{low:g}, {high:g}]")
        changed = changed.clip(low, high)
        attrs = p[name].attrs
        p[name] = changed.transpose(*[d for d in ("scenario", "sample") if d in changed.dims], ...).pint.quantify(unit, unit_registry=ureg)
        p[name].attrs.update(attrs)
    if clipped:
        p.attrs["clipped_draws"] = "; ".join(clipped)
    return p
