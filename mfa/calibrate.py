"""``mfa calibrate``: fit the parameters a case declares (``calibration:`` in its scenario
files) inside their bands to its targets, each scenario with its own values.

The residuals are the rows of ``calibration.csv`` (:func:`mfa.calibration.table`, the
same comparison every run reports) that the case names as targets: the study's figures
of the scenario and the official NEV stock, as relative differences. The fit is scipy's
bounded least squares (trust region reflective) from the case's own values,
deterministic. Every candidate parameter set is a scenario of its own, so the model runs
many at once along its ``scenario`` dim: one run per residual vector, one run per
Jacobian (a forward difference for every declared parameter of every scenario). A
scenario's residuals depend on its own parameters only, so the Jacobian is block
diagonal and its blocks come out of the same run.

The fitted values go into an overlay, ``calibrated.yaml`` beside the case's files,
layered after the scenario files (:func:`mfa.config.calibrated`), each with its band,
source and targets; the fit report lists every target and parameter, the study's
internal ratios (:func:`mfa.calibration.study_ratios`) and, where the case holds fuel and
electricity use at one year, what that assumption does to every carbon row.
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

MAX_EVALUATIONS = 20
"""Residual evaluations at most (each one model run for every scenario together): the
residuals are relative differences from figures known to a few %, so a fit whose cost
still falls after 20 steps gains nothing a reader of calibration.csv would see."""

STEP = 1e-3
"""Forward-difference step, relative to the parameter's value (or to its band's width
for a value near zero)."""


@dataclass
class Declared:
    """One scenario's fitting problem: its merged settings and what it declares."""

    scenario: str
    data: dict
    """The scenario's merged settings (without any calibrated overlay)."""
    files: list[Path]
    names: list[str]
    """Dotted settings to fit."""
    bands: list[config.Band]
    start: np.ndarray
    """The case's own values: where the fit starts."""
    targets: list[str]
    """Rows of calibration.csv to fit (``study``, ``official_stock``)."""

    def scenario_at(self, x, overrides: dict | None = None) -> config.Scenario:
        """The scenario with the declared settings at ``x`` (and ``overrides``, setting ->
        value), validated."""
        data = self.data
        for name, value in [*zip(self.names, map(float, x)), *(overrides or {}).items()]:
            data = config.apply_override(data, name, config.setting_path(name), value)
        return config.validate(data, self.files)


@dataclass
class Fit:
    scenario: str
    parameters: pd.DataFrame
    """scenario, parameter, value, start, low, high, shared, at_bound, source"""
    targets: pd.DataFrame
    """the calibration.csv rows fitted, with the fitted model values"""


@dataclass
class Result:
    fits: list[Fit]
    runs: int
    """Model runs the fit took."""
    candidates: int
    """Parameter sets those runs evaluated (one scenario each)."""
    ratios: pd.DataFrame
    """The study's internal ratios, model (fitted) vs study (:func:`mfa.calibration.study_ratios`)."""
    assumptions: pd.DataFrame
    """Every carbon row with consumption held at one year (as fitted) and on its paths."""


def declared(case: str, scenario: str) -> Declared:
    """What ``scenario`` of ``case`` declares to fit, checked: every setting exists and has
    one number inside its band; an :class:`InputError` naming the file and field if not."""
    data, files = config.scenario_data(case, [scenario], use_calibrated=False)[scenario]
    cfg = config.load_scenarios(case, [scenario], use_calibrated=False)[scenario]
    if cfg.calibration is None or not cfg.calibration.parameters:
        raise cfg.error("calibration.parameters", "settings to fit, each with a band (low, high, source)")
    names = list(cfg.calibration.parameters)
    bands = [cfg.calibration.parameters[n] for n in names]
    start = []
    for name, band in zip(names, bands):
        field = f"calibration.parameters.{name}"
        value = config.setting_at(data, name)
        if value is config.MISSING:
            raise cfg.error(field, f"a setting of the case (as for --set); {name} is not one (misspelt, or a year the path does not have?)")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise cfg.error(field, f"a setting with one number (a year of a path as PATH.YEAR); {name} is {value!r}")
        if not band.low <= value <= band.high:  # named where the value is set: the band is the sourced one
            raise cfg.error(name, f"a value inside its band [{band.low:g}, {band.high:g}] ({field}), got {value:g}")
        start.append(float(value))
    return Declared(scenario, data, files, names, bands, np.array(start), list(cfg.calibration.targets))


