"""Monte-Carlo sweep: 31 provinces x 3 scenarios x N samples, 2015-2050.

Each size runs in a fresh process (time: draws, model runs, Zarr store, quantiles; peak
RSS of that process). The 2-worker LocalCluster run must give the same quantiles as the
in-process one.

    python bench/bench_uncertainty.py [--sizes 1,100,1000] [--cluster-size 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import json, resource, sys, time
import xarray as xr
from mfa import config, uncertainty
from mfa.cli import dask_client
n, workers, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
scenarios = config.load_scenarios("china-provinces")
start = time.perf_counter()
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with dask_client(workers or None, None) as client:
    q = uncertainty.quantiles(uncertainty.run_samples(scenarios, n, "sobol", 0, chunk=100))
    workers_peak = max(client.run(peak).values()) if client else 0.0
elapsed = time.perf_counter() - start
q.to_netcdf(out)
print(json.dumps({"seconds": elapsed, "peak_mib": peak(), "worker_peak_mib": workers_peak}))
"""


def measure(n: int, workers: int, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", WORKER, str(n), str(workers), str(out)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000", help="comma-separated sample counts (10000 takes about 3 min here)")
    parser.add_argument("--cluster-size", type=int, default=1000, help="samples for the LocalCluster run (0: skip)")
    args = parser.parse_args()
    import xarray as xr

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            rows.append((f"{n:,} samples, in process", measure(n, 0, Path(tmp) / f"q{n}.nc")))
        if args.cluster_size:
            n = args.cluster_size
            local = Path(tmp) / f"q{n}.nc"
            if not local.exists():
                measure(n, 0, local)
            cluster = measure(n, 2, Path(tmp) / f"cluster{n}.nc")
            same = xr.open_dataset(local).equals(xr.open_dataset(Path(tmp) / f"cluster{n}.nc"))
            rows.append((f"{n:,} samples, LocalCluster 2 workers (equal to in-process: {same})", cluster))
    print("| run (31 provinces x 3 scenarios) | seconds | peak RSS MiB (client process) | peak RSS MiB (largest worker) |")
    print("|---|---|---|---|")
    for name, r in rows:
        worker = f"{r['worker_peak_mib']:.0f}" if r["worker_peak_mib"] else "-"
        print(f"| {name} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | {worker} |")


if __name__ == "__main__":
    main()
