"""StreamSocketListener on real sockets: binding, the channel, trio's Listener, real peers."""

from __future__ import annotations

import contextlib
import copy
import gc
import os
import socket
import subprocess
from collections.abc import Callable, Iterator

import pytest
import trio
import trio.testing
from conftest import free_tcp_port, receive_all, receive_exactly, require_tool, wait_until
from netns import inside, ip, network_namespace

from trio_sockets import (
    DatagramSocket,
    HostName,
    SocketErrorStatus,
    SocketProtectionLevel,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
    StreamSocketListenerConnectionReceivedEventArgs,
    WindowsOnlyError,
)
from trio_sockets._sockets.listener import CONNECTION_QUEUE_SIZE
from trio_sockets._sockets.listener_binding import PORT_ATTEMPTS


async def test_bind_service_name_listens_on_ipv4_and_ipv6_on_one_port() -> None:
    async with StreamSocketListener() as listener:
        assert listener.information.local_port == ""
        await listener.bind_service_name("0")
        port = listener.information.local_port
        assert int(port) > 0
        for host in ("127.0.0.1", "::1"):
            async with StreamSocket() as client:
                await client.connect(HostName(host), port)
                args = await listener.connection_received.receive()
                async with args.socket as server:
                    # IPv4 peers of the dual-stack socket read as IPv4, not ::ffff:…
                    assert server.information.remote_address == HostName(host)
                    await client.send_all(host.encode())
                    assert await receive_exactly(server, len(host)) == host.encode()


async def test_bind_service_name_with_a_fixed_port(free_tcp_service: str) -> None:
    port = free_tcp_service
    async with StreamSocketListener() as listener:
        await listener.bind_service_name(port)
        assert listener.information.local_port == port


async def test_bind_endpoint_listens_on_one_address() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.2", "0")
        port = listener.information.local_port
        assert [s.getsockname()[0] for s in listener.sockets] == ["127.0.0.2"]
        async with StreamSocket() as client:
            with pytest.raises(SocketStatusError) as caught:
                await client.connect("127.0.0.1", port)
            assert caught.value.status == SocketErrorStatus.CONNECTION_REFUSED
            await client.connect("127.0.0.2", port)
            (await listener.accept())._close_now()


async def test_bind_endpoint_to_an_ipv4_mapped_address_listens_on_the_ipv4_address() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("::ffff:127.0.0.2", "0")
        assert [s.getsockname()[0] for s in listener.sockets] == ["127.0.0.2"]
        async with StreamSocket() as client:
            await client.connect("127.0.0.2", listener.information.local_port)
            (await listener.accept())._close_now()


async def test_bind_endpoint_without_host_means_every_address() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint(None, "0")
        async with StreamSocket() as client:
            await client.connect("::1", listener.information.local_port)
            (await listener.accept())._close_now()


@contextlib.contextmanager
def ephemeral_ports(first: int, last: int) -> Iterator[str]:
    """A fresh network namespace whose ports for "0" are *first* to *last* alone."""
    with network_namespace("tslp") as name:
        ip("netns", "exec", name, "sysctl", "-qw", f"net.ipv4.ip_local_port_range={first} {last}")
        yield name


def assert_all_free(ports: range) -> None:
    """Nothing is left bound on ``::1`` at *ports* (no SO_REUSEADDR: any socket would
    be in the way)."""
    for port in ports:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", port))


