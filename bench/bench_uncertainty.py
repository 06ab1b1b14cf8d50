"""Monte-Carlo sweep: 31 provinces x 3 scenarios x N samples, 2015-2050, to quantiles.

Each row runs in a fresh process (time: parameters, draws, model runs, quantiles by
region and of the all-region total, :func:`mfa.uncertainty.sample_quantiles`; CPU time
of that process and of the workers, which a busy machine inflates less than wall time;
peak RSS of that process). The cluster row runs on a `dask scheduler` and two single-threaded
`dask worker` processes started here, each in its own folder with its own TMPDIR (no
shared disk), and must give the same quantiles as the in-process row of the same size.

    python bench/bench_uncertainty.py [--sizes 1000,10000] [--cluster-size 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import contextlib, json, resource, sys, time
import xarray as xr
from mfa import config, uncertainty
n, scheduler, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
scenarios = config.load_scenarios("china-provinces")
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
cpu = lambda: (lambda r: r.ru_utime + r.ru_stime)(resource.getrusage(resource.RUSAGE_SELF))
with contextlib.ExitStack() as stack:
    workers_cpu = lambda: 0.0
    if scheduler:
        from distributed import Client
        client = stack.enter_context(Client(scheduler))
        workers_cpu = lambda: sum(client.run(cpu).values())
    before = cpu() + workers_cpu()
    start = time.perf_counter()
    q = uncertainty.sample_quantiles(scenarios, n, "sobol", 0)
    elapsed = time.perf_counter() - start
    used = cpu() + workers_cpu() - before
    workers_peak = max(client.run(peak).values()) if scheduler else 0.0
xr.merge([q.regions, q.total.rename({name: f"{name}_total" for name in q.total.data_vars})]).to_netcdf(out)
print(json.dumps({"seconds": elapsed, "cpu_seconds": used, "peak_mib": peak(), "worker_peak_mib": workers_peak}))
"""


def pythonpath() -> dict[str, str]:
    """This process's environment with this checkout first on PYTHONPATH (subprocesses import its mfa)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


@contextlib.contextmanager
def separate_cluster(folder: Path, workers: int = 2, timeout: float = 120):
    """A `dask scheduler` and ``workers`` single-threaded `dask worker` processes on this
    machine, each with its own working directory and TMPDIR under ``folder`` (logs in
    ``log.txt`` there) and this checkout on PYTHONPATH; yields the scheduler's address and
    stops the processes on exit."""
    from distributed import Client

    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        home = folder / name
        (home / "tmp").mkdir(parents=True)
        with open(home / "log.txt", "w") as log:  # the child keeps its own copy of the handle
            command = [sys.executable, "-m", *args]
            processes.append(subprocess.Popen(command, cwd=home, env={**pythonpath(), "TMPDIR": str(home / "tmp")}, stdout=log, stderr=subprocess.STDOUT))

    try:
        address_file = folder / "scheduler.json"
        start("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(address_file))
        deadline = time.monotonic() + timeout
        while not address_file.exists() or not address_file.read_text().strip():
            if processes[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start: {(folder / 'scheduler' / 'log.txt').read_text()[-2000:]}")
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        for i in range(workers):
            start(f"worker{i}", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--local-directory", str(folder / f"worker{i}"))
        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)
        yield address
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def measure(n: int, out: Path, repeat: int, scheduler: str = "") -> dict:
    """Median over ``repeat`` fresh processes of time and peak RSS; the quantiles in ``out``."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", WORKER, str(n), scheduler, str(out)], cwd=ROOT, env=pythonpath(), capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr[-3000:])
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated sample counts run in process")
    parser.add_argument("--cluster-size", type=int, default=1000, help="samples for the separate-process 2-worker cluster (0: skip)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the table shows medians")
    args = parser.parse_args()
    import xarray as xr

    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in [int(s) for s in args.sizes.split(",")]:
            rows.append((f"{n:,} samples, in process", measure(n, tmp / f"q{n}.nc", args.repeat)))
        if args.cluster_size:
            n = args.cluster_size
            local = tmp / f"q{n}.nc"
            if not local.exists():
                measure(n, local, 1)
            with separate_cluster(tmp / "cluster") as address:
                cluster = measure(n, tmp / f"cluster{n}.nc", args.repeat, address)
            with xr.open_dataset(local) as a, xr.open_dataset(tmp / f"cluster{n}.nc") as b:
                same = a.equals(b)
            rows.append((f"{n:,} samples, 2 `dask worker` processes (equal to in process: {same})", cluster))
    print("| run (31 provinces x 3 scenarios, to quantiles) | seconds | CPU seconds (all processes) | peak RSS MiB (client process) | peak RSS MiB (largest worker) |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        worker = f"{r['worker_peak_mib']:.0f}" if r["worker_peak_mib"] else "-"
        print(f"| {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.0f} | {r['peak_mib']:.0f} | {worker} |")
    print(f"\n{os.cpu_count()} cores; load average (1 min) {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after; median of {args.repeat}.")


if __name__ == "__main__":
    main()
