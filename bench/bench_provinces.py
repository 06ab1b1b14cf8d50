"""31 provinces in one vectorised run vs 31 separate single-province runs vs one Hainan run.

All three scenarios, 2015-2050; model.run only (inputs parsed once and cached, as in a
session), median of N after a warm-up.

    python bench/bench_provinces.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_run import median_call as median_time  # noqa: E402  (bench/ is the script's folder, on sys.path)

from mfa import config, model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    provinces = config.load_scenarios("china-provinces")
    codes = [int(c) for c in model.run(provinces)[0]["region"].values]
    single = {code: config.load_scenarios("china-provinces", overrides=[f"case.only_regions=[{code}]"]) for code in codes}
    hainan = config.load_scenarios("hainan-study")

    vectorised = median_time(lambda: model.run(provinces), args.repeat)
    looped = median_time(lambda: [model.run(s) for s in single.values()], max(1, args.repeat // 2))
    one = median_time(lambda: model.run(hainan), args.repeat)
    print("| run | median s | vs one Hainan run |")
    print("|---|---|---|")
    print(f"| Hainan study, 1 region | {one:.2f} | 1.00 |")
    print(f"| 31 provinces, one vectorised run | {vectorised:.2f} | {vectorised / one:.2f} |")
    print(f"| 31 provinces, 31 separate runs | {looped:.2f} | {looped / one:.2f} |")
    print(f"\nvectorised is {looped / vectorised:.1f}x faster than looping over provinces")


if __name__ == "__main__":
    main()
