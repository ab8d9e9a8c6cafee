"""The WebSocket workloads of the peer libraries, written once over ``send`` / ``receive``.

trio-websocket (``send_message`` / ``get_message``) and both implementations of
``websockets`` (``send`` / ``recv``, on trio and on asyncio) are each used the way their
documentation teaches: every send awaited, every message received whole. The coroutines
here only await the two callables they are given, so the same code runs on trio and on
asyncio. ``trio_sockets`` has its own code, written with the WinRT calls
(``ws_trio_sockets``).

The protocol of every stack's client and server:

* ``ws_echo_*``: the client sends *window* binary messages, then one more for each echo
  it receives and checks, until *count* came back.
* ``ws_bulk``: the client sends *count* binary messages of *size* bytes, then an empty
  one; the server answers it with the byte count (:data:`~benchmarks.common.ACK`) as a
  binary message, and the time runs until that answer arrives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import perf_counter

from benchmarks.common import ACK, Params, Sample, ServerKind, check, message

Send = Callable[[bytes], Awaitable[object]]
Receive = Callable[[], Awaitable[bytes | str]]


async def run_client(workload: str, send: Send, receive: Receive, params: Params) -> Sample:
    if workload.startswith("ws_echo"):
        return await echo_client(send, receive, params)
    if workload == "ws_bulk":
        return await bulk_client(send, receive, params)
    raise ValueError(f"unknown workload {workload!r}")


async def echo_client(send: Send, receive: Receive, params: Params) -> Sample:
    request = message(0, params.size)
    sent = 0
    start = perf_counter()
    for _ in range(min(params.window, params.count)):
        await send(request)
        sent += 1
    for _ in range(params.count):
        reply = await receive()
        check(reply == request, "the echoed message differs from the request")
        if sent < params.count:
            await send(request)
            sent += 1
    elapsed = perf_counter() - start
    return {"seconds": elapsed, "messages": params.count}


async def bulk_client(send: Send, receive: Receive, params: Params) -> Sample:
    chunk = b"b" * params.size
    start = perf_counter()
    for _ in range(params.count):
        await send(chunk)
    await send(b"")
    check_ack(await receive(), params.count * params.size)
    elapsed = perf_counter() - start
    return {"seconds": elapsed, "bytes": params.count * params.size}


def check_ack(reply: bytes | str, expected: int) -> None:
    check(
        isinstance(reply, bytes) and len(reply) == ACK.size,
        f"the acknowledgement is {reply[:20]!r}",
    )
    assert isinstance(reply, bytes)
    (count,) = ACK.unpack(reply)
    check(count == expected, f"the server counted {count} bytes, not {expected}")


async def serve_connection(kind: ServerKind, send: Send, receive: Receive) -> None:
    """Echo each message, or count bytes until an empty message and answer the count;
    until *receive* raises its library's connection-closed exception."""
    if kind == "ws_echo":
        while True:
            await send(await receive())  # type: ignore[arg-type]
    total = 0
    while True:
        data = await receive()
        if data:
            total += len(data)
            continue
        await send(ACK.pack(total))
        total = 0
