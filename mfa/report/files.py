"""The "files of this run" table: every file of the run folder, with what it holds."""

from __future__ import annotations

from pathlib import Path

from .cells import cell, table
from .i18n import name, t


def run_files(out_dir: Path) -> list[str]:
    """Every file of the run folder (sub-folders too), relative, plus ``report.html``
    (about to be written); temporary files of an atomic write are not the run's."""
    found = {p.relative_to(out_dir).as_posix() for p in Path(out_dir).rglob("*") if p.is_file() and not p.name.startswith(".")}
    found.add("report.html")
    top = sorted(f for f in found if "/" not in f)
    return top + sorted(f for f in found if "/" in f)


def files_table(out_dir: Path) -> dict:
    """One row per file: its name and what it holds (the catalogue's ``file.<name>``)."""
    rows = []
    for file in run_files(out_dir):
        what = name("file", file)
        if what == file:  # a file the catalogue does not describe
            what = t("files.png") if file.endswith(".png") else ""
        rows.append([cell(file, "key"), cell(what)])
    return table([t("header.file"), t("header.what")], rows)
