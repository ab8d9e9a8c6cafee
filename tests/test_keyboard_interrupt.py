"""Ctrl-C that lands while one of the library's own tasks runs comes out bare.

trio raises ``KeyboardInterrupt`` inside whatever code the signal lands in unless that
code is KI-protected; in a task of a socket's nursery it came out of the ``async with``
block as ``BaseExceptionGroup([KeyboardInterrupt()])``, so ``except KeyboardInterrupt``
around ``trio.run`` missed it. The library's tasks are protected: trio hands the
interrupt to the main task at its next checkpoint, and it leaves the block unwrapped.

Each test raises SIGINT at the first call the library's task makes, found by a profile
hook (the only way to land a signal in a given task deterministically), and runs
``trio.run`` itself: trio installs its SIGINT handler only in the main thread, over
Python's default one.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import types
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest
import trio

import trio_sockets
from trio_sockets import (
    DatagramSocket,
    MessageWebSocket,
    Resolver,
    ServerMessageWebSocket,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets._io.connect import connect_first
from trio_sockets._io.resolver import SockAddr
from trio_sockets.testing import TcpEchoServer

PACKAGE = os.path.dirname(trio_sockets.__file__)

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread()
    or signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="trio handles SIGINT only in the main thread, over Python's default handler",
)


@contextmanager
def interrupt_in_task(name: str) -> Iterator[list[str]]:
    """Raise SIGINT once, as the first task whose name holds *name* calls into the
    package; yields a list that then holds the name of the function called."""
    fired: list[str] = []

    def hook(frame: types.FrameType, event: str, arg: object) -> None:
        if fired or event != "call" or not frame.f_code.co_filename.startswith(PACKAGE):
            return
        try:
            task = trio.lowlevel.current_task()
        except RuntimeError:
            return
        if name in task.name:
            fired.append(frame.f_code.co_qualname)
            signal.raise_signal(signal.SIGINT)

    sys.setprofile(hook)
    try:
        yield fired
    finally:
        sys.setprofile(None)


def run_interrupted(name: str, main: Callable[[], Awaitable[None]]) -> list[str]:
    """Run *main*, interrupted in the task named *name*: it must end with a bare
    KeyboardInterrupt (an ExceptionGroup fails the test with its traceback)."""
    with interrupt_in_task(name) as fired, pytest.raises(KeyboardInterrupt):
        trio.run(main)
    assert fired, f"no task named {name!r} called into the package"
    return fired


async def _sleep_until_interrupted() -> None:
    with trio.fail_after(10):
        await trio.sleep_forever()


def test_in_a_datagram_sockets_receive_loop() -> None:
    async def main() -> None:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            port = int(sock.information.local_port)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto(b"flood", ("127.0.0.1", port))
                await _sleep_until_interrupted()

    run_interrupted("receive loop of", main)


def test_in_a_listeners_accept_loop() -> None:
    async def main() -> None:
        async with StreamSocketListener() as listener:
            await listener.bind_endpoint("127.0.0.1", "0")
            with socket.create_connection(("127.0.0.1", int(listener.information.local_port))):
                await _sleep_until_interrupted()

    run_interrupted("accept loop of", main)


def test_in_a_stream_sockets_writer() -> None:
    async def main() -> None:
        async with StreamSocketListener() as listener:
            await listener.bind_endpoint("127.0.0.1", "0")
            async with StreamSocket() as sock:
                await sock.connect("127.0.0.1", listener.information.local_port)
                # More than the kernel takes at once with nobody reading: the writer runs.
                for _ in range(64):
                    sock.output_stream.write(b"x" * 65536)
                await _sleep_until_interrupted()

    run_interrupted("writer of", main)


def test_in_a_websockets_reader() -> None:
    async def main() -> None:
        async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
            await listener.bind_endpoint("127.0.0.1", "0")

            async def serve() -> None:
                args = await listener.connection_received.receive()
                async with ServerMessageWebSocket(args.socket) as ws:
                    await ws.receive_request()
                    await ws.accept()
                    await ws.output_stream.write(b"hello")
                    await trio.sleep_forever()

            nursery.start_soon(serve)
            async with MessageWebSocket() as ws:
                await ws.connect(f"ws://127.0.0.1:{listener.information.local_port}/")
                await _sleep_until_interrupted()

    run_interrupted("_reader", main)


def test_in_a_testing_echo_servers_handler() -> None:
    async def main() -> None:
        async with TcpEchoServer() as server, StreamSocket() as sock:
            await sock.connect(server.host, server.port)
            await sock.send_all(b"ping")
            await _sleep_until_interrupted()

    run_interrupted("TcpEchoServer._echo", main)


# -- Ctrl-C while the caller waits on the library's helper tasks ---------------------------
#
# trio raises the interrupt in the waiting task (the helpers are protected), inside the
# nursery that runs the helpers: the nursery wrapped it in a BaseExceptionGroup.


def interrupt_after(seconds: float, main: Callable[[], Awaitable[None]]) -> None:
    """Run *main*, with SIGINT from a timer thread after *seconds* (the main thread then
    waits in trio's I/O wait, where trio takes the signal and hands it to the main task);
    it must end with a bare KeyboardInterrupt."""
    timer = threading.Timer(seconds, signal.raise_signal, (signal.SIGINT,))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            trio.run(main)
    finally:
        timer.cancel()


def test_while_a_connect_waits_for_a_name_server() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as nameserver:
        nameserver.bind(("127.0.0.1", 0))  # never answers
        port = nameserver.getsockname()[1]

        async def main() -> None:
            resolver = Resolver(["127.0.0.1"], port, timeout=10, attempts=1)
            with trio.fail_after(10):
                async with StreamSocket(resolver=resolver) as sock:
                    await sock.connect("example.test", "80")

        interrupt_after(0.3, main)


def test_while_a_connect_waits_for_its_racing_attempts() -> None:
    async def never_answers(sock: socket.socket, sockaddr: SockAddr) -> None:
        await trio.sleep_forever()

    async def main() -> None:
        addresses = [
            (socket.AF_INET6, ("::1", 9, 0, 0)),
            (socket.AF_INET, ("127.0.0.1", 9)),
        ]

        def make_socket(family: socket.AddressFamily) -> socket.socket:
            return socket.socket(family, socket.SOCK_STREAM)

        with trio.fail_after(10):
            await connect_first(addresses, make_socket, what="connect", connect=never_answers)

    interrupt_after(0.5, main)  # both attempts started (250 ms apart)
