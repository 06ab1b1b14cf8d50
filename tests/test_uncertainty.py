"""Monte-Carlo draws, quantiles and Sobol indices."""

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from mfa import config, model, uncertainty
from mfa.cli import dask_client, main

SCENARIOS = ["conservative"]


@pytest.fixture(scope="module")
def scenarios():
    return config.load_scenarios("hainan-study", SCENARIOS)


def test_one_sample_at_the_modes_is_the_deterministic_run(scenarios):
    assert all(uncertainty.mode(spec) == pytest.approx(1.0) for spec in scenarios["conservative"].uncertainty.values() if spec.distribution != "uniform" or spec.where is None)
    sampled = uncertainty.run_samples(scenarios, 1).load()
    results, _ = model.run(scenarios)
    xr.testing.assert_identical(sampled.isel(sample=0, drop=True).drop_attrs(), uncertainty.headline(results).drop_attrs())


def test_seeded_runs_reproduce_exactly(scenarios):
    first = uncertainty.run_samples(scenarios, 24, "lhs", seed=7, chunk=10).load()
    again = uncertainty.run_samples(scenarios, 24, "lhs", seed=7, chunk=10).load()
    other = uncertainty.run_samples(scenarios, 24, "lhs", seed=8, chunk=10).load()
    xr.testing.assert_identical(first.drop_attrs(), again.drop_attrs())
    assert not first["metal_demand"].equals(other["metal_demand"])


def test_samples_go_to_a_store_url_only_when_asked(scenarios, tmp_path, monkeypatch):
    """By default nothing is written to disk (no stale store after a killed run); a store
    the user names holds the same samples."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    in_memory = uncertainty.run_samples(scenarios, 6, chunk=4)
    assert not any((tmp_path / "tmp").iterdir())
    for url in ("memory://mfa-test/kept.zarr", (tmp_path / "kept.zarr").as_uri()):  # any fsspec URL; file:// too
        stored = uncertainty.run_samples(scenarios, 6, chunk=4, store=url)
        assert stored.attrs["samples_store"] == url and stored["metal_demand"].chunks is not None
        xr.testing.assert_identical(stored.load().drop_attrs(), in_memory.drop_attrs())
    assert (tmp_path / "kept.zarr").is_dir()


def test_the_sample_store_is_laid_out_without_holding_the_samples(scenarios):
    """The store's template for a million samples is lazy: memory does not grow with N."""
    first = uncertainty.run_samples(scenarios, 4, chunk=4)
    template = uncertainty._template(first, 1_000_000, 100)
    import dask.array

    assert all(isinstance(v.data, dask.array.Array) for v in template.data_vars.values())
    assert sum(v.nbytes for v in template.data_vars.values()) > 1e9  # what an eager template would hold
    chunks = template["metal_demand"].chunksizes
    assert chunks["sample"][0] == 100 and set(chunks["region"]) == {1}


def test_quantiles_are_ordered_and_spread(scenarios):
    q = uncertainty.quantiles(uncertainty.run_samples(scenarios, 32, seed=1, chunk=16))
    li = q["metal_demand"].sel(element="Li").sum("year").squeeze(drop=True)
    assert list(q["quantile"].values) == list(uncertainty.QUANTILES)
    assert (li.diff("quantile") >= 0).all()
    assert float(li.sel(quantile=0.95) / li.sel(quantile=0.05)) > 1.05


FLOAT32 = 2.0**-24
"""The relative rounding of a float32 (round to nearest): what holding samples in float32 may cost."""


