"""mfa as a library: tables in, retired to date and cohort results out, calendar-year
lifetimes, product-component stocks, the numpy core, the package surface.

Every expected value comes from an independent computation (scipy's distributions and
explicit loops over cohorts and ages), never from the code under test."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import cf_units
import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
import xarray as xr

import mfa
from mfa import lifetimes, stock, tables
from mfa.io import to_netcdf
from mfa.stock import core
from mfa.units import ureg

YEARS = np.arange(2010, 2031)
REGIONS = ["Haikou", "Sanya", "Danzhou"]
TYPES = pd.DataFrame(
    {
        "powertrain": ["BEV", "BEV", "PHEV", "PHEV"],
        "chemistry": ["LFP", "NCM", "LFP", "NCM"],
        "shape": [3.5, 3.0, 2.5, 4.0],
        "scale": [9.0, 10.0, 8.0, 12.0],
    }
)


def sales_table() -> pd.DataFrame:
    """Sales by city and year, shuffled, with the column names of a published table."""
    rng = np.random.default_rng(7)
    rows = [(r, int(y), float(rng.integers(0, 1000))) for r in REGIONS for y in YEARS]
    return pd.DataFrame(rows, columns=["City", "Year", "Sales"]).sample(frac=1.0, random_state=1)


@pytest.fixture
def retired(tmp_path):
    """(sales table, inflow-driven result) from a CSV of sales and a CSV of Weibulls."""
    sales_path, types_path = tmp_path / "sales.csv", tmp_path / "types.csv"
    sales_table().to_csv(sales_path, index=False)
    TYPES.to_csv(types_path, index=False)
    sales = tables.from_long(sales_path, year="Year", dims={"City": "region"}, value="Sales", unit="vehicle/yr")
    lifetime = lifetimes.Weibull.from_table(types_path, dims=["powertrain", "chemistry"])
    return sales_table(), stock.inflow_driven(sales, lifetime)


# --- acceptance: retired to date against the closed form ----------------------------------


def test_cumulative_outflow_is_the_closed_form(retired):
    """sum over s <= t of sales(s) x F(t - s), F the Weibull CDF at integer ages (ODYM's
    discretisation: inflow at the end of the year, survival S(t - s) at the end of year t)."""
    table, ds = retired
    assert ds["cumulative_outflow"].data.units == ureg.vehicle  # a stock, not vehicle/yr
    for row in TYPES.itertuples():
        dist = ss.weibull_min(row.shape, scale=row.scale)
        for region in REGIONS:
            sales = table[table.City == region].set_index("Year")["Sales"]
            expected = [sum(sales[s] * dist.cdf(t - s) for s in YEARS if s <= t) for t in YEARS]
            got = ds["cumulative_outflow"].sel(powertrain=row.powertrain, chemistry=row.chemistry, region=region)
            np.testing.assert_allclose(got.transpose("year").data.magnitude, expected, rtol=1e-12, atol=1e-9)


def test_every_variable_of_a_result_has_the_same_dims(retired):
    _, ds = retired
    dims = {name: ds[name].dims for name in ds.data_vars}
    assert set(dims.values()) == {("year", "powertrain", "chemistry", "region")}, dims
    assert "cumulative_outflow" in ds and "balance" in ds

    history = xr.DataArray([5.0, 3.0], dims="cohort", coords={"cohort": [2008, 2009]})
    prescribed = xr.DataArray(np.linspace(10, 30, YEARS.size), dims="year", coords={"year": YEARS})
    by_chemistry = lifetimes.Normal(xr.DataArray([8.0, 11.0], dims="chemistry", coords={"chemistry": ["LFP", "NCM"]}), 3.0)
    driven = stock.stock_driven(prescribed, by_chemistry, history, by_cohort=True)
    flat = {name: driven[name].dims for name in driven.data_vars if not name.endswith("_by_cohort")}
    assert set(flat.values()) == {("year", "chemistry")}, flat
    assert driven["stock_by_cohort"].dims == driven["outflow_by_cohort"].dims == ("year", "cohort", "chemistry")


def test_to_long_of_a_result_sums_to_the_totals(retired):
    _, ds = retired
    long = tables.to_long(ds)
    assert list(long.columns) == ["variable", "year", "powertrain", "chemistry", "region", "value", "unit"]
    for name in ds.data_vars:
        rows = long[long.variable == name]
        assert len(rows) == ds[name].size
        assert rows["value"].sum() == pytest.approx(float(ds[name].sum().data.magnitude), rel=1e-12)
    total = long.groupby("variable")["value"].sum()
    last = long[(long.variable == "stock") & (long.year == YEARS[-1])]["value"].sum()
    # Mass balance over the rows: all that came in either left or is still in stock. With
    # an inflow that had fewer dims than the outflow, its rows would not add up to this.
    assert total["inflow"] == pytest.approx(total["outflow"] + last, rel=1e-12)
    assert total["cumulative_outflow"] == pytest.approx(long[long.variable == "outflow"].groupby(
        ["powertrain", "chemistry", "region"])["value"].cumsum().sum(), rel=1e-12)
    units = long.groupby("variable")["unit"].first()
    assert units["stock"] == "veh" and units["inflow"] == "veh / yr" and units["cumulative_outflow"] == "veh"


def test_to_long_round_trips_through_from_long(retired):
    _, ds = retired
    rows = tables.to_long(ds)
    rows = rows[rows.variable == "stock"]
    back = tables.from_long(rows, dims=["powertrain", "chemistry", "region"], unit=rows["unit"].iloc[0])
    xr.testing.assert_allclose(back.pint.dequantify().transpose(*ds["stock"].dims), ds["stock"].pint.dequantify().rename("value"))


# --- lifetime parameters --------------------------------------------------------------------


def test_pandas_parameters_with_named_index_become_dims():
    scale = pd.Series({"LFP": 9.0, "NCM": 10.0}).rename_axis("chemistry")
    weibull = lifetimes.Weibull(3.5, scale)
    assert weibull.dims == ("chemistry",)
    assert weibull.scale.sel(chemistry="NCM") == 10.0
    frame = pd.DataFrame({"LFP": [9.0, 8.0], "NCM": [10.0, 11.0]}, index=pd.Index(["BEV", "PHEV"], name="powertrain"))
    frame.columns.name = "chemistry"
    assert set(lifetimes.Weibull(3.5, frame).dims) == {"powertrain", "chemistry"}
    assert float(lifetimes.Weibull(3.5, frame).scale.sel(powertrain="PHEV", chemistry="NCM")) == 11.0


@pytest.mark.parametrize(
    "bad, message",
    [
        (pd.Series({"LFP": 9.0, "NCM": 10.0}), "name every index level"),
        ({"LFP": 9.0, "NCM": 10.0}, "expected a number, a pint quantity, an xarray.DataArray, or a pandas"),
        ([9.0, 10.0], "expected a number"),
        (np.array([9.0, 10.0]), "unnamed dim"),
        (pd.DataFrame({"a": [1.0], "b": [2.0]}, index=pd.Index([0], name="x")), "named columns"),
    ],
)
def test_other_parameters_are_a_type_error_saying_what_to_pass(bad, message):
    with pytest.raises(TypeError, match=message):
        lifetimes.Weibull(3.5, bad)


def test_pandas_parameter_with_a_missing_combination_is_rejected():
    scale = pd.Series([9.0, 10.0, 8.0], index=pd.MultiIndex.from_tuples(
        [("BEV", "LFP"), ("BEV", "NCM"), ("PHEV", "LFP")], names=["powertrain", "chemistry"]))
    with pytest.raises(ValueError, match="NaN"):
        lifetimes.Weibull(3.5, scale)


def test_from_table_reads_a_frame_csv_and_excel(tmp_path):
    TYPES.to_csv(tmp_path / "t.csv", index=False)
    TYPES.to_excel(tmp_path / "t.xlsx", index=False)
    for source in (TYPES, tmp_path / "t.csv", tmp_path / "t.xlsx"):
        weibull = lifetimes.Weibull.from_table(source, dims=["powertrain", "chemistry"])
        assert float(weibull.scale.sel(powertrain="PHEV", chemistry="NCM")) == 12.0
        assert float(weibull.shape.sel(powertrain="BEV", chemistry="NCM")) == 3.0
    normal = lifetimes.Normal.from_table(pd.DataFrame({"chemistry": ["LFP"], "mean": [10.0], "sd": [2.0]}), dims="chemistry")
    assert normal.dims == ("chemistry",)


@pytest.mark.parametrize(
    "frame, message",
    [
        (TYPES.drop(columns="scale"), r"missing \['scale'\]"),
        (TYPES.assign(extra=1.0), r"unexpected \['extra'\]"),
        (pd.concat([TYPES, TYPES.iloc[:1]]), "duplicate"),
        (TYPES.assign(scale=["9", "x", "8", "12"]), "expected numbers"),
    ],
)
def test_from_table_errors(frame, message):
    with pytest.raises(ValueError, match=message):
        lifetimes.Weibull.from_table(frame, dims=["powertrain", "chemistry"])


# --- lifetimes that change by calendar year ----------------------------------------------


def test_calendar_change_against_a_hand_computation():
    """Weibull(2, 10) until 2023, Weibull(2, 13) from 2024 for every item in use. Cohort
    2020 enters at the end of 2020 (time 2021), so at the switch (time 2024) it is 3 years
    old; at the end of year t it is t - 2020 years old. Cohort 2026 enters after the switch."""
    years = np.arange(2018, 2031)
    inflow = xr.DataArray(np.zeros(years.size), dims="year", coords={"year": years})
    inflow.loc[2020], inflow.loc[2026] = 100.0, 50.0
    change = lifetimes.CalendarChange(lifetimes.Weibull(2.0, 10.0), lifetimes.Weibull(2.0, 13.0), 2024)
    ds = stock.inflow_driven(inflow, change)

    def s_old(age):
        return math.exp(-((age / 10.0) ** 2))

    def s_new(age):
        return math.exp(-((age / 13.0) ** 2))

    def survival_2020(t):
        age = t - 2020
        return s_old(age) if t < 2024 else s_old(3) * s_new(age) / s_new(3)

    expected_stock, expected_retired = [], []
    for t in years:
        share_2020 = survival_2020(t) if t >= 2020 else 0.0
        share_2026 = s_new(t - 2026) if t >= 2026 else 0.0
        expected_stock.append(100 * share_2020 + 50 * share_2026)
        expected_retired.append(100 * (1 - share_2020) * (t >= 2020) + 50 * (1 - share_2026) * (t >= 2026))
    np.testing.assert_allclose(ds["stock"].values, expected_stock, rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(ds["cumulative_outflow"].values, expected_retired, rtol=1e-14, atol=1e-12)
    # The switch changes the survival of cohort 2020 from 2024 on, and not before.
    plain = stock.inflow_driven(inflow, lifetimes.Weibull(2.0, 10.0))
    np.testing.assert_array_equal(ds["stock"].sel(year=slice(None, 2023)), plain["stock"].sel(year=slice(None, 2023)))
    assert float(ds["stock"].sel(year=2024)) > float(plain["stock"].sel(year=2024))


def test_calendar_change_by_region_and_stock_driven():
    """A scale factor that applies in one region only: that region's results differ from
    the unchanged lifetime from the switch on, the other's are those of the unchanged one."""
    years = np.arange(2015, 2036)
    factor = xr.DataArray([1.0, 1.2], dims="region", coords={"region": ["a", "b"]})
    base = lifetimes.Weibull(3.0, 9.0)
    change = lifetimes.CalendarChange(base, lifetimes.Weibull(3.0, 9.0 * factor), 2025)
    prescribed = xr.DataArray(np.linspace(10.0, 40.0, years.size), dims="year", coords={"year": years})
    changed = stock.stock_driven(prescribed, change)
    unchanged = stock.stock_driven(prescribed, base)
    xr.testing.assert_allclose(changed["inflow"].sel(region="a", drop=True), unchanged["inflow"], rtol=1e-13)
    later = changed["inflow"].sel(region="b", year=slice(2026, None)) < unchanged["inflow"].sel(year=slice(2026, None))
    assert bool(later.all())  # longer lives: fewer new items keep the same stock
    assert changed.attrs["max_rel_balance_error"] < 1e-12


