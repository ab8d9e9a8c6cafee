"""Measure the package's internal boundaries: imports between modules and private reaches.

Prints, for ``trio_sockets``:

* the import graph's cycles (``TYPE_CHECKING`` imports and imports inside functions count:
  a cycle closed lazily is still a cycle);
* every import from a higher layer into a lower one (:data:`LAYERS`);
* every place where one module reads or writes another module's object's ``_attribute``
  (``other._field`` where ``_field`` belongs to a class defined in another module of the
  package), with the total.

Run: ``python tools/boundaries.py [--limit N] [--quiet] [--report]``; exits 1 when there
is a cycle or an upward import or, with ``--limit``, when the private reaches exceed N
(never with ``--report``). ``tests/test_architecture.py`` imports :func:`analyse` and
fails on any violation not in its allow-lists.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

PACKAGE = "trio_sockets"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, is_package: bool, tree: ast.AST, known: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(module, is_package, node)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            # The deepest known module the name lives in.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def private_owners(trees: Mapping[str, ast.AST]) -> dict[str, set[str]]:
    """For each ``_name``: the modules whose classes define it (attribute, method, slot)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for module, tree in trees.items():
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for node in ast.walk(cls):
                name = None
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = node.name
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                        name = node.attr
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    name = node.target.id
                elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    name = target.id if isinstance(target, ast.Name) else None
                if name and is_private(name):
                    owners[name].add(module)
    return owners


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_reaches(trees: Mapping[str, ast.AST], paths: dict[str, Path]) -> list[str]:
    owners = private_owners(trees)
    found = []
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            homes = owners.get(node.attr, set())
            if homes and module not in homes:
                found.append(f"{paths[module]}:{node.lineno}: .{node.attr} of {sorted(homes)[0]}")
    return found


#: The layers, bottom to top: a module imports only from its own layer or below. Every
#: module outside these subpackages is an edge (the package's ``__init__``, ``testing``,
#: the CLI, the pytest plugin), above them all.
LAYERS = ("_core", "_data", "_io", "_tls", "_sockets", "_websockets")
EDGE = len(LAYERS)


def layer_of(module: str) -> int:
    """The layer of *module* (an index into :data:`LAYERS`), or :data:`EDGE`."""
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == PACKAGE and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return EDGE


@dataclasses.dataclass(frozen=True)
class Boundaries:
    """The package's measured boundaries."""

    #: module -> the package's modules it imports (anywhere in it, lazily or not).
    graph: dict[str, set[str]]
    #: module -> its path relative to the package's parent directory.
    paths: dict[str, Path]
    cycles: list[list[str]]
    #: ``path:line: .attr of owner`` for each private reach across modules.
    reaches: list[str]

    def upward_imports(self) -> list[tuple[str, str]]:
        """Every ``(importer, imported)`` where the imported module's layer is higher."""
        return sorted(
            (module, target)
            for module, targets in self.graph.items()
            for target in targets
            if layer_of(target) > layer_of(module)
        )


def analyse(root: Path) -> Boundaries:
    """Measure the package whose directory is *root*."""
    paths = {module_name(root, p): p.relative_to(root.parent) for p in root.rglob("*.py")}
    trees = {m: ast.parse((root.parent / p).read_text(encoding="utf-8")) for m, p in paths.items()}
    known = set(paths)
    graph = {
        m: imports_of(m, paths[m].name == "__init__.py", tree, known) for m, tree in trees.items()
    }
    return Boundaries(graph, paths, cycles(graph), private_reaches(trees, paths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="most private reaches allowed")
    parser.add_argument("--quiet", action="store_true", help="print the totals only")
    parser.add_argument(
        "--report",
        action="store_true",
        help="exit 0 whatever the counts (tests/test_architecture.py is the gate)",
    )
    args = parser.parse_args()
    found = analyse(Path(__file__).resolve().parent.parent / PACKAGE)
    upward = found.upward_imports()
    if not args.quiet:
        for line in found.reaches:
            print(line)
        for module, target in upward:
            print(f"upward import: {module} -> {target}")
        for cycle in found.cycles:
            print("import cycle:", " <-> ".join(cycle))
    print(
        f"{len(found.cycles)} import cycles, {len(upward)} upward imports, "
        f"{len(found.reaches)} private reaches across modules"
    )
    if args.report:
        return 0
    if found.cycles or upward:
        return 1
    return 1 if args.limit is not None and len(found.reaches) > args.limit else 0


if __name__ == "__main__":
    sys.exit(main())
