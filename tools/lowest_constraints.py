"""Print pip constraints that pin each dependency of the package to its lowest version.

Reads ``[project].dependencies`` of ``pyproject.toml`` and prints ``name==version`` for
each ``name>=version`` (a requirement without a lower bound is an error: it could not be
checked). ``make test-lowest`` installs the package under these constraints and runs
the test suite, so that the lower bounds the package declares are ones it works with.

Run: ``python tools/lowest_constraints.py [PYPROJECT]``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_LOWER_BOUND = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*$")


def lowest_constraints(pyproject: Path) -> list[str]:
    """``name==version`` for every dependency, at its declared lower bound."""
    with pyproject.open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    constraints = []
    for requirement in dependencies:
        match = _LOWER_BOUND.match(requirement)
        if match is None:
            raise SystemExit(f"{pyproject}: {requirement!r} has no plain lower bound (name>=X)")
        constraints.append(f"{match[1]}=={match[2]}")
    return constraints


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).parent.parent / "pyproject.toml"
    print("\n".join(lowest_constraints(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