@pytest.mark.parametrize("discretisation", [dict(), dict(inflow_at="middle"), dict(inflow_at="start"), dict(n_pts_per_interval=4)])
def test_calendar_change_to_the_same_lifetime_changes_nothing(discretisation):
    years = np.arange(2000, 2031)
    mean = xr.DataArray(np.linspace(6.0, 12.0, years.size), dims="cohort", coords={"cohort": years})
    plain = lifetimes.LogNormal(mean, 3.0)
    same = lifetimes.CalendarChange(plain, plain, 2012)
    disc = stock.Discretisation(**discretisation)
    np.testing.assert_allclose(stock.survival_matrix(same, years, disc).values, stock.survival_matrix(plain, years, disc).values,
                               rtol=1e-13, atol=1e-15)


def test_calendar_change_has_no_survival_by_age_alone():
    with pytest.raises(TypeError, match="calendar year"):
        lifetimes.CalendarChange(lifetimes.Fixed(5.0), lifetimes.Fixed(6.0), 2020).survival(3.0)
    with pytest.raises(TypeError, match="integer calendar year"):
        lifetimes.CalendarChange(lifetimes.Fixed(5.0), lifetimes.Fixed(6.0), 2020.5)


# --- product and component -------------------------------------------------------------------


def _weibull_pmf(shape: float, scale: float, n: int) -> np.ndarray:
    """Share failing at integer age k (k = 0 .. n-1): S(k - 1) - S(k), S(-1) = 1."""
    survival = ss.weibull_min(shape, scale=scale).sf(np.arange(n))
    return np.concatenate([[1.0], survival[:-1]]) - survival


