"""The buffer of a :class:`~trio_sockets.DataReader` and how it is loaded from its stream.

The buffer holds the consumed bytes (``_buf[:_pos]``), the loaded ones
(``_buf[_pos:_end]``) and, after them, what the stream lent (``_buf[_end:]``): a socket's
input stream lends what one receive brought beyond the load that made it
(:meth:`InputStream.lend_read_ahead <trio_sockets.InputStream.lend_read_ahead>`), so the
frames that came together are loaded by moving ``_end``, without a call to the stream
each, and the stream takes back what is left before anything else reads it. Reads only
move ``_pos``, and a load drops the consumed prefix before appending, so no read copies
the buffer.
"""

from __future__ import annotations

import trio

from .._core.codec import check_count, check_input_stream_options
from .._core.enums import InputStreamOptions
from .interfaces import InputStream
from .stream_owner import StreamOwner

__all__ = ["LoadingBuffer"]

# The most one stream read is asked for. load(2**32 - 1) with PARTIAL is a common way to say
# "whatever is there", and a stream may allocate its receive buffer at the size asked for.
# 64 KiB is trio's own default receive size; larger loads simply take several reads.
_MAX_READ_SIZE = 65536

_PARTIAL = InputStreamOptions.PARTIAL
_PARTIAL_READ_AHEAD = _PARTIAL | InputStreamOptions.READ_AHEAD
_PARTIAL_BIT, _READ_AHEAD_BIT = int(_PARTIAL), int(InputStreamOptions.READ_AHEAD)


