"""Sphinx configuration: the API reference from mfa's docstrings, and the tutorial.

Build (offline; warnings are errors, as in ``.ci/run``)::

    pip install -e ".[docs]" && python -m sphinx -W -b html docs /tmp/mfa-docs
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's mfa, installed or not

project = "mfa"
author = "mfa contributors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "alabaster"  # ships with Sphinx: no download
