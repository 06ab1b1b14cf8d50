"""The Hainan study case end to end: outputs, units, mass balance, calibration."""

import cf_units
import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfa import config, model
from mfa.io import outputs
from mfa.units import plain

REQUIRED = {
    "vehicle_stock": ("scenario", "region", "year", "segment", "powertrain"),
    "vehicle_sales": ("scenario", "region", "year", "segment", "powertrain"),
    "vehicle_retired": ("scenario", "region", "year", "segment", "powertrain"),
    "battery_capacity_demand": ("scenario", "region", "year", "segment", "chemistry"),
    "metal_demand": ("scenario", "region", "year", "element"),
    "metal_in_use": ("scenario", "region", "year", "element"),
    "metal_end_of_life": ("scenario", "region", "year", "element"),
    "metal_second_use": ("scenario", "region", "year", "element"),
    "metal_recovered": ("scenario", "region", "year", "element"),
    "metal_lost": ("scenario", "region", "year", "element"),
    "carbon_reduction": ("scenario", "region", "year", "bound"),
}
UNITS = {
    "vehicle_stock": "1", "vehicle_sales": "yr-1", "battery_capacity_demand": "kW h yr-1",
    "metal_demand": "t yr-1", "metal_in_use": "t", "carbon_reduction": "t yr-1",
}


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    scenarios = config.load_scenarios("hainan-study")
    results, params = model.run(scenarios)
    out = tmp_path_factory.mktemp("outputs")
    paths, cal, _ = outputs.write_all(results, params, scenarios, out)
    return results, paths, cal


def test_results_nc_golden(study_run):
    _, paths, _ = study_run
    with netCDF4.Dataset(paths["results"]) as nc:
        assert nc.Conventions == "CF-1.8"
        for attr in ("scenario_files", "input_files", "package_version"):
            assert getattr(nc, attr)
        assert "scenarios/hainan-study/negative.yaml" in nc.scenario_files
        assert "inputs/metal_intensity.csv" in nc.input_files
        for name, dims in REQUIRED.items():
            assert nc[name].dimensions == dims, name
            assert nc[name].long_name and nc[name].description, name
        for name, unit in UNITS.items():
            assert nc[name].units == unit, name
        for name, var in nc.variables.items():
            if var.dtype.kind == "S" or name == "time_bnds":  # labels; CF bounds take their coordinate's units
                continue
            assert hasattr(var, "units"), f"{name} has no units"
            cf_units.Unit(var.units)  # raises on anything UDUNITS cannot read
        assert nc["year"].dtype == np.int32
        assert "_FillValue" not in nc["year"].ncattrs()
        assert list(nc["region"][:]) == [460000]
    ds = xr.open_dataset(paths["results"])
    assert list(ds["scenario"].values) == ["negative", "conservative", "positive"]
    assert set(ds["element"].values) >= {"Li", "Ni", "Co", "Mn"}
    assert int(ds["year"][0]) == 2015 and int(ds["year"][-1]) == 2050


def test_every_output_file_exists(study_run):
    _, paths, _ = study_run
    for name in ("results", "gis", "geopackage", "summary", "calibration", "parameters", "workbook"):
        assert paths[name].exists() and paths[name].stat().st_size > 0, name
    assert not any(path.suffix == ".png" for path in paths.values())  # plots on request only
    summary = pd.read_csv(paths["summary"])
    assert {"scenario", "region", "variable", "detail", "unit", "cumulative_2023_2050", "value_2030", "value_2050"} <= set(summary.columns)
    for unit in set(summary["unit"]) | set(summary["cumulative_unit"].dropna()):
        cf_units.Unit(unit)


def test_plots_on_request(study_run, tmp_path):
    results, _, _ = study_run
    paths = outputs.write_plots(results, tmp_path / "plots")
    assert set(paths) == {"demand", "recovery", "carbon", "demand_by_chemistry"}
    for path in paths.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def _change(stock: xr.DataArray, unit: str) -> xr.DataArray:
    values = plain(stock, unit)
    return values.diff("year", label="upper").reindex(year=values["year"], fill_value=0.0) + xr.where(values["year"] == values["year"][0], values, 0.0)


