"""Sphinx configuration: numpydoc API reference and Markdown pages (MyST)."""

import pyxem_transformer

project = "pyxem-transformer"
author = "pyxem-transformer developers"
copyright = "2026, pyxem-transformer developers"
release = pyxem_transformer.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
root_doc = "index"
myst_heading_anchors = 3

autosummary_generate = False
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# No network in CI: no intersphinx inventories are fetched.
intersphinx_mapping = {}

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = "pyxem-transformer"
