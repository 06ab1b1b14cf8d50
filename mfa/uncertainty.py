"""How sure are we: Monte-Carlo draws, quantiles of every headline output, Sobol indices.

Distributions are declared per parameter in a scenario file's ``uncertainty:`` section
(:class:`mfa.config.Distribution`). Draws are seeded quasi-random points (Sobol or Latin
hypercube, :mod:`scipy.stats.qmc`) pushed through each distribution's inverse CDF; every
scenario uses the same points (common random numbers). One draw (``samples=1``) is the
modal point of every distribution.

The model runs vectorised over a ``sample`` dim, a run of samples at a time, as tasks:
on threads in this process by default, on a ``dask.distributed`` cluster when a client is
active (``mfa run --workers N`` or ``--scheduler ADDRESS``). Tasks return reduced results
to this process, so no disk is shared with the workers and nothing is left behind by a
killed run: :func:`sample_quantiles` holds every sample's outputs here as float32 when
they fit, else runs one task per block of regions over all samples, which returns
quantiles (memory bounded whatever the number of samples);
:func:`run_samples` returns every sample's headline outputs, or writes them to a Zarr
store at a URL the user gives.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import os
import sys
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr
from scipy import stats
from scipy.stats import qmc

from . import blas, config, model, parameters
from .arrays import dataset
from .units import dequantify

log = logging.getLogger(__name__)

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


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
    """The outputs kept per sample (the declared headline variables summed over the
    declared summed dims: element and bound stay), plain numbers with UDUNITS units."""
    from . import definition

    system = definition.load()
    variables = {}
    for name in system.headline:
        variable = results.variables[name]
        dims = tuple(d for d in variable.dims if d in system.summed_dims)
        # numpy's sum keeps a NaN visible (xarray's default skips it); on the variables, as
        # a DataArray per output and a deep copy of its coordinates cost more than the sums
        summed = variable.data.sum(axis=tuple(variable.dims.index(d) for d in dims)) if dims else variable.data
        variables[name] = xr.Variable(tuple(d for d in variable.dims if d not in dims), summed, variable.attrs)
    return dequantify(dataset(variables, results))


class Quantiles(NamedTuple):
    """Quantiles (dim ``quantile``, :data:`QUANTILES`) over Monte-Carlo samples of every
    headline output, plain numbers with the outputs' units in attrs."""

    regions: xr.Dataset
    """By region: dims ``quantile``, ``scenario``, ``region``, ``year`` (+ ``element``, ``bound``)."""
    total: xr.Dataset
    """Of the sum over regions, sample by sample: as ``regions`` without ``region``."""


HOLD_SERIES = 60_000
"""Series (sample x scenario x region) whose per-sample outputs :func:`sample_quantiles`
holds in this process at once: 36 years x 82 values (8 elements in 9 material outputs) in
float32, ~12 KB a series, so ~0.7 GB. Up to it, model runs of :data:`RUN_SERIES` over
every region are the tasks; above it, tasks over blocks of regions
(:data:`BLOCK_SERIES`) run all samples of theirs, and a run's per-sample work (survival
matrices) is repeated for every block. 31 x 3 x 1,000 samples (93,000 series), measured
2026-12-02 on a 2-core machine with battery capacity summed over segments in the runs:
held (HOLD_SERIES 100,000), 13.5 s (21 CPU s) but a 1.48 GB peak; in blocks of 5-6
regions, 14.2 s (25 CPU s), 0.97 GB. (Before that summing: held 22.4 s and 1.73 GB,
blocks 27.9 s and 1.35 GB.)"""

BLOCK_SERIES = 20_000
"""Series whose per-sample outputs one task over a block of regions holds (~240 MB in
float32; at least one region a task: ~350 MB a region for 10,000 samples and 3 scenarios)."""


RUN_SERIES = 1024
"""Series (sample x scenario x region) one model run computes when no ``chunk`` is given.
A run's working arrays peaked at ~220 KB a series before battery capacity was summed over
segments in Monte-Carlo runs (less since), one run a core at a time. Its fixed
cost is small (~0.1 s for china-provinces), so narrower runs cost little time: 31 x 3 x
1,000 samples took 99.7 CPU s and peaked at 1.41 GB with 1,024, 100.1 s and 1.74 GB
with 2,048 (measured 2026-12, loaded machine, BLOCK_SERIES 10,000)."""


