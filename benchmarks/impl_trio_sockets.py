"""trio_sockets, written the WinRT way.

``StreamSocketListener`` hands connections out through ``connection_received``; a
``StreamSocket`` sends with ``send_all`` / ``output_stream.write`` and receives with
``receive_some``; batches are ``output_stream.write`` calls followed by one ``flush``.
UDP servers answer through ``get_output_stream(args.remote_address, args.remote_port)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from time import perf_counter
from typing import Final

import trio

from benchmarks.common import (
    ACK,
    HOST,
    TIMEOUT,
    Params,
    PeakRss,
    Sample,
    ServerKind,
    check,
    message,
    server_kind,
)
from trio_sockets import StreamSocket, StreamSocketListener

NAME: Final = "trio_sockets"


def run(workload: str, params: Params, port: int | None) -> Sample:
    return trio.run(_run, workload, params, port)


def serve(kind: ServerKind, params: Params, ready: Callable[[int], None]) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            ready(await nursery.start(_server, kind))

    trio.run(main)


async def _run(workload: str, params: Params, port: int | None) -> Sample:
    with trio.fail_after(TIMEOUT):
        if workload.startswith("tcp_conns"):
            return await _tcp_conns(params)
        async with trio.open_nursery() as nursery:
            if port is None:
                port = await nursery.start(_server, server_kind(workload))
            sample = await _client(workload, params, port)
            nursery.cancel_scope.cancel()
        return sample


async def _client(workload: str, params: Params, port: int) -> Sample:
    if workload == "tcp_bulk":
        return await _tcp_bulk(port, params)
    if workload.startswith("tcp_pingpong"):
        return await _tcp_pingpong(port, params)
    if workload.startswith("small_writes"):
        return await _small_writes(port, params, batched=workload.endswith("batched"))
    if workload.startswith("udp_echo"):
        return await _udp_echo(port, params)
    raise ValueError(f"unknown workload {workload!r}")


# -- servers ------------------------------------------------------------------------------


async def _server(kind: ServerKind, *, task_status: trio.TaskStatus[int]) -> None:
    if kind == "udp_echo":
        await _udp_echo_server(task_status)
        return
    handler = _count_handler if kind == "count" else _echo_handler
    async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
        await listener.bind_endpoint(HOST, "0")
        task_status.started(int(listener.information.local_port))
        async for args in listener.connection_received:
            nursery.start_soon(handler, args.socket)


async def _count_handler(sock: StreamSocket) -> None:
    """Count bytes until end of stream, then answer with the count."""
    async with sock:
        total = 0
        while data := await sock.receive_some():
            total += len(data)
        await sock.send_all(ACK.pack(total))


async def _echo_handler(sock: StreamSocket) -> None:
    async with sock:
        while data := await sock.receive_some():
            await sock.send_all(data)


async def _udp_echo_server(task_status: trio.TaskStatus[int]) -> None:
    from trio_sockets import DatagramSocket

    async with DatagramSocket() as sock:
        await sock.bind_endpoint(HOST, "0")
        task_status.started(int(sock.information.local_port))
        async for args in sock.message_received:
            reader = args.get_data_reader()
            data = reader.read_buffer(reader.unconsumed_buffer_length)
            assert args.remote_address is not None
            output = await sock.get_output_stream(args.remote_address, args.remote_port)
            output.write(data)


# -- clients ------------------------------------------------------------------------------


async def _receive_exactly(sock: StreamSocket, size: int) -> bytes:
    data = await sock.receive_some(size)
    if len(data) == size:
        return data
    buffer = bytearray(data)
    while len(buffer) < size:
        more = await sock.receive_some(size - len(buffer))
        check(bool(more), f"end of stream after {len(buffer)} of {size} bytes")
        buffer += more
    return bytes(buffer)


async def _finish(sock: StreamSocket, expected: int) -> None:
    """Half-close, then check the counting server's acknowledgement."""
    await sock.send_eof()
    (count,) = ACK.unpack(await _receive_exactly(sock, ACK.size))
    check(count == expected, f"the server counted {count} bytes, not {expected}")


