"""DataReader / DataWriter: the codec, the buffer rules and the no-stream error paths.

Everything here goes through an in-memory ``DataWriter()`` and ``DataReader.from_buffer()``;
``load``/``store``/``flush`` against a stream are tested over real sockets in the socket suites.
"""

from __future__ import annotations

import array
import copy
import math
import pickle
import re
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from trio_sockets._core.codec import EPOCH_1601, UNIX_EPOCH_TICKS, count_code_units
from trio_sockets._core.enums import (
    ByteOrder,
    InputStreamOptions,
    SocketProtectionLevel,
    UnicodeEncoding,
)
from trio_sockets._data.reader import DataReader
from trio_sockets._data.stream_owner import InsufficientDataError, NoStreamError
from trio_sockets._data.writer import DataWriter

BIG = ByteOrder.BIG_ENDIAN
LITTLE = ByteOrder.LITTLE_ENDIAN
UTF8 = UnicodeEncoding.UTF8
UTF16LE = UnicodeEncoding.UTF16LE
UTF16BE = UnicodeEncoding.UTF16BE
ENDIAN: dict[ByteOrder, Literal["big", "little"]] = {BIG: "big", LITTLE: "little"}
CODEC = {UTF8: "utf-8", UTF16LE: "utf-16-le", UTF16BE: "utf-16-be"}
UNIT = {UTF8: 1, UTF16LE: 2, UTF16BE: 2}

both_orders = pytest.mark.parametrize("order", [BIG, LITTLE], ids=["big", "little"])
all_encodings = pytest.mark.parametrize("encoding", list(UnicodeEncoding), ids=lambda e: e.name)

INT64_TICKS_MAX = 2**63 - 1
# The timedeltas whose tick count fits an Int64 (a timedelta holds whole microseconds).
TIMESPAN_MIN = timedelta(microseconds=-(2**63 // 10))
TIMESPAN_MAX = timedelta(microseconds=INT64_TICKS_MAX // 10)

# Aware datetimes in several zones, a day inside datetime's range so the UTC instant of each
# is still a datetime when read back.
aware_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12, minutes=30))]
    ),
)
valid_text = st.text(st.characters(exclude_categories=["Cs"]))


def writer(order: ByteOrder = BIG, encoding: UnicodeEncoding = UTF8) -> DataWriter:
    w = DataWriter()
    w.byte_order = order
    w.unicode_encoding = encoding
    return w


def reader(
    data: bytes | bytearray | memoryview, order: ByteOrder = BIG, encoding: UnicodeEncoding = UTF8
) -> DataReader:
    r = DataReader.from_buffer(data)
    r.byte_order = order
    r.unicode_encoding = encoding
    return r


def float_bits(fmt: str, value: float) -> bytes:
    return struct.pack(fmt, value)


# -- round trips: every type, both byte orders ------------------------------------------------

INTEGER_TYPES = [
    # (name, size, signed)
    ("int16", 2, True),
    ("uint16", 2, False),
    ("int32", 4, True),
    ("uint32", 4, False),
    ("int64", 8, True),
    ("uint64", 8, False),
]


@both_orders
@pytest.mark.parametrize(("name", "size", "signed"), INTEGER_TYPES, ids=lambda v: str(v))
@given(data=st.data())
def test_integers_round_trip_over_their_full_range_as_twos_complement(
    order: ByteOrder, name: str, size: int, signed: bool, data: st.DataObject
) -> None:
    bits = size * 8
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    value = data.draw(st.integers(low, high))
    w = writer(order)
    getattr(w, f"write_{name}")(value)
    wire = w.detach_buffer()
    assert wire == value.to_bytes(size, ENDIAN[order], signed=signed)
    r = reader(wire, order)
    assert getattr(r, f"read_{name}")() == value
    assert r.unconsumed_buffer_length == 0


@given(value=st.booleans())
def test_boolean_round_trips_as_one_byte(value: bool) -> None:
    w = writer()
    w.write_boolean(value)
    wire = w.detach_buffer()
    assert wire == (b"\x01" if value else b"\x00")
    assert reader(wire).read_boolean() is value


@given(value=st.integers(0, 255))
def test_byte_round_trips(value: int) -> None:
    w = writer()
    w.write_byte(value)
    wire = w.detach_buffer()
    assert wire == bytes([value])
    assert reader(wire).read_byte() == value


@both_orders
@given(value=st.floats(width=32))
def test_single_round_trips_bit_for_bit_including_nan_and_infinities(
    order: ByteOrder, value: float
) -> None:
    fmt = ">f" if order is BIG else "<f"
    w = writer(order)
    w.write_single(value)
    wire = w.detach_buffer()
    assert wire == float_bits(fmt, value)
    back = reader(wire, order).read_single()
    assert float_bits(fmt, back) == wire