def _samples_per_run(chunk: int | None, params: xr.Dataset) -> int:
    """``chunk``, or the samples of the whole case that make :data:`RUN_SERIES` series."""
    return chunk or max(1, RUN_SERIES // (params.sizes["scenario"] * params.sizes.get("region", 1)))


def _design(scenarios: dict[str, config.Scenario], n: int, method: str, seed: int, params: xr.Dataset | None):
    """The draws (:func:`draws`) of ``n`` samples and the scenarios' parameters (built
    unless given, e.g. by the deterministic run)."""
    if not uncertain_names(scenarios):
        raise config.InputError(next(iter(scenarios.values())).source, "uncertainty", "at least one uncertain parameter for --samples")
    points = None if n == 1 else unit_points(len(uncertain_names(scenarios)), n, method, seed)
    return draws(scenarios, points, n), parameters.build(scenarios) if params is None else params


def _bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``n`` items in ``parts`` consecutive runs of near-equal length, as (start, stop)."""
    edges = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _run_chunk(scenarios, params: xr.Dataset, values: xr.DataArray, reduce=headline, store: str | None = None, start: int = 0):
    """``reduce`` of the model's results for the draws ``values`` (a run of samples), dims
    ``sample`` first (a tuple of them as ``reduce`` lays them out); with ``store``, written
    there at sample ``start`` instead (returns None)."""
    results, _ = model.run(scenarios, values, params, system=_sweep_system())
    out = reduce(results)
    if store is None:
        return out.transpose("sample", ...) if isinstance(out, xr.Dataset) else out
    region = {"sample": slice(start, start + out.sizes["sample"])}
    out.drop_vars([c for c in out.coords if "sample" not in out[c].dims]).to_zarr(store, region=region, zarr_format=2)
    return None


def _sweep_system():
    """The declared system without the auxiliary variables that no headline output, Sobol
    output or check reads (the material demand by chemistry is a run's largest array), and
    with battery capacity summed over segments (the battery chain's largest arrays, a
    quarter the size: no step after the battery lifetimes reads the segment split, whose
    material sums are the same numbers)."""
    from . import definition

    system = definition.load()
    system = system.without(n for n, v in system.variables.items() if v.kind == "auxiliary" and not v.headline and not system.users_of(n))
    return system.summed_over("capacity", ["segment"])


LARGE_GIB = 2.0
"""Samples held in one process above which a warning says so (31 regions x 3 scenarios: 2.1 MiB a sample)."""


class _Samples:
    """Per-sample outputs of ``n`` samples filled in run by run, in any order, into arrays
    allocated once (no concatenation: the samples are held once); with ``sample_last``,
    laid out with ``sample`` as the last dim (each series contiguous, as
    :func:`sorted_quantiles` sorts it)."""

    def __init__(self, n: int, sample_last: bool = False, dtype=None):
        self.n, self.sample_last, self.dtype = n, sample_last, dtype
        self.ds: xr.Dataset | None = None

    def put(self, start: int, part: xr.Dataset) -> None:
        """``part`` (dims ``sample`` first) as samples ``start`` onwards."""
        if self.ds is None:
            variables = {}
            for name, da in part.data_vars.items():
                dims, shape = (da.dims[1:] + ("sample",), da.shape[1:] + (self.n,)) if self.sample_last else (da.dims, (self.n, *da.shape[1:]))
                variables[name] = (dims, np.empty(shape, self.dtype or da.dtype), da.attrs)
            coords = {k: c for k, c in part.coords.items() if "sample" not in c.dims}
            self.ds = xr.Dataset(variables, coords={**coords, "sample": np.arange(self.n)}, attrs=part.attrs)
            size = self.ds.nbytes / 2**30
            (log.warning if size > LARGE_GIB else log.debug)("holding %.2f GiB of samples (sample_quantiles holds a block of regions at a time)", size)
        for name, da in part.data_vars.items():
            if self.sample_last:
                self.ds[name].data[..., start : start + da.shape[0]] = np.moveaxis(da.data, 0, -1)
            else:
                self.ds[name].data[start : start + da.shape[0]] = da.data


class _Held:
    """What :func:`sample_quantiles` keeps of each sample: the headline outputs by region
    in float32, sample last (half the bytes; sorted in place for the quantiles), and their
    sum over regions in ``total_dtype`` (float32 for a block of regions: at 10,000
    samples a block's sum is as large as its outputs). float32 keeps 7 significant
    digits, so a quantile is that of the float64 outputs within 6e-8 relative: four orders
    of magnitude below the Monte-Carlo error of a thousand samples (~1 %)."""

    def __init__(self, n: int, total_dtype=np.float64):
        self.regions, self.total = _Samples(n, sample_last=True), _Samples(n, dtype=total_dtype)

    def put(self, start: int, parts: tuple[xr.Dataset, xr.Dataset]) -> None:
        by_region, total = parts
        self.regions.put(start, by_region)
        self.total.put(start, total)


def _for_holding(results: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    """A run's :func:`headline` outputs as :class:`_Held` keeps them: by region in float32
    (cast in the task: half the bytes to send), and summed over regions in float64."""
    outputs = headline(results).transpose("sample", ...)
    # Dataset.astype goes through apply_ufunc per variable: 4x the cost of the casts
    return outputs.copy(data={name: v.data.astype(np.float32) for name, v in outputs.data_vars.items()}), _sum_regions(outputs)


def _executor(tasks: int) -> tuple[contextlib.AbstractContextManager, int]:
    """A ``concurrent.futures`` executor for the sweep's tasks and the tasks it runs at
    once: the active dask.distributed client's (the CLI's ``--workers``/``--scheduler``)
    and its workers' threads, else threads in this process, one a core."""
    client = None
    if "distributed" in sys.modules:  # no client can be active unless distributed was imported; importing it costs 0.5 s
        from distributed import get_client

        with contextlib.suppress(ValueError):
            client = get_client()
    if client is not None:
        return contextlib.nullcontext(client.get_executor(pure=False)), max(1, sum(client.nthreads().values()))
    threads = max(1, min(tasks, os.cpu_count() or 1))
    return ThreadPoolExecutor(max_workers=threads), threads


def _map(fn, jobs: list[tuple], on_result) -> None:
    """``fn(*job)`` for every job as executor tasks (:func:`_executor`), no more submitted
    than it runs at once; ``on_result(i, result)`` in this thread as job ``i`` finishes,
    after which its result is let go, so that only unconsumed results are held.

    Submitting as slots free up keeps a cluster's workers evenly loaded: given every task
    at once, a scheduler queues some on each worker, and one worker may be left with two
    while the other idles (6 blocks on 2 dask workers took 1.24x the in-process time)."""
    manager, slots = _executor(len(jobs))
    # The limit set here, by the thread that starts the tasks, for the threads that run them
    # (their own runs nest in it): OpenBLAS 0.3.31 ignores openblas_set_num_threads from a
    # new thread once the main thread has called it (a model run there, before a sweep),
    # so each task thread's own limit may not take.
    with blas.one_thread(), manager as executor:
        waiting = iter(enumerate(jobs))
        running = {}
        for i, job in itertools.islice(waiting, slots):
            running[executor.submit(fn, *job)] = i
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                i = running.pop(future)
                for j, job in itertools.islice(waiting, 1):
                    running[executor.submit(fn, *job)] = j
                on_result(i, future.result())  # a failed task raises here


def _gather(scenarios, params: xr.Dataset, values: xr.DataArray, chunk: int, reduce, on_samples, into=None):
    """``reduce`` of the model's results for every sample of ``values``, dims ``sample``
    first: tasks of ``chunk`` samples return theirs to this process (``on_samples(k)``
    as each of ``k`` samples is done), which puts them ``into`` a holder
    (:class:`_Samples` by default) and returns it."""
    n = values.sizes["sample"]
    starts = range(0, n, chunk)
    into = _Samples(n) if into is None else into

    def keep(i: int, part) -> None:
        into.put(starts[i], part)
        if on_samples:
            on_samples(min(chunk, n - starts[i]))

    _map(_run_chunk, [(scenarios, params, values.isel(sample=slice(s, s + chunk)), reduce) for s in starts], keep)
    return into


def _stamp(ds: xr.Dataset, n: int, method: str, seed: int) -> xr.Dataset:
    ds.attrs.update(samples=n, sampling=method if n > 1 else "mode", seed=seed)
    return ds


def run_samples(
    scenarios: dict[str, config.Scenario],
    n: int,
    method: str = "sobol",
    seed: int = 0,
    chunk: int | None = None,
    store: str | Path | None = None,
    on_samples=None,
    params: xr.Dataset | None = None,
) -> xr.Dataset:
    """Headline outputs of ``n`` draws, dims ``sample`` + the outputs' dims (units in attrs).

    Tasks of ``chunk`` samples (default: :data:`RUN_SERIES` series) return their outputs to this process, which holds them all
    (~0.8 MB a sample for 31 regions and 3 scenarios: for large ``n`` see
    :func:`sample_quantiles`); with ``store`` (a path or fsspec URL that every worker
    reaches, e.g. ``s3://bucket/run.zarr``) the tasks write them to a Zarr store there
    instead, read back lazily. ``on_samples(k)`` is called as each chunk of ``k`` samples
    is done; ``params``: the scenarios' parameters if already built."""
    values, params = _design(scenarios, n, method, seed, params)
    chunk = _samples_per_run(chunk, params)
    log.info("%d samples in chunks of %d", n, chunk)
    if store is None:
        return _stamp(_gather(scenarios, params, values, chunk, headline, on_samples).ds, n, method, seed)
    store, starts = str(store), range(0, n, chunk)
    # zarr opens file:// URLs through fsspec, which does not create the store's folder; a path does.
    where = store.removeprefix("file://") if store.startswith("file://") else store
    # The store's layout comes from a first chunk run here; the others are tasks.
    first = _run_chunk(scenarios, params, values.isel(sample=slice(0, chunk)))
    # Zarr format 2: its string coordinates are stable there.
    _template(first, n, chunk).to_zarr(where, compute=False, mode="w", zarr_format=2, consolidated=True)
    first.drop_vars([c for c in first.coords if "sample" not in first[c].dims]).to_zarr(where, region={"sample": slice(0, first.sizes["sample"])}, zarr_format=2)
    if on_samples:
        on_samples(first.sizes["sample"])
    jobs = [(scenarios, params, values.isel(sample=slice(s, s + chunk)), headline, where, s) for s in starts[1:]]
    _map(_run_chunk, jobs, lambda i, _: on_samples and on_samples(min(chunk, n - starts[i + 1])))
    ds = xr.open_zarr(where, zarr_format=2, consolidated=True)
    ds.attrs["samples_store"] = store
    return _stamp(ds, n, method, seed)


def _template(first: xr.Dataset, n: int, chunk: int) -> xr.Dataset:
    """The store's layout for ``n`` samples, lazily (nothing of size ``n`` is held): chunks of
    ``chunk`` samples and one region, so that quantiles read one region's chunks at a time."""
    import dask.array  # only a store needs it; importing it costs ~0.5 s

    chunks = {"sample": chunk, "region": 1}
    variables = {}
    for name, da in first.data_vars.items():
        shape = tuple(n if d == "sample" else size for d, size in da.sizes.items())
        blocks = tuple(min(chunks.get(d, size), size) for d, size in zip(da.dims, shape))
        variables[name] = (da.dims, dask.array.zeros(shape, dtype=da.dtype, chunks=blocks), da.attrs)
    coords = {k: c for k, c in first.coords.items() if "sample" not in c.dims}
    return xr.Dataset(variables, coords={**coords, "sample": np.arange(n)})


def quantiles(samples: xr.Dataset) -> xr.Dataset:
    """Quantiles (:data:`QUANTILES`) over ``sample`` of every variable; a store's samples
    are read one region block at a time."""
    if samples.chunks:
        samples = samples.chunk({"sample": -1, **({"region": 1} if "region" in samples.dims else {})})
    out = xr.apply_ufunc(
        sorted_quantiles, samples, input_core_dims=[["sample"]], output_core_dims=[["quantile"]],
        dask="parallelized", dask_gufunc_kwargs={"output_sizes": {"quantile": len(QUANTILES)}}, keep_attrs=True,
    ).compute()
    return _with_quantile_coord(out.transpose("quantile", ...))


def _with_quantile_coord(out: xr.Dataset) -> xr.Dataset:
    """``out`` (dim ``quantile`` first) with the labelled :data:`QUANTILES` coordinate."""
    out = out.assign_coords(quantile=list(QUANTILES))
    out["quantile"].attrs.update(long_name="quantile over Monte-Carlo samples", units="1")
    return out


def sorted_quantiles(values: np.ndarray) -> np.ndarray:
    """:data:`QUANTILES` of ``values`` along its last axis, on that axis: the same numbers
    as ``np.quantile`` (its default linear method, its index and interpolation formulas,
    bit for bit) from one sort, which is 3-4x faster than its partitions for five
    quantiles of a thousand samples. A NaN in a series makes its quantiles NaN (as
    np.quantile; np.nanquantile would hide it, and loops in Python over every series)."""
    return _of_sorted(np.sort(values, axis=-1))


def _of_sorted(ordered: np.ndarray) -> np.ndarray:
    """:func:`sorted_quantiles` of ``ordered``, sorted along its last axis, in float64."""
    n = ordered.shape[-1]
    q = np.asarray(QUANTILES)
    position = (n - 1) * q  # numpy's virtual index for its linear method
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, n - 1)
    weight = position - below
    low, high = ordered[..., below].astype(float, copy=False), ordered[..., above].astype(float, copy=False)
    step = high - low
    out = low + step * weight
    np.subtract(high, step * (1 - weight), out=out, where=weight >= 0.5)  # numpy's _lerp, exact at both ends
    out[np.isnan(ordered[..., -1])] = np.nan  # np.sort puts NaN last
    return out


def _quantiles_in_place(samples: xr.Dataset, threads: int = 1) -> xr.Dataset:
    """:func:`quantiles` of ``samples`` laid out sample last (:class:`_Samples`), sorting
    their arrays in place (no copy of them) on ``threads`` threads, a slice of the first
    dim each (numpy's sort releases the GIL)."""
    views = [a[i : i + 1] for a in (v.data for v in samples.data_vars.values()) for i in range(a.shape[0])]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(lambda view: view.sort(axis=-1), views))
    variables = {name: (("quantile", *v.dims[:-1]), np.moveaxis(_of_sorted(v.data), -1, 0), v.attrs) for name, v in samples.data_vars.items()}
    coords = {k: c for k, c in samples.coords.items() if "sample" not in c.dims}
    return _with_quantile_coord(xr.Dataset(variables, coords=coords, attrs=samples.attrs))


