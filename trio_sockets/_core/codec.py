"""The pure wire encoding shared by :class:`DataReader` and :class:`DataWriter` (no I/O).

WinRT's reference pages do not document the defaults or the layout of the non-integer types
(reference §14). The choices below are what Windows is observed to do, and they are fixed here
once so the reader and the writer cannot disagree:

* Defaults: ``ByteOrder.BIG_ENDIAN``, ``UnicodeEncoding.UTF8``, ``InputStreamOptions.NONE``.
* Boolean: one byte, ``0`` or ``1`` on write; any non-zero byte reads as ``True``.
* Integers: two's complement (signed) or plain binary (unsigned) in the current byte order.
* Single / Double: IEEE 754 binary32 / binary64 in the current byte order.
* GUID: ``Data1`` (UInt32), ``Data2`` and ``Data3`` (UInt16) in the current byte order, then the
  eight ``Data4`` bytes as they are. Little-endian is :attr:`uuid.UUID.bytes_le`, big-endian is
  :attr:`uuid.UUID.bytes`.
* DateTime: Int64 count of 100-ns ticks since 1601-01-01T00:00:00Z (WinRT ``UniversalTime``).
* TimeSpan: Int64 count of 100-ns ticks.
* Strings: UTF-8, UTF-16LE or UTF-16BE, no byte-order mark added or stripped, no terminator;
  lengths on read are counted in code units of the encoding (bytes for UTF-8, 2-byte units for
  UTF-16, so a character outside the BMP is 2 units there).
"""

from __future__ import annotations

import math
import operator
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .checks import check_enum, describe, shown
from .enums import ByteOrder, InputStreamOptions, UnicodeEncoding

__all__ = [
    "CodecSettings",
    "DEFAULT_BYTE_ORDER",
    "DEFAULT_INPUT_STREAM_OPTIONS",
    "DEFAULT_UNICODE_ENCODING",
    "EPOCH_1601",
    "INT16_RANGE",
    "INT32_RANGE",
    "INT64_RANGE",
    "LAYOUTS",
    "TICKS_PER_MICROSECOND",
    "TEXT_CODECS",
    "TICKS_PER_SECOND",
    "UINT8_RANGE",
    "UINT16_RANGE",
    "UINT32_RANGE",
    "UINT64_RANGE",
    "UNIX_EPOCH_TICKS",
    "Layout",
    "TextCodec",
    "check_byte_order",
    "check_count",
    "check_float",
    "check_input_stream_options",
    "check_int",
    "check_unicode_encoding",
    "count_code_units",
    "datetime_to_ticks",
    "decode_string",
    "describe",
    "encode_string",
    "guid_from_bytes",
    "guid_to_bytes",
    "measure_string",
    "ticks_to_datetime",
    "ticks_to_timedelta",
    "timedelta_to_ticks",
]

DEFAULT_BYTE_ORDER = ByteOrder.BIG_ENDIAN
DEFAULT_UNICODE_ENCODING = UnicodeEncoding.UTF8
DEFAULT_INPUT_STREAM_OPTIONS = InputStreamOptions.NONE

UINT8_RANGE = (0, 0xFF)
INT16_RANGE = (-(2**15), 2**15 - 1)
UINT16_RANGE = (0, 2**16 - 1)
INT32_RANGE = (-(2**31), 2**31 - 1)
UINT32_RANGE = (0, 2**32 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)
UINT64_RANGE = (0, 2**64 - 1)

TICKS_PER_MICROSECOND = 10
TICKS_PER_SECOND = 10_000_000
#: WinRT ``DateTime`` zero: 1601-01-01T00:00:00Z, the start of the Gregorian 400-year cycle
#: Windows FILETIME counts from.
EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
#: 1970-01-01T00:00:00Z in WinRT ticks.
UNIX_EPOCH_TICKS = 116_444_736_000_000_000


@dataclass(frozen=True, slots=True)
class Layout:
    """Precompiled :class:`struct.Struct` objects for one byte order.

    Built once per byte order at import, so a read or write costs one ``unpack_from`` or
    ``pack`` and no format parsing.
    """

    byte_order: ByteOrder
    int16: struct.Struct
    uint16: struct.Struct
    int32: struct.Struct
    uint32: struct.Struct
    int64: struct.Struct
    uint64: struct.Struct
    single: struct.Struct
    double: struct.Struct


def _layout(byte_order: ByteOrder, prefix: str) -> Layout:
    s = struct.Struct
    return Layout(
        byte_order,
        s(prefix + "h"),
        s(prefix + "H"),
        s(prefix + "i"),
        s(prefix + "I"),
        s(prefix + "q"),
        s(prefix + "Q"),
        s(prefix + "f"),
        s(prefix + "d"),
    )


