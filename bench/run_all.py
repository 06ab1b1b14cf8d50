"""Every benchmark of bench/, one after the other, their tables gathered in outputs/bench.md,
closed by one table of issue 17's targets, each row with its peer or floor from the same run.

    pip install -e ".[bench]" && python bench/run_all.py [--quick] [--sweep-repeat N]

``--quick`` skips flodym at 100,000 series, the 10,000-sample sweep and the cluster run,
and times once instead of five times; ``--sweep-repeat`` sets the runs of each
Monte-Carlo row alone (5 runs of the 10,000-sample sweep take most of an hour). Run it on an idle machine: the timings are wall-clock.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 5
"""Timed runs per figure (the tables show medians)."""


def markdown_rows(text: str) -> list[dict[str, str]]:
    """Every row of every markdown table in ``text``, as {header: cell}."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(set(c) <= set(":-") for c in cells):
            rows.append(dict(zip(header, cells)))
    return rows


def seconds(cell: str) -> float | None:
    """A time cell (``1.23``, ``1.23 s``, ``0.45 ms``) in seconds; None for ``skipped``."""
    match = re.match(r"([\d.,]+)\s*(ms|s)?$", cell.strip())
    if not match:
        return None
    value = float(match.group(1).replace(",", ""))
    return value / 1000 if match.group(2) == "ms" else value


def row(rows: list[dict[str, str]], column: str, starts: str) -> dict[str, str] | None:
    """The first row whose ``column`` starts with ``starts``."""
    return next((r for r in rows if r.get(column, "").startswith(starts)), None)


class Target(NamedTuple):
    """One row of the summary: what mfa took, its peer or floor, the target and whether it is met."""

    workload: str
    mfa: str
    peer: str
    target: str
    met: bool | None


def fmt(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value * 1e3:.2f} ms" if value < 1 else f"{value:.2f} s"


def stock_targets(rows: list[dict[str, str]]) -> list[Target]:
    out = []
    one = row(rows, "series", "1")
    if one:
        mfa, flodym, floor = (seconds(one[k]) for k in ("mfa s", "flodym s", "floor s"))
        ok = flodym is not None and flodym / mfa >= 5
        out.append(Target("stock engine, 1 series", fmt(mfa), f"flodym {fmt(flodym)}; floor {fmt(floor)}", ">= 5x faster than flodym", ok if flodym else None))
    big = row(rows, "series", "100,000")
    if big:
        mfa, flodym, floor = (seconds(big[k]) for k in ("mfa s", "flodym s", "floor s"))
        peak = float(big["peak MiB mfa"].split("/")[0])
        ok = mfa <= 1.5 * floor and peak < 300 and (flodym is None or flodym / mfa >= 40)
        out.append(Target("stock engine, 100,000 series", f"{fmt(mfa)}, {peak:.0f} MiB", f"flodym {fmt(flodym)}; floor {fmt(floor)}",
                          "<= 1.5x floor, >= 40x flodym, < 300 MiB", ok if flodym else None))
    return out


def run_targets(rows: list[dict[str, str]]) -> list[Target]:
    model = row(rows, "what", "model.run")
    floor = row(rows, "what", "floor: 3")
    libraries = row(rows, "what", "floor: the libraries")
    wall = row(rows, "what", "`mfa run` (")
    imports = row(rows, "what", "imports alone")
    plots = row(rows, "what", "`mfa run --plots`")
    out = []
    if model and floor:
        t = float(model["median s"])
        out.append(Target("`model.run` hainan-study", fmt(t), f"floor {fmt(float(floor['median s']))} ({floor['what'].removeprefix('floor: ')})", "<= 50 ms", t <= 0.05))
    if wall and imports:
        t = float(wall["median s"])
        peer = f"imports alone {fmt(float(imports['median s']))}" + (f"; with --plots {fmt(float(plots['median s']))}" if plots else "")
        peer += f"; floor, the libraries' imports alone {fmt(float(libraries['median s']))}" if libraries else ""
        out.append(Target("`mfa run` (no report) wall, import included", f"{fmt(t)} (CPU {fmt(float(wall['CPU s']))})", peer, "<= 2 s", t <= 2))
    return out


