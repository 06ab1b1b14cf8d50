"""The report's words in the reader's language: one message catalogue per language,
``locale/<lang>.yaml`` (nested keys, flattened to ``"section.key"``).

:func:`use` sets the language for everything the report draws in this context (a
:class:`contextvars.ContextVar`, so the charts need no language argument threaded through
them); :func:`t` gives a message with its ``{placeholders}`` filled, :func:`t_html` the
same for the templates (the message may hold markup, the arguments are escaped), and
:func:`name` the reader's word for a name of the data (scenario, element, stream,
process), the name itself when the catalogue has none. In Chinese, amounts of vehicles
and tonnes are shown in 万辆 and 万吨 (:func:`amount_unit`), as planning documents do.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from importlib import resources

import yaml
from markupsafe import Markup

LANGUAGES = ("en", "zh")
DEFAULT = "en"


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in ("units", "amounts"):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, object]:
    """The messages of ``lang`` (``en`` or ``zh``)."""
    if lang not in LANGUAGES:
        raise ValueError(f"report language: one of {', '.join(LANGUAGES)}, got {lang!r}")
    text = resources.files("mfa.report").joinpath("locale", f"{lang}.yaml").read_text(encoding="utf-8")
    return _flatten(yaml.safe_load(text))


_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("report_language", default=DEFAULT)


@contextlib.contextmanager
def use(lang: str):
    """Draw in ``lang`` inside the ``with`` block."""
    catalogue(lang)  # an unknown language fails here, before anything is drawn
    token = _LANG.set(lang)
    try:
        yield
    finally:
        _LANG.reset(token)


@contextlib.contextmanager
def drawing(lang: str):
    """:func:`use` ``lang``, and in Chinese draw matplotlib text with the CJK font (every
    label, not only region names)."""
    from .fonts import cjk_rc

    with use(lang), (cjk_rc() if lang == "zh" else contextlib.nullcontext()):
        yield


def lang() -> str:
    return _LANG.get()


def t(key: str, **kw) -> str:
    """The message ``key`` in the current language, placeholders filled."""
    return str(catalogue(lang())[key]).format(**kw)


def t_html(key: str, **kw) -> Markup:
    """:func:`t` for the templates: the message's own markup kept, the arguments escaped."""
    return Markup(str(catalogue(lang())[key])).format(**kw)


def name(kind: str, value) -> str:
    """The reader's word for ``value`` of ``kind`` (``scenario``, ``element``, ``stream``,
    ``process``, ``bound``), else ``value`` itself."""
    return str(catalogue(lang()).get(f"{kind}.{value}", value))


def unit_label(unit: str) -> str | None:
    """The catalogue's label of a UDUNITS unit (``None`` if it has none)."""
    return catalogue(lang())["units"].get(str(unit))


def amount_unit(unit: str) -> str:
    """The unit amounts of ``unit`` are shown in: ``1e4`` (万辆) for vehicles and
    ``1e4 t`` (万吨) for tonnes in Chinese, ``unit`` itself in English."""
    return catalogue(lang())["amounts"].get(str(unit), str(unit))
