"""The declared system: its derived structure, adding a process, and the invariants that
stop a run (NaN, negative flows, out-of-range parameters, unbalanced processes)."""

import copy
import sys
import types

import numpy as np
import pytest
import xarray as xr

from mfa import config, definition, invariants, model
from mfa.errors import InputError, InvariantError
from mfa.units import plain


@pytest.fixture(scope="module")
def system():
    return definition.load()


@pytest.fixture(scope="module")
def study():
    scenarios = config.load_scenarios("hainan-study", ["conservative"])
    return scenarios, *model.run(scenarios)


def test_structure_derived_from_the_declaration(system):
    assert system.inflows("battery_sorting", "capacity") == ["battery_end_of_life", "battery_second_use_retired"]
    assert system.outflows("battery_sorting", "capacity") == ["battery_to_second_use", "battery_collected", "battery_uncollected"]
    # material twins take their processes from the capacity flow they are the content of
    assert (system.variables["metal_collected"].from_, system.variables["metal_collected"].to) == ("battery_sorting", "recycling")
    assert system.stock("batteries_in_use", "metal") == "metal_in_use"
    # the loop through second use is drawn as a flow back, not a cycle
    assert system.back_flows("capacity") == ["battery_second_use_retired"]
    levels = system.levels("metal")
    assert levels["production"] < levels["batteries_in_use"] < levels["battery_sorting"] < levels["recycling"] < levels["secondary_market"]
    # recycling ends battery capacity (packs are broken up): no capacity balance there
    assert ("recycling", "capacity") not in system.balances()
    assert ("recycling", "metal") in system.balances()
    assert system.feedstock_streams("in") == {"retired": "battery_end_of_life", "from_second_use": "battery_second_use_retired"}
    assert system.unit("metal_in_use") == "t" and system.unit("metal_demand") == "t/yr"
    assert system.dims_of("battery_new") == ("scenario", "region", "year", "segment", "chemistry")


def test_every_declared_variable_in_results_with_metadata(system, study):
    _, results, _ = study
    assert set(system.variables) == set(results.data_vars)
    for name, var in system.variables.items():
        assert results[name].attrs["long_name"] == var.long_name
        assert set(results[name].dims) == set(system.dims_of(name)), name


def test_a_bad_declaration_is_refused():
    data = definition.raw()
    data["variables"]["battery_collected"]["to"] = "nowhere"
    with pytest.raises(InputError, match="nowhere"):
        definition.from_dict(data)


# --- adding a process: dismantling between collection and recycling -----------------

MODULE_LOSS = 0.08
"""Share of collected pack capacity lost when packs are taken apart into modules
(casings, wiring and damaged modules discarded); an illustrative value for the test."""


def dismantle(p, results, system):
    """The new process's function: modules go on to recycling, the rest is lost."""
    collected = results["battery_collected"]
    return xr.Dataset({"battery_dismantled": collected * (1 - MODULE_LOSS), "battery_dismantling_loss": collected * MODULE_LOSS})


def with_dismantling() -> definition.System:
    """The default declaration plus a dismantling process: the diff a user writes."""
    data = copy.deepcopy(definition.raw())
    data["processes"]["dismantling"] = {"label": "dismantling"}
    data["variables"]["battery_collected"]["to"] = "dismantling"
    data["variables"]["battery_dismantled"] = {
        "kind": "flow", "quantity": "capacity", "from": "dismantling", "to": "recycling", "step": "dismantling",
        "long_name": "capacity of modules to recycling", "description": "Modules from dismantled packs."}
    data["variables"]["battery_dismantling_loss"] = {
        "kind": "flow", "quantity": "capacity", "from": "dismantling", "to": "environment", "step": "dismantling",
        "long_name": "capacity lost in dismantling", "description": "Pack parts discarded in dismantling."}
    for name, of in (("metal_dismantled", "battery_dismantled"), ("metal_dismantling_loss", "battery_dismantling_loss")):
        data["variables"][name] = {"kind": "flow", "quantity": "metal", "content_of": of, "step": "metals",
                                   "long_name": name.replace("_", " "), "description": f"Material in {of}."}
    data["variables"]["metal_lost"]["sum_of"] += ["metal_dismantling_loss"]
    steps = list(data["steps"].items())
    steps.insert([s for s, _ in steps].index("metals"), ("dismantling", "mfa_test_dismantling:run"))
    data["steps"] = dict(steps)
    return definition.from_dict(data)


