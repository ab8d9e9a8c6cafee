"""The two stream interfaces every socket hands out (WinRT ``IInputStream`` / ``IOutputStream``).

:class:`DataReader` and :class:`DataWriter` work over any implementation of these, so
they are defined apart from the socket code that implements them.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from .._core.enums import InputStreamOptions

__all__ = ["InputStream", "OutputStream", "SocketOutputStream", "WriteOperation"]


class WriteOperation(Awaitable[int], abc.ABC):
    """What :meth:`OutputStream.write` returns: a write already under way.

    Like a WinRT ``IAsyncOperation`` it runs whether or not anybody awaits it. Awaiting
    it returns the number of bytes written (for a WebSocket message, its size), or raises
    the failure of the write. Every output stream of the package returns one, the
    sockets' and the WebSockets' alike; write your own stream's operations as
    subclasses.

    Cancellation: cancelling the ``await`` cancels only the waiting; the write itself goes
    on (use :meth:`~trio_sockets.StreamSocket.cancel_io` to abort pending writes). On a
    TLS socket not entered with ``async with`` the awaiting task sends, and cancelling
    it mid-record breaks the stream, as with :class:`trio.SSLStream`.
    """

    __slots__ = ()

    #: Whether awaiting it is always a full trio checkpoint, even once it is done (a
    #: socket's write operation); callers then need no checkpoint of their own.
    await_checkpoints = False

    @property
    @abc.abstractmethod
    def done(self) -> bool:
        """True once the write has completed or failed."""

    @property
    @abc.abstractmethod
    def nbytes(self) -> int:
        """The size of the data this operation writes."""

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, None, int]: ...


class InputStream(abc.ABC):
    """A source of bytes (WinRT ``IInputStream``)."""

    __slots__ = ()  # so that a stream with slots refuses settings it does not have

    #: Whether a ``READ_AHEAD`` read keeps what it received beyond *count* in the
    #: stream, for the next read, and never returns more than *count* (a socket's input
    #: stream). A :class:`DataReader` then reads ahead whatever its options, at no cost
    #: to their meaning, and borrows the surplus (:meth:`lend_read_ahead`).
    keeps_read_ahead = False

    @abc.abstractmethod
    async def read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        """Read up to *count* bytes; ``b""`` means the stream has ended.

        With :attr:`InputStreamOptions.NONE` the read completes when *count* bytes are
        there or the stream ends; with ``PARTIAL`` as soon as any byte is there.
        """

    def lend_read_ahead(self, give_back: Callable[[], bytes]) -> bytes | bytearray:
        """Lend everything this stream has read ahead to a reader that keeps it in its
        own buffer; ``b""`` if there is nothing to lend.

        The bytes stay the stream's: before the stream next reads, lends to another
        *give_back*, or closes, it calls *give_back*, which returns the lent bytes the
        borrower has not used up, and puts them back in front of what it holds. A
        :class:`DataReader` borrows after each read that went to the stream, so the
        frames one receive brought are loaded without a call to the stream each, while
        whoever reads the stream next still gets every byte in order. A stream that lends
        sets :attr:`keeps_read_ahead` (a DataReader borrows from no other); streams that
        do not keep their read-ahead lend nothing.
        """
        return b""

    def return_read_ahead(self, give_back: Callable[[], bytes]) -> None:
        """Take back now what was lent to *give_back* (its borrower lets the stream
        go); nothing if the loan is not *give_back*'s."""
        return  # a stream that lends nothing takes nothing back

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the stream: reads through it then raise :exc:`trio.ClosedResourceError`.

        Closing a socket's stream ends only that stream object; the socket stays open
        (close it with its own ``aclose()``).
        """


class OutputStream(abc.ABC):
    """A sink of bytes (WinRT ``IOutputStream``)."""

    __slots__ = ()  # so that a stream with slots refuses settings it does not have

    @abc.abstractmethod
    def write(self, data: bytes | bytearray | memoryview) -> WriteOperation:
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


class SocketOutputStream(OutputStream):
    """An output stream of a socket, with a bound on what its pending writes may hold.

    ``StreamSocket.output_stream``, ``DatagramSocket.output_stream`` and the streams
    ``DatagramSocket.get_output_stream()`` returns are of this type.
    """

    __slots__ = ()

    @property
    @abc.abstractmethod
    def pending_bytes(self) -> int:
        """The bytes of data written but not yet handed to the operating system."""

    @property
    @abc.abstractmethod
    def room_bytes(self) -> int:
        """How much more :meth:`write` takes before it raises :exc:`BufferError`:
        :attr:`max_pending_bytes` less the pending bytes and 256 for each pending write
        (a write of *n* bytes fits if *n* + 256 is at most this); 0 or less at the bound."""

    @property
    @abc.abstractmethod
    def max_pending_bytes(self) -> int:
        """How much memory pending writes may hold before :meth:`write` raises
        :exc:`BufferError`: their data plus 256 bytes for each write (what its
        :class:`WriteOperation` and queue entry take), 64 MiB by default. Counting the
        per-write cost bounds a flood of tiny or empty writes too; with ``0`` no write is
        queued at all. An int, 0 or more: setting anything else raises
        :exc:`TypeError` or :exc:`ValueError` naming the value."""

    @max_pending_bytes.setter
    @abc.abstractmethod
    def max_pending_bytes(self, value: int) -> None: ...
