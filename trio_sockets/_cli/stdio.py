"""Standard input and output of the commands, whose failures are told apart from the
network's.

A write to standard output fails with :class:`BrokenPipeError` (an :class:`OSError`) when
its reader went away, and with another :class:`OSError` when it is full (``/dev/full``):
taken for network failures, they were reported with a ``SocketErrorStatus``. Here every
read of standard input and write of standard output, by ``print``, by ``send``'s
streams or by the writer of the commands' lines (:mod:`.lines`), turns such a failure
into :class:`StdioError`, which :func:`.commands.run` reports as what it is.

Reading and writing them without blocking the other tasks (trio's ``FdStream``) makes
their open file descriptions non-blocking, and those are shared with the shell and the
other programs of a pipeline: :func:`blocking_modes_kept` leaves them as it found them
whatever way the command ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO, cast

import trio

__all__ = [
    "StandardInput",
    "StandardOutput",
    "StdioError",
    "blocking_modes_kept",
    "checked_stdout",
    "discard_stdout",
]


class StdioError(Exception):
    """Reading standard input or writing standard output failed; not the network."""

    def __init__(self, stream: str, error: BaseException | None, reason: str = "closed") -> None:
        #: The reader of standard output went away (``| head``).
        self.reader_gone = isinstance(error, BrokenPipeError)
        self.stream = stream
        if isinstance(error, OSError) and error.strerror:
            reason = error.strerror
        super().__init__(f"{stream}: {reason}")


def _cause(error: BaseException) -> BaseException | None:
    """The OSError behind a failure of trio's pipe streams, which wrap it."""
    return error if isinstance(error, OSError) else error.__cause__


def _descriptor(stream: TextIO | None, name: str, hint: str) -> int:
    """A duplicate of *stream*'s file descriptor, owned by the caller.

    Raises:
        ValueError: the stream is closed (the command was started with it closed).
    """
    try:
        if stream is not None:
            return os.dup(stream.fileno())
    except (OSError, ValueError):
        pass
    raise ValueError(f"{name} is closed; {hint}")


class StandardInput(trio.abc.ReceiveStream):
    """Standard input of ``send``, read without blocking the other tasks.

    Raises:
        ValueError: (constructing) standard input is closed.
        StdioError: (reading) it failed.
    """

    def __init__(self) -> None:
        hint = "give one (< /dev/null to send nothing)"
        self._stream = trio.lowlevel.FdStream(_descriptor(sys.stdin, "standard input", hint))

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        try:
            return await self._stream.receive_some(max_bytes)
        except (OSError, trio.BrokenResourceError) as error:
            raise StdioError("standard input", _cause(error)) from error
        except trio.ClosedResourceError as error:  # EBADF: open for writing only
            raise StdioError("standard input", None, "not open for reading") from error

    async def aclose(self) -> None:
        await self._stream.aclose()


class StandardOutput(trio.abc.SendStream):
    """Standard output of ``send``, written without blocking the other tasks.

    Raises:
        ValueError: (constructing) standard output is closed.
        StdioError: (writing) it failed, or its reader went away.
    """

    def __init__(self) -> None:
        hint = "give one (> /dev/null to discard what comes back)"
        self._stream = trio.lowlevel.FdStream(_descriptor(sys.stdout, "standard output", hint))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self._stream.send_all(data)
        except (OSError, trio.BrokenResourceError) as error:
            raise StdioError("standard output", _cause(error)) from error
        except trio.ClosedResourceError as error:  # EBADF: open for reading only
            raise StdioError("standard output", None, "not open for writing") from error

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()


class _CheckedText:
    """*text* (``sys.stdout``) whose write failures are :class:`StdioError`."""

    def __init__(self, text: TextIO) -> None:
        self._text = text

    def write(self, data: str) -> int:
        try:
            return self._text.write(data)
        except OSError as error:
            raise StdioError("standard output", error) from error

    def flush(self) -> None:
        try:
            self._text.flush()
        except OSError as error:
            raise StdioError("standard output", error) from error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._text, name)


@contextmanager
def checked_stdout() -> Iterator[None]:
    """Within the block, ``print`` to standard output raises :class:`StdioError` on
    failure; what is written is flushed at the end of the block, inside it."""
    original = sys.stdout
    if original is None:  # started with standard output closed: print writes nothing
        yield
        return
    sys.stdout = cast(TextIO, _CheckedText(original))
    try:
        yield
        sys.stdout.flush()
    finally:
        sys.stdout = original


@contextmanager
def blocking_modes_kept(descriptors: Sequence[int] = (0, 1, 2)) -> Iterator[None]:
    """At the end of the block, by whatever way out, each of *descriptors* (standard
    input, output and error) is blocking or not as it was at its start.

    ``FdStream`` sets ``O_NONBLOCK`` on the open file description, which the command
    shares with its caller, and puts it back when it is closed; this puts it back too
    where it was not closed (two streams on one terminal closed out of order, a failure
    on the way).
    """
    found: dict[int, bool] = {}
    for descriptor in descriptors:
        with contextlib.suppress(OSError):  # not open
            found[descriptor] = os.get_blocking(descriptor)
    try:
        yield
    finally:
        for descriptor, blocking in found.items():
            with contextlib.suppress(OSError):  # closed, or not ours to change
                if os.get_blocking(descriptor) != blocking:
                    os.set_blocking(descriptor, blocking)


def discard_stdout() -> None:
    """Point standard output at ``/dev/null``, so that what is still buffered for it
    does not fail again when the interpreter exits."""
    if sys.stdout is None:
        return
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, descriptor)
    finally:
        os.close(null)
