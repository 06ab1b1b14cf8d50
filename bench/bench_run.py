"""Wall time of the default job, ``mfa run`` (hainan-study: 3 scenarios, 2015-2050), import included.

Fresh processes, median of N after one warm-up (which fills the file cache and writes
the byte-code cache, as any installed package has one: ``PYTHONDONTWRITEBYTECODE`` is
dropped for them): the command as a user types it (outputs, no plots), the same with
``--plots``, the imports alone, and the floor of any such command: importing the
libraries every run needs (numpy, pandas, xarray with dask installed, pint, netCDF4);
peak RSS of the command. In-process: ``model.run`` alone against its floor, a few
thousand 36 x 36 matrix-vector products (the lifetime convolutions of one run, with
nothing around them).

    python bench/bench_run.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

IMPORTS = "import mfa.cli, mfa.config, mfa.model, mfa.io.outputs"
"""What ``mfa run`` imports before it writes anything (plotting only with --plots)."""

STACK = "import numpy, pandas, xarray, dask.array, pint, netCDF4"
"""The libraries a run cannot do without (xarray imports dask.array, when installed,
the first time it wraps an array), imported alone: the floor of ``mfa run``'s wall time."""

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
FLOOR_PRODUCTS = 3000
YEARS = 36


def time_process(args: list[str], repeat: int, out: bool = True) -> tuple[float, float, float]:
    """Median wall seconds, median CPU seconds (user + system, which a busy machine
    inflates less) and largest peak RSS (MiB) of ``args`` in fresh processes; with
    ``out`` each gets ``--out`` a folder of its own."""
    times, cpus, peaks = [], [], []
    for i in range(repeat + 1):
        with tempfile.TemporaryDirectory() as folder:
            cmd = ["/usr/bin/time", "-f", "%M %U %S", *args, *(["--out", str(Path(folder) / "out")] if out else [])]
            start = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=ENV)
            elapsed = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(done.stderr)
        if i:  # the first run warms the file cache
            peak, user, system = done.stderr.strip().splitlines()[-1].split()
            times.append(elapsed)
            cpus.append(float(user) + float(system))
            peaks.append(int(peak) / 1024)
    return statistics.median(times), statistics.median(cpus), max(peaks)


def median_call(fn, repeat: int) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_model(repeat: int) -> float:
    sys.path.insert(0, str(ROOT))
    from mfa import config, model

    scenarios = config.load_scenarios("hainan-study")
    return median_call(lambda: model.run(scenarios), repeat)


def time_floor(repeat: int) -> float:
    """:data:`FLOOR_PRODUCTS` products of a 36 x 36 lower-triangular matrix and a vector."""
    import numpy as np

    rng = np.random.default_rng(0)
    matrices = np.tril(rng.random((FLOOR_PRODUCTS, YEARS, YEARS)))
    vectors = rng.random((FLOOR_PRODUCTS, YEARS, 1))
    return median_call(lambda: np.matmul(matrices, vectors), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()
    command = [sys.executable, "-m", "mfa.cli", "run"]
    wall, cpu, peak = time_process(command, args.repeat)
    plotted, plotted_cpu, plotted_peak = time_process([*command, "--plots"], args.repeat)
    imports, imports_cpu, imports_peak = time_process([sys.executable, "-c", IMPORTS], args.repeat, out=False)
    stack, stack_cpu, stack_peak = time_process([sys.executable, "-c", STACK], args.repeat, out=False)
    model_only = time_model(args.repeat)
    floor = time_floor(args.repeat)
    print("| what | median s | CPU s | peak RSS MiB |")
    print("|---|---|---|---|")
    print(f"| `mfa run` (3 scenarios, import, outputs) | {wall:.2f} | {cpu:.2f} | {peak:.0f} |")
    print(f"| `mfa run --plots` | {plotted:.2f} | {plotted_cpu:.2f} | {plotted_peak:.0f} |")
    print(f"| imports alone (`{IMPORTS}`) | {imports:.2f} | {imports_cpu:.2f} | {imports_peak:.0f} |")
    print(f"| floor: the libraries alone (`{STACK}`) | {stack:.2f} | {stack_cpu:.2f} | {stack_peak:.0f} |")
    print(f"| model.run only (in-process) | {model_only:.3f} | | |")
    print(f"| floor: {FLOOR_PRODUCTS:,} products of a {YEARS} x {YEARS} matrix and a vector | {floor:.4f} | | |")
    print(f"\n{os.cpu_count()} cores; load average (1 min) {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after; median of {args.repeat}.")


if __name__ == "__main__":
    main()
