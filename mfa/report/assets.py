"""The page's CSS and JavaScript: package data files of ``mfa/report/static/``, inlined
into the page (it must open offline, from a mail attachment or a USB stick).

plotly.js is the partial bundle ``static/plotly-mfa.min.js`` (the trace types the
report draws; ``tools/plotly-bundle/`` builds it), gzipped and base64-encoded into the
page: ``static/loader.js`` unpacks it with the browser's ``DecompressionStream`` and then
draws the figures. That keeps the page near 2 MB instead of 6-7 MB with the full bundle.
"""

from __future__ import annotations

import base64
import functools
import gzip
import logging
import re
from importlib import resources

from markupsafe import Markup

log = logging.getLogger(__name__)

BUNDLE = "plotly-mfa.min.js"
BUNDLE_VERSION = re.compile(r"plotly\.js v(\d+)\.(\d+)\.(\d+)")


def _text(name: str) -> str:
    return resources.files("mfa.report").joinpath("static", name).read_text(encoding="utf-8")


def plotly_js() -> tuple[str, str]:
    """(source, version) of the plotly.js the page embeds: the partial bundle when it
    is of the major version the installed ``plotly`` writes figures for, else (with a
    warning) the installed package's full bundle."""
    import plotly.offline

    wanted = plotly.offline.get_plotlyjs_version()
    source = _text(BUNDLE)
    found = BUNDLE_VERSION.search(source[:300])
    if found and found.group(1) == wanted.split(".")[0]:
        return source, ".".join(found.groups())
    log.warning("static/%s is plotly.js %s, the installed plotly writes figures for plotly.js %s: the report embeds the "
                "full bundle (rebuild it with tools/plotly-bundle)", BUNDLE, ".".join(found.groups()) if found else "?", wanted)
    return plotly.offline.get_plotlyjs(), wanted


@functools.lru_cache(maxsize=1)
def static() -> dict[str, Markup | str]:
    """``css``, ``error_trap``, ``loader`` (our own files, safe as they are), ``plotly``
    (base64 of the gzipped plotly.js: no character of it needs escaping) and
    ``plotly_version``."""
    source, version = plotly_js()
    packed = base64.b64encode(gzip.compress(source.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")
    return {"css": Markup(_text("report.css")), "error_trap": Markup(_text("error_trap.js")), "loader": Markup(_text("loader.js")),
            "plotly": packed, "plotly_version": version}
