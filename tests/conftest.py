"""Fixtures shared by the suites: real sockets on loopback, real peer programs."""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Final, NoReturn

import pytest
import trio
import trio.testing

from trio_sockets import (
    DatagramSocket,
    DataReader,
    HostName,
    NoStreamError,
    SocketProtectionLevel,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets.testing import TlsCertificates

pytest_plugins = ["pytester"]

IN_CI = bool(os.environ.get("CI"))

# The Debian package each external tool comes from (.ci/system-packages installs them).
_PACKAGES = {
    "socat": "socat",
    "strace": "strace",
    "tc": "iproute2",
    "openssl": "openssl",
    "dnsmasq": "dnsmasq-base",
    "wsdump": "python3-websocket",
}


#: The command line tool, run from this interpreter.
CLI: Final = [sys.executable, "-m", "trio_sockets"]


async def run_cli(
    arguments: list[str], stdin: bytes = b"", *, within: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """Run ``trio-sockets`` with *arguments* and *stdin* within *within* seconds;
    its status, standard output and standard error, whatever the status."""
    with trio.fail_after(within):
        return await trio.run_process(
            [*CLI, *arguments],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


def unavailable(message: str) -> NoReturn:
    """Skip the test because *message* (something it needs is missing); fail in CI."""
    if IN_CI:
        pytest.fail(f"{message}; CI must install it")
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The path of an external program; skip (outside CI) or fail (in CI) without it."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (Debian package {_PACKAGES.get(name, name)})")
    return path


def send_from_port_zero(port: int, payload: bytes) -> None:
    """Send *payload* to 127.0.0.1:*port* in a UDP datagram whose source port is 0 (legal:
    "no answer wanted"), built by hand on a raw socket; skips (fails in CI) without the
    privilege to open one."""
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    except PermissionError:
        unavailable("sending from UDP port 0 needs a raw socket (root or CAP_NET_RAW)")
    with raw:  # checksum 0: none, which IPv4 allows
        header = struct.pack("!HHHH", 0, port, 8 + len(payload), 0)
        raw.sendto(header + payload, ("127.0.0.1", 0))


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A port that nothing listens on right now (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def openssl_s_server(
    cert: os.PathLike[str], key: os.PathLike[str], *options: str
) -> AsyncIterator[int]:
    """``openssl s_server -rev`` (each line comes back reversed) serving *cert* and
    *key* on 127.0.0.1, a free port, with *options*; its port, once it accepts."""
    openssl = require_tool("openssl")
    port = free_tcp_port()
    command = [openssl, "s_server", "-accept", f"127.0.0.1:{port}"]
    command += ["-cert", os.fspath(cert), "-key", os.fspath(key), "-rev", *options]
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    try:
        output = b""
        with trio.fail_after(10):
            while b"ACCEPT" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, f"openssl s_server ended: {output.decode(errors='replace')}"
                output += chunk
        yield port
    finally:
        process.kill()
        with trio.move_on_after(5):
            await process.wait()
        await process.stdout.aclose()


async def wait_until(
    predicate: Callable[[], bool], *, within: float = 10, interval: float = 0.01
) -> None:
    """Poll *predicate* until it holds; fail after *within* seconds.

    For state that lives in the kernel (connections queued, datagrams delivered), which
    no trio event reports.
    """
    with trio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - kernel state has no event to wait on
            await trio.sleep(interval)


def open_fd_count() -> int:
    """The process's open file descriptors, after a garbage collection: what earlier
    tests left for the collector is closed before counting, not in the middle of a
    test (a socket closed that way still fails the run with its ResourceWarning)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def live_tasks() -> list[trio.lowlevel.Task]:
    """Every task in this trio run, found by walking the task tree."""
    tasks = []
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        tasks.append(task)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return tasks


@pytest.fixture
async def listener() -> AsyncIterator[StreamSocketListener]:
    """An entered listener bound to 127.0.0.1 on a free port."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint(HostName("127.0.0.1"), "0")
        yield listener


@pytest.fixture
async def tcp_pair(
    listener: StreamSocketListener,
) -> AsyncIterator[tuple[StreamSocket, StreamSocket]]:
    """(client, server): an entered client connected to an entered accepted socket."""
    async with StreamSocket() as client:
        await client.connect(HostName("127.0.0.1"), listener.information.local_port)
        server = await listener.accept()
        async with server:
            yield client, server


@asynccontextmanager
async def open_tls_pair(
    certificates: TlsCertificates,
) -> AsyncIterator[tuple[StreamSocket, StreamSocket]]:
    """(client, server) as :func:`tcp_pair`, over TLS 1.3."""
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = certificates.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", SocketProtectionLevel.TLS13)
        async with StreamSocket() as client:
            client.control.trusted_certificates.append(certificates.authority)
            port = listener.information.local_port
            await client.connect(HostName("localhost"), port, SocketProtectionLevel.SSL)
            server = await listener.accept()
            async with server:
                yield client, server


async def assert_load_says_it_holds_the_whole(reader: DataReader, what: str) -> None:
    """``load()`` on the reader of a received datagram or message (*what*): ported
    ``LoadAsync`` code gets a :exc:`NoStreamError` that says the reader holds it whole and
    what to do instead, not that it was made by ``from_buffer()``, never called."""
    with pytest.raises(NoStreamError) as caught:
        await reader.load(5)
    message = str(caught.value)
    assert message.startswith("load: this DataReader has no input stream: ")
    assert "from_buffer" not in message
    assert f"whole received {what}" in message
    assert "unconsumed_buffer_length" in message
    assert "get_data_stream()" in message


async def receive_exactly(sock: StreamSocket, count: int) -> bytes:
    """Receive until *count* bytes arrived (fails on a premature end of stream)."""
    data = bytearray()
    while len(data) < count:
        chunk = await sock.receive_some(count - len(data))
        assert chunk, f"stream ended after {len(data)} of {count} bytes"
        data += chunk
    return bytes(data)


async def receive_all(sock: StreamSocket) -> bytes:
    """Receive until the peer closes its side."""
    data = bytearray()
    while chunk := await sock.receive_some():
        data += chunk
    return bytes(data)


async def cancel_io_during(
    sock: StreamSocket | DatagramSocket, operation: Callable[[], Awaitable[object]]
) -> list[BaseException]:
    """Start *operation*, abort it with ``sock.cancel_io()`` once it waits; the errors it
    raised."""
    errors: list[BaseException] = []

    async def run() -> None:
        try:
            await operation()
        except OSError as error:
            errors.append(error)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        await sock.cancel_io()
    return errors


async def close_during(
    sock: StreamSocket, operation: Callable[[], Awaitable[object]], *, leave_block: bool
) -> tuple[list[BaseException], int]:
    """Start *operation* in another task and close *sock* once it waits: with
    ``aclose()``, or by leaving the socket's ``async with`` block. Returns the errors
    the operation raised and the number of open file descriptors right after the close."""
    errors: list[BaseException] = []

    async def run() -> None:
        try:
            await operation()
        except (OSError, trio.ClosedResourceError) as error:
            errors.append(error)

    async with trio.open_nursery() as nursery:
        if leave_block:
            async with sock:
                nursery.start_soon(run)
                await trio.testing.wait_all_tasks_blocked()
        else:
            nursery.start_soon(run)
            await trio.testing.wait_all_tasks_blocked()
            await sock.aclose()
        fds = open_fd_count()
    return errors, fds


#: TCP_NOTSENT_LOWAT as trio.SocketStream sets it, and buffers that fill up quickly.
NOTSENT_LOWAT = 2**14
SMALL_BUFFER = 16 * 1024


def narrow(sender: StreamSocket, receiver: StreamSocket) -> None:
    """Small buffers from *sender* to *receiver*, and ``TCP_NOTSENT_LOWAT`` on *sender*
    as :class:`trio.SocketStream` sets it: *sender* is writable once the peer has read."""
    sender.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)
    sender.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    receiver.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)


async def fill_stream(*socks: StreamSocket) -> None:
    """Clog each socket as trio's own tests clog a stream: ``send_all`` until every task
    waits, then cancel it. The ``send_all`` that waits is the one the kernel took only
    part of (on TLS, the one handed to the SSLStream): begun, it is not taken back when
    cancelled, and an entered socket goes on sending its rest in the background, so a
    clogged socket has writes pending (a cancelled ``send_all`` none of whose bytes had
    left would send nothing, and leave nothing pending). 256 KiB ``send_all`` calls
    (trio's tests send 10,000 bytes at a time) leave far more pending than the few
    kilobytes a TCP window may still open by later (as acknowledgements arrive or the
    receiver's queue is collapsed), which would let the pending writes out without the
    peer reading. Filled again until writes are still pending a moment later."""

    async def sender(sock: StreamSocket) -> None:
        while True:
            await sock.send_all(b"x" * 256 * 1024)

    with trio.fail_after(10):
        while True:
            for sock in socks:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(sender, sock)
                    await trio.testing.wait_all_tasks_blocked()
                    nursery.cancel_scope.cancel()
            await trio.sleep(0.05)
            if all(sock.output_stream.pending_bytes for sock in socks):
                return


class TaskSteps(trio.abc.Instrument):
    """Scheduler steps by task name, while installed (:func:`counting_steps`)."""

    def __init__(self) -> None:
        self.by_name: collections.Counter[str] = collections.Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.by_name[task.name] += 1

    @property
    def total(self) -> int:
        return sum(self.by_name.values())

    def of(self, prefix: str) -> int:
        return sum(count for name, count in self.by_name.items() if name.startswith(prefix))


@contextlib.contextmanager
def counting_steps() -> Iterator[TaskSteps]:
    steps = TaskSteps()
    trio.lowlevel.add_instrument(steps)
    try:
        yield steps
    finally:
        trio.lowlevel.remove_instrument(steps)


def process_status_kib(field: str) -> int:
    """A field of this process's ``/proc/self/status`` in KiB: ``VmRSS`` (resident now),
    ``VmHWM`` (the peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")
