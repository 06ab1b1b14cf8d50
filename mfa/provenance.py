"""Where every value a run used came from, so that it travels with the results.

:func:`origin` names the file (or ``--set`` option) a setting came from; :func:`table`
gives one row per setting of the scenario files and per row of the input tables the
run read, with source and grade, for ``parameters.csv`` in the run folder (the report
reads that, never the source tree). Scenario files carry sources and grades in their
comments; :func:`yaml_settings` reads them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pandas as pd

from . import config

_GRADE = re.compile(r"(?:^|[\s(;,])([ABCD])(?=$|[\s,;:).])")
COLUMNS = ["kind", "file", "key", "value", "unit", "source", "source_year", "grade", "note"]


def relative(path: Path | str) -> str:
    """``path`` relative to the project root when it lies inside it."""
    try:
        return _relative(str(path), config.project_root())
    except config.InputError:
        return str(path)


@functools.lru_cache(maxsize=256)
def _relative(path: str, root: Path) -> str:
    # cached: every parameter of every scenario names its scenario file, and resolving
    # a path asks the file system once per part of it
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return path


def _get(model, parts: list[str]) -> list:
    """Values at a dotted path of a pydantic model; a dict of models (regions) fans out."""
    values = [model]
    for part in parts:
        nxt = []
        for v in values:
            if isinstance(v, dict):
                nxt += [getattr(x, part, None) for x in v.values()]
            else:
                nxt.append(getattr(v, part, None))
        values = [v for v in nxt if v is not None]
    return values


def origin(cfg: config.Scenario, setting: str) -> tuple[str, str]:
    """``(file, setting)``: the file or option a setting came from, and which of its
    alternatives (``|``-separated; the first that applies wins) it was. For a ``*_file``
    setting, the input file(s) it names; else the scenario layer or ``--set KEY`` that
    gave it its value (:func:`mfa.config.origin_of`), or ``default``."""
    for alternative in (a.strip() for a in setting.split("|") if a.strip()):
        parts = alternative.split(".")
        values = _get(cfg, parts)
        if not values:
            continue
        if parts[-1].endswith("file"):
            return ", ".join(dict.fromkeys(str(v) for v in values)), alternative
        if not cfg._layers:
            return "default", alternative
        where = config.origin_of(cfg._layers, tuple(parts))
        return (relative(where) if isinstance(where, Path) else str(where)), alternative
    return "", setting


def grade_of(comment: str) -> str:
    """The grade (A-D) a scenario-file comment gives: ``D`` for a calibrated value (as
    ``inputs/README.md`` says; a grade named beside it is that of the band it stays in),
    else the first grade letter standing alone; '' when there is none."""
    if "calibrated" in (comment or "").lower():
        return "D"
    match = _GRADE.search(comment or "")
    return match.group(1) if match else ""


def _split_comment(line: str) -> tuple[str, str]:
    quote = None
    for i, ch in enumerate(line):
        if ch in "\"'":
            quote = None if quote == ch else (quote or ch)
        elif ch == "#" and quote is None and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def yaml_settings(path: Path) -> tuple[list[str], list[dict]]:
    """The leading comment lines of a scenario file, and one row per setting:
    ``key`` (dotted path), ``value`` (as written), ``comment`` and ``grade`` (from the
    comment, else inherited from the enclosing setting's)."""
    header, rows, stack = [], [], []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if not rows and not stack:
                header.append(stripped.lstrip("#").strip())
            continue
        body, comment = _split_comment(raw)
        indent = len(body) - len(body.lstrip(" "))
        text = body.strip()
        if text.startswith("- "):
            if rows:
                rows[-1]["value"] = (rows[-1]["value"] + " " + text).strip()
                if comment:
                    rows[-1]["comment"] = (rows[-1]["comment"] + " " + comment).strip()
            continue
        key, sep, value = text.partition(":")
        if not sep:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent_grade = next((g for _, _, g in reversed(stack) if g), "")
        dotted = ".".join([k for _, k, _ in stack] + [key.strip().strip("'\"")])
        own = grade_of(comment)
        grade = own or parent_grade
        if value.strip():
            rows.append({"key": dotted, "value": value.strip(), "comment": comment, "grade": grade, "inherited": not own and bool(grade)})
        else:
            stack.append((indent, key.strip().strip("'\""), grade))
            if comment:
                rows.append({"key": dotted, "value": "", "comment": comment, "grade": grade, "inherited": not own and bool(grade)})
    return header, rows


def scenario_files(scenarios: dict[str, config.Scenario]) -> list[Path]:
    """Every scenario file read, base layers first, once each."""
    return list(dict.fromkeys(Path(p) for cfg in scenarios.values() for p in cfg._files))


def input_files(scenarios: dict[str, config.Scenario]) -> list[str]:
    """Every input file the scenarios read (the ``*_file`` settings), once each."""
    files: dict[str, None] = {}

    def walk(model):
        for name, value in model:
            if name.endswith("file") and isinstance(value, str):
                files[value] = None
            elif isinstance(value, config.BaseModel):
                walk(value)
            elif isinstance(value, dict):
                for item in value.values():
                    if isinstance(item, config.BaseModel):
                        walk(item)

    for cfg in scenarios.values():
        walk(cfg)
    return list(files)


def table(scenarios: dict[str, config.Scenario]) -> pd.DataFrame:
    """One row per scenario-file setting (kind ``setting``: the comment as note, its
    grade), per ``--set`` override (kind ``override``), and per row of every input
    table read (kind ``input``: value, unit, source, source year, grade, note)."""
    from .inputs import META_COLUMNS

    rows = []
    for path in scenario_files(scenarios):
        for r in yaml_settings(path)[1]:
            rows.append({"kind": "setting", "file": relative(path), "key": r["key"], "value": r["value"],
                         "grade": r["grade"], "note": r["comment"]})
    overrides = {label: data for cfg in scenarios.values() for label, data in cfg._layers if isinstance(label, str)}
    for label, data in overrides.items():
        while isinstance(data, dict) and len(data) == 1:  # down to the value the option set
            data = next(iter(data.values()))
        rows.append({"kind": "override", "file": "--set", "key": label.removeprefix("--set "), "value": str(data), "note": "command-line override"})
    for name in input_files(scenarios):
        frame = pd.read_csv(config.resolve(name), dtype=str, keep_default_na=False)
        keys = [c for c in frame.columns if c not in META_COLUMNS]
        if not set(META_COLUMNS) <= set(frame.columns):
            continue  # a reference table (codes, names, points), not values
        for r in frame.to_dict("records"):  # not iterrows, which builds a Series per row
            rows.append({"kind": "input", "file": name, "key": "; ".join(f"{k}={r[k]}" for k in keys),
                         **{c: r[c] for c in META_COLUMNS}})
    return pd.DataFrame(rows, columns=COLUMNS).fillna("")