@both_orders
@given(value=st.floats())
def test_double_round_trips_bit_for_bit(order: ByteOrder, value: float) -> None:
    fmt = ">d" if order is BIG else "<d"
    w = writer(order)
    w.write_double(value)
    wire = w.detach_buffer()
    assert wire == float_bits(fmt, value)
    assert float_bits(fmt, reader(wire, order).read_double()) == wire


@both_orders
@given(value=st.uuids())
def test_guid_round_trips_as_uuid_bytes_or_bytes_le(order: ByteOrder, value: uuid.UUID) -> None:
    w = writer(order)
    w.write_guid(value)
    wire = w.detach_buffer()
    assert wire == (value.bytes if order is BIG else value.bytes_le)
    assert reader(wire, order).read_guid() == value


@both_orders
@given(value=aware_datetimes)
def test_date_time_round_trips_as_ticks_since_1601_and_reads_back_in_utc(
    order: ByteOrder, value: datetime
) -> None:
    w = writer(order)
    w.write_date_time(value)
    wire = w.detach_buffer()
    ticks = (value - EPOCH_1601) // timedelta(microseconds=1) * 10
    assert wire == ticks.to_bytes(8, ENDIAN[order], signed=True)
    back = reader(wire, order).read_date_time()
    assert back == value
    assert back.tzinfo is UTC


@both_orders
@given(value=st.timedeltas(min_value=TIMESPAN_MIN, max_value=TIMESPAN_MAX))
def test_time_span_round_trips_as_ticks(order: ByteOrder, value: timedelta) -> None:
    w = writer(order)
    w.write_time_span(value)
    wire = w.detach_buffer()
    ticks = value // timedelta(microseconds=1) * 10
    assert wire == ticks.to_bytes(8, ENDIAN[order], signed=True)
    assert reader(wire, order).read_time_span() == value


@all_encodings
@given(value=valid_text)
def test_string_round_trips_counting_code_units(encoding: UnicodeEncoding, value: str) -> None:
    w = writer(encoding=encoding)
    measured = w.measure_string(value)
    assert w.unstored_buffer_length == 0
    written = w.write_string(value)
    wire = w.detach_buffer()
    assert wire == value.encode(CODEC[encoding])
    assert written == measured == len(wire)
    units = count_code_units(value, encoding)
    assert units == len(wire) // UNIT[encoding]
    r = reader(wire, encoding=encoding)
    assert r.read_string(units) == value
    assert r.unconsumed_buffer_length == 0


@given(value=st.binary(), data=st.data())
def test_bytes_round_trip_through_every_bytes_method(value: bytes, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(value)))
    count = data.draw(st.integers(0, len(value) - start))
    w = writer()
    w.write_bytes(value)
    w.write_buffer(bytearray(value), start, count)
    w.write_buffer(memoryview(value), start)
    r = reader(w.detach_buffer())
    assert r.read_bytes(len(value)) == value
    assert r.read_buffer(count) == value[start : start + count]
    into = bytearray(len(value) - start)
    assert r.read_bytes(into) is None
    assert into == value[start:]
    assert r.unconsumed_buffer_length == 0


