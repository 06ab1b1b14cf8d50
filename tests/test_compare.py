"""Study vs outlook: the attribution adds up, and its end points are the two cases exactly."""

import numpy as np
import pytest
import xarray as xr

from mfa import compare, config, model

SCENARIO = "conservative"
DESCRIPTIVE = {"case", "study", "extends", "calibration", "uncertainty"}


@pytest.fixture(scope="module")
def comparison():
    return compare.run("hainan-study", "hainan-outlook", [SCENARIO])


def test_group_effects_and_remainder_add_up_to_the_total(comparison):
    for name in compare.METRICS:
        parts = comparison[f"{name}_attribution"].sum("group")
        total = comparison[f"{name}_difference"]
        xr.testing.assert_allclose(parts, total, rtol=1e-12, atol=1e-9)
        assert comparison[f"{name}_attribution"]["group"].values[-1] == compare.REMAINDER
    _, parts = compare.tables(comparison)
    groups = [*compare.GROUPS, compare.REMAINDER]
    np.testing.assert_allclose(parts[groups].sum(axis=1), parts["total"], rtol=1e-12, atol=1e-6)


def _settings(scenario: config.Scenario) -> dict:
    return {k: v for k, v in scenario.model_dump().items() if k not in DESCRIPTIVE}


def test_switching_every_group_is_the_outlook_case_exactly():
    runs = compare.variants("hainan-study", "hainan-outlook", [SCENARIO])
    outlook = config.load_scenarios("hainan-outlook", [SCENARIO])[SCENARIO]
    study = config.load_scenarios("hainan-study", [SCENARIO])[SCENARIO]
    assert _settings(runs[f"{SCENARIO}|hainan-outlook"]) == _settings(outlook)
    assert _settings(runs[f"{SCENARIO}|hainan-study"]) == _settings(study)
    assert _settings(outlook) != _settings(study)


def test_end_points_equal_the_two_cases_run_on_their_own(comparison):
    for case in ("hainan-study", "hainan-outlook"):
        results, _ = model.run(config.load_scenarios(case, [SCENARIO]))
        alone = compare.metrics(results, 2023)
        for name in compare.METRICS:
            xr.testing.assert_allclose(comparison[name].sel(case=case, drop=True), alone[name], rtol=1e-12)


def test_every_differing_setting_belongs_to_a_group():
    study = config.scenario_data("hainan-study", [SCENARIO])[SCENARIO][0]
    outlook = config.scenario_data("hainan-outlook", [SCENARIO])[SCENARIO][0]
    assert compare.uncovered(study, outlook) == []
    assert compare.uncovered(study, {**study, "new_section": {"x": 1}}) == ["new_section.x"]


def _run_alone(data: dict, files) -> xr.Dataset:
    results, _ = model.run({SCENARIO: config.validate(data, files)})
    return compare.metrics(results, 2023)


def test_a_group_effect_equals_an_independent_run(comparison):
    """The end-of-life effect on cumulative recovery, recomputed by hand: the study with
    its whole end_of_life section replaced by the outlook's, run on its own, minus the
    study run on its own (no use of compare.switched or of the remainder)."""
    study, files = config.scenario_data("hainan-study", [SCENARIO])[SCENARIO]
    outlook = config.scenario_data("hainan-outlook", [SCENARIO])[SCENARIO][0]
    changed = {**study, "end_of_life": outlook["end_of_life"]}
    effect = _run_alone(changed, files)["cumulative_recovery"] - _run_alone(study, files)["cumulative_recovery"]
    attributed = comparison["cumulative_recovery_attribution"].sel(group="end of life", scenario=SCENARIO, drop=True)
    xr.testing.assert_allclose(attributed, effect.sel(scenario=SCENARIO, drop=True), rtol=1e-10)
    assert float(np.abs(effect).max()) > 0


def test_groups_that_cannot_move_a_figure_do_not(comparison):
    """Physics, not bookkeeping: end of life and carbon factors do not change metal
    demand; carbon factors do not change recovery."""
    demand = comparison["cumulative_demand_attribution"]
    for group in ("end of life", "carbon factors"):
        assert float(np.abs(demand.sel(group=group)).max()) == 0, group
    assert float(np.abs(comparison["cumulative_recovery_attribution"].sel(group="carbon factors")).max()) == 0
