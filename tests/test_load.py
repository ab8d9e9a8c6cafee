"""Load and hostile peers on real loopback sockets: bytes exact, memory bounded, no hangs."""

from __future__ import annotations

import random
import resource
import socket
import struct

import pytest
import trio
from conftest import receive_exactly

from trio_sockets import (
    SocketError,
    SocketErrorStatus,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)

pytestmark = pytest.mark.slow


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _echo(sock: StreamSocket) -> None:
    async with sock:
        while data := await sock.receive_some():
            await sock.send_all(data)


async def test_a_thousand_clients_each_get_a_mebibyte_back_exactly() -> None:
    clients, size = 1000, 1024 * 1024
    # One shared random block, read by each client from its own rotation: the bytes a
    # connection gets back identify it, and the test itself holds 2 MiB, not 2 GiB.
    block = random.Random(0).randbytes(size)
    doubled = memoryview(block + block)
    done = 0
    before = _peak_rss_kib()
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = listener.information.local_port

        async def serve(task_status: trio.TaskStatus[None]) -> None:
            async with trio.open_nursery() as handlers:
                task_status.started()
                async for args in listener.connection_received:
                    handlers.start_soon(_echo, args.socket)

        async def client(seed: int) -> None:
            nonlocal done
            rng = random.Random(seed)
            expected = doubled[seed * 997 % size :][:size]
            async with StreamSocket() as sock:
                await sock.connect("127.0.0.1", port)

                async def upload() -> None:
                    offset = 0
                    while offset < size:
                        step = rng.randint(1, 65536)
                        sock.output_stream.write(expected[offset : offset + step])
                        offset += step
                        if rng.random() < 0.25:
                            await sock.output_stream.flush()
                    await sock.send_eof()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(upload)
                    received = 0
                    while received < size:
                        chunk = await sock.receive_some()
                        assert chunk, f"client {seed}: end of stream after {received} bytes"
                        assert chunk == expected[received : received + len(chunk)]
                        received += len(chunk)
                assert await sock.receive_some() == b""
                done += 1

        with trio.fail_after(600):
            async with trio.open_nursery() as nursery:
                await nursery.start(serve)
                async with trio.open_nursery() as client_nursery:
                    for seed in range(clients):
                        client_nursery.start_soon(client, seed)
                nursery.cancel_scope.cancel()
    assert done == clients
    # What a connection holds is bounded by what is in flight, not by what it carries.
    grown = _peak_rss_kib() - before
    assert grown < 256 * 1024, f"peak RSS grew by {grown} KiB for {clients} connections"


async def test_five_thousand_connections_held_on_one_listener() -> None:
    count = 5000
    held: list[StreamSocket] = []
    accepted: dict[str, StreamSocket] = {}  # by the client's port
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = listener.information.local_port
        before = _peak_rss_kib()
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:

                async def accept_all() -> None:
                    while len(accepted) < count:
                        sock = await listener.accept()
                        accepted[sock.information.remote_port] = sock

                nursery.start_soon(accept_all)
                for wave in range(0, count, 500):
                    async with trio.open_nursery() as connecting:
                        for _ in range(wave, min(wave + 500, count)):

                            async def connect() -> None:
                                sock = StreamSocket()
                                await sock.connect("127.0.0.1", port)
                                held.append(sock)

                            connecting.start_soon(connect)
        try:
            assert len(held) == len(accepted) == count
            with trio.fail_after(30):
                # Every one of them still works, each with its own peer.
                for index in (0, count // 2, count - 1):
                    client = held[index]
                    server = accepted[client.information.local_port]
                    await client.send_all(b"alive")
                    assert await receive_exactly(server, 5) == b"alive"
            per_connection = (_peak_rss_kib() - before) / count
            assert per_connection < 64, f"{per_connection:.1f} KiB per connection pair"
        finally:
            for sock in [*held, *accepted.values()]:
                sock._close_now()


async def test_a_client_that_never_reads_does_not_block_others() -> None:
    """Slow-loris: one peer fills its window and stops reading; the rest are served."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = int(listener.information.local_port)
        async with trio.open_nursery() as nursery:

            async def serve() -> None:
                async with trio.open_nursery() as handlers:
                    async for args in listener.connection_received:
                        handlers.start_soon(_echo, args.socket)

            nursery.start_soon(serve)
            stalled = socket.create_connection(("127.0.0.1", port))
            try:
                stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                stalled.setblocking(False)
                sent = 0
                with trio.move_on_after(2):
                    while True:  # the echo server's writes to it soon block
                        try:
                            sent += stalled.send(b"s" * 65536)
                        except BlockingIOError:
                            await trio.sleep(0.01)
                assert sent > 0
                with trio.fail_after(10):
                    for _ in range(20):
                        async with StreamSocket() as client:
                            await client.connect("127.0.0.1", str(port))
                            await client.send_all(b"served")
                            assert await receive_exactly(client, 6) == b"served"
            finally:
                stalled.close()
            nursery.cancel_scope.cancel()


async def test_peer_reset_mid_write_fails_the_writes_and_leaks_nothing() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        async with StreamSocket() as client:
            await client.connect("127.0.0.1", listener.information.local_port)
            server = await listener.accept()
            # Queue far more than the kernel buffers hold, then reset from the far side.
            operations = [client.output_stream.write(b"w" * 65536) for _ in range(256)]
            await trio.sleep(0.05)
            server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await server.aclose()
            with trio.fail_after(10), pytest.raises(SocketStatusError) as caught:
                await client.output_stream.flush()
            assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER
            failed = [op for op in operations if op.done and op._error is not None]
            assert failed, "the writes after the reset must fail"
            for op in failed:
                with pytest.raises(SocketStatusError) as each:
                    await op
                assert SocketError.get_status(each.value) == (
                    SocketErrorStatus.CONNECTION_RESET_BY_PEER
                )
            assert all(op.done for op in operations)