# One value of any type, tagged with what it is and the byte order / encoding to use for it.
_TYPED = st.one_of(
    st.tuples(st.just("boolean"), st.booleans()),
    st.tuples(st.just("byte"), st.integers(0, 255)),
    st.tuples(st.just("int16"), st.integers(-(2**15), 2**15 - 1)),
    st.tuples(st.just("uint32"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("int64"), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just("uint64"), st.integers(0, 2**64 - 1)),
    st.tuples(st.just("double"), st.floats(allow_nan=False)),
    st.tuples(st.just("guid"), st.uuids()),
    st.tuples(st.just("date_time"), aware_datetimes),
    st.tuples(st.just("time_span"), st.timedeltas(TIMESPAN_MIN, TIMESPAN_MAX)),
    st.tuples(st.just("string"), valid_text),
    st.tuples(st.just("bytes"), st.binary()),
)
mixed_items = st.lists(
    st.tuples(_TYPED, st.sampled_from(ByteOrder), st.sampled_from(UnicodeEncoding)), max_size=30
)


@given(items=mixed_items)
def test_a_mixed_sequence_reads_back_in_order_with_settings_switched_between_values(
    items: list[tuple[tuple[str, Any], ByteOrder, UnicodeEncoding]],
) -> None:
    w = DataWriter()
    for (kind, value), order, encoding in items:
        w.byte_order = order
        w.unicode_encoding = encoding
        if kind == "string":
            w.write_uint32(count_code_units(value, encoding))
            w.write_string(value)
        elif kind == "bytes":
            w.write_uint32(len(value))
            w.write_bytes(value)
        else:
            getattr(w, f"write_{kind}")(value)
    r = DataReader.from_buffer(w.detach_buffer())
    for (kind, value), order, encoding in items:
        r.byte_order = order
        r.unicode_encoding = encoding
        if kind == "string":
            assert r.read_string(r.read_uint32()) == value
        elif kind == "bytes":
            assert r.read_bytes(r.read_uint32()) == value
        else:
            assert getattr(r, f"read_{kind}")() == value
    assert r.unconsumed_buffer_length == 0


# -- known answers ---------------------------------------------------------------------------


def test_defaults_are_big_endian_utf8_and_no_stream_options() -> None:
    r = DataReader.from_buffer(b"")
    w = DataWriter()
    assert (r.byte_order, r.unicode_encoding, r.input_stream_options) == (
        BIG,
        UTF8,
        InputStreamOptions.NONE,
    )
    assert (w.byte_order, w.unicode_encoding) == (BIG, UTF8)
    w.write_uint16(1)
    assert w.detach_buffer() == b"\x00\x01"


@pytest.mark.parametrize(
    ("write", "value", "big", "little"),
    [
        ("uint32", 0x01020304, "01020304", "04030201"),
        ("int16", -2, "fffe", "feff"),
        ("uint16", 0xABCD, "abcd", "cdab"),
        ("int32", -(2**31), "80000000", "00000080"),
        ("int64", -1, "ffffffffffffffff", "ffffffffffffffff"),
        ("uint64", 1, "0000000000000001", "0100000000000000"),
        ("single", 1.0, "3f800000", "0000803f"),
        ("single", -math.inf, "ff800000", "000080ff"),
        ("double", 1.0, "3ff0000000000000", "000000000000f03f"),
        ("double", -0.0, "8000000000000000", "0000000000000080"),
        ("time_span", timedelta(seconds=1), "0000000000989680", "8096980000000000"),
    ],
)
def test_known_wire_bytes_in_each_byte_order(write: str, value: Any, big: str, little: str) -> None:
    for order, expected in ((BIG, big), (LITTLE, little)):
        w = writer(order)
        getattr(w, f"write_{write}")(value)
        assert w.detach_buffer().hex() == expected, order


def test_guid_layout_swaps_only_the_first_three_fields() -> None:
    value = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    w = writer(BIG)
    w.write_guid(value)
    w.byte_order = LITTLE
    w.write_guid(value)
    wire = w.detach_buffer()
    assert wire[:16].hex() == "00112233445566778899aabbccddeeff" == value.bytes.hex()
    assert wire[16:].hex() == "33221100554477668899aabbccddeeff" == value.bytes_le.hex()


def test_date_time_epochs_in_ticks() -> None:
    w = writer()
    w.write_date_time(datetime(1601, 1, 1, tzinfo=UTC))
    w.write_date_time(datetime(1970, 1, 1, tzinfo=UTC))
    # The same instant written from another zone gives the same ticks.
    w.write_date_time(datetime(1970, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))))
    r = reader(w.detach_buffer())
    assert [r.read_int64() for _ in range(3)] == [0, UNIX_EPOCH_TICKS, UNIX_EPOCH_TICKS]
    assert UNIX_EPOCH_TICKS == 116_444_736_000_000_000


