"""The two stream interfaces every socket hands out (WinRT ``IInputStream`` / ``IOutputStream``).

:class:`DataReader` and :class:`DataWriter` work over any implementation of these, so
they are defined apart from the socket code that implements them.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Generator
from typing import Any

from .._core.enums import InputStreamOptions

__all__ = ["InputStream", "OutputStream", "WriteOperationLike"]


class WriteOperationLike(Awaitable[int], abc.ABC):
    """What :meth:`OutputStream.write` returns: a write already under way.

    Awaiting it gives the number of bytes written, or raises the write's failure.
    """

    __slots__ = ()

    #: Whether awaiting it is always a full trio checkpoint, even once it is done (a
    #: socket's write operation); callers then need no checkpoint of their own.
    await_checkpoints = False

    @property
    @abc.abstractmethod
    def done(self) -> bool:
        """True once the write has completed or failed."""

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, None, int]: ...


class InputStream(abc.ABC):
    """A source of bytes (WinRT ``IInputStream``)."""

    #: Whether a ``READ_AHEAD`` read keeps what it received beyond *count* in the
    #: stream, for the next read, and never returns more than *count* (a socket's input
    #: stream). A :class:`DataReader` then reads ahead whatever its options, at no cost
    #: to their meaning.
    keeps_read_ahead = False

    @abc.abstractmethod
    async def read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        """Read up to *count* bytes; ``b""`` means the stream has ended.

        With :attr:`InputStreamOptions.NONE` the read completes when *count* bytes are
        there or the stream ends; with ``PARTIAL`` as soon as any byte is there.
        """

    def take_read_ahead(self, count: int) -> bytes:
        """Up to *count* bytes this stream has already read ahead, taken at once without
        waiting, or ``b""`` (nothing there, or :meth:`read` must answer: it raises what
        there is to raise). A :class:`DataReader` calls it after a cancel point, so a
        ``load`` the read-ahead answers costs no trip through :meth:`read`. Streams that
        do not keep their read-ahead hold none.
        """
        return b""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the stream: reads through it then raise :exc:`trio.ClosedResourceError`.

        Closing a socket's stream ends only that stream object; the socket stays open
        (close it with its own ``aclose()``).
        """


class OutputStream(abc.ABC):
    """A sink of bytes (WinRT ``IOutputStream``)."""

    @abc.abstractmethod
    def write(self, data: bytes | bytearray | memoryview) -> WriteOperationLike:
        """Start writing *data* at once and return the operation under way."""

    @abc.abstractmethod
    async def flush(self) -> bool:
        """Wait until every write started so far has completed; raise the first failure."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Flush, then close the stream: writes through it then raise
        :exc:`trio.ClosedResourceError`.

        Closing a socket's stream ends only that stream object; the socket stays open
        (close it with its own ``aclose()``).
        """
