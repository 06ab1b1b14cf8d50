"""``results.xlsx``: the tables of a run folder a planner uses, as one Excel workbook.

Planners exchange numbers in Excel, so every run folder gets a workbook beside its CSVs:
an *About* sheet, then summary, calibration, feedstock, secondary supply and its
milestones, and the assumptions with their sources and grades (a table with no rows, e.g.
the calibration of a case without official figures, is listed there instead of being an
empty sheet). The workbook is built
from the CSVs already written into the folder (not from the results in memory), so its
numbers are the CSVs' numbers to the last digit, and ``mfa report`` can refresh it from
the folder alone once it has written the feedstock tables. A table whose CSV is not
there (the feedstock tables before ``mfa report``) is listed on the About sheet as not
written.

Sheet and column names come from a message catalogue per language
(``locale/<lang>.yaml``); values (scenario names, codes, units) stay as in the CSVs, so
that a planner can match them with the CSVs and the command line. Each sheet has its
header row frozen, an autofilter, column widths that fit, and number formats by column
(years and codes without separators, shares as %, amounts with thousands separators).
Units go into the header (``recovered [t/yr]``) where a column has one unit; tables
whose rows differ in unit (summary, calibration, assumptions) keep a unit column.

openpyxl writes it (a dependency already, pandas' Excel engine): it sets frozen panes,
autofilters and number formats, which ``DataFrame.to_excel`` does not.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from ..errors import InputError
from . import atomic_path

log = logging.getLogger(__name__)

LOCALE = Path(__file__).with_name("locale")
LANGUAGES = ("en", "zh")
FILE = "results.xlsx"

MAX_ROWS = 1_048_576
"""Excel's row limit (header included)."""
WIDTH = (8, 60)
"""Narrowest and widest column, in Excel's character units."""
_PCT = "0.0%"
_INTEGER = "0"
_YEAR_LIKE = {"year", "year_from", "year_to", "source_year", "region"}
"""Columns of years and codes: written without thousands separators."""


@functools.cache
def catalogue(lang: str) -> dict:
    """The sheet and column names of ``lang`` (``locale/<lang>.yaml``)."""
    if lang not in LANGUAGES:
        raise InputError(None, "--lang", f"one of {', '.join(LANGUAGES)}, got {lang!r}")
    return yaml.safe_load((LOCALE / f"{lang}.yaml").read_text(encoding="utf-8"))


def readable_unit(text: str) -> str:
    """A UDUNITS string of the CSVs as a planner writes it: ``t yr-1`` -> ``t/yr``,
    ``kW h yr-1`` -> ``kWh/yr``; anything else unchanged."""
    tokens = str(text).replace("kW h", "kWh").split()
    above, below = [], []
    for token in tokens:
        match = re.fullmatch(r"([A-Za-z]+)(-?\d+)?", token)
        if not match:
            return str(text)
        power = int(match.group(2) or 1)
        (below if power < 0 else above).append(match.group(1) + (f"^{abs(power)}" if abs(power) != 1 else ""))
    return ("·".join(above) or "1") + "".join(f"/{b}" for b in below)


def header(column: str, lang: str, unit: str | None = None, verbatim: bool = False) -> str:
    """The name of ``column`` in ``lang``, with ``[unit]`` if given. Columns named by years
    (``cumulative_2023_2050``, ``value_2030``, ``share_2030``, ``first_year_20pct``) use
    the catalogue's patterns; a column the catalogue lacks keeps its CSV name, silently
    when ``verbatim`` (a name from the data, such as an element symbol), else with a
    warning (a table gained a column the catalogue should name)."""
    cat = catalogue(lang)
    name = cat["columns"].get(column) or cat["quantities"].get(column)
    if name is None:
        for pattern, key in ((r"cumulative_(?P<start>\d{4})_(?P<end>\d{4})", "cumulative_range"), (r"value_(?P<year>\d{4})", "value_year"),
                             (r"share_(?P<year>\d{4})", "share_year"), (r"first_year_(?P<pct>\d+)pct", "first_year_pct")):
            if match := re.fullmatch(pattern, column):
                name = cat["patterns"][key].format(**match.groupdict())
                break
    if name is None:
        if not verbatim:
            log.warning("%s: no %s name for column %r, written as it is", FILE, lang, column)
        name = column
    return f"{name} [{unit}]" if unit else name


