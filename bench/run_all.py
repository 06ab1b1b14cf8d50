"""Every benchmark of bench/, one after the other, their tables gathered in outputs/bench.md.

    pip install -e ".[bench]" && python bench/run_all.py [--quick]

``--quick`` skips flodym at 100,000 series, the 10,000-sample sweep and the cluster run.
Run it on an idle machine: the timings are wall-clock.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = {
        "Stock engine: mfa vs flodym vs the bare triangular solve": ["bench_stock.py", *(["--quick"] if args.quick else [])],
        "Default job, `mfa run`": ["bench_run.py"],
        "31 provinces: one vectorised run vs 31 runs": ["bench_provinces.py"],
        "Monte-Carlo sweep": ["bench_uncertainty.py", *(["--sizes", "1000", "--cluster-size", "0"] if args.quick else [])],
    }
    report = []
    for title, (script, *options) in runs.items():
        print(f"== {title}", flush=True)
        done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *options], cwd=ROOT, capture_output=True, text=True)
        print(done.stdout, flush=True)
        if done.returncode:
            sys.exit(f"{script} failed:\n{done.stderr[-3000:]}")
        report.append(f"## {title}\n\n`python bench/{script} {' '.join(options)}`\n\n{done.stdout.strip()}\n")
    out = ROOT / "outputs" / "bench.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(report), encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
