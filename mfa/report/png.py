"""Writing matplotlib figures: one resolution and one atomic write for every PNG of a run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path  # noqa: E402
from ..units import ureg  # noqa: E402

# pint quantities on matplotlib axes: mfa.units leaves this to the modules that draw (all of them import this one)
ureg.setup_matplotlib()

DPI = 150
"""Sharp enough for a slide or a printed page; the report embeds smaller copies."""


def save(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (PNG, :data:`DPI`) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return Path(path)