def test_adding_a_dismantling_process(study, monkeypatch):
    scenarios, base, _ = study
    monkeypatch.setitem(sys.modules, "mfa_test_dismantling", types.SimpleNamespace(run=dismantle))
    system = with_dismantling()
    results, _ = model.run(scenarios, system=system)
    # recycling now takes what dismantling passes on, and recovers less by the module loss
    assert system.inflows("recycling", "metal") == ["metal_dismantled"]
    np.testing.assert_allclose(plain(results["metal_recovered"], "t/yr"), plain(base["metal_recovered"], "t/yr") * (1 - MODULE_LOSS), rtol=1e-12)
    # everything upstream is unchanged; what dismantling loses is lost
    np.testing.assert_allclose(plain(results["metal_collected"], "t/yr"), plain(base["metal_collected"], "t/yr"), rtol=1e-12)
    # lost grows by what recycling no longer recovers: collected x loss x efficiency
    lost_more = plain(results["metal_lost"] - base["metal_lost"], "t/yr")
    np.testing.assert_allclose(lost_more, plain(base["metal_recovered"], "t/yr") * MODULE_LOSS, rtol=1e-9, atol=1e-9)
    assert ("dismantling", "capacity") in system.balances() and ("dismantling", "metal") in system.balances()
    assert system.levels("metal")["dismantling"] == system.levels("metal")["battery_sorting"] + 1


def test_a_step_that_misses_a_declared_variable_is_refused(study, monkeypatch):
    scenarios, _, _ = study
    monkeypatch.setitem(sys.modules, "mfa_test_dismantling", types.SimpleNamespace(
        run=lambda p, results, system: xr.Dataset({"battery_dismantled": results["battery_collected"]})))
    with pytest.raises(ValueError, match="battery_dismantling_loss"):
        model.run(scenarios, system=with_dismantling())


def test_a_run_without_auxiliary_variables_gives_the_rest_unchanged(study, system):
    """Monte-Carlo runs leave out auxiliaries no headline output needs (the material demand
    by chemistry is the largest array); every other variable is the full run's."""
    scenarios, results, _ = study
    reduced = system.without(["metal_demand_by_chemistry", "population"])
    assert reduced.left_out == ("metal_demand_by_chemistry", "population")
    assert "metal_demand_by_chemistry" in system.variables  # the loaded system is unchanged
    lean, _ = model.run(scenarios, system=reduced)
    assert set(lean.data_vars) == set(results.data_vars) - {"metal_demand_by_chemistry", "population"}
    for name in lean.data_vars:
        np.testing.assert_array_equal(lean[name].data.magnitude, results[name].data.magnitude, err_msg=name)


@pytest.mark.parametrize("name, message", [
    ("total_vehicle_sales", "used by"),  # the bound of vehicle_sales
    ("vehicle_stock", "not a declared auxiliary"),
    ("no_such_variable", "not a declared auxiliary"),
])
def test_without_refuses_what_the_rest_needs(system, name, message):
    with pytest.raises(ValueError, match=message):
        system.without([name])


# --- invariants ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["metal_recovered", "battery_collected", "vehicle_stock"])
def test_a_nan_or_negative_flow_stops_the_run(study, system, name):
    _, results, _ = study
    for bad in (np.nan, -1.0, np.inf):
        broken = results.copy()
        values = broken[name].data.magnitude.copy()
        values[(0,) * values.ndim] = bad
        broken[name] = broken[name].copy(data=values * broken[name].data.units)
        with pytest.raises(InvariantError, match=name):
            invariants.check_results(broken, system)


@pytest.mark.parametrize("name, factor, message", [
    ("battery_collected", 1.001, "balance of battery_sorting"),
    # the stock engine leaves these three to the model's check (stock_core check=False)
    ("vehicle_stock", 1.001, "balance of vehicles_in_use"),
    ("battery_capacity_in_use", 1.001, "balance of batteries_in_use"),
    ("battery_in_second_use", 1.001, "balance of battery_second_use"),
    ("battery_replacement", 1.5, "parts of battery_capacity_demand"),
])
def test_an_unbalanced_process_or_parts_that_do_not_add_up_stop_the_run(study, system, name, factor, message):
    _, results, _ = study
    broken = results.copy()
    broken[name] = results[name] * factor
    with pytest.raises(InvariantError, match=message):
        invariants.check_results(broken, system)


@pytest.mark.parametrize("name, value, expected", [
    ("collection_rate", 1.2, r"\[0, 1\]"),
    ("recovery_efficiency", 1.9, r"\[0, 1\]"),
    ("annual_mileage", np.inf, "finite"),
    ("battery_lifetime_scale", 0.0, "> 0"),
])
def test_a_parameter_out_of_range_stops_the_run(study, name, value, expected):
    from mfa import parameters

    _, _, p = study
    broken = p.copy()
    values = broken[name].data.magnitude.copy()
    values[(0,) * values.ndim] = value
    broken[name] = broken[name].copy(data=values * broken[name].data.units)
    with pytest.raises(InvariantError, match=expected) as err:
        invariants.check_parameters(broken, parameters.RANGES)
    assert name in str(err.value)