#: The layout for each byte order.
LAYOUTS: dict[ByteOrder, Layout] = {
    ByteOrder.LITTLE_ENDIAN: _layout(ByteOrder.LITTLE_ENDIAN, "<"),
    ByteOrder.BIG_ENDIAN: _layout(ByteOrder.BIG_ENDIAN, ">"),
}


@dataclass(frozen=True, slots=True)
class TextCodec:
    """How one :class:`UnicodeEncoding` is encoded: the Python codec and the code-unit size.

    Reader and writer keep the current one in an attribute, because looking an enum member up
    in a dict costs a Python-level ``Enum.__hash__`` on every string read or write.
    """

    encoding: UnicodeEncoding
    #: The Python codec. The explicit-endian UTF-16 codecs (and plain UTF-8) neither add nor
    #: strip a byte-order mark, so the bytes are exactly the text's code units.
    name: str
    #: Bytes per code unit: ``read_string`` counts code units.
    unit_size: int


#: The text codec of each encoding.
TEXT_CODECS: dict[UnicodeEncoding, TextCodec] = {
    UnicodeEncoding.UTF8: TextCodec(UnicodeEncoding.UTF8, "utf-8", 1),
    UnicodeEncoding.UTF16LE: TextCodec(UnicodeEncoding.UTF16LE, "utf-16-le", 2),
    UnicodeEncoding.UTF16BE: TextCodec(UnicodeEncoding.UTF16BE, "utf-16-be", 2),
}


# -- argument checks ---------------------------------------------------------------------------


def check_int(value: object, where: str, type_name: str, bounds: tuple[int, int]) -> int:
    """Return *value* as an ``int`` within *bounds*, for the argument of *where*.

    Raises :exc:`TypeError` for a non-integer and for a ``bool`` (``write_int32(True)`` is
    almost surely a mix-up with ``write_boolean``), :exc:`ValueError` when out of range.
    """
    if isinstance(value, bool):
        raise TypeError(f"{where}: expected an int for {type_name}, got the bool {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{where}: expected an int for {type_name}, got {describe(value)}"
        ) from None
    low, high = bounds
    if not low <= number <= high:
        raise ValueError(
            f"{where}: {shown(number)} is out of range for {type_name} ({low}..{high})"
        )
    return number


def check_float(value: object, where: str, type_name: str) -> float:
    """Return *value* as a ``float``, for the argument of *where*.

    Accepts ints and anything with ``__float__`` but not a ``bool``; raises :exc:`TypeError`
    otherwise, and :exc:`ValueError` for a finite number too large for any float (an int,
    or a :class:`~decimal.Decimal` that ``float()`` would make infinite) or one that has no
    float value (a signaling NaN).
    """
    if isinstance(value, bool) or not hasattr(type(value), "__float__"):
        raise TypeError(f"{where}: expected a float for {type_name}, got {describe(value)}")
    try:
        result = float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise ValueError(f"{where}: {shown(value)} is out of range for {type_name}") from None
    except (ValueError, ArithmeticError) as exc:
        raise ValueError(f"{where}: {shown(value)} has no {type_name} value ({exc})") from None
    if math.isinf(result) and value != result:  # finite, rounded to infinity
        raise ValueError(f"{where}: {shown(value)} is out of range for {type_name}")
    return result


