"""Sphinx configuration for the trio_sockets documentation."""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent

# Let autodoc import the package from the source tree when it is not installed.
sys.path.insert(0, str(_ROOT))


def _release() -> str:
    try:
        return importlib.metadata.version("trio-sockets")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        with (_ROOT / "pyproject.toml").open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


project = "trio_sockets"
author = "The trio_sockets developers"
copyright = "The trio_sockets developers"
release = _release()
version = ".".join(release.split(".")[:2])

# The code examples are tested by tests/test_docs.py, which runs every Python code block
# (and marks pieces with ``:class: fragment`` or ``:class: excerpt``), so no doctest here.
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxcontrib_trio",
]

# The build machine has no network access: no intersphinx.
nitpicky = False

exclude_patterns = ["_build", ".DS_Store"]
templates_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autoclass_content = "both"

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# Render "Attributes:" sections as fields, so they never clash with documented properties.
napoleon_use_ivar = True

html_theme = "furo"
html_title = f"trio_sockets {release}"
pygments_style = "sphinx"
pygments_dark_style = "monokai"
