"""Sphinx configuration for the rediscluster documentation."""

project = "rediscluster"
extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