def test_mass_balance_of_every_process(study_run):
    """Each process balanced, written out by hand (independent of mfa.balance and the
    system definition): inflows - outflows - stock change = 0 in every year."""
    results, _, _ = study_run
    assert results.attrs["max_rel_balance_error"] < 1e-12
    for prefix, demand, stock_in_use, eol, to_2nd, in_2nd, from_2nd, collected, uncollected, unit in (
        ("battery", "battery_capacity_demand", "battery_capacity_in_use", "battery_end_of_life", "battery_to_second_use",
         "battery_in_second_use", "battery_second_use_retired", "battery_collected", "battery_uncollected", "kWh"),
        ("metal", "metal_demand", "metal_in_use", "metal_end_of_life", "metal_second_use",
         "metal_in_second_use", "metal_second_use_retired", "metal_collected", "metal_uncollected", "t"),
    ):
        def r(name, unit=unit):
            return plain(results[name], f"{unit}/yr")

        gaps = {
            "in use": r(demand) - r(eol) - _change(results[stock_in_use], unit),
            "sorting": r(eol) + r(from_2nd) - r(to_2nd) - r(collected) - r(uncollected),
            "second use": r(to_2nd) - r(from_2nd) - _change(results[in_2nd], unit),
        }
        for process, gap in gaps.items():
            scale = float(np.abs(r(demand)).max())
            assert float(np.abs(gap).max()) <= 1e-9 * scale, f"{prefix} {process}"
    recycling = plain(results["metal_collected"] - results["metal_recovered"] - results["metal_process_loss"], "t/yr")
    assert float(np.abs(recycling).max()) <= 1e-9 * float(plain(results["metal_collected"], "t/yr").max())
    vehicles = plain(results["vehicle_sales"] - results["vehicle_retired"], "vehicle/yr") - _change(results["vehicle_stock"], "vehicle")
    assert float(np.abs(vehicles).max()) <= 1e-9 * float(plain(results["vehicle_stock"], "vehicle").max())


def test_calibration_within_ten_percent(study_run):
    _, _, cal = study_run
    assert len(cal) == 8 * 2 + 6 + 5
    worst = cal.loc[cal["difference_pct"].abs().idxmax()]
    assert cal["difference_pct"].abs().max() <= 10, f"worst row: {worst.to_dict()}"


def test_uncollected_is_lost_not_dropped(study_run):
    results, _, _ = study_run
    eol = plain(results["metal_end_of_life"], "t/yr").sum("year")
    # everything that left cars is recovered, lost, or still in second use at the end
    fates = plain(results["metal_recovered"] + results["metal_lost"], "t/yr").sum("year") + plain(results["metal_in_second_use"].isel(year=-1), "t")
    np.testing.assert_allclose(eol, fates, rtol=1e-9)


def test_scenario_subset_and_override():
    scenarios = config.load_scenarios("hainan-study", ["positive"], ["end_of_life.collection_rate=0.5"])
    assert list(scenarios) == ["positive"]
    results, _ = model.run(scenarios)
    assert results.sizes["scenario"] == 1


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    collection=st.floats(0.0, 1.0),
    second_use=st.floats(0.0, 1.0),
    battery_scale=st.floats(4.0, 20.0),
    vehicle_mean=st.floats(6.0, 25.0),
    capacity_scale=st.floats(0.3, 2.0),
    share_2030=st.floats(0.0, 1.0),
    saturation=st.floats(200.0, 600.0),
    max_age=st.floats(0.0, 20.0),
)
def test_mass_balance_under_random_parameters(collection, second_use, battery_scale, vehicle_mean, capacity_scale, share_2030, saturation, max_age):
    overrides = [
        f"end_of_life.collection_rate={collection}",
        f"end_of_life.second_use_share={{default: {second_use}}}",
        f"batteries.lifetime.scale={battery_scale}",
        f"fleet.lifetime.mean={vehicle_mean}",
        f"batteries.capacity_scale={capacity_scale}",
        f"fleet.nev_share_of_sales={{2030: {share_2030}}}",
        f"fleet.cars_per_1000.saturation={saturation}",
        f"batteries.replacement_max_vehicle_age={max_age}",
    ]
    results, _ = model.run(config.load_scenarios("hainan-study", ["conservative"], overrides))
    assert results.attrs["max_rel_balance_error"] < 1e-9


