"""User-space instructions per operation, counted exactly with cachegrind.

``python -m benchmarks.instructions [KIND ...]`` runs each kind twice under
``valgrind --tool=cachegrind`` (the Debian package ``valgrind``), with a short and a long
count of operations in one process, and prints the difference divided by the extra
operations: start-up, imports and connection set-up cancel out, and what remains is
the cost of one operation, the same from run to run within trio's scheduling-order
variation (well under 1%), where wall time on a shared machine varies by tens of
percent. These are the counts docs/performance.rst quotes.

The kinds, each written as the tutorial teaches (or as raw trio's users write it):

``pingpong``
    100 bytes each way: the server ``input_stream.read(4096, PARTIAL)`` and an
    unawaited ``write()``; the client an awaited ``write()``, then
    ``read(n, PARTIAL)`` until the echo is whole. Per round trip.
``pingpong_trio_calls``
    The same through trio's calls (``receive_some`` / ``send_all``). Per round trip.
``udp_lockstep``
    100-byte datagrams: the server ``async for args in message_received``, a cached
    ``get_output_stream()``, an unawaited ``write(args.data)``; the client connected,
    an unawaited ``write()``, ``message_received.receive()`` and ``get_data_reader()``.
    Per round trip.
``udp_lockstep_raw_trio``
    The same with ``trio.socket`` (``recvfrom`` / ``sendto``). Per round trip.
``udp_server``
    The server of ``udp_lockstep`` alone, written as the benchmark's UDP echo server is
    (each datagram's bytes through ``get_data_reader()``), answering a plain blocking
    client in another process, which cachegrind does not count: the server's side of
    a round trip across processes.
``udp_server_raw_trio``
    The same with a ``trio.socket`` ``recvfrom`` / ``sendto`` loop.
``ws_echo``
    100-byte binary WebSocket messages, one at a time: the server echoes each message's
    bytes with an unawaited ``write()``; the client writes, receives and reads through
    ``get_data_reader()``. Per message (a round trip is two).
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Final

import trio

from trio_sockets import (
    DatagramSocket,
    HostName,
    InputStreamOptions,
    MessageWebSocket,
    OutputStream,
    ServerMessageWebSocket,
    StreamSocket,
    StreamSocketListener,
)

PARTIAL: Final = InputStreamOptions.PARTIAL
HOST: Final = "127.0.0.1"
MESSAGE: Final = b"x" * 100


async def _pingpong(count: int, *, trio_calls: bool = False) -> None:
    async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
        await listener.bind_endpoint(HOST, "0")

        async def serve() -> None:
            args = await listener.connection_received.receive()
            async with args.socket as sock:
                if trio_calls:
                    while data := await sock.receive_some(4096):
                        await sock.send_all(data)
                else:
                    while data := await sock.input_stream.read(4096, PARTIAL):
                        sock.output_stream.write(data)

        nursery.start_soon(serve)
        async with StreamSocket() as sock:
            await sock.connect(HOST, listener.information.local_port)
            for _ in range(count):
                got = 0
                if trio_calls:
                    await sock.send_all(MESSAGE)
                    while got < len(MESSAGE):
                        got += len(await sock.receive_some(len(MESSAGE) - got))
                else:
                    await sock.output_stream.write(MESSAGE)
                    while got < len(MESSAGE):
                        got += len(await sock.input_stream.read(len(MESSAGE) - got, PARTIAL))
            await sock.send_eof()


async def _udp_lockstep(count: int) -> None:
    async with DatagramSocket() as server, DatagramSocket() as client:
        await server.bind_endpoint(HOST, "0")
        async with trio.open_nursery() as nursery:

            async def serve() -> None:
                streams: dict[tuple[str, str], OutputStream] = {}
                async for args in server.message_received:
                    assert args.remote_address is not None
                    key = (args.remote_address.raw_name, args.remote_port)
                    stream = streams.get(key)
                    if stream is None:
                        stream = await server.get_output_stream(
                            args.remote_address, args.remote_port
                        )
                        streams[key] = stream
                    stream.write(args.data)

            nursery.start_soon(serve)
            await client.connect(HOST, server.information.local_port)
            for _ in range(count):
                client.output_stream.write(MESSAGE)
                args = await client.message_received.receive()
                with args.get_data_reader() as reader:
                    reader.read_bytes(reader.unconsumed_buffer_length)
            nursery.cancel_scope.cancel()


async def _udp_lockstep_raw_trio(count: int) -> None:
    server = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with server, client:
        await server.bind((HOST, 0))
        async with trio.open_nursery() as nursery:

            async def serve() -> None:
                while True:
                    data, address = await server.recvfrom(65536)
                    await server.sendto(data, address)

            nursery.start_soon(serve)
            await client.connect(server.getsockname())
            for _ in range(count):
                await client.send(MESSAGE)
                await client.recv(65536)
            nursery.cancel_scope.cancel()


# The peer of the udp_server kinds: a plain blocking client, in a process of its own.
_LOCKSTEP_CLIENT: Final = """
import socket, sys
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.connect((sys.argv[1], int(sys.argv[2])))
client.settimeout(60)
for _ in range(int(sys.argv[3])):
    client.send(bytes(100))
    client.recv(65536)
