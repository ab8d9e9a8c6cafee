"""The package's layering, measured by ``tools/boundaries.py``.

Layers, bottom to top: ``_core`` < ``_data`` < ``_io`` < ``_tls`` < ``_sockets`` <
``_websockets`` < the edges (``__init__``, ``testing``, ``_cli``, ``_pytest_plugin``,
``__main__``). A module imports only from its own layer or below, ``TYPE_CHECKING``
imports and imports inside functions included, and no set of modules imports itself in a
circle.

No module is over 500 lines but those listed, each under a ceiling that only comes down
(an entry that no longer applies fails too: delete it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import trio_sockets

TOOLS = Path(__file__).resolve().parent.parent / "tools"
sys.path.insert(0, str(TOOLS))
try:
    import boundaries
finally:
    sys.path.remove(str(TOOLS))

ROOT = Path(trio_sockets.__file__).resolve().parent

#: A module past this many lines asks to be split along a seam a reader can name.
MAX_MODULE_LINES = 500

#: Modules still over MAX_MODULE_LINES, each with a ceiling: its size when listed.
KNOWN_LONG_MODULES: dict[str, int] = {}

#: Reads and writes of another module's object's ``_private`` attribute: the ceiling
#: comes down as the boundaries move; what is left is Certificate's own loading.
MAX_PRIVATE_REACHES = 6


@pytest.fixture(scope="module")
def found() -> boundaries.Boundaries:
    return boundaries.analyse(ROOT)


def test_the_analysis_sees_every_module(found: boundaries.Boundaries) -> None:
    assert set(found.paths) >= {
        "trio_sockets",
        "trio_sockets._core.codec",
        "trio_sockets._io.connect",
        "trio_sockets._sockets.stream_socket",
        "trio_sockets.testing",
    }
    assert "trio_sockets._sockets.stream_open" in found.graph["trio_sockets._sockets.stream_socket"]
    assert "trio_sockets._io.tcp_open" in found.graph["trio_sockets._sockets.stream_open"]
    assert "trio_sockets._core.hostname" in found.graph["trio_sockets._core.endpoint"]


def test_no_module_imports_from_a_higher_layer(found: boundaries.Boundaries) -> None:
    upward = sorted(found.upward_imports())
    assert not upward, f"imports from a higher layer: {upward}"


def test_no_import_cycle(found: boundaries.Boundaries) -> None:
    assert not found.cycles, f"import cycles: {found.cycles}"


def _sizes() -> dict[str, int]:
    return {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in ROOT.rglob("*.py")
    }


def test_no_module_over_500_lines() -> None:
    sizes = _sizes()
    too_long = {
        name: size
        for name, size in sizes.items()
        if size > KNOWN_LONG_MODULES.get(name, MAX_MODULE_LINES)
    }
    assert not too_long, f"modules over their ceiling: {too_long}"


def test_long_module_allow_list_only_shrinks() -> None:
    sizes = _sizes()
    short = [name for name in KNOWN_LONG_MODULES if sizes.get(name, 0) <= MAX_MODULE_LINES]
    assert not short, f"no longer over {MAX_MODULE_LINES} lines, delete from the list: {short}"


def test_private_reaches_stay_under_the_ceiling(found: boundaries.Boundaries) -> None:
    assert len(found.reaches) <= MAX_PRIVATE_REACHES, "\n".join(found.reaches)


def test_layer_of() -> None:
    assert boundaries.layer_of("trio_sockets._core.codec") == 0
    assert boundaries.layer_of("trio_sockets._sockets") == 4
    assert boundaries.layer_of("trio_sockets._websockets.base") == 5
    assert boundaries.layer_of("trio_sockets._websockets") < boundaries.EDGE
    for edge in ("trio_sockets", "trio_sockets.testing._dns", "trio_sockets._cli.commands"):
        assert boundaries.layer_of(edge) == boundaries.EDGE


def test_the_checks_see_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """An upward import hidden under ``TYPE_CHECKING`` or in a function body still counts,
    and so does the cycle it closes."""
    package = tmp_path / "trio_sockets"
    for sub in ("_core", "_sockets"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "_core" / "names.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from .._sockets.facade import Facade\n"
    )
    (package / "_core" / "codec.py").write_text(
        "def f():\n    from trio_sockets._sockets import facade\n    return facade\n"
    )
    (package / "_sockets" / "facade.py").write_text(
        "from .._core import names\nclass Facade: ...\n"
    )
    found = boundaries.analyse(package)
    assert set(found.upward_imports()) == {
        ("trio_sockets._core.codec", "trio_sockets._sockets"),
        ("trio_sockets._core.codec", "trio_sockets._sockets.facade"),
        ("trio_sockets._core.names", "trio_sockets._sockets.facade"),
    }
    assert found.cycles == [["trio_sockets._core.names", "trio_sockets._sockets.facade"]]
