"""What a socket's input stream lends a DataReader stays the socket's.

A ``DataReader`` over a socket borrows what each receive brought beyond the load that
made it (``InputStream.lend_read_ahead``), and loads the next frames from its own buffer.
These tests hold the loan to its promise: whoever reads the socket next -- another read
through the stream, ``receive_some``, another reader, a detached stream, a TLS upgrade --
gets every byte in order, and a closed socket takes the loan with it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest
import trio
import trio.testing
from conftest import TaskSteps, open_tls_pair, receive_exactly
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_sockets import (
    DataReader,
    HostName,
    InputStreamOptions,
    SocketProtectionLevel,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets.testing import TlsCertificates

PARTIAL = InputStreamOptions.PARTIAL

_Test = TypeVar("_Test", bound=Callable[..., Awaitable[None]])


def bounded(test: _Test) -> _Test:
    """Fail the test after 10 s: a byte the loan lost would leave a read waiting."""

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        with trio.fail_after(10):
            await test(*args, **kwargs)

    return cast(_Test, run)


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


async def read_frame(reader: DataReader) -> bytes:
    assert await reader.load(4) == 4
    length = reader.read_uint32()
    assert await reader.load(length) == length
    return reader.read_bytes(length)


async def arrived(client: StreamSocket, data: bytes) -> None:
    """Send *data* and let it reach the other end's kernel buffer."""
    await client.send_all(data)
    await trio.testing.wait_all_tasks_blocked()


