"""An input stream over bytes already received: one datagram, one WebSocket message."""

from __future__ import annotations

import trio

from .._core.codec import check_count, check_input_stream_options
from .._core.enums import InputStreamOptions
from .interfaces import InputStream

__all__ = ["BytesInputStream"]


class BytesInputStream(InputStream):
    """An input stream over *data*; ``read`` returns ``b""`` at its end.

    *what* names the data in messages (``"datagram"``, ``"message"``). Closing the
    stream ends this object only; the socket it came from is not affected.
    """

    __slots__ = ("_closed", "_position", "_view", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._view = memoryview(data)
        self._position = 0
        self._closed = False
        self._what = what

    async def read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        """Read up to *count* bytes; fewer (or ``b""``) at the end.

        Raises:
            TypeError / ValueError: a bad *count* or *options* (named).
            trio.ClosedResourceError: the stream was closed.
        """
        check_count(count, "read")
        check_input_stream_options(options, "options")
        if self._closed:
            raise trio.ClosedResourceError(f"this {self._what} stream was closed")
        await trio.lowlevel.checkpoint()
        start = self._position
        self._position = min(len(self._view), start + count)
        return bytes(self._view[start : self._position])

    async def aclose(self) -> None:
        """Close the stream; the socket is not affected."""
        self._closed = True
        await trio.lowlevel.checkpoint()