@dataclass
class Table:
    """One sheet: its catalogue key, the rows, and per column a unit for the header and a
    number format (found from the values when not given)."""

    key: str
    frame: pd.DataFrame
    units: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    verbatim: set[str] = field(default_factory=set)
    """Columns named by the data (element symbols), kept as they are in every language."""


def _readable(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``frame`` with the units in ``columns`` (one per row) as :func:`readable_unit` writes them."""
    return frame.assign(**{c: frame[c].map(lambda u: readable_unit(u) if isinstance(u, str) else u) for c in columns})


def _with_units(frame: pd.DataFrame, columns: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, str]]:
    """``frame`` without its ``unit`` column when that holds one unit, which then goes
    into the headers of ``columns``; otherwise the units stay per row."""
    units = frame["unit"].dropna().unique()
    if len(units) != 1:
        return _readable(frame, "unit"), {}
    return frame.drop(columns="unit"), {c: readable_unit(units[0]) for c in columns}


def _summary(frame: pd.DataFrame) -> Table:
    """Units per row: the variables differ in unit."""
    return Table("summary", _readable(frame, "unit", "cumulative_unit"))


def _calibration(frame: pd.DataFrame) -> Table:
    """Units per row (tonnes, vehicles, t/yr); the difference in %."""
    return Table("calibration", _readable(frame, "unit"), formats={"difference_pct": "0.0"})


def _feedstock(frame: pd.DataFrame) -> Table:
    """The rows of all chemistries, one column per quantity (with its unit): a table a
    planner can filter, at about a tenth of feedstock.csv's rows."""
    rows = frame[frame["chemistry"].astype(str) == "all"]
    keys = [c for c in ("scenario", "region", "name_en", "name_zh", "year", "direction", "stream") if c in rows.columns]
    order = list(dict.fromkeys(rows["quantity"]))
    wide = rows.pivot_table(index=keys, columns="quantity", values="value", aggfunc="first", sort=False).reindex(columns=order).reset_index()
    wide.columns.name = None
    units = rows.groupby("quantity", sort=False)["unit"].first().map(readable_unit).to_dict()
    return Table("feedstock", wide, units=units, verbatim={q for q in order if q not in catalogue("en")["quantities"]})


def _secondary_supply(frame: pd.DataFrame) -> Table:
    frame, units = _with_units(frame, ("recovered", "demand"))
    return Table("secondary_supply", frame, units={**units, "share": "%"}, formats={"share": _PCT})


def _supply_targets(frame: pd.DataFrame) -> Table:
    shares = [c for c in frame.columns if c.startswith("share_")]
    years = [c for c in frame.columns if c.startswith("first_year_")]
    return Table("secondary_supply_targets", frame, units=dict.fromkeys(shares, "%"), formats={**dict.fromkeys(shares, _PCT), **dict.fromkeys(years, _INTEGER)})


def _assumptions(frame: pd.DataFrame) -> Table:
    return Table("assumptions", frame)


SHEETS: dict[str, tuple[str, Callable[[pd.DataFrame], Table]]] = {
    "summary": ("summary.csv", _summary),
    "calibration": ("calibration.csv", _calibration),
    "feedstock": ("feedstock.csv", _feedstock),
    "secondary_supply": ("secondary_supply.csv", _secondary_supply),
    "secondary_supply_targets": ("secondary_supply_targets.csv", _supply_targets),
    "assumptions": ("parameters.csv", _assumptions),
}
"""Sheet key: the CSV of the run folder it shows, and how."""


def _read(path: Path) -> pd.DataFrame:
    """A CSV as the run wrote it: codes and names as text, numbers as numbers, empty cells empty."""
    return pd.read_csv(path, dtype={"region": str}, keep_default_na=False, na_values=[""])


def tables(run_dir: Path) -> dict[str, Table | None]:
    """Each sheet's table from the CSVs in ``run_dir`` (None where the CSV is missing)."""
    out = {}
    for key, (name, build) in SHEETS.items():
        path = Path(run_dir) / name
        out[key] = build(_read(path)) if path.exists() else None
        if out[key] is not None and len(out[key].frame) + 1 > MAX_ROWS:
            raise InputError(path, "rows", f"at most {MAX_ROWS - 1:,} rows for a sheet of {FILE}, got {len(out[key].frame):,}")
    return out


def _number_format(column: str, values: pd.Series) -> str | None:
    if column in _YEAR_LIKE:
        return _INTEGER
    numbers = pd.to_numeric(values, errors="coerce").dropna().abs()
    if numbers.empty:
        return None
    typical = numbers.median()
    return "#,##0" if typical >= 100 else "#,##0.00" if typical >= 1 else "0.0000"


def _text_width(text: str) -> int:
    """Display width: CJK characters take two columns (ASCII text, most cells, counted
    without looking at each character)."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value):
    """A cell value: numpy scalars as Python numbers, missing values as empty cells."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _write_sheet(ws, rows: list[list], headers: list[str], formats: list[str | None]) -> None:
    bold = Font(bold=True)
    ws.append(headers)
    for cell in ws[1]:
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        ws.append(row)
    for j, fmt in enumerate(formats, start=1):
        letter = get_column_letter(j)
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                if isinstance(cell.value, (int, float)):
                    cell.number_format = fmt
        sample = [headers[j - 1], *(str(r[j - 1]) for r in rows[:500] if r[j - 1] is not None)]
        ws.column_dimensions[letter].width = max(WIDTH[0], min(WIDTH[1], max(map(_text_width, sample)) + 2))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(rows) + 1}"


