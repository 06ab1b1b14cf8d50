"""The error users see when an input or scenario file is wrong."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """A bad input: which file, which field, and what was expected.

    The CLI prints ``str(error)`` on one line and exits with code 2.
    """

    def __init__(self, file: str | Path | None, field: str, expected: str):
        self.file, self.field, self.expected = str(file) if file else None, field, expected
        where = f"{self.file}: " if self.file else ""
        super().__init__(f"{where}{field}: {expected}")


class InvariantError(InputError):
    """A value the model used or produced breaks a rule every run must keep (finite,
    non-negative, a share in [0, 1], balanced): which parameter or flow, where, and what
    was expected. Raised before any output is written; the CLI exits with code 2."""
