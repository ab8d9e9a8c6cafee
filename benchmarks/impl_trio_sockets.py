"""trio_sockets, in two lines: the WinRT calls the tutorial teaches, and trio's calls.

``calls="winrt"`` (the ``trio_sockets`` line) is the code the tutorial and the
batched-sends how-to write:

* TCP servers take connections from ``connection_received`` and enter each socket with
  ``async with`` in a handler task; they read with ``input_stream.read(n, PARTIAL)``
  and echo with an unawaited ``output_stream.write(data)``.
* TCP clients ``await output_stream.write(...)``, read with ``input_stream.read``, and
  end with ``flush()`` and ``send_eof()``; batches are unawaited ``write()`` calls
  followed by one ``flush()``.
* Length-prefixed messages go through ``DataWriter`` (``write_uint32``, ``write_bytes``,
  ``await store()``) and ``DataReader`` (``await load(4)``, ``read_uint32``,
  ``await load(n)``, ``read_bytes``).
* The UDP server answers each ``message_received`` event through its own cache of
  ``get_output_stream(args.remote_address, args.remote_port)`` with an unawaited
  ``write``; the client is connected, writes without awaiting, and waits with
  ``await message_received.receive()``; both take the bytes from ``get_data_reader()``.

The WebSocket workloads are in ``ws_trio_sockets``, served through the same
``connection_received`` loop.

``calls="trio"`` (the ``trio_sockets (trio calls)`` line, ``impl_trio_sockets_trio_calls``)
runs raw trio's TCP code (``trio_streams``) over ``StreamSocket`` and serves with
``trio.serve_listeners``; UDP, which has no trio stream protocol, takes ``args.data``
and asks ``get_output_stream`` for every datagram.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter
from typing import Final, Literal

import trio

from benchmarks import trio_streams, ws_trio_sockets
from benchmarks.common import (
    ACK,
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
from trio_sockets import (
    DatagramSocket,
    DataReader,
    DataWriter,
    HostName,
    InputStream,
    InputStreamOptions,
    OutputStream,
    StreamSocket,
    StreamSocketListener,
)

NAME: Final = "trio_sockets"
Calls = Literal["winrt", "trio"]
PARTIAL: Final = InputStreamOptions.PARTIAL
#: The echo server's read size, as the issue's and tutorial's loop writes it.
ECHO_READ: Final = 4096


def run(workload: str, params: Params, port: int | None, *, calls: Calls = "winrt") -> Sample:
    return trio.run(_run, workload, params, port, calls)


def serve(
    kind: ServerKind, params: Params, ready: Callable[[int], None], *, calls: Calls = "winrt"
) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            ready(await nursery.start(_server, kind, calls))

    trio.run(main)


async def _run(workload: str, params: Params, port: int | None, calls: Calls) -> Sample:
    with trio.fail_after(TIMEOUT):
        if workload.startswith("tcp_conns"):
            return await _tcp_conns(params, calls)
        async with trio.open_nursery() as nursery:
            if port is None:
                port = await nursery.start(_server, server_kind(workload), calls)
            if workload.startswith("udp_echo"):
                sample = await _udp_echo(port, params, calls)
            elif workload.startswith("ws_"):
                sample = await ws_trio_sockets.run_client(workload, port, params)
            else:
                sample = await _tcp_client(workload, port, params, calls)
            nursery.cancel_scope.cancel()
        return sample


# -- servers ------------------------------------------------------------------------------


async def _server(kind: ServerKind, calls: Calls, *, task_status: trio.TaskStatus[int]) -> None:
    if kind == "udp_echo":
        await _udp_echo_server(calls, task_status)
        return
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint(HOST, "0")
        task_status.started(int(listener.information.local_port))
        if calls == "trio":
            await trio.serve_listeners(trio_streams.HANDLERS[kind], [listener])
        else:
            await _serve_winrt(listener, _HANDLERS[kind])


async def _serve_winrt(
    listener: StreamSocketListener, handler: Callable[[StreamSocket], Awaitable[None]]
) -> None:
    """The tutorial's concurrent server: one handler task per accepted socket."""
    async with trio.open_nursery() as nursery:
        async for args in listener.connection_received:
            nursery.start_soon(handler, args.socket)


