"""The page's building blocks as data for the templates: cells, tables, figures.

A *cell* is ``{"text", "cls", "attrs"}``; ``attrs`` are its ``data-*`` provenance (a
selection of ``results.nc``, see :mod:`mfa.report.data`, or a row of a CSV of the run
folder), which the template writes as HTML attributes and the tests recompute. A *table*
is ``{"headers", "rows", "cls"}``, a *figure* ``{"id", "height", "payload", "caption",
"png"}``. Escaping is the template's job (jinja2 autoescape): nothing here holds HTML.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import xarray as xr
from markupsafe import Markup

from . import data

PREVIEW_WIDTH = 1400
"""Widest embedded PNG, px: about the page's content width (1280 px) so the copy in the
page stays light; the full 150-dpi files are in ``plots/``."""


def fmt(value) -> str:
    """A number for reading: separators for large ones, about 3 significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    value = float(value)
    a = abs(value)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 100:
        return f"{value:.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def cell(text, cls: str | None = None, attrs: dict | None = None) -> dict:
    return {"text": "" if text is None else str(text), "cls": cls, "attrs": attrs or {}}


def selected(ds: xr.Dataset, sel: dict, cls: str = "num") -> dict:
    """A cell with the number ``sel`` points at, and its provenance."""
    value = data.evaluate(ds, sel)
    return cell(fmt(value), cls, data.data_attrs(sel, value))


def from_csv(value, source: str, row: int, column: str, cls: str = "num") -> dict:
    """A cell with a number of a CSV written to the run folder (``source``)."""
    attrs = {"data-source": source, "data-row": row, "data-column": column}
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return cell("–", cls, attrs)
    return cell(fmt(value), cls, {**attrs, "data-value": repr(float(value))})


def grade(grade: str, title: str = "", inherited: bool = False) -> dict:
    """A cell with a grade badge (empty when ``grade`` is)."""
    return {"grade": grade, "title": title, "inherited": inherited}


def table(headers: list[str], rows: list[list[dict]], cls: str = "data") -> dict:
    return {"headers": headers, "rows": rows, "cls": cls}


def preview_uri(path: Path) -> str:
    """A PNG as a data URI for the page: at most :data:`PREVIEW_WIDTH` wide, in 256
    colours (line charts lose nothing visible; the page gets about 4x lighter)."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.width > PREVIEW_WIDTH:
            image = image.resize((PREVIEW_WIDTH, round(image.height * PREVIEW_WIDTH / image.width)), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Figures:
    """Plotly figures of the page, each with its static PNG; numbered in page order."""

    def __init__(self):
        self.count = 0

    def block(self, fig, png: Path | None, caption: str = "", fig_id: str | None = None) -> dict:
        self.count += 1
        # "</" would end the script element that holds the JSON; "<\/" is the same JSON string
        payload = Markup(fig.to_json().replace("</", "<\\/"))
        static = None
        if png is not None and Path(png).exists():
            static = {"name": Path(png).name, "stem": Path(png).stem, "uri": preview_uri(png)}
        return {"id": fig_id or f"fig-{self.count}", "height": int(fig.layout.height or 450), "payload": payload,
                "caption": caption, "png": static}
