"""Raw trio: ``serve_tcp`` / ``open_tcp_stream`` (``SocketStream``) and ``trio.socket``.

Batches are joined into one buffer for one ``send_all``: trio's streams take one buffer.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import Callable
from time import perf_counter
from typing import Final

import trio

from benchmarks.common import (
    ACK,
    BACKLOG,
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

NAME: Final = "trio"


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
            if workload == "tcp_bulk":
                sample = await _tcp_bulk(port, params)
            elif workload.startswith("tcp_pingpong"):
                sample = await _tcp_pingpong(port, params)
            elif workload.startswith("small_writes"):
                sample = await _small_writes(port, params, batched=workload.endswith("batched"))
            elif workload.startswith("udp_echo"):
                sample = await _udp_echo(port, params)
            else:
                raise ValueError(f"unknown workload {workload!r}")
            nursery.cancel_scope.cancel()
        return sample


# -- servers ------------------------------------------------------------------------------


async def _server(kind: ServerKind, *, task_status: trio.TaskStatus[int]) -> None:
    if kind == "udp_echo":
        await _udp_echo_server(task_status)
        return
    handler = _count_handler if kind == "count" else _echo_handler
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, handler, 0, host=HOST, backlog=BACKLOG)
        )
        task_status.started(listeners[0].socket.getsockname()[1])


async def _count_handler(stream: trio.SocketStream) -> None:
    total = 0
    while data := await stream.receive_some(RECV_SIZE):
        total += len(data)
    await stream.send_all(ACK.pack(total))


async def _echo_handler(stream: trio.SocketStream) -> None:
    while data := await stream.receive_some(RECV_SIZE):
        await stream.send_all(data)


async def _udp_echo_server(task_status: trio.TaskStatus[int]) -> None:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.bind((HOST, 0))
        task_status.started(sock.getsockname()[1])
        while True:
            data, address = await sock.recvfrom(RECV_SIZE)
            await sock.sendto(data, address)


# -- clients ------------------------------------------------------------------------------


async def _receive_exactly(stream: trio.SocketStream, size: int) -> bytes:
    data = await stream.receive_some(size)
    if len(data) == size:
        return data
    buffer = bytearray(data)
    while len(buffer) < size:
        more = await stream.receive_some(size - len(buffer))
        check(bool(more), f"end of stream after {len(buffer)} of {size} bytes")
        buffer += more
    return bytes(buffer)


async def _finish(stream: trio.SocketStream, expected: int) -> None:
    await stream.send_eof()
    (count,) = ACK.unpack(await _receive_exactly(stream, ACK.size))
    check(count == expected, f"the server counted {count} bytes, not {expected}")


async def _tcp_bulk(port: int, params: Params) -> Sample:
    chunk = b"b" * params.size
    async with await trio.open_tcp_stream(HOST, port) as stream:
        start = perf_counter()
        for _ in range(params.count):
            await stream.send_all(chunk)
        await _finish(stream, params.count * params.size)
        elapsed = perf_counter() - start
    return {"seconds": elapsed, "bytes": params.count * params.size}


async def _tcp_pingpong(port: int, params: Params) -> Sample:
    async with contextlib.AsyncExitStack() as stack:
        streams = []
        for _ in range(params.conns):
            stream = await trio.open_tcp_stream(HOST, port)
            stack.push_async_callback(stream.aclose)
            streams.append(stream)
        start = perf_counter()
        async with trio.open_nursery() as nursery:
            for index, stream in enumerate(streams):
                nursery.start_soon(_round_trips, stream, message(index, params.size), params.count)
        elapsed = perf_counter() - start
    return {"seconds": elapsed, "round_trips": params.count * params.conns}


async def _round_trips(stream: trio.SocketStream, request: bytes, count: int) -> None:
    size = len(request)
    for _ in range(count):
        await stream.send_all(request)
        reply = await _receive_exactly(stream, size)
        check(reply == request, "the echo differs from the request")


async def _small_writes(port: int, params: Params, *, batched: bool) -> Sample:
    writes = [message(index, params.size) for index in range(params.count)]
    async with await trio.open_tcp_stream(HOST, port) as stream:
        start = perf_counter()
        if batched:
            if writes:
                await stream.send_all(b"".join(writes))
        else:
            for data in writes:
                await stream.send_all(data)
        elapsed = perf_counter() - start
        await _finish(stream, params.count * params.size)
    return {"seconds": elapsed, "writes": params.count}


async def _udp_echo(port: int, params: Params) -> Sample:
    request = message(0, params.size)
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.connect((HOST, port))
        sent = 0
        start = perf_counter()
        for _ in range(min(params.window, params.count)):
            await sock.send(request)
            sent += 1
        for _ in range(params.count):
            reply = await sock.recv(RECV_SIZE)
            check(reply == request, "the echo differs from the request")
            if sent < params.count:
                await sock.send(request)
                sent += 1
        elapsed = perf_counter() - start
    return {"seconds": elapsed, "datagrams": params.count}


async def _tcp_conns(params: Params) -> Sample:
    release = trio.Event()
    accepted = 0
    target = 0
    wave_accepted = trio.Event()

    async def hold(stream: trio.SocketStream) -> None:
        nonlocal accepted
        accepted += 1
        if accepted == target:
            wave_accepted.set()
        await release.wait()

    clients: list[trio.SocketStream] = []

    async def connect(port: int) -> None:
        clients.append(await trio.open_tcp_stream(HOST, port))

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, hold, 0, host=HOST, backlog=BACKLOG)
        )
        port = listeners[0].socket.getsockname()[1]
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
        for stream in clients:
            await stream.aclose()
        nursery.cancel_scope.cancel()
    return {"seconds": elapsed, "connections": params.count, "rss_kib": growth}