def _sum_regions(data: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """The sum over ``region``; of one region, that region's numbers themselves (a view:
    a quantile task of one region at 10,000 samples would otherwise copy 0.7 GB)."""
    if "region" not in data.dims:
        return data
    # skipna=False: a NaN stays visible, and xarray's NaN-skipping sum cost 14x numpy's
    return data.isel(region=0, drop=True) if data.sizes["region"] == 1 else data.sum("region", skipna=False)


def summarise(samples: xr.Dataset) -> Quantiles:
    """:class:`Quantiles` of per-sample outputs (:func:`run_samples`), attrs kept."""
    return Quantiles(quantiles(samples), quantiles(_sum_regions(samples)))


def _region_blocks(n: int, scenarios: int, regions: int) -> list[tuple[int, int]]:
    """Regions in blocks of at most :data:`BLOCK_SERIES` series over all ``n`` samples."""
    per_block = max(1, BLOCK_SERIES // (n * scenarios))
    return _bounds(regions, math.ceil(regions / per_block))


def _block_quantiles(scenarios, params: xr.Dataset, values: xr.DataArray, runs: list[tuple[int, int]]):
    """Quantiles over all samples of the outputs of ``params``' regions (one block), the
    model run once per (start, stop) of ``runs``, and their per-sample sum over those regions."""
    held = _Held(values.sizes["sample"], np.float32)
    # One BLAS thread for the whole task, not set and restored around each of its model
    # runs: a 2-worker cluster (one thread each) took 71 CPU s for 1,000 samples and 59
    # with OPENBLAS_NUM_THREADS=1, so something ran BLAS threads between the runs (not
    # isolated; in process, the other thread's run keeps the limit on anyway).
    with blas.one_thread():
        for start, stop in runs:
            held.put(start, _run_chunk(scenarios, params, values.isel(sample=slice(start, stop)), _for_holding))
    return _quantiles_in_place(held.regions.ds), held.total.ds


def sample_quantiles(
    scenarios: dict[str, config.Scenario],
    n: int,
    method: str = "sobol",
    seed: int = 0,
    chunk: int | None = None,
    store: str | Path | None = None,
    on_samples=None,
    params: xr.Dataset | None = None,
) -> Quantiles:
    """:class:`Quantiles` of the headline outputs of ``n`` draws, in memory bounded whatever ``n``.

    With ``store``, this is :func:`summarise` of :func:`run_samples`. When all samples
    fit :data:`HOLD_SERIES`, model runs of ``chunk`` samples (default: :data:`RUN_SERIES`
    series) over every region are the tasks, and this process holds their outputs
    (:class:`_Held`). Otherwise one task per block of regions runs all samples of its
    regions (``chunk`` x regions / block samples a model run, so a run is as wide as
    ``chunk`` samples of the whole case) and returns their quantiles and their sum over
    its regions: nothing of size ``n`` x regions crosses the network or is held here.
    ``on_samples(k)`` as ``k`` samples' worth of work is done (a fraction for a block of
    regions)."""
    if store is not None:
        return summarise(run_samples(scenarios, n, method, seed, chunk, store, on_samples, params))
    values, params = _design(scenarios, n, method, seed, params)
    chunk = _samples_per_run(chunk, params)
    regions = params.sizes.get("region", 1)
    if n * len(scenarios) * regions <= HOLD_SERIES:
        log.info("%d samples in model runs of %d over every region", n, chunk)
        held = _gather(scenarios, params, values, chunk, _for_holding, on_samples, _Held(n))
        by_region = _quantiles_in_place(held.regions.ds, threads=os.cpu_count() or 1)
        return Quantiles(_stamp(by_region, n, method, seed), _stamp(quantiles(held.total.ds), n, method, seed))
    blocks = _region_blocks(n, len(scenarios), regions)
    jobs = []
    for first, last in blocks:
        per_run = max(1, chunk * regions // (last - first))
        jobs.append((scenarios, params.isel(region=slice(first, last)), values, _bounds(n, math.ceil(n / per_run))))
    log.info("%d samples: %d tasks of a block of regions, %d model runs", n, len(jobs), sum(len(job[-1]) for job in jobs))
    by_block: dict[int, xr.Dataset] = {}
    partial: dict[int, xr.Dataset] = {}
    total, added = None, 0

    def add(i: int, result) -> None:
        # Partial sums are added in block order, whatever order the tasks finish in, so
        # that the totals are the same bits on threads and on any cluster.
        nonlocal total, added
        by_block[i], partial[i] = result
        while added in partial:
            part = partial.pop(added)
            if total is None:
                total = part.astype(np.float64)  # the client's own array, added up in float64
            else:
                total += part  # in place: no second array of every sample of every region
            del part
            added += 1
        if on_samples:
            on_samples(n * (blocks[i][1] - blocks[i][0]) / regions)

    _map(_block_quantiles, jobs, add)
    ds = xr.concat([by_block[i] for i in range(len(blocks))], "region")
    return Quantiles(_stamp(ds, n, method, seed), _stamp(quantiles(total), n, method, seed))


# --- Sobol sensitivity ------------------------------------------------------------------


def _cumulative(results: xr.Dataset, name: str, element: str, start: int = 2023) -> xr.DataArray:
    return _sum_regions(results[name].sel(element=element).pint.to("t/yr").pint.dequantify()).sel(year=slice(start, None)).sum("year", skipna=False)


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
    scenarios: dict[str, config.Scenario], n: int, seed: int = 0, chunk: int | None = None, outputs=tuple(OUTPUTS), on_samples=None
) -> xr.Dataset:
    """Sobol indices of ``outputs`` for every uncertain parameter, by ``scenario``, the
    model run ``chunk`` samples at a time (default: :data:`RUN_SERIES` series);
    ``on_samples(k)`` is called as each chunk of ``k`` model runs is done."""
    names = uncertain_names(scenarios)
    if not names:
        raise config.InputError(next(iter(scenarios.values())).source, "uncertainty", "at least one uncertain parameter")
    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown:
        raise config.InputError(None, "--output", f"one of {sorted(OUTPUTS)}; unknown {unknown}")

    params = parameters.build(scenarios)
    chunk = _samples_per_run(chunk, params)
    reduce = functools.partial(scalar_outputs, names=outputs)

    def model_fn(points):
        return _gather(scenarios, params, draws(scenarios, points), chunk, reduce, on_samples).ds

    ds = sobol_indices(model_fn, names, n, seed)
    for name in outputs:
        ds.attrs[f"output_{name}"] = f"{OUTPUTS[name][1]} [{OUTPUTS[name][0]}]"
    return ds
