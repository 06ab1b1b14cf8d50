"""How sure are we: Monte-Carlo draws, quantiles of every headline output, Sobol indices.

Distributions are declared per parameter in a scenario file's ``uncertainty:`` section
(:class:`mfa.config.Distribution`). Draws are seeded quasi-random points (Sobol or Latin
hypercube, :mod:`scipy.stats.qmc`) pushed through each distribution's inverse CDF; every
scenario uses the same points (common random numbers). One draw (``samples=1``) is the
modal point of every distribution.

The model runs vectorised over a ``sample`` dim, a chunk of samples at a time, as dask
tasks: in-process by default, on a ``dask.distributed`` cluster when a client is active
(``mfa run --workers N`` or ``--scheduler ADDRESS``). Each chunk writes its headline
outputs into a Zarr store and returns nothing, so memory stays bounded whatever the
number of samples; quantiles are then computed region block by region block.
"""

from __future__ import annotations

import atexit
import logging
import math
import shutil
import tempfile
import warnings
from pathlib import Path

import dask
import dask.array
import numpy as np
import xarray as xr
from scipy import stats
from scipy.stats import qmc

from . import config, model, parameters
from .units import dequantify

log = logging.getLogger(__name__)

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
def headline_outputs() -> dict[str, tuple[str, ...]]:
    """Outputs kept for every sample (the declared system's headline variables), and the
    dims summed out of them first (the declared summed dims: element and bound stay)."""
    from . import definition

    system = definition.load()
    return {n: tuple(d for d in system.dims_of(n) if d in system.summed_dims) for n in system.headline}


def frozen(spec: config.Distribution):
    """The scipy distribution of ``spec``."""
    if spec.distribution == "uniform":
        return stats.uniform(loc=spec.low, scale=spec.high - spec.low)
    if spec.distribution == "triangular":
        return stats.triang(c=(spec.mode - spec.low) / (spec.high - spec.low), loc=spec.low, scale=spec.high - spec.low)
    if spec.distribution == "normal":
        return stats.norm(loc=spec.mean, scale=spec.sd)
    if spec.distribution == "lognormal":
        sigma2 = math.log1p((spec.sd / spec.mean) ** 2)
        return stats.lognorm(s=math.sqrt(sigma2), scale=math.exp(math.log(spec.mean) - sigma2 / 2))
    return stats.beta(spec.alpha, spec.beta, loc=spec.low, scale=spec.high - spec.low)


def mode(spec: config.Distribution) -> float:
    """The most likely value (the midpoint of a uniform)."""
    if spec.distribution == "uniform":
        return (spec.low + spec.high) / 2
    if spec.distribution == "triangular":
        return spec.mode
    if spec.distribution == "normal":
        return spec.mean
    dist = frozen(spec)
    if spec.distribution == "lognormal":
        return float(dist.kwds["scale"] * math.exp(-dist.kwds["s"] ** 2))
    a, b = spec.alpha, spec.beta
    share = (a - 1) / (a + b - 2) if a > 1 and b > 1 else (0.0 if a <= 1 < b else 1.0 if b <= 1 < a else 0.5)
    return spec.low + share * (spec.high - spec.low)


def unit_points(n_params: int, n: int, method: str, seed: int) -> np.ndarray:
    """``n`` seeded points in the unit hypercube, (n, n_params)."""
    if method == "sobol":
        with warnings.catch_warnings():  # a Sobol' sequence prefers powers of two; any n works
            warnings.simplefilter("ignore", UserWarning)
            return qmc.Sobol(n_params, scramble=True, seed=seed).random(n)
    if method == "lhs":
        return qmc.LatinHypercube(n_params, seed=seed).random(n)
    raise ValueError(f"method: expected 'sobol' or 'lhs', got {method!r}")


def uncertain_names(scenarios: dict[str, config.Scenario]) -> list[str]:
    names: dict[str, None] = {}
    for cfg in scenarios.values():
        names.update(dict.fromkeys(cfg.uncertainty))
    return list(names)