def uncertainty_targets(rows: list[dict[str, str]]) -> list[Target]:
    name = "run (31 provinces x 3 scenarios, to quantiles)"
    out = []
    local = row(rows, name, "1,000 samples, in process")
    if local:
        t, peak = float(local["seconds"]), float(local["peak RSS MiB (client process)"])
        out.append(Target("31 x 3 x 1,000 samples, in process", f"{fmt(t)}, {peak:.0f} MiB", "", "<= 6 s, <= 1.5 GiB", t <= 6 and peak <= 1536))
    big = row(rows, name, "10,000 samples, in process")
    if big:
        t = float(big["seconds"])
        peer = f"1,000 samples {fmt(float(local['seconds']))} (a tenth of the work)" if local else ""
        out.append(Target("31 x 3 x 10,000 samples, in process", fmt(t), peer, "<= 60 s", t <= 60))
    cluster = row(rows, name, "1,000 samples, 2 `dask worker`")
    if cluster and local:
        t, alone = float(cluster["seconds"]), float(local["seconds"])
        same = "equal to in process: True" in cluster[name]
        out.append(Target("31 x 3 x 1,000 samples, 2-worker cluster", f"{fmt(t)} ({t / alone:.2f}x in process)", f"in process {fmt(alone)}",
                          "equal results, <= 1.2x in process", same and t <= 1.2 * alone))
    return out


def summary(targets: list[Target], load: tuple[float, float], repeat: int, sweep_repeat: int | None = None) -> str:
    lines = ["| workload | mfa | peer / floor (same run) | target | met |", "|---|---|---|---|---|"]
    for t in targets:
        lines.append(f"| {t.workload} | {t.mfa} | {t.peer or '-'} | {t.target} | {'n/a' if t.met is None else 'yes' if t.met else 'MISSED'} |")
    sweeps = "" if sweep_repeat in (None, repeat) else f" ({sweep_repeat} of each Monte-Carlo row)"
    lines.append(f"\nmedian of {repeat} timed runs each{sweeps}; {os.cpu_count()} cores; load average (1 min) {load[0]:.1f} at the start, {load[1]:.1f} at the end.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sweep-repeat", type=int, help="runs of each Monte-Carlo row (default: as the rest); a 10,000-sample sweep takes minutes")
    args = parser.parse_args()
    repeat = 1 if args.quick else REPEAT
    sweep_repeat = args.sweep_repeat or repeat
    runs: dict[str, tuple[list[str], Callable[[list[dict[str, str]]], list[Target]]]] = {
        "Stock engine: mfa vs flodym vs the bare triangular solve": (
            ["bench_stock.py", "--repeats", str(repeat), *(["--quick"] if args.quick else [])], stock_targets),
        "Default job, `mfa run`": (["bench_run.py", "--repeat", str(repeat)], run_targets),
        "31 provinces: one vectorised run vs 31 runs": (["bench_provinces.py", "--repeat", str(max(repeat, 3))], lambda rows: []),
        "Monte-Carlo sweep": (["bench_uncertainty.py", "--repeat", str(sweep_repeat), *(["--sizes", "1000", "--cluster-size", "0"] if args.quick else [])],
                              uncertainty_targets),
    }
    start_load = os.getloadavg()[0]
    report, targets = [], []
    for title, ((script, *options), gather) in runs.items():
        print(f"== {title}", flush=True)
        done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *options], cwd=ROOT, capture_output=True, text=True)
        print(done.stdout, flush=True)
        if done.returncode:
            sys.exit(f"{script} failed:\n{done.stderr[-3000:]}")
        report.append(f"## {title}\n\n`python bench/{script} {' '.join(options)}`\n\n{done.stdout.strip()}\n")
        targets += gather(markdown_rows(done.stdout))
    table = summary(targets, (start_load, os.getloadavg()[0]), repeat, sweep_repeat)
    print(f"== Issue 17's targets\n\n{table}")
    report.append(f"## Issue 17's targets\n\n{table}\n")
    out = ROOT / "outputs" / "bench.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(report), encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