async def _count_handler(sock: StreamSocket) -> None:
    """Count bytes until end of stream, then answer with the count."""
    async with sock:
        total = 0
        while data := await sock.input_stream.read(RECV_SIZE, PARTIAL):
            total += len(data)
        await sock.output_stream.write(ACK.pack(total))


async def _echo_handler(sock: StreamSocket) -> None:
    async with sock:
        input_stream = sock.input_stream
        output_stream = sock.output_stream
        while data := await input_stream.read(ECHO_READ, PARTIAL):
            output_stream.write(data)


async def _framed_echo_handler(sock: StreamSocket) -> None:
    async with sock:
        reader = DataReader(sock.input_stream)
        writer = DataWriter(sock.output_stream)
        while await reader.load(4):
            length = reader.read_uint32()
            await reader.load(length)
            request = reader.read_bytes(length)
            writer.write_uint32(length)
            writer.write_bytes(request)
            await writer.store()
        reader.detach_stream()
        writer.detach_stream()


_HANDLERS: Final[dict[ServerKind, Callable[[StreamSocket], Awaitable[None]]]] = {
    "count": _count_handler,
    "echo": _echo_handler,
    "framed_echo": _framed_echo_handler,
    "ws_echo": ws_trio_sockets.echo_handler,
    "ws_count": ws_trio_sockets.count_handler,
}


async def _udp_echo_server(calls: Calls, task_status: trio.TaskStatus[int]) -> None:
    async with DatagramSocket() as sock:
        await sock.bind_endpoint(HOST, "0")
        task_status.started(int(sock.information.local_port))
        if calls == "trio":
            async for args in sock.message_received:
                assert args.remote_address is not None
                stream = await sock.get_output_stream(args.remote_address, args.remote_port)
                stream.write(args.data)
            return
        streams: dict[tuple[HostName | None, str], OutputStream] = {}
        async for args in sock.message_received:
            with args.get_data_reader() as reader:
                data = reader.read_bytes(reader.unconsumed_buffer_length)
            remote = (args.remote_address, args.remote_port)
            output = streams.get(remote)
            if output is None:
                assert args.remote_address is not None
                output = await sock.get_output_stream(args.remote_address, args.remote_port)
                streams[remote] = output
            output.write(data)


# -- clients ------------------------------------------------------------------------------


async def _tcp_client(workload: str, port: int, params: Params, calls: Calls) -> Sample:
    async with contextlib.AsyncExitStack() as stack:
        socks = []
        for _ in range(params.conns):
            sock = await stack.enter_async_context(StreamSocket())
            await sock.connect(HOST, str(port))
            socks.append(sock)
        if calls == "trio":
            return await trio_streams.run_client(workload, socks, params)
        if workload.startswith("tcp_pingpong"):
            return await _tcp_pingpong(socks, params)
        (sock,) = socks
        if workload == "tcp_bulk":
            return await _tcp_bulk(sock, params)
        if workload.startswith("small_writes"):
            return await _small_writes(sock, params, batched=workload.endswith("batched"))
        if workload.startswith("tcp_framed"):
            return await _tcp_framed(sock, params)
        raise ValueError(f"unknown workload {workload!r}")


async def _read_exactly(input_stream: InputStream, size: int) -> bytes:
    """PARTIAL reads until *size* bytes came (what a reply of known size needs)."""
    data = await input_stream.read(size, PARTIAL)
    if len(data) == size:
        return data
    buffer = bytearray(data)
    while len(buffer) < size:
        more = await input_stream.read(size - len(buffer), PARTIAL)
        check(bool(more), f"end of stream after {len(buffer)} of {size} bytes")
        buffer += more
    return bytes(buffer)


async def _finish(sock: StreamSocket, expected: int) -> None:
    """Flush, half-close, then check the counting server's acknowledgement."""
    await sock.output_stream.flush()
    await sock.send_eof()
    # NONE: the read completes when all of it has come (or the stream ended).
    data = await sock.input_stream.read(ACK.size)
    check(len(data) == ACK.size, f"end of stream after {len(data)} of {ACK.size} bytes")
    (count,) = ACK.unpack(data)
    check(count == expected, f"the server counted {count} bytes, not {expected}")