def draws(scenarios: dict[str, config.Scenario], points: np.ndarray | None, n: int = 1) -> xr.DataArray:
    """Parameter values by ``scenario``, ``sample``, ``parameter``: ``points`` (n, d) mapped
    through each scenario's distributions; ``None`` gives the modal point. A parameter a
    scenario does not declare uncertain is NaN there (left as it is)."""
    names = uncertain_names(scenarios)
    n = n if points is None else points.shape[0]
    values = np.full((len(scenarios), n, len(names)), np.nan)
    for i, cfg in enumerate(scenarios.values()):
        for j, name in enumerate(names):
            spec = cfg.uncertainty.get(name)
            if spec is not None:
                values[i, :, j] = mode(spec) if points is None else frozen(spec).ppf(points[:, j])
    return xr.DataArray(values, dims=("scenario", "sample", "parameter"), coords={"scenario": list(scenarios), "sample": np.arange(n), "parameter": names})


def headline(results: xr.Dataset) -> xr.Dataset:
    """The outputs kept per sample, plain numbers with UDUNITS units."""
    out = xr.Dataset({name: results[name].sum(list(dims)) for name, dims in headline_outputs().items()})
    return dequantify(out)


def _run_chunk(scenarios, params, chunk: xr.DataArray, store: str | None, first_sample: int, reduce=headline):
    results, _ = model.run(scenarios, chunk, params)
    out = reduce(results).transpose("sample", ...)
    if store is None:
        return out
    region = {"sample": slice(first_sample, first_sample + out.sizes["sample"])}
    out.drop_vars([c for c in out.coords if "sample" not in out[c].dims]).to_zarr(store, region=region, zarr_format=2)
    return None


def _run_chunks(scenarios, params, values: xr.DataArray, starts, chunk: int, store: str | None, reduce, on_samples=None) -> list:
    """:func:`_run_chunk` for the chunks of ``values`` beginning at ``starts``, as dask
    tasks (:func:`_compute`); ``on_samples(k)`` as each chunk of ``k`` samples is done."""
    starts = list(starts)
    tasks = [
        dask.delayed(_run_chunk)(scenarios, params, values.isel(sample=slice(start, start + chunk)), store, start, reduce)
        for start in starts
    ]
    n = values.sizes["sample"]
    return _compute(tasks, on_samples and (lambda i: on_samples(min(chunk, n - starts[i]))))


