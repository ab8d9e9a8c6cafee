"""``SocketInputStream``: the input stream of a ``StreamSocket`` (WinRT ``IInputStream``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from .._core.enums import InputStreamOptions
from .._data.interfaces import InputStream

__all__ = ["SocketInputStream"]

#: The socket's read: ``read(count, options)``.
Reader = Callable[[int, InputStreamOptions], Awaitable[bytes]]


class SocketInputStream(InputStream):
    """The input stream of a :class:`StreamSocket` (WinRT ``IInputStream``)."""

    def __init__(self, read: Reader) -> None:
        self._read = read
        self._closed = False

    async def read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        """Read up to *count* bytes; ``b""`` means the peer closed its side.

        ``NONE`` waits for *count* bytes (fewer only at end of stream), ``PARTIAL``
        returns what the first receive brings, ``READ_AHEAD`` receives up to 64 KiB per
        system call and keeps the surplus for the next read.

        Cancellation: bytes already received stay buffered for the next read; nothing
        is lost and the socket stays usable.
        """
        if self._closed:
            raise trio.ClosedResourceError("this input stream was closed")
        return await self._read(count, options)

    async def aclose(self) -> None:
        """Stop reading through this stream object; the socket stays open."""
        self._closed = True
        await trio.lowlevel.checkpoint()