@pytest.mark.parametrize("hold", [1_000, 0], ids=["runs over every region", "tasks over blocks of regions"])
def test_held_quantiles_equal_those_of_all_samples(monkeypatch, hold):
    """Whether this process holds every sample (float32) or tasks over blocks of regions
    return only quantiles and sums over their regions: the quantiles of every sample in
    float64 within float32's rounding, and so the totals (to the last digits when held:
    float64 throughout)."""
    six = "case.only_regions=[110000, 120000, 130000, 140000, 150000, 210000]"
    scenarios = config.load_scenarios("china-provinces", ["conservative", "positive"], [six])
    samples = uncertainty.run_samples(scenarios, 5, seed=3, chunk=2)
    monkeypatch.setattr(uncertainty, "HOLD_SERIES", hold)
    monkeypatch.setattr(uncertainty, "BLOCK_SERIES", 20)  # 2 regions x 2 scenarios x 5 samples a task
    assert uncertainty._region_blocks(5, 2, 6) == [(0, 2), (2, 4), (4, 6)]
    seen = []
    held = uncertainty.sample_quantiles(scenarios, 5, seed=3, chunk=2, on_samples=seen.append)
    whole = uncertainty.summarise(samples)
    xr.testing.assert_allclose(held.regions, whole.regions, rtol=FLOAT32, atol=0)
    assert not held.regions.identical(whole.regions)  # the float32 rounding is there: the test sees the held path
    # Runs of other sizes may take other BLAS kernels (a 1-sample run differs in the 16th
    # digit); a block's sum over its regions is sent as float32.
    xr.testing.assert_allclose(held.total, whole.total, rtol=1e-12 if hold else FLOAT32, atol=0)
    assert held.total.attrs == whole.total.attrs == {"samples": 5, "sampling": "sobol", "seed": 3}
    assert held.regions.attrs["samples"] == 5 and held.regions["metal_demand"].attrs == whole.regions["metal_demand"].attrs
    assert list(held.regions["metal_demand"].dims) == list(whole.regions["metal_demand"].dims)
    assert sum(seen) == pytest.approx(5) and len(seen) == 3  # three runs of at most 2 samples, or three blocks


def test_draws_follow_their_distributions():
    spec = config.Distribution(distribution="triangular", low=0.5, mode=1.0, high=2.0)
    points = uncertainty.unit_points(1, 4096, "sobol", seed=3)
    values = uncertainty.frozen(spec).ppf(points[:, 0])
    assert values.min() >= 0.5 and values.max() <= 2.0
    assert values.mean() == pytest.approx((0.5 + 1.0 + 2.0) / 3, rel=0.01)
    lognormal = config.Distribution(distribution="lognormal", mean=2.0, sd=0.5)
    drawn = uncertainty.frozen(lognormal).ppf(points[:, 0])
    assert drawn.mean() == pytest.approx(2.0, rel=0.01) and drawn.std() == pytest.approx(0.5, rel=0.05)


def test_sobol_indices_of_a_model_with_known_variance_shares():
    """Y = X1 + 2 X2 + 3 X3 + X1 X3 with X uniform on [0, 1]: analytic first-order and total shares."""
    def f(points):
        x1, x2, x3 = points.T
        return xr.Dataset({"y": ("sample", x1 + 2 * x2 + 3 * x3 + 4 * x1 * x3)})

    # Var of each term (uniform on [0,1]: var 1/12, E 1/2); the product adds an interaction.
    v1, v2, v3 = (1 + 4 * 0.5) ** 2 / 12, 4 / 12, (3 + 4 * 0.5) ** 2 / 12
    v13 = 16 / 144
    total = v1 + v2 + v3 + v13
    ds = uncertainty.sobol_indices(f, ["x1", "x2", "x3"], 2048, seed=2).sel(output="y")
    np.testing.assert_allclose(ds["S1"].values, [v1 / total, v2 / total, v3 / total], atol=0.05)
    np.testing.assert_allclose(ds["ST"].values, [(v1 + v13) / total, v2 / total, (v3 + v13) / total], atol=0.05)


