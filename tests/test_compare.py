"""Study vs outlook: the attribution adds up, and its end points are the two cases exactly."""

import numpy as np
import pytest
import xarray as xr

from mfa import compare, config, model

SCENARIO = "conservative"
DESCRIPTIVE = {"case", "study", "extends"}


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