async def test_localhost_on_any_port_takes_another_port_when_the_first_is_taken_on_ipv4() -> None:
    """``::1`` got a port for "0" that another program holds on 127.0.0.1 (Linux gives
    ``bind`` odd ports first, for either family), and the bind failed with
    ``ADDRESS_ALREADY_IN_USE`` for a port never asked for."""
    ports = range(40000, 40004)
    source_ports = iter(range(45000, 45100))  # the clients' (the range is the listeners')
    with (
        ephemeral_ports(ports[0], ports[-1]) as name,
        inside(name),
        contextlib.ExitStack() as stack,
    ):
        for port in (40001, 40003):  # the odd ones, on IPv4 alone
            stack.enter_context(socket.create_server(("127.0.0.1", port)))
        with trio.fail_after(10):
            for _ in range(4):
                async with StreamSocketListener() as listener:
                    await listener.bind_endpoint("localhost", "0")
                    port = listener.information.local_port
                    assert port in ("40000", "40002")
                    bound = sorted(s.getsockname()[:2] for s in listener.sockets)
                    assert bound == [("127.0.0.1", int(port)), ("::1", int(port))]
                    for host in ("::1", "127.0.0.1"):
                        source = (host, next(source_ports))
                        socket.create_connection((host, int(port)), 5, source).close()
                        # Closed after the client: the client's port takes the TIME_WAIT.
                        (await listener.accept())._close_now()
        assert_all_free(ports)  # the sockets of the failed attempts were closed


async def test_localhost_on_any_port_gives_up_after_some_ports_saying_so() -> None:
    ports = range(40000, 40000 + PORT_ATTEMPTS + 4)
    with (
        ephemeral_ports(ports[0], ports[-1]) as name,
        inside(name),
        contextlib.ExitStack() as stack,
    ):
        for port in ports:  # every port taken on IPv4, none on IPv6
            stack.enter_context(socket.create_server(("127.0.0.1", port)))
        with trio.fail_after(10):
            async with StreamSocketListener() as listener:
                with pytest.raises(SocketStatusError) as caught:
                    await listener.bind_endpoint("localhost", "0")
                assert caught.value.status == SocketErrorStatus.ADDRESS_ALREADY_IN_USE
                message = str(caught.value)
                assert 'the port the system chose for "0" at ::1' in message
                assert f"{PORT_ATTEMPTS} attempts, each with a new port" in message
                assert listener.sockets == []
        assert_all_free(ports)


async def test_adapter_stands_for_a_local_interface_address() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_service_name("0", SocketProtectionLevel.PLAIN_SOCKET, "127.0.0.3")
        assert [s.getsockname()[0] for s in listener.sockets] == ["127.0.0.3"]


async def test_an_interface_name_as_adapter_is_refused_before_any_lookup() -> None:
    """ "lo" resolved as a host name would be asked of the system's name servers."""
    async with StreamSocketListener() as listener, DatagramSocket() as datagram:
        with pytest.raises(ValueError, match="adapter 'lo' is the name of a network interface"):
            await listener.bind_service_name("0", SocketProtectionLevel.PLAIN_SOCKET, "lo")
        with pytest.raises(ValueError, match=r"adapter='127\.0\.0\.1' for lo"):
            await datagram.bind_service_name("0", "lo")
        await listener.bind_service_name("0", SocketProtectionLevel.PLAIN_SOCKET, "localhost")


async def test_listener_refuses_protection_levels_other_than_plain() -> None:
    async with StreamSocketListener() as listener:
        with pytest.raises(ValueError, match="TLS12"):
            await listener.bind_service_name("0", SocketProtectionLevel.TLS12)
        with pytest.raises(TypeError, match="protection_level"):
            await listener.bind_service_name("0", 8)  # type: ignore[arg-type]


async def test_binding_twice_is_refused() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_service_name("0")
        with pytest.raises(RuntimeError, match="already bound"):
            await listener.bind_service_name("0")


async def test_binding_needs_the_listener_to_be_entered() -> None:
    listener = StreamSocketListener()
    with pytest.raises(RuntimeError, match="async with"):
        await listener.bind_service_name("0")


async def test_bad_local_service_is_rejected_naming_the_value() -> None:
    async with StreamSocketListener() as listener:
        with pytest.raises(ValueError, match="'70000'"):
            await listener.bind_service_name("70000")
        with pytest.raises(SocketStatusError, match="no-such-service") as caught:
            await listener.bind_service_name("no-such-service")
        assert caught.value.status == SocketErrorStatus.CLASS_TYPE_NOT_FOUND