def test_sensitivity_runs_the_model_on_the_saltelli_design(scenarios):
    seen = []
    ds = uncertainty.sensitivity(scenarios, 4, outputs=("cumulative_li_demand",), on_samples=seen.append, chunk=20)
    runs = 4 * (len(uncertainty.uncertain_names(scenarios)) + 2)
    assert ds.attrs["model_runs"] == runs and sum(seen) == runs and max(seen) == 20
    assert ds["ST"].sizes == {"parameter": len(uncertainty.uncertain_names(scenarios)), "output": 1, "scenario": 1}
    assert float(ds["ST"].max()) > 0.1  # some parameter drives Li demand


def test_two_worker_cluster_equals_in_process(scenarios):
    seen_local, seen_cluster = [], []
    local = uncertainty.run_samples(scenarios, 10, seed=5, chunk=4, on_samples=seen_local.append)
    with dask_client(2, None) as client:
        distributed = uncertainty.run_samples(scenarios, 10, seed=5, chunk=4, on_samples=seen_cluster.append)
        # without the nanny's MALLOC_TRIM_THRESHOLD_, which turns off malloc's adaptive mmap threshold (mfa/cli.py)
        assert set(client.run(lambda: __import__("os").environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
    xr.testing.assert_identical(local.drop_attrs(), distributed.drop_attrs())
    # the progress bar hears of every chunk once, on threads and on the cluster
    assert sorted(seen_local) == sorted(seen_cluster) == [2, 4, 4]


def test_bad_distribution_is_a_clear_error(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--samples", "4", "--out", str(out), "--set", "uncertainty.grid_factor.mode=5"])
    assert result.exit_code == 2 and "uncertainty.grid_factor" in result.output and "mode" in result.output
    result = CliRunner().invoke(main, ["run", "--samples", "4", "--out", str(out), "--set", "uncertainty.no_such_parameter={distribution: uniform, low: 0.9, high: 1.1}"])
    assert result.exit_code == 2 and "uncertainty.no_such_parameter" in result.output
    assert not out.exists() or not any(out.rglob("*"))


def test_run_with_samples_writes_quantiles_and_fans(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--scenario", "positive", "--samples", "8", "--chunk", "4", "--plots", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(out / "results.nc")
    assert ds["metal_demand_quantile"].dims == ("quantile", "scenario", "region", "year", "element")
    assert ds["metal_demand_quantile"].attrs["units"] == "t yr-1" and ds.attrs["samples"] == 8
    assert (out / "plots" / "fan_metal_demand.png").exists()


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 300),
    scale=st.sampled_from([1e-6, 1.0, 3.7e4, 1e12]),
    with_nan=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_sorted_quantiles_are_numpys_bit_for_bit(n, scale, with_nan, seed):
    """The sweep's one-sort quantiles against np.quantile (linear), ties and NaN included."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((3, 2, n)) * scale
    values[1] = np.round(values[1] / scale) * scale  # ties
    if with_nan:
        values[0, 1, rng.integers(n)] = np.nan
    expected = np.moveaxis(np.quantile(values, uncertainty.QUANTILES, axis=-1), 0, -1)
    np.testing.assert_array_equal(uncertainty.sorted_quantiles(values), expected)


def test_sweep_runs_carry_capacity_without_segments_to_the_same_outputs():
    """Monte-Carlo runs sum battery capacity over segments within the lifetime products:
    their headline outputs are the full system's (which keeps the segments) to rounding."""
    cases = config.load_scenarios("china-provinces", ["conservative"])
    values, params = uncertainty._design(cases, 4, "sobol", 0, None)
    params = params.isel(region=slice(0, 3))
    full, _ = model.run(cases, values, params)
    swept, _ = model.run(cases, values, params, system=uncertainty._sweep_system())
    assert full.sizes["segment"] > 1 and "segment" in full["battery_end_of_life"].dims
    assert "segment" not in swept["battery_end_of_life"].dims and "segment" in swept["vehicle_stock"].dims
    xr.testing.assert_allclose(uncertainty.headline(swept), uncertainty.headline(full).transpose(*uncertainty.headline(swept).dims), rtol=1e-12)
    with pytest.raises(ValueError, match="not summed dims"):
        uncertainty._sweep_system().summed_over("metal", ["element"])
