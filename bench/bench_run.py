"""Wall time of the default job, ``mfa run`` (3 scenarios, 2015-2050), import included.

Runs the command in fresh processes (median of N after one warm-up) and reports peak
memory; the model part alone is timed in-process too.

    python bench/bench_run.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_command(args: list[str], repeat: int) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MiB) of ``args`` in fresh processes."""
    times, peaks = [], []
    for i in range(repeat + 1):
        with tempfile.TemporaryDirectory() as out:
            cmd = ["/usr/bin/time", "-f", "%M", *args, "--out", out]
            start = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(done.stderr)
        if i:  # the first run warms the file cache
            times.append(elapsed)
            peaks.append(int(done.stderr.strip().splitlines()[-1]) / 1024)
    return statistics.median(times), max(peaks)


def time_model(repeat: int) -> float:
    sys.path.insert(0, str(ROOT))
    from mfa import config, model

    samples = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        model.run(config.load_scenarios("hainan-study"))
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    wall, peak = time_command([sys.executable, "-m", "mfa.cli", "run"], args.repeat)
    model_only = time_model(args.repeat)
    print("| what | median s | peak RSS MiB |")
    print("|---|---|---|")
    print(f"| `mfa run` (3 scenarios, import, outputs, plots) | {wall:.2f} | {peak:.0f} |")
    print(f"| model.run only (in-process) | {model_only:.2f} | |")


if __name__ == "__main__":
    main()
