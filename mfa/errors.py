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
