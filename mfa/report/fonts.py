"""Fonts for Chinese names in matplotlib figures, with a clean fallback.

:func:`cjk_font` finds an installed font with CJK glyphs (Noto Sans CJK, Source Han,
WenQuanYi and a few system fonts) through matplotlib's font manager. When there is none,
figures label regions by their Latin names (:func:`region_label`) instead of drawing
missing-glyph boxes and logging a warning per character.

The HTML report always carries the Chinese names: the reader's browser picks a CJK font
from the ``font-family`` list of ``static/report.css`` (no web fonts are fetched).
"""

from __future__ import annotations

import contextlib
import functools

import matplotlib
from matplotlib import font_manager

CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "Source Han Sans", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Serif CJK SC", "Source Han Serif SC",
    "Droid Sans Fallback", "Microsoft YaHei", "SimHei", "PingFang SC", "Hiragino Sans GB", "AR PL UMing CN",
)
"""Preferred CJK families, best first; any installed family whose name contains one of
``CJK``, ``Source Han``, ``WenQuanYi`` is accepted after these."""


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or ``None``."""
    family = _preferred({f.name for f in font_manager.fontManager.ttflist})
    if family is None:
        # matplotlib caches its font list once per installation: a font installed since is
        # only found by looking at the font files themselves.
        known = {f.fname for f in font_manager.fontManager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                with contextlib.suppress(OSError, RuntimeError, ValueError):  # a file FreeType cannot read
                    font_manager.fontManager.addfont(path)
        family = _preferred({f.name for f in font_manager.fontManager.ttflist})
    return family


def _preferred(installed: set[str]) -> str | None:
    """The best of :data:`CJK_FAMILIES` among ``installed`` family names, else any CJK-looking one."""
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    for name in sorted(installed):
        if any(key in name for key in ("CJK", "Source Han", "WenQuanYi")):
            return name
    return None


def has_cjk(text: str) -> bool:
    """True when ``text`` holds a CJK ideograph (or CJK punctuation)."""
    return any("\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in str(text))


@contextlib.contextmanager
def cjk_rc():
    """matplotlib rc settings that draw Chinese with :func:`cjk_font` when there is one."""
    family = cjk_font()
    if family is None:
        yield None
        return
    sans = [family] + [f for f in matplotlib.rcParams["font.sans-serif"] if f != family]
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": sans}):
        yield family


def region_label(name_en: str, name_zh: str = "", for_matplotlib: bool = True) -> str:
    """``"海南省 Hainan"``; in matplotlib without a CJK font, only ``"Hainan"``."""
    name_en, name_zh = str(name_en or "").strip(), str(name_zh or "").strip()
    if not name_zh or (for_matplotlib and cjk_font() is None):
        return name_en or name_zh
    if not name_en:
        return name_zh
    return f"{name_zh} {name_en}"


def safe_text(text: str) -> str:
    """``text`` for a matplotlib label: CJK characters are dropped when no font has them."""
    if cjk_font() is not None or not has_cjk(text):
        return text
    kept = "".join(ch for ch in str(text) if not has_cjk(ch))
    return " ".join(kept.split())