def _targets(cal: pd.DataFrame, scenario: str, targets: list[str]) -> pd.DataFrame:
    figure_is_stock = cal["figure"] == calibration.STOCK
    wanted = (("study" in targets) & ~figure_is_stock) | (("official_stock" in targets) & figure_is_stock)
    return cal[wanted & cal["scenario"].isin([scenario, "all"])].reset_index(drop=True)


def run_tables(scenarios: list[tuple[str, config.Scenario]]) -> list[pd.DataFrame]:
    """calibration.csv of each (scenario name, scenario), all in one model run: each
    scenario runs under a name of its own (one name may come many times), and its table
    is made as a run of that scenario alone would make it."""
    named = {f"{name}~{i}": cfg for i, (name, cfg) in enumerate(scenarios)}
    results, params = model.run(named)
    tables = []
    # selecting from pint arrays with dask imported prints each whole array into an
    # AttributeError's message (see mfa.model.run): short print options keep that cheap
    with np.printoptions(threshold=8, edgeitems=1):
        for (name, cfg), key in zip(scenarios, named):
            one = {"scenario": [name]}
            res = results.sel(scenario=[key]).assign_coords(one)
            par = params.sel(scenario=[key]).assign_coords(one)
            tables.append(calibration.table(res, par, cfg.study.file, cfg.years.report_start, cfg.study.region, cfg.study.end))
    return tables


def _evaluate(problems: list[Declared], xs: list[np.ndarray]) -> list[pd.DataFrame]:
    """The target rows of each problem at its parameters ``xs``, in one model run."""
    tables = run_tables([(d.scenario, d.scenario_at(x)) for d, x in zip(problems, xs)])
    return [_targets(t, d.scenario, d.targets) for d, t in zip(problems, tables)]