def check_count(value: object, where: str, what: str = "count") -> int:
    """Return *value* as a non-negative ``int`` (a byte or code-unit count).

    Raises :exc:`TypeError` for a non-integer or a ``bool``, :exc:`ValueError` if negative.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {what} must be an int, got {describe(value)}")
    if value < 0:
        raise ValueError(f"{where}: {what} must not be negative, got {shown(value)}")
    return value


def check_byte_order(value: object) -> ByteOrder:
    """Return *value* if it is a :class:`ByteOrder`; else raise :exc:`TypeError` naming it."""
    return check_enum("byte_order", value, ByteOrder)


def check_unicode_encoding(value: object) -> UnicodeEncoding:
    """Return *value* if it is a :class:`UnicodeEncoding`; else raise :exc:`TypeError`."""
    return check_enum("unicode_encoding", value, UnicodeEncoding)


_ALL_INPUT_STREAM_OPTIONS = InputStreamOptions.PARTIAL | InputStreamOptions.READ_AHEAD


def check_input_stream_options(
    value: object, name: str = "input_stream_options"
) -> InputStreamOptions:
    """Return *value* if it is an :class:`InputStreamOptions` combination.

    Raises :exc:`TypeError` for anything else, :exc:`ValueError` for unknown flag bits.
    """
    options = check_enum(name, value, InputStreamOptions)
    unknown = int(options) & ~int(_ALL_INPUT_STREAM_OPTIONS)
    if unknown:
        raise ValueError(f"{name} {int(options):#x} has unknown flag bits {unknown:#x}")
    return options


# -- GUID --------------------------------------------------------------------------------------


def guid_to_bytes(value: uuid.UUID, byte_order: ByteOrder, where: str = "write_guid") -> bytes:
    """The 16 wire bytes of *value* in *byte_order*; :exc:`TypeError` if not a UUID."""
    if not isinstance(value, uuid.UUID):
        raise TypeError(f"{where}: expected a uuid.UUID, got {describe(value)}")
    return value.bytes if byte_order is ByteOrder.BIG_ENDIAN else value.bytes_le


def guid_from_bytes(data: bytes, byte_order: ByteOrder) -> uuid.UUID:
    """The UUID whose wire form in *byte_order* is the 16 bytes *data*."""
    if byte_order is ByteOrder.BIG_ENDIAN:
        return uuid.UUID(bytes=data)
    return uuid.UUID(bytes_le=data)


# -- DateTime and TimeSpan ---------------------------------------------------------------------

_TIMESPAN_MIN = timedelta(microseconds=-((2**63) // TICKS_PER_MICROSECOND))
_TIMESPAN_MAX = timedelta(microseconds=(2**63 - 1) // TICKS_PER_MICROSECOND)


def timedelta_to_ticks(value: timedelta, where: str = "write_time_span") -> int:
    """*value* as an Int64 count of 100-ns ticks (exact: a timedelta holds whole microseconds).

    Raises :exc:`TypeError` if *value* is not a timedelta, :exc:`ValueError` if it does not fit
    an Int64 of ticks (about ±29,000 years).
    """
    if not isinstance(value, timedelta):
        raise TypeError(f"{where}: expected a datetime.timedelta, got {describe(value)}")
    ticks = (
        value.days * 86_400 + value.seconds
    ) * TICKS_PER_SECOND + value.microseconds * TICKS_PER_MICROSECOND
    if not INT64_RANGE[0] <= ticks <= INT64_RANGE[1]:
        raise ValueError(
            f"{where}: {value!r} does not fit a TimeSpan (Int64 of 100-ns ticks, "
            f"{_TIMESPAN_MIN!r}..{_TIMESPAN_MAX!r})"
        )
    return ticks


def ticks_to_timedelta(ticks: int) -> timedelta:
    """The timedelta of *ticks* 100-ns ticks, rounded down to a whole microsecond, but
    never below :data:`_TIMESPAN_MIN` (the least span that can be written back).

    Every Int64 tick count fits a timedelta, so this never fails.
    """
    # Floor division rounds toward the past for negative spans too, the same rule as
    # ticks_to_datetime, so a span read and added to a date read agree. Within a
    # microsecond of TimeSpan.MinValue that would fall below it.
    return max(timedelta(microseconds=ticks // TICKS_PER_MICROSECOND), _TIMESPAN_MIN)


def datetime_to_ticks(value: datetime, where: str = "write_date_time") -> int:
    """*value* as WinRT ``UniversalTime``: Int64 100-ns ticks since 1601-01-01T00:00:00Z.

    An aware datetime is taken at its UTC instant. Raises :exc:`TypeError` if *value* is not a
    datetime, :exc:`ValueError` if it is naive (which instant it means is unknowable).
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{where}: expected a datetime.datetime, got {describe(value)}")
    if value.utcoffset() is None:
        raise ValueError(
            f"{where}: {value!r} is naive; give it a timezone "
            "(e.g. value.replace(tzinfo=datetime.timezone.utc)) so its instant is known"
        )
    # Subtracting aware datetimes works on UTC instants without building the UTC datetime,
    # so even datetime.min with a positive offset converts (every datetime fits an Int64
    # of ticks). An instant outside years 1..9999 UTC (datetime.min at +01:00) is
    # refused: read_date_time could not give it back.
    ticks = timedelta_to_ticks(value - EPOCH_1601, where)
    if not _DATETIME_TICKS[0] <= ticks <= _DATETIME_TICKS[1]:
        raise ValueError(
            f"{where}: {shown(value)} is, in UTC, outside the years 1..9999 that a datetime "
            "holds (read_date_time could not read it back)"
        )
    return ticks


#: The ticks of the first and last instants a datetime holds (years 1..9999 UTC).
_DATETIME_TICKS = (
    timedelta_to_ticks(datetime.min.replace(tzinfo=UTC) - EPOCH_1601),
    timedelta_to_ticks(datetime.max.replace(tzinfo=UTC) - EPOCH_1601),
)