@pytest.mark.parametrize(
    ("ticks", "expected"),
    [
        (15, datetime(1601, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
        (-1, datetime(1600, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
    ],
)
def test_date_time_drops_sub_microsecond_ticks_rounding_toward_the_past(
    ticks: int, expected: datetime
) -> None:
    assert reader(ticks.to_bytes(8, "big", signed=True)).read_date_time() == expected


@pytest.mark.parametrize(
    ("ticks", "expected"),
    [(5, timedelta(0)), (-5, timedelta(microseconds=-1)), (10, timedelta(microseconds=1))],
)
def test_time_span_drops_sub_microsecond_ticks_rounding_down(
    ticks: int, expected: timedelta
) -> None:
    assert reader(ticks.to_bytes(8, "big", signed=True)).read_time_span() == expected


def test_date_time_beyond_year_9999_fails_and_leaves_the_ticks_readable() -> None:
    r = reader(INT64_TICKS_MAX.to_bytes(8, "big"))
    with pytest.raises(ValueError, match=rf"{INT64_TICKS_MAX} ticks .*read_int64"):
        r.read_date_time()
    assert r.read_int64() == INT64_TICKS_MAX


def test_any_non_zero_byte_reads_as_true() -> None:
    r = reader(b"\x00\x01\x02\xff")
    assert [r.read_boolean() for _ in range(4)] == [False, True, True, True]


def test_read_string_counts_utf16_code_units_so_a_surrogate_pair_is_two() -> None:
    text = "A\N{GRINNING FACE}"
    for encoding, wire in ((UTF16LE, "41003dd800de"), (UTF16BE, "0041d83dde00")):
        w = writer(encoding=encoding)
        assert w.write_string(text) == 6  # bytes
        data = w.detach_buffer()
        assert data.hex() == wire
        assert count_code_units(text, encoding) == 3
        assert reader(data, encoding=encoding).read_string(3) == text
    assert count_code_units(text, UTF8) == 5  # 1 + 4 UTF-8 bytes


def test_a_byte_order_mark_is_neither_added_nor_stripped() -> None:
    w = writer(encoding=UTF16LE)
    w.write_string("A")
    assert w.detach_buffer() == b"A\x00"
    assert reader(b"\xef\xbb\xbfA").read_string(4) == "\ufeffA"


def test_length_prefixed_framing_as_in_the_winrt_samples() -> None:
    w = DataWriter()
    for message in ("hello", "h\N{LATIN SMALL LETTER E WITH ACUTE}llo"):
        w.write_uint32(w.measure_string(message))
        w.write_string(message)
    r = DataReader.from_buffer(w.detach_buffer())
    assert r.read_string(r.read_uint32()) == "hello"
    assert r.read_string(r.read_uint32()) == "h\N{LATIN SMALL LETTER E WITH ACUTE}llo"


def test_a_datagram_reader_reads_its_whole_message_in_a_with_block() -> None:
    with DataReader.from_buffer("echo \N{SNOWMAN}".encode()) as r:
        assert r.read_string(r.unconsumed_buffer_length) == "echo \N{SNOWMAN}"
    with pytest.raises(trio.ClosedResourceError):
        r.read_byte()


# -- reads past the loaded data consume nothing ----------------------------------------------

READERS: list[tuple[str, Callable[[DataReader], object], int]] = [
    ("read_boolean", lambda r: r.read_boolean(), 1),
    ("read_byte", lambda r: r.read_byte(), 1),
    ("read_bytes", lambda r: r.read_bytes(5), 5),
    ("read_bytes", lambda r: r.read_bytes(bytearray(5)), 5),
    ("read_buffer", lambda r: r.read_buffer(5), 5),
    ("read_int16", lambda r: r.read_int16(), 2),
    ("read_uint16", lambda r: r.read_uint16(), 2),
    ("read_int32", lambda r: r.read_int32(), 4),
    ("read_uint32", lambda r: r.read_uint32(), 4),
    ("read_int64", lambda r: r.read_int64(), 8),
    ("read_uint64", lambda r: r.read_uint64(), 8),
    ("read_single", lambda r: r.read_single(), 4),
    ("read_double", lambda r: r.read_double(), 8),
    ("read_guid", lambda r: r.read_guid(), 16),
    ("read_date_time", lambda r: r.read_date_time(), 8),
    ("read_time_span", lambda r: r.read_time_span(), 8),
    ("read_string(3)", lambda r: r.read_string(3), 3),
]


@pytest.mark.parametrize(("name", "read", "size"), READERS, ids=[r[0] for r in READERS])
def test_a_read_past_the_loaded_bytes_raises_and_consumes_nothing(
    name: str, read: Callable[[DataReader], object], size: int
) -> None:
    data = bytes(range(1, size))  # one byte short
    r = reader(data)
    with pytest.raises(InsufficientDataError) as info:
        read(r)
    assert isinstance(info.value, EOFError)
    assert (info.value.needed, info.value.available) == (size, size - 1)
    assert str(info.value).startswith(f"{name} needs {size} byte")
    assert r.unconsumed_buffer_length == size - 1
    assert r.read_bytes(size - 1) == data


def test_the_shortage_message_says_what_was_needed_and_what_is_loaded() -> None:
    with pytest.raises(InsufficientDataError) as info:
        reader(b"\x01\x02").read_uint32()
    assert str(info.value) == (
        "read_uint32 needs 4 bytes but only 2 are loaded"
        " and this reader has no stream to load more from"
    )
    with pytest.raises(
        InsufficientDataError,
        match=r"read_string\(2\) \(2 code units of UTF16LE\) needs 4 bytes but only 3",
    ):
        reader(b"abc", encoding=UTF16LE).read_string(2)


def test_insufficient_data_error_pickles_with_its_counts() -> None:
    error = InsufficientDataError("short", needed=4, available=1)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.needed, copy.available) == ("short", 4, 1)


@pytest.mark.parametrize(
    ("encoding", "wire", "count"),
    [
        (UTF8, b"\xc3\xa9", 1),  # an "é" cut in two
        (UTF8, b"\xff", 1),
        (UTF16LE, "A\N{GRINNING FACE}".encode("utf-16-le"), 2),  # a surrogate pair cut in two
        (UTF16BE, b"\xdc\x00", 1),  # a lone low surrogate
    ],
)
def test_undecodable_string_bytes_raise_and_consume_nothing(
    encoding: UnicodeEncoding, wire: bytes, count: int
) -> None:
    r = reader(wire, encoding=encoding)
    with pytest.raises(UnicodeDecodeError, match="in read_string"):
        r.read_string(count)
    assert r.read_bytes(len(wire)) == wire


# -- read_bytes into a caller's buffer --------------------------------------------------------


def test_read_bytes_fills_a_bytearray_and_a_memoryview_slice() -> None:
    r = reader(b"abcdefgh")
    target = bytearray(3)
    r.read_bytes(target)
    assert target == b"abc"
    big = bytearray(b"........")
    r.read_bytes(memoryview(big)[2:5])
    assert big == b"..def..."
    assert r.read_bytes(0) == b""
    words = array.array("H", [0])  # any writable contiguous buffer, filled byte-wise
    r.read_bytes(memoryview(words))
    assert words.tobytes() == b"gh"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (b"xx", "read-only"),
        (memoryview(bytearray(4))[::2], "C-contiguous"),
        ("ab", "expected a count"),
        (2.0, "expected a count"),
    ],
)
def test_read_bytes_refuses_buffers_it_cannot_fill(target: Any, message: str) -> None:
    r = reader(b"abcd")
    with pytest.raises(TypeError, match=message):
        r.read_bytes(target)
    assert r.unconsumed_buffer_length == 4


@pytest.mark.parametrize(
    ("method", "count", "error", "message"),
    [
        ("read_bytes", -1, ValueError, "count must not be negative, got -1"),
        ("read_bytes", True, TypeError, "count must be an int, got bool True"),
        ("read_buffer", -2, ValueError, "length must not be negative, got -2"),
        ("read_string", -1, ValueError, "code_unit_count must not be negative, got -1"),
        ("read_string", "3", TypeError, "code_unit_count must be an int, got str '3'"),
    ],
)
def test_bad_counts_are_refused_by_name(
    method: str, count: object, error: type[Exception], message: str
) -> None:
    r = reader(b"abcd")
    with pytest.raises(error, match=f"{method}: {message}"):
        getattr(r, method)(count)
    assert r.unconsumed_buffer_length == 4


# -- writers refuse values their type cannot hold, and write nothing then ---------------------

RANGES = [
    ("write_byte", "Byte", 0, 255),
    ("write_int16", "Int16", -(2**15), 2**15 - 1),
    ("write_uint16", "UInt16", 0, 2**16 - 1),
    ("write_int32", "Int32", -(2**31), 2**31 - 1),
    ("write_uint32", "UInt32", 0, 2**32 - 1),
    ("write_int64", "Int64", -(2**63), 2**63 - 1),
    ("write_uint64", "UInt64", 0, 2**64 - 1),
]


@pytest.mark.parametrize(("method", "type_name", "low", "high"), RANGES, ids=[r[0] for r in RANGES])
def test_integer_writers_accept_their_range_and_name_values_outside_it(
    method: str, type_name: str, low: int, high: int
) -> None:
    w = DataWriter()
    write = getattr(w, method)
    write(low)
    write(high)
    written = w.unstored_buffer_length
    for bad in (low - 1, high + 1):
        with pytest.raises(
            ValueError, match=rf"{bad} is out of range for {type_name} \({low}\.\.{high}\)"
        ):
            write(bad)
    for wrong in (True, 1.0, "1", None):
        with pytest.raises(TypeError, match=rf"{method}: expected an int for {type_name}, got"):
            write(wrong)
    assert w.unstored_buffer_length == written


def test_integer_writers_take_int_like_values_such_as_enum_members() -> None:
    class Port:
        def __index__(self) -> int:
            return 1337

    w = DataWriter()
    w.write_byte(SocketProtectionLevel.TLS12)
    w.write_uint16(Port())  # type: ignore[arg-type]
    assert w.detach_buffer() == b"\x08\x05\x39"


WRITER_REFUSALS: list[tuple[str, object, type[Exception], str]] = [
    ("write_boolean", 1, TypeError, "expected a bool, got int 1"),
    ("write_single", 1e39, ValueError, r"1e\+39 is out of range for Single"),
    ("write_single", True, TypeError, "expected a float"),
    ("write_double", "1.5", TypeError, "got str '1.5'"),
    ("write_double", 10**400, ValueError, "out of range for Double"),
    # float() makes these infinite, or refuses them, rather than raising OverflowError.
    (
        "write_double",
        Decimal("1e400"),
        ValueError,
        r"Decimal\('1E\+400'\) is out of range for Double",
    ),
    ("write_single", Decimal("-1e400"), ValueError, "out of range for Single"),
    ("write_double", Decimal("sNaN"), ValueError, r"write_double: Decimal\('sNaN'\) has no Double"),
    ("write_guid", str(uuid.UUID(int=0)), TypeError, "expected a uuid.UUID"),
    ("write_date_time", datetime(2024, 1, 1), ValueError, r"datetime\(2024, 1, 1, 0, 0\) is naive"),
    ("write_date_time", date(2024, 1, 1), TypeError, "expected a datetime.datetime"),
    ("write_time_span", TIMESPAN_MAX + timedelta(microseconds=1), ValueError, "fit a TimeSpan"),
    ("write_time_span", TIMESPAN_MIN - timedelta(microseconds=1), ValueError, "fit a TimeSpan"),
    ("write_time_span", 5, TypeError, "expected a datetime.timedelta"),
    ("write_string", b"x", TypeError, "expected a str"),
    ("write_string", "ok\ud800", ValueError, r"lone surrogate '\\ud800' \(U\+D800\) at index 2"),
    ("measure_string", "\udfff", ValueError, "lone surrogate"),
    ("write_bytes", "text", TypeError, "expected a bytes-like object, got str"),
    ("write_bytes", 5, TypeError, "got int 5"),
]


@pytest.mark.parametrize(
    ("method", "value", "error", "message"),
    WRITER_REFUSALS,
    ids=[f"{method}-{type(value).__name__}" for method, value, _, _ in WRITER_REFUSALS],
)
def test_writers_refuse_bad_values_by_name_and_write_nothing(
    method: str, value: object, error: type[Exception], message: str
) -> None:
    w = DataWriter()
    with pytest.raises(error, match=message):
        getattr(w, method)(value)
    assert w.unstored_buffer_length == 0


def test_infinite_and_nan_decimals_are_written_as_such() -> None:
    w = DataWriter()
    w.write_double(Decimal("Infinity"))
    w.write_single(Decimal("-Infinity"))
    w.write_double(Decimal("NaN"))
    w.write_double(Decimal("1e300"))
    r = DataReader.from_buffer(w.detach_buffer())
    assert r.read_double() == math.inf
    assert r.read_single() == -math.inf
    assert math.isnan(r.read_double())
    assert r.read_double() == 1e300


def test_single_keeps_infinities_nan_and_rounds_to_nearest() -> None:
    w = DataWriter()
    for value in (math.inf, -math.inf, math.nan, 0.1):
        w.write_single(value)
    r = DataReader.from_buffer(w.detach_buffer())
    assert r.read_single() == math.inf
    assert r.read_single() == -math.inf
    assert math.isnan(r.read_single())
    assert r.read_single() == struct.unpack("f", struct.pack("f", 0.1))[0] != 0.1


def test_write_buffer_writes_the_requested_range() -> None:
    w = DataWriter()
    w.write_buffer(b"abcdef", 2, 3)
    w.write_buffer(b"abcdef", 4)
    w.write_buffer(b"abcdef", 6, 0)
    w.write_buffer(memoryview(array.array("B", b"xyz")))
    w.write_bytes(memoryview(b"0123456")[::3])  # a strided view is flattened
    assert w.detach_buffer() == b"cdeefxyz036"


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((b"abc", 4), ValueError, "start 4 is past the end of the 3-byte buffer"),
        ((b"abc", 1, 3), ValueError, "start 1 \\+ count 3 runs past the end of the 3-byte"),
        ((b"abc", -1), ValueError, "start must not be negative, got -1"),
        ((b"abc", 0, -1), ValueError, "count must not be negative, got -1"),
        ((b"abc", 0.5), TypeError, "start must be an int"),
        (("abc",), TypeError, "expected a bytes-like object, got str"),
        ((memoryview(b"abcd")[::2],), TypeError, "C-contiguous"),
    ],
)
def test_write_buffer_range_errors_name_the_values(
    args: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    w = DataWriter()
    with pytest.raises(error, match=message):
        w.write_buffer(*args)
    assert w.unstored_buffer_length == 0


# -- properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [DataWriter, lambda: DataReader.from_buffer(b"")])
@pytest.mark.parametrize(
    ("prop", "bad"),
    [
        ("byte_order", 1),
        ("byte_order", "BIG_ENDIAN"),
        ("byte_order", UnicodeEncoding.UTF16LE),
        ("unicode_encoding", 0),
        ("unicode_encoding", ByteOrder.LITTLE_ENDIAN),
    ],
)
def test_settings_accept_only_their_enum(make: Callable[[], Any], prop: str, bad: Any) -> None:
    obj = make()
    before = getattr(obj, prop)
    with pytest.raises(TypeError, match=rf"^{prop} must be a \w+, not .*{re.escape(repr(bad))}"):
        setattr(obj, prop, bad)
    assert getattr(obj, prop) is before


def test_input_stream_options_accept_flag_combinations_only() -> None:
    r = DataReader.from_buffer(b"")
    r.input_stream_options = InputStreamOptions.PARTIAL | InputStreamOptions.READ_AHEAD
    assert r.input_stream_options == 3
    with pytest.raises(TypeError, match="must be an InputStreamOptions, not int 1"):
        r.input_stream_options = 1  # type: ignore[assignment]
    with pytest.raises(ValueError, match="unknown flag bits 0x8"):
        r.input_stream_options = InputStreamOptions(8)
    with pytest.raises(ValueError, match="0xd has unknown flag bits 0xc"):
        r.input_stream_options = InputStreamOptions(13)
    assert r.input_stream_options == 3


def test_constructors_want_streams_not_sockets_or_bytes() -> None:
    with pytest.raises(TypeError, match=r"DataReader needs an InputStream .* got bytes"):
        DataReader(b"abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"DataWriter needs an OutputStream .* got str"):
        DataWriter("out")  # type: ignore[arg-type]


# -- from_buffer, detach, close --------------------------------------------------------------


def test_from_buffer_copies_its_input() -> None:
    source = bytearray(b"abc")
    r = DataReader.from_buffer(source)
    source[0] = ord("z")
    assert r.read_bytes(3) == b"abc"
    assert (
        DataReader.from_buffer(memoryview(array.array("H", [0x0102]))).unconsumed_buffer_length == 2
    )


async def test_from_buffer_keeps_bytes_without_copies() -> None:
    # bytes cannot change, so the reader keeps them, and reading all of them returns the
    # very object (a received message is read without a copy).
    message = bytes(range(256)) * 64
    r = DataReader.from_buffer(message)
    assert r.read_bytes(len(message)) is message
    r = DataReader.from_buffer(message)
    assert r.read_uint16() == 0x0001
    assert r.read_bytes(4) == bytes([2, 3, 4, 5])
    assert r.read_string(3) == "\x06\x07\x08"
    assert r.detach_buffer() == message[9:]
    r = DataReader.from_buffer(message)
    with pytest.raises(NoStreamError):
        await r.load(1)
    assert r.read_bytes(2) == b"\x00\x01"


@pytest.mark.parametrize(("bad", "message"), [(5, "got int"), ("abc", "got str")])
def test_from_buffer_refuses_non_bytes(bad: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        DataReader.from_buffer(bad)


def test_reader_detach_buffer_takes_the_unconsumed_bytes() -> None:
    r = reader(b"\x00\x07rest")
    assert r.read_uint16() == 7
    assert r.detach_buffer() == b"rest"
    assert r.unconsumed_buffer_length == 0
    with pytest.raises(InsufficientDataError):
        r.read_byte()


def test_writer_detach_buffer_takes_the_unstored_bytes_and_keeps_the_writer_usable() -> None:
    w = DataWriter()
    w.write_string("ab")
    assert w.unstored_buffer_length == 2
    assert w.detach_buffer() == b"ab"
    assert w.unstored_buffer_length == 0
    w.write_byte(1)
    assert w.detach_buffer() == b"\x01"


async def test_load_without_a_stream_says_why() -> None:
    r = DataReader.from_buffer(b"abc")
    with pytest.raises(NoStreamError, match="from_buffer"):
        await r.load(1)
    with pytest.raises(NoStreamError, match="from_buffer"):
        r.detach_stream()
    assert isinstance(NoStreamError(), RuntimeError)
    assert r.read_bytes(3) == b"abc"


async def test_store_and_flush_without_a_stream_point_to_detach_buffer() -> None:
    w = DataWriter()
    w.write_byte(1)
    with pytest.raises(NoStreamError, match="detach_buffer"):
        await w.store()
    with pytest.raises(NoStreamError, match="detach_buffer"):
        await w.flush()
    with pytest.raises(NoStreamError):
        w.detach_stream()
    assert w.detach_buffer() == b"\x01"


async def test_a_closed_reader_refuses_everything_but_closing_again() -> None:
    r = DataReader.from_buffer(b"abcd")
    await r.aclose()
    await r.aclose()
    r.close()
    assert r.unconsumed_buffer_length == 0
    for call in (r.read_byte, lambda: r.read_bytes(0), lambda: r.read_string(0), r.detach_buffer):
        with pytest.raises(trio.ClosedResourceError, match="closed"):
            call()
    with pytest.raises(trio.ClosedResourceError):
        await r.load(1)
    with pytest.raises(trio.ClosedResourceError):
        r.detach_stream()
    assert "closed" in repr(r)


async def test_a_closed_writer_discards_unstored_bytes_and_refuses_writes() -> None:
    async with DataWriter() as w:
        w.write_uint32(1)
    assert w.unstored_buffer_length == 0
    for call in (
        lambda: w.write_byte(1),
        lambda: w.write_string(""),
        lambda: w.write_bytes(b""),
        lambda: w.write_guid(uuid.UUID(int=1)),
        w.detach_buffer,
        w.detach_stream,
    ):
        with pytest.raises(trio.ClosedResourceError, match="closed"):
            call()
    with pytest.raises(trio.ClosedResourceError):
        await w.store()
    with pytest.raises(trio.ClosedResourceError):
        await w.flush()
    await w.aclose()
    with pytest.raises(trio.ClosedResourceError):  # as every other call of a closed writer
        w.measure_string("abc")


def test_a_streamless_writer_closes_in_a_plain_with_block() -> None:
    with DataWriter() as w:
        w.write_byte(1)
    with pytest.raises(trio.ClosedResourceError):
        w.write_byte(2)


async def test_a_buffer_reader_closes_with_async_with_too() -> None:
    async with DataReader.from_buffer(b"x") as r:
        assert r.read_byte() == ord("x")
    with pytest.raises(trio.ClosedResourceError):
        r.read_byte()


def test_repr_shows_state_and_settings() -> None:
    r = reader(b"abc", LITTLE)
    assert repr(r).startswith("<DataReader buffer unconsumed=3 byte_order=LITTLE_ENDIAN")
    assert repr(DataWriter()).startswith("<DataWriter memory unstored=0 byte_order=BIG_ENDIAN")


_READS = st.sampled_from(
    [
        "boolean", "byte", "int16", "uint16", "int32", "uint32", "int64", "uint64",
        "single", "double", "guid", "date_time", "time_span", "string", "bytes",
    ]
)  # fmt: skip


@given(
    wire=st.binary(max_size=256),
    reads=st.lists(st.tuples(_READS, st.integers(0, 300), st.sampled_from(ByteOrder)), max_size=40),
    encoding=st.sampled_from(UnicodeEncoding),
)
def test_random_bytes_read_any_way_give_a_value_or_a_clear_error(
    wire: bytes, reads: list[tuple[str, int, ByteOrder]], encoding: UnicodeEncoding
) -> None:
    """Hostile input: whatever the bytes, each read returns a value or raises one of the
    documented errors, consuming nothing when it raises; the position never passes the
    end."""
    r = DataReader.from_buffer(wire)
    r.unicode_encoding = encoding
    for kind, count, order in reads:
        r.byte_order = order
        before = r.unconsumed_buffer_length
        failure: Exception | None = None
        try:
            if kind == "string":
                r.read_string(count)
            elif kind == "bytes":
                assert len(r.read_bytes(count)) == count
            else:
                getattr(r, f"read_{kind}")()
        except (InsufficientDataError, UnicodeDecodeError, ValueError) as exc:
            failure = exc
        if failure is not None:
            assert r.unconsumed_buffer_length == before
            # Only a DateTime outside the years a datetime holds is a plain ValueError.
            if not isinstance(failure, (InsufficientDataError, UnicodeDecodeError)):
                assert kind == "date_time", failure
        assert 0 <= r.unconsumed_buffer_length <= before


def test_every_time_span_read_can_be_written_back() -> None:
    """The ten tick counts just above Int64's minimum round down past TimeSpan.MinValue;
    they read as the least span write_time_span takes."""
    for ticks in [-(2**63) + offset for offset in range(12)] + [2**63 - 1, 0, -15]:
        span = DataReader.from_buffer(ticks.to_bytes(8, "big", signed=True)).read_time_span()
        w = DataWriter()
        w.write_time_span(span)
        back = int.from_bytes(w.detach_buffer(), "big", signed=True)
        assert abs(ticks - back) < 20, (ticks, back)


def test_a_date_time_outside_the_years_a_datetime_holds_is_refused() -> None:
    """Written, it could not be read back: read_date_time refuses those ticks."""
    w = DataWriter()
    for value in (
        datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
    ):
        with pytest.raises(ValueError, match=r"outside the years 1\.\.9999"):
            w.write_date_time(value)
    assert w.unstored_buffer_length == 0
    for value in (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)):
        w.write_date_time(value)
        assert DataReader.from_buffer(w.detach_buffer()).read_date_time() == value


def test_measure_string_on_a_closed_writer_says_it_is_closed() -> None:
    w = DataWriter()
    w.close()
    with pytest.raises(trio.ClosedResourceError, match="measure_string"):
        w.measure_string("abc")


@pytest.mark.parametrize("make", [DataWriter, lambda: DataReader.from_buffer(b"\x01\x02")])
def test_readers_and_writers_refuse_to_be_copied(make: Callable[[], object]) -> None:
    """A copy would share the buffer (and stream) with the original: writing to the
    copy changed the original. As with sockets, copies and pickles are refused."""
    owner = make()
    for attempt in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match=r"cannot be copied or pickled.*detach_buffer"):
            attempt(owner)