class LoadingBuffer(StreamOwner[InputStream]):
    """The loading half of :class:`~trio_sockets.DataReader` (see the module docstring):
    its buffer, :meth:`load`, and what happens to the buffer when the reader lets its
    stream go."""

    # Only a reader without a stream (which never loads) may hold immutable bytes.
    _buf: bytearray | bytes
    _pos: int
    _end: int
    #: The last read of the stream returned its end (a read past the loaded bytes says so).
    _ended: bool
    _options: InputStreamOptions

    # -- properties -------------------------------------------------------------------------

    @property
    def input_stream_options(self) -> InputStreamOptions:
        """How :meth:`load` completes; default ``NONE``. :exc:`TypeError` if not an
        :class:`InputStreamOptions`, :exc:`ValueError` for unknown flag bits."""
        return self._options

    @input_stream_options.setter
    def input_stream_options(self, value: InputStreamOptions) -> None:
        self._options = check_input_stream_options(value)

    @property
    def unconsumed_buffer_length(self) -> int:
        """Bytes loaded and not yet read."""
        return self._end - self._pos

    # -- loading ----------------------------------------------------------------------------

    async def load(self, count: int) -> int:
        """Read up to *count* bytes from the stream into the buffer; return how many were loaded.

        How it completes depends on :attr:`input_stream_options`:

        * ``NONE``: reads until *count* bytes were loaded or the stream ended, so it returns
          fewer than *count* only at end of stream (and ``0`` once the stream has ended).
        * ``PARTIAL``: completes after the first read that returned any bytes, so it returns
          between 1 and *count* (a socket's first chunk), or ``0`` at end of stream.
        * ``READ_AHEAD`` (alone or with ``PARTIAL``): as without it, but the stream may hand
          back more than asked for; all of it is kept and counted, so the result may
          exceed *count*.

        ``load(0)`` returns ``0`` after a checkpoint.

        Over a stream that keeps its read-ahead (a socket's input stream), ``load`` asks
        it to read ahead whatever the options: one system call takes up to 64 KiB, and
        the surplus is the stream's, lent to this reader for its next loads; neither the
        result nor :attr:`unconsumed_buffer_length` counts it. ``load(4)`` and ``load(n)``
        of a framed message then cost one receive, and the frames that came with it are
        loaded from the reader's own buffer, checking for cancellation without yielding
        to the scheduler. Whoever reads the stream or the socket next (another reader,
        ``read``, ``receive_some``, the stream after :meth:`detach_stream`) gets the lent
        bytes first, in order: the stream takes them back before anything else reads it,
        and so do closing the reader or its stream. Closing the socket drops them with
        everything else it received.

        Raises :exc:`TypeError`/:exc:`ValueError` for a *count* that is not a non-negative
        int, :exc:`NoStreamError` on a reader without a stream (made by :meth:`from_buffer`,
        handed out by ``args.get_data_reader()`` with a whole datagram or message, or after
        :meth:`detach_stream`), :exc:`trio.ClosedResourceError` once closed,
        :exc:`trio.BusyResourceError` if another task is already in ``load`` on this reader,
        and whatever the stream's read raises (bytes loaded before that stay in the buffer).

        Cancellation: every chunk the stream returned before the cancel is already in the
        buffer and counted by :attr:`unconsumed_buffer_length`; only the return value is
        lost. Bytes the stream had not yet returned stay in the stream, so the reader stays
        usable and a later ``load`` continues where this one stopped.
        """
        # The checks of a framed message's two loads come first, each one test.
        stream = self._stream
        if stream is None or self._closed:
            stream = self._require_stream("load")  # raises
        if type(count) is not int or count < 0:
            count = check_count(count, "load")
        if self._busy:
            raise trio.BusyResourceError("another task is already in load() on this DataReader")
        if count == 0:
            await trio.lowlevel.checkpoint()
            return 0
        lent = len(self._buf) - self._end
        if not lent:
            return await self._load_from_stream(stream, count, 0)
        # Loaded from what the stream lent, after a cancel point and without a schedule
        # point, as the stream's own read would be (docs/design.rst, "Receives served
        # from what was already read"): a frame that came with the one before ends here,
        # with nothing awaited and no call to the stream.
        await trio.lowlevel.checkpoint_if_cancelled()
        if lent >= count:
            self._end += count
            return count
        self._end += lent  # all of it, and the stream for the rest
        if int(self._options) & _PARTIAL_BIT:
            return lent
        return await self._load_from_stream(stream, count, lent)

    async def _load_from_stream(self, stream: InputStream, count: int, loaded: int) -> int:
        """Read the stream until *count* bytes are loaded, *loaded* of them already (or
        as the options say), and borrow what it read ahead."""
        self._busy = "load()"
        try:
            options = int(self._options)  # (a flag enum's "&" runs Python code per call)
            keeps = stream.keeps_read_ahead
            # The stream is always asked for PARTIAL reads and this loop supplies NONE's
            # "wait for all of it": each chunk lands in the buffer the moment it arrives, so
            # a cancel never strands received bytes in a half-finished read. A stream that
            # keeps its read-ahead is always asked to read ahead: load(4) and load(n) of a
            # framed message then cost one receive.
            stop_after_first = options & _PARTIAL_BIT
            stream_options = _PARTIAL_READ_AHEAD if keeps or options & _READ_AHEAD_BIT else _PARTIAL
            self._ended = False
            while loaded < count:
                chunk = await stream.read(min(count - loaded, _MAX_READ_SIZE), stream_options)
                if self._closed:
                    raise trio.ClosedResourceError("load: the DataReader was closed meanwhile")
                if not chunk:
                    self._ended = True
                    break
                buffer = self._buf
                pos = self._pos
                if pos and type(buffer) is bytearray:  # (a loading reader's always is)
                    # Drop the consumed prefix: CPython deletes from the front of a
                    # bytearray by moving its start pointer, so this is cheap.
                    del buffer[:pos]
                    self._pos = 0
                # Nothing is lent now (the read took it back), so this follows the
                # loaded bytes.
                buffer += chunk
                self._end = len(buffer)
                loaded += len(chunk)
                if keeps:
                    # The frames that came with this one, borrowed: the next loads take
                    # them from this buffer, and the stream takes back what is left
                    # before anything else reads it (_give_back).
                    buffer += stream.lend_read_ahead(self._give_back)
                if stop_after_first:
                    break
            return loaded
        finally:
            self._busy = ""

    def _give_back(self) -> bytes:
        """What the stream lent and no load has taken: the stream takes it back before
        it reads, lends to another reader or closes (:meth:`InputStream.lend_read_ahead`)."""
        buffer = self._buf
        end = self._end
        if len(buffer) == end or not isinstance(buffer, bytearray):  # (one from bytes: none)
            return b""
        data = bytes(buffer[end:])
        del buffer[end:]
        return data

    def _release(self, stream: InputStream) -> None:
        # Detached or closing: what the stream lent is its own again.
        stream.return_read_ahead(self._give_back)

    # -- detaching and closing --------------------------------------------------------------

    def detach_buffer(self) -> bytes:
        """Take the unconsumed bytes out of the reader, leaving it empty but usable.

        Raises :exc:`trio.ClosedResourceError` once closed and :exc:`trio.BusyResourceError`
        while a :meth:`load` is in progress.
        """
        self._check_not_busy("detach_buffer")
        with memoryview(self._buf) as view:
            data = view[self._pos : self._end].tobytes()
        self._buf = self._buf[self._end :]  # what the stream lent stays lent
        self._pos = self._end = 0
        return data

    def _discard(self) -> None:
        self._buf = bytearray()
        self._pos = self._end = 0
