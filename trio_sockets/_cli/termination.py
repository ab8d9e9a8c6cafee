"""SIGTERM and SIGHUP end a command the way Ctrl-C does.

With Python's default action for them, ``kill``, ``timeout`` or a closed terminal ended
the process where it stood: ``send``'s standard input and output stayed non-blocking
(trio's ``FdStream`` sets ``O_NONBLOCK`` on the open file description, which the
command shares with its shell and the rest of a pipeline, and puts it back only when
closed), and the next program to read or write them failed with ``EAGAIN``. Here such a
signal cancels the command instead, so that everything it opened is closed on the way
out, and :func:`.commands.run` exits with 128 + the signal's number (143, 129), quietly,
as Ctrl-C exits with 130. A command with something to do before it ends (``send`` to a
WebSocket closes it with 1001, as for Ctrl-C) has the signal cancel only a part of it,
with :func:`signal_cancels_this`.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import trio

__all__ = [
    "TERMINATING_SIGNALS",
    "Termination",
    "run_until_terminated",
    "signal_cancels_this",
    "terminating",
]

#: The signals that ask a command to end, as Ctrl-C does.
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Termination:
    """Whether a terminating signal ended a command, readable after ``trio.run``."""

    def __init__(self) -> None:
        #: The first terminating signal that came, or None.
        self.signo: int | None = None
        # What a signal cancels: the innermost of these (see signal_cancels_this).
        self._scopes: list[trio.CancelScope] = []

    def _came(self, signo: int) -> None:
        if self.signo is None:
            self.signo = signo
            self._scopes[-1].cancel()

    @property
    def status(self) -> int | None:
        """The exit status for it, as a shell reports a program the signal ended
        (128 + its number), or None."""
        return None if self.signo is None else 128 + self.signo


_current: trio.lowlevel.RunVar[Termination] = trio.lowlevel.RunVar("_current")


def terminating() -> bool:
    """A terminating signal came: the command is being cancelled by it (a WebSocket
    then closes as a client that goes away, as for Ctrl-C)."""
    try:
        return _current.get().signo is not None
    except LookupError:  # not run by run_until_terminated
        return False


@contextmanager
def signal_cancels_this() -> Iterator[None]:
    """A terminating signal that comes within the block cancels the block alone, not the
    whole command; after it :func:`terminating` is true, and the command ends its own way
    (a WebSocket closes as a client that goes away, which its cancelled connection could
    not)."""
    try:
        termination = _current.get()
    except LookupError:  # not run by run_until_terminated
        yield
        return
    with trio.CancelScope() as scope:
        termination._scopes.append(scope)
        try:
            yield
        finally:
            termination._scopes.remove(scope)


def _wanted() -> list[signal.Signals]:
    """The terminating signals to catch: not one the command was started ignoring
    (``nohup`` ignores SIGHUP, and means it), and none outside the main thread, where
    Python cannot catch signals."""
    if threading.current_thread() is not threading.main_thread():
        return []
    return [signo for signo in TERMINATING_SIGNALS if signal.getsignal(signo) != signal.SIG_IGN]


async def run_until_terminated(
    command: Callable[[argparse.Namespace], Awaitable[None]],
    args: argparse.Namespace,
    termination: Termination,
) -> None:
    """Run ``command(args)``; the first terminating signal is recorded in *termination*
    and cancels the command (or the block of :func:`signal_cancels_this` it is in),
    which unwinds as for Ctrl-C: what it opened is closed.

    Signals that come later are absorbed until the command has unwound: it is already
    ending, and the default action would cut its unwinding short.
    """
    _current.set(termination)
    wanted = _wanted()
    if not wanted:
        await command(args)
        return
    with trio.open_signal_receiver(*wanted) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for signo in signals:
                    termination._came(signo)

            nursery.start_soon(watch)
            with trio.CancelScope() as command_scope:
                termination._scopes.append(command_scope)
                await command(args)
            nursery.cancel_scope.cancel()
