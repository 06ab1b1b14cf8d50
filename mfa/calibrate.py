"""``mfa calibrate``: fit the parameters a case declares (``calibration:`` in its scenario
files) inside their bands to its targets, each scenario on its own.

The residuals are the rows of ``calibration.csv`` (:func:`mfa.calibration.table`, the
same comparison every run reports) that the case names as targets: the study's figures
of the scenario and the official NEV stock. The fit is scipy's bounded least squares
(trust region reflective) on the relative differences, from the case's own values,
deterministic. The fitted values go into an overlay, ``calibrated.yaml`` beside the
case's files, layered after the scenario files (:func:`mfa.config.calibrated`), each with
its band, the targets and the date; the fit report lists every target and parameter.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from . import calibration, config, model
from .errors import InputError
from .io import atomic_path

log = logging.getLogger(__name__)

MAX_EVALUATIONS = 60
"""Model runs per scenario at most (the fit stops earlier when it converges)."""


@dataclass
class Fit:
    scenario: str
    parameters: pd.DataFrame
    """parameter, value, low, high, at_bound, source"""
    targets: pd.DataFrame
    """the calibration.csv rows fitted, with the fitted model values"""
    evaluations: int


def _targets(cal: pd.DataFrame, scenario: str, targets: list[str]) -> pd.DataFrame:
    figure_is_stock = cal["figure"] == "nev_stock"
    wanted = (("study" in targets) & ~figure_is_stock) | (("official_stock" in targets) & figure_is_stock)
    return cal[wanted & cal["scenario"].isin([scenario, "all"])]


def fit_scenario(case: str, scenario: str, on_evaluation=None) -> Fit:
    """Fit one scenario's declared parameters; nothing is written."""
    data, files = config.scenario_data(case, [scenario], use_calibrated=False)[scenario]
    cfg = config.validate(data, files)
    if cfg.calibration is None or not cfg.calibration.parameters:
        raise InputError(config.case_dir(case) / "base.yaml", "calibration.parameters", "settings to fit, each with a band (low, high, source)")
    names = list(cfg.calibration.parameters)
    bands = [cfg.calibration.parameters[n] for n in names]
    start = []
    for name, band in zip(names, bands):
        value = config.setting_at(data, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InputError(config.case_dir(case) / "base.yaml", f"calibration.parameters.{name}", "a setting with one number (a year of a path as PATH.YEAR)")
        start.append(float(np.clip(value, band.low, band.high)))
    low, high = np.array([b.low for b in bands]), np.array([b.high for b in bands])
    calls = {"n": 0}

    def table(x):
        overrides = [f"{n}={float(v)!r}" for n, v in zip(names, x)]
        scenarios = config.load_scenarios(case, [scenario], overrides, use_calibrated=False)
        results, params = model.run(scenarios)
        first = scenarios[scenario]
        cal = calibration.table(results, params, first.study.file, first.years.report_start, first.study.region, first.study.end)
        calls["n"] += 1
        if on_evaluation:
            on_evaluation()
        return _targets(cal, scenario, cfg.calibration.targets)

    first_table = table(np.array(start))
    if first_table.empty:
        raise InputError(config.case_dir(case) / "base.yaml", "calibration.targets", f"targets the case has ({', '.join(cfg.calibration.targets)} give no rows for scenario {scenario!r})")

    def residuals(x):
        return table(x)["difference_pct"].to_numpy(dtype=float) / 100

    result = least_squares(residuals, np.array(start), bounds=(low, high), diff_step=1e-3, x_scale="jac", max_nfev=MAX_EVALUATIONS)
    fitted = table(result.x)
    span = high - low
    parameters = pd.DataFrame({
        "scenario": scenario, "parameter": names, "value": result.x, "start": start, "low": low, "high": high,
        "at_bound": (result.x - low < 1e-6 * span) | (high - result.x < 1e-6 * span), "source": [b.source for b in bands],
    })
    return Fit(scenario, parameters, fitted.assign(scenario_fitted=scenario), calls["n"])


def write_overlay(case: str, fits: list[Fit]) -> Path:
    """``calibrated.yaml`` in the case folder: each scenario's fitted values, each with its
    band, source and targets in a comment, and the date. Values are rounded to 6
    significant digits so that two fits give identical files."""
    folder = config.case_dir(case)
    tree: dict = {}
    for fit in fits:
        for _, row in fit.parameters.iterrows():
            node = tree.setdefault(fit.scenario, {})
            parts = [int(p) if p.isdigit() else p for p in row["parameter"].split(".")]
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            flag = ", at a bound" if row["at_bound"] else ""
            comment = f"calibrated, D: band [{row.low:g}, {row.high:g}] ({row.source}){flag}; fitted to {len(fit.targets)} rows of calibration.csv"
            node[parts[-1]] = (float(f"{row.value:.6g}"), comment)
    lines = [f"# Written by mfa calibrate on {datetime.date.today().isoformat()}: values fitted to calibration.csv's",
             "# rows (the study's figures and/or the official NEV stock), each within its band.",
             "# Layered after the scenario files; delete this file to run the case's own values."]

    def emit(node: dict, depth: int) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                lines.append(f"{'  ' * depth}{key}:")
                emit(value, depth + 1)
            else:
                lines.append(f"{'  ' * depth}{key}: {value[0]!r}  # {value[1]}")

    emit(tree, 0)
    path = folder / config.CALIBRATED
    with atomic_path(path) as tmp:  # a fit cut short never leaves half an overlay
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def report(fits: list[Fit]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every target (model, reference, % difference) and every parameter of every fit."""
    targets = pd.concat([f.targets for f in fits], ignore_index=True)
    parameters = pd.concat([f.parameters for f in fits], ignore_index=True)
    return targets, parameters