async def test_control_is_given_to_accepted_sockets_and_fixed_at_bind() -> None:
    async with StreamSocketListener() as listener:
        listener.control.keep_alive = True
        listener.control.outbound_unicast_hop_limit = 11
        await listener.bind_endpoint("127.0.0.1", "0")
        with pytest.raises(RuntimeError, match="before the listener is bound"):
            listener.control.no_delay = False
        async with StreamSocket() as client:
            await client.connect("127.0.0.1", listener.information.local_port)
            async with await listener.accept() as server:
                assert server.control.keep_alive is True
                assert server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert server.socket.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 11
                assert server.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


async def test_accepted_sockets_outlive_the_listener() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = listener.information.local_port
        async with StreamSocket() as client:
            await client.connect("127.0.0.1", port)
            args = await listener.connection_received.receive()
            await listener.aclose()
            await listener.aclose()  # idempotent
            async with args.socket as server:
                await client.send_all(b"still answering")
                assert await receive_exactly(server, 15) == b"still answering"
            # The listener no longer accepts.
            async with StreamSocket() as late:
                with pytest.raises(SocketStatusError) as caught:
                    await late.connect("127.0.0.1", port)
                assert caught.value.status == SocketErrorStatus.CONNECTION_REFUSED


async def test_async_for_ends_when_the_listener_closes() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        seen = []
        async with trio.open_nursery() as nursery:

            async def consume() -> None:
                async for args in listener.connection_received:
                    seen.append(args)
                    args.socket._close_now()

            nursery.start_soon(consume)
            async with StreamSocket() as client:
                await client.connect("127.0.0.1", listener.information.local_port)
                await trio.testing.wait_all_tasks_blocked()
            await listener.aclose()
        assert len(seen) == 1
        with pytest.raises(trio.ClosedResourceError):
            await listener.accept()


async def test_a_slow_consumer_makes_the_listener_stop_accepting() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = int(listener.information.local_port)
        clients = []
        try:
            for _ in range(CONNECTION_QUEUE_SIZE + 10):
                sock = socket.socket()
                sock.setblocking(False)
                clients.append(sock)
                with contextlib.suppress(BlockingIOError):
                    sock.connect(("127.0.0.1", port))
            await wait_until(
                lambda: (
                    listener.connection_received.statistics().current_buffer_used
                    >= CONNECTION_QUEUE_SIZE
                )
            )
            await trio.sleep(0.1)
            stats = listener.connection_received.statistics()
            # The channel holds its bound; the accept loop waits, the kernel backlog holds
            # the rest.
            assert stats.current_buffer_used == CONNECTION_QUEUE_SIZE
            assert stats.tasks_waiting_send == 1
            for _ in range(CONNECTION_QUEUE_SIZE + 10):
                (await listener.accept())._close_now()
        finally:
            for sock in clients:
                sock.close()


async def test_unreceived_connections_are_closed_with_the_listener() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        async with StreamSocket() as client:
            await client.connect("127.0.0.1", listener.information.local_port)
            await wait_until(
                lambda: listener.connection_received.statistics().current_buffer_used > 0
            )
            await listener.aclose()
            # Never served: a reset, as from a closed listening socket's backlog, not an
            # end of stream, which would read as an empty answer to what it sends.
            with pytest.raises(SocketStatusError) as caught:
                await client.receive_some()
            assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER


async def test_a_connection_arriving_as_the_listener_closes_is_no_error() -> None:
    # The accept loop woken as readable and the close in the same scheduling pass: the
    # block that ends (or the body that goes on after aclose()) must not see the
    # accept() on the closed descriptor.
    for attempt in range(40):
        client = StreamSocket()
        try:
            async with StreamSocketListener() as listener:
                await listener.bind_endpoint("127.0.0.1", "0")
                await client.connect("127.0.0.1", listener.information.local_port)
                if attempt % 2:
                    await listener.aclose()
                    await trio.sleep(0.001)  # answering on: not cancelled
        finally:
            await client.aclose()


