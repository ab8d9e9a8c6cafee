"""Output streams: hot writes, flush, ordering, copying, bounds, and gathered system calls."""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.lowlevel
import trio.testing
from conftest import TaskSteps, narrow, receive_all, receive_exactly, require_tool

import trio_sockets
from trio_sockets import (
    DatagramSocket,
    HostName,
    InputStreamOptions,
    SocketError,
    SocketErrorStatus,
    SocketOutputStream,
    SocketProtectionLevel,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
    WriteOperation,
)
from trio_sockets._core.scheduling import task_step
from trio_sockets._io.output import DEFAULT_MAX_PENDING_BYTES, WRITE_OVERHEAD
from trio_sockets.testing import TlsCertificates


async def test_ten_thousand_unawaited_writes_and_one_flush_arrive_in_order(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    expected = b"".join(b"%05d|" % index for index in range(10_000))
    received = bytearray()

    async def read_everything() -> None:
        while len(received) < len(expected):
            received.extend(await server.receive_some())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_everything)
        operations = [client.output_stream.write(b"%05d|" % index) for index in range(10_000)]
        assert await client.output_stream.flush() is True
        assert all(op.done for op in operations)
    assert bytes(received) == expected
    assert [await op for op in operations[:3]] == [6, 6, 6]


async def test_unawaited_writes_make_no_object_each(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """An unawaited write keeps only its bytes: the operation it returns is made anew
    only while its caller holds the last one. 0.1.0 made an operation object (with its
    attribute dictionary) and a sequence number per write: 3 memory blocks per write."""
    client, server = tcp_pair
    output = client.output_stream
    writes = [b"%063d" % index for index in range(10_000)]
    output.write(b"<")  # nothing pending: sent by write(); the writes below pile up
    package = tracemalloc.Filter(True, trio_sockets.__file__.rsplit("/", 1)[0] + "/*")
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces([package])
        for data in writes:
            output.write(data)
        after = tracemalloc.take_snapshot().filter_traces([package])
    finally:
        tracemalloc.stop()
    blocks = sum(stat.count_diff for stat in after.compare_to(before, "filename"))
    # What remains is the queue's deque growing, one block per 64 writes.
    assert blocks <= len(writes) // 50, blocks
    async with trio.open_nursery() as nursery:
        nursery.start_soon(output.flush)
        expected = b"<" + b"".join(writes)
        assert await receive_exactly(server, len(expected)) == expected


async def test_operations_held_only_by_a_container_or_the_stack_are_never_reused(
    listener: StreamSocketListener,
) -> None:
    """An operation held by nothing but a list being built, a dict or a generator's
    tuple is still held: each keeps its own write, so its size is its write's."""
    async with StreamSocket() as client:
        await client.connect("127.0.0.1", listener.information.local_port)
        server = await listener.accept()
        async with server:
            out = client.output_stream
            listed = [out.write(b"a"), out.write(b"bb"), out.write(b"ccc"), out.write(b"dddd")]
            mapped = {n: out.write(b"m" * n) for n in range(1, 6)}
            gathered = tuple(out.write(b"g" * n) for n in range(1, 5))
            for ops in (listed, list(mapped.values()), list(gathered)):
                assert len({id(op) for op in ops}) == len(ops)
                assert [await op for op in ops] == list(range(1, len(ops) + 1))
            await out.flush()
            expected = b"abbcccdddd" + b"".join(b"m" * n for n in range(1, 6))
            expected += b"".join(b"g" * n for n in range(1, 5))
            assert await receive_exactly(server, len(expected)) == expected


async def test_an_operation_its_caller_keeps_reports_its_own_write(
    listener: StreamSocketListener,
) -> None:
    """Operations the caller keeps are never given another write: each reports its own
    size or failure, also after later writes, after the failure was raised by flush(),
    and when awaited twice; those it dropped are never awaited, and their failure is
    raised once, by the flush."""
    async with StreamSocket() as client:
        client.control.outbound_buffer_size_in_bytes = 16 * 1024
        await client.connect("127.0.0.1", listener.information.local_port)
        server = await listener.accept()
        async with server:
            output = client.output_stream
            first = output.write(b"first")  # sent by write() itself
            for _ in range(10):
                output.write(b"x" * 100)
            kept = output.write(b"k" * 100)
            for _ in range(10):
                output.write(b"y")
            clog = output.write(b"z" * (8 * 1024 * 1024))  # more than the kernel takes
            for _ in range(3):
                output.write(b"after")
            assert len({id(first), id(kept), id(clog)}) == 3
            for _ in range(1000):
                if kept.done:
                    break
                await trio.sleep(0.01)
            assert not clog.done
            await client.cancel_io()
            with pytest.raises(SocketStatusError) as flushed:
                await output.flush()  # the dropped writes' failure, raised once
            assert flushed.value.status == SocketErrorStatus.OPERATION_ABORTED
            await output.flush()
            assert (await first, await kept, await kept) == (5, 100, 100)
            for _ in range(2):
                with pytest.raises(SocketStatusError) as caught:
                    await clog
                assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED
            assert (first.nbytes, kept.nbytes, clog.nbytes) == (5, 100, 8 * 1024 * 1024)
            assert "failed" in repr(clog)
            assert "done, 100 bytes" in repr(kept)


async def test_the_socket_output_streams_are_socket_output_streams(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    # The documented pending_bytes, max_pending_bytes and room_bytes were on private
    # classes only; SocketOutputStream is the public type that has them.
    client, _ = tcp_pair
    async with DatagramSocket() as receiver, DatagramSocket() as datagrams:
        await receiver.bind_endpoint("127.0.0.1", "0")
        port = receiver.information.local_port
        await datagrams.connect("127.0.0.1", port)
        answer = await datagrams.get_output_stream(HostName("127.0.0.1"), port)
        for out in (client.output_stream, datagrams.output_stream, answer):
            assert isinstance(out, SocketOutputStream)
            assert out.pending_bytes == 0
            assert out.room_bytes == out.max_pending_bytes == DEFAULT_MAX_PENDING_BYTES
            operation = out.write(b"abc")
            assert isinstance(operation, WriteOperation)
            assert operation.nbytes == 3
            assert await operation == 3
    with pytest.raises(TypeError, match="abstract"):
        SocketOutputStream()  # type: ignore[abstract]


async def test_a_write_starts_without_being_awaited(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    first = client.output_stream.write(b"hot")
    operation = client.output_stream.write(b"ter")
    assert isinstance(operation, WriteOperation)
    # Nothing was pending: the first write was sent by write() itself. The second came
    # in the same task step, so it waits for the writer (and would leave together with
    # any others written in this step).
    assert first.done
    assert not operation.done
    # Nobody awaits the operation or flushes: the socket's writer sends it anyway.
    assert await receive_exactly(server, 6) == b"hotter"
    assert operation.done
    assert await operation == 3
    assert "done, 3 bytes" in repr(operation)


async def test_changing_a_bytearray_after_write_changes_nothing_sent(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    buffer = bytearray(b"original")
    view = memoryview(bytearray(b"viewdata"))
    client.output_stream.write(buffer)
    client.output_stream.write(view)
    buffer[:] = b"CHANGED!"
    view[:] = b"XXXXXXXX"
    await client.output_stream.flush()
    assert await receive_exactly(server, 16) == b"originalviewdata"


async def test_writes_and_send_all_keep_their_order(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    client.output_stream.write(b"1")
    client.output_stream.write(b"2")
    await client.send_all(b"3")
    client.output_stream.write(b"4")
    await client.output_stream.flush()
    assert await receive_exactly(server, 4) == b"1234"


async def test_empty_write_completes_at_once(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, _ = tcp_pair
    operation = client.output_stream.write(b"")
    assert operation.done
    assert await operation == 0


async def test_write_rejects_text(tcp_pair: tuple[StreamSocket, StreamSocket]) -> None:
    client, _ = tcp_pair
    with pytest.raises(TypeError, match="not str"):
        client.output_stream.write("text")  # type: ignore[arg-type]


async def test_pending_bytes_are_bounded(tcp_pair: tuple[StreamSocket, StreamSocket]) -> None:
    client, server = tcp_pair
    stream = client.output_stream
    stream.max_pending_bytes = 100_000
    assert stream.room_bytes == 100_000
    stream.write(b"<")  # nothing pending: sent by write() itself, the rest pile up
    for _ in range(9):
        stream.write(b"x" * 10_000)
    assert stream.pending_bytes == 90_000
    assert stream.room_bytes == 100_000 - 90_000 - 9 * 256
    with pytest.raises(
        BufferError,
        match="10 writes of 110000 bytes pending, holding 112560 bytes with 256 per write, "
        "over max_pending_bytes=100000",
    ):
        stream.write(b"y" * 20_000)
    # The refused write left nothing behind; the stream keeps working.
    stream.write(b"z" * 10)
    await stream.flush()
    assert stream.pending_bytes == 0
    assert stream.room_bytes == 100_000
    assert await receive_exactly(server, 90_011) == b"<" + b"x" * 90_000 + b"z" * 10
    # A write that could not fit with nothing pending either says so, and what helps.
    with pytest.raises(
        BufferError,
        match=r"a write of 200000 bytes can never fit in max_pending_bytes=100000 \(256 "
        r"more per write\); raise max_pending_bytes, or write it in parts",
    ):
        await stream.write(b"w" * 200_000)
    # room_bytes is exactly what the next write may hold, with its 256.
    stream.write(b"<")
    stream.write(b"x" * 50_000)
    with pytest.raises(BufferError):
        stream.write(b"y" * (stream.room_bytes - 256 + 1))
    stream.write(b"y" * (stream.room_bytes - 256))
    assert stream.room_bytes == 0
    await stream.flush()
    assert await receive_exactly(server, 100_001 - 2 * 256) == (
        b"<" + b"x" * 50_000 + b"y" * (50_000 - 2 * 256)
    )


# Unawaited writes to a peer that never reads, until write() refuses one (or CAP writes):
# how many were taken and how much the process's resident memory grew meanwhile.
_RSS_SCRIPT = textwrap.dedent(
    """
    import json, os, socket, sys, trio
    from trio_sockets import DatagramSocket, HostName, StreamSocket, StreamSocketListener

    KIND, SIZE, BOUND, CAP = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), 500_000

    def rss():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024

    def fill(stream):
        stream.max_pending_bytes = BOUND
        before, writes = rss(), 0
        try:
            while writes < CAP:
                # A fresh bytes object each time, as a producer makes them.
                stream.write((b"%0*d" % (SIZE, writes))[-SIZE:] if SIZE else b"")
                writes += 1
        except BufferError:
            pass
        print(json.dumps({"writes": writes, "growth": rss() - before}), flush=True)
        os._exit(0)  # the peer never reads: nothing would flush what is pending

    async def main():
        if KIND == "udp":
            peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            peer.bind(("127.0.0.1", 0))
            async with DatagramSocket() as sock:
                await sock.connect(HostName("127.0.0.1"), str(peer.getsockname()[1]))
                fill(sock.output_stream)
        async with StreamSocketListener() as listener:
            await listener.bind_endpoint(HostName("127.0.0.1"), "0")
            async with StreamSocket() as client:
                await client.connect(HostName("127.0.0.1"), listener.information.local_port)
                fill(client.output_stream)

    trio.run(main)
    """
)


@pytest.mark.parametrize(
    ("kind", "size", "bound"),
    [
        ("tcp", 16, DEFAULT_MAX_PENDING_BYTES),
        ("tcp", 1, 4 * 1024 * 1024),
        ("udp", 0, 1024 * 1024),
        ("udp", 0, 0),
    ],
)
def test_pending_writes_hold_no_more_memory_than_the_bound(
    kind: str, size: int, bound: int
) -> None:
    """max_pending_bytes bounds the memory pending writes hold, however small they are:
    each write counts WRITE_OVERHEAD bytes besides its data."""
    result = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, kind, str(size), str(bound)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    measured = json.loads(result.stdout)
    # The first write found nothing pending and went to the kernel at once (a bound of 0
    # refuses even that one).
    assert measured["writes"] == bound // (size + WRITE_OVERHEAD) + (bound > 0)
    # Slack for the allocator's arenas and the interpreter's own small allocations.
    assert measured["growth"] <= bound + 4 * 1024 * 1024, measured


_SKIPPING_SCRIPT = textwrap.dedent(
    """
    import json, os, socket, trio
    from trio_sockets import HostName, StreamSocket

    def rss():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024

    async def main():
        server = socket.create_server(("127.0.0.1", 0))
        async with StreamSocket() as sock:
            await sock.connect(HostName("127.0.0.1"), str(server.getsockname()[1]))
            peer, _ = server.accept()  # never reads
            sock.output_stream.max_pending_bytes = 1 << 20
            before, skipped, most = rss(), 0, 0
            for index in range(150):
                with trio.move_on_after(0.01) as scope:
                    await sock.send_all(bytes([index % 256]) * (1 << 20))  # a fresh one
                skipped += scope.cancelled_caught
                most = max(most, sock.output_stream.pending_bytes)
            print(json.dumps({"skipped": skipped, "most_pending": most,
                              "growth": rss() - before}), flush=True)
            os._exit(0)  # the peer never reads: nothing would flush what is pending

    trio.run(main)
    """
)


def test_send_alls_skipped_for_a_slow_peer_hold_no_memory() -> None:
    """The broadcaster's idiom -- give each message 10 ms, skip it for a slow client --
    150 times with 1 MiB messages: only the one the kernel took part of stays pending,
    and the process's resident memory grows by a few MiB at most. Before, every skipped message
    stayed queued, outside ``max_pending_bytes``: 146 MiB pending, RSS up by as much."""
    result = subprocess.run(
        [sys.executable, "-c", _SKIPPING_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    measured = json.loads(result.stdout)
    assert measured["skipped"] >= 100, measured  # the kernel's buffers took the first few
    assert measured["most_pending"] <= 1 << 20, measured
    assert measured["growth"] <= 16 * 1024 * 1024, measured


async def test_a_fast_producer_is_held_to_the_readers_pace(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """Awaited writes wait for the socket to drain instead of queueing without limit."""
    client, server = tcp_pair
    chunk = b"p" * 65536
    total = 64 * len(chunk)  # 4 MiB, far beyond the kernel buffers on loopback
    high_water = 0
    received = 0

    async def slow_reader() -> None:
        nonlocal received
        while received < total:
            received += len(await server.receive_some(16384))
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_reader)
        with trio.fail_after(30):
            for _ in range(64):
                await client.output_stream.write(chunk)
                high_water = max(high_water, client.output_stream.pending_bytes)
    assert received == total
    assert high_water <= len(chunk)


async def test_cancelling_the_await_does_not_cancel_the_write(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    big = b"b" * (8 * 1024 * 1024)
    operation = client.output_stream.write(big)
    with trio.move_on_after(0.01):
        await operation
    # The write goes on in the socket's nursery and completes once the peer reads.
    assert await receive_exactly(server, len(big)) == big
    assert await operation == len(big)


#: A message far larger than the narrowed buffers of the pair: never taken whole.
SKIPPED_MESSAGE = 256 * 1024


def skipped_message(seq: int) -> bytes:
    """Message *seq*: its number, then that number's byte (a torn or stray one shows)."""
    return seq.to_bytes(4, "big") + bytes([seq]) * (SKIPPED_MESSAGE - 4)


@pytest.mark.parametrize(
    ("tls", "entered"),
    # Not TLS on a socket not entered: there the cancelled task itself is in the middle
    # of a TLS record, which breaks the stream (docs/guarantees.rst, "Cancellation").
    [(False, True), (False, False), (True, True)],
    ids=["plain, entered", "plain, not entered", "tls, entered"],
)
async def test_a_send_all_cancelled_before_its_first_byte_left_sends_nothing(
    tls: bool, entered: bool, tls_certificates: TlsCertificates
) -> None:
    """A slow peer, and each message given 10 ms (``with trio.move_on_after(0.01): await
    sock.send_all(message)``): the first, partly sent, is sent whole; every later one
    is cancelled before any of its bytes left and taken back out, so that nothing more
    stays pending and the peer never receives it. A ``send_all`` in a scope cancelled
    already queues nothing. Before, every cancelled message stayed queued, outside
    ``max_pending_bytes``, and was sent later."""
    level = SocketProtectionLevel.TLS12 if tls else SocketProtectionLevel.PLAIN_SOCKET
    received = bytearray()
    with trio.fail_after(30):
        async with unentered_sender(level, tls_certificates if tls else None) as (
            sender,
            client,
        ):
            if entered:
                await sender.__aenter__()
            narrow(sender, client)
            output = sender.output_stream
            try:
                for seq in range(20):
                    # The first has time to begin (on TLS the writer hands it over).
                    with trio.move_on_after(0.2 if seq == 0 else 0.01) as scope:
                        await sender.send_all(skipped_message(seq))
                    assert scope.cancelled_caught  # the peer reads nothing yet
                    if seq == 0:  # what the first one has not sent (all of it, on TLS)
                        first = output.pending_bytes
                        assert 0 < first <= SKIPPED_MESSAGE
                    assert output.pending_bytes == first
                with trio.CancelScope() as scope:
                    scope.cancel()
                    await sender.send_all(b"never sent")
                assert scope.cancelled_caught
                assert output.pending_bytes == first
            except AssertionError:
                await trio.aclose_forcefully(sender)  # no flush to a peer that never reads
                raise

            async def read() -> None:
                received.extend(await receive_exactly(client, 2 * SKIPPED_MESSAGE + 3))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                await sender.send_all(skipped_message(99))
                await sender.send_all(b"end")
            assert output.pending_bytes == 0
    assert bytes(received) == skipped_message(0) + skipped_message(99) + b"end"


async def test_output_stream_aclose_flushes_and_keeps_the_socket(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    stream = client.output_stream
    stream.write(b"last words")
    await stream.aclose()
    await stream.aclose()
    with pytest.raises(trio.ClosedResourceError):
        stream.write(b"more")
    assert await receive_exactly(server, 10) == b"last words"
    await server.send_all(b"reply")
    assert await receive_exactly(client, 5) == b"reply"


async def test_large_writes_are_gathered_intact(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    pieces = [bytes([index % 251]) * size for index, size in enumerate([1, 70_000, 3, 20_000] * 8)]
    async with trio.open_nursery() as nursery:
        result: list[bytes] = []

        async def read() -> None:
            result.append(await receive_all(server))

        nursery.start_soon(read)
        for piece in pieces:
            client.output_stream.write(piece)
        await client.send_eof()
    assert result == [b"".join(pieces)]


# The send-family system calls of pending writes, counted by strace in a child process.
_STRACE_SCRIPT = textwrap.dedent(
    """
    import json, sys, trio
    from trio_sockets import HostName, StreamSocket, StreamSocketListener

    COUNT, SIZE = int(sys.argv[1]), int(sys.argv[2])

    async def main():
        async with StreamSocketListener() as listener:
            await listener.bind_endpoint(HostName("127.0.0.1"), "0")
            async with StreamSocket() as client:
                await client.connect(HostName("127.0.0.1"), listener.information.local_port)
                server = await listener.accept()
                async with server:
                    print("FD", client.socket.fileno(), flush=True)
                    sys.stderr.write("MARK-START\\n"); sys.stderr.flush()
                    for _ in range(COUNT):
                        client.output_stream.write(b"x" * SIZE)
                    await client.output_stream.flush()
                    sys.stderr.write("MARK-END\\n"); sys.stderr.flush()
                    got = 0
                    while got < COUNT * SIZE:
                        got += len(await server.receive_some())
                    print(json.dumps({"received": got}), flush=True)

    trio.run(main)
    """
)


def count_send_calls(count: int, size: int) -> tuple[int, int]:
    """(send-family system calls on the client socket between the marks, bytes received)."""
    strace = require_tool("strace")
    result = subprocess.run(
        [
            strace,
            "-f",
            "-qq",
            "-e",
            "trace=sendto,sendmsg,write,writev",
            sys.executable,
            "-c",
            _STRACE_SCRIPT,
            str(count),
            str(size),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.splitlines()
    fd = int(next(line for line in lines if line.startswith("FD "))[3:])
    received = json.loads(lines[-1])["received"]
    trace = result.stderr.splitlines()
    start = next(i for i, line in enumerate(trace) if "MARK-START" in line)
    end = next(i for i, line in enumerate(trace) if "MARK-END" in line)
    calls = [
        line
        for line in trace[start:end]
        if any(f"{name}({fd}," in line for name in ("sendto", "sendmsg", "write", "writev"))
    ]
    return len(calls), received


def test_pending_writes_leave_in_few_system_calls() -> None:
    """1,000 pending 64-byte writes then one flush: at most one send per 20 writes."""
    calls, received = count_send_calls(1000, 64)
    assert received == 64_000
    assert 1 <= calls <= 50, f"{calls} send calls for 1,000 writes"


def test_ten_thousand_pending_writes_leave_in_few_system_calls() -> None:
    calls, received = count_send_calls(10_000, 64)
    assert received == 640_000
    assert 1 <= calls <= 20, f"{calls} send calls for 10,000 writes"


async def test_writes_fail_cleanly_when_the_socket_closes_under_them(
    listener: StreamSocketListener,
) -> None:
    async with StreamSocket() as client:
        await client.connect("127.0.0.1", listener.information.local_port)
        server = await listener.accept()
        operation = client.output_stream.write(b"q" * (16 * 1024 * 1024))
        await trio.testing.wait_all_tasks_blocked()
        client._close_now()
        with pytest.raises(OSError, match="closed"):
            await operation
        await server.aclose()


async def test_send_all_counts_bytes_of_a_multi_byte_memoryview(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    import array

    client, server = tcp_pair
    numbers = array.array("i", range(50_000))  # 200,000 bytes, more than one send takes
    await client.send_all(memoryview(numbers))
    assert await receive_exactly(server, numbers.itemsize * len(numbers)) == numbers.tobytes()


async def test_the_background_writer_ends_when_its_socket_closes(
    listener: StreamSocketListener,
) -> None:
    from conftest import live_tasks

    async with StreamSocket() as client:
        await client.connect("127.0.0.1", listener.information.local_port)
        server = await listener.accept()
        before = len(live_tasks())
        client.output_stream.write(b"sent by write() itself, ")
        client.output_stream.write(b"then one in the same step drives the background writer")
        await client.output_stream.flush()
        await trio.testing.wait_all_tasks_blocked()
        assert len(live_tasks()) == before + 1  # the writer, parked between batches
        await client.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert len(live_tasks()) == before
        await server.aclose()


async def test_writes_awaited_one_by_one_cost_one_scheduler_step_each(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """A write that follows an awaited write is sent by write() itself: the background
    writer is not woken for it (which would be a second step per write)."""
    client, server = tcp_pair
    output = client.output_stream
    await output.write(b"first")  # after this, the writer pattern is known
    steps = TaskSteps()
    trio.lowlevel.add_instrument(steps)
    try:
        for index in range(200):
            await output.write(b"%04d" % index)
    finally:
        trio.lowlevel.remove_instrument(steps)
    assert steps.total <= 200 + 5, steps.total
    expected = b"first" + b"".join(b"%04d" % index for index in range(200))
    assert await receive_exactly(server, len(expected)) == expected


async def test_the_task_step_changes_only_when_the_task_yields() -> None:
    """write() sends at most once per task step; it knows the step from trio (if trio
    stopped saying, write() would only be slower, and this test says so first)."""
    task = trio.lowlevel.current_task()
    first = task_step(task)
    assert first is not None
    assert task_step(task) == first
    await trio.lowlevel.checkpoint()
    assert task_step(task) == first + 1


async def test_a_read_write_loop_does_not_wake_the_writer_for_each_message(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """A server that answers each message with an unawaited write, the tutorial's echo
    loop, sends the answer from write() itself: a round trip costs 3 scheduler steps
    (the client's write checkpoint, its read's wake-up, the server's wake-up), not a
    fourth for the background writer."""
    client, server = tcp_pair

    async def echo() -> None:
        while data := await server.input_stream.read(4096, InputStreamOptions.PARTIAL):
            server.output_stream.write(data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo)
        await client.output_stream.write(b"warm")
        assert await client.input_stream.read(4) == b"warm"
        steps = TaskSteps()
        trio.lowlevel.add_instrument(steps)
        try:
            for index in range(200):
                await client.output_stream.write(b"%04d" % index)
                assert await client.input_stream.read(4) == b"%04d" % index
        finally:
            trio.lowlevel.remove_instrument(steps)
        await client.send_eof()
    assert steps.total <= 3 * 200 + 10, steps.total


async def test_unawaited_writes_still_leave_together_after_awaited_ones(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    output = client.output_stream
    await output.write(b"awaited ")
    operations = [output.write(b"%d," % index) for index in range(1000)]
    # Only the first of them may have gone out at once; the rest wait together.
    assert sum(operation.done for operation in operations) <= 1
    await output.flush()
    expected = b"awaited " + b"".join(b"%d," % index for index in range(1000))
    assert await receive_exactly(server, len(expected)) == expected


async def test_failing_many_pending_writes_takes_linear_time(
    listener: StreamSocketListener,
) -> None:
    """cancel_io() aborts 200,000 pending writes, and leaving the block raises the first:
    both take less than making the writes did (quadratic took seconds)."""
    count = 200_000
    marks: list[float] = []  # writing started, writing ended

    async def abort_pending_writes() -> None:
        async with StreamSocket() as client:
            await client.connect("127.0.0.1", listener.information.local_port)
            server = await listener.accept()
            marks.append(time.perf_counter())
            for _ in range(count):
                client.output_stream.write(b"w")
            marks.append(time.perf_counter())
            await client.cancel_io()
            await server.aclose()

    with trio.fail_after(60), pytest.raises(SocketStatusError) as caught:
        await abort_pending_writes()
    failing = time.perf_counter() - marks[1]
    writing = marks[1] - marks[0]
    assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED
    assert failing < 2 * writing + 0.5, f"{failing:.2f} s to fail {count} writes"


async def test_cancel_io_after_part_of_a_joined_batch_left_breaks_the_stream(
    listener: StreamSocketListener,
) -> None:
    """Small writes leave joined in one buffer. When cancel_io() comes after the kernel
    took part of that buffer, the writes it took whole have completed, and the one it
    took part of is torn on the wire: the stream breaks, so that no later write follows
    the torn one. Closing then resets the connection: the peer gets what had left, in
    order (the torn message at most part of it), and then an error, never an end of
    stream that would make the cut look complete."""
    size = 1999  # so that the kernel's cut falls inside a message, not between two
    listener.sockets[0].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    async with StreamSocket() as client:
        client.control.outbound_buffer_size_in_bytes = 16 * 1024
        await client.connect("127.0.0.1", listener.information.local_port)
        server = await listener.accept()
        async with server:
            # The first write of a task step, with nothing pending, goes straight to the
            # kernel; the messages after it pile up and leave joined.
            client.output_stream.write(b"<")
            messages = [b"%04d" % seq + bytes([seq % 251]) * size for seq in range(100)]
            operations = [client.output_stream.write(m) for m in messages]
            for _ in range(1000):  # the peer does not read: the kernel fills, then waits
                if client.output_stream.pending_bytes < sum(map(len, messages)):
                    break
                await trio.sleep(0.01)
            await trio.sleep(0.05)
            await client.cancel_io()
            completed = [op for op in operations if op.done and op._error is None]
            for operation in operations[len(completed) :]:
                with pytest.raises(SocketStatusError) as caught:
                    await operation
                assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED
            assert 0 < len(completed) < len(messages)
            with pytest.raises(trio.BrokenResourceError):
                client.output_stream.write(b"9999 after the torn message")
            await client.aclose()
            received, status = await _receive_until_the_end(server)
            assert status == SocketErrorStatus.CONNECTION_RESET_BY_PEER
    sent = b"<" + b"".join(messages[: len(completed) + 1])  # up to the torn one
    assert sent.startswith(received)


async def _receive_until_the_end(
    sock: StreamSocket,
) -> tuple[bytes, SocketErrorStatus | None]:
    """What *sock* receives until the stream ends (None) or fails (its status)."""
    received = bytearray()
    try:
        while chunk := await sock.receive_some():
            received += chunk
    except SocketStatusError as error:
        return bytes(received), error.status
    return bytes(received), None


# -- a socket that was not entered ---------------------------------------------------------


@asynccontextmanager
async def unentered_sender(
    protection_level: SocketProtectionLevel = SocketProtectionLevel.PLAIN_SOCKET,
    certificates: TlsCertificates | None = None,
) -> AsyncIterator[tuple[StreamSocket, StreamSocket]]:
    """(sender, reader): an accepted socket used without ``async with``, as a
    ``trio.serve_listeners`` handler or a ported WinRT handler uses it, and an entered
    client reading from it."""
    async with StreamSocketListener() as listener:
        if certificates is not None:
            listener.control.server_certificate = certificates.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", protection_level)
        async with StreamSocket() as client:
            if certificates is not None:
                client.control.trusted_certificates = [certificates.authority]
            await client.connect(
                HostName("127.0.0.1"), listener.information.local_port, protection_level
            )
            sender = await listener.accept()
            try:
                yield sender, client
            finally:
                await sender.aclose()


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_awaited_writes_and_flush_need_no_nursery(
    tls: bool, tls_certificates: TlsCertificates
) -> None:
    """Awaited writes and flush() are sent by the awaiting task, in the order the
    writes were started, whether the socket was entered or not."""
    level = SocketProtectionLevel.TLS12 if tls else SocketProtectionLevel.PLAIN_SOCKET
    big = bytes(range(256)) * 16384  # 4 MiB: more than the kernel buffers take at once
    batch = [b"%04d," % index for index in range(1000)]
    expected = b"awaited" + big + b"".join(batch) + b"before" + b"after"
    received = bytearray()
    with trio.fail_after(30):
        async with unentered_sender(level, tls_certificates if tls else None) as (
            sender,
            client,
        ):
            output = sender.output_stream

            async def read() -> None:
                received.extend(await receive_exactly(client, len(expected)))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                assert await output.write(b"awaited") == 7
                assert await output.write(big) == len(big)
                operations = [output.write(piece) for piece in batch]
                assert await output.flush() is True
                assert all(operation.done for operation in operations)
                unawaited = output.write(b"before")
                assert await output.write(b"after") == 5
                assert unawaited.done
    assert bytes(received) == expected


async def test_an_unawaited_write_without_a_nursery_starts_at_once_and_close_sends_the_rest() -> (
    None
):
    async with unentered_sender() as (sender, client):
        request = sender.output_stream.write(b"request")
        # Started in write() itself: the peer has it though nobody awaited it.
        assert request.done
        assert await receive_exactly(client, 7) == b"request"
        sender.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        big = b"b" * (4 * 1024 * 1024)
        operation = sender.output_stream.write(big)
        assert not operation.done  # the kernel took only part of it
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender.aclose)  # a graceful close sends the rest
            assert await receive_exactly(client, len(big)) == big
        assert await operation == len(big)


async def test_without_a_nursery_writes_to_a_full_kernel_buffer_wait_for_a_driver() -> None:
    """Once the kernel refused a send, unawaited writes on a socket that was not entered
    do not try again (each try gathers what is pending: a peer that reads nothing made
    every write cost as much as all before it); the next awaited write, flush or close
    waits for room and sends everything, in order."""
    async with unentered_sender() as (sender, client):
        sender.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        stream = sender.output_stream
        attempts = 0
        send_step = stream._send_step

        def counted() -> bool:
            nonlocal attempts
            attempts += 1
            return send_step()

        stream._send_step = counted  # type: ignore[method-assign]
        chunks = [b"%06d" % index + b"." * 94 for index in range(20_000)]
        for chunk in chunks:
            stream.write(chunk)
        assert stream.pending_bytes > 1_000_000  # the kernel took a small part
        kernel_refused = attempts
        assert kernel_refused < 1_000, kernel_refused  # not one try per write
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.flush)
            assert await receive_exactly(client, 2_000_000) == b"".join(chunks)
        assert stream.pending_bytes == 0
        # The flush found room: a write is sent at once again.
        assert stream.write(b"again").done
        assert await receive_exactly(client, 5) == b"again"


async def test_writes_never_sent_are_reported_like_a_coroutine_never_awaited(
    listener: StreamSocketListener,
) -> None:
    sender = StreamSocket()
    await sender.connect("127.0.0.1", listener.information.local_port)
    sender.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
    async with await listener.accept():  # a peer that never reads
        operation = sender.output_stream.write(b"n" * (4 * 1024 * 1024))
        assert not operation.done
        # Neither entered, nor closed, nor awaited: nothing will ever send the rest.
        del sender, operation
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
    messages = {(warning.category, str(warning.message).split(": ", 1)[-1]) for warning in caught}
    assert (
        RuntimeWarning,
        "1 writes of 4194304 bytes were never sent: nobody awaited them or flushed the "
        "stream, and the socket was neither entered with 'async with' nor closed",
    ) in messages
    assert any(category is ResourceWarning for category, _ in messages)  # the socket's own


async def test_a_cancelled_send_all_without_a_nursery_is_finished_by_the_next_send() -> None:
    async with unentered_sender() as (sender, client):
        sender.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        big = bytes(range(256)) * 16384
        with trio.move_on_after(0.05) as scope:
            await sender.send_all(big)  # nobody reads yet: it waits, and is cancelled
        assert scope.cancelled_caught
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender.send_all, b"next")
            assert await receive_exactly(client, len(big) + 4) == big + b"next"


@pytest.mark.parametrize("entered", [True, False], ids=["entered", "unentered"])
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_a_held_output_stream_refuses_writes_once_its_socket_closed(
    tls: bool, entered: bool, tls_certificates: TlsCertificates
) -> None:
    """``write()`` on a stream taken before the socket closed raises at once, also when
    its last writes took the unchecked hot path (sent and flushed, nothing pending)."""
    level = SocketProtectionLevel.TLS12 if tls else SocketProtectionLevel.PLAIN_SOCKET
    with trio.fail_after(10):
        async with unentered_sender(level, tls_certificates if tls else None) as (
            sender,
            client,
        ):
            if entered:
                await sender.__aenter__()
            output = sender.output_stream
            output.write(b"hot ")
            output.write(b"path")
            await output.flush()
            assert await receive_exactly(client, 8) == b"hot path"
            await sender.aclose()
            with pytest.raises(trio.ClosedResourceError):
                output.write(b"after the close")
            with pytest.raises(trio.ClosedResourceError):
                await output.write(b"awaited after the close")
            with pytest.raises(trio.ClosedResourceError):
                await sender.send_all(b"sent after the close")


@pytest.mark.parametrize("entered", [True, False], ids=["block and task", "two tasks"])
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_a_second_graceful_close_waits_for_the_one_under_way(
    tls: bool, entered: bool, tls_certificates: TlsCertificates
) -> None:
    """Two graceful closes at once -- a task's ``aclose()`` and the end of the block, or
    two tasks' -- send every unawaited write, and neither raises: the second waits for
    the first. (The second took the first one's flush for a send under way and closed
    at once: the first raised ``OPERATION_ABORTED`` and the peer got a reset.)"""
    level = SocketProtectionLevel.TLS12 if tls else SocketProtectionLevel.PLAIN_SOCKET
    chunks = [bytes([index]) * 65536 for index in range(128)]  # 8 MiB, not awaited
    received = bytearray()
    errors: list[BaseException] = []
    with trio.fail_after(30):
        async with unentered_sender(level, tls_certificates if tls else None) as (
            sender,
            client,
        ):

            async def close() -> None:
                try:
                    await sender.aclose()
                except Exception as error:
                    errors.append(error)

            async def read() -> None:
                received.extend(await receive_all(client))

            # The block ends first, the nursery when the reader has read to the end.
            async with trio.open_nursery() as nursery, contextlib.AsyncExitStack() as block:
                if entered:
                    await block.enter_async_context(sender)
                for chunk in chunks:
                    sender.output_stream.write(chunk)
                nursery.start_soon(close)
                await trio.testing.wait_all_tasks_blocked()  # it flushes now
                assert sender.output_stream.pending_bytes
                nursery.start_soon(read)
                if not entered:
                    await close()
    assert errors == []
    assert bytes(received) == b"".join(chunks)


@pytest.mark.parametrize("closes_first", ["the cancelled close", "the waiting close"])
async def test_writes_a_cancelled_close_left_unsent_fail_the_close_waiting_for_it(
    closes_first: str, tls_certificates: TlsCertificates
) -> None:
    """A close that is cancelled while it sends unawaited writes closes at once and
    fails them (``OPERATION_ABORTED``), but its task gets ``Cancelled``: a close that was
    waiting for it raises their failure, so that it is not lost. A close after it finds
    the socket closed and raises nothing, as after ``trio.aclose_forcefully``."""
    chunks = [bytes([index]) * 65536 for index in range(128)]  # 8 MiB, not awaited
    errors: list[BaseException] = []
    with trio.fail_after(30):
        async with unentered_sender(SocketProtectionLevel.PLAIN_SOCKET, None) as (sender, _):

            async def cancelled_close() -> None:
                with trio.CancelScope() as scope:
                    cancelled.append(scope)
                    await sender.aclose()

            async def close() -> None:
                try:
                    await sender.aclose()
                except Exception as error:
                    errors.append(error)

            cancelled: list[trio.CancelScope] = []
            async with trio.open_nursery() as nursery:
                for chunk in chunks:
                    sender.output_stream.write(chunk)
                nursery.start_soon(cancelled_close)
                await trio.testing.wait_all_tasks_blocked()  # it flushes; the peer reads nothing
                if closes_first == "the waiting close":
                    nursery.start_soon(close)
                    await trio.testing.wait_all_tasks_blocked()
                cancelled[0].cancel()
            if closes_first == "the cancelled close":
                await close()  # after it: the socket is closed already
            await close()  # a third: nothing left to raise
    if closes_first == "the cancelled close":
        assert errors == []
    else:
        assert len(errors) == 1, errors
        assert SocketError.get_status(errors[0]) is SocketErrorStatus.OPERATION_ABORTED


# -- send_all on the output stream ---------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_send_all_is_not_refused_by_the_bound_of_unawaited_writes(
    tls: bool, tls_certificates: TlsCertificates
) -> None:
    """``send_all`` waits for its data, so ``max_pending_bytes`` (the bound on writes
    nobody waits for) never refuses it: not one larger than the bound, which the kernel
    may already have begun to take (a refusal would tear it), nor one behind writes
    that fill the bound. Everything arrives, in order."""
    level = SocketProtectionLevel.TLS12 if tls else SocketProtectionLevel.PLAIN_SOCKET
    big = bytes(range(256)) * 98304  # 24 MiB: more than the kernel takes at once
    with trio.fail_after(20):
        async with unentered_sender(level, tls_certificates if tls else None) as (
            sender,
            client,
        ):
            await sender.__aenter__()
            output = sender.output_stream
            output.max_pending_bytes = 64 * 1024
            received = bytearray()
            expected = big + b"w" * 60_001 + b"after the writes"

            async def read() -> None:
                received.extend(await receive_exactly(client, len(expected)))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                await sender.send_all(big)
                output.write(b"w")  # a plain socket's write() sends this one itself
                output.write(b"w" * 60_000)  # queued, in the same task step: most of the bound
                with pytest.raises(BufferError):
                    output.write(b"x" * 8192)  # unawaited writes stay bounded
                await output.send_all(b"after the writes")
    assert bytes(received) == expected


async def test_closing_the_output_stream_object_loses_no_later_send_all(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """After ``output_stream.aclose()`` the socket still sends (``send_all``); what a
    cancelled ``send_all`` left pending is still sent when the socket closes."""
    client, server = tcp_pair
    await client.output_stream.aclose()
    data = bytes(range(256)) * 40_000  # 10 MiB: more than the kernel buffers take
    with trio.move_on_after(0.2):
        await client.send_all(data)  # the server does not read yet
    received = bytearray()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:

            async def read() -> None:
                while chunk := await server.receive_some():
                    received.extend(chunk)

            nursery.start_soon(read)
            await client.aclose()
    assert bytes(received) == data


class _Payload(bytes):
    """A bytes subclass, as some protocol libraries hand out."""


@pytest.mark.parametrize("pending", [False, True], ids=["nothing pending", "writes pending"])
async def test_writes_and_send_all_take_the_same_bytes_like_objects(
    tcp_pair: tuple[StreamSocket, StreamSocket], pending: bool
) -> None:
    """A bytes subclass and a strided memoryview are bytes-like: ``write`` and
    ``send_all`` take them alike, whether or not writes are pending."""
    client, server = tcp_pair
    strided = memoryview(b"0a1b2c3d")[::2]  # b"0123", not C-contiguous
    expected = b""
    for data in (_Payload(b"sub"), strided):
        if pending:
            client.output_stream.write(b"<")
        await client.send_all(data)
        client.output_stream.write(data)
        expected += (b"<" if pending else b"") + bytes(data) * 2
    await client.output_stream.flush()
    assert await receive_exactly(server, len(expected)) == expected


async def test_flush_of_a_closed_stream_raises(listener: StreamSocketListener) -> None:
    """WinRT's ``FlushAsync`` fails on a closed object (``RO_E_CLOSED``): ``flush()``
    raises :exc:`trio.ClosedResourceError` once the stream object, or its socket
    (stream or datagram), is closed, as ``write()`` does."""
    for close_the_socket in (False, True):
        async with StreamSocket() as client:
            await client.connect(HostName("127.0.0.1"), listener.information.local_port)
            server = await listener.accept()
            stream = client.output_stream
            stream.write(b"sent")
            assert await stream.flush() is True
            await (client.aclose() if close_the_socket else stream.aclose())
            with pytest.raises(trio.ClosedResourceError, match="flush"):
                await stream.flush()
            await server.aclose()
    async with trio_sockets.DatagramSocket() as datagrams:
        output = await datagrams.get_output_stream(HostName("127.0.0.1"), "9")
        await datagrams.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await output.flush()


@pytest.mark.parametrize("kind", [bytearray, memoryview])
async def test_a_write_over_the_bound_is_refused_before_its_data_is_copied(
    tcp_pair: tuple[StreamSocket, StreamSocket], kind: type[bytearray | memoryview]
) -> None:
    """A 32 MiB bytearray or memoryview written past ``max_pending_bytes`` raises
    BufferError having allocated nothing of its size (tracemalloc): it was copied whole
    first (32 MiB more at the peak)."""
    client, _ = tcp_pair
    client.output_stream.max_pending_bytes = 1 << 20
    data = kind(bytearray(32 << 20))
    gc.collect()
    tracemalloc.start()
    try:
        with pytest.raises(BufferError, match="33554432 bytes"):
            client.output_stream.write(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes allocated to refuse it"


async def test_send_all_sends_from_the_callers_buffer_without_a_copy(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """``send_all`` of 32 MiB in a bytearray to a peer that reads it all keeps no copy
    of it (tracemalloc peak under 4 MiB; it copied all of it, sent part included), and
    the buffer is the caller's again once the call returns (it can be resized)."""
    client, server = tcp_pair
    data = bytearray(range(256)) * (128 << 10)
    expected = memoryview(bytes(data))
    received = [0]

    async def read() -> None:  # compared as it comes, holding no more than a chunk
        while received[0] < len(expected):
            chunk = await server.receive_some(1 << 20)
            assert chunk == expected[received[0] : received[0] + len(chunk)]
            received[0] += len(chunk)

    gc.collect()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        tracemalloc.start()
        try:
            await client.send_all(data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes allocated to send it"
    assert received == [len(data)]
    data.extend(b"resizable")  # no view of it is left behind


@asynccontextmanager
async def narrowed_pair(
    listener: StreamSocketListener,
) -> AsyncIterator[tuple[StreamSocket, StreamSocket]]:
    """(client, server), entered, with small buffers from the client (:func:`narrow`)."""
    async with StreamSocket() as client:
        await client.connect(HostName("127.0.0.1"), listener.information.local_port)
        async with await listener.accept() as server:
            narrow(client, server)
            yield client, server


async def test_a_cancelled_send_all_keeps_a_copy_of_its_rest_from_the_call_on(
    listener: StreamSocketListener,
) -> None:
    """A ``send_all`` cancelled after its first bytes left still sends all of it, as
    it was when the call ended: the caller changing (or resizing) its buffer afterwards
    changes nothing that is sent. Only the rest is held, not the part sent."""
    with trio.fail_after(30):
        async with narrowed_pair(listener) as (client, server):
            data = bytearray(range(256)) * (16 << 10)  # 4 MiB
            with trio.move_on_after(0.2) as scope:
                await client.send_all(data)
            assert scope.cancelled_caught  # the peer reads nothing yet
            assert 0 < client.output_stream.pending_bytes < len(data)
            expected = bytes(data)
            data[:] = bytes(len(data))  # the caller's buffer, changed and resized
            data.extend(b"more")
            received = await receive_exactly(server, len(expected))
            await client.output_stream.flush()
    assert received == expected


async def test_a_cancelled_send_all_of_bytes_keeps_them_without_a_copy(
    listener: StreamSocketListener,
) -> None:
    """``bytes`` cannot change: the rest of a cancelled ``send_all`` of them is held as
    a view, copied neither during the call nor as it ends, and all of it arrives."""
    with trio.fail_after(30):
        async with narrowed_pair(listener) as (client, server):
            data = bytes(range(256)) * (64 << 10)  # 16 MiB
            gc.collect()
            tracemalloc.start()
            try:
                with trio.move_on_after(0.2) as scope:
                    await client.send_all(data)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert scope.cancelled_caught  # the peer reads nothing yet
            assert peak < 1 << 20, f"{peak} bytes allocated"
            received = await receive_exactly(server, len(data))
            await client.output_stream.flush()
    assert received == data
