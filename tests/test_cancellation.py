"""Cancellation at every schedule point of every operation.

For n = 0, 1, 2, ... each operation runs in a cancel scope that is cancelled when the
task running it (or a task it started) is resumed for the n-th time, so the
``Cancelled`` arrives at its (n+1)-th checkpoint; the loop ends with the first n at
which the operation completes anyway, which is also how many schedule points it has.
After every cancellation the tests check what ``docs/guarantees.rst`` promises: no file
descriptor or task is left behind, the object is usable again (the same operation then
succeeds) or clearly closed, and every write that was started reaches the peer whole and
in order.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing
from conftest import live_tasks, open_fd_count, open_tls_pair, receive_exactly, wait_until

from trio_sockets import (
    DatagramSocket,
    DataReader,
    DataWriter,
    HostName,
    InputStreamOptions,
    Resolver,
    SocketProtectionLevel,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets._pytest_plugin import DnsServerFactory
from trio_sockets.testing import SrvRecord, TlsCertificates

LOCALHOST = HostName("127.0.0.1")
#: No operation here has anywhere near this many schedule points: the loops always end.
MAX_STEPS = 200

# Schedule points counted in the last complete run of each operation, for
# docs/guarantees.rst (printed with ``pytest -s``).
STEPS: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_steps() -> Iterator[None]:
    yield
    for name, steps in STEPS.items():
        print(f"\n{name}: {steps} schedule points")


# -- the harness ----------------------------------------------------------------------


class _CancelAfter(trio.abc.Instrument):
    """Counts the steps of one task and its descendants; cancels a scope at the n-th."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.steps = 0
        self.root: trio.lowlevel.Task | None = None
        self.scope: trio.CancelScope | None = None

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.scope is None or not self._descends_from_root(task):
            return
        self.steps += 1
        if self.steps == self.n:
            self.scope.cancel()

    def _descends_from_root(self, task: trio.lowlevel.Task | None) -> bool:
        while task is not None:
            if task is self.root:
                return True
            nursery = task.parent_nursery
            task = nursery.parent_task if nursery is not None else None
        return False


@dataclass
class Outcome:
    n: int
    cancelled: bool
    steps: int
    value: Any = None


