"""``DataReader``: typed reads over bytes loaded from an input stream (WinRT ``DataReader``).

The reader is a buffer plus a codec: :meth:`DataReader.load` is its only I/O, and every
``read_*`` method is synchronous and decodes bytes that are already loaded. The wire layout of
each type is described in :mod:`trio_sockets._core.codec`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Final, overload

from .._core.checks import shown
from .._core.codec import (
    DEFAULT_BYTE_ORDER,
    DEFAULT_INPUT_STREAM_OPTIONS,
    DEFAULT_UNICODE_ENCODING,
    LAYOUTS,
    TEXT_CODECS,
    CodecSettings,
    check_count,
    decode_string,
    describe,
    guid_from_bytes,
    ticks_to_datetime,
    ticks_to_timedelta,
)
from .interfaces import InputStream
from .loading import LoadingBuffer
from .stream_owner import InsufficientDataError, plural

__all__ = ["DataReader", "ReceivedDatagramReader", "ReceivedMessageReader"]

# Below this size a slice copy of the bytearray beats going through a memoryview (measured:
# the view costs a fixed ~0.2 µs, the double copy wins until about 8 KiB).
_VIEW_COPY_THRESHOLD = 8192


class DataReader(CodecSettings, LoadingBuffer):
    """Reads typed values from bytes loaded from an :class:`InputStream` (WinRT ``DataReader``).

    ``await reader.load(n)`` pulls bytes from the stream into the reader's buffer; the
    ``read_*`` methods then decode them synchronously, in the current :attr:`byte_order` and
    :attr:`unicode_encoding`. A read that needs more bytes than are loaded raises
    :exc:`InsufficientDataError` and consumes nothing.

    The defaults are WinRT's observed ones (its reference pages do not state them):
    ``ByteOrder.BIG_ENDIAN``, ``UnicodeEncoding.UTF8``, ``InputStreamOptions.NONE``.

    .. warning::
       Closing the reader (:meth:`aclose`, or leaving ``async with``) **closes the input
       stream too**, exactly as WinRT's ``DataReader.Close`` does: for a socket's
       ``input_stream`` that stream object stops reading, while the socket itself stays
       open (close it with its own ``aclose()``). To keep using the stream, call
       :meth:`detach_stream` before closing the reader.

    A reader made by :meth:`from_buffer`, and the one ``args.get_data_reader()`` hands out
    for a received datagram or WebSocket message (which holds all of it), owns no stream, so
    it may also be closed synchronously with :meth:`close` or a plain ``with`` block, like
    C#'s ``using``.
    """

    _NAME = "DataReader"
    _STREAM_NAME = "input stream"
    _VARIABLE = "reader"
    _WITHOUT_STREAM = "it was made by from_buffer() and holds only the bytes it was given"
    _PLAIN_WITH = "after from_buffer() or detach_stream()"

    __slots__ = (
        "_buf",
        "_busy",
        "_closed",
        "_detached",
        "_end",
        "_ended",
        "_layout",
        "_options",
        "_pos",
        "_stream",
        "_text",
    )

    def __init__(self, input_stream: InputStream) -> None:
        """Create a reader over *input_stream*; raises :exc:`TypeError` for anything else."""
        if not isinstance(input_stream, InputStream):
            raise TypeError(
                "DataReader needs an InputStream (for example sock.input_stream), got "
                f"{describe(input_stream)}"
            )
        self._setup(input_stream, bytearray())

    def _setup(self, stream: InputStream | None, data: bytearray | bytes) -> None:
        # The buffer's layout is told in .loading.
        self._buf = data
        self._pos = 0
        self._end = len(data)
        self._ended = False
        self._init_codec()
        self._options = DEFAULT_INPUT_STREAM_OPTIONS
        self._own(stream)

    @staticmethod
    def from_buffer(buffer: bytes | bytearray | memoryview) -> DataReader:
        """A reader over the bytes of *buffer*, with no stream (WinRT ``FromBuffer``).

        Later changes to *buffer* do not affect the reader: a mutable buffer is copied, and
        ``bytes`` (which cannot change) are kept, so reading all of them returns the same
        object. Raises :exc:`TypeError` if *buffer* is not a bytes-like object.
        """
        try:
            # Through memoryview, not bytearray(buffer): bytearray(5) would make 5 zero bytes.
            with memoryview(buffer) as view:
                data = buffer if type(buffer) is bytes else bytearray(view)
        except TypeError:
            raise TypeError(
                f"from_buffer: expected a bytes-like object, got {type(buffer).__name__}"
            ) from None
        reader = DataReader.__new__(DataReader)
        reader._setup(None, data)
        return reader

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("stream" if self._stream is not None else "buffer")
        return (
            f"<DataReader {state} unconsumed={self.unconsumed_buffer_length} "
            f"byte_order={self.byte_order.name} unicode_encoding={self._text.encoding.name} "
            f"input_stream_options={self._options!r}>"
        )

    # -- reading ----------------------------------------------------------------------------

    def _need(self, size: int, where: str) -> int:
        """The read position if *size* bytes are loaded; raise otherwise (consuming nothing)."""
        pos = self._pos
        if self._closed or pos + size > self._end:
            raise self._shortage(where, size)
        return pos

    def _shortage(self, where: str, size: int) -> Exception:
        if self._closed:
            return self._closed_error(where)
        available = self._end - self._pos
        return InsufficientDataError.of_read(
            where, size, available, self._stream is not None, self._ended
        )

    def _take_bytes(self, size: int, where: str) -> bytes:
        pos = self._pos
        end = pos + size
        if self._closed or end > self._end:  # _need(), one call less per read_bytes()
            raise self._shortage(where, size)
        buf = self._buf
        if type(buf) is bytes:
            data = buf[pos:end]  # one copy, none for all of them
        elif size < _VIEW_COPY_THRESHOLD:
            data = bytes(buf[pos:end])
        else:
            with memoryview(buf) as view:
                data = view[pos:end].tobytes()
        self._pos = end
        return data

    def read_boolean(self) -> bool:
        """Read one byte as a bool: ``0`` is False, any other value True."""
        pos = self._pos
        if self._closed or pos + 1 > self._end:
            raise self._shortage("read_boolean", 1)
        self._pos = pos + 1
        return self._buf[pos] != 0

    def read_byte(self) -> int:
        """Read one unsigned byte (0..255)."""
        pos = self._pos
        if self._closed or pos + 1 > self._end:
            raise self._shortage("read_byte", 1)
        self._pos = pos + 1
        return self._buf[pos]

    @overload
    def read_bytes(self, count: int, /) -> bytes: ...

    @overload
    def read_bytes(self, buffer: bytearray | memoryview, /) -> None: ...

    def read_bytes(self, count_or_buffer: int | bytearray | memoryview, /) -> bytes | None:
        """Read bytes: ``read_bytes(count)`` returns *count* new bytes, and
        ``read_bytes(buffer)`` fills a writable buffer completely, as WinRT's
        ``ReadBytes(Byte[])`` fills the caller's array, and returns None.

        Raises :exc:`InsufficientDataError` (consuming nothing) if fewer bytes are loaded than
        asked for, :exc:`ValueError` for a negative count, :exc:`TypeError` for a read-only or
        non-contiguous buffer or anything that is neither an int nor a buffer.
        """
        if type(count_or_buffer) is int and count_or_buffer >= 0:  # the common case first
            return self._take_bytes(count_or_buffer, "read_bytes")
        if isinstance(count_or_buffer, int):
            return self._take_bytes(check_count(count_or_buffer, "read_bytes"), "read_bytes")
        self._fill(count_or_buffer)
        return None

    def _fill(self, target: bytearray | memoryview) -> None:
        try:
            view = memoryview(target)
        except TypeError:
            raise TypeError(
                "read_bytes: expected a count (int) or a writable buffer to fill, got "
                f"{describe(target)}"
            ) from None
        with view:
            if view.readonly:
                raise TypeError(
                    f"read_bytes: the {type(target).__name__} to fill is read-only; pass a "
                    "bytearray or writable memoryview, or use read_bytes(count)"
                )
            try:
                dest = view.cast("B")
            except TypeError:
                raise TypeError("read_bytes: the buffer to fill must be C-contiguous") from None
            with dest:
                size = dest.nbytes
                pos = self._need(size, "read_bytes")
                with memoryview(self._buf) as source:
                    dest[:] = source[pos : pos + size]
                self._pos = pos + size

    def read_buffer(self, length: int) -> bytes:
        """Read *length* bytes (WinRT ``ReadBuffer``, which returns an ``IBuffer``).

        Raises :exc:`InsufficientDataError` (consuming nothing) if fewer are loaded,
        :exc:`ValueError`/:exc:`TypeError` for a bad *length*.
        """
        return self._take_bytes(check_count(length, "read_buffer", "length"), "read_buffer")

    def read_int16(self) -> int:
        """Read a signed 16-bit integer in :attr:`byte_order`."""
        pos = self._pos
        if self._closed or pos + 2 > self._end:
            raise self._shortage("read_int16", 2)
        value: int = self._layout.int16.unpack_from(self._buf, pos)[0]
        self._pos = pos + 2
        return value

    def read_uint16(self) -> int:
        """Read an unsigned 16-bit integer in :attr:`byte_order`."""
        pos = self._pos
        if self._closed or pos + 2 > self._end:
            raise self._shortage("read_uint16", 2)
        value: int = self._layout.uint16.unpack_from(self._buf, pos)[0]
        self._pos = pos + 2
        return value

    def read_int32(self) -> int:
        """Read a signed 32-bit integer in :attr:`byte_order`."""
        pos = self._pos
        if self._closed or pos + 4 > self._end:
            raise self._shortage("read_int32", 4)
        value: int = self._layout.int32.unpack_from(self._buf, pos)[0]
        self._pos = pos + 4
        return value

    def read_uint32(self) -> int:
        """Read an unsigned 32-bit integer in :attr:`byte_order`."""
        pos = self._pos
        if self._closed or pos + 4 > self._end:
            raise self._shortage("read_uint32", 4)
        value: int = self._layout.uint32.unpack_from(self._buf, pos)[0]
        self._pos = pos + 4
        return value

    def read_int64(self) -> int:
        """Read a signed 64-bit integer in :attr:`byte_order`."""
        pos = self._pos
        if self._closed or pos + 8 > self._end:
            raise self._shortage("read_int64", 8)
        value: int = self._layout.int64.unpack_from(self._buf, pos)[0]
        self._pos = pos + 8
        return value

    def read_uint64(self) -> int:
        """Read an unsigned 64-bit integer in :attr:`byte_order`."""
        pos = self._pos
        if self._closed or pos + 8 > self._end:
            raise self._shortage("read_uint64", 8)
        value: int = self._layout.uint64.unpack_from(self._buf, pos)[0]
        self._pos = pos + 8
        return value

    def read_single(self) -> float:
        """Read an IEEE 754 binary32 in :attr:`byte_order` (widened exactly to a float;
        a signaling NaN comes back quiet, with its payload, as the widening makes it)."""
        pos = self._pos
        if self._closed or pos + 4 > self._end:
            raise self._shortage("read_single", 4)
        value: float = self._layout.single.unpack_from(self._buf, pos)[0]
        self._pos = pos + 4
        return value

    def read_double(self) -> float:
        """Read an IEEE 754 binary64 in :attr:`byte_order`."""
        pos = self._pos
        if self._closed or pos + 8 > self._end:
            raise self._shortage("read_double", 8)
        value: float = self._layout.double.unpack_from(self._buf, pos)[0]
        self._pos = pos + 8
        return value

    def read_guid(self) -> uuid.UUID:
        """Read a 16-byte GUID: Data1, Data2, Data3 in :attr:`byte_order`, then Data4 as is.

        Little-endian matches :attr:`uuid.UUID.bytes_le`, big-endian :attr:`uuid.UUID.bytes`.
        """
        pos = self._pos
        if self._closed or pos + 16 > self._end:
            raise self._shortage("read_guid", 16)
        value = guid_from_bytes(bytes(self._buf[pos : pos + 16]), self._layout.byte_order)
        self._pos = pos + 16
        return value

    def read_date_time(self) -> datetime:
        """Read a WinRT ``DateTime`` (Int64 100-ns ticks since 1601-01-01 UTC) as an aware UTC
        datetime.

        The sub-microsecond part of the ticks, which a datetime cannot hold, is dropped
        (rounding toward the past). Raises :exc:`ValueError`, consuming nothing, if the
        instant is outside the years 1..9999 a datetime holds; ``read_int64`` then reads the
        raw ticks.
        """
        pos = self._pos
        if self._closed or pos + 8 > self._end:
            raise self._shortage("read_date_time", 8)
        value = ticks_to_datetime(self._layout.int64.unpack_from(self._buf, pos)[0])
        self._pos = pos + 8
        return value

    def read_time_span(self) -> timedelta:
        """Read a WinRT ``TimeSpan`` (Int64 100-ns ticks) as a timedelta.

        The sub-microsecond part is dropped, rounding toward negative infinity (within a
        microsecond of ``TimeSpan.MinValue``, to the least span :meth:`DataWriter.write_time_span`
        takes, so every span read can be written back).
        """
        pos = self._pos
        if self._closed or pos + 8 > self._end:
            raise self._shortage("read_time_span", 8)
        value = ticks_to_timedelta(self._layout.int64.unpack_from(self._buf, pos)[0])
        self._pos = pos + 8
        return value

    def read_string(self, code_unit_count: int) -> str:
        """Read a string of *code_unit_count* code units of :attr:`unicode_encoding`.

        A code unit is a byte in UTF-8 and two bytes in UTF-16, where a character outside the
        Basic Multilingual Plane (a surrogate pair) is two units. A byte-order mark is not
        stripped. Raises :exc:`InsufficientDataError` if fewer bytes are loaded, and
        :exc:`UnicodeDecodeError` for bytes that do not decode (including a character cut in
        two by the count); neither consumes anything. :exc:`ValueError`/:exc:`TypeError` for a
        bad count.
        """
        count = code_unit_count
        if count.__class__ is not int or count < 0:
            count = check_count(code_unit_count, "read_string", "code_unit_count")
        text = self._text
        size = count * text.unit_size
        pos = self._pos
        if self._closed or pos + size > self._end:
            units = (
                "" if size == count else f" ({plural(count, 'code unit')} of {text.encoding.name})"
            )
            raise self._shortage(f"read_string({shown(count)}){units}", size)
        if size < _VIEW_COPY_THRESHOLD:
            value = decode_string(self._buf[pos : pos + size], text)
        else:
            # Both views released on the way out, also by a UnicodeDecodeError: its
            # traceback keeps them, and an export would pin the buffer's size.
            with memoryview(self._buf) as view, view[pos : pos + size] as part:
                value = decode_string(part, text)
        self._pos = pos + size
        return value


# -- the readers of received data ----------------------------------------------------------
# A datagram's or a WebSocket message's reader is a DataReader with no stream, made per
# message; these subclasses differ only in what their errors say about the missing stream
# (a class attribute: no memory per reader).


_LAYOUT: Final = LAYOUTS[DEFAULT_BYTE_ORDER]
_TEXT: Final = TEXT_CODECS[DEFAULT_UNICODE_ENCODING]


class _ReceivedReader(DataReader):
    """A reader over one received datagram or message *data*, as
    :meth:`DataReader.from_buffer` makes it, but a ``load()`` or ``detach_stream()``
    says it holds the whole datagram or message instead of naming ``from_buffer()``.
    Made and closed once per message, so both are written out (no ``_setup``, no
    ``_mark_closed``)."""

    __slots__ = ()

    def __init__(self, data: bytes) -> None:
        # bytes cannot change, so they are kept, as from_buffer() keeps them.
        self._buf = data if type(data) is bytes else bytes(data)
        self._pos = 0
        self._end = len(data)
        self._ended = False
        self._layout = _LAYOUT
        self._text = _TEXT
        self._options = DEFAULT_INPUT_STREAM_OPTIONS
        self._stream = None
        self._detached = self._closed = False
        self._busy = ""

    def close(self) -> None:
        """Close the reader; bytes not yet read are discarded."""
        self._closed = True
        self._buf = b""
        self._pos = self._end = 0


class ReceivedDatagramReader(_ReceivedReader):
    """The reader ``args.get_data_reader()`` hands out for a received datagram."""

    __slots__ = ()
    _WITHOUT_STREAM = (
        "it holds a whole received datagram (args.get_data_reader()), so nothing needs "
        "loading: read its unconsumed_buffer_length bytes, or use args.get_data_stream() "
        "for a stream"
    )


class ReceivedMessageReader(_ReceivedReader):
    """The reader ``args.get_data_reader()`` hands out for a received WebSocket message."""

    __slots__ = ()
    _WITHOUT_STREAM = (
        "it holds a whole received message (args.get_data_reader(); in PARTIAL_MESSAGE "
        "mode, the piece that arrived), so nothing needs loading: read its "
        "unconsumed_buffer_length bytes, or use args.get_data_stream() for a stream"
    )