@pytest.mark.parametrize("renewal", [False, True])
def test_product_component_against_the_renewal_equation(renewal):
    years = np.arange(2000, 2031)
    n = years.size
    inflow = xr.DataArray(np.random.default_rng(3).uniform(0, 100, n), dims="year", coords={"year": years})
    product, component, limit = (3.0, 15.0), (2.5, 6.0), 10
    ds = stock.product_component(
        inflow, lifetimes.Weibull(*product), lifetimes.Weibull(*component), replace_while=limit, renewal=renewal
    )
    # Failures per original component at each age: the first failure's pmf, or the
    # renewal density m(a) = f(a) + sum_{0 < j < a} m(j) f(a - j).
    f = _weibull_pmf(*component, n)
    m = np.zeros(n)
    for a in range(n):
        m[a] = f[a] + (sum(m[j] * f[a - j] for j in range(1, a)) if renewal else 0.0)
    alive = ss.weibull_min(product[0], scale=product[1]).sf(np.arange(n))
    expected = [
        sum(inflow.values[c] * alive[t - c] * m[t - c] for c in range(t + 1) if t - c <= limit) for t in range(n)
    ]
    np.testing.assert_allclose(ds["inflow_replacement"].values, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ds["outflow_failed"].values, ds["inflow_replacement"].values)
    in_products = stock.inflow_driven(inflow, lifetimes.Weibull(*product))
    np.testing.assert_allclose(ds["stock"].values, in_products["stock"].values, rtol=1e-14)
    np.testing.assert_allclose(ds["outflow_with_product"].values, in_products["outflow"].values, rtol=1e-14)
    assert ds.attrs["max_rel_balance_error"] < 1e-12
    if renewal:  # a second failure within 10 years is likely with a mean life of ~5 years
        once = stock.product_component(inflow, lifetimes.Weibull(*product), lifetimes.Weibull(*component), replace_while=limit)
        assert float(ds["inflow_replacement"].sum()) > 1.2 * float(once["inflow_replacement"].sum())


