"""The tutorial page and the library modules' examples run as doctests (the Sphinx build
itself, warnings as errors, is a line of .ci/run)."""

from __future__ import annotations

import doctest

import pytest

from conftest import REPO


def test_tutorial(monkeypatch):
    monkeypatch.chdir(REPO)  # the page reads docs/*.csv from the repository's root, as it tells readers to
    result = doctest.testfile(str(REPO / "docs" / "tutorial.rst"), module_relative=False, raise_on_error=False, report=True)
    assert result.attempted > 10
    assert result.failed == 0


@pytest.mark.parametrize("module", ["mfa.stock_core", "mfa.tables"])
def test_module_examples(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module), raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0
