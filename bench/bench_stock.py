"""Benchmark: mfa.stock against flodym 1.1.0 and a bare numpy/scipy floor.

Workload: 36 years (2015-2050); Weibull lifetime, shape 3.5, scale rising linearly by
cohort from 9 to 15 years; inflow at the end of the year (ODYM's discretisation). A
stock-driven model on a logistic stock K / (1 + exp(-0.25 (t - 2032))), with K drawn per
series from a seeded generator, then an inflow-driven model on the inflow it found, for
1, 1,000 and 100,000 independent series along one extra dim (``series``).

Implementations (each one call = stock-driven then inflow-driven):

- ``mfa``: ``stock.stock_driven`` then ``stock.inflow_driven`` with default options
  (``inflow_at="end"``), plain (unit-less) ``xr.DataArray`` s with dims (year, series).
- ``mfa_read`` ("mfa, all read"): the same call, then every variable of both results
  read (``Dataset.load()``). From 8 MiB per variable, mfa's unit-less results compute
  ``stock_change``, ``balance`` and ``cumulative_outflow`` on first read (the balance is
  checked during the call either way), so ``mfa`` times the call and this column the
  call with all its outputs used.
- ``flodym``: ``StockDrivenDSM`` then ``InflowDrivenDSM`` (default "manual" solver) over a
  ``DimensionSet`` (time, series), sharing one ``WeibullLifetime(inflow_at="end")`` so
  flodym builds its survival matrix once per call (its most favourable use).
- ``floor``: numpy/scipy only: the 36x36 survival matrix built once,
  ``scipy.linalg.solve_triangular`` with every series as a right-hand side, then
  ``sf @ inflow`` and ``outflow_matrix @ inflow``.

Every (implementation, size) runs in a fresh subprocess of this script. It builds the
inputs, warms up on one series (so lazy imports and caches are loaded), then measures:

1. peak RSS increase: the kernel's peak-RSS mark is reset (``/proc/self/clear_refs``)
   right before one call; reported is ``getrusage(RUSAGE_SELF).ru_maxrss`` after the
   call minus the resident set just before it. It counts everything the call touches
   (numpy arrays, BLAS/LAPACK work space, Python objects); inputs already built are not
   counted. Where the reset is unavailable, the baseline is ``ru_maxrss`` before the call
   and a call that stays under the import-time peak shows as 0.
2. tracemalloc peak: the largest total of Python and numpy allocations alive at once
   during one call (numpy reports its data buffers to tracemalloc; LAPACK/BLAS internal
   buffers are not included).
3. time: the median of ``--repeats`` (5) calls, wall clock; the two full-size calls of
   1. and 2. are its warm-up.

Then the parent compares each implementation's results with the floor's (max relative
difference) and prints a markdown table, also written to ``outputs/bench_stock.md``.

Usage::

    python bench/bench_stock.py            # full table (1, 1,000, 100,000 series)
    python bench/bench_stock.py --quick    # skips flodym at 100,000 series (~5 GiB, ~1 min)
    python bench/bench_stock.py --blas-threads 1   # every worker on one BLAS thread
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
YEARS = np.arange(2015, 2051)
SHAPE = 3.5
SCALE = np.linspace(9.0, 15.0, YEARS.size)  # by cohort
MIDPOINT, STEEPNESS = 2032.0, 0.25
SEED = 20150
SIZES = (1, 1_000, 100_000)
IMPLS = ("mfa", "mfa_read", "flodym", "floor")
MiB = 2**20

# Targets from the issue (17): at 1 series, and at 100,000 series.
TARGET_SPEEDUP_ONE_SERIES = 5.0
TARGET_SPEEDUP_VS_FLODYM = 40.0
TARGET_RATIO_TO_FLOOR = 1.5
TARGET_PEAK_MIB = 300.0


# --- inputs --------------------------------------------------------------------------


def logistic_stock(n_series: int) -> np.ndarray:
    """Stock, shape (year, series): K / (1 + exp(-0.25 (t - 2032))), K per series."""
    rng = np.random.default_rng(SEED)
    k = rng.uniform(0.5e6, 2.0e6, n_series)  # vehicles
    shape = 1.0 / (1.0 + np.exp(-STEEPNESS * (YEARS - MIDPOINT)))
    return np.ascontiguousarray(shape[:, None] * k[None, :])


# --- implementations: each setup returns a zero-argument call and a result extractor ----


def setup_mfa(stock_np: np.ndarray):
    import xarray as xr

    from mfa import lifetimes, stock

    n = stock_np.shape[1]
    stock_da = xr.DataArray(
        stock_np, dims=("year", "series"), coords={"year": YEARS, "series": np.arange(n)}
    )
    scale = xr.DataArray(SCALE, dims="cohort", coords={"cohort": YEARS})
    lifetime = lifetimes.Weibull(SHAPE, scale)

    def call():
        sd = stock.stock_driven(stock_da, lifetime)
        idr = stock.inflow_driven(sd["inflow"], lifetime)
        return sd, idr

    def extract(out):
        sd, idr = out
        get = lambda ds, k: ds[k].transpose("year", "series").values  # noqa: E731
        return {
            "inflow": get(sd, "inflow"),
            "outflow_sd": get(sd, "outflow"),
            "stock": get(idr, "stock"),
            "outflow": get(idr, "outflow"),
        }

    return call, extract


def setup_mfa_read(stock_np: np.ndarray):
    """mfa's call, then every variable of both results read (``Dataset.load``): large
    unit-less results derive stock_change, balance and cumulative_outflow on first read,
    so this is what a call costs when all of them are used."""
    call, extract = setup_mfa(stock_np)

    def call_and_read():
        sd, idr = call()
        return sd.load(), idr.load()

    return call_and_read, extract


def setup_flodym(stock_np: np.ndarray):
    import flodym

    n = stock_np.shape[1]
    dims = flodym.DimensionSet(
        dim_list=[
            flodym.Dimension(name="time", letter="t", items=[int(y) for y in YEARS]),
            flodym.Dimension(name="series", letter="s", items=list(range(n))),
        ]
    )
    scale = SCALE[:, None]  # by cohort (the time axis), broadcast over series

    def call():
        lifetime = flodym.WeibullLifetime(
            dims=dims, weibull_shape=SHAPE, weibull_scale=scale, inflow_at="end"
        )
        sd = flodym.StockDrivenDSM(
            dims=dims, lifetime_model=lifetime, stock=flodym.StockArray(dims=dims, values=stock_np)
        )
        sd.compute()
        idr = flodym.InflowDrivenDSM(
            dims=dims, lifetime_model=lifetime, inflow=flodym.StockArray(dims=dims, values=sd.inflow.values)
        )
        idr.compute()
        return sd, idr

    def extract(out):
        sd, idr = out
        return {
            "inflow": sd.inflow.values,
            "outflow_sd": sd.outflow.values,
            "stock": idr.stock.values,
            "outflow": idr.outflow.values,
        }

    return call, extract


def setup_floor(stock_np: np.ndarray):
    from scipy.linalg import solve_triangular

    n_years = YEARS.size

    def call():
        age = np.subtract.outer(np.arange(n_years), np.arange(n_years)).astype(float)
        sf = np.where(age >= 0, np.exp(-((np.maximum(age, 0.0) / SCALE) ** SHAPE)), 0.0)
        present = np.zeros_like(sf)  # share present before each year's outflow
        present[1:] = sf[:-1]
        np.fill_diagonal(present, 1.0)
        outflow_matrix = present - sf
        inflow = solve_triangular(sf, stock_np, lower=True, check_finite=False)
        return inflow, sf @ inflow, outflow_matrix @ inflow

    def extract(out):
        inflow, stock, outflow = out
        return {"inflow": inflow, "outflow_sd": outflow, "stock": stock, "outflow": outflow}

    return call, extract


SETUPS = {"mfa": setup_mfa, "mfa_read": setup_mfa_read, "flodym": setup_flodym, "floor": setup_floor}


# --- worker: one implementation, one size, fresh process --------------------------------


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux: KiB


def worker(impl: str, n_series: int, repeats: int, result_path: str | None) -> dict:
    setup = SETUPS[impl]
    # Warm-up on one series: loads lazy imports and caches, keeps them out of the peak.
    warm_call, _ = setup(logistic_stock(1))
    warm_call()
    del warm_call

    call, extract = setup(logistic_stock(n_series))
    gc.collect()

    # 1. peak RSS increase of one call
    reset = _reset_peak_rss()
    rss_before = _status_kib("VmRSS") if reset else None
    baseline = rss_before * 1024 if rss_before is not None else _maxrss_bytes()
    out = call()
    peak_rss = max(_maxrss_bytes() - baseline, 0)
    results = extract(out)
    if result_path:
        np.savez(result_path, **results)
    del out, results
    gc.collect()

    # 2. tracemalloc peak of one call
    tracemalloc.start()
    out = call()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    gc.collect()

    # 3. time: median of `repeats` calls (the two full-size calls above were the warm-up)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - t0)
        del out
    return {
        "impl": impl,
        "series": n_series,
        "time_s": statistics.median(times),
        "times_s": times,
        "peak_rss_bytes": peak_rss,
        "rss_baseline": "VmRSS before call (peak mark reset)" if reset else "ru_maxrss before call",
        "tracemalloc_peak_bytes": traced_peak,
    }


# --- parent ------------------------------------------------------------------------------


# The thread-count variables of the BLAS builds numpy and scipy ship with (OpenBLAS) and
# of the others they may be built against.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def run_worker(impl: str, n_series: int, repeats: int, result_path: str, blas_threads: int | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, str(n_series), "--repeats", str(repeats),
           "--result", result_path]
    env = dict(os.environ)
    if blas_threads is not None:  # every implementation alike: all three call BLAS
        env.update(dict.fromkeys(BLAS_THREAD_VARIABLES, str(blas_threads)))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"{impl} at {n_series} series failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| / max(|a|, |b|) over all elements (0 where both are 0)."""
    denom = np.maximum(np.abs(a), np.abs(b))
    diff = np.abs(a - b)
    return float(np.max(np.divide(diff, denom, out=np.zeros_like(diff), where=denom > 0)))