def ticks_to_datetime(ticks: int, where: str = "read_date_time") -> datetime:
    """The aware UTC datetime *ticks* 100-ns ticks after 1601-01-01T00:00:00Z.

    The sub-microsecond part (ticks not divisible by 10) is dropped, rounding toward the past.
    Raises :exc:`ValueError` if the instant is outside what :class:`datetime.datetime` holds
    (years 1 to 9999 UTC).
    """
    try:
        return EPOCH_1601 + timedelta(microseconds=ticks // TICKS_PER_MICROSECOND)
    except OverflowError:
        raise ValueError(
            f"{where}: {ticks} ticks since 1601 is outside the years 1..9999 that "
            "datetime can hold; read the raw ticks with read_int64() instead"
        ) from None


# -- strings -----------------------------------------------------------------------------------


def _encode_error(value: str, codec: TextCodec, where: str, exc: Exception) -> ValueError:
    start = getattr(exc, "start", 0)
    char = value[start] if start < len(value) else ""
    return ValueError(
        f"{where}: the string {shown(value)} holds a lone surrogate {char!r} "
        f"(U+{ord(char) if char else 0:04X}) at index {start}, which "
        f"{codec.name.upper()} cannot encode"
    )


def encode_string(value: str, codec: TextCodec, where: str = "write_string") -> bytes:
    """*value* encoded with *codec*, without a byte-order mark or terminator.

    Raises :exc:`TypeError` if *value* is not a str, :exc:`ValueError` if it holds a lone
    surrogate (no Unicode encoding can carry one).
    """
    if not isinstance(value, str):
        raise TypeError(f"{where}: expected a str, got {describe(value)}")
    try:
        return value.encode(codec.name)
    except UnicodeEncodeError as exc:
        raise _encode_error(value, codec, where, exc) from None


def measure_string(value: str, codec: TextCodec, where: str = "measure_string") -> int:
    """How many bytes :func:`encode_string` would produce; raises as it does."""
    # ASCII is the common case and its size is known without encoding (str.isascii is O(1)).
    if isinstance(value, str) and value.isascii():
        return len(value) * codec.unit_size
    return len(encode_string(value, codec, where))


def count_code_units(value: str, encoding: UnicodeEncoding) -> int:
    """How many code units of *encoding* *value* takes: the count ``read_string`` wants.

    Equal to the byte length for UTF-8 and half of it for UTF-16. Raises as
    :func:`encode_string` does.
    """
    codec = TEXT_CODECS[check_unicode_encoding(encoding)]
    return measure_string(value, codec, "count_code_units") // codec.unit_size


def decode_string(
    data: bytes | bytearray | memoryview, codec: TextCodec, where: str = "read_string"
) -> str:
    """*data* decoded strictly with *codec*; a byte-order mark is kept as U+FEFF.

    Raises :exc:`UnicodeDecodeError` for bytes that are not valid in the encoding, including
    a multi-byte character or surrogate pair cut in two by the requested length.
    """
    try:
        return str(data, codec.name)
    except UnicodeDecodeError as exc:
        # Same exception type, so `except UnicodeDecodeError` works; the reason says which
        # call failed, since the positions are relative to the bytes that call asked for.
        raise UnicodeDecodeError(
            exc.encoding, exc.object, exc.start, exc.end, f"{exc.reason} (in {where})"
        ) from None


class CodecSettings:
    """The byte order and text encoding that :class:`DataReader` and :class:`DataWriter`
    share (WinRT ``ByteOrder`` and ``UnicodeEncoding`` properties)."""

    _layout: Layout
    _text: TextCodec

    def _init_codec(self) -> None:
        self._layout = LAYOUTS[DEFAULT_BYTE_ORDER]
        self._text = TEXT_CODECS[DEFAULT_UNICODE_ENCODING]

    @property
    def byte_order(self) -> ByteOrder:
        """Byte order of multi-byte values; default ``BIG_ENDIAN``. :exc:`TypeError` if not a
        :class:`ByteOrder`."""
        return self._layout.byte_order

    @byte_order.setter
    def byte_order(self, value: ByteOrder) -> None:
        self._layout = LAYOUTS[check_byte_order(value)]

    @property
    def unicode_encoding(self) -> UnicodeEncoding:
        """Encoding of strings; default ``UTF8``. :exc:`TypeError` if not a
        :class:`UnicodeEncoding`."""
        return self._text.encoding

    @unicode_encoding.setter
    def unicode_encoding(self, value: UnicodeEncoding) -> None:
        self._text = TEXT_CODECS[check_unicode_encoding(value)]
