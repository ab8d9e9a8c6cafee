"""What the example scripts share on the command line: a parser described by the
script's docstring, and a run that ends a failure with one line naming it instead of a
traceback.

    parser = command_line.parser(__doc__)
    ...
    command_line.run(main, arguments.service)

A network failure prints its ``SocketErrorStatus`` (``WebErrorStatus`` for a WebSocket)
on standard error and exits with 1, or only exits with 1 where the script printed it
already (``failures_printed``: the samples ported from WinRT, which log their failures),
so that each failure is printed once; bad input (a bad service name, URI or file) exits
with 2; Ctrl-C with 130; as for the ``trio-sockets`` command, a standard output that
fails exits with 74, and one whose reader went away (``| head``) quietly with 141, even
where a network failure came with it (never reported as a network status).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, NoReturn, TypeVar

import trio

from trio_sockets import SocketError, SocketStatusError, WebSocketError, WebSocketStatusError

T = TypeVar("T")


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose description is the first paragraph of *doc*."""
    return argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])


def run(main: Callable[..., Awaitable[T]], *args: Any, failures_printed: bool = False) -> T:
    """``trio.run(main, *args)``, or the script's end on failure as the module says.

    *failures_printed*: *main* prints its network failures itself (as the WinRT samples
    log them), so they exit with 1 without another line.
    """
    try:
        result = trio.run(main, *args)
        if sys.stdout is not None:
            # Buffered (a pipe or file): what is left fails here, not at the exit.
            sys.stdout.flush()
        return result
    except (KeyboardInterrupt, OSError, ValueError, TypeError, BaseExceptionGroup) as failure:
        _exit(failure, failures_printed)


def _leaves(failure: BaseException) -> Iterator[BaseException]:
    """The exceptions in *failure*, out of the groups trio wraps them in."""
    if isinstance(failure, BaseExceptionGroup):
        for inner in failure.exceptions:
            yield from _leaves(inner)
    else:
        yield failure


def _own_output_failed(error: BaseException) -> bool:
    """*error* is the script's own standard output failing: an OSError that is not the
    network's (its failures are those) and names no file."""
    return (
        isinstance(error, OSError)
        and not isinstance(error, SocketStatusError | WebSocketStatusError)
        and error.filename is None
    )


def _chosen(leaves: list[BaseException]) -> Exception | None:
    """The failure among *leaves* that the script ends with, or None if none is known.

    A failure of its own output comes first: when the reader of standard output goes
    away (``| head``), the server's ``print`` fails, and the connection it then closes
    unread fails the client's send with a network status; which of the two tasks
    failed first, and so comes first in the group, is chance. Otherwise the first.
    """
    known = [leaf for leaf in leaves if isinstance(leaf, OSError | ValueError | TypeError)]
    own = [leaf for leaf in known if _own_output_failed(leaf)]
    return next(iter([*own, *known]), None)


def _exit(failure: BaseException, failures_printed: bool) -> NoReturn:
    leaves = list(_leaves(failure))
    if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
        sys.exit(130)
    error = _chosen(leaves)
    if error is None:
        raise failure  # a bug in the script: its traceback helps
    script = os.path.basename(sys.argv[0])
    if isinstance(error, OSError) and error.filename is not None:  # a file named
        print(f"{script}: cannot read {error.filename!r}: {error.strerror}", file=sys.stderr)
        sys.exit(2)
    if not isinstance(error, OSError):  # bad input
        print(f"{script}: {error}", file=sys.stderr)
        sys.exit(2)
    if _own_output_failed(error):
        _discard_stdout()  # what is still buffered for it must not fail at exit
        if isinstance(error, BrokenPipeError):  # its reader went away (| head)
            sys.exit(141)
        print(f"{script}: standard output: {error.strerror or error}", file=sys.stderr)
        sys.exit(74)
    if not failures_printed:
        web = isinstance(error, WebSocketStatusError)
        status = (WebSocketError if web else SocketError).get_status(error)
        print(f"{script}: {status.name}: {error}", file=sys.stderr)
    sys.exit(1)


def _discard_stdout() -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no standard output to point elsewhere
        pass
    finally:
        os.close(null)