def fmt_s(x):
    if x is None:
        return "skipped"
    return f"{x * 1e3:.2f} ms" if x < 1 else f"{x:.2f} s"


def fmt_mib(r):
    if r is None:
        return "skipped"
    return f"{r['peak_rss_bytes'] / MiB:.1f} / {r['tracemalloc_peak_bytes'] / MiB:.1f}"


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.1f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip flodym at 100,000 series")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated series counts")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (median)")
    parser.add_argument("--blas-threads", type=int, help="BLAS threads of every worker (default: the library's own)")
    parser.add_argument("--out", default=str(REPO / "outputs" / "bench_stock.md"))
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        impl, n = args.worker[0], int(args.worker[1])
        print(json.dumps(worker(impl, n, args.repeats, args.result)))
        return 0

    sizes = [int(s) for s in args.sizes.split(",")]
    start = time.perf_counter()
    load_start = os.getloadavg()
    rows, agreement = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            res, outputs = {}, {}
            for impl in ("floor", "mfa", "mfa_read", "flodym"):
                if impl == "flodym" and args.quick and n >= 100_000:
                    res[impl] = None
                    continue
                path = os.path.join(tmp, f"{impl}_{n}.npz")
                res[impl] = run_worker(impl, n, args.repeats, path, args.blas_threads)
                with np.load(path) as f:
                    outputs[impl] = {k: f[k] for k in f.files}
                os.remove(path)
                print(f"  {impl:8s} {n:>7,d} series: {fmt_s(res[impl]['time_s'])} (min {fmt_s(min(res[impl]['times_s']))}), "
                      f"peak RSS +{res[impl]['peak_rss_bytes'] / MiB:.1f} MiB, "
                      f"tracemalloc {res[impl]['tracemalloc_peak_bytes'] / MiB:.1f} MiB",
                      file=sys.stderr, flush=True)
            ref = outputs["floor"]
            for impl in ("mfa", "mfa_read", "flodym"):
                if impl in outputs:
                    diffs = {k: max_rel_diff(outputs[impl][k], ref[k]) for k in ref}
                    agreement.append((n, impl, diffs))
            roundtrip = max_rel_diff(outputs["mfa"]["stock"], logistic_stock(n))
            agreement.append((n, "mfa stock round trip", {"stock": roundtrip}))
            del outputs
            rows.append((n, res))

    t = lambda r: None if r is None else r["time_s"]  # noqa: E731
    lines = [
        "| series | mfa s | mfa, all read s | flodym s | floor s | flodym/mfa | mfa/floor | all read/floor "
        "| peak MiB mfa | all read | flodym | floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, res in rows:
        tm, tr, tf, tl = t(res["mfa"]), t(res["mfa_read"]), t(res["flodym"]), t(res["floor"])
        lines.append(
            f"| {n:,} | {fmt_s(tm)} | {fmt_s(tr)} | {fmt_s(tf)} | {fmt_s(tl)} | "
            f"{fmt_ratio(tf / tm if tf else None)} | {fmt_ratio(tm / tl)} | {fmt_ratio(tr / tl)} | "
            f"{fmt_mib(res['mfa'])} | {fmt_mib(res['mfa_read'])} | {fmt_mib(res['flodym'])} | {fmt_mib(res['floor'])} |"
        )
    table = "\n".join(lines)

    agree_lines = ["| series | implementation | inflow | stock | outflow | stock-driven outflow |",
                   "|---:|---|---:|---:|---:|---:|"]
    for n, impl, d in agreement:
        cell = lambda k: f"{d[k]:.1e}" if k in d else ""  # noqa: E731
        if impl.endswith("round trip"):
            agree_lines.append(f"| {n:,} | {impl} (vs input stock) | | {cell('stock')} | | |")
        else:
            agree_lines.append(f"| {n:,} | {impl} vs floor | {cell('inflow')} | {cell('stock')} | "
                               f"{cell('outflow')} | {cell('outflow_sd')} |")
    worst = max(v for _, _, d in agreement for v in d.values())

    checks = []
    one = next((r for n, r in rows if n == 1), None)
    if one and one["flodym"]:
        sp = one["flodym"]["time_s"] / one["mfa"]["time_s"]
        checks.append(f"- 1 series: flodym/mfa = {sp:.1f}x, mfa {fmt_s(one['mfa']['time_s'])} "
                      f"(target >= {TARGET_SPEEDUP_ONE_SERIES:.0f}x): {'met' if sp >= TARGET_SPEEDUP_ONE_SERIES else 'MISSED'}")
    big = next(((n, r) for n, r in rows if n == 100_000), None)
    if big:
        _, r = big
        tm, tl = r["mfa"]["time_s"], r["floor"]["time_s"]
        peak = r["mfa"]["peak_rss_bytes"] / MiB
        if r["flodym"]:
            sp = r["flodym"]["time_s"] / tm
            checks.append(f"- flodym/mfa = {sp:.1f}x (target >= {TARGET_SPEEDUP_VS_FLODYM:.0f}x): "
                          f"{'met' if sp >= TARGET_SPEEDUP_VS_FLODYM else 'MISSED'}")
        else:
            checks.append("- flodym/mfa: not measured (--quick)")
        checks.append(f"- mfa/floor = {tm / tl:.2f}x (target <= {TARGET_RATIO_TO_FLOOR:.1f}x): "
                      f"{'met' if tm / tl <= TARGET_RATIO_TO_FLOOR else 'MISSED'}")
        checks.append(f"- mfa peak RSS increase = {peak:.0f} MiB (target < {TARGET_PEAK_MIB:.0f} MiB): "
                      f"{'met' if peak < TARGET_PEAK_MIB else 'MISSED'}")

    import flodym
    import scipy
    import xarray

    env = (f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
           f"xarray {xarray.__version__}, flodym {flodym.__version__ if hasattr(flodym, '__version__') else '1.1.0'}; "
           f"{os.cpu_count()} CPUs; {platform.machine()} {platform.system()} {platform.release()}; "
           f"BLAS threads {args.blas_threads or 'default'}; "
           f"1-min load average {load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end; "
           f"total {time.perf_counter() - start:.0f} s")
    report = "\n".join([
        "## Stock model benchmark (36 years, Weibull 3.5 / scale 9-15 by cohort, stock-driven then inflow-driven)",
        "",
        f"Time: median of {args.repeats} calls after two full-size warm-up calls, one call = stock-driven + inflow-driven. "
        "Peak MiB cells are `peak RSS increase / tracemalloc peak` of one call, each measured in a fresh "
        "process after imports, inputs and a one-series warm-up (RSS: peak-RSS mark reset before the call, "
        "ru_maxrss after minus RSS before; tracemalloc: Python + numpy allocations, not BLAS work space).",
        "",
        table,
        "",
        "Targets:",
        "",
        *checks,
        "",
        f"Agreement, max relative difference |a - b| / max(|a|, |b|) (worst {worst:.1e}):",
        "",
        *agree_lines,
        "",
        env,
        "",
    ])
    print(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"written to {out} (total {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0 if worst < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