async def _tcp_bulk(port: int, params: Params) -> Sample:
    chunk = b"b" * params.size
    async with StreamSocket() as sock:
        await sock.connect(HOST, str(port))
        output = sock.output_stream
        start = perf_counter()
        for _ in range(params.count):
            await output.write(chunk)
        await _finish(sock, params.count * params.size)
        elapsed = perf_counter() - start
    return {"seconds": elapsed, "bytes": params.count * params.size}


async def _tcp_pingpong(port: int, params: Params) -> Sample:
    async with contextlib.AsyncExitStack() as stack:
        socks = []
        for _ in range(params.conns):
            sock = await stack.enter_async_context(StreamSocket())
            await sock.connect(HOST, str(port))
            socks.append(sock)
        start = perf_counter()
        async with trio.open_nursery() as nursery:
            for index, sock in enumerate(socks):
                nursery.start_soon(_round_trips, sock, message(index, params.size), params.count)
        elapsed = perf_counter() - start
    return {"seconds": elapsed, "round_trips": params.count * params.conns}


async def _round_trips(sock: StreamSocket, request: bytes, count: int) -> None:
    size = len(request)
    for _ in range(count):
        await sock.send_all(request)
        reply = await _receive_exactly(sock, size)
        check(reply == request, "the echo differs from the request")


async def _small_writes(port: int, params: Params, *, batched: bool) -> Sample:
    writes = [message(index, params.size) for index in range(params.count)]
    async with StreamSocket() as sock:
        await sock.connect(HOST, str(port))
        output = sock.output_stream
        start = perf_counter()
        if batched:
            for data in writes:
                output.write(data)
            await output.flush()
        else:
            for data in writes:
                await output.write(data)
        elapsed = perf_counter() - start
        await _finish(sock, params.count * params.size)
    return {"seconds": elapsed, "writes": params.count}


async def _udp_echo(port: int, params: Params) -> Sample:
    from trio_sockets import DatagramSocket

    request = message(0, params.size)
    async with DatagramSocket() as sock:
        await sock.connect(HOST, str(port))
        output = sock.output_stream
        received = sock.message_received
        sent = 0
        start = perf_counter()
        for _ in range(min(params.window, params.count)):
            output.write(request)
            sent += 1
        for _ in range(params.count):
            args = await received.receive()
            check(args.data == request, "the echo differs from the request")
            if sent < params.count:
                output.write(request)
                sent += 1
        elapsed = perf_counter() - start
        await output.flush()
    return {"seconds": elapsed, "datagrams": params.count}


async def _tcp_conns(params: Params) -> Sample:
    """Open *count* idle connections, both ends here, in waves; time and memory."""
    release = trio.Event()
    accepted = 0
    target = 0
    wave_accepted = trio.Event()

    async def hold(sock: StreamSocket) -> None:
        nonlocal accepted
        async with sock:
            accepted += 1
            if accepted == target:
                wave_accepted.set()
            await release.wait()

    async def accept_all(listener: StreamSocketListener) -> None:
        async for args in listener.connection_received:
            nursery.start_soon(hold, args.socket)

    clients: list[StreamSocket] = []

    async def connect(port: str) -> None:
        sock = StreamSocket()
        await sock.connect(HOST, port)
        clients.append(sock)

    async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
        await listener.bind_endpoint(HOST, "0")
        port = listener.information.local_port
        nursery.start_soon(accept_all, listener)
        rss = PeakRss()
        start = perf_counter()
        for first in range(0, params.count, params.wave):
            size = min(params.wave, params.count - first)
            target = accepted + size
            wave_accepted = trio.Event()
            async with trio.open_nursery() as wave:
                for _ in range(size):
                    wave.start_soon(connect, port)
            await wave_accepted.wait()
        elapsed = perf_counter() - start
        growth = rss.growth_kib()
        check(len(clients) == params.count, f"{len(clients)} connections, not {params.count}")
        release.set()
        for sock in clients:
            await sock.aclose()
        nursery.cancel_scope.cancel()
    return {"seconds": elapsed, "connections": params.count, "rss_kib": growth}