def test_product_component_dims_in_any_order_match_slice_by_slice():
    """Lifetimes and limit by different dims, given in another order than the inflow's:
    every slice equals the model run on that slice's scalar parameters."""
    years = np.arange(2010, 2031)
    scen, chem = ["low", "high"], ["LFP", "NCM", "NMC811"]
    inflow = xr.DataArray(
        np.random.default_rng(5).uniform(0, 10, (years.size, len(chem))),
        dims=("year", "chemistry"), coords={"year": years, "chemistry": chem},
    )
    component_scale = xr.DataArray([[7.0, 8.0], [6.0, 9.0], [5.0, 10.0]], dims=("chemistry", "scenario"),
                                   coords={"chemistry": chem, "scenario": scen}).transpose("scenario", "chemistry")
    limit = xr.DataArray([8.0, 12.0], dims="scenario", coords={"scenario": scen})
    product = lifetimes.Normal(xr.DataArray([14.0, 16.0], dims="scenario", coords={"scenario": scen}), 4.0)
    ds = stock.product_component(inflow, product, lifetimes.Weibull(2.0, component_scale), replace_while=limit, renewal=True)
    assert {ds[v].dims for v in ds.data_vars} == {("year", "scenario", "chemistry")}
    for s, c in [("low", "NMC811"), ("high", "LFP"), ("high", "NCM")]:
        one = stock.product_component(
            inflow.sel(chemistry=c, drop=True),
            lifetimes.Normal(float(product.mean.sel(scenario=s)), 4.0),
            lifetimes.Weibull(2.0, float(component_scale.sel(scenario=s, chemistry=c))),
            replace_while=float(limit.sel(scenario=s)),
            renewal=True,
        )
        for name in ("inflow_replacement", "stock", "outflow"):
            np.testing.assert_allclose(ds[name].sel(scenario=s, chemistry=c).values, one[name].values, rtol=1e-13)


