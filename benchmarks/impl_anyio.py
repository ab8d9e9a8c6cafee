"""anyio 4, on either backend (``impl_anyio_trio`` / ``impl_anyio_asyncio`` pick one).

``create_tcp_listener(...).serve`` / ``connect_tcp`` streams, ``create_udp_socket`` and
``create_connected_udp_socket``; batches are joined into one buffer for one ``send``;
length-prefixed messages are packed with ``struct`` and read with a
``BufferedByteReceiveStream``'s ``receive_exactly``.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from time import perf_counter

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from benchmarks.common import (
    ACK,
    BACKLOG,
    FRAME,
    HOST,
    RECV_SIZE,
    TIMEOUT,
    Params,
    PeakRss,
    Sample,
    ServerKind,
    check,
    message,
    server_kind,
)


def run(workload: str, params: Params, port: int | None, *, backend: str) -> Sample:
    return anyio.run(_run, workload, params, port, backend=backend)


def serve(kind: ServerKind, params: Params, ready: Callable[[int], None], *, backend: str) -> None:
    async def main() -> None:
        async with anyio.create_task_group() as group:
            ready(await group.start(_server, kind))

    anyio.run(main, backend=backend)


async def _run(workload: str, params: Params, port: int | None) -> Sample:
    with anyio.fail_after(TIMEOUT):
        if workload.startswith("tcp_conns"):
            return await _tcp_conns(params)
        async with anyio.create_task_group() as group:
            if port is None:
                port = await group.start(_server, server_kind(workload))
            if workload == "tcp_bulk":
                sample = await _tcp_bulk(port, params)
            elif workload.startswith("tcp_pingpong"):
                sample = await _tcp_pingpong(port, params)
            elif workload.startswith("small_writes"):
                sample = await _small_writes(port, params, batched=workload.endswith("batched"))
            elif workload.startswith("udp_echo"):
                sample = await _udp_echo(port, params)
            elif workload.startswith("tcp_framed"):
                sample = await _tcp_framed(port, params)
            else:
                raise ValueError(f"unknown workload {workload!r}")
            group.cancel_scope.cancel()
        return sample


# -- servers ------------------------------------------------------------------------------


async def _server(
    kind: ServerKind, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED
) -> None:
    if kind == "udp_echo":
        async with await anyio.create_udp_socket(
            family=socket.AF_INET, local_host=HOST, local_port=0
        ) as udp:
            task_status.started(udp.extra(anyio.abc.SocketAttribute.local_port))
            async for data, (host, port) in udp:
                await udp.sendto(data, host, port)
        return
    handler = {
        "count": _count_handler,
        "echo": _echo_handler,
        "framed_echo": _framed_echo_handler,
    }[kind]
    listener = await anyio.create_tcp_listener(local_host=HOST, local_port=0, backlog=BACKLOG)
    async with listener:
        task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
        await listener.serve(handler)


async def _count_handler(stream: anyio.abc.SocketStream) -> None:
    async with stream:
        total = 0
        with contextlib.suppress(anyio.EndOfStream):
            while True:
                total += len(await stream.receive(RECV_SIZE))
        await stream.send(ACK.pack(total))


async def _echo_handler(stream: anyio.abc.SocketStream) -> None:
    async with stream:
        with contextlib.suppress(anyio.EndOfStream):
            while True:
                await stream.send(await stream.receive(RECV_SIZE))


async def _framed_echo_handler(stream: anyio.abc.SocketStream) -> None:
    async with stream:
        buffered = BufferedByteReceiveStream(stream)
        while True:
            try:
                header = await buffered.receive_exactly(FRAME.size)
            except anyio.IncompleteRead:
                check(not buffered.buffer, "end of stream inside a length prefix")
                break
            (length,) = FRAME.unpack(header)
            request = await buffered.receive_exactly(length)
            await stream.send(FRAME.pack(length) + request)


# -- clients ------------------------------------------------------------------------------


async def _receive_exactly(stream: anyio.abc.SocketStream, size: int) -> bytes:
    data = await stream.receive(size)
    if len(data) == size:
        return data
    buffer = bytearray(data)
    while len(buffer) < size:
        buffer += await stream.receive(size - len(buffer))
    return bytes(buffer)


async def _finish(stream: anyio.abc.SocketStream, expected: int) -> None:
    await stream.send_eof()
    (count,) = ACK.unpack(await _receive_exactly(stream, ACK.size))
    check(count == expected, f"the server counted {count} bytes, not {expected}")


async def _tcp_bulk(port: int, params: Params) -> Sample:
    chunk = b"b" * params.size
    async with await anyio.connect_tcp(HOST, port) as stream:
        start = perf_counter()
        for _ in range(params.count):
            await stream.send(chunk)
        await _finish(stream, params.count * params.size)
        elapsed = perf_counter() - start
    return {"seconds": elapsed, "bytes": params.count * params.size}


async def _tcp_pingpong(port: int, params: Params) -> Sample:
    async with contextlib.AsyncExitStack() as stack:
        streams = [
            await stack.enter_async_context(await anyio.connect_tcp(HOST, port))
            for _ in range(params.conns)
        ]
        start = perf_counter()
        async with anyio.create_task_group() as group:
            for index, stream in enumerate(streams):
                group.start_soon(_round_trips, stream, message(index, params.size), params.count)
        elapsed = perf_counter() - start
    return {"seconds": elapsed, "round_trips": params.count * params.conns}


async def _round_trips(stream: anyio.abc.SocketStream, request: bytes, count: int) -> None:
    size = len(request)
    for _ in range(count):
        await stream.send(request)
        reply = await _receive_exactly(stream, size)
        check(reply == request, "the echo differs from the request")


async def _small_writes(port: int, params: Params, *, batched: bool) -> Sample:
    writes = [message(index, params.size) for index in range(params.count)]
    async with await anyio.connect_tcp(HOST, port) as stream:
        start = perf_counter()
        if batched:
            if writes:
                await stream.send(b"".join(writes))
        else:
            for data in writes:
                await stream.send(data)
        elapsed = perf_counter() - start
        await _finish(stream, params.count * params.size)
    return {"seconds": elapsed, "writes": params.count}


async def _udp_echo(port: int, params: Params) -> Sample:
    request = message(0, params.size)
    async with await anyio.create_connected_udp_socket(
        HOST, port, family=socket.AF_INET, local_host=HOST
    ) as udp:
        sent = 0
        start = perf_counter()
        for _ in range(min(params.window, params.count)):
            await udp.send(request)
            sent += 1
        for _ in range(params.count):
            reply = await udp.receive()
            check(reply == request, "the echo differs from the request")
            if sent < params.count:
                await udp.send(request)
                sent += 1
        elapsed = perf_counter() - start
    return {"seconds": elapsed, "datagrams": params.count}


async def _tcp_framed(port: int, params: Params) -> Sample:
    request = message(0, params.size)
    async with await anyio.connect_tcp(HOST, port) as stream:
        buffered = BufferedByteReceiveStream(stream)
        sent = 0
        start = perf_counter()
        for _ in range(min(params.window, params.count)):
            await stream.send(FRAME.pack(len(request)) + request)
            sent += 1
        for _ in range(params.count):
            (length,) = FRAME.unpack(await buffered.receive_exactly(FRAME.size))
            reply = await buffered.receive_exactly(length)
            check(reply == request, "the echoed message differs from the request")
            if sent < params.count:
                await stream.send(FRAME.pack(len(request)) + request)
                sent += 1
        elapsed = perf_counter() - start
    return {"seconds": elapsed, "messages": params.count}


async def _tcp_conns(params: Params) -> Sample:
    release = anyio.Event()
    accepted = 0
    target = 0
    wave_accepted = anyio.Event()

    async def hold(stream: anyio.abc.SocketStream) -> None:
        nonlocal accepted
        async with stream:
            accepted += 1
            if accepted == target:
                wave_accepted.set()
            await release.wait()

    clients: list[anyio.abc.SocketStream] = []

    async def connect(port: int) -> None:
        clients.append(await anyio.connect_tcp(HOST, port))

    listener = await anyio.create_tcp_listener(local_host=HOST, local_port=0, backlog=BACKLOG)
    async with listener, anyio.create_task_group() as group:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        group.start_soon(listener.serve, hold)
        rss = PeakRss()
        start = perf_counter()
        for first in range(0, params.count, params.wave):
            size = min(params.wave, params.count - first)
            target = accepted + size
            wave_accepted = anyio.Event()
            async with anyio.create_task_group() as wave:
                for _ in range(size):
                    wave.start_soon(connect, port)
            await wave_accepted.wait()
        elapsed = perf_counter() - start
        growth = rss.growth_kib()
        check(len(clients) == params.count, f"{len(clients)} connections, not {params.count}")
        release.set()
        for stream in clients:
            await stream.aclose()
        group.cancel_scope.cancel()
    return {"seconds": elapsed, "connections": params.count, "rss_kib": growth}
