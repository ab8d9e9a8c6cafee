"""DataReader and DataWriter over a real TCP connection."""

from __future__ import annotations

import re

import pytest
import trio
import trio.testing
from conftest import TaskSteps, receive_exactly

from trio_sockets import (
    ByteOrder,
    DataReader,
    DataWriter,
    InputStreamOptions,
    InsufficientDataError,
    StreamSocket,
    UnicodeEncoding,
)

#: What a read past the loaded bytes says once the stream has ended.
_ENDED = "read_string(16) needs 16 bytes but only 3 are loaded and the stream has ended"


async def test_length_prefixed_echo_of_the_cpp_sample(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    request = "Hello, Wörld!"

    writer = DataWriter(client.output_stream)
    writer.write_uint32(writer.measure_string(request))
    writer.write_string(request)
    assert await writer.store() == 4 + len(request.encode())
    assert await writer.flush() is True
    writer.detach_stream()

    reader = DataReader(server.input_stream)
    assert await reader.load(4) == 4
    length = reader.read_uint32()
    assert await reader.load(length) == length
    echoed = reader.read_string(length)
    assert echoed == request

    answer = DataWriter(server.output_stream)
    answer.write_uint32(answer.measure_string(echoed))
    answer.write_string(echoed)
    await answer.store()
    answer.detach_stream()

    back = DataReader(client.input_stream)
    await back.load(4)
    size = back.read_uint32()
    await back.load(size)
    assert back.read_string(size) == request


async def test_load_waits_for_every_byte_unless_partial(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    reader = DataReader(client.input_stream)
    loaded: list[int] = []
    async with trio.open_nursery() as nursery:

        async def load_ten() -> None:
            loaded.append(await reader.load(10))

        nursery.start_soon(load_ten)
        await server.send_all(b"12345")
        await trio.testing.wait_all_tasks_blocked()
        assert loaded == []
        await server.send_all(b"67890")
    assert loaded == [10]
    assert reader.read_bytes(10) == b"1234567890"

    reader.input_stream_options = InputStreamOptions.PARTIAL
    await server.send_all(b"abc")
    assert await reader.load(256) == 3
    assert reader.unconsumed_buffer_length == 3
    assert reader.read_string(3) == "abc"


async def test_read_ahead_loads_more_than_asked(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await server.send_all(b"R" * 5000)
    reader = DataReader(client.input_stream)
    reader.input_stream_options = InputStreamOptions.READ_AHEAD
    await trio.sleep(0.05)
    loaded = await reader.load(10)
    assert loaded >= 10
    assert reader.unconsumed_buffer_length == loaded


async def test_load_returns_zero_at_end_of_stream(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    reader = DataReader(client.input_stream)
    reader.input_stream_options = InputStreamOptions.PARTIAL
    await server.send_all(b"tail")
    await server.send_eof()
    total = 0
    for _ in range(10):
        count = await reader.load(256)
        if count == 0:
            break
        total += count
    assert total == 4
    assert reader.read_string(4) == "tail"
    assert await reader.load(1) == 0


async def test_a_read_past_what_a_stream_that_ended_gave_says_it_ended(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """docs/tutorial.rst: a length prefix says 16, the peer sends 3 bytes and closes.
    The read's error says the stream has ended, where "await load() first" advised a
    load that can only return 0; nothing is consumed."""
    client, server = tcp_pair
    await server.send_all(b"\x00\x00\x00\x10abc")
    await server.send_eof()
    reader = DataReader(client.input_stream)
    assert await reader.load(4) == 4
    length = reader.read_uint32()
    assert await reader.load(length) == 3
    with pytest.raises(InsufficientDataError) as caught:
        reader.read_string(length)
    assert str(caught.value) == f"{_ENDED}: no load() can bring more"
    assert (caught.value.needed, caught.value.available) == (16, 3)
    assert await reader.load(length) == 0
    with pytest.raises(InsufficientDataError, match=f"^{re.escape(_ENDED)}"):
        reader.read_string(length)
    assert reader.read_string(3) == "abc"


async def test_a_read_past_the_loaded_bytes_advises_a_load_while_the_stream_is_open(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """A PARTIAL load that brought part of what a read needs leaves the stream open:
    the error advises ``load()``, which brings the rest; once a load met the end, it
    says the stream has ended."""
    client, server = tcp_pair
    reader = DataReader(client.input_stream)
    reader.input_stream_options = InputStreamOptions.PARTIAL
    await server.send_all(b"abc")
    assert await reader.load(16) == 3
    advice = "read_string(16) needs 16 bytes but only 3 are loaded; await load() first"
    with pytest.raises(InsufficientDataError, match=f"^{re.escape(advice)}$"):
        reader.read_string(16)
    await server.send_all(b"d" * 13)
    while reader.unconsumed_buffer_length < 16:
        assert await reader.load(16) > 0
    assert reader.read_string(16) == "abc" + "d" * 13
    await server.send_all(b"abc")
    await server.send_eof()
    assert await reader.load(16) == 3
    with pytest.raises(InsufficientDataError, match=f"^{re.escape(advice)}$"):
        reader.read_string(16)  # the end is not known yet: no load has met it
    assert await reader.load(16) == 0
    with pytest.raises(InsufficientDataError, match=f"^{re.escape(_ENDED)}"):
        reader.read_string(16)


async def test_a_cancelled_load_keeps_what_arrived(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    reader = DataReader(client.input_stream)
    await server.send_all(b"part")
    with trio.move_on_after(0.1):
        await reader.load(8)
    await server.send_all(b"-two")
    assert await reader.load(8 - reader.unconsumed_buffer_length) >= 0
    assert reader.read_bytes(8) == b"part-two"


async def test_one_store_is_one_write_and_typed_values_cross_the_wire(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    writer = DataWriter(client.output_stream)
    writer.byte_order = ByteOrder.LITTLE_ENDIAN
    writer.unicode_encoding = UnicodeEncoding.UTF16LE
    writer.write_int16(-2)
    writer.write_double(2.5)
    units = writer.write_string("hé")
    assert writer.unstored_buffer_length == 2 + 8 + units
    assert await writer.store() == 2 + 8 + units
    assert writer.unstored_buffer_length == 0
    writer.detach_stream()
    raw = await receive_exactly(server, 2 + 8 + units)
    reader = DataReader.from_buffer(raw)
    reader.byte_order = ByteOrder.LITTLE_ENDIAN
    reader.unicode_encoding = UnicodeEncoding.UTF16LE
    assert reader.read_int16() == -2
    assert reader.read_double() == 2.5
    assert reader.read_string(2) == "hé"


async def test_closing_a_reader_closes_its_stream_object_not_the_socket(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    async with DataReader(client.input_stream) as reader:
        await server.send_all(b"x")
        await reader.load(1)
    with pytest.raises(trio.ClosedResourceError):
        await client.input_stream.read(1)
    # The socket itself still works.
    await server.send_all(b"y")
    assert await client.receive_some() == b"y"


async def test_closing_a_writer_flushes_its_stream_and_keeps_the_socket(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    async with DataWriter(client.output_stream) as writer:
        writer.write_uint16(7)
        await writer.store()
    assert await receive_exactly(server, 2) == b"\x00\x07"
    await client.send_all(b"after")
    assert await receive_exactly(server, 5) == b"after"


async def test_loading_a_header_then_its_body_is_one_receive(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """load(4) on a socket reads ahead: the body that came with the header is taken from
    the kernel in the same receive and kept in the socket's input stream, not counted as
    loaded; load(n) then finds it there, and so does the stream once detached."""
    import socket

    client, server = tcp_pair
    body = b"b" * 100
    await client.send_all(len(body).to_bytes(4, "big") + body + b"tail")
    await trio.testing.wait_all_tasks_blocked()
    reader = DataReader(server.input_stream)
    assert await reader.load(4) == 4
    assert reader.unconsumed_buffer_length == 4  # only what load() was asked for
    with pytest.raises(BlockingIOError):  # the kernel holds nothing more: one receive
        server.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    assert await reader.load(reader.read_uint32()) == 100
    assert reader.read_bytes(100) == body
    stream = reader.detach_stream()
    assert await stream.read(4) == b"tail"  # read ahead, and not lost by detaching


async def test_loads_served_from_the_read_ahead_check_for_cancel_but_do_not_yield(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """100 framed messages that came in one receive are loaded without a scheduler step
    between them, as a hand-written reassembly buffer would parse them; a cancel still
    stops the next load before it takes anything, and the load that must go to the
    kernel yields."""
    client, server = tcp_pair
    frames = b"".join(len(body).to_bytes(4, "big") + body for body in [b"m" * 100] * 100)
    await client.send_all(frames)
    await trio.testing.wait_all_tasks_blocked()
    reader = DataReader(server.input_stream)
    assert await reader.load(4) == 4  # the receive: everything else is read ahead
    length = reader.read_uint32()
    with trio.CancelScope() as scope:
        scope.cancel()
        await reader.load(length)
    assert scope.cancelled_caught
    assert reader.unconsumed_buffer_length == 0  # nothing taken: the body is still ahead
    steps = TaskSteps()
    trio.lowlevel.add_instrument(steps)
    try:
        for index in range(100):
            if index:
                assert await reader.load(4) == 4
                length = reader.read_uint32()
            assert await reader.load(length) == 100
            assert reader.read_bytes(100) == b"m" * 100
    finally:
        trio.lowlevel.remove_instrument(steps)
    assert steps.total == 0
    await client.send_all(b"\x00\x00\x00\x01")
    trio.lowlevel.add_instrument(steps)
    try:
        assert await reader.load(4) == 4  # from the kernel: a full checkpoint
    finally:
        trio.lowlevel.remove_instrument(steps)
    assert steps.total >= 1
    assert reader.read_uint32() == 1


async def test_a_closed_input_stream_refuses_a_load_its_read_ahead_could_answer(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await client.send_all(b"\x00\x00\x00\x02hi")
    await trio.testing.wait_all_tasks_blocked()
    stream = server.input_stream
    reader = DataReader(stream)
    assert await reader.load(4) == 4  # "hi" is read ahead
    await stream.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await reader.load(reader.read_uint32())
    assert reader.unconsumed_buffer_length == 0
    assert await server.receive_some() == b"hi"  # still the socket's, not lost


async def test_a_store_that_completes_at_once_is_one_scheduler_step(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    writer = DataWriter(client.output_stream)
    steps = TaskSteps()
    trio.lowlevel.add_instrument(steps)
    try:
        for index in range(100):
            writer.write_uint32(index)
            await writer.store()
    finally:
        trio.lowlevel.remove_instrument(steps)
    assert steps.total <= 100 + 5, steps.total
    expected = b"".join(index.to_bytes(4, "big") for index in range(100))
    assert await receive_exactly(server, len(expected)) == expected


@pytest.mark.parametrize(
    ("bad", "cut"),
    [(b"a" * 9999 + b"\xff", 0), ("é".encode() * 5000, 1)],
    ids=["invalid", "a character cut in two"],
)
async def test_a_string_that_fails_to_decode_leaves_the_reader_and_the_stream_whole(
    tcp_pair: tuple[StreamSocket, StreamSocket], bad: bytes, cut: int
) -> None:
    """A record of 8 KiB or more that is not valid UTF-8 (or whose count cuts a
    character): while the error is being handled (skip the record, read on), the
    reader loads, the socket reads in order and the reader closes."""
    client, server = tcp_pair
    await server.send_all(bad + b"<2nd>")
    reader = DataReader(client.input_stream)
    with trio.fail_after(5):
        await reader.load(len(bad) + 5)
    try:
        reader.read_string(len(bad) - cut)
    except UnicodeDecodeError:
        reader.read_bytes(len(bad) - cut)  # skip the bad record
        assert reader.read_bytes(5 + cut)[cut:] == b"<2nd>"
        await server.send_all(b"<3rd><4th>")
        with trio.fail_after(5):
            await reader.load(5)  # from the stream
        assert reader.read_bytes(5) == b"<3rd>"
        await reader.aclose()  # gives back what it read ahead
        with trio.fail_after(5):
            assert await receive_exactly(client, 5) == b"<4th>"
    else:
        raise AssertionError("the record decoded")