def test_product_component_one_replacement_by_hand():
    """One replacement while the product is young enough, written as a plain loop over
    cohorts and years (ODYM's discretisation: survival at integer ages): a component of
    cohort c is replaced in year t when its product survives to t, the component fails
    in t, and the product is at most the limit old; replacements are assumed to outlive
    the product. Compared with product_component to 1e-12."""
    from scipy import stats

    years = np.arange(2015, 2041)
    inflow = xr.DataArray(np.linspace(100.0, 400.0, years.size), dims="year", coords={"year": years})
    car, pack, limit = lifetimes.Weibull(3.5, 14.0), lifetimes.Weibull(3.5, 9.0), 8.0
    ds = stock.product_component(inflow, car, pack, replace_while=limit)
    car_sf = lambda age: stats.weibull_min.sf(age, 3.5, scale=14.0)  # noqa: E731
    pack_sf = lambda age: stats.weibull_min.sf(age, 3.5, scale=9.0)  # noqa: E731
    n = years.size
    replaced, in_use, with_product, failed = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for c in range(n):
        for t in range(c, n):
            age = t - c
            pack_failing = (1 - pack_sf(0)) if age == 0 else pack_sf(age - 1) - pack_sf(age)
            car_leaving = (1 - car_sf(0)) if age == 0 else car_sf(age - 1) - car_sf(age)
            replaced[t] += inflow.values[c] * car_sf(age) * pack_failing * (age <= limit)
            # in cars: every car alive holds one pack (original or replacement)
            in_use[t] += inflow.values[c] * car_sf(age)
            with_product[t] += inflow.values[c] * car_leaving
    failed[:] = replaced
    np.testing.assert_allclose(ds["inflow_replacement"].values, replaced, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(ds["stock"].values, in_use, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(ds["outflow_with_product"].values, with_product, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(ds["outflow_failed"].values, failed, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(ds["inflow"].values, inflow.values + replaced, rtol=1e-12)


def test_core_on_plain_arrays_matches_the_xarray_layer():
    years = np.arange(2000, 2026)
    scale = np.linspace(8.0, 12.0, years.size)
    prescribed = np.outer(np.linspace(1.0, 50.0, years.size), [1.0, 2.0, 0.5])
    sf = core.survival_matrix(lambda time, entry: ss.weibull_min(3.0, scale=scale).sf(np.clip(time - entry, 0, None)), years)
    out = core.stock_driven(prescribed, sf)
    ds = stock.stock_driven(
        xr.DataArray(prescribed, dims=("year", "region"), coords={"year": years}),
        lifetimes.Weibull(3.0, xr.DataArray(scale, dims="cohort", coords={"cohort": years})),
    )
    for name in ("inflow", "outflow", "stock_change", "cumulative_outflow"):
        np.testing.assert_allclose(out[name], ds[name].values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["stock"] + out["cumulative_outflow"], np.cumsum(out["inflow"], axis=0), rtol=1e-12)
    assert out.errors["max_rel_balance_error"] < 1e-12


@pytest.mark.parametrize("inflow_at", ["start", "middle", "end"])
def test_survival_matrix_equals_the_lifetimes_own_survival(inflow_at):
    """The numpy grid of a lifetime by cohort and region against Lifetime.survival (the
    xarray formulas) at the ages of the discretisation: t - c + 1 - point."""
    years = np.arange(2000, 2021)
    mean = xr.DataArray(np.linspace(5.0, 15.0, years.size), dims="cohort", coords={"cohort": years})
    sd = xr.DataArray([1.0, 3.0], dims="region", coords={"region": ["a", "b"]})
    lifetime = lifetimes.LogNormal(mean, sd)
    sf = stock.survival_matrix(lifetime, years, stock.Discretisation(inflow_at))
    point = {"start": 0.0, "middle": 0.5, "end": 1.0}[inflow_at]
    age = xr.DataArray(years, dims="year", coords={"year": years}) - xr.DataArray(years, dims="cohort", coords={"cohort": years})
    expected = lifetime.survival(age + 1.0 - point).where(age >= 0, 0.0)
    xr.testing.assert_allclose(sf, expected.transpose(*sf.dims), rtol=1e-14)


# --- tables -------------------------------------------------------------------------------------


def test_from_long_and_from_wide_agree_and_read_excel(tmp_path):
    long = sales_table()
    wide = long.pivot(index="Year", columns="City", values="Sales").reset_index()
    wide.columns.name = None
    wide.to_excel(tmp_path / "wide.xlsx", index=False)
    from_long = tables.from_long(long, year="Year", dims={"City": "region"}, value="Sales", unit="vehicle/yr")
    from_wide = tables.from_wide(tmp_path / "wide.xlsx", year="Year", columns_dim="region", unit="vehicle/yr")
    assert from_long.dims == ("year", "region") and from_long.data.units == ureg("vehicle/yr").units
    xr.testing.assert_equal(from_wide.pint.dequantify().sel(region=REGIONS), from_long.pint.dequantify().sel(region=REGIONS).rename("value"))
    assert float(from_long.sel(year=2015).sum().data.magnitude) == long[long.Year == 2015]["Sales"].sum()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda df: df.assign(Sales=df["Sales"].astype(object).where(df.index != 3, "n/a")), "expected numbers.*n/a"),
        (lambda df: pd.concat([df, df.iloc[:1]]), "duplicate rows"),
        (lambda df: df[~((df.City == REGIONS[1]) & (df.Year == 2015))], "gaps: no row for.*2015"),
        (lambda df: df[df.Year != 2015], "gaps"),
        (lambda df: df.assign(Year=df["Year"] + 0.5), "whole years"),
        (lambda df: df.drop(columns="City"), r"no column \['City'\]"),
    ],
)
def test_from_long_errors(edit, message):
    with pytest.raises(ValueError, match=message):
        tables.from_long(edit(sales_table()), year="Year", dims={"City": "region"}, value="Sales", unit="vehicle/yr")


def test_from_long_fills_gaps_when_told():
    table = sales_table()
    table = table[~((table.City == REGIONS[1]) & (table.Year == 2015))]
    sales = tables.from_long(table, year="Year", dims={"City": "region"}, value="Sales", unit="vehicle/yr", fill_value=0.0)
    assert float(sales.sel(year=2015, region=REGIONS[1]).data.magnitude) == 0.0
    assert float(sales.sel(year=2016, region=REGIONS[1]).data.magnitude) > 0.0


def test_to_netcdf_writes_udunits_and_appears_whole(tmp_path, retired):
    _, ds = retired
    path = to_netcdf(ds, tmp_path / "out" / "retired.nc")
    with xr.open_dataset(path) as back:
        assert back["stock"].attrs["units"] == "1" and back["outflow"].attrs["units"] == "yr-1"
        for name in back.data_vars:
            cf_units.Unit(back[name].attrs["units"])
        np.testing.assert_allclose(back["cumulative_outflow"].values, ds["cumulative_outflow"].data.magnitude)
        assert back.attrs["Conventions"] == "CF-1.8"
    bad = ds.assign_attrs(unwritable={"a": 1})  # netCDF has no dict attributes
    with pytest.raises(TypeError):
        to_netcdf(bad, tmp_path / "bad.nc")
    assert not (tmp_path / "bad.nc").exists()  # nothing half-written
    assert not [p.name for p in tmp_path.rglob("*.part")]


def test_to_netcdf_does_not_import_dask_distributed(tmp_path):
    # xarray asks dask for the running scheduler before a write, which imports distributed
    # (most of a small run's write time); mfa.io.write_netcdf hides it while never imported
    code = (
        "import sys, xarray as xr; from mfa.io import to_netcdf\n"
        "ds = xr.Dataset({'x': ('t', [1.0, 2.0], {'units': 't'})})\n"
        f"to_netcdf(ds, {str(tmp_path / 'a.nc')!r}); print('distributed' in sys.modules)\n"
        "import dask.distributed\n"  # importable again after the write, and then not hidden
        f"to_netcdf(ds, {str(tmp_path / 'b.nc')!r}); print(sys.modules['dask.distributed'] is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    for name in ("a.nc", "b.nc"):
        with xr.open_dataset(tmp_path / name) as back:
            assert back["x"].values.tolist() == [1.0, 2.0] and back["x"].attrs["units"] == "t"


# --- the package ---------------------------------------------------------------------------------


def test_import_mfa_is_cheap_and_exposes_the_api():
    code = "import sys, mfa; print('xarray' in sys.modules, 'pint' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert isinstance(mfa.__version__, str) and mfa.__version__
    assert mfa.stock.inflow_driven is stock.inflow_driven and mfa.Weibull is lifetimes.Weibull
    assert mfa.stock.core is core and mfa.to_long is tables.to_long
    with pytest.raises(AttributeError):
        mfa.no_such_thing  # noqa: B018


@pytest.mark.parametrize("model", ["inflow", "stock", "component"])
def test_large_results_derive_the_same_arrays_on_first_read(model, monkeypatch):
    """Above stock._LAZY_ELEMENTS, stock_change, balance and cumulative_outflow of a
    unit-less result are computed when read: the same numbers as computed at once."""
    years = np.arange(2000, 2021)
    series = xr.DataArray(np.random.default_rng(2).uniform(1, 10, (years.size, 4)), dims=("year", "region"),
                          coords={"year": years, "region": list("abcd")})
    lifetime = lifetimes.Weibull(2.5, xr.DataArray([6.0, 9.0], dims="chemistry", coords={"chemistry": ["x", "y"]}))
    run = {
        "inflow": lambda: stock.inflow_driven(series, lifetime),
        "stock": lambda: stock.stock_driven(series.cumsum("year"), lifetime),
        "component": lambda: stock.product_component(series, lifetimes.Normal(12.0, 3.0), lifetime, replace_while=8),
    }[model]
    eager = run()
    monkeypatch.setattr(stock, "_LAZY_ELEMENTS", 1)
    lazy = run()
    assert lazy.attrs == eager.attrs
    for name in ("stock_change", "balance", "cumulative_outflow"):
        assert not lazy[name].variable._in_memory  # not computed yet
    travelled = pickle.loads(pickle.dumps(lazy))  # as to and from a dask worker, still lazy
    xr.testing.assert_identical(travelled.load(), eager)
    xr.testing.assert_identical(lazy.load(), eager)
    np.testing.assert_allclose(lazy["cumulative_outflow"].values, eager["outflow"].cumsum("year").values, rtol=1e-12)
