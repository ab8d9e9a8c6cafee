"""Clients and servers written against trio's stream protocol (``send_all`` / ``receive_some``).

Raw trio runs them over ``SocketStream``; the ``trio_sockets (trio calls)`` line runs the
same code over ``StreamSocket``, which is a :class:`trio.abc.HalfCloseableStream`, so
the two differ only in the stream underneath. Length-prefixed messages are framed with
:data:`~benchmarks.common.FRAME` and reassembled by :class:`FrameReader`, the buffer a
trio user writes by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter
from typing import Final

import trio

from benchmarks.common import ACK, FRAME, RECV_SIZE, Params, Sample, ServerKind, check, message

Stream = trio.abc.HalfCloseableStream


# -- servers ------------------------------------------------------------------------------


async def count_handler(stream: Stream) -> None:
    """Count bytes until end of stream, then answer with the count."""
    total = 0
    while data := await stream.receive_some(RECV_SIZE):
        total += len(data)
    await stream.send_all(ACK.pack(total))


async def echo_handler(stream: Stream) -> None:
    while data := await stream.receive_some(RECV_SIZE):
        await stream.send_all(data)


async def framed_echo_handler(stream: Stream) -> None:
    """Echo each length-prefixed message as it is reassembled, until end of stream."""
    frames = FrameReader(stream)
    while (payload := await frames.receive()) is not None:
        await stream.send_all(FRAME.pack(len(payload)) + payload)


HANDLERS: Final[dict[ServerKind, Callable[[Stream], Awaitable[None]]]] = {
    "count": count_handler,
    "echo": echo_handler,
    "framed_echo": framed_echo_handler,
}


class FrameReader:
    """Length-prefixed messages out of a byte stream: a hand-written reassembly buffer."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def receive(self) -> bytes | None:
        """The next message's payload; ``None`` at end of stream between messages.

        Raises :class:`~benchmarks.common.BenchmarkError` if the stream ends inside a
        message.
        """
        buffer = self._buffer
        while True:
            if len(buffer) >= FRAME.size:
                (length,) = FRAME.unpack_from(buffer)
                end = FRAME.size + length
                if len(buffer) >= end:
                    payload = bytes(buffer[FRAME.size : end])
                    del buffer[:end]
                    return payload
            data = await self._stream.receive_some(RECV_SIZE)
            if not data:
                check(not buffer, f"end of stream inside a message ({len(buffer)} bytes)")
                return None
            buffer += data


# -- clients ------------------------------------------------------------------------------


async def run_client(workload: str, streams: Sequence[Stream], params: Params) -> Sample:
    """The measured client of a TCP *workload* over connected *streams* (one each)."""
    if workload.startswith("tcp_pingpong"):
        return await tcp_pingpong(streams, params)
    (stream,) = streams
    if workload == "tcp_bulk":
        return await tcp_bulk(stream, params)
    if workload.startswith("small_writes"):
        return await small_writes(stream, params, batched=workload.endswith("batched"))
    if workload.startswith("tcp_framed"):
        return await tcp_framed(stream, params)
    raise ValueError(f"unknown workload {workload!r}")


async def receive_exactly(stream: Stream, size: int) -> bytes:
    data = await stream.receive_some(size)
    if len(data) == size:
        return bytes(data)
    buffer = bytearray(data)
    while len(buffer) < size:
        more = await stream.receive_some(size - len(buffer))
        check(bool(more), f"end of stream after {len(buffer)} of {size} bytes")
        buffer += more
    return bytes(buffer)


async def finish(stream: Stream, expected: int) -> None:
    """Half-close, then check the counting server's acknowledgement."""
    await stream.send_eof()
    (count,) = ACK.unpack(await receive_exactly(stream, ACK.size))
    check(count == expected, f"the server counted {count} bytes, not {expected}")


async def tcp_bulk(stream: Stream, params: Params) -> Sample:
    chunk = b"b" * params.size
    start = perf_counter()
    for _ in range(params.count):
        await stream.send_all(chunk)
    await finish(stream, params.count * params.size)
    elapsed = perf_counter() - start
    return {"seconds": elapsed, "bytes": params.count * params.size}


async def tcp_pingpong(streams: Sequence[Stream], params: Params) -> Sample:
    start = perf_counter()
    async with trio.open_nursery() as nursery:
        for index, stream in enumerate(streams):
            nursery.start_soon(_round_trips, stream, message(index, params.size), params.count)
    elapsed = perf_counter() - start
    return {"seconds": elapsed, "round_trips": params.count * len(streams)}


async def _round_trips(stream: Stream, request: bytes, count: int) -> None:
    size = len(request)
    for _ in range(count):
        await stream.send_all(request)
        reply = await receive_exactly(stream, size)
        check(reply == request, "the echo differs from the request")


async def small_writes(stream: Stream, params: Params, *, batched: bool) -> Sample:
    """Batches are joined into one buffer for one ``send_all``: trio's streams take one."""
    writes = [message(index, params.size) for index in range(params.count)]
    start = perf_counter()
    if batched:
        if writes:
            await stream.send_all(b"".join(writes))
    else:
        for data in writes:
            await stream.send_all(data)
    elapsed = perf_counter() - start
    await finish(stream, params.count * params.size)
    return {"seconds": elapsed, "writes": params.count}


async def tcp_framed(stream: Stream, params: Params) -> Sample:
    """*window* messages in flight, each echo checked; another sent for each echo."""
    request = message(0, params.size)
    frames = FrameReader(stream)
    sent = 0
    start = perf_counter()
    for _ in range(min(params.window, params.count)):
        await stream.send_all(FRAME.pack(len(request)) + request)
        sent += 1
    for _ in range(params.count):
        reply = await frames.receive()
        check(reply == request, "the echoed message differs from the request")
        if sent < params.count:
            await stream.send_all(FRAME.pack(len(request)) + request)
            sent += 1
    elapsed = perf_counter() - start
    return {"seconds": elapsed, "messages": params.count}
