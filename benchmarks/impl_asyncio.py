"""asyncio: streams (``start_server`` / ``open_connection``) and datagram protocols.

Writes are ``writer.write`` + ``await writer.drain()``; batches are ``writelines`` + one
``drain``; length-prefixed messages are packed with ``struct`` and read with
``readexactly``. ``impl_uvloop`` runs the same code on uvloop's event loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from time import perf_counter
from typing import Any, Final, cast

from benchmarks.common import (
    ACK,
    BACKLOG,
    FRAME,
    HOST,
    RECV_SIZE,
    TIMEOUT,
    BenchmarkError,
    Params,
    PeakRss,
    Sample,
    ServerKind,
    check,
    message,
    server_kind,
)

NAME: Final = "asyncio"

LoopFactory = Callable[[], asyncio.AbstractEventLoop] | None
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


def run(
    workload: str, params: Params, port: int | None, *, loop_factory: LoopFactory = None
) -> Sample:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_run(workload, params, port))


def serve(
    kind: ServerKind,
    params: Params,
    ready: Callable[[int], None],
    *,
    loop_factory: LoopFactory = None,
) -> None:
    async def main() -> None:
        _server, port = await _start_server(kind, set())
        ready(port)
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


async def _run(workload: str, params: Params, port: int | None) -> Sample:
    async with asyncio.timeout(TIMEOUT):
        if workload.startswith("tcp_conns"):
            return await _tcp_conns(params)
        server: asyncio.AbstractServer | asyncio.DatagramTransport | None = None
        handlers: set[asyncio.Task[None]] = set()
        if port is None:
            server, port = await _start_server(server_kind(workload), handlers)
        try:
            if workload == "tcp_bulk":
                return await _tcp_bulk(port, params)
            if workload.startswith("tcp_pingpong"):
                return await _tcp_pingpong(port, params)
            if workload.startswith("small_writes"):
                return await _small_writes(port, params, batched=workload.endswith("batched"))
            if workload.startswith("udp_echo"):
                return await _udp_echo(port, params)
            if workload.startswith("tcp_framed"):
                return await _tcp_framed(port, params)
            raise ValueError(f"unknown workload {workload!r}")
        finally:
            if server is not None:
                server.close()
            if handlers:
                # The handlers end at the clients' end of stream; let them close.
                await asyncio.wait(handlers, timeout=5)


# -- servers ------------------------------------------------------------------------------


async def _start_server(
    kind: ServerKind, handlers: set[asyncio.Task[None]]
) -> tuple[asyncio.AbstractServer | asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    if kind == "udp_echo":
        transport, _ = await loop.create_datagram_endpoint(
            _EchoProtocol, local_addr=(HOST, 0), family=socket.AF_INET
        )
        return transport, transport.get_extra_info("sockname")[1]
    handler: Handler = {
        "count": _count_handler,
        "echo": _echo_handler,
        "framed_echo": _framed_echo_handler,
    }[kind]

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        await handler(reader, writer)

    server = await asyncio.start_server(tracked, HOST, 0, backlog=BACKLOG)
    return server, server.sockets[0].getsockname()[1]


async def _count_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    total = 0
    while data := await reader.read(RECV_SIZE):
        total += len(data)
    writer.write(ACK.pack(total))
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(RECV_SIZE):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _framed_echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            header = await reader.readexactly(FRAME.size)
        except asyncio.IncompleteReadError as error:
            check(not error.partial, "end of stream inside a length prefix")
            break
        (length,) = FRAME.unpack(header)
        request = await reader.readexactly(length)
        writer.write(FRAME.pack(length) + request)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


class _EchoProtocol(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.transport.sendto(data, addr)


# -- clients ------------------------------------------------------------------------------


async def _finish(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, expected: int
) -> None:
    writer.write_eof()
    (count,) = ACK.unpack(await reader.readexactly(ACK.size))
    check(count == expected, f"the server counted {count} bytes, not {expected}")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def _tcp_bulk(port: int, params: Params) -> Sample:
    chunk = b"b" * params.size
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        start = perf_counter()
        for _ in range(params.count):
            writer.write(chunk)
            await writer.drain()
        await _finish(reader, writer, params.count * params.size)
        elapsed = perf_counter() - start
    finally:
        await _close(writer)
    return {"seconds": elapsed, "bytes": params.count * params.size}


async def _tcp_pingpong(port: int, params: Params) -> Sample:
    connections = [await asyncio.open_connection(HOST, port) for _ in range(params.conns)]
    try:
        start = perf_counter()
        await asyncio.gather(
            *(
                _round_trips(reader, writer, message(index, params.size), params.count)
                for index, (reader, writer) in enumerate(connections)
            )
        )
        elapsed = perf_counter() - start
    finally:
        for _, writer in connections:
            await _close(writer)
    return {"seconds": elapsed, "round_trips": params.count * params.conns}


async def _round_trips(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, count: int
) -> None:
    size = len(request)
    for _ in range(count):
        writer.write(request)
        await writer.drain()
        reply = await reader.readexactly(size)
        check(reply == request, "the echo differs from the request")


async def _small_writes(port: int, params: Params, *, batched: bool) -> Sample:
    writes = [message(index, params.size) for index in range(params.count)]
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        start = perf_counter()
        if batched:
            writer.writelines(writes)
            await writer.drain()
        else:
            for data in writes:
                writer.write(data)
                await writer.drain()
        elapsed = perf_counter() - start
        await _finish(reader, writer, params.count * params.size)
    finally:
        await _close(writer)
    return {"seconds": elapsed, "writes": params.count}


async def _tcp_framed(port: int, params: Params) -> Sample:
    request = message(0, params.size)
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        sent = 0
        start = perf_counter()
        for _ in range(min(params.window, params.count)):
            writer.write(FRAME.pack(len(request)) + request)
            await writer.drain()
            sent += 1
        for _ in range(params.count):
            (length,) = FRAME.unpack(await reader.readexactly(FRAME.size))
            reply = await reader.readexactly(length)
            check(reply == request, "the echoed message differs from the request")
            if sent < params.count:
                writer.write(FRAME.pack(len(request)) + request)
                await writer.drain()
                sent += 1
        elapsed = perf_counter() - start
    finally:
        await _close(writer)
    return {"seconds": elapsed, "messages": params.count}


class _ClientProtocol(asyncio.DatagramProtocol):
    """Keeps *window* requests in flight until *count* echoes came back."""

    def __init__(self, request: bytes, count: int, window: int) -> None:
        self.request = request
        self.count = count
        self.window = window
        self.sent = 0
        self.received = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def start(self) -> None:
        assert self.transport is not None
        for _ in range(min(self.window, self.count)):
            self.transport.sendto(self.request)
            self.sent += 1
        if not self.count:
            self.done.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.done.done():
            return
        if data != self.request:
            self.done.set_exception(BenchmarkError("the echo differs from the request"))
            return
        self.received += 1
        if self.sent < self.count:
            assert self.transport is not None
            self.transport.sendto(self.request)
            self.sent += 1
        elif self.received == self.count:
            self.done.set_result(None)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def _udp_echo(port: int, params: Params) -> Sample:
    loop = asyncio.get_running_loop()
    request = message(0, params.size)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _ClientProtocol(request, params.count, params.window),
        remote_addr=(HOST, port),
        family=socket.AF_INET,
    )
    try:
        start = perf_counter()
        protocol.start()
        await protocol.done
        elapsed = perf_counter() - start
    finally:
        transport.close()
    return {"seconds": elapsed, "datagrams": params.count}


async def _tcp_conns(params: Params) -> Sample:
    release = asyncio.Event()
    accepted = 0
    target = 0
    wave_accepted = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        if accepted == target:
            wave_accepted.set()
        await release.wait()
        await _close(writer)

    server = await asyncio.start_server(hold, HOST, 0, backlog=BACKLOG)
    port = server.sockets[0].getsockname()[1]
    clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        rss = PeakRss()
        start = perf_counter()
        for first in range(0, params.count, params.wave):
            size = min(params.wave, params.count - first)
            target = accepted + size
            wave_accepted = asyncio.Event()
            clients += await asyncio.gather(
                *(asyncio.open_connection(HOST, port) for _ in range(size))
            )
            await wave_accepted.wait()
        elapsed = perf_counter() - start
        growth = rss.growth_kib()
        check(len(clients) == params.count, f"{len(clients)} connections, not {params.count}")
    finally:
        release.set()
        server.close()
        await asyncio.gather(*(_close(writer) for _, writer in clients))
        await server.wait_closed()
    return {"seconds": elapsed, "connections": params.count, "rss_kib": growth}
