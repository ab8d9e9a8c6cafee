"""Writes on a socket that was not entered, sent while a task waits to receive on it.

A socket used without ``async with`` (an accepted socket handed to a
``trio.serve_listeners`` handler, a client ported member for member) has no writer
task: ``write()`` hands the kernel what it takes at once (on TLS, nothing) and the rest
waits for a task that sends. A request written without ``await`` and then an awaited
answer used to wait for each other for ever once the request outgrew the kernel's
buffers -- on TLS, whatever its size. A task waiting to receive on the socket now sends
those writes meanwhile, in order, and stops as soon as something arrives (on TLS, once
the record under way has left).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio
from conftest import cancel_io_during, live_tasks, open_fd_count, receive_exactly

from trio_sockets import (
    DataReader,
    HostName,
    InputStreamOptions,
    SocketError,
    SocketErrorStatus,
    SocketProtectionLevel,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets._io.sending import UNATTENDED
from trio_sockets.testing import TlsCertificates

#: More than loopback's socket buffers take at once (a few MiB at most).
LARGE = 8 * 1024 * 1024


def pattern(size: int) -> bytes:
    """*size* bytes whose order a reader can check."""
    return bytes(index % 251 for index in range(size))


@asynccontextmanager
async def unattended_pair(tls: bool) -> AsyncIterator[tuple[StreamSocket, StreamSocket]]:
    """(client, server): a connected client that was not entered (no writer task), and
    the accepted socket, entered."""
    async with StreamSocketListener() as listener:
        level = SocketProtectionLevel.PLAIN_SOCKET
        client = StreamSocket()
        if tls:
            certificates = TlsCertificates()
            listener.control.server_certificate = certificates.server
            client.control.trusted_certificates.append(certificates.authority)
            level = SocketProtectionLevel.TLS13
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", level)
        try:
            await client.connect(HostName("localhost"), listener.information.local_port, level)
            async with await listener.accept() as server:
                yield client, server
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await client.aclose()


async def read_partial(client: StreamSocket) -> bytes:
    return await client.input_stream.read(1024, InputStreamOptions.PARTIAL)


async def load_reader(client: StreamSocket) -> bytes:
    reader = DataReader(client.input_stream)
    reader.input_stream_options = InputStreamOptions.PARTIAL
    await reader.load(1024)
    data = reader.read_bytes(reader.unconsumed_buffer_length)
    reader.detach_stream()
    return data


async def receive_some(client: StreamSocket) -> bytes:
    return await client.receive_some()


RECEIVES: list[Callable[[StreamSocket], Awaitable[bytes]]] = [
    read_partial,
    load_reader,
    receive_some,
]


@pytest.mark.parametrize("receive", RECEIVES, ids=lambda receive: receive.__name__)
@pytest.mark.parametrize(
    ("tls", "size"), [(False, LARGE), (True, 100), (True, LARGE)], ids=["tcp", "tls", "tls-large"]
)
async def test_an_unawaited_request_leaves_while_the_answer_is_awaited(
    receive: Callable[[StreamSocket], Awaitable[bytes]], tls: bool, size: int
) -> None:
    """The ported request/response: ``write(request)`` without ``await``, then an awaited
    read of the answer, which the peer sends once it has the whole request. Before, it
    waited for ever (over TCP once the request outgrew the kernel's buffers; over TLS
    always: nothing was sent)."""
    request = pattern(size)
    async with unattended_pair(tls) as (client, server):
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:

                async def peer() -> None:
                    assert await receive_exactly(server, size) == request
                    await server.send_all(b"done")

                nursery.start_soon(peer)
                client.output_stream.write(request)
                assert await receive(client) == b"done"
        assert client.output_stream.pending_bytes == 0
    assert not UNATTENDED  # forgotten once sent: later receives test one empty dict


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_what_arrives_first_is_returned_and_the_rest_still_leaves_in_order(
    tls: bool,
) -> None:
    """A peer that speaks before it reads: the receive returns what came while the
    request is still going out (over TLS, once the record under way has left), and the
    next receive sends on; the peer gets every byte, in order."""
    request = pattern(LARGE)
    async with unattended_pair(tls) as (client, server):
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                greeted = trio.Event()

                async def peer() -> None:
                    await server.send_all(b"hello")
                    await greeted.wait()
                    assert await receive_exactly(server, LARGE) == request
                    await server.send_all(b"done")

                nursery.start_soon(peer)
                client.output_stream.write(request)
                assert await receive_exactly(client, 5) == b"hello"
                greeted.set()
                assert await receive_exactly(client, 4) == b"done"
        assert client.output_stream.pending_bytes == 0


async def test_a_cancelled_receive_leaves_the_rest_queued_in_order() -> None:
    """Cancelling the receive stops the sending at once over TCP (each system call's
    share is known): the rest stays queued and leaves with the next flush, nothing lost,
    nothing twice."""
    request = pattern(LARGE)
    async with unattended_pair(False) as (client, server):
        for start in range(0, LARGE, 64 * 1024):  # pending_bytes counts whole writes
            client.output_stream.write(request[start : start + 64 * 1024])
        with trio.move_on_after(0.2):
            await client.receive_some()  # the peer reads nothing yet: never answered
        left = client.output_stream.pending_bytes
        assert 0 < left < LARGE  # some left while it waited, not all (nobody read)
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:

                async def peer() -> None:
                    assert await receive_exactly(server, LARGE) == request

                nursery.start_soon(peer)
                await client.output_stream.flush()
        assert client.output_stream.pending_bytes == 0


async def test_cancel_io_ends_the_receive_and_the_writes_it_was_sending() -> None:
    """``cancel_io()`` during such a receive: the receive and the unsent writes fail with
    ``OPERATION_ABORTED``, the socket stays open, and no task is left behind."""
    async with unattended_pair(False) as (client, server):
        tasks = len(live_tasks())
        operation = client.output_stream.write(pattern(LARGE))
        errors = await cancel_io_during(client, client.receive_some)
        assert [SocketError.get_status(error) for error in errors] == [
            SocketErrorStatus.OPERATION_ABORTED
        ]
        with pytest.raises(SocketStatusError) as caught:
            await operation
        assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED
        assert len(live_tasks()) == tasks
        await server.send_all(b"still open")  # the socket stays open
        with trio.fail_after(10):
            assert await receive_exactly(client, 10) == b"still open"


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_a_close_from_another_task_ends_such_a_receive(tls: bool) -> None:
    """Another task closes the socket while a receive sends for it, the peer reading
    nothing: the close waits for the writes as a close does (here until cancelled,
    which closes at once), with no conflict over the socket between the two tasks
    (before, over TLS, the close failed with ``BusyResourceError``); the receive ends
    with ``OPERATION_ABORTED``, and no task or descriptor is left."""
    fds = open_fd_count()
    async with unattended_pair(tls) as (client, _):
        tasks = len(live_tasks())
        client.output_stream.write(pattern(LARGE))
        errors: list[BaseException] = []
        async with trio.open_nursery() as nursery:

            async def receive() -> None:
                try:
                    await client.receive_some()
                except SocketStatusError as error:
                    errors.append(error)

            nursery.start_soon(receive)
            await trio.testing.wait_all_tasks_blocked()
            with trio.move_on_after(0.5) as waited:
                await client.aclose()
            assert waited.cancelled_caught  # the peer reads nothing: the close waited
        assert [error.status for error in errors] == [SocketErrorStatus.OPERATION_ABORTED]
        assert len(live_tasks()) == tasks
    assert open_fd_count() == fds