def _compute(tasks: list, on_chunk=None) -> list:
    """Results of the delayed chunk ``tasks``, on the active dask.distributed client if
    there is one, else dask's threads; ``on_chunk(i)`` is called as chunk ``i`` finishes
    (the CLI's progress bar)."""
    try:
        from distributed import as_completed, get_client

        client = get_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        futures = client.compute(tasks)
        index = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            future.result()  # a failed chunk raises here
            if on_chunk:
                on_chunk(index[future.key])
        return client.gather(futures)
    if on_chunk is None:
        return list(dask.compute(*tasks))
    from dask.callbacks import Callback

    index = {task.key: i for i, task in enumerate(tasks)}

    class Finished(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if key in index:
                on_chunk(index[key])

    with Finished():
        return list(dask.compute(*tasks))


def _template(first: xr.Dataset, n: int, chunk: int) -> xr.Dataset:
    """The store's layout for ``n`` samples, lazily (nothing of size ``n`` is held): chunks of
    ``chunk`` samples and one region, so that quantiles read one region's chunks at a time."""
    chunks = {"sample": chunk, "region": 1}
    variables = {}
    for name, da in first.data_vars.items():
        shape = tuple(n if d == "sample" else size for d, size in da.sizes.items())
        blocks = tuple(min(chunks.get(d, size), size) for d, size in zip(da.dims, shape))
        variables[name] = (da.dims, dask.array.zeros(shape, dtype=da.dtype, chunks=blocks), da.attrs)
    coords = {k: c for k, c in first.coords.items() if "sample" not in c.dims}
    return xr.Dataset(variables, coords={**coords, "sample": np.arange(n)})


def run_samples(
    scenarios: dict[str, config.Scenario],
    n: int,
    method: str = "sobol",
    seed: int = 0,
    chunk: int = 100,
    store: Path | None = None,
    on_samples=None,
) -> xr.Dataset:
    """Headline outputs of ``n`` draws, dims ``sample`` + the outputs' dims, lazily read
    from a Zarr store (``store``, else a temporary folder removed when Python exits).
    ``on_samples(k)`` is called as each chunk of ``k`` samples is done."""
    if not uncertain_names(scenarios):
        raise config.InputError(next(iter(scenarios.values())).source, "uncertainty", "at least one uncertain parameter for --samples")
    points = None if n == 1 else unit_points(len(uncertain_names(scenarios)), n, method, seed)
    values = draws(scenarios, points, n)
    if store is None:
        scratch = tempfile.mkdtemp(prefix="mfa-samples-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        store = Path(scratch) / "samples.zarr"
    store = str(store)
    params = parameters.build(scenarios)
    first = _run_chunk(scenarios, params, values.isel(sample=slice(0, min(chunk, n))), None, 0)
    if on_samples:
        on_samples(first.sizes["sample"])
    # Zarr format 2: a scratch store read back only by us, and its string coordinates are stable there.
    _template(first, n, chunk).to_zarr(store, compute=False, mode="w", zarr_format=2, consolidated=True)
    first.drop_vars([c for c in first.coords if "sample" not in first[c].dims]).to_zarr(
        store, region={"sample": slice(0, first.sizes["sample"])}, zarr_format=2
    )
    log.info("%d samples in %d chunks", n, math.ceil(n / chunk))
    _run_chunks(scenarios, params, values, range(chunk, n, chunk), chunk, store, headline, on_samples)
    ds = xr.open_zarr(store, zarr_format=2, consolidated=True)
    ds.attrs["samples_store"] = store
    ds.attrs.update(samples=n, sampling=method if n > 1 else "mode", seed=seed)
    return ds


def quantiles(samples: xr.Dataset) -> xr.Dataset:
    """Quantiles (:data:`QUANTILES`) over ``sample`` of every variable, one region block at a time."""
    blocks = {"sample": -1, **({"region": 1} if "region" in samples.dims else {})}
    data = samples.chunk(blocks)
    out = data.quantile(list(QUANTILES), dim="sample").compute()
    for name in out.data_vars:
        out[name].attrs = dict(samples[name].attrs)
    out["quantile"].attrs.update(long_name="quantile over Monte-Carlo samples", units="1")
    return out


# --- Sobol sensitivity ------------------------------------------------------------------


def _sum_regions(da: xr.DataArray) -> xr.DataArray:
    return da.sum("region") if "region" in da.dims else da


def _cumulative(results: xr.Dataset, name: str, element: str, start: int = 2023) -> xr.DataArray:
    return _sum_regions(results[name].sel(element=element).pint.to("t/yr").pint.dequantify()).sel(year=slice(start, None)).sum("year")


def _in_year(results: xr.Dataset, name: str, year: int, unit: str, **where) -> xr.DataArray:
    return _sum_regions(results[name].sel(year=year, **where).pint.to(unit).pint.dequantify())


OUTPUTS = {
    "cumulative_li_demand": ("t", "cumulative Li demand 2023-2050", lambda r: _cumulative(r, "metal_demand", "Li")),
    "cumulative_ni_demand": ("t", "cumulative Ni demand 2023-2050", lambda r: _cumulative(r, "metal_demand", "Ni")),
    "cumulative_co_demand": ("t", "cumulative Co demand 2023-2050", lambda r: _cumulative(r, "metal_demand", "Co")),
    "cumulative_li_recovered": ("t", "cumulative Li recovered 2023-2050", lambda r: _cumulative(r, "metal_recovered", "Li")),
    "li_recovered_2040": ("t yr-1", "Li recovered in 2040", lambda r: _in_year(r, "metal_recovered", 2040, "t/yr", element="Li")),
    "carbon_reduction_2050_lower": ("t yr-1", "CO2 reduction in 2050, lower bound", lambda r: _in_year(r, "carbon_reduction", 2050, "t/yr", bound="lower")),
    "carbon_reduction_2050_upper": ("t yr-1", "CO2 reduction in 2050, upper bound", lambda r: _in_year(r, "carbon_reduction", 2050, "t/yr", bound="upper")),
}
"""Scalar outputs whose variance :func:`sensitivity` decomposes: unit, long name, function."""


def scalar_outputs(results: xr.Dataset, names=tuple(OUTPUTS)) -> xr.Dataset:
    scalars = {name: OUTPUTS[name][2](results) for name in names}
    return xr.Dataset({name: da.drop_vars([c for c in da.coords if c not in da.dims]) for name, da in scalars.items()})


def sobol_indices(model_fn, names: list[str], n: int, seed: int = 0) -> xr.Dataset:
    """First-order and total Sobol indices (SALib, Saltelli design, no second order) of
    ``model_fn``: unit points (m, d) -> ``xr.Dataset`` of outputs with a ``sample`` dim
    (and any other dims, e.g. scenario). ``n`` is the base sample size (a power of 2)."""
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as design

    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    points = design.sample(problem, n, calc_second_order=False, seed=seed)
    points = np.clip(points, 1e-9, 1 - 1e-9)  # the inverse CDF of an unbounded law is infinite at 0 and 1
    outputs = model_fn(points)
    stacked = outputs.to_array("output").stack(series=[d for d in outputs.to_array("output").dims if d != "sample"])
    result = {key: np.zeros((stacked.sizes["series"], len(names))) for key in ("S1", "S1_conf", "ST", "ST_conf")}
    for i in range(stacked.sizes["series"]):  # one SALib call per output series (a few), not per sample
        indices = analyze.analyze(problem, stacked.isel(series=i).values, calc_second_order=False, seed=seed)
        for key in result:
            result[key][i] = indices[key]
    ds = xr.Dataset({key: (("series", "parameter"), values) for key, values in result.items()}, coords={"series": stacked["series"], "parameter": list(names)})
    ds = ds.unstack("series")
    ds["S1"].attrs.update(long_name="first-order Sobol index", units="1")
    ds["ST"].attrs.update(long_name="total Sobol index", units="1")
    ds["S1_conf"].attrs.update(long_name="95 % confidence half-width of S1", units="1")
    ds["ST_conf"].attrs.update(long_name="95 % confidence half-width of ST", units="1")
    ds.attrs.update(base_samples=n, model_runs=points.shape[0], seed=seed)
    return ds


def sensitivity(
    scenarios: dict[str, config.Scenario], n: int, seed: int = 0, chunk: int = 100, outputs=tuple(OUTPUTS), on_samples=None
) -> xr.Dataset:
    """Sobol indices of ``outputs`` for every uncertain parameter, by ``scenario``;
    ``on_samples(k)`` is called as each chunk of ``k`` model runs is done."""
    names = uncertain_names(scenarios)
    if not names:
        raise config.InputError(next(iter(scenarios.values())).source, "uncertainty", "at least one uncertain parameter")
    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown:
        raise config.InputError(None, "--output", f"one of {sorted(OUTPUTS)}; unknown {unknown}")

    params = parameters.build(scenarios)

    def model_fn(points):
        values = draws(scenarios, points)
        reduce = lambda results: scalar_outputs(results, outputs)  # noqa: E731
        return xr.concat(_run_chunks(scenarios, params, values, range(0, points.shape[0], chunk), chunk, None, reduce, on_samples), "sample")

    ds = sobol_indices(model_fn, names, n, seed)
    for name in outputs:
        ds.attrs[f"output_{name}"] = f"{OUTPUTS[name][1]} [{OUTPUTS[name][0]}]"
    return ds
