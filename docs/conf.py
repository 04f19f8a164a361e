"""Sphinx configuration for the rediscluster documentation."""

import re
from pathlib import Path

_INIT = Path(__file__).resolve().parent.parent / "rediscluster" / "__init__.py"

project = "rediscluster"
release = re.search(r'^__version__ = "([^"]+)"', _INIT.read_text(), re.M).group(1)
version = release
extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
