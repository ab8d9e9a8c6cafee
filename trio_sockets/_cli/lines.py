"""The commands' lines on standard output and error, written without making the event
loop wait.

A line was a blocking ``print`` made by a trio task: once the reader of standard output
(or error) read more slowly than the lines came, or stopped reading (``| less``, a
stalled log shipper, a harness that reads only the first line), the pipe filled, the
write blocked the one thread that runs every task, and ``echo-server`` stopped accepting
and echoing, without a word.

Within :func:`lines_written`, which :func:`.commands.run` runs every command in,
:func:`say` and :func:`warn` put their line in a bounded buffer of its stream, and one
writer task per stream writes them, in order, from a worker thread: the event loop
never waits for them, and the open file description, which the shell and the rest of a
pipeline share, is not made non-blocking (see :func:`.stdio.blocking_modes_kept`). When
:data:`MAX_WAITING_LINES` lines or :data:`MAX_WAITING_BYTES` bytes already wait, a
line is dropped and counted; once the writer has caught up it writes, where they were,
one line saying how many (``trio-sockets: 120 lines dropped: standard output was not
being read``). A command that ends waits for its lines to be written, as any program
does; a signal (Ctrl-C, SIGTERM, SIGHUP) gives them :data:`GRACE` seconds at most.

Outside :func:`lines_written` (no trio run: argument errors, the line that reports a
failure after the run; a command awaited directly), they print at once.
"""

from __future__ import annotations

import os
import select
import sys
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, TextIO

import trio

from .stdio import StdioError

__all__ = [
    "GRACE",
    "MAX_WAITING_BYTES",
    "MAX_WAITING_LINES",
    "Display",
    "lines_written",
    "progress_stream",
    "say",
    "warn",
]

#: Lines that may wait for a stream's reader, beyond what the pipe or terminal itself
#: holds (64 KiB for a Linux pipe, some 2,000 of ``echo-server``'s lines): a burst is
#: kept whole, a reader that does not keep up loses lines, not the server.
MAX_WAITING_LINES = 1000

#: Bytes those lines may take (a line longer than that is still taken when none waits).
MAX_WAITING_BYTES = 64 * 1024

#: Seconds that lines already said get to be written when a signal ends the command.
GRACE = 0.25