async def run_cancelled_after(
    operation: Callable[[], Awaitable[Any]],
    n: int,
    *,
    alongside: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Run *operation*, cancelled at its n-th resumption (n = 0: before it starts).

    *alongside* runs concurrently (a peer feeding data, say); its steps are not counted.
    Any exception other than the cancellation fails the test.
    """
    counter = _CancelAfter(n)
    outcome = Outcome(n, cancelled=False, steps=0)

    async def runner() -> None:
        counter.root = trio.lowlevel.current_task()
        with trio.CancelScope() as scope:
            counter.scope = scope
            if n == 0:
                scope.cancel()
            outcome.value = await operation()
        counter.scope = None
        outcome.cancelled = scope.cancelled_caught
        outcome.steps = counter.steps

    trio.lowlevel.add_instrument(counter)
    try:
        async with trio.open_nursery() as nursery:
            if alongside is not None:
                nursery.start_soon(alongside)
            nursery.start_soon(runner)
    finally:
        trio.lowlevel.remove_instrument(counter)
    return outcome


async def each_cancellation(name: str, attempt: Callable[[int], Awaitable[Outcome]]) -> int:
    """Await ``attempt(n)`` for n = 0, 1, ... until a run is not cancelled.

    *attempt* runs the operation through :func:`run_cancelled_after` and checks what
    must hold afterwards. Returns the number of schedule points of the complete run.
    """
    for n in range(MAX_STEPS):
        outcome = await attempt(n)
        if not outcome.cancelled:
            STEPS[name] = outcome.steps
            return outcome.steps
    pytest.fail(f"{name} was still cancellable after {MAX_STEPS} schedule points")


@contextlib.contextmanager
def no_leaks() -> Iterator[None]:
    """Fail if the block leaves a file descriptor open or a trio task running."""
    fds, tasks = open_fd_count(), len(live_tasks())
    yield
    assert open_fd_count() == fds, "a file descriptor leaked"
    assert len(live_tasks()) == tasks, "a task leaked"


@contextlib.contextmanager
def raw_listener(host: str = "127.0.0.1") -> Iterator[socket.socket]:
    """A plain listening socket: connections wait in its kernel queue, not as our fds."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen(128)
        sock.setblocking(False)
        yield sock


def drain_queue(listening: socket.socket) -> list[socket.socket]:
    """Accept every connection waiting in *listening*'s queue."""
    accepted = []
    while True:
        try:
            conn, _ = listening.accept()
        except BlockingIOError:
            return accepted
        conn.settimeout(5)
        accepted.append(conn)


def assert_peer_closed(conn: socket.socket) -> None:
    """The other end of *conn* is gone (any byte it sent first is skipped)."""
    with contextlib.suppress(ConnectionResetError):
        while data := conn.recv(100):
            assert data == b"x"


# -- connect ---------------------------------------------------------------------------


async def test_stream_connect_cancelled_at_every_step() -> None:
    with trio.fail_after(30), raw_listener() as listening:
        port = str(listening.getsockname()[1])

        async def attempt(n: int) -> Outcome:
            with no_leaks():
                async with StreamSocket() as client:
                    fds = open_fd_count()
                    outcome = await run_cancelled_after(lambda: client.connect(LOCALHOST, port), n)
                    if outcome.cancelled:
                        assert open_fd_count() == fds, "a cancelled connect left a socket open"
                        assert client.information.remote_address is None
                        await client.connect(LOCALHOST, port)  # usable again
                    local = client.socket.getsockname()
                    await client.send_all(b"x")
            # Whatever a cancelled attempt reached is closed again, like the connection
            # that was made: no connection is left half made.
            queued: list[socket.socket] = []
            with trio.fail_after(5):
                while local not in (_peer(conn) for conn in queued):
                    queued += drain_queue(listening)
                    await trio.sleep(0.001)
            for conn in queued:
                with conn:
                    assert_peer_closed(conn)
            return outcome

        with no_leaks():
            await each_cancellation("StreamSocket.connect (IP address)", attempt)


def _peer(conn: socket.socket) -> object:
    try:
        return conn.getpeername()
    except OSError:  # reset
        return None


async def test_connect_through_dns_srv_cancelled_at_every_step(
    dns_server: DnsServerFactory,
) -> None:
    with trio.fail_after(60), raw_listener() as listening:
        port = listening.getsockname()[1]
        server = await dns_server(
            srv=[SrvRecord("_cancel._tcp.svc.test", "a.svc.test", port)],
            hosts={"a.svc.test": "127.0.0.1"},
        )
        resolver = server.resolver(timeout=1, attempts=2)

        async def attempt(n: int) -> Outcome:
            with no_leaks():
                async with StreamSocket(resolver=resolver) as client:
                    outcome = await run_cancelled_after(
                        lambda: client.connect(HostName("svc.test"), "cancel"), n
                    )
                    if outcome.cancelled:
                        assert client.information.remote_address is None
                        await client.connect(HostName("svc.test"), "cancel")
                    assert client.information.remote_port == str(port)
            for conn in drain_queue(listening):
                conn.close()
            return outcome

        with no_leaks():
            await each_cancellation("StreamSocket.connect (DNS SRV)", attempt)


async def test_datagram_connect_cancelled_at_every_step() -> None:
    with trio.fail_after(30), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        port = str(peer.getsockname()[1])

        async def attempt(n: int) -> Outcome:
            with no_leaks():
                async with DatagramSocket() as sock:
                    outcome = await run_cancelled_after(lambda: sock.connect(LOCALHOST, port), n)
                    if outcome.cancelled:
                        await sock.connect(LOCALHOST, port)
                    await sock.output_stream.write(b"%d" % n)
                    data, sender = peer.recvfrom(100)
                    assert data == b"%d" % n
                    peer.sendto(b"back", sender)
                    with trio.fail_after(5):
                        args = await sock.message_received.receive()
                    assert args.data == b"back"
            return outcome

        with no_leaks():
            await each_cancellation("DatagramSocket.connect", attempt)


# -- resolve ---------------------------------------------------------------------------


async def test_resolve_cancelled_at_every_step(dns_server: DnsServerFactory) -> None:
    server = await dns_server(
        srv=[SrvRecord("_cancel._tcp.svc.test", "a.svc.test", 7001)],
        hosts={"a.svc.test": ["127.0.0.1", "::1"]},
    )
    resolver = server.resolver(timeout=1, attempts=2)
    lookups: dict[str, Callable[[], Awaitable[Any]]] = {
        "Resolver.resolve_targets (DNS SRV)": lambda: resolver.resolve_targets(
            HostName("svc.test"), "cancel", "tcp"
        ),
        "Resolver.resolve_addresses (DNS A + AAAA)": lambda: resolver.resolve_addresses(
            HostName("a.svc.test"), 7001, "tcp"
        ),
        "Resolver.resolve_port (services database)": lambda: resolver.resolve_port(
            "http", "tcp", local=False
        ),
        "Resolver().resolve_addresses (system getaddrinfo)": lambda: Resolver().resolve_addresses(
            HostName("localhost"), 80, "tcp"
        ),
    }
    expected = {
        "Resolver.resolve_targets (DNS SRV)": lambda value: [t.port for t in value] == [7001],
        "Resolver.resolve_addresses (DNS A + AAAA)": lambda value: (
            sorted(sockaddr[0] for _, sockaddr in value) == ["127.0.0.1", "::1"]
        ),
        "Resolver.resolve_port (services database)": lambda value: value == 80,
        "Resolver().resolve_addresses (system getaddrinfo)": lambda value: (
            ("127.0.0.1", 80) in [sockaddr[:2] for _, sockaddr in value]
        ),
    }
    with trio.fail_after(30):
        for name, lookup in lookups.items():

            async def attempt(
                n: int, name: str = name, lookup: Callable[[], Awaitable[Any]] = lookup
            ) -> Outcome:
                fds, tasks = open_fd_count(), len(live_tasks())
                outcome = await run_cancelled_after(lookup, n)
                # A getaddrinfo or getservbyname thread abandoned by the cancellation
                # may hold a file open for a moment: wait for it rather than race it.
                await wait_until(lambda: open_fd_count() == fds, within=5)
                assert len(live_tasks()) == tasks
                if outcome.cancelled:
                    outcome.value = await lookup()  # the resolver is still usable
                assert expected[name](outcome.value), outcome.value
                return outcome

            await each_cancellation(name, attempt)


# -- bind ------------------------------------------------------------------------------


async def test_listener_bind_cancelled_at_every_step(dns_server: DnsServerFactory) -> None:
    server = await dns_server(hosts={"bind.test": "127.0.0.1"})
    resolver = server.resolver(timeout=1, attempts=2)
    binds: dict[str, Callable[[StreamSocketListener], Awaitable[None]]] = {
        "StreamSocketListener.bind_service_name": lambda listener: listener.bind_service_name("0"),
        "StreamSocketListener.bind_endpoint (IP address)": lambda listener: listener.bind_endpoint(
            LOCALHOST, "0"
        ),
        "StreamSocketListener.bind_endpoint (DNS name)": lambda listener: listener.bind_endpoint(
            HostName("bind.test"), "0"
        ),
    }
    with trio.fail_after(30):
        for name, bind in binds.items():

            async def attempt(
                n: int, bind: Callable[[StreamSocketListener], Awaitable[None]] = bind
            ) -> Outcome:
                with no_leaks():
                    async with StreamSocketListener(resolver=resolver) as listener:
                        fds = open_fd_count()
                        outcome = await run_cancelled_after(lambda: bind(listener), n)
                        if outcome.cancelled:
                            assert listener.information.local_port == ""
                            assert listener.sockets == []
                            assert open_fd_count() == fds
                            await bind(listener)  # usable again
                        port = int(listener.information.local_port)
                        with socket.create_connection(("127.0.0.1", port), timeout=5):
                            with trio.fail_after(5):
                                accepted = await listener.accept()
                            await accepted.aclose()
                return outcome

            with no_leaks():
                await each_cancellation(name, attempt)


async def test_datagram_bind_cancelled_at_every_step() -> None:
    binds: dict[str, Callable[[DatagramSocket], Awaitable[None]]] = {
        "DatagramSocket.bind_service_name": lambda sock: sock.bind_service_name("0"),
        "DatagramSocket.bind_endpoint": lambda sock: sock.bind_endpoint(LOCALHOST, "0"),
    }
    with trio.fail_after(30), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        for name, bind in binds.items():

            async def attempt(
                n: int, bind: Callable[[DatagramSocket], Awaitable[None]] = bind
            ) -> Outcome:
                with no_leaks():
                    async with DatagramSocket() as sock:
                        fds = open_fd_count()
                        outcome = await run_cancelled_after(lambda: bind(sock), n)
                        if outcome.cancelled:
                            assert sock.information.local_port == ""
                            assert open_fd_count() == fds
                            await bind(sock)
                        peer.sendto(b"%d" % n, ("127.0.0.1", int(sock.information.local_port)))
                        with trio.fail_after(5):
                            args = await sock.message_received.receive()
                        assert args.data == b"%d" % n
                return outcome

            with no_leaks():
                await each_cancellation(name, attempt)


# -- write, flush, send_all ------------------------------------------------------------

#: Each message is 256 KiB, eight times the kernel buffers of the pair below: a write
#: waits several times for the peer to read.
MESSAGE_SIZE = 256 * 1024


def message(seq: int) -> bytes:
    """A self-describing message: a torn or reordered one cannot pass :func:`parse`."""
    body = bytes([seq % 251]) * (MESSAGE_SIZE - 8)
    return struct.pack("!II", seq, len(body)) + body


def parse(data: bytes) -> list[int]:
    """The sequence numbers of the whole messages in *data*; fails on a torn one."""
    seqs = []
    view = memoryview(data)
    while view:
        assert len(view) >= 8, "a torn message header"
        seq, size = struct.unpack("!II", view[:8])
        assert len(view) >= 8 + size, f"message {seq} is torn"
        assert view[8 : 8 + size] == bytes([seq % 251]) * size, f"message {seq} is corrupt"
        seqs.append(seq)
        view = view[8 + size :]
    return seqs


@contextlib.asynccontextmanager
async def draining_pair() -> AsyncIterator[tuple[StreamSocket, bytearray]]:
    """(client, received): an entered client and everything its peer has received so
    far. Small kernel buffers on both sides make a large write wait for the peer several
    times; the peer reads until the client sends EOF."""
    received = bytearray()
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint(LOCALHOST, "0")
        # Accepted sockets inherit the receive buffer, and with it the window scale.
        listener.sockets[0].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        client = StreamSocket()
        client.control.outbound_buffer_size_in_bytes = 16 * 1024
        async with client, trio.open_nursery() as nursery:
            await client.connect(LOCALHOST, listener.information.local_port)
            server = await listener.accept()

            async def drain() -> None:
                async with server:
                    while data := await server.receive_some(65536):
                        received.extend(data)

            nursery.start_soon(drain)
            yield client, received
            await client.send_eof()


@pytest.mark.parametrize(
    "how", ["write + flush", "write + await the operation", "DataWriter.store", "send_all"]
)
async def test_writes_cancelled_at_every_step_arrive_whole_and_in_order(how: str) -> None:
    started: list[int] = []
    completed: list[int] = []
    with trio.fail_after(30), no_leaks():
        async with draining_pair() as (client, received):
            output = client.output_stream
            writer = DataWriter(output)

            async def operation() -> None:
                seq = len(started)
                started.append(seq)
                if how == "write + flush":
                    output.write(message(seq))
                    await output.flush()
                elif how == "write + await the operation":
                    assert await output.write(message(seq)) == MESSAGE_SIZE
                elif how == "DataWriter.store":
                    writer.write_bytes(message(seq))
                    # A store cancelled before it handed its bytes over left them
                    # buffered: they leave now, ahead of this message.
                    assert (await writer.store()) % MESSAGE_SIZE == 0
                else:
                    await client.send_all(message(seq))
                completed.append(seq)

            async def attempt(n: int) -> Outcome:
                outcome = await run_cancelled_after(operation, n)
                # The writes go on in the background: the stream drains, and the
                # next round starts with nothing pending, so that its operation
                # sends by itself (the case that hands the rest over when cancelled).
                await output.flush()
                assert output.pending_bytes == 0
                return outcome

            await each_cancellation(f"{how} ({MESSAGE_SIZE // 1024} KiB)", attempt)
            await writer.store()
            await output.flush()
        arrived = parse(bytes(received))
    assert completed == started[-1:]  # only the last run was not cancelled
    if how == "send_all":
        # trio's rule: a cancelled send_all may have sent nothing, or part of the data;
        # a socket in its block then sends the rest in the background. So each message
        # arrives whole or (cancelled before its first byte) not at all.
        assert arrived == sorted(arrived)
        assert set(arrived) <= set(started)
        assert set(completed) <= set(arrived)
        assert len(arrived) > len(started) // 2, "most cancelled sends had begun"
    else:
        # A write is under way from the moment write() returns: every one arrives.
        assert arrived == started


async def test_datagram_writes_cancelled_at_every_step_each_arrive_once() -> None:
    written: list[bytes] = []
    with trio.fail_after(30), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        port = str(peer.getsockname()[1])
        with no_leaks():
            async with DatagramSocket() as sock:

                async def operation() -> None:
                    stream = await sock.get_output_stream(LOCALHOST, port)
                    data = b"%d" % len(written)
                    stream.write(data)
                    written.append(data)
                    await stream.flush()

                async def attempt(n: int) -> Outcome:
                    outcome = await run_cancelled_after(operation, n)
                    # The socket and its stream go on, and are usable.
                    await (await sock.get_output_stream(LOCALHOST, port)).flush()
                    return outcome

                await each_cancellation("get_output_stream + write + flush (UDP)", attempt)
        arrived = []
        with contextlib.suppress(BlockingIOError):
            while True:
                arrived.append(peer.recv(100))
    # Every datagram whose write() returned is sent, once, in order; a cancel before
    # that sent nothing.
    assert arrived == written


# -- read, load, receive_some ----------------------------------------------------------

#: Each read is for 4 pieces, fed one at a time with the reader blocked in between.
PIECES = 4
PIECE = 1000


READS = [
    "input_stream.read (NONE)",
    "input_stream.read (PARTIAL)",
    "input_stream.read (READ_AHEAD)",
    "DataReader.load",
    "receive_some",
]


@pytest.fixture(params=["TCP", "TLS"])
async def tcp_or_tls_pair(
    request: pytest.FixtureRequest,
    tcp_pair: tuple[StreamSocket, StreamSocket],
    tls_certificates: TlsCertificates,
) -> AsyncIterator[tuple[StreamSocket, StreamSocket]]:
    """A connected (client, server) pair, over plain TCP or over TLS."""
    if request.param == "TCP":
        yield tcp_pair
    else:
        async with open_tls_pair(tls_certificates) as pair:
            yield pair


@pytest.mark.parametrize("buffered", [False, True], ids=["kernel", "buffered"])
@pytest.mark.parametrize("how", READS)
async def test_reads_cancelled_at_every_step_lose_no_data(
    tcp_or_tls_pair: tuple[StreamSocket, StreamSocket], buffered: bool, how: str
) -> None:
    """Over plain TCP and TLS; with *buffered*, each read starts with bytes waiting in
    the socket's own buffer (left there by a ``READ_AHEAD`` read), which it takes out
    before it can be cancelled."""
    client, server = tcp_or_tls_pair
    tls = client.information.protection_level != SocketProtectionLevel.PLAIN_SOCKET
    sent = bytearray()
    got = bytearray()
    reader = DataReader(client.input_stream)
    options = {
        "input_stream.read (NONE)": InputStreamOptions.NONE,
        "input_stream.read (PARTIAL)": InputStreamOptions.PARTIAL,
        "input_stream.read (READ_AHEAD)": InputStreamOptions.READ_AHEAD,
    }

    async def operation(count: int = PIECES * PIECE) -> None:
        if how == "DataReader.load":
            await reader.load(count - reader.unconsumed_buffer_length)
            got.extend(reader.read_bytes(reader.unconsumed_buffer_length))
        elif how == "receive_some":
            got.extend(await client.receive_some(count))
        else:
            got.extend(await client.input_stream.read(count, options[how]))

    async def send_piece() -> None:
        piece = bytes([len(sent) % 251]) * PIECE
        await server.send_all(piece)
        sent.extend(piece)

    async def fill_buffer() -> None:
        await send_piece()
        with trio.fail_after(5):
            got.extend(await client.input_stream.read(1, InputStreamOptions.READ_AHEAD))
        assert client._receiver.buffer, "the read-ahead left nothing buffered"

    async def attempt(n: int) -> Outcome:
        done = trio.Event()
        if buffered:
            await fill_buffer()

        async def feed() -> None:
            # One piece at a time, each once the reader is blocked, until it returns.
            for _ in range(PIECES):
                await trio.testing.wait_all_tasks_blocked()
                if done.is_set():
                    return
                await send_piece()

        async def read() -> None:
            try:
                await operation()
            finally:
                done.set()

        with no_leaks():
            outcome = await run_cancelled_after(read, n, alongside=feed)
        # Nothing is lost and the socket is usable: what the cancelled read left (in
        # the socket's buffer, the reader's buffer or the kernel), or what a complete
        # read that began with buffered bytes did not need, comes next.
        with trio.fail_after(5):
            while len(got) < len(sent):
                await operation(len(sent) - len(got))
        assert bytes(got) == bytes(sent)
        return outcome

    with trio.fail_after(30):
        # A first exchange starts what a connection starts once (the writer task of
        # an entered TLS socket), so that it is not taken for a leak.
        await send_piece()
        await operation(PIECE)
        await each_cancellation(
            f"{how} ({'TLS, ' if tls else ''}{'bytes buffered' if buffered else 'buffer empty'})",
            attempt,
        )
        await server.send_all(b"end")
        with trio.fail_after(5):
            await operation(3)
    assert bytes(got) == bytes(sent) + b"end"


#: Bytes the peer sends in the random-deadline test, in pieces of up to 7,000.
RANDOM_TOTAL = 300_000


@pytest.mark.parametrize("seed", range(5))
async def test_reads_with_random_deadlines_lose_no_data(
    tcp_or_tls_pair: tuple[StreamSocket, StreamSocket], seed: int
) -> None:
    """Every read path in turn, each under a random deadline of up to 0.5 ms, while the
    peer sends: the bytes received, cancelled reads and all, are the bytes sent."""
    client, server = tcp_or_tls_pair
    rng = random.Random(seed)
    payload = rng.randbytes(RANDOM_TOTAL)
    got = bytearray()
    reader = DataReader(client.input_stream)

    async def feed() -> None:
        view = memoryview(payload)
        while view:
            size = rng.randrange(1, 7000)
            await server.send_all(view[:size])
            view = view[size:]
            # Now and then a pause, so that reads wait and deadlines strike.
            await trio.sleep(rng.choice((0, 0, 0.0003)))
        await server.aclose()

    async def read_once() -> bool:
        """One read by a random path; False at the end of the stream."""
        path = rng.choice(READS)
        size = rng.randrange(1, 30000)
        if path == "receive_some":
            data = await client.receive_some(size)
        elif path == "DataReader.load":
            reader.input_stream_options = rng.choice(list(InputStreamOptions))
            loaded = await reader.load(size)
            got.extend(reader.read_bytes(reader.unconsumed_buffer_length))
            return bool(loaded)
        else:
            options = {
                "input_stream.read (NONE)": InputStreamOptions.NONE,
                "input_stream.read (PARTIAL)": InputStreamOptions.PARTIAL,
                "input_stream.read (READ_AHEAD)": InputStreamOptions.READ_AHEAD,
            }[path]
            data = await client.input_stream.read(size, options)
        got.extend(data)
        return bool(data)

    cancelled = 0
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            more = True
            while more:
                with trio.move_on_after(rng.random() * 0.0005) as scope:
                    more = await read_once()
                cancelled += scope.cancelled_caught
                # What a cancelled load had loaded stays in the reader.
                got.extend(reader.read_bytes(reader.unconsumed_buffer_length))
    assert len(got) == len(payload)
    assert got == payload
    assert cancelled > 10


# -- accept ----------------------------------------------------------------------------


async def test_accept_cancelled_at_every_step_loses_no_connection(
    listener: StreamSocketListener,
) -> None:
    port = int(listener.information.local_port)
    clients: list[socket.socket] = []
    accepted: list[StreamSocket] = []

    async def connect() -> None:
        await trio.testing.wait_all_tasks_blocked()
        conn = socket.create_connection(("127.0.0.1", port), timeout=5)
        conn.sendall(b"%d" % len(clients))
        clients.append(conn)

    async def operation() -> None:
        accepted.append(await listener.accept())

    async def attempt(n: int) -> Outcome:
        return await run_cancelled_after(operation, n, alongside=connect)

    with trio.fail_after(30), no_leaks():
        try:
            await each_cancellation("StreamSocketListener.accept", attempt)
            # Every connection is accepted exactly once: the cancelled accepts took
            # none from the queue.
            with trio.fail_after(5):
                while len(accepted) < len(clients):
                    accepted.append(await listener.accept())
            ids = [await receive_exactly(sock, len(b"%d" % i)) for i, sock in enumerate(accepted)]
            assert sorted(int(i) for i in ids) == list(range(len(clients)))
            assert listener.connection_received.statistics().current_buffer_used == 0
        finally:
            for sock in accepted:
                await sock.aclose()
            for conn in clients:
                conn.close()


# -- datagram receive ------------------------------------------------------------------


async def test_message_received_cancelled_at_every_step_loses_no_datagram() -> None:
    got: list[bytes] = []
    sent: list[bytes] = []
    with trio.fail_after(30), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint(LOCALHOST, "0")
            address = ("127.0.0.1", int(sock.information.local_port))

            async def send() -> None:
                await trio.testing.wait_all_tasks_blocked()
                sent.append(b"%d" % len(sent))
                peer.sendto(sent[-1], address)

            async def operation() -> None:
                got.append((await sock.message_received.receive()).data)

            async def attempt(n: int) -> Outcome:
                with no_leaks():
                    return await run_cancelled_after(operation, n, alongside=send)

            await each_cancellation("DatagramSocket.message_received.receive", attempt)
            with trio.fail_after(5):
                while len(got) < len(sent):
                    await operation()
            assert got == sent
            assert sock.information.dropped_message_count == 0


# -- a socket that was not entered -----------------------------------------------------


async def test_send_all_cancelled_on_an_unentered_socket_is_finished_by_the_next_send(
    listener: StreamSocketListener,
) -> None:
    """Without the socket's nursery no writer finishes a cancelled ``send_all``: the
    next send does, first, so the peer sees all of the cancelled message or none of it,
    never a torn one, and the socket stays usable."""
    port = listener.information.local_port
    listener.sockets[0].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)

    async def attempt(n: int) -> Outcome:
        async with StreamSocket() as client:
            await client.connect(LOCALHOST, port)
            sender = await listener.accept()  # a trio stream, used without entering it
            sender.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
            received = bytearray()

            async def drain() -> None:
                while data := await client.receive_some():
                    received.extend(data)

            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(drain)
                    outcome = await run_cancelled_after(lambda: sender.send_all(message(0)), n)
                    refused = 0
                    for later in (1, 2):
                        try:
                            await sender.send_all(message(later))
                        except trio.BrokenResourceError:
                            refused += 1
                    with contextlib.suppress(trio.BrokenResourceError):
                        await sender.send_eof()
                    with contextlib.suppress(trio.BrokenResourceError, SocketStatusError):
                        await sender.aclose()
            finally:
                await sender.aclose()
            assert not refused
            if outcome.cancelled:
                assert parse(bytes(received)) in ([1, 2], [0, 1, 2])
            else:
                assert parse(bytes(received)) == [0, 1, 2]
        return outcome

    with trio.fail_after(30), no_leaks():
        await each_cancellation("send_all on a socket not entered", attempt)
