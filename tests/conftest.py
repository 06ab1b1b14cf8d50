"""Shared test helpers: where the peer cases live, and how a missing tool is handled."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import configuration, settings

# Hypothesis keeps no example database, and its caches live outside the checkout
# (by default both go to .hypothesis/ in the working directory).
configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="mfa-hypothesis-"))
settings.register_profile("mfa", database=None)
settings.load_profile("mfa")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when ``condition`` is false; fail instead under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Path of the command-line tool ``name``; skip (fail under CI) when it is missing."""
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    return path
