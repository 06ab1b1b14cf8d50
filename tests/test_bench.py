"""bench/run_all.py gathers issue 17's targets from the tables the benchmarks print."""

import importlib.util

from conftest import REPO

spec = importlib.util.spec_from_file_location("run_all", REPO / "bench" / "run_all.py")
run_all = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_all)

STOCK = """## Stock model benchmark

| series | mfa s | mfa, all read s | flodym s | floor s | flodym/mfa | mfa/floor | all read/floor | peak MiB mfa | all read | flodym | floor |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| 1 | 1.20 ms | 1.30 ms | 8.20 ms | 0.06 ms | 6.8x | 20.0x | 21.7x | 0.1 / 0.1 | 0.1 / 0.1 | 0.2 / 0.3 | 0.0 / 0.0 |
| 100,000 | 90.00 ms | 95.00 ms | 5.94 s | 66.00 ms | 66.0x | 1.4x | 1.4x | 229.0 / 250.0 | 240.0 / 260.0 | 5000.0 / 5500.0 | 100.0 / 120.0 |
"""

RUN = """| what | median s | CPU s | peak RSS MiB |
|---|---|---|---|
| `mfa run` (3 scenarios, import, outputs) | 2.50 | 2.40 | 300 |
| `mfa run --plots` | 5.00 | 4.90 | 350 |
| imports alone (`import mfa.cli`) | 1.50 | 1.40 | 200 |
| model.run only (in-process) | 0.040 | | |
| floor: 3,000 products of a 36 x 36 matrix and a vector | 0.0010 | | |
"""

UNCERTAINTY = """| run (31 provinces x 3 scenarios, to quantiles) | seconds | CPU seconds (all processes) | peak RSS MiB (client process) | peak RSS MiB (largest worker) |
|---|---|---|---|---|
| 1,000 samples, in process | 5.0 | 9 | 1200 | - |
| 10,000 samples, in process | 50.0 | 90 | 1400 | - |
| 1,000 samples, 2 `dask worker` processes (equal to in process: True) | 7.0 | 12 | 300 | 600 |
"""


def test_every_target_row_with_its_peer():
    targets = run_all.stock_targets(run_all.markdown_rows(STOCK)) + run_all.run_targets(run_all.markdown_rows(RUN)) \
        + run_all.uncertainty_targets(run_all.markdown_rows(UNCERTAINTY))
    by_name = {t.workload: t for t in targets}
    assert list(by_name) == [
        "stock engine, 1 series", "stock engine, 100,000 series", "`model.run` hainan-study",
        "`mfa run` (no report) wall, import included", "31 x 3 x 1,000 samples, in process",
        "31 x 3 x 10,000 samples, in process", "31 x 3 x 1,000 samples, 2-worker cluster",
    ]
    assert by_name["stock engine, 1 series"].met and "flodym 8.20 ms" in by_name["stock engine, 1 series"].peer
    assert by_name["stock engine, 100,000 series"].met
    assert by_name["`model.run` hainan-study"].met and "floor 1.00 ms" in by_name["`model.run` hainan-study"].peer
    assert by_name["`mfa run` (no report) wall, import included"].met is False  # 2.5 s > 2 s
    assert by_name["31 x 3 x 1,000 samples, 2-worker cluster"].met is False  # 7.0 s > 1.2 x 5.0 s
    table = run_all.summary(targets, (0.5, 0.7), 5)
    assert table.count("\n| ") == len(targets) and "MISSED" in table and "load average (1 min) 0.5" in table


def test_a_skipped_peer_is_not_a_verdict():
    quick = STOCK.replace("| 5.94 s |", "| skipped |")
    big = run_all.stock_targets(run_all.markdown_rows(quick))[1]
    assert big.met is None and "flodym not measured" in big.peer