CASES = ("hainan-study", "hainan-outlook", "china-provinces")


@pytest.fixture(scope="module", params=CASES)
def case_run(request):
    scenarios = config.load_scenarios(request.param)
    results, params = model.run(scenarios)
    return request.param, scenarios, results


def test_history_is_the_same_in_every_scenario(case_run):
    """Registrations, packs, chemistry and collection up to history_end are data: every
    flow and stock of the historic years is identical across scenarios."""
    _, scenarios, results = case_run
    h = next(iter(scenarios.values())).years.history_end
    from mfa import definition

    system = definition.load()
    for name, var in system.variables.items():
        if var.kind not in ("flow", "stock", "part", "total"):
            continue
        history = results[name].sel(year=slice(None, h))
        values = history.data.magnitude
        first = values[(slice(None),) * history.get_axis_num("scenario") + (slice(0, 1),)]
        np.testing.assert_allclose(values, np.broadcast_to(first, values.shape), rtol=1e-12, atol=1e-12, err_msg=name)


def test_no_seam_between_history_and_projection(case_run):
    """NEV sales of the first projection year within 15 % of the last historic year,
    nationally and in every region, unless the case declares a break."""
    case, scenarios, results = case_run
    first = next(iter(scenarios.values()))
    h = first.years.history_end
    sales = plain(results["vehicle_sales"].sum(["segment", "powertrain"]), "vehicle/yr")
    ratio = sales.sel(year=h + 1) / sales.sel(year=h)
    total = sales.sum("region")
    national = total.sel(year=h + 1) / total.sel(year=h)
    if first.fleet.projection_break:
        assert first.fleet.projection_break in results.attrs["projection_break"]
        assert float(np.abs(national - 1).max()) > 0.15, "a declared break that does not break"
        return
    assert float(np.abs(national - 1).max()) <= 0.15, national.values
    assert float(np.abs(ratio - 1).max()) <= 0.15, ratio.where(np.abs(ratio - 1) > 0.15, drop=True).to_series().head()


def test_nev_sales_never_exceed_the_car_market(case_run):
    _, _, results = case_run
    nev = plain(results["vehicle_sales"].sum("powertrain"), "vehicle/yr")
    market = plain(results["total_vehicle_sales"], "vehicle/yr")
    assert float((nev - market).max()) <= 1e-6 * float(market.max())
    share = plain(results["nev_share_of_sales"], "1")
    assert float(share.min()) >= 0 and float(share.max()) <= 1 + 1e-12


def test_vehicle_survival_is_built_once_a_run_and_let_go_with_its_parameters():
    """The fleet and battery steps share one set of vehicle survival matrices per
    parameter Dataset: equal to building them anew, read-only, and gone with the Dataset."""
    import gc

    from mfa import arrays, fleet

    _, p = model.run(config.load_scenarios("china-provinces", ["conservative"]))
    in_fleet, in_batteries = ("scenario", "region", "segment", "powertrain"), ("scenario", "region", "segment", "chemistry")
    shared = fleet.vehicle_survival(p, in_fleet)
    assert np.shares_memory(shared, fleet.vehicle_survival(p, in_batteries)) and not shared.flags.writeable
    np.testing.assert_array_equal(shared, arrays.survival(fleet.vehicle_lifetime(p), arrays.labels(p, "year"), in_fleet))
    # a Dataset changed in place and passed again gets matrices of its new values
    p["vehicle_lifetime_scale"] = p["vehicle_lifetime_scale"] * 1.5
    longer = fleet.vehicle_survival(p, in_fleet)
    assert longer[..., 20, 5].min() > shared[..., 20, 5].max()
    np.testing.assert_array_equal(longer, arrays.survival(fleet.vehicle_lifetime(p), arrays.labels(p, "year"), in_fleet))
    key = id(p)
    assert key in fleet._SURVIVAL
    del p
    gc.collect()
    assert key not in fleet._SURVIVAL
