"""The 31-province case: one vectorised run, national totals as the sum of provinces."""

import numpy as np
import pandas as pd
import pytest

from mfa import config, model
from mfa.io import tables
from mfa.units import plain

PROVINCES = 31


@pytest.fixture(scope="module")
def provinces():
    scenarios = config.load_scenarios("china-provinces")
    results, params = model.run(scenarios)
    return results, params


def test_every_province_keyed_by_gb_code(provinces):
    results, _ = provinces
    codes = results["region"].values
    assert len(codes) == PROVINCES and len(set(codes)) == PROVINCES
    assert 460000 in codes and 440000 in codes and 110000 in codes
    assert all(c % 10000 == 0 and 110000 <= c <= 659999 for c in codes)


def test_mass_balance(provinces):
    results, _ = provinces
    assert results.attrs["max_rel_balance_error"] < 1e-12


def test_national_totals_are_the_sum_of_provinces(provinces):
    results, _ = provinces
    table = tables.summary(results, 2023)
    total = table[(table["region"] == tables.TOTAL) & (table["variable"] == "metal_demand")].set_index(["scenario", "detail"])
    expected = plain(results["metal_demand"], "t/yr").sel(year=slice(2023, None)).sum(["year", "region"])
    for (scenario, element), row in total.iterrows():
        assert row["cumulative_2023_2050"] == pytest.approx(float(expected.sel(scenario=scenario, element=element)), rel=1e-12)
    provinces_only = table[(table["region"] != tables.TOTAL) & (table["variable"] == "vehicle_stock")]
    national = table[(table["region"] == tables.TOTAL) & (table["variable"] == "vehicle_stock")]
    np.testing.assert_allclose(provinces_only.groupby("scenario")["value_2050"].sum().sort_index(), national.set_index("scenario")["value_2050"].sort_index(), rtol=1e-12)


def test_history_matches_the_provincial_table(provinces):
    """2022-2023 registrations of every province are the table's; the 2016-2023 total too."""
    results, params = provinces
    table = pd.read_csv(config.resolve("inputs/provinces.csv"))
    registrations = plain(params["nev_registrations"].isel(scenario=0).sel(segment="passenger"), "vehicle/yr")
    for variable, years in (("registrations_2023", [2023]), ("cumulative_registrations_2016_2023", list(range(2016, 2024)))):
        rows = table[table["variable"] == variable].set_index("province")["value"]
        for code, value in rows.items():
            if code == 460000:  # Hainan runs on its own registrations
                continue
            assert float(registrations.sel(region=code, year=years).sum()) == pytest.approx(value, rel=1e-9)


@pytest.mark.parametrize("year, official", [(2023, 20.41e6), (2024, 31.40e6), (2025, 43.97e6)])
def test_national_stock_within_five_percent_of_the_official_figure(provinces, year, official):
    """NEVs of every segment in use at the end of the year vs the Ministry of Public
    Security's NEV stock (REFERENCE s7, A): within +-5 %."""
    results, _ = provinces
    stock = float(plain(results["vehicle_stock"].sel(year=year).sum(["region", "segment", "powertrain"]).isel(scenario=0), "vehicle"))
    assert abs(stock / official - 1) <= 0.05, stock


def test_retired_packs_reported_beside_the_published_estimates(tmp_path):
    """calibration.csv of a 31-region run: every row labelled with its region (Hainan's
    official stock under 460000, national figures under national), the 2025 retired
    packs beside the published estimates with the % difference."""
    from click.testing import CliRunner

    from mfa.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--case", "china-provinces", "--scenario", "conservative", "--out", str(out)])
    assert result.exit_code == 0, result.output
    cal = pd.read_csv(out / "calibration.csv", dtype={"region": str})
    assert cal["region"].notna().all() and set(cal["region"]) == {"460000", "national"}
    retired = cal[cal["figure"] == "retired_capacity"].iloc[0]
    assert retired["region"] == "national" and retired["unit"] == "GW h yr-1"
    assert retired["difference_pct"] == pytest.approx(100 * (retired["model"] / retired["reference"] - 1), abs=1e-3)  # CSV keeps 6 digits
    assert {"retired_mass", "processed_mass"} <= set(cal["figure"])