@bounded
async def test_frames_a_reader_borrowed_are_loaded_without_the_stream(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await arrived(client, b"".join(frame(b"%d" % index * 50) for index in range(10)))
    reader = DataReader(server.input_stream)
    assert await read_frame(reader) == b"0" * 50  # the one receive
    assert reader.unconsumed_buffer_length == 0  # what was lent is not counted
    steps = TaskSteps()
    trio.lowlevel.add_instrument(steps)
    try:
        for index in range(1, 10):
            assert await read_frame(reader) == b"%d" % index * 50
    finally:
        trio.lowlevel.remove_instrument(steps)
    assert steps.total == 0


@pytest.mark.parametrize("how", ["receive_some", "read", "read_ahead"])
@bounded
async def test_what_a_reader_borrowed_comes_first_to_the_next_read_of_the_socket(
    tcp_pair: tuple[StreamSocket, StreamSocket], how: str
) -> None:
    client, server = tcp_pair
    await arrived(client, frame(b"head") + frame(b"body") + b"tail")
    reader = DataReader(server.input_stream)
    assert await read_frame(reader) == b"head"
    expected = frame(b"body") + b"tail"
    if how == "receive_some":
        got = await receive_exactly(server, len(expected))
    elif how == "read":
        got = await server.input_stream.read(len(expected))
    else:
        got = await server.input_stream.read(3, InputStreamOptions.READ_AHEAD)
        got += await server.input_stream.read(len(expected) - 3)
    assert got == expected
    # The reader has nothing left: its next load waits for the peer.
    await arrived(client, frame(b"next"))
    assert await read_frame(reader) == b"next"


@bounded
async def test_a_read_ahead_read_keeps_at_most_one_receive_of_surplus(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """``read(count, READ_AHEAD)`` that lacks its last bytes asks the kernel for them
    plus at most 64 KiB, not for *count* again: megabytes used to stay read ahead (and
    the next DataReader borrowed them all)."""
    client, server = tcp_pair
    count = 1 << 20
    data = bytes(range(256)) * (3 * count // 256)
    got: list[bytes] = []

    async def read_it() -> None:
        got.append(await server.input_stream.read(count, InputStreamOptions.READ_AHEAD))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_it)
        await arrived(client, data[: count - 1])  # the read now waits for its last byte
        await client.send_all(data[count - 1 :])
    assert got == [data[:count]]
    kept = await server.input_stream.read(len(data), PARTIAL)  # the read-ahead alone
    assert 1 <= len(kept) <= 64 * 1024
    assert kept == data[count : count + len(kept)]
    assert await receive_exactly(server, len(data) - count - len(kept)) == data[count + len(kept) :]


@bounded
async def test_a_second_reader_gets_what_the_first_borrowed_and_the_first_keeps_its_load(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await arrived(client, frame(b"one") + frame(b"two") + frame(b"three"))
    first = DataReader(server.input_stream)
    assert await first.load(4) == 4  # the receive: the rest is lent to the first
    second = DataReader(server.input_stream)
    # The second starts where the first's load ended, not where its loan did.
    assert await second.load(3) == 3
    assert second.read_bytes(3) == b"one"
    assert await read_frame(second) == b"two"
    assert first.read_uint32() == 3  # what the first loaded is still its own
    assert await read_frame(first) == b"three"  # the second's loan came back in order


@bounded
async def test_detaching_or_closing_a_reader_gives_the_socket_back_what_it_borrowed(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await arrived(client, frame(b"a") + frame(b"b") + b"rest")
    reader = DataReader(server.input_stream)
    assert await read_frame(reader) == b"a"
    stream = reader.detach_stream()
    assert await stream.read(5, PARTIAL) == frame(b"b")
    again = DataReader(stream)
    assert await again.load(2) == 2  # borrows "st" behind "re"
    assert again.read_bytes(2) == b"re"
    await again.aclose()  # closes the stream object; what it borrowed is the socket's
    assert await receive_exactly(server, 2) == b"st"


@bounded
async def test_detach_buffer_leaves_the_borrowed_bytes_lent(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await arrived(client, frame(b"first") + frame(b"second"))
    reader = DataReader(server.input_stream)
    assert await reader.load(4) == 4
    assert reader.detach_buffer() == frame(b"first")[:4]
    assert reader.unconsumed_buffer_length == 0
    steps = TaskSteps()
    trio.lowlevel.add_instrument(steps)
    try:
        assert await reader.load(5) == 5  # from the loan: no receive, no scheduler step
    finally:
        trio.lowlevel.remove_instrument(steps)
    assert steps.total == 0
    assert reader.read_bytes(5) == b"first"
    assert await read_frame(reader) == b"second"


@bounded
async def test_closing_the_socket_drops_what_a_reader_borrowed(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await arrived(client, frame(b"x" * 10) + frame(b"y" * 10))
    reader = DataReader(server.input_stream)
    assert await reader.load(4) == 4
    await server.aclose()
    assert reader.read_uint32() == 10  # what was loaded stays readable
    with pytest.raises(trio.ClosedResourceError, match=r"StreamSocket"):
        await reader.load(10)
    assert reader.unconsumed_buffer_length == 0


@bounded
async def test_a_cancelled_load_takes_nothing_from_the_loan(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await arrived(client, frame(b"kept"))
    reader = DataReader(server.input_stream)
    assert await reader.load(4) == 4
    with trio.CancelScope() as scope:
        scope.cancel()
        await reader.load(4)
    assert scope.cancelled_caught
    assert reader.unconsumed_buffer_length == 4  # only the header
    assert reader.read_uint32() == 4
    assert await reader.load(4) == 4
    assert reader.read_bytes(4) == b"kept"


@bounded
async def test_a_partial_load_takes_what_the_loan_holds_and_no_more(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await arrived(client, b"abcdef")
    reader = DataReader(server.input_stream)
    reader.input_stream_options = PARTIAL
    assert await reader.load(2) == 2
    assert await reader.load(100) == 4  # the loan, without waiting for more
    assert reader.read_bytes(6) == b"abcdef"
    reader.input_stream_options = InputStreamOptions.NONE
    await client.send_all(b"gh")
    await arrived(client, b"ij")
    assert await reader.load(4) == 4  # NONE: the stream for the rest
    assert reader.read_bytes(4) == b"ghij"


async def _interleave(script: list[tuple[str, int]], chunks: list[int]) -> None:
    with trio.fail_after(10):
        await _run_script(script, chunks)


async def _run_script(script: list[tuple[str, int]], chunks: list[int]) -> None:
    data = bytes(index % 251 for index in range(sum(chunks)))
    async with StreamSocketListener() as listener:
        await listener.bind_service_name("0")
        async with StreamSocket() as client:
            await client.connect(HostName("127.0.0.1"), listener.information.local_port)
            server = await listener.accept()
            async with server:
                sent = 0
                for size in chunks:
                    await client.send_all(data[sent : sent + size])
                    sent += size
                await client.send_eof()
                await trio.testing.wait_all_tasks_blocked()
                got = bytearray()
                first = reader = DataReader(server.input_stream)
                first_attached = True
                for action, size in script:
                    left = len(data) - len(got)
                    if action == "load" and left:
                        loaded = await reader.load(min(size, left))
                        assert loaded == min(size, left)
                        got += reader.read_bytes(loaded)
                    elif action == "first_reader_loads" and left and first_attached:
                        loaded = await first.load(min(size, left))
                        got += first.read_bytes(loaded)
                    elif action == "read" and left:
                        got += await server.input_stream.read(size, PARTIAL)
                    elif action == "read_ahead" and left:
                        options = PARTIAL | InputStreamOptions.READ_AHEAD
                        got += await server.input_stream.read(size, options)
                    elif action == "receive_some" and left:
                        got += await server.receive_some(size)
                    elif action == "new_reader":
                        reader = DataReader(server.input_stream)
                    elif action == "detach":
                        reader.detach_stream()
                        first_attached = first_attached and reader is not first
                        reader = DataReader(server.input_stream)
                    assert bytes(got) == data[: len(got)]
                got += await receive_all_bytes(server)
                assert bytes(got) == data


async def receive_all_bytes(server: StreamSocket) -> bytes:
    rest = bytearray()
    while chunk := await server.receive_some():
        rest += chunk
    return bytes(rest)


step = st.tuples(
    st.sampled_from(
        [
            "load",
            "load",
            "first_reader_loads",
            "read",
            "read_ahead",
            "receive_some",
            "new_reader",
            "detach",
        ]
    ),
    st.integers(1, 300),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(script=st.lists(step, max_size=30), chunks=st.lists(st.integers(1, 2000), min_size=1))
def test_any_mix_of_readers_and_reads_gets_every_byte_once_in_order(
    script: list[tuple[str, int]], chunks: list[int]
) -> None:
    trio.run(_interleave, script, chunks)


@bounded
async def test_starttls_counts_what_a_reader_borrowed_as_unread(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await arrived(server, b"220 ready\r\n250 more\r\n")
    reader = DataReader(client.input_stream)
    assert await reader.load(11) == 11  # the next line is lent to the reader
    with pytest.raises(RuntimeError, match=r"10 bytes of received plain text"):
        await client.upgrade_to_ssl(SocketProtectionLevel.SSL, HostName("localhost"))
    assert reader.read_string(11) == "220 ready\r\n"
    assert await client.input_stream.read(10) == b"250 more\r\n"


@bounded
async def test_over_tls_the_loan_keeps_the_decrypted_bytes_in_order(
    tls_certificates: TlsCertificates,
) -> None:
    async with open_tls_pair(tls_certificates) as (client, server):
        await arrived(client, b"".join(frame(b"%d" % index * 30) for index in range(5)))
        reader = DataReader(server.input_stream)
        assert await read_frame(reader) == b"0" * 30
        assert await read_frame(reader) == b"1" * 30
        stream = reader.detach_stream()
        assert await stream.read(34) == frame(b"2" * 30)
        again = DataReader(stream)
        assert await read_frame(again) == b"3" * 30
        assert await receive_exactly(server, 34) == frame(b"4" * 30)


@bounded
async def test_a_closed_input_stream_lends_nothing_and_the_socket_keeps_its_bytes(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    await arrived(client, b"headbody")
    stream = server.input_stream
    assert await stream.read(4, InputStreamOptions.READ_AHEAD) == b"head"
    await stream.aclose()
    assert stream.lend_read_ahead(bytes) == b""
    assert await receive_exactly(server, 4) == b"body"


@bounded
async def test_lending_to_another_borrower_takes_back_the_first_loan_first(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """Through the stream's own API: a second loan starts with what the first borrower
    gives back, and a borrower that lets go returns what it did not use."""
    client, server = tcp_pair
    await arrived(client, b"abcdef")
    stream = server.input_stream
    assert await stream.read(2, InputStreamOptions.READ_AHEAD) == b"ab"
    first_holds = bytearray(stream.lend_read_ahead(lambda: bytes(first_holds[2:])))
    assert first_holds == b"cdef"  # the first borrower uses "cd" of it
    second_holds = bytearray()

    def second_gives_back() -> bytes:
        return bytes(second_holds)

    second_holds += stream.lend_read_ahead(second_gives_back)
    assert second_holds == b"ef"
    stream.return_read_ahead(lambda: b"not the borrower")  # not the loan's: ignored
    stream.return_read_ahead(second_gives_back)
    assert await receive_exactly(server, 2) == b"ef"


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@bounded
async def test_closing_a_reader_ends_its_pending_load_and_keeps_the_bytes(
    tcp_pair: tuple[StreamSocket, StreamSocket],
    tls_certificates: TlsCertificates,
    tls: bool,
) -> None:
    """WinRT's Close does not wait for a pending LoadAsync: the load ends at once with
    ClosedResourceError, and what arrives afterwards is the socket's next read -- not
    taken off the socket and dropped. (What a load had already loaded is the reader's,
    and goes with it, as in WinRT.) A read of the input stream itself that its stream's
    close ends keeps what it had received for the socket."""
    async with contextlib.AsyncExitStack() as stack:
        if tls:
            client, server = await stack.enter_async_context(open_tls_pair(tls_certificates))
        else:
            client, server = tcp_pair
        reader = DataReader(server.input_stream)
        outcome: list[BaseException] = []

        async def load() -> None:
            try:
                await reader.load(8)  # NONE: waits for all 8
            except trio.ClosedResourceError as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(load)
            await trio.testing.wait_all_tasks_blocked()
            await reader.aclose()
            await trio.testing.wait_all_tasks_blocked()
            assert len(outcome) == 1  # ended at once, not when data comes
        assert "closed during the read" in str(outcome[0])
        await client.send_all(b"ABCDEFGH")
        assert await receive_exactly(server, 8) == b"ABCDEFGH"

        stream = server.input_stream
        failed: list[BaseException] = []

        async def read() -> None:
            try:
                await stream.read(8)  # NONE: 3 come, then it waits for the rest
            except trio.ClosedResourceError as exc:
                failed.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await arrived(client, b"ABC")
            await stream.aclose()
            await trio.testing.wait_all_tasks_blocked()
            assert len(failed) == 1
        await client.send_all(b"DEFGH")
        assert await receive_exactly(server, 8) == b"ABCDEFGH"