async def test_closing_every_handle_of_connection_received_closes_the_listener(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = int(listener.information.local_port)
        worker = listener.connection_received.clone()
        listener.connection_received.close()  # the channel is the workers' now
        with pytest.raises(trio.ClosedResourceError, match="connection_received was closed"):
            await listener.accept()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as first:
            with worker:
                args = await worker.receive()
                async with args.socket as served:
                    await served.send_all(b"served")
            assert first.recv(16) == b"served"
        # Nobody can receive a connection any more: the next one closes the listener,
        # and the clients after it are refused instead of waiting in the backlog.
        listening = listener.sockets
        with socket.create_connection(("127.0.0.1", port), timeout=5) as second:
            with trio.fail_after(5):
                await wait_until(lambda: all(sock.fileno() == -1 for sock in listening))
            _assert_reset(second)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with pytest.raises(trio.ClosedResourceError, match="StreamSocketListener is closed"):
            await listener.accept()
    assert "every handle of connection_received was closed" in caplog.text


def _assert_reset(client: socket.socket) -> None:
    """The listener dropped *client*'s connection unserved: a reset, not an end of
    stream that reads as an empty answer."""
    with pytest.raises(ConnectionResetError):
        client.recv(16)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_connections_waiting_when_the_last_handle_closes_are_closed_with_the_listener(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """trio's channel drops what it holds when its last handle closes: the connections
    waiting in it were left to the garbage collector (a ResourceWarning each), the one
    the accept loop delivered last stayed open, and so did the listener, until the next
    client came."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = int(listener.information.local_port)
        before = _open_fds()
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
        try:
            statistics = listener.connection_received.statistics
            with trio.fail_after(5):
                await wait_until(lambda: statistics().current_buffer_used == 5)
            assert _open_fds() == before + 10
            listening = listener.sockets
            listener.connection_received.close()
            # Every waiting connection and the listener closed at once, in the close().
            assert _open_fds() == before + 5 - len(listening)
            assert all(sock.fileno() == -1 for sock in listening)
            for client in clients:
                _assert_reset(client)  # not a wait
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
        finally:
            for client in clients:
                client.close()
    assert "every handle of connection_received was closed" in caplog.text


async def test_args_received_and_dropped_without_their_socket_close_it() -> None:
    """Received, and let go without anyone reading ``args.socket``: nobody can close it
    but the args; the listener goes on."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = int(listener.information.local_port)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            args = await listener.connection_received.receive()
            del args
            await trio.lowlevel.checkpoint()  # trio's run loop lets go of what it handed over
            _assert_reset(client)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            async with await listener.accept() as served:
                await served.send_all(b"still serving")
            assert client.recv(16) == b"still serving"


async def test_untaken_args_in_a_reference_cycle_close_their_socket_without_a_warning() -> None:
    """The collector may finalize the socket of args that die in a cycle before the args
    themselves: the args' finalizer holds the socket, so it is closed, not warned about
    (a ResourceWarning fails this suite)."""

    class Cycle:
        def __init__(self, args: object) -> None:
            self.args = args
            self.me = self

    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = int(listener.information.local_port)
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
        try:
            for _ in clients:
                Cycle(await listener.connection_received.receive())
            await trio.lowlevel.checkpoint()
            gc.collect()
            for client in clients:
                _assert_reset(client)  # closed at the collection
        finally:
            for client in clients:
                client.close()


async def test_copied_args_share_whether_their_socket_was_taken() -> None:
    """The socket taken through a copy is not closed when the original, never read, is
    dropped."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = int(listener.information.local_port)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            args = await listener.connection_received.receive()
            mine = copy.copy(args)
            async with mine.socket as served:
                del args
                await trio.lowlevel.checkpoint()  # trio's run loop lets go of it too
                await served.send_all(b"still mine")
            assert client.recv(16) == b"still mine"


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
async def test_a_copy_of_args_keeps_its_connection_when_the_original_dies_first(
    copier: Callable[[object], object],
) -> None:
    """A copy is the same args: the original dropped before anyone read ``.socket``
    does not take the connection with it (it reset the copy's socket)."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = int(listener.information.local_port)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            args = await listener.connection_received.receive()
            mine = copier(args)
            assert isinstance(mine, StreamSocketListenerConnectionReceivedEventArgs)
            del args
            await trio.lowlevel.checkpoint()  # trio's run loop lets go of it too
            gc.collect()
            async with mine.socket as served:
                await served.send_all(b"still mine")
            assert client.recv(16) == b"still mine"


async def test_trio_serve_listeners_serves_with_the_listener() -> None:
    async def echo(stream: StreamSocket) -> None:
        async with stream:
            while data := await stream.receive_some():
                await stream.send_all(data.upper())

    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_listeners, echo, [listener])
            assert listeners == [listener]
            for word in (b"one", b"two", b"three"):
                async with StreamSocket() as client:
                    await client.connect("127.0.0.1", listener.information.local_port)
                    await client.send_all(word)
                    assert await receive_exactly(client, len(word)) == word.upper()
            nursery.cancel_scope.cancel()


async def test_windows_only_members_say_so() -> None:
    listener = StreamSocketListener()
    with pytest.raises(WindowsOnlyError, match="socket broker"):
        listener.transfer_ownership("id")
    with pytest.raises(WindowsOnlyError, match="socket broker"):
        listener.enable_transfer_ownership("task")


async def test_cancel_io_keeps_accepting() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        await listener.cancel_io()
        async with StreamSocket() as client:
            await client.connect("127.0.0.1", listener.information.local_port)
            (await listener.accept())._close_now()


# -- socat, a real third-party peer ---------------------------------------------------


async def _wait_until_listening(port: int) -> None:
    with trio.fail_after(10):
        while True:
            probe = socket.socket()
            try:
                probe.connect(("127.0.0.1", port))
            except ConnectionRefusedError:
                await trio.sleep(0.02)
            else:
                return
            finally:
                probe.close()


async def test_stream_socket_talks_to_a_socat_echo_server() -> None:
    socat = require_tool("socat")
    port = free_tcp_port()
    process = await trio.lowlevel.open_process(
        [socat, f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr", "PIPE"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _wait_until_listening(port)
        # socat served the probe connection; start it again for the real one.
        with trio.fail_after(10):
            await process.wait()
        process = await trio.lowlevel.open_process(
            [socat, f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr", "PIPE"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        payload = bytes(range(256)) * 64
        with trio.fail_after(10):
            async with StreamSocket() as client:
                while True:
                    try:
                        await client.connect("127.0.0.1", str(port))
                        break
                    except SocketStatusError:
                        await trio.sleep(0.02)
                for start in range(0, len(payload), 1000):
                    client.output_stream.write(payload[start : start + 1000])
                await client.output_stream.flush()
                assert await receive_exactly(client, len(payload)) == payload
                await client.send_eof()
                assert await receive_all(client) == b""
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(5):
            await process.wait()


async def test_a_socat_client_talks_to_the_listener() -> None:
    socat = require_tool("socat")
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = listener.information.local_port
        async with trio.open_nursery() as nursery:
            result: list[subprocess.CompletedProcess[bytes]] = []

            async def run_socat() -> None:
                result.append(
                    await trio.run_process(
                        [socat, "-t", "2", "-", f"TCP:127.0.0.1:{port}"],
                        stdin=b"hello from socat\n",
                        capture_stdout=True,
                        capture_stderr=True,
                    )
                )

            nursery.start_soon(run_socat)
            with trio.fail_after(10):
                args = await listener.connection_received.receive()
                async with args.socket as server:
                    request = await receive_all(server)
                    assert request == b"hello from socat\n"
                    await server.send_all(b"echo: " + request)
        assert result[0].stdout == b"echo: hello from socat\n"