"""


def _lockstep_client(port: int, round_trips: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", _LOCKSTEP_CLIENT, HOST, str(port), str(round_trips)]
    return subprocess.Popen(command)


async def _udp_server(round_trips: int) -> None:
    async with DatagramSocket() as sock:
        await sock.bind_endpoint(HOST, "0")
        client = _lockstep_client(int(sock.information.local_port), round_trips)
        streams: dict[tuple[HostName | None, str], OutputStream] = {}
        answered = 0
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
            answered += 1
            if answered == round_trips:
                await output.flush()
                break
        await trio.to_thread.run_sync(client.wait)


async def _udp_server_raw_trio(round_trips: int) -> None:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        await server.bind((HOST, 0))
        client = _lockstep_client(server.getsockname()[1], round_trips)
        for _ in range(round_trips):
            data, address = await server.recvfrom(65536)
            await server.sendto(data, address)
        await trio.to_thread.run_sync(client.wait)


async def _ws_echo(round_trips: int) -> None:
    async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
        await listener.bind_endpoint(HOST, "0")

        async def serve() -> None:
            args = await listener.connection_received.receive()
            async with ServerMessageWebSocket(args.socket) as ws:
                await ws.receive_request()
                await ws.accept()
                async for message in ws.message_received:
                    with message.get_data_reader() as reader:
                        ws.output_stream.write(reader.read_bytes(reader.unconsumed_buffer_length))

        nursery.start_soon(serve)
        async with MessageWebSocket() as ws:
            await ws.connect(f"ws://{HOST}:{listener.information.local_port}/")
            for _ in range(round_trips):
                ws.output_stream.write(MESSAGE)
                message = await ws.message_received.receive()
                with message.get_data_reader() as reader:
                    reader.read_bytes(reader.unconsumed_buffer_length)
        nursery.cancel_scope.cancel()


#: Each kind: how to run *n* round trips, the round-trip counts of the short and the
#: long run, and the operations per round trip.
KINDS: Final[dict[str, tuple[Callable[[int], Awaitable[None]], int, int, int]]] = {
    "pingpong": (_pingpong, 2_000, 12_000, 1),
    "pingpong_trio_calls": (lambda n: _pingpong(n, trio_calls=True), 2_000, 12_000, 1),
    "udp_lockstep": (_udp_lockstep, 2_000, 12_000, 1),
    "udp_lockstep_raw_trio": (_udp_lockstep_raw_trio, 2_000, 12_000, 1),
    "udp_server": (_udp_server, 2_000, 12_000, 1),
    "udp_server_raw_trio": (_udp_server_raw_trio, 2_000, 12_000, 1),
    "ws_echo": (_ws_echo, 1_000, 6_000, 2),
}


def run(kind: str, round_trips: int) -> None:
    """Run *round_trips* of *kind* in this process."""
    trio.run(KINDS[kind][0], round_trips)


def _instructions(kind: str, round_trips: int) -> int:
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--run",
        kind,
        str(round_trips),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{kind}: valgrind failed ({done.returncode}): {done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_operation(kind: str) -> int:
    """User-space instructions per operation of *kind* (two runs under cachegrind)."""
    _, short, long, operations = KINDS[kind]
    extra = (long - short) * operations
    return (_instructions(kind, long) - _instructions(kind, short)) // extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description="User-space instructions per operation, counted with cachegrind.",
    )
    parser.add_argument("kinds", nargs="*", metavar="KIND", help=f"of {', '.join(KINDS)} (all)")
    parser.add_argument("--run", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for kind in [*args.kinds, *args.run[:1]] if args.run else args.kinds:
        if kind not in KINDS:
            parser.error(f"unknown kind {kind[:80]!r}: choose from {', '.join(KINDS)}")
    if args.run:
        kind, count = args.run
        run(kind, int(count))
        return 0
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian package valgrind)")
    for kind in args.kinds or list(KINDS):
        print(f"{kind}: {per_operation(kind):,} instructions per operation", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
