"""The page's CSS and JavaScript: package data files of ``mfa/report/static/``, inlined
into the page (it must open offline, from a mail attachment or a USB stick)."""

from __future__ import annotations

import functools
from importlib import resources

from markupsafe import Markup


def _text(name: str) -> str:
    return resources.files("mfa.report").joinpath("static", name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def static() -> dict[str, Markup]:
    """``css``, ``error_trap``, ``loader`` (our own files, safe as they are) and
    ``plotly``: the script element(s) that define ``Plotly``."""
    import plotly.offline

    return {"css": Markup(_text("report.css")), "error_trap": Markup(_text("error_trap.js")), "loader": Markup(_text("loader.js")),
            "plotly": Markup("<script>") + Markup(plotly.offline.get_plotlyjs()) + Markup("</script>")}