def _steps(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Signed forward-difference steps: relative to the value, backwards at the upper bound."""
    size = STEP * np.where(x != 0, np.abs(x), high - low)
    return np.where(x + size > high, -size, size)


class _Broyden:
    """The Jacobian least_squares asks for: forward differences where the fit starts,
    then Broyden's rank-one update of each scenario's rows from each accepted step (the
    residuals there are known already). A model run of every column per iteration would
    cost as much as the rest of the fit many times over; the residuals are smooth and
    nearly linear in the parameters inside their bands, which is where Broyden's update
    does well. ``blocks``: each scenario's rows and the columns they depend on."""

    def __init__(self, residuals, differences, blocks: list[tuple[slice, np.ndarray]]):
        self.residuals, self.differences, self.blocks = residuals, differences, blocks
        self.matrix = self.x = self.f = None

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        f = self.residuals(x)
        if self.matrix is None:
            self.matrix = self.differences(x)
        else:
            for rows, cols in self.blocks:
                dx = x[cols] - self.x[cols]
                if dx @ dx > 0:
                    at = (np.arange(rows.start, rows.stop)[:, None], cols[None, :])
                    self.matrix[at] += np.outer(f[rows] - self.f[rows] - self.matrix[at] @ dx, dx) / (dx @ dx)
        self.x, self.f = x.copy(), f.copy()
        return self.matrix.copy()


def _layout(problems: list[Declared]) -> tuple[list[str], list[np.ndarray]]:
    """The fit's parameter vector: the shared settings first (one value for every
    scenario), then each scenario's own; and, per scenario, where its declared settings
    (in their order) sit in that vector. A shared setting must start from one value with
    one band in every scenario."""
    shared: dict[str, tuple[float, config.Band, Declared]] = {}
    for d in problems:
        for name, band, value in zip(d.names, d.bands, d.start):
            if band.shared:
                first = shared.setdefault(name, (value, band, d))
                if (first[0], first[1]) != (value, band):
                    raise d.scenario_at(d.start).error(f"calibration.parameters.{name}", f"one value and one band in every scenario, as it is shared (scenario {first[2].scenario!r} has {first[0]:g} in {first[1].low:g}-{first[1].high:g})")
    names = list(shared)
    where = []
    for d in problems:
        own = [n for n, b in zip(d.names, d.bands) if not b.shared]
        where.append(np.array([names.index(n) if n in shared else len(names) + own.index(n) for n in d.names]))
        names += [f"{d.scenario}:{n}" for n in own]
    return names, where


def fit(case: str, scenarios: list[str], on_run=None) -> Result:
    """Fit every scenario's declared parameters to its targets; nothing is written.
    ``on_run(n)`` is called after each model run with the parameter sets it evaluated."""
    problems = [declared(case, s) for s in scenarios]
    names, where = _layout(problems)
    x0, low, high = (np.zeros(len(names)) for _ in range(3))
    for d, at in zip(problems, where):
        x0[at], low[at], high[at] = d.start, [b.low for b in d.bands], [b.high for b in d.bands]
    counts = {"runs": 0, "candidates": 0}
    last: dict = {}

    def evaluate(problem_xs: list[tuple[Declared, np.ndarray]]) -> list[pd.DataFrame]:
        tables = _evaluate([d for d, _ in problem_xs], [x for _, x in problem_xs])
        counts["runs"] += 1
        counts["candidates"] += len(problem_xs)
        if on_run:
            on_run(len(problem_xs))
        return tables

    def tables_at(x) -> list[pd.DataFrame]:
        x = np.asarray(x, dtype=float)
        if x.tobytes() not in last:  # least_squares asks for the Jacobian where it last evaluated
            last.clear()
            last[x.tobytes()] = evaluate([(d, x[at]) for d, at in zip(problems, where)])
        return last[x.tobytes()]

    # least_squares moves a start on a bound just inside it (by 1e-10 relative); doing it
    # here first spares a model run at the moved start
    x0 = np.clip(x0, low + 1e-10 * np.maximum(1, np.abs(low)), high - 1e-10 * np.maximum(1, np.abs(high)))
    first = tables_at(x0)
    for d, table in zip(problems, first):
        if table.empty:
            raise d.scenario_at(d.start).error("calibration.targets", f"targets the case has ({', '.join(d.targets)} give no rows for scenario {d.scenario!r})")

    def residuals(x) -> np.ndarray:
        return np.concatenate([t["difference_pct"].to_numpy(dtype=float) / 100 for t in tables_at(x)])

    ends = np.cumsum([0] + [len(t) for t in first])
    blocks = [(slice(ends[i], ends[i + 1]), where[i]) for i in range(len(problems))]

    def differences(x) -> np.ndarray:
        """Forward differences of every scenario's residuals in the parameters it
        depends on, one model run for all columns (the other entries are zero)."""
        x = np.asarray(x, dtype=float)
        base = residuals(x)
        steps = _steps(x, low, high)
        candidates, cells = [], []
        for d, (rows, at) in zip(problems, blocks):
            for column in at:
                moved = x.copy()
                moved[column] += steps[column]
                candidates.append((d, moved[at]))
                cells.append((rows, column))
        jac = np.zeros((len(base), len(x)))
        for (rows, column), table in zip(cells, evaluate(candidates)):
            jac[rows, column] = (table["difference_pct"].to_numpy(dtype=float) / 100 - base[rows]) / steps[column]
        return jac

    solution = least_squares(residuals, x0, jac=_Broyden(residuals, differences, blocks), bounds=(low, high), x_scale="jac", max_nfev=MAX_EVALUATIONS)
    log.info("least squares: %s (%d evaluations, cost %.3g)", solution.message, solution.nfev, solution.cost)
    span = high - low
    at_bound = (solution.x - low < 1e-3 * span) | (high - solution.x < 1e-3 * span)  # the fit stays strictly inside
    fits = []
    for d, at, table in zip(problems, where, tables_at(solution.x)):
        parameters = pd.DataFrame({
            "scenario": d.scenario, "parameter": d.names, "value": solution.x[at], "start": d.start, "low": low[at], "high": high[at],
            "shared": [b.shared for b in d.bands], "at_bound": at_bound[at], "source": [b.source for b in d.bands],
        })
        fits.append(Fit(d.scenario, parameters, table.assign(scenario_fitted=d.scenario)))
    ratios, assumptions = _beside_the_fit(problems, [solution.x[at] for at in where])
    counts["runs"] += 1
    return Result(fits, counts["runs"], counts["candidates"], ratios, assumptions)


def _beside_the_fit(problems: list[Declared], xs: list[np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's internal ratios at the fitted values; and, for every scenario that holds
    fuel and electricity use at one year, its carbon rows again with consumption on its
    paths, and by how much holding it moves each row. One model run."""
    fitted = {d.scenario: d.scenario_at(x) for d, x in zip(problems, xs)}
    frozen = [d.scenario for d in problems if fitted[d.scenario].carbon.consumption_year is not None]
    on_paths = [(d.scenario, d.scenario_at(x, {"carbon.consumption_year": None})) for d, x in zip(problems, xs) if d.scenario in frozen]
    tables = run_tables([*fitted.items(), *on_paths])
    held, paths = dict(zip(fitted, tables)), dict(zip(frozen, tables[len(fitted):]))
    effects = [_freeze_effect(held[name], paths[name], fitted[name].carbon.consumption_year) for name in frozen]
    ratios = calibration.study_ratios(pd.concat(list(held.values()), ignore_index=True))
    return ratios, (pd.concat(effects, ignore_index=True) if effects else pd.DataFrame())


def _freeze_effect(held: pd.DataFrame, paths: pd.DataFrame, year: int) -> pd.DataFrame:
    """The carbon rows of ``held`` (consumption held at ``year``) beside those of
    ``paths`` (consumption on its paths): the model on paths, its % difference from the
    study, and the effect of holding (held / on paths - 1, %)."""
    held, paths = (t[t["figure"] == calibration.CARBON].reset_index(drop=True) for t in (held, paths))
    return held.assign(consumption_held_at=year, model_on_paths=paths["model"], difference_on_paths_pct=paths["difference_pct"],
                       effect_of_holding_pct=100 * (held["model"] / paths["model"] - 1))


def write_overlay(case: str, fits: list[Fit]) -> Path:
    """``calibrated.yaml`` in the case folder: each scenario's fitted values, each with its
    band, source and targets in a comment. Values are rounded to 6 significant digits so
    that two fits give identical values; the file is rewritten only when a value or
    comment changed, so its date is the day these values were first fitted and a fit run
    again gives the same bytes."""
    folder = config.case_dir(case)
    tree: dict = {}
    for fit in fits:
        for _, row in fit.parameters.iterrows():
            node = tree.setdefault(fit.scenario, {})
            parts = config.setting_path(row["parameter"])
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            flag = (", one value for every scenario" if row["shared"] else "") + (", at a bound" if row["at_bound"] else "")
            comment = (f"calibrated, D: band [{row.low:g}, {row.high:g}] ({row.source}){flag}; fitted to {len(fit.targets)} rows of calibration.csv "
                       f"({', '.join(dict.fromkeys(fit.targets['figure']))})")
            node[parts[-1]] = (float(f"{row.value:.6g}"), comment)
    body: list[str] = []

    def emit(node: dict, depth: int) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                body.append(f"{'  ' * depth}{key}:")
                emit(value, depth + 1)
            else:
                body.append(f"{'  ' * depth}{key}: {value[0]!r}  # {value[1]}")

    emit(tree, 0)
    path = folder / config.CALIBRATED
    if path.exists() and path.read_text(encoding="utf-8").splitlines()[3:] == body:
        return path
    header = [f"# Written by mfa calibrate on {datetime.date.today().isoformat()}: values fitted to calibration.csv's",
              "# rows (the study's figures and/or the official NEV stock), each within its band.",
              "# Layered after the scenario files; delete this file to run the case's own values."]
    with atomic_path(path) as tmp:  # a fit cut short never leaves half an overlay
        tmp.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    return path


def report(result: Result) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every target (model, reference, % difference) and every parameter of every fit."""
    targets = pd.concat([f.targets for f in result.fits], ignore_index=True)
    parameters = pd.concat([f.parameters for f in result.fits], ignore_index=True)
    return targets, parameters
