"""Raw trio: ``serve_tcp`` / ``open_tcp_stream`` (``SocketStream``) and ``trio.socket``.

The TCP clients and handlers are in ``trio_streams``: batches are joined into one buffer
for one ``send_all`` (trio's streams take one buffer), length-prefixed messages are
packed with ``struct`` and reassembled in a hand-written buffer.
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
from benchmarks.trio_streams import HANDLERS, run_client

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
            if workload.startswith("udp_echo"):
                sample = await _udp_echo(port, params)
            else:
                sample = await _tcp_client(workload, port, params)
            nursery.cancel_scope.cancel()
        return sample


# -- servers ------------------------------------------------------------------------------


async def _server(kind: ServerKind, *, task_status: trio.TaskStatus[int]) -> None:
    if kind == "udp_echo":
        await _udp_echo_server(task_status)
        return
    handler = HANDLERS[kind]
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, handler, 0, host=HOST, backlog=BACKLOG)
        )
        task_status.started(listeners[0].socket.getsockname()[1])


async def _udp_echo_server(task_status: trio.TaskStatus[int]) -> None:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.bind((HOST, 0))
        task_status.started(sock.getsockname()[1])
        while True:
            data, address = await sock.recvfrom(RECV_SIZE)
            await sock.sendto(data, address)


# -- clients ------------------------------------------------------------------------------


async def _tcp_client(workload: str, port: int, params: Params) -> Sample:
    async with contextlib.AsyncExitStack() as stack:
        streams = []
        for _ in range(params.conns):
            stream = await trio.open_tcp_stream(HOST, port)
            stack.push_async_callback(stream.aclose)
            streams.append(stream)
        return await run_client(workload, streams, params)


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
