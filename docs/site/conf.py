"""Sphinx configuration of the izhijax API site (offline: no intersphinx, notebooks not executed).

Build, warnings as errors:

    .venv/bin/python -m sphinx -W --keep-going -b html docs/site docs/_build/html
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..", "..")))   # izhijax from this tree
sys.path.insert(0, os.path.join(HERE, "_ext"))
os.environ.setdefault("JAX_PLATFORMS", "cpu")                          # importing izhijax only

import izhijax  # noqa: E402

project = "izhijax"
author = "izhijax developers"
copyright = "izhijax developers"
release = izhijax.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",                 # Markdown (MyST) pages and the notebooks
    "izhijax_api",             # _ext/izhijax_api.py: API pages from the namespaces' __all__
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
templates_path = []

# -- autodoc / napoleon (Google-style "Args:" / "Returns:" docstrings) ----------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_inherit_docstrings = True
autodoc_preserve_defaults = True        # show `dt=DT`, not the evaluated default object
autosummary_generate = False            # summary tables only; the pages document every name
add_module_names = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# -- MyST / notebooks ------------------------------------------------------------------------------
nb_execution_mode = "off"               # notebooks are stored without outputs: rendered as they are
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# -- HTML ------------------------------------------------------------------------------------------
try:
    import furo  # noqa: F401
    html_theme = "furo"
except ImportError:                     # the theme that ships with Sphinx
    html_theme = "alabaster"
html_title = f"izhijax {release}"
html_static_path = []
html_show_sourcelink = False
