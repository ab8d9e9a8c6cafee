"""The command line's parser: argparse's, with bounded error messages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .._core.checks import MAX_SHOWN, shown

__all__ = ["ArgumentParser"]


class ArgumentParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose usage errors show at most
    :data:`~trio_sockets._core.checks.MAX_SHOWN` characters of each argument given.

    argparse puts a bad value in its message whole (``invalid choice: 'aaa…'``, an
    unknown command, unrecognized arguments), so a 5,000-character argument made a
    5,000-character message. Sub-commands' parsers are of this class too.
    """

    _given: Sequence[str] = ()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        given = list(sys.argv[1:] if args is None else args)
        # "--option=value": argparse quotes the value alone.
        values = [arg.partition("=")[2] for arg in given if arg.startswith("-") and "=" in arg]
        self._given = given + values
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        # The longest first, so that one argument inside another is not cut twice.
        for value in sorted({v for v in self._given if len(v) > MAX_SHOWN}, key=len, reverse=True):
            message = message.replace(repr(value), shown(value)).replace(value, shown(value))
        super().error(message)
