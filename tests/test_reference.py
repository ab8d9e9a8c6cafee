"""The API reference (docs/reference.rst) as Sphinx builds it: the public API, and none
of the methods the package's modules call on each other.

``:members:`` with ``:undoc-members:`` lists every public name of a class, so a method
public only for another module of the package (one that sets options on a raw socket,
say) would read as API that cannot change; ``:exclude-members:`` keeps it out. The page
is built alone, with the project's ``conf.py``, and its inventory read.
"""

from __future__ import annotations

import inspect
import posixpath
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sphinx.util.inventory import InventoryFile

import trio_sockets

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: Public in Python for the package's own modules; not API.
INTERNAL = [
    "DatagramSocketControl.apply_before_bind",
    "DatagramSocketControl.apply_multicast",
    "DatagramSocketControl.ipv4_interface",
    "DatagramSocketControl.ipv6_interface",
    "EndpointPair.require_remote",
]

#: Their neighbours that are API, so that the check sees the classes at all:
#: ``lend_read_ahead`` and ``return_read_ahead`` are how a stream of one's own lends
#: its read-ahead to a DataReader, and ``keeps_read_ahead`` says that it does.
PUBLIC = [
    "DatagramSocketControl.multicast_interface",
    "DatagramSocketControl.dont_fragment",
    "EndpointPair.remote_host_name",
    "InputStream.read",
    "InputStream.keeps_read_ahead",
    "InputStream.lend_read_ahead",
    "InputStream.return_read_ahead",
    "StreamSocketListenerInformation.accept_failures",
    "StreamSocketListenerInformation.last_accept_error",
]


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The names the reference page documents, without ``trio_sockets.``."""
    source = tmp_path_factory.mktemp("reference-source")
    shutil.copy(DOCS / "reference.rst", source / "index.rst")
    out = tmp_path_factory.mktemp("reference-html")
    # Alone, its links to the other pages are unknown: warnings, not errors here.
    command = [sys.executable, "-m", "sphinx", "-q", "-b", "html", "-c", str(DOCS)]
    result = subprocess.run(
        [*command, str(source), str(out)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    with (out / "objects.inv").open("rb") as inventory:
        loaded = InventoryFile.load(inventory, "", posixpath.join)
    prefix = "trio_sockets."
    return {name.removeprefix(prefix) for kind in loaded.values() for name in kind}


@pytest.mark.parametrize("name", PUBLIC)
def test_the_public_api_is_in_the_reference(documented: set[str], name: str) -> None:
    assert name in documented


@pytest.mark.parametrize("name", INTERNAL)
def test_internal_methods_are_not_in_the_reference(documented: set[str], name: str) -> None:
    assert name not in documented


def test_every_public_name_is_in_the_reference(documented: set[str]) -> None:
    # NoStreamError was in __all__, and mentioned in docstrings, with no entry.
    assert sorted(set(trio_sockets.__all__) - documented - {"__version__"}) == []


def test_the_package_shows_no_public_name_outside_all() -> None:
    # ``from importlib.metadata import version`` made ``trio_sockets.version`` a
    # function, easily taken for the version string (and ``annotations`` leaked too).
    # Submodules (``testing``) and pytest's assertion-rewriting names ("@py_builtins")
    # are not names of the API.
    public = {
        name
        for name, value in vars(trio_sockets).items()
        if name.isidentifier() and not name.startswith("_") and not inspect.ismodule(value)
    }
    assert sorted(public - set(trio_sockets.__all__)) == []


def test_the_package_and_its_loader_list_the_same_names() -> None:
    # trio_sockets keeps a literal __all__ (for type checkers and readers) and loads the
    # names from _public at first use: a name added to one list only would be missing
    # from ``import *`` or raise AttributeError at first use.
    from trio_sockets import _public

    assert sorted(_public.__all__) == sorted(set(trio_sockets.__all__) - {"__version__"})
    for name in _public.__all__:
        assert getattr(trio_sockets, name) is getattr(_public, name)
    assert "TYPE_CHECKING" not in dir(trio_sockets)