def _write_all(descriptor: int, data: bytes) -> None:
    """Write *data* whole to *descriptor*; in a worker thread, where it may block."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(descriptor, view) :]
        except BlockingIOError:
            # Made non-blocking by another user of the shared file description (send's
            # standard output on the same terminal): wait until it takes more.
            select.select([], [descriptor], [])


class _Writer:
    """The lines of one stream, and the task that writes them.

    A failure to write standard output ends the command (:class:`.stdio.StdioError`);
    lines that standard error cannot take are lost, and the command goes on.
    """

    def __init__(self, stream: str, descriptor: int, text: TextIO, *, output: bool) -> None:
        self.stream = stream
        #: A write to standard error failed (its lines were lost).
        self.failed = False
        self._descriptor = descriptor
        self._encoding = getattr(text, "encoding", None) or "utf-8"
        errors = getattr(text, "errors", None) or "strict"
        # A line that cannot be encoded is shown escaped rather than end a server.
        self._errors = "backslashreplace" if errors == "strict" else errors
        self._output = output
        self._waiting: deque[bytes] = deque()
        self._lines = 0  # waiting or being written
        self._bytes = 0
        self._dropped = 0
        self._stopped = False
        self._wake = trio.lowlevel.ParkingLot()  # the writer waits here for lines
        self._caught_up = trio.lowlevel.ParkingLot()  # drained() waits here

    @property
    def busy(self) -> bool:
        """Lines wait or are being written."""
        return self._lines > 0

    def put(self, text: str) -> None:
        """Add *text* (lines, ending with a newline) to be written, or drop it if the
        buffer is full."""
        if self._stopped:
            return
        data = text.encode(self._encoding, self._errors)
        if self._lines and (
            self._lines >= MAX_WAITING_LINES or self._bytes + len(data) > MAX_WAITING_BYTES
        ):
            self._dropped += 1
            return
        self._note_dropped()
        self._add(data)

    def _add(self, data: bytes) -> None:
        self._waiting.append(data)
        self._lines += 1
        self._bytes += len(data)
        self._wake.unpark_all()

    def _note_dropped(self) -> None:
        """Say, where they were, how many lines were dropped since the last were kept."""
        if self._dropped:
            count, self._dropped = self._dropped, 0
            lines = "line" if count == 1 else "lines"
            note = f"trio-sockets: {count} {lines} dropped: {self.stream} was not being read\n"
            self._add(note.encode(self._encoding, self._errors))

    async def keep_writing(self) -> None:
        """Write the lines as they come, until cancelled (or standard output fails)."""
        try:
            while True:
                if not self._waiting:
                    self._note_dropped()  # caught up: say what was lost
                if not self._waiting:
                    self._caught_up.unpark_all()
                    await self._wake.park()
                    continue
                data = b"".join(self._waiting)
                count = len(self._waiting)
                self._waiting.clear()
                try:
                    await trio.to_thread.run_sync(
                        _write_all, self._descriptor, data, abandon_on_cancel=True
                    )
                except OSError as error:
                    if self._output:
                        raise StdioError(self.stream, error) from error
                    self.failed = True  # nowhere to say so: the lines are lost
                self._lines -= count
                self._bytes -= len(data)
        finally:
            self._stopped = True
            self._caught_up.unpark_all()

    async def drained(self) -> None:
        """Wait until every line put has been written (or the writer has stopped)."""
        while (self._lines or self._dropped) and not self._stopped:
            await self._caught_up.park()


def _writer(stream: str, text: TextIO | None, *, output: bool) -> _Writer | None:
    """A writer for *text* (``sys.stdout``, ``sys.stderr``), or None if it has no file
    descriptor (closed when the command started)."""
    try:
        if text is not None:
            return _Writer(stream, text.fileno(), text, output=output)
    except (OSError, ValueError):
        pass
    return None


class _Writers:
    """The writers of standard output and error (None where the stream is closed)."""

    def __init__(self) -> None:
        self.stdout = _writer("standard output", sys.stdout, output=True)
        self.stderr = _writer("standard error", sys.stderr, output=False)
        self.every = [writer for writer in (self.stdout, self.stderr) if writer is not None]
        self.active = True

    async def drained(self) -> None:
        for writer in self.every:
            await writer.drained()


_current: trio.lowlevel.RunVar[_Writers] = trio.lowlevel.RunVar("_current")


def _active() -> _Writers | None:
    """The writers of the :func:`lines_written` block this runs in, or None."""
    try:
        writers = _current.get()
    except (LookupError, RuntimeError):  # not in that block; no trio run (in this thread)
        return None
    return writers if writers.active else None


@asynccontextmanager
async def lines_written() -> AsyncIterator[None]:
    """Within the block, :func:`say` and :func:`warn` never make the event loop wait.

    Leaving it normally or with an :class:`Exception` waits until their lines are
    written (cancellable: a signal ends that wait); leaving it cancelled or
    interrupted gives them :data:`GRACE` seconds. Any writing left is abandoned.

    Raises:
        StdioError: standard output failed, or its reader went away.
    """
    # What print has buffered would come after lines written to the descriptor.
    for text in (sys.stdout, sys.stderr):
        if text is not None:
            with suppress(OSError, ValueError, StdioError):
                text.flush()
    writers = _Writers()
    async with trio.open_nursery() as nursery:
        for writer in writers.every:
            nursery.start_soon(writer.keep_writing)
        _current.set(writers)
        try:
            try:
                yield
            except Exception:
                await writers.drained()
                raise
            await writers.drained()
        finally:
            try:
                with trio.move_on_after(GRACE, shield=True):
                    await writers.drained()
            finally:
                writers.active = False
                nursery.cancel_scope.cancel()


def say(*parts: object) -> None:
    """Write *parts* to standard output as one line (a command's report, line by line).

    Raises:
        StdioError: (outside :func:`lines_written`) standard output failed.
    """
    writers = _active()
    if writers is None or writers.stdout is None:
        print(*parts, flush=True)
    else:
        writers.stdout.put(" ".join(map(str, parts)) + "\n")


def warn(line: str) -> None:
    """Write *line* to standard error. If it cannot be written (full, closed, its reader
    gone) there is nowhere to say so: the line is dropped, and the command goes on or
    ends with the status it has."""
    writers = _active()
    if writers is not None and writers.stderr is not None:
        writers.stderr.put(line + "\n")
    elif sys.stderr is not None:  # started with standard error closed
        with suppress(OSError, ValueError):
            print(line, file=sys.stderr, flush=True)


class Display:
    """Standard error for a progress display, which is decoration: what is drawn is
    kept until :meth:`show`, which hands it to standard error's writer, or skips it
    while that writer is still busy, so that the display never makes the transfer wait.
    After a write to standard error fails, nothing more is shown.
    """

    def __init__(self, text: TextIO) -> None:
        self._text = text
        self._frame: list[str] = []
        self._off = False

    def write(self, data: str) -> int:
        self._frame.append(data)
        return len(data)

    def flush(self) -> None:
        """What is drawn is written by :meth:`show`."""

    def show(self, *, last: bool = False) -> None:
        """Write what was drawn since the last call, whole or not at all: skipped while
        standard error is busy unless it is the *last* (the totals that stay)."""
        frame = "".join(self._frame)
        self._frame.clear()
        if not frame or self._off:
            return
        writers = _active()
        writer = None if writers is None else writers.stderr
        if writer is None:  # not within lines_written: written at once
            try:
                self._text.write(frame)
                self._text.flush()
            except (OSError, ValueError):
                self._off = True
        elif writer.failed:
            self._off = True
        elif last or not writer.busy:
            writer.put(frame)

    def __getattr__(self, name: str) -> Any:
        # What tqdm asks of its file besides writing: fileno (the terminal's width),
        # encoding.
        return getattr(self._text, name)


def progress_stream() -> Display | None:
    """Standard error for a progress display, or None if the command has none."""
    return None if sys.stderr is None else Display(sys.stderr)
