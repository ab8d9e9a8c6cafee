"""The WebSocket workloads on ``trio_sockets``, written the way the WebSocket how-to
teaches (the protocol of every stack is in ``ws_peers``).

* The server takes each connection from ``connection_received`` in a handler task, makes
  a ``ServerMessageWebSocket`` of the accepted socket, accepts the opening request, and
  answers each ``message_received`` event, whose bytes it takes from
  ``get_data_reader()``, with an unawaited ``output_stream.write``.
* The client is a ``MessageWebSocket``: one message in flight, it awaits each
  ``output_stream.write``; with many in flight it writes without awaiting and waits for
  the echoes with ``await message_received.receive()``, then ``flush()``. Large messages
  are each an awaited ``write``. Replies are read through ``get_data_reader()``.

Messages are ``BINARY`` (``control.message_type``'s default), without compression.
"""

from __future__ import annotations

from time import perf_counter

from benchmarks.common import ACK, HOST, Params, Sample, check, message
from benchmarks.ws_peers import check_ack
from trio_sockets import (
    MessageWebSocket,
    MessageWebSocketMessageReceivedEventArgs,
    ServerMessageWebSocket,
    StreamSocket,
)


def _data(args: MessageWebSocketMessageReceivedEventArgs) -> bytes:
    reader = args.get_data_reader()
    return reader.read_bytes(reader.unconsumed_buffer_length)


# -- servers ------------------------------------------------------------------------------


async def echo_handler(sock: StreamSocket) -> None:
    async with ServerMessageWebSocket(sock) as ws:
        await ws.receive_request()
        await ws.accept()
        output_stream = ws.output_stream
        async for args in ws.message_received:
            output_stream.write(_data(args))


async def count_handler(sock: StreamSocket) -> None:
    """Count bytes until an empty message, then answer the count."""
    async with ServerMessageWebSocket(sock) as ws:
        await ws.receive_request()
        await ws.accept()
        total = 0
        async for args in ws.message_received:
            data = _data(args)
            if data:
                total += len(data)
                continue
            await ws.output_stream.write(ACK.pack(total))
            total = 0


# -- clients ------------------------------------------------------------------------------


async def run_client(workload: str, port: int, params: Params) -> Sample:
    async with MessageWebSocket() as ws:
        await ws.connect(f"ws://{HOST}:{port}/")
        if workload.startswith("ws_echo"):
            return await _echo(ws, params)
        if workload == "ws_bulk":
            return await _bulk(ws, params)
    raise ValueError(f"unknown workload {workload!r}")


async def _echo(ws: MessageWebSocket, params: Params) -> Sample:
    request = message(0, params.size)
    output_stream = ws.output_stream
    received = ws.message_received
    start = perf_counter()
    if params.window == 1:
        for _ in range(params.count):
            await output_stream.write(request)
            check(_data(await received.receive()) == request, "the echo differs")
    else:
        sent = 0
        for _ in range(min(params.window, params.count)):
            output_stream.write(request)
            sent += 1
        for _ in range(params.count):
            check(_data(await received.receive()) == request, "the echo differs")
            if sent < params.count:
                output_stream.write(request)
                sent += 1
        await output_stream.flush()
    elapsed = perf_counter() - start
    return {"seconds": elapsed, "messages": params.count}


async def _bulk(ws: MessageWebSocket, params: Params) -> Sample:
    chunk = b"b" * params.size
    output_stream = ws.output_stream
    start = perf_counter()
    for _ in range(params.count):
        await output_stream.write(chunk)
    await output_stream.write(b"")
    check_ack(_data(await ws.message_received.receive()), params.count * params.size)
    elapsed = perf_counter() - start
    return {"seconds": elapsed, "bytes": params.count * params.size}