def _about(cat: dict, key: str, table: Table | None) -> str:
    """What the sheet ``key`` holds, or why it is not in the workbook."""
    if table is None:
        return cat["about"]["not_written"]
    if table.frame.empty:
        return cat["about"]["empty"].format(file=SHEETS[key][0])
    return cat["about"][key]


def write_workbook(run_dir: Path, lang: str = "en") -> Path:
    """``run_dir/results.xlsx`` from the CSVs of ``run_dir``, sheet and column names in
    ``lang``; written atomically. Returns its path."""
    cat = catalogue(lang)
    built = tables(run_dir)
    wb = Workbook()
    about = wb.active
    about.title = cat["sheets"]["about"]
    about_rows = [[cat["sheets"][key], SHEETS[key][0], _about(cat, key, table)] for key, table in built.items()]
    _write_sheet(about, about_rows, [header(c, lang) for c in ("sheet", "file", "content")], [None] * 3)
    about.column_dimensions["C"].width = 120
    for row in about.iter_rows(min_row=2, min_col=3, max_col=3):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    written = []
    for key, table in built.items():
        if table is None or table.frame.empty:
            continue
        frame = table.frame
        headers = [header(c, lang, table.units.get(c), c in table.verbatim) for c in frame.columns]
        formats = [table.formats.get(c, _number_format(c, frame[c])) for c in frame.columns]
        rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
        _write_sheet(wb.create_sheet(cat["sheets"][key]), rows, headers, formats)
        written.append(f"{key} {len(rows)} rows")
    path = Path(run_dir) / FILE
    with atomic_path(path) as tmp:
        wb.save(tmp)
    log.info("%s (%s): %s", path, lang, ", ".join(written))
    return path
