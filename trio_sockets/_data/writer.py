"""``DataWriter``: typed writes into a buffer stored to an output stream (WinRT ``DataWriter``).

Every ``write_*`` method is synchronous and only appends to the writer's buffer;
:meth:`DataWriter.store` is the I/O that hands the buffer to the stream. The wire layout of each
type is described in :mod:`trio_sockets._core.codec`.
"""

from __future__ import annotations

import struct
import uuid
from datetime import datetime, timedelta

import trio

from .._core.checks import shown
from .._core.codec import (
    INT16_RANGE,
    INT32_RANGE,
    INT64_RANGE,
    UINT8_RANGE,
    UINT16_RANGE,
    UINT32_RANGE,
    UINT64_RANGE,
    CodecSettings,
    check_count,
    check_float,
    check_int,
    datetime_to_ticks,
    describe,
    encode_string,
    guid_to_bytes,
    measure_string,
    timedelta_to_ticks,
)
from .interfaces import OutputStream
from .stream_owner import StreamOwner

__all__ = ["DataWriter"]


class DataWriter(CodecSettings, StreamOwner[OutputStream]):
    """Writes typed values into a buffer and stores it to an :class:`OutputStream`
    (WinRT ``DataWriter``).

    The ``write_*`` methods append to the buffer in the current :attr:`byte_order` and
    :attr:`unicode_encoding`; nothing is sent until ``await writer.store()``, which hands
    everything buffered to the stream as one write (on a datagram stream, one datagram).

    ``DataWriter()`` without a stream only builds bytes in memory: take them with
    :meth:`detach_buffer`.

    The defaults are WinRT's observed ones (its reference pages do not state them):
    ``ByteOrder.BIG_ENDIAN`` and ``UnicodeEncoding.UTF8``.

    .. warning::
       Closing the writer (:meth:`aclose`, or leaving ``async with``) **closes the output
       stream too**, exactly as WinRT's ``DataWriter.Close`` does: for a socket's
       ``output_stream`` that stream object is flushed and takes no more writes, while the
       socket itself stays open (close it with its own ``aclose()``). Bytes written but not
       stored are discarded, as in WinRT. To keep using the stream, ``store()`` and then call
       :meth:`detach_stream` before closing the writer.
    """

    _NAME = "DataWriter"
    _STREAM_NAME = "output stream"
    _VARIABLE = "writer"
    _WITHOUT_STREAM = "it was made without one, so take the bytes with detach_buffer()"
    _PLAIN_WITH = "without a stream or after detach_stream()"

    __slots__ = ("_buf", "_busy", "_closed", "_detached", "_layout", "_stream", "_text")

    def __init__(self, output_stream: OutputStream | None = None) -> None:
        """Create a writer over *output_stream*, or an in-memory one if it is None.

        Raises :exc:`TypeError` if *output_stream* is neither an :class:`OutputStream` nor None.
        """
        given: object = output_stream  # typed wider: callers without type checking
        if given is not None and not isinstance(given, OutputStream):
            raise TypeError(
                "DataWriter needs an OutputStream (for example sock.output_stream) or None, got "
                f"{describe(given)}"
            )
        self._buf = bytearray()
        self._init_codec()
        self._own(output_stream)

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("stream" if self._stream is not None else "memory")
        return (
            f"<DataWriter {state} unstored={len(self._buf)} "
            f"byte_order={self.byte_order.name} unicode_encoding={self._text.encoding.name}>"
        )

    # -- properties -------------------------------------------------------------------------

    @property
    def unstored_buffer_length(self) -> int:
        """Bytes written and not yet stored (or detached)."""
        return len(self._buf)

    # -- writing ----------------------------------------------------------------------------

    def _checked_int(
        self, value: object, where: str, type_name: str, bounds: tuple[int, int]
    ) -> int:
        # The slow path of the integer writers, taken only when the one-line fast check
        # (open, exact int, in range) fails: it raises the right error or converts int-likes
        # (IntEnum members, numpy integers) to int.
        if self._closed:
            raise self._closed_error(where)
        return check_int(value, where, type_name, bounds)

    def _write_float(self, codec: struct.Struct, value: float, where: str, type_name: str) -> None:
        if self._closed:
            raise self._closed_error(where)
        if value.__class__ is not float:
            value = check_float(value, where, type_name)
        try:
            self._buf += codec.pack(value)
        except OverflowError:
            raise ValueError(
                f"{where}: {value!r} is out of range for {type_name} "
                "(largest finite binary32: 3.4028234663852886e+38)"
            ) from None

    def write_boolean(self, value: bool) -> None:
        """Write a bool as one byte, ``1`` or ``0``. :exc:`TypeError` if *value* is not a bool."""
        if self._closed:
            raise self._closed_error("write_boolean")
        if value is True:
            self._buf.append(1)
        elif value is False:
            self._buf.append(0)
        else:
            raise TypeError(f"write_boolean: expected a bool, got {describe(value)}")

    def write_byte(self, value: int) -> None:
        """Write one unsigned byte; :exc:`ValueError` outside 0..255, :exc:`TypeError` for a
        non-int or a bool."""
        if self._closed or value.__class__ is not int or not 0 <= value <= 0xFF:
            value = self._checked_int(value, "write_byte", "Byte", UINT8_RANGE)
        self._buf.append(value)

    def write_bytes(self, value: bytes | bytearray | memoryview) -> None:
        """Write the bytes of a bytes-like object (WinRT ``WriteBytes``); they are copied.

        Raises :exc:`TypeError` for anything that is not bytes-like (a str must be written
        with :meth:`write_string`).
        """
        if self._closed:
            raise self._closed_error("write_bytes")
        try:
            self._buf += value
        except TypeError:
            self._write_view(value, "write_bytes")

    def _write_view(self, value: object, where: str) -> None:
        # The slow path: `bytearray +=` refuses non-contiguous views, which tobytes() flattens.
        try:
            view = memoryview(value)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"{where}: expected a bytes-like object, got {describe(value)}"
            ) from None
        with view:
            self._buf += view.tobytes()

    def write_buffer(
        self, buffer: bytes | bytearray | memoryview, start: int = 0, count: int | None = None
    ) -> None:
        """Write *count* bytes of *buffer* from offset *start* (WinRT ``WriteBuffer``); the
        default is everything from *start* to the end.

        Raises :exc:`ValueError` if the range is negative or runs past the end of *buffer*,
        :exc:`TypeError` for a non-int *start*/*count* or a *buffer* that is not bytes-like
        or not C-contiguous.
        """
        if self._closed:
            raise self._closed_error("write_buffer")
        start = check_count(start, "write_buffer", "start")
        if count is not None:
            count = check_count(count, "write_buffer", "count")
        given: object = buffer  # typed wider: callers without type checking may pass anything
        try:
            view = memoryview(given)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"write_buffer: expected a bytes-like object, got {type(given).__name__}"
            ) from None
        with view:
            try:
                data = view.cast("B")
            except TypeError:
                raise TypeError("write_buffer: the buffer must be C-contiguous") from None
            with data:
                length = data.nbytes
                if start > length:
                    raise ValueError(
                        f"write_buffer: start {shown(start)} is past the end of the "
                        f"{length}-byte buffer"
                    )
                if count is None:
                    count = length - start
                elif start + count > length:
                    raise ValueError(
                        f"write_buffer: start {shown(start)} + count {shown(count)} runs past "
                        f"the end of the {length}-byte buffer"
                    )
                self._buf += data[start : start + count]

    def write_int16(self, value: int) -> None:
        """Write a signed 16-bit integer; :exc:`ValueError` outside -32768..32767."""
        if self._closed or value.__class__ is not int or not -0x8000 <= value <= 0x7FFF:
            value = self._checked_int(value, "write_int16", "Int16", INT16_RANGE)
        self._buf += self._layout.int16.pack(value)

    def write_uint16(self, value: int) -> None:
        """Write an unsigned 16-bit integer; :exc:`ValueError` outside 0..65535."""
        if self._closed or value.__class__ is not int or not 0 <= value <= 0xFFFF:
            value = self._checked_int(value, "write_uint16", "UInt16", UINT16_RANGE)
        self._buf += self._layout.uint16.pack(value)

    def write_int32(self, value: int) -> None:
        """Write a signed 32-bit integer; :exc:`ValueError` outside -2**31..2**31-1."""
        if self._closed or value.__class__ is not int or not -0x8000_0000 <= value <= 0x7FFF_FFFF:
            value = self._checked_int(value, "write_int32", "Int32", INT32_RANGE)
        self._buf += self._layout.int32.pack(value)

    def write_uint32(self, value: int) -> None:
        """Write an unsigned 32-bit integer; :exc:`ValueError` outside 0..2**32-1."""
        if self._closed or value.__class__ is not int or not 0 <= value <= 0xFFFF_FFFF:
            value = self._checked_int(value, "write_uint32", "UInt32", UINT32_RANGE)
        self._buf += self._layout.uint32.pack(value)

    def write_int64(self, value: int) -> None:
        """Write a signed 64-bit integer; :exc:`ValueError` outside -2**63..2**63-1."""
        if (
            self._closed
            or value.__class__ is not int
            or not -0x8000_0000_0000_0000 <= value <= 0x7FFF_FFFF_FFFF_FFFF
        ):
            value = self._checked_int(value, "write_int64", "Int64", INT64_RANGE)
        self._buf += self._layout.int64.pack(value)

    def write_uint64(self, value: int) -> None:
        """Write an unsigned 64-bit integer; :exc:`ValueError` outside 0..2**64-1."""
        if self._closed or value.__class__ is not int or not 0 <= value <= 0xFFFF_FFFF_FFFF_FFFF:
            value = self._checked_int(value, "write_uint64", "UInt64", UINT64_RANGE)
        self._buf += self._layout.uint64.pack(value)

    def write_single(self, value: float) -> None:
        """Write an IEEE 754 binary32, rounding *value* to the nearest one.

        Raises :exc:`ValueError` if *value* is finite but beyond binary32's range (infinities
        and NaN are written as such), :exc:`TypeError` for a non-number or a bool.
        """
        self._write_float(self._layout.single, value, "write_single", "Single")

    def write_double(self, value: float) -> None:
        """Write an IEEE 754 binary64; :exc:`TypeError` for a non-number or a bool."""
        self._write_float(self._layout.double, value, "write_double", "Double")

    def write_guid(self, value: uuid.UUID) -> None:
        """Write a 16-byte GUID: Data1, Data2, Data3 in :attr:`byte_order`, then Data4 as is.

        Little-endian writes :attr:`uuid.UUID.bytes_le`, big-endian :attr:`uuid.UUID.bytes`.
        Raises :exc:`TypeError` if *value* is not a :class:`uuid.UUID`.
        """
        if self._closed:
            raise self._closed_error("write_guid")
        self._buf += guid_to_bytes(value, self._layout.byte_order)

    def write_date_time(self, value: datetime) -> None:
        """Write an aware datetime as a WinRT ``DateTime``: Int64 100-ns ticks since
        1601-01-01T00:00:00Z, taken at the UTC instant of *value*.

        Raises :exc:`ValueError` for a naive datetime or one whose UTC instant is outside
        the years 1..9999 (which :meth:`DataReader.read_date_time` could not read back),
        :exc:`TypeError` for a non-datetime.
        """
        if self._closed:
            raise self._closed_error("write_date_time")
        self._buf += self._layout.int64.pack(datetime_to_ticks(value))

    def write_time_span(self, value: timedelta) -> None:
        """Write a timedelta as a WinRT ``TimeSpan``: Int64 100-ns ticks.

        Raises :exc:`ValueError` beyond about ±29,000 years, :exc:`TypeError` for a
        non-timedelta.
        """
        if self._closed:
            raise self._closed_error("write_time_span")
        self._buf += self._layout.int64.pack(timedelta_to_ticks(value))

    def write_string(self, value: str) -> int:
        """Write *value* in :attr:`unicode_encoding` (no length prefix, no byte-order mark)
        and return its length in **bytes**.

        ``DataReader.read_string`` counts code units instead: the same number for UTF-8,
        half of it for UTF-16. Raises :exc:`ValueError` for a string with a lone surrogate,
        which no encoding can carry, and :exc:`TypeError` for a non-str; nothing is written
        then.
        """
        if self._closed:
            raise self._closed_error("write_string")
        data = encode_string(value, self._text)
        self._buf += data
        return len(data)

    def measure_string(self, value: str) -> int:
        """The length in bytes :meth:`write_string` would write for *value*; writes nothing.

        Raises as :meth:`write_string` does for a value it cannot write, and
        :exc:`trio.ClosedResourceError` once the writer is closed.
        """
        if self._closed:
            raise self._closed_error("measure_string")
        return measure_string(value, self._text)

    # -- storing ----------------------------------------------------------------------------

    async def store(self) -> int:
        """Hand every buffered byte to the stream as **one** write; return the bytes written.

        One store is one ``output_stream.write(...)`` call, so on a datagram stream one store
        sends one datagram. The buffer is emptied as the write is handed over; storing an
        empty buffer writes nothing and returns ``0`` (after a checkpoint).

        Raises :exc:`NoStreamError` on a writer without a stream, :exc:`trio.ClosedResourceError`
        once closed, :exc:`trio.BusyResourceError` if another task is already in ``store``,
        and whatever the write raises.

        Cancellation: a cancel that arrives before the write is handed over leaves the bytes
        in the buffer and sends nothing. Once handed over the write runs on (stream writes
        start at once and run on in the socket's block) and its bytes are no longer in the
        buffer; a cancel then only stops the waiting, and ``await flush()`` reports the
        outcome.
        """
        stream = self._stream
        if stream is None or self._closed:
            stream = self._require_stream("store")  # raises
        if self._busy:
            raise trio.BusyResourceError("another task is already in store() on this DataWriter")
        if not self._buf:
            await trio.lowlevel.checkpoint()
            return 0
        self._busy = "store()"
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            data = bytes(self._buf)
            operation = stream.write(data)
            # Cleared only after write() accepted the bytes: if it raises, they stay buffered.
            self._buf.clear()
            if operation.await_checkpoints or not operation.done:
                return await operation
            # A write that finished at once may not yield when awaited; the schedule point
            # keeps store() a full checkpoint, as trio's rules ask of every async call.
            written = await operation
            await trio.lowlevel.cancel_shielded_checkpoint()
            return written
        finally:
            self._busy = ""

    async def flush(self) -> bool:
        """Wait until every write started on the stream so far has completed; return True.

        This is the stream's ``flush`` (see :meth:`OutputStream.flush`): bytes still in the
        writer's buffer are **not** stored by it, so ``store()`` first. Raises
        :exc:`NoStreamError` without a stream, :exc:`trio.ClosedResourceError` once closed,
        and the first failure of any of those writes.

        Cancellation: only the waiting stops; the writes go on.
        """
        stream = self._require_stream("flush")
        await stream.flush()
        return True

    # -- detaching and closing --------------------------------------------------------------

    def detach_buffer(self) -> bytes:
        """Take the unstored bytes out of the writer, leaving it empty but usable.

        Raises :exc:`trio.ClosedResourceError` once closed.
        """
        if self._closed:
            raise self._closed_error("detach_buffer")
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def _discard(self) -> None:
        self._buf = bytearray()