async def _tcp_bulk(sock: StreamSocket, params: Params) -> Sample:
    chunk = b"b" * params.size
    output_stream = sock.output_stream
    start = perf_counter()
    for _ in range(params.count):
        await output_stream.write(chunk)
    await _finish(sock, params.count * params.size)
    elapsed = perf_counter() - start
    return {"seconds": elapsed, "bytes": params.count * params.size}


async def _tcp_pingpong(socks: Sequence[StreamSocket], params: Params) -> Sample:
    start = perf_counter()
    async with trio.open_nursery() as nursery:
        for index, sock in enumerate(socks):
            nursery.start_soon(_round_trips, sock, message(index, params.size), params.count)
    elapsed = perf_counter() - start
    return {"seconds": elapsed, "round_trips": params.count * len(socks)}


async def _round_trips(sock: StreamSocket, request: bytes, count: int) -> None:
    input_stream = sock.input_stream
    output_stream = sock.output_stream
    for _ in range(count):
        await output_stream.write(request)
        reply = await _read_exactly(input_stream, len(request))
        check(reply == request, "the echo differs from the request")


async def _small_writes(sock: StreamSocket, params: Params, *, batched: bool) -> Sample:
    writes = [message(index, params.size) for index in range(params.count)]
    output_stream = sock.output_stream
    start = perf_counter()
    if batched:
        for data in writes:
            output_stream.write(data)
        await output_stream.flush()
    else:
        for data in writes:
            await output_stream.write(data)
    elapsed = perf_counter() - start
    await _finish(sock, params.count * params.size)
    return {"seconds": elapsed, "writes": params.count}


async def _tcp_framed(sock: StreamSocket, params: Params) -> Sample:
    """*window* messages in flight, each echo checked; another sent for each echo."""
    request = message(0, params.size)
    reader = DataReader(sock.input_stream)
    writer = DataWriter(sock.output_stream)
    sent = 0
    start = perf_counter()
    for _ in range(min(params.window, params.count)):
        writer.write_uint32(len(request))
        writer.write_bytes(request)
        await writer.store()
        sent += 1
    for _ in range(params.count):
        await reader.load(4)
        length = reader.read_uint32()
        await reader.load(length)
        reply = reader.read_bytes(length)
        check(reply == request, "the echoed message differs from the request")
        if sent < params.count:
            writer.write_uint32(len(request))
            writer.write_bytes(request)
            await writer.store()
            sent += 1
    elapsed = perf_counter() - start
    reader.detach_stream()
    writer.detach_stream()
    return {"seconds": elapsed, "messages": params.count}


async def _udp_echo(port: int, params: Params, calls: Calls) -> Sample:
    request = message(0, params.size)
    async with DatagramSocket() as sock:
        await sock.connect(HOST, str(port))
        output_stream = sock.output_stream
        received = sock.message_received
        sent = 0
        start = perf_counter()
        for _ in range(min(params.window, params.count)):
            output_stream.write(request)
            sent += 1
        for _ in range(params.count):
            args = await received.receive()
            if calls == "trio":
                reply = args.data
            else:
                with args.get_data_reader() as reader:
                    reply = reader.read_bytes(reader.unconsumed_buffer_length)
            check(reply == request, "the echo differs from the request")
            if sent < params.count:
                output_stream.write(request)
                sent += 1
        elapsed = perf_counter() - start
        await output_stream.flush()
    return {"seconds": elapsed, "datagrams": params.count}


async def _tcp_conns(params: Params, calls: Calls) -> Sample:
    """Open *count* idle connections, both ends here, in waves; time and memory."""
    release = trio.Event()
    accepted = 0
    target = 0
    wave_accepted = trio.Event()

    async def hold(sock: StreamSocket) -> None:
        nonlocal accepted
        accepted += 1
        if accepted == target:
            wave_accepted.set()
        await release.wait()

    async def entered(sock: StreamSocket) -> None:
        # The tutorial's server enters each accepted socket in its handler task.
        async with sock:
            await hold(sock)

    clients: list[StreamSocket] = []

    async def connect(port: str) -> None:
        sock = StreamSocket()
        await sock.connect(HOST, port)
        clients.append(sock)

    async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
        await listener.bind_endpoint(HOST, "0")
        port = listener.information.local_port
        if calls == "trio":
            # serve_listeners enters each accepted stream around the handler itself.
            nursery.start_soon(trio.serve_listeners, hold, [listener])
        else:
            nursery.start_soon(_serve_winrt, listener, entered)
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
