"""Progress of a transfer on standard error, for ``trio-sockets send``.

With tqdm (the ``cli`` extra: ``pip install trio-sockets[cli]``), two lines, one per
direction: the bytes sent and received so far, the time elapsed and the rate, such as
``sent: 4.00MB [00:01, 3.71MB/s]``. They are redrawn as data moves, and every
:data:`REDRAW_INTERVAL` seconds while it does not, so that a stalled transfer shows its
clock running. Without tqdm the same counts come as plain lines, such as
``sent: 4000000 bytes in 1.1 s``, written every :data:`REDRAW_INTERVAL` seconds while
they change and once at the end. Whether to show them at all is :func:`wanted`.

What is drawn goes to a :class:`.lines.Display`, one drawing at a time: a drawing is
skipped while standard error is still busy with the one before (a paused terminal, a
pipe nobody reads), so that the display never makes the transfer wait; the totals drawn
at the end are kept.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import Any, TextIO

import trio

from .lines import Display

__all__ = ["REDRAW_INTERVAL", "Progress", "wanted"]

#: Seconds between redraws while no data moves.
REDRAW_INTERVAL = 0.5


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and os.isatty(stream.fileno())
    except (OSError, ValueError):  # no file descriptor, or a closed one
        return False


def wanted(option: bool | None, stderr: TextIO | None, stdout: TextIO | None) -> bool:
    """Whether to show progress: *option* (``--progress`` / ``--no-progress``) if given.

    Otherwise only when standard error is a terminal and standard output is not: a pipe
    or a file sees no progress lines, and, as with curl, replies written to the terminal
    are not drawn over.
    """
    if option is not None:
        return option
    return _is_terminal(stderr) and not _is_terminal(stdout)


class Progress:
    """Counts the bytes of a transfer, and draws them on *stream* unless it is ``None``.

    A context manager: leaving it draws the final totals, which stay on the screen.
    """

    def __init__(self, stream: Display | None) -> None:
        self.shown = stream is not None
        self._display = stream
        self._sent = self._line("sent", 0, stream)
        self._received = self._line("received", 1, stream)
        self._show()

    @staticmethod
    def _line(label: str, position: int, stream: Display | None) -> Any:
        try:
            from tqdm import tqdm  # type: ignore[import-untyped]
        except ImportError:  # the cli extra is not installed
            return _PlainLine(label, stream)
        return tqdm(
            desc=label,
            unit="B",
            unit_scale=True,  # SI prefixes: 4.00MB is 4,000,000 bytes
            position=position,
            file=stream or sys.stderr,
            disable=stream is None,
            dynamic_ncols=True,
            miniters=1,
            leave=True,
        )

    def _show(self, *, last: bool = False) -> None:
        """Hand what was drawn to standard error (see :meth:`.lines.Display.show`)."""
        if self._display is not None:
            self._display.show(last=last)

    def sent(self, count: int) -> None:
        self._sent.update(count)
        self._show()

    def received(self, count: int) -> None:
        self._received.update(count)
        self._show()

    async def keep_drawing(self) -> None:
        """Redraw every :data:`REDRAW_INTERVAL` seconds until cancelled (if shown)."""
        if not self.shown:
            return
        while True:
            await trio.sleep(REDRAW_INTERVAL)
            self._sent.refresh()
            self._received.refresh()
            self._show()

    def close(self) -> None:
        self._sent.close()
        self._received.close()
        self._show(last=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _PlainLine:
    """The counts of one direction as plain lines: the part of a tqdm bar that
    :class:`Progress` uses, for when tqdm is not installed."""

    def __init__(self, label: str, stream: Display | None) -> None:
        self._label = label
        self._stream = stream
        self._count = 0
        self._written: int | None = None
        self._start = time.monotonic()

    def update(self, count: int) -> None:
        self._count += count

    def refresh(self) -> None:
        """Write the count, unless it is the one written last."""
        if self._stream is not None and self._count != self._written:
            elapsed = time.monotonic() - self._start
            print(f"{self._label}: {self._count} bytes in {elapsed:.1f} s", file=self._stream)
            self._written = self._count

    def close(self) -> None:
        self.refresh()
