"""StreamSocket on real loopback sockets: connecting, streams, control, errors, misuse."""

from __future__ import annotations

import contextlib
import copy
import errno
import functools
import gc
import logging
import pickle
import select
import socket
import struct
import weakref
from collections.abc import Awaitable, Callable, Iterator

import pytest
import trio
import trio.testing
from conftest import (
    cancel_io_during,
    close_during,
    fill_stream,
    free_tcp_port,
    live_tasks,
    narrow,
    open_fd_count,
    open_tls_pair,
    receive_all,
    receive_exactly,
    wait_until,
)

from trio_sockets import (
    DatagramSocket,
    DataReader,
    EndpointPair,
    HostName,
    HostNameSortOptions,
    InputStreamOptions,
    MessageWebSocket,
    Resolver,
    SocketError,
    SocketErrorStatus,
    SocketProtectionLevel,
    SocketQualityOfService,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
    StreamWebSocket,
    WindowsOnlyError,
)
from trio_sockets._io.connect import Tried
from trio_sockets.testing import TlsCertificates

LOCALHOST = HostName("127.0.0.1")


# -- connecting ----------------------------------------------------------------------


async def test_connect_by_host_name_and_service(listener: StreamSocketListener) -> None:
    port = listener.information.local_port
    async with StreamSocket() as client:
        await client.connect(HostName("localhost"), port)
        server = await listener.accept()
        async with server:
            await client.send_all(b"ping")
            assert await receive_exactly(server, 4) == b"ping"
            info = client.information
            assert info.remote_host_name == HostName("localhost")
            assert info.remote_service_name == port
            assert info.remote_address == LOCALHOST
            assert info.remote_port == port
            assert info.local_address == LOCALHOST
            assert server.information.remote_port == info.local_port
            assert server.information.remote_host_name == LOCALHOST
            assert info.protection_level == SocketProtectionLevel.PLAIN_SOCKET
            assert info.session_key is None


async def test_connect_accepts_a_plain_string_host(listener: StreamSocketListener) -> None:
    async with StreamSocket() as client:
        await client.connect("127.0.0.1", listener.information.local_port)
        assert client.information.remote_address == LOCALHOST
        (await listener.accept())._close_now()


async def test_connect_with_endpoint_pair_binds_the_local_side(
    listener: StreamSocketListener,
) -> None:
    local_port = str(free_tcp_port("127.0.0.2"))
    pair = EndpointPair(
        HostName("127.0.0.2"), local_port, LOCALHOST, listener.information.local_port
    )
    async with StreamSocket() as client:
        await client.connect(pair)
        assert client.information.local_address == HostName("127.0.0.2")
        assert client.information.local_port == local_port
        server = await listener.accept()
        async with server:
            assert server.information.remote_address == HostName("127.0.0.2")
            assert server.information.remote_port == local_port


async def test_connect_with_endpoint_pair_lets_the_system_choose_the_local_side(
    listener: StreamSocketListener,
) -> None:
    pair = EndpointPair(None, "", "127.0.0.1", listener.information.local_port)
    async with StreamSocket() as client:
        await client.connect(pair)
        assert client.information.local_port not in ("", "0")
        (await listener.accept())._close_now()


@pytest.fixture
def ipv6_unanswered_ipv4_listening() -> Iterator[str]:
    """A port on which ::1's accept queue is full (SYNs unanswered) and 127.0.0.1
    listens: a connect to "localhost" must fall back from ::1 to 127.0.0.1."""
    with socket.socket(socket.AF_INET6) as v6, socket.socket() as v4:
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.bind(("::1", 0))
        v6.listen(0)
        port = v6.getsockname()[1]
        v4.bind(("127.0.0.1", port))
        v4.listen(16)
        fillers = []
        try:
            for _ in range(4):
                filler = socket.socket(socket.AF_INET6)
                filler.setblocking(False)
                fillers.append(filler)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("::1", port))
            yield str(port)
        finally:
            for filler in fillers:
                filler.close()


async def test_a_fixed_local_port_still_falls_back_to_ipv4(
    ipv6_unanswered_ipv4_listening: str,
) -> None:
    """With a local port and no local host both families bind their wildcard to that
    port: the IPv6 attempt must not hold the IPv4 side of it, or the IPv4 attempt could
    not bind and happy eyeballs would wait for the IPv6 one until the timeout."""
    port = ipv6_unanswered_ipv4_listening
    resolver = Resolver(["127.0.0.1"], 9)  # "localhost" is ::1 and 127.0.0.1, never asked
    for local_port in ("", str(free_tcp_port("127.0.0.1"))):
        async with StreamSocket(resolver=resolver) as client:
            client.control.connect_timeout = 5
            with trio.fail_after(10):
                await client.connect(EndpointPair(None, local_port, HostName("localhost"), port))
            assert client.information.remote_address == LOCALHOST
            if local_port:
                assert client.information.local_port == local_port
    # A remote in its IPv4-mapped spelling is reached by IPv4 from the fixed port too.
    local_port = str(free_tcp_port("127.0.0.1"))
    async with StreamSocket() as client:
        with trio.fail_after(10):
            await client.connect(EndpointPair(None, local_port, HostName("::ffff:127.0.0.1"), port))
        assert client.information.local_port == local_port


async def test_a_local_bind_that_fails_names_the_local_side(
    listener: StreamSocketListener,
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = str(busy.getsockname()[1])
        async with StreamSocket() as client:
            with pytest.raises(SocketStatusError) as caught:
                await client.connect(
                    EndpointPair(LOCALHOST, taken, LOCALHOST, listener.information.local_port)
                )
    assert caught.value.status == SocketErrorStatus.ADDRESS_ALREADY_IN_USE
    assert f"bind to the local 127.0.0.1:{taken}" in str(caught.value)


async def test_endpoint_pair_without_remote_is_rejected() -> None:
    async with StreamSocket() as client:
        with pytest.raises(ValueError, match="remote"):
            await client.connect(EndpointPair(None, "", None, ""))


async def test_information_before_connect_uses_winrt_empty_values() -> None:
    sock = StreamSocket()
    info = sock.information
    assert info.local_address is None
    assert info.remote_address is None
    assert info.local_port == ""
    assert info.remote_port == ""
    assert info.remote_host_name is None
    assert info.remote_service_name == ""
    assert info.round_trip_time_statistics.sum == 0
    assert info.bandwidth_statistics.outbound_bits_per_second == 0


async def test_get_endpoint_pairs_resolves_without_connecting() -> None:
    pairs = await StreamSocket.get_endpoint_pairs(HostName("localhost"), "80")
    assert [pair.remote_host_name for pair in pairs] == [HostName("::1"), LOCALHOST]
    for pair in pairs:  # each from the loopback address of its family
        assert pair.remote_service_name == "80"
        assert pair.local_host_name == pair.remote_host_name
        assert pair.local_service_name == ""
    long_lived = await StreamSocket.get_endpoint_pairs(
        "localhost", "80", HostNameSortOptions.OPTIMIZE_FOR_LONG_CONNECTIONS
    )
    assert [p.remote_host_name for p in long_lived] == [p.remote_host_name for p in pairs]


# -- the trio Stream contract -----------------------------------------------------------


async def _stream_pair() -> tuple[StreamSocket, StreamSocket]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client = StreamSocket()
        await client.connect(LOCALHOST, str(server.getsockname()[1]))
        conn, address = server.accept()
        conn.setblocking(False)
        from trio_sockets._sockets.stream_control import StreamSocketListenerControl
        from trio_sockets._sockets.stream_socket import accepted_socket

        accepted = accepted_socket(
            conn, address, StreamSocketListenerControl(lambda: "a test listener")
        )
        return client, accepted


async def _clogged_pair() -> tuple[StreamSocket, StreamSocket]:
    """A pair not entered, each side filled straight into the kernel until it refuses
    more (a cancelled ``send_all`` would break the sending side of such a socket)."""
    left, right = await _stream_pair()
    for sender, receiver in ((left, right), (right, left)):
        narrow(sender, receiver)
        with trio.fail_after(10):
            while True:
                with contextlib.suppress(BlockingIOError):
                    for _ in range(1000):  # 10 MB: far more than any loopback buffer
                        sender.socket.send(b"x" * 10000)
                    raise AssertionError("the kernel took 10 MB without blocking")
                # Full once it stays so while the acknowledgements in flight arrive.
                await trio.sleep(0.02)
                try:
                    sender.socket.send(b"x" * 10000)
                except BlockingIOError:
                    break
    return left, right


async def _entered_clogged_pair(
    blocks: contextlib.AsyncExitStack,
) -> tuple[StreamSocket, StreamSocket]:
    """A pair entered in *blocks* and clogged as trio clogs its own streams: each side
    has writes pending that only the peer's reading lets out."""
    pair = await _entered_pair(blocks)
    narrow(*pair)
    narrow(*reversed(pair))
    await fill_stream(*pair)
    return pair


async def _entered_pair(blocks: contextlib.AsyncExitStack) -> tuple[StreamSocket, StreamSocket]:
    pair = await _stream_pair()
    for sock in pair:
        await blocks.enter_async_context(sock)
    return pair


async def test_stream_socket_passes_trios_half_closeable_stream_checks() -> None:
    """Sockets not entered: every send runs in the task that calls it."""
    with trio.fail_after(30):
        await trio.testing.check_half_closeable_stream(_stream_pair, _clogged_pair)


async def test_entered_stream_sockets_pass_trios_half_closeable_stream_checks() -> None:
    # The blocks of the sockets the checks make end together, after the checks.
    with trio.fail_after(30):
        async with contextlib.AsyncExitStack() as blocks:
            await trio.testing.check_half_closeable_stream(
                functools.partial(_entered_pair, blocks),
                functools.partial(_entered_clogged_pair, blocks),
            )


@pytest.mark.parametrize(
    ("operation", "entered"),
    [
        ("send_all", False),
        ("send_all", True),
        ("wait_send_all_might_not_block", False),
        ("wait_send_all_might_not_block", True),
        # Only writes pending make send_eof wait (without them it ends at once).
        ("send_eof", True),
        ("awaited write", False),
        ("awaited write", True),
        ("flush", True),
    ],
)
async def test_a_send_ended_by_a_close_in_another_task_raises_closed(
    operation: str, entered: bool
) -> None:
    """trio's contract: a send interrupted because another task closed the stream
    raises ClosedResourceError (here also OPERATION_ABORTED). Twice in a row: a wait on
    the closed socket's fd -1 would leave trio's registration of it behind, and the
    next task to wait on a closed socket would get BusyResourceError."""
    with trio.fail_after(20):
        async with contextlib.AsyncExitStack() as blocks:
            for _ in range(2):
                if entered:
                    sender, receiver = await _entered_clogged_pair(blocks)
                    assert sender.output_stream.pending_bytes  # the wait waits for them
                else:
                    sender, receiver = await _clogged_pair()
                send = {
                    "send_all": functools.partial(sender.send_all, b"more"),
                    "awaited write": functools.partial(sender.output_stream.write, b"more"),
                    "flush": sender.output_stream.flush,
                }.get(operation) or getattr(sender, operation)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(close_when_blocked, sender)
                    with pytest.raises(trio.ClosedResourceError) as caught:
                        await send()
                assert SocketError.get_status(caught.value) == SocketErrorStatus.OPERATION_ABORTED
                await trio.aclose_forcefully(receiver)  # its own writes were reset


async def close_when_blocked(sock: StreamSocket) -> None:
    await trio.testing.wait_all_tasks_blocked()
    # Gracefully: with a send under way the close aborts it at once, rather than wait
    # for the pending writes, which the clogged peer never lets out.
    with trio.fail_after(5):
        await sock.aclose()


async def test_half_close_lets_the_peer_answer(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    client.output_stream.write(b"question")
    await client.send_eof()
    await client.send_eof()  # idempotent
    assert await receive_all(server) == b"question"
    await server.send_all(b"answer")
    assert await receive_exactly(client, 6) == b"answer"
    with pytest.raises(trio.ClosedResourceError):
        client.output_stream.write(b"late")


async def _connected(
    blocks: contextlib.AsyncExitStack, listener: StreamSocketListener, *, entered: bool
) -> tuple[StreamSocket, StreamSocket]:
    """A client connected to *listener* (entered in *blocks* if *entered*), and the
    accepted end."""
    client = StreamSocket()
    if entered:
        await blocks.enter_async_context(client)
    await client.connect(LOCALHOST, listener.information.local_port)
    return client, await listener.accept()


@pytest.mark.parametrize("entered", [True, False], ids=["entered", "unentered"])
async def test_send_eof_after_cancel_io_tore_its_writes_raises_and_sends_no_end(
    listener: StreamSocketListener, entered: bool
) -> None:
    """``send_eof()`` sends the pending writes, then the FIN. When ``cancel_io()`` in
    another task tears the write it is sending, it raises ``OPERATION_ABORTED`` and
    sends no FIN: the peer gets what had left and then, at the close, a reset -- never
    an end of stream after a torn message (it used to return and send the FIN)."""
    with trio.fail_after(20):
        async with contextlib.AsyncExitStack() as blocks:
            client, server = await _connected(blocks, listener, entered=entered)
            await blocks.enter_async_context(server)
            client.output_stream.write(b"x" * (16 << 20))  # more than the kernel takes
            errors = await cancel_io_during(client, client.send_eof)
            assert [SocketError.get_status(error) for error in errors] == [
                SocketErrorStatus.OPERATION_ABORTED
            ]
            assert client.output_stream.broken
            with trio.move_on_after(0.5):
                await _read_to_the_end(server)
                pytest.fail("the peer saw the stream end after a torn write")
            with pytest.raises(trio.BrokenResourceError):  # no FIN later either
                await client.send_eof()
            await client.aclose()
            assert await _read_to_the_end(server) == SocketErrorStatus.CONNECTION_RESET_BY_PEER


@pytest.mark.parametrize("pending", [True, False], ids=["writes pending", "nothing pending"])
async def test_send_eof_after_a_reset_raises_connection_reset(
    listener: StreamSocketListener, pending: bool
) -> None:
    """A peer that resets the connection while ``send_eof()`` sends the pending writes,
    or before it is called, fails it with ``CONNECTION_RESET_BY_PEER`` (it used to
    fail in ``shutdown()`` with ``UNKNOWN``: ENOTCONN)."""
    with trio.fail_after(20):
        client = StreamSocket()
        await client.connect(LOCALHOST, listener.information.local_port)
        server = await listener.accept()
        if pending:
            client.output_stream.write(b"x" * (16 << 20))  # more than the kernel takes

        async def reset_when_blocked() -> None:
            await trio.testing.wait_all_tasks_blocked()
            _reset(server.socket)
            server._close_now()

        async with trio.open_nursery() as nursery:
            if pending:
                nursery.start_soon(reset_when_blocked)
            else:
                await reset_when_blocked()
                await trio.sleep(0.05)  # let the RST arrive
            with pytest.raises(SocketStatusError) as caught:
                await client.send_eof()
        assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER
        assert isinstance(caught.value, trio.BrokenResourceError)
        assert client.output_stream.broken
        await client.aclose()


async def test_input_stream_read_options(tcp_pair: tuple[StreamSocket, StreamSocket]) -> None:
    client, server = tcp_pair
    await server.send_all(b"abc")
    assert await client.input_stream.read(10, InputStreamOptions.PARTIAL) == b"abc"

    async with trio.open_nursery() as nursery:
        result: list[bytes] = []

        async def read_ten() -> None:
            result.append(await client.input_stream.read(10))

        nursery.start_soon(read_ten)
        await server.send_all(b"12345")
        await trio.testing.wait_all_tasks_blocked()
        assert not result  # NONE waits for all ten bytes
        await server.send_all(b"67890xyz")
    assert result == [b"1234567890"]
    assert await client.input_stream.read(3) == b"xyz"

    await server.send_all(b"A" * 100)
    assert await client.input_stream.read(10, InputStreamOptions.READ_AHEAD) == b"A" * 10
    # The read-ahead surplus is served without another receive.
    assert client._receiver.buffer == b"A" * 90
    assert await client.receive_some(1000) == b"A" * 90

    await server.send_eof()
    assert await client.input_stream.read(5) == b""


async def test_closing_the_streams_leaves_the_socket_open(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """Closing ``input_stream`` and ``output_stream`` ends those stream objects only, as
    their interfaces say: the socket itself still sends and receives."""
    client, server = tcp_pair
    input_stream, output_stream = client.input_stream, client.output_stream
    await input_stream.aclose()
    await output_stream.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await input_stream.read(1)
    with pytest.raises(trio.ClosedResourceError):
        output_stream.write(b"refused")
    await client.send_all(b"still sending")
    assert await receive_exactly(server, 13) == b"still sending"
    await server.send_all(b"still receiving")
    assert await receive_exactly(client, 15) == b"still receiving"
    assert client.information.remote_address is not None


async def test_cancelled_read_loses_no_data(tcp_pair: tuple[StreamSocket, StreamSocket]) -> None:
    client, server = tcp_pair
    await server.send_all(b"first")
    with trio.move_on_after(0.2) as scope:
        await client.input_stream.read(100)
    assert scope.cancelled_caught
    await server.send_all(b"-second")
    assert await client.input_stream.read(12) == b"first-second"


# -- control ---------------------------------------------------------------------------


async def test_control_defaults_match_winrt() -> None:
    control = StreamSocket().control
    assert control.no_delay is True
    assert control.keep_alive is False
    assert control.outbound_unicast_hop_limit == 128
    assert control.outbound_buffer_size_in_bytes is None
    assert control.quality_of_service == SocketQualityOfService.NORMAL
    assert control.serialize_connection_attempts is False
    assert control.connect_timeout is None


async def test_control_options_set_before_connect_apply(listener: StreamSocketListener) -> None:
    async with StreamSocket() as client:
        client.control.keep_alive = True
        client.control.no_delay = False
        client.control.outbound_unicast_hop_limit = 7
        client.control.outbound_buffer_size_in_bytes = 32768
        client.control.quality_of_service = SocketQualityOfService.LOW_LATENCY
        await client.connect(LOCALHOST, listener.information.local_port)
        sock = client.socket
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 7
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * 32768
        (await listener.accept())._close_now()


async def test_default_options_on_a_connected_socket(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    for sock in (client.socket, server.socket):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 128


async def test_control_changes_after_connect_apply_live(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, _ = tcp_pair
    client.control.keep_alive = True
    client.control.outbound_unicast_hop_limit = 9
    assert client.socket.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert client.socket.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 9
    with pytest.raises(RuntimeError, match="serialize_connection_attempts"):
        client.control.serialize_connection_attempts = True
    with pytest.raises(RuntimeError, match="connect_timeout"):
        client.control.connect_timeout = 1.0


async def test_a_control_asked_for_after_a_connect_applies_to_the_next(
    listener: StreamSocketListener,
) -> None:
    """A connect on a socket without a control uses the defaults; a control asked for
    afterwards starts from them, with the connect options fixed, and the next connect
    applies what was set on it."""
    async with StreamSocket() as client:
        with pytest.raises(SocketStatusError) as refused:
            await client.connect(LOCALHOST, str(free_tcp_port()))
        assert refused.value.status == SocketErrorStatus.CONNECTION_REFUSED
        control = client.control
        assert (control.no_delay, control.keep_alive, control.connect_timeout) == (
            True,
            False,
            None,
        )
        with pytest.raises(RuntimeError, match="connect_timeout"):
            control.connect_timeout = 1.0
        control.keep_alive = True
        control.outbound_unicast_hop_limit = 9
        await client.connect(LOCALHOST, listener.information.local_port)
        assert client.socket.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert client.socket.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 9
        (await listener.accept())._close_now()


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("outbound_unicast_hop_limit", 0, ValueError),
        ("outbound_unicast_hop_limit", 256, ValueError),
        ("outbound_unicast_hop_limit", True, TypeError),
        ("outbound_buffer_size_in_bytes", 0, ValueError),
        ("outbound_buffer_size_in_bytes", "big", TypeError),
        ("keep_alive", 1, TypeError),
        ("no_delay", "yes", TypeError),
        ("quality_of_service", 1, TypeError),
        ("connect_timeout", -1, ValueError),
        ("connect_timeout", 0, ValueError),
    ],
)
def test_control_rejects_bad_values(name: str, value: object, error: type[Exception]) -> None:
    control = StreamSocket().control
    with pytest.raises(error, match=repr(value).replace("(", r"\(")) as caught:
        setattr(control, name, value)
    assert name in str(caught.value)


async def test_statistics_come_from_tcp_info(tcp_pair: tuple[StreamSocket, StreamSocket]) -> None:
    client, server = tcp_pair
    for _ in range(20):
        await client.send_all(b"x" * 1000)
        await receive_exactly(server, 1000)
        await server.send_all(b"y")
        await receive_exactly(client, 1)
    rtt = client.information.round_trip_time_statistics
    assert rtt.sum > 0
    assert 0 < rtt.min <= rtt.max
    assert rtt.max >= rtt.sum
    bandwidth = client.information.bandwidth_statistics
    assert bandwidth.outbound_bits_per_second > 0
    assert bandwidth.outbound_bits_per_second_instability == 0


# -- failures, classified ----------------------------------------------------------------


async def test_connection_refused_then_connect_again(listener: StreamSocketListener) -> None:
    async with StreamSocket() as client:
        with pytest.raises(SocketStatusError) as caught:
            await client.connect(LOCALHOST, str(free_tcp_port()))
        error = caught.value
        assert error.status == SocketErrorStatus.CONNECTION_REFUSED
        assert SocketError.get_status(error) == SocketErrorStatus.CONNECTION_REFUSED
        assert isinstance(error, ConnectionRefusedError)
        assert error.errno == errno.ECONNREFUSED
        assert "127.0.0.1" in str(error)
        # A failed connect leaves the socket usable for another connect.
        await client.connect(LOCALHOST, listener.information.local_port)
        server = await listener.accept()
        async with server:
            await client.send_all(b"after")
            assert await receive_exactly(server, 5) == b"after"


@pytest.fixture
def unanswered_port() -> object:
    """A port whose listener's accept queue is full: further SYNs go unanswered."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(0)
        port = listening.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):
                filler = socket.socket()
                filler.setblocking(False)
                fillers.append(filler)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            yield port
        finally:
            for filler in fillers:
                filler.close()


async def test_connect_timeout_gives_connection_timed_out(unanswered_port: int) -> None:
    async with StreamSocket() as client:
        client.control.connect_timeout = 0.3
        with trio.fail_after(5):
            with pytest.raises(SocketStatusError) as caught:
                await client.connect(LOCALHOST, str(unanswered_port))
        assert caught.value.status == SocketErrorStatus.CONNECTION_TIMED_OUT
        assert isinstance(caught.value, TimeoutError)
        assert "connect_timeout=0.3" in str(caught.value)
        # It names what was tried, as a connect whose every attempt failed does.
        assert f"; tried 127.0.0.1:{unanswered_port} (no answer)" in str(caught.value)


async def test_a_connect_timeout_while_looking_the_name_up_says_so() -> None:
    """No address was tried: the message says the lookup took the whole time (a name
    server that never answers, a lookup timeout longer than the connect's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as nameserver:
        nameserver.bind(("127.0.0.1", 0))
        resolver = Resolver(["127.0.0.1"], nameserver.getsockname()[1], timeout=30, attempts=1)
        async with StreamSocket(resolver=resolver) as client:
            client.control.connect_timeout = 0.3
            with trio.fail_after(10), pytest.raises(SocketStatusError) as caught:
                await client.connect("example.test", "80")
    assert caught.value.status == SocketErrorStatus.CONNECTION_TIMED_OUT
    assert str(caught.value).startswith(
        "connect to example.test:80: no connection within control.connect_timeout=0.3 s; "
        "no address was tried: looking the name up took the whole time"
    )


def test_what_a_timed_out_connect_tried_is_named_briefly() -> None:
    assert Tried(named=True).describe().endswith("looking the name up took the whole time")
    assert Tried(named=False).describe() == "the attempt had not started"  # an address
    tried = Tried(named=True)
    tried.attempts[("fd01:b::99", 4100, 0, 0)] = None
    tried.attempts[("10.72.0.99", 4100)] = OSError(errno.ENETUNREACH, "Network is unreachable")
    assert tried.describe() == (
        "tried [fd01:b::99]:4100 (no answer), 10.72.0.99:4100 (Network is unreachable)"
    )
    for index in range(20):
        tried.attempts[(f"127.0.0.{index + 1}", 80)] = None
    assert tried.describe().endswith(", and 14 more addresses")
    assert tried.describe().count("(no answer)") == 7


async def test_a_trio_timeout_is_classified_as_timed_out(unanswered_port: int) -> None:
    async with StreamSocket() as client:
        with pytest.raises(trio.TooSlowError) as caught:
            with trio.fail_after(0.3):
                await client.connect(LOCALHOST, str(unanswered_port))
        assert SocketError.get_status(caught.value) == SocketErrorStatus.CONNECTION_TIMED_OUT


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def test_reset_by_peer_on_receive(tcp_pair: tuple[StreamSocket, StreamSocket]) -> None:
    client, server = tcp_pair
    _reset(server.socket)
    with pytest.raises(SocketStatusError) as caught:
        await client.receive_some()
    assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER
    assert isinstance(caught.value, trio.BrokenResourceError)
    assert isinstance(caught.value, ConnectionResetError)


@pytest.mark.parametrize("ending", ["data", "end of stream", "reset"])
async def test_a_read_after_one_that_emptied_the_socket_gets_what_comes_next(
    tcp_pair: tuple[StreamSocket, StreamSocket], ending: str
) -> None:
    """A read that took less than it asked for left the socket empty, so the next one
    asks the kernel before reading (FIONREAD, which answers 0 at an end of stream and
    with a reset pending too). Whatever comes next still reaches it: bytes already
    waiting, bytes that come while it waits, the end of the stream, or a reset."""
    client, server = tcp_pair
    with trio.fail_after(10):
        await server.send_all(b"first")
        assert await client.receive_some(4096) == b"first"  # less than asked: emptied
        await server.send_all(b"waiting")
        await wait_until(lambda: bool(select.select([client.socket], [], [], 0)[0]))
        assert await client.receive_some(4096) == b"waiting"  # was there before the ask
        async with trio.open_nursery() as nursery:

            async def then() -> None:
                await trio.testing.wait_all_tasks_blocked()  # the read waits
                if ending == "data":
                    await server.send_all(b"later")
                elif ending == "end of stream":
                    await server.send_eof()
                else:
                    _reset(server.socket)

            nursery.start_soon(then)
            if ending == "data":
                assert await client.receive_some(4096) == b"later"
            elif ending == "end of stream":
                assert await client.receive_some(4096) == b""
            else:
                with pytest.raises(SocketStatusError) as caught:
                    await client.receive_some(4096)
                assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER


def _first_send_size(total: int, send_buffer: int) -> int:
    """How many of *total* bytes the kernel takes in the first send of a fresh loopback
    connection with this send buffer, the peer reading nothing."""
    with socket.create_server(("127.0.0.1", 0)) as server, socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        client.connect(server.getsockname())
        peer, _ = server.accept()
        with peer:
            client.setblocking(False)
            return client.send(b"x" * total)


async def test_send_all_of_a_view_of_rows_sends_every_byte(listener: StreamSocketListener) -> None:
    """A memoryview of rows (an image's, an array's) has as many rows as ``len()`` says,
    not bytes. Here the kernel's first send takes exactly as many bytes as the view has
    rows; ``send_all`` still sends every byte before it returns. Before, that first send
    counted as all of it: ``send_all`` returned, and the peer got a clean end after a
    sixty-fourth of the data."""
    send_buffer = 65536
    rows = _first_send_size(4_000_000, send_buffer)
    view = memoryview(bytearray(bytes(range(64)) * rows)).cast("B", (rows, 64))
    with trio.fail_after(20):
        client = StreamSocket()
        client.control.outbound_buffer_size_in_bytes = send_buffer
        async with client, trio.open_nursery() as nursery:
            await client.connect(LOCALHOST, listener.information.local_port)
            async with await listener.accept() as server:

                async def send() -> None:
                    await client.send_all(view)
                    await client.send_eof()

                nursery.start_soon(send)
                await trio.testing.wait_all_tasks_blocked()  # the first send was made
                assert await receive_all(server) == view.tobytes()


def _wait_for_socket_error(sock: socket.socket) -> None:
    """Block until an error (the reset) is pending on *sock*, for at most 5 seconds."""
    poll = select.poll()
    poll.register(sock.fileno(), 0)  # POLLERR is always reported; nothing is read
    assert poll.poll(5000), "no error came within 5 seconds"


async def test_a_reset_stays_a_failure_for_every_later_receive(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """Linux reports a reset to one system call only; receives after it found an end of
    stream. They raise it again: a cut stream never reads as a complete one."""
    client, server = tcp_pair
    _reset(server.socket)
    for _ in range(2):
        with pytest.raises(SocketStatusError) as caught:
            await client.receive_some()
        assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER
    with pytest.raises(SocketStatusError, match="the peer did not end the stream"):
        await client.input_stream.read(10, InputStreamOptions.PARTIAL)
    with pytest.raises(trio.BrokenResourceError):
        await DataReader(client.input_stream).load(1)


async def test_a_reset_a_send_met_fails_the_receives_after_the_data_before_it(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """The peer sent part of its data and crashed (a reset); a send met the reset first.
    The data that came is read, then the reset is raised where an end of stream was
    before, as a crashed peer's and a finished one's are not the same."""
    client, server = tcp_pair
    server.socket.sendall(b"partial body")
    _reset(server.socket)
    _wait_for_socket_error(client.socket)
    with pytest.raises(SocketStatusError):
        await client.send_all(b"x")
    reader = DataReader(client.input_stream)
    reader.input_stream_options = InputStreamOptions.PARTIAL
    assert await reader.load(100) == 12
    assert reader.read_bytes(12) == b"partial body"
    with pytest.raises(SocketStatusError) as caught:
        await reader.load(100)
    assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER
    assert "the peer did not end the stream" in str(caught.value)


@pytest.mark.parametrize("met_by", ["receive", "send"])
async def test_a_socket_whose_connection_was_reset_is_freed_once_dropped(
    listener: StreamSocketListener, met_by: str
) -> None:
    """The reset a receive or a send met is remembered for the receives after it, for as
    long as the socket lives, and no longer: a server whose peers reset connections all
    day held every one of those sockets for ever."""
    client = StreamSocket()
    await client.connect(HostName("127.0.0.1"), listener.information.local_port)
    async with await listener.accept() as server:
        _reset(server.socket)
        if met_by == "send":
            _wait_for_socket_error(client.socket)
            with pytest.raises(SocketStatusError):
                await client.send_all(b"x")
        else:
            with pytest.raises(SocketStatusError):
                await client.receive_some()
    with pytest.raises(SocketStatusError, match="the peer did not end the stream"):
        await client.receive_some()  # the reset is still known while the socket lives
    dropped = weakref.ref(client.socket)
    await client.aclose()
    del client
    gc.collect()
    assert dropped() is None


async def test_the_peers_end_of_stream_stays_clean_after_a_send_it_refused(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """The peer ended its stream, then closed: what this side sends after that is
    refused with a reset (a broken pipe to the next send). The stream the peer sent was
    complete, and still ends cleanly."""
    client, server = tcp_pair
    server.socket.sendall(b"whole answer")
    server.socket.close()
    refused: SocketStatusError | None = None
    with trio.fail_after(5):
        while refused is None:  # the first send is taken; the peer's reset fails a later one
            try:
                await client.send_all(b"more")
            except SocketStatusError as exc:
                refused = exc
            await trio.sleep(0.01)
    assert refused.errno == errno.EPIPE
    assert await receive_all(client) == b"whole answer"
    assert await client.receive_some() == b""


async def test_write_failure_surfaces_on_flush(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    _reset(server.socket)
    await trio.sleep(0.05)  # let the RST arrive
    operation = client.output_stream.write(b"into the void")
    with pytest.raises(SocketStatusError) as caught:
        await client.output_stream.flush()
    assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER
    assert operation.done
    with pytest.raises(SocketStatusError):
        await operation
    # The stream is broken for good: later writes say so at once.
    with pytest.raises(trio.BrokenResourceError, match="broken by an earlier failure"):
        client.output_stream.write(b"more")


async def test_unawaited_write_failure_surfaces_on_aclose(listener: StreamSocketListener) -> None:
    async def write_and_look_away() -> None:
        async with StreamSocket() as client:
            await client.connect(LOCALHOST, listener.information.local_port)
            server = await listener.accept()
            _reset(server.socket)
            server._close_now()
            await trio.sleep(0.05)
            client.output_stream.write(b"lost?")
            await trio.sleep(0.05)  # the background writer fails; nobody looks

    with pytest.raises(SocketStatusError) as caught:
        await write_and_look_away()
    assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER


async def test_unawaited_write_failure_surfaces_on_next_write(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    _reset(server.socket)
    await trio.sleep(0.05)
    client.output_stream.write(b"first")
    await trio.sleep(0.05)
    with pytest.raises(SocketStatusError, match="send on") as caught:
        client.output_stream.write(b"second")
    assert caught.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER


async def test_a_held_write_that_broke_the_stream_is_not_raised_by_the_next_write(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """A write whose operation the caller holds fails (a reset, met by ``write()``'s own
    send): the stream is broken, so the next write fails too -- with the error that says
    so, naming the failure that broke it, not with the held write's own failure, which
    is that operation's to raise. Before, the next write raised the held write's
    exception object itself, as though it had failed that way."""
    client, server = tcp_pair
    _reset(server.socket)
    _wait_for_socket_error(client.socket)
    held = client.output_stream.write(b"first")  # nothing pending: write() sends it
    assert held.done
    with pytest.raises(trio.BrokenResourceError, match="broken by an earlier failure") as caught:
        client.output_stream.write(b"second")
    with pytest.raises(SocketStatusError) as own:
        await held
    assert own.value.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER
    assert caught.value is not own.value
    assert caught.value.__cause__ is own.value
    assert SocketError.get_status(caught.value) == SocketErrorStatus.CONNECTION_RESET_BY_PEER


@pytest.mark.parametrize("entered", [True, False], ids=["entered", "unentered"])
async def test_every_flush_waiting_for_writes_that_fail_raises_their_failure(
    listener: StreamSocketListener, entered: bool
) -> None:
    """API.md: ``flush()`` raises any failure among the writes it covers. Three tasks
    flush the same writes and the peer resets the connection: each flush raises
    ``CONNECTION_RESET_BY_PEER`` (one of them used to return True, the failure taken by
    another). A flush that begins once they have raised it finds nothing unseen."""
    with trio.fail_after(20):
        async with contextlib.AsyncExitStack() as blocks:
            client, server = await _connected(blocks, listener, entered=entered)
            output = client.output_stream
            for _ in range(100):
                output.write(b"x" * 100_000)  # 10 MB; the peer reads nothing
            statuses: list[SocketErrorStatus | bool] = []

            async def flush() -> None:
                try:
                    statuses.append(await output.flush())
                except OSError as error:
                    statuses.append(SocketError.get_status(error))

            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(flush)
                await trio.testing.wait_all_tasks_blocked()
                assert output.pending_bytes  # all three wait for the same writes
                _reset(server.socket)
                server._close_now()
            assert statuses == [SocketErrorStatus.CONNECTION_RESET_BY_PEER] * 3
            assert await output.flush() is True
            await client.aclose()


async def test_address_in_use(listener: StreamSocketListener) -> None:
    async with StreamSocketListener() as second:
        with pytest.raises(SocketStatusError) as caught:
            await second.bind_endpoint(LOCALHOST, listener.information.local_port)
    assert caught.value.status == SocketErrorStatus.ADDRESS_ALREADY_IN_USE
    assert SocketError.get_status(caught.value) == SocketErrorStatus.ADDRESS_ALREADY_IN_USE


@pytest.mark.parametrize("bad", ["bad host!", "", "a..b", "-leading.example", "x" * 300])
async def test_invalid_host_names_are_rejected_naming_the_value(bad: str) -> None:
    async with StreamSocket() as client:
        with pytest.raises(ValueError, match="remote_host_name") as caught:
            await client.connect(bad, "80")
    assert repr(bad)[:30] in str(caught.value)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("", "remote_service_name is empty"),
        ("0", "'0'"),
        ("65536", "'65536'"),
        ("-1", "'-1'"),
        (" 80", "' 80'"),
        ("http x", "'http x'"),
        ("ht/tp", "'ht/tp'"),
    ],
)
async def test_bad_service_strings_are_rejected_naming_the_value(bad: str, expected: str) -> None:
    async with StreamSocket() as client:
        with pytest.raises(ValueError, match=expected):
            await client.connect(LOCALHOST, bad)


async def test_service_must_be_a_string() -> None:
    async with StreamSocket() as client:
        with pytest.raises(TypeError, match="1337"):
            await client.connect(LOCALHOST, 1337)  # type: ignore[call-overload]


async def test_unknown_service_name_is_class_type_not_found() -> None:
    async with StreamSocket() as client:
        with pytest.raises(SocketStatusError) as caught:
            await client.connect(LOCALHOST, "no-such-service-here")
    assert caught.value.status == SocketErrorStatus.CLASS_TYPE_NOT_FOUND
    assert "no-such-service-here" in str(caught.value)


async def test_services_database_names_resolve_to_their_port() -> None:
    async with StreamSocket() as client:
        # Nothing listens on port 7 here: the refusal shows the name became port 7.
        with pytest.raises(SocketStatusError) as caught:
            await client.connect(LOCALHOST, "echo")
    assert caught.value.status == SocketErrorStatus.CONNECTION_REFUSED
    assert "127.0.0.1:7" in str(caught.value)


# -- misuse ----------------------------------------------------------------------------


async def test_output_stream_before_connect_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not connected"):
        StreamSocket().output_stream.write(b"x")


async def test_receive_before_connect_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not connected"):
        await StreamSocket().receive_some()


async def test_connect_twice_is_misuse(tcp_pair: tuple[StreamSocket, StreamSocket]) -> None:
    client, _ = tcp_pair
    with pytest.raises(RuntimeError, match="already connected"):
        await client.connect(LOCALHOST, "80")


async def test_use_after_close_raises_closed(listener: StreamSocketListener) -> None:
    async with StreamSocket() as client:
        await client.connect(LOCALHOST, listener.information.local_port)
        (await listener.accept())._close_now()
        await client.aclose()
        await client.aclose()  # idempotent
        with pytest.raises(trio.ClosedResourceError):
            await client.send_all(b"x")
        with pytest.raises(trio.ClosedResourceError):
            await client.receive_some()
        with pytest.raises(trio.ClosedResourceError):
            client.output_stream.write(b"x")
        with pytest.raises(trio.ClosedResourceError):
            await client.connect(LOCALHOST, "80")


async def test_reading_a_closed_socket_says_so_after_reads_went_to_its_receiver(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    input_stream = server.input_stream
    await client.send_all(b"first, then more")
    assert await input_stream.read(5, InputStreamOptions.PARTIAL) == b"first"
    await server.aclose()
    # What was read ahead went with the socket; the stream says which socket closed.
    assert input_stream.lend_read_ahead(bytes) == b""
    with pytest.raises(trio.ClosedResourceError, match=r"input_stream\.read\(\): StreamSocket"):
        await input_stream.read(5, InputStreamOptions.PARTIAL)


async def test_a_socket_is_entered_once() -> None:
    sock = StreamSocket()
    async with sock:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with sock:
            pass


@pytest.mark.parametrize(
    "kind",
    [StreamSocket, StreamSocketListener, DatagramSocket, MessageWebSocket, StreamWebSocket],
)
async def test_a_socket_closed_before_it_was_entered_cannot_be_entered(kind: type) -> None:
    sock = kind()
    await sock.aclose()
    with pytest.raises(RuntimeError, match="a closed socket cannot be entered"):
        async with sock:
            pass  # pragma: no cover


async def test_sockets_cannot_be_copied_or_pickled(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """A copy would share the connection (and its tasks) with the original."""
    client, _ = tcp_pair
    async with DatagramSocket() as datagram, StreamSocketListener() as listener:
        for sock in (client, StreamSocket(), datagram, listener, MessageWebSocket()):
            for duplicate in (copy.copy, copy.deepcopy, pickle.dumps):
                with pytest.raises(TypeError, match="cannot be copied or pickled"):
                    duplicate(sock)


async def test_controls_cannot_be_copied_or_pickled(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """A control is a view of its socket: a "copy" changed the same socket, and the
    original then reported stale settings."""
    client, _ = tcp_pair
    async with DatagramSocket() as datagram, StreamSocketListener() as listener:
        controls: list[object] = [client.control, StreamSocket().control, datagram.control]
        controls += [listener.control, MessageWebSocket().control, StreamWebSocket().control]
        for control in controls:
            for duplicate in (copy.copy, copy.deepcopy, pickle.dumps):
                with pytest.raises(TypeError, match="cannot be copied or pickled: it belongs"):
                    duplicate(control)
    assert client.control.no_delay


async def test_concurrent_connects_are_refused(unanswered_port: int) -> None:
    async with StreamSocket() as client, trio.open_nursery() as nursery:
        nursery.start_soon(client.connect, LOCALHOST, str(unanswered_port))
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await client.connect(LOCALHOST, str(unanswered_port))
        nursery.cancel_scope.cancel()


async def test_windows_only_members_say_so() -> None:
    sock = StreamSocket()
    with pytest.raises(WindowsOnlyError, match="socket broker"):
        sock.transfer_ownership("id")
    with pytest.raises(WindowsOnlyError, match="socket broker"):
        sock.enable_transfer_ownership("task")
    assert isinstance(WindowsOnlyError("x", "y"), NotImplementedError)


# -- cancel_io ---------------------------------------------------------------------------


async def test_cancel_io_aborts_a_pending_receive_and_the_socket_stays_usable(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, server = tcp_pair
    errors = await cancel_io_during(client, client.receive_some)
    assert [SocketError.get_status(e) for e in errors] == [SocketErrorStatus.OPERATION_ABORTED]
    await server.send_all(b"still here")
    assert await receive_exactly(client, 10) == b"still here"


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_cancel_io_does_not_wait_for_a_receive_that_began_after_it(
    tcp_pair: tuple[StreamSocket, StreamSocket], tls_certificates: TlsCertificates, tls: bool
) -> None:
    """``cancel_io()`` returns once the receives it aborted have ended. A reader loop
    that receives again at once starts one it did not abort, which stays pending; it
    waited for that one too, for ever while the peer sent nothing."""
    pair = open_tls_pair(tls_certificates) if tls else contextlib.nullcontext(tcp_pair)
    async with pair as (client, server):
        statuses: list[SocketErrorStatus] = []
        received: list[bytes] = []

        async def reader() -> None:
            try:
                await client.receive_some()
            except OSError as exc:
                statuses.append(SocketError.get_status(exc))
            received.append(await client.receive_some())  # again, at once

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            with trio.fail_after(5):
                await client.cancel_io()
            assert statuses == [SocketErrorStatus.OPERATION_ABORTED]
            await server.send_all(b"still reading")
        assert received == [b"still reading"]


def _fill_send_buffer(sock: StreamSocket) -> None:
    with contextlib.suppress(BlockingIOError):
        for _ in range(10_000):
            sock.socket.send(b"f" * 65536)


@pytest.mark.parametrize("how", ["send_all", "awaited write"])
async def test_cancel_io_does_not_wait_for_a_send_that_began_after_it(
    tcp_pair: tuple[StreamSocket, StreamSocket], how: str
) -> None:
    """As with receives: a writer loop that sends again once its send was aborted, to a
    peer that reads nothing yet, starts a send ``cancel_io()`` did not abort, which it
    waited for until the peer read."""
    client, server = tcp_pair
    _fill_send_buffer(client)
    payload = b"x" * 4_000_000
    outcomes: list[str] = []

    async def writer() -> None:
        for _ in range(2):
            try:
                if how == "send_all":
                    await client.send_all(payload)
                else:
                    await client.output_stream.write(payload)
            except SocketStatusError as exc:
                outcomes.append(exc.status.name)
            else:
                outcomes.append("sent")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(5):
            await client.cancel_io()
        await trio.testing.wait_all_tasks_blocked()
        assert outcomes == ["OPERATION_ABORTED"]  # the second send waits for the peer
        nursery.start_soon(receive_all, server)
        with trio.fail_after(10):
            await wait_until(lambda: len(outcomes) == 2)
        await client.send_eof()
    assert outcomes == ["OPERATION_ABORTED", "sent"]


async def test_cancel_io_ends_a_receive_and_a_blocked_write_as_aborted(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """``cancel_io()`` wakes a waiting receive through the socket itself, which wakes
    every wait on it: the receive and the write waiting for room fail as aborted, not
    as closed, and the socket goes on."""
    client, server = tcp_pair
    _fill_send_buffer(client)
    errors: dict[str, BaseException] = {}

    async def fails(name: str, operation: Callable[[], Awaitable[object]]) -> None:
        try:
            await operation()
        except OSError as error:
            errors[name] = error

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fails, "receive", client.receive_some)
        nursery.start_soon(fails, "write", lambda: client.output_stream.write(b"w"))
        await trio.testing.wait_all_tasks_blocked()
        await client.cancel_io()
    assert sorted(errors) == ["receive", "write"]
    for error in errors.values():
        assert SocketError.get_status(error) == SocketErrorStatus.OPERATION_ABORTED
        assert not isinstance(error, trio.ClosedResourceError)
    await server.send_all(b"still here")
    assert await receive_exactly(client, 10) == b"still here"


async def test_cancel_io_ends_a_receive_but_not_a_wait_for_room(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """``wait_send_all_might_not_block`` is not an operation ``cancel_io()`` aborts: woken
    with the receive, it goes on waiting until there is room."""
    client, server = tcp_pair
    _fill_send_buffer(client)
    room = trio.Event()

    async def wait_for_room() -> None:
        await client.wait_send_all_might_not_block()
        room.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_room)
        errors = await cancel_io_during(client, client.receive_some)
        assert [SocketError.get_status(e) for e in errors] == [SocketErrorStatus.OPERATION_ABORTED]
        await trio.testing.wait_all_tasks_blocked()
        assert not room.is_set()
        with trio.fail_after(5):
            while not room.is_set():
                await server.receive_some(1 << 20)


@pytest.mark.parametrize("how", ["unawaited write", "awaited write", "flush"])
async def test_writes_take_turns_with_a_wait_for_room_in_another_task(
    tcp_pair: tuple[StreamSocket, StreamSocket], how: str
) -> None:
    """trio's back-pressure idiom -- a task waits in ``wait_send_all_might_not_block``
    on a full send buffer -- while another task writes (a heartbeat, a log line): the
    write's sender waits for room in turn with it, and both go on once the peer reads.
    Before, the second wait on the fd met trio's bare ``BusyResourceError``: out of the
    socket's block from the background writer, or from the awaited write or flush."""
    client, server = tcp_pair
    _fill_send_buffer(client)
    payload = b"w" * 100_000
    room = trio.Event()

    async def wait_for_room() -> None:
        await client.wait_send_all_might_not_block()
        room.set()

    async def write() -> None:
        operation = client.output_stream.write(payload)
        if how == "awaited write":
            assert await operation == len(payload)
        elif how == "flush":
            assert await client.output_stream.flush()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_room)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(write)
            await trio.testing.wait_all_tasks_blocked()
            assert client.output_stream.pending_bytes  # the kernel took none of it
            assert not room.is_set()
            received = bytearray()
            while not received.endswith(payload):
                received += await server.receive_some(1 << 20)
        await client.output_stream.flush()
    assert room.is_set()
    assert received.count(b"w") == len(payload)
    assert client.output_stream.pending_bytes == 0


async def test_a_receive_sends_unattended_writes_in_turn_with_a_wait_for_room(
    listener: StreamSocketListener,
) -> None:
    """On a socket not entered (a ``trio.serve_listeners`` handler's), the rest of an
    unawaited write is sent by the task waiting to receive, in turn with a task in
    ``wait_send_all_might_not_block``. Before, trio's ``BusyResourceError`` came out of
    ``receive_some`` in an ``ExceptionGroup``."""
    payload = b"w" * 100_000
    async with StreamSocket() as client:
        await client.connect(LOCALHOST, listener.information.local_port)
        server = await listener.accept()
        try:
            _fill_send_buffer(server)
            received = bytearray()

            async def read_then_reply() -> None:
                await trio.testing.wait_all_tasks_blocked()  # the receive is sending
                while not received.endswith(payload):
                    received.extend(await client.receive_some(1 << 20))
                await client.send_all(b"reply")

            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(server.wait_send_all_might_not_block)
                    await trio.testing.wait_all_tasks_blocked()
                    server.output_stream.write(payload)  # the kernel takes none of it
                    assert server.output_stream.pending_bytes == len(payload)
                    nursery.start_soon(read_then_reply)
                    assert await server.receive_some() == b"reply"
            assert received.count(b"w") == len(payload)
            assert server.output_stream.pending_bytes == 0
        finally:
            await trio.aclose_forcefully(server)


async def test_a_cancelled_receive_that_was_sending_raises_cancelled_alone(
    listener: StreamSocketListener,
) -> None:
    """A receive on a socket not entered sends the unawaited writes meanwhile; cancelled,
    it raises trio's ``Cancelled`` as any receive does. Before, the sending's own
    ``Cancelled`` came with it in a ``BaseExceptionGroup``, which an ``except
    trio.Cancelled`` (or any handler between the receive and the cancel scope) missed."""
    async with StreamSocket() as client:
        await client.connect(LOCALHOST, listener.information.local_port)
        server = await listener.accept()
        try:
            _fill_send_buffer(server)
            server.output_stream.write(b"w" * 100_000)  # waits for a task that sends
            raised: list[BaseException] = []
            with trio.fail_after(5), trio.move_on_after(0.1) as scope:
                try:
                    await server.receive_some()
                except BaseException as exc:
                    raised.append(exc)
                    raise
            assert scope.cancelled_caught
            assert [type(exc) for exc in raised] == [trio.Cancelled]
            assert server.output_stream.pending_bytes  # the rest waits for the next sender
        finally:
            await trio.aclose_forcefully(server)


async def test_a_writer_woken_through_its_open_socket_sends_on(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """The background writer waiting for room, woken by a wake-up through the socket
    meant for another operation (as ``cancel_io()`` ends a receive), waits again: its
    writes are not failed as if the socket had closed."""
    client, server = tcp_pair
    _fill_send_buffer(client)
    operation = client.output_stream.write(b"after the flood")
    await trio.testing.wait_all_tasks_blocked()  # the writer waits for room
    assert not operation.done
    trio.lowlevel.notify_closing(client.socket)
    await trio.testing.wait_all_tasks_blocked()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.output_stream.flush)
            received = bytearray()
            while not received.endswith(b"after the flood"):
                received += await server.receive_some(1 << 20)
    assert await operation == len(b"after the flood")


async def test_cancel_io_aborts_pending_writes(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    client, _server = tcp_pair
    stream = client.output_stream
    # Nobody reads on the server side: fill the kernel buffers.
    while True:
        operation = stream.write(b"z" * 65536)
        await trio.sleep(0.01)
        if not operation.done:
            break
    queued = [stream.write(b"q" * 10) for _ in range(3)]
    await client.cancel_io()
    for op in queued:
        with pytest.raises(SocketStatusError) as caught:
            await op
        assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED
    # The partly sent write failed too; flush reports it, so nothing is lost unseen.
    with pytest.raises(SocketStatusError) as caught:
        await stream.flush()
    assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED


async def test_cancel_io_aborts_a_pending_connect(unanswered_port: int) -> None:
    async with StreamSocket() as client:
        errors = await cancel_io_during(
            client, lambda: client.connect(LOCALHOST, str(unanswered_port))
        )
        assert [SocketError.get_status(e) for e in errors] == [SocketErrorStatus.OPERATION_ABORTED]


@pytest.mark.parametrize("stage", ["name resolution", "connection attempt"])
@pytest.mark.parametrize("leave_block", [False, True], ids=["aclose", "end of block"])
async def test_closing_aborts_a_pending_connect(
    unanswered_port: int, stage: str, leave_block: bool
) -> None:
    """The connect has no timeout of its own, and waits on a name server that never
    answers or on a SYN that is never answered: only the close can end it, at once, and
    what it had opened is closed by the time the close returns."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent_name_server:
        silent_name_server.bind(("127.0.0.1", 0))
        silent_name_server.settimeout(5)
        if stage == "name resolution":
            port = silent_name_server.getsockname()[1]
            client = StreamSocket(resolver=Resolver(["127.0.0.1"], port, timeout=60, attempts=1))
            remote = HostName("silent.test")
        else:
            client = StreamSocket()
            remote = LOCALHOST
        fds = open_fd_count()
        start = trio.current_time()
        with trio.fail_after(5):
            errors, fds_after = await close_during(
                client,
                lambda: client.connect(remote, str(unanswered_port)),
                leave_block=leave_block,
            )
        assert trio.current_time() - start < 1
        assert fds_after == fds
        assert [SocketError.get_status(e) for e in errors] == [SocketErrorStatus.OPERATION_ABORTED]
        assert isinstance(errors[0], SocketStatusError)
        assert isinstance(errors[0], trio.ClosedResourceError)
        assert "the socket was closed" in str(errors[0])
        with pytest.raises(trio.ClosedResourceError):
            await client.connect(LOCALHOST, str(unanswered_port))
        if stage == "name resolution":
            assert silent_name_server.recv(512), "the lookup never asked"


# -- lifetimes ---------------------------------------------------------------------------


async def test_no_fd_or_task_leak_over_100_lifecycles() -> None:
    async def lifecycle() -> None:
        async with StreamSocketListener() as listener:
            await listener.bind_endpoint(LOCALHOST, "0")
            async with StreamSocket() as client:
                await client.connect(LOCALHOST, listener.information.local_port)
                args = await listener.connection_received.receive()
                async with args.socket as server:
                    for _ in range(10):
                        client.output_stream.write(b"ping")
                    await client.output_stream.flush()
                    assert await receive_exactly(server, 40) == b"ping" * 10
                    await server.send_all(b"pong")
                    assert await receive_exactly(client, 4) == b"pong"

    await lifecycle()  # warm up lazily created resources (resolver threads, …)
    fds, tasks = open_fd_count(), len(live_tasks())
    for _ in range(100):
        await lifecycle()
    assert open_fd_count() == fds
    assert len(live_tasks()) == tasks


async def test_leaving_the_block_flushes_pending_writes(listener: StreamSocketListener) -> None:
    async with StreamSocket() as client:
        await client.connect(LOCALHOST, listener.information.local_port)
        server = await listener.accept()
        for index in range(1000):
            client.output_stream.write(b"%04d" % index)
    async with server:
        assert await receive_all(server) == b"".join(b"%04d" % i for i in range(1000))


async def test_an_exception_in_the_block_propagates_unwrapped(
    listener: StreamSocketListener,
) -> None:
    client = StreamSocket()

    async def fail_inside() -> None:
        async with client:
            await client.connect(LOCALHOST, listener.information.local_port)
            raise KeyError("mine")

    with pytest.raises(KeyError):
        await fail_inside()
    with pytest.raises(trio.ClosedResourceError):
        await client.receive_some()
    (await listener.accept())._close_now()


async def test_a_single_address_is_connected_without_starting_tasks(
    listener: StreamSocketListener,
) -> None:
    """Happy eyeballs needs a task per address; one address needs none."""

    class Spawns(trio.abc.Instrument):
        count = 0

        def task_spawned(self, task: trio.lowlevel.Task) -> None:
            Spawns.count += 1

    async with StreamSocket() as sock:
        spawns = Spawns()
        trio.lowlevel.add_instrument(spawns)
        try:
            await sock.connect(HostName("127.0.0.1"), listener.information.local_port)
        finally:
            trio.lowlevel.remove_instrument(spawns)
        assert Spawns.count == 0


@pytest.mark.parametrize(
    ("local", "remote"), [("127.0.0.1", "::1"), ("::1", "127.0.0.1")], ids=["v4-to-v6", "v6-to-v4"]
)
async def test_an_endpoint_pair_of_two_families_fails_at_connect(local: str, remote: str) -> None:
    with trio.fail_after(10):
        async with StreamSocket() as client:
            with pytest.raises(SocketStatusError) as caught:
                await client.connect(EndpointPair(HostName(local), "0", HostName(remote), "9"))
            assert caught.value.status == SocketErrorStatus.ADDRESS_FAMILY_NOT_SUPPORTED
            assert f"local host {local}" in str(caught.value)
            assert remote in str(caught.value)


async def test_an_endpoint_pair_from_the_ipv6_wildcard_reaches_ipv4(
    listener: StreamSocketListener,
) -> None:
    """``::`` is every address of both families, as a datagram socket and a listener
    take it (WinRT's dual-mode wildcard), not an IPv6-only local side."""
    for local_port in ("", str(free_tcp_port("127.0.0.1"))):
        pair = EndpointPair(HostName("::"), local_port, LOCALHOST, listener.information.local_port)
        with trio.fail_after(10):
            async with StreamSocket() as client:
                await client.connect(pair)
                assert client.information.local_address == LOCALHOST
                if local_port:
                    assert client.information.local_port == local_port
                (await listener.accept())._close_now()


async def test_read_refuses_unknown_option_bits(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """``input_stream.read`` refuses flag bits ``InputStreamOptions`` does not define, as
    ``DataReader.input_stream_options`` does, naming them; no byte is taken."""
    client, server = tcp_pair
    await server.send_all(b"ab")
    with pytest.raises(ValueError, match="options 0x5 has unknown flag bits 0x4"):
        await client.input_stream.read(2, InputStreamOptions(5))
    with pytest.raises(TypeError, match="options must be an InputStreamOptions"):
        await client.input_stream.read(2, 1)  # type: ignore[arg-type]
    assert await client.input_stream.read(2, InputStreamOptions.PARTIAL) == b"ab"


@pytest.mark.parametrize("how", ["exception", "cancellation"])
async def test_a_write_failure_nobody_saw_is_not_lost_when_the_block_ends_early(
    listener: StreamSocketListener, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Leaving the block with an exception closes at once, without raising what failed
    before: the failure goes with the exception as a note, or, for a cancellation
    (which its scope absorbs), to the log."""
    caplog.set_level(logging.INFO, "trio_sockets")
    client = StreamSocket()
    leaving: list[BaseException] = []
    with trio.CancelScope() as scope:
        try:
            async with client:
                await client.connect("127.0.0.1", listener.information.local_port)
                async with await listener.accept() as server:
                    _reset(server.socket)
                    _wait_for_socket_error(client.socket)
                    client.output_stream.write(b"lost?")  # sent at once: it fails
                    if how == "exception":
                        raise KeyError("the application's own error")
                    scope.cancel()
                    await trio.sleep(5)
        except KeyError as exc:
            leaving.append(exc)
    note = "a write nobody awaited had failed: "
    if how == "exception":
        (notes,) = [exc.__notes__ for exc in leaving]
        assert len(notes) == 1
        assert note in notes[0]
        assert "CONNECTION_RESET_BY_PEER" in notes[0]
    else:
        assert scope.cancelled_caught
        assert note in caplog.text
        assert "CONNECTION_RESET_BY_PEER" in caplog.text


@pytest.mark.parametrize("how", ["exception", "cancellation"])
async def test_leaving_the_block_with_writes_unsent_resets_the_connection(
    listener: StreamSocketListener, how: str
) -> None:
    """Leaving ``async with`` by an exception or a cancellation closes at once and drops
    the writes not yet sent; the peer must not take the cut stream for a complete one:
    the connection is reset (as WinRT does), so its read fails instead of ending."""
    with trio.fail_after(20):
        server = None
        with trio.CancelScope() as scope, contextlib.suppress(KeyError):
            async with StreamSocket() as client:
                await client.connect(LOCALHOST, listener.information.local_port)
                server = await listener.accept()
                client.output_stream.write(b"x" * 20_000_000)  # more than the kernel takes
                if how == "exception":
                    raise KeyError("the application fails")
                scope.cancel()
                await trio.sleep_forever()
        assert server is not None
        async with server:
            status = await _read_to_the_end(server)
        assert status == SocketErrorStatus.CONNECTION_RESET_BY_PEER


async def _read_to_the_end(sock: StreamSocket) -> SocketErrorStatus | None:
    """Read until the stream ends (None) or fails (the failure's status)."""
    try:
        while await sock.receive_some():
            pass
    except OSError as error:
        return SocketError.get_status(error)
    return None


@pytest.mark.parametrize("how", ["send_all", "awaited write"])
async def test_cancel_io_mid_send_breaks_the_stream_and_the_close_resets(
    listener: StreamSocketListener, how: str
) -> None:
    """``cancel_io()`` during a send the kernel took part of tears it: later writes fail
    (they must not follow the torn part), and closing resets the connection, so that the
    peer does not take the cut stream for a complete one."""
    with trio.fail_after(20):
        async with StreamSocket() as client:
            await client.connect(LOCALHOST, listener.information.local_port)
            server = await listener.accept()
            big = b"A" * 40_000_000  # more than the kernel buffers take

            async def send() -> None:
                sending = client.send_all(big) if how == "send_all" else _awaited(client, big)
                with pytest.raises(OSError, match="cancel_io"):
                    await sending

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                await trio.testing.wait_all_tasks_blocked()
                await client.cancel_io()
            with pytest.raises(trio.BrokenResourceError):
                await client.output_stream.write(b"<next message>")
        async with server:
            status = await _read_to_the_end(server)
        assert status == SocketErrorStatus.CONNECTION_RESET_BY_PEER


async def _awaited(sock: StreamSocket, data: bytes) -> None:
    await sock.output_stream.write(data)


async def test_a_clients_connections_share_their_local_host_string() -> None:
    """Connections from one local address keep one string of it, not one each (a
    client with thousands of connections); the accepted side shares its whole local
    address."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = listener.information.local_port
        clients = [StreamSocket() for _ in range(3)]
        try:
            for client in clients:
                await client.connect("127.0.0.1", port)
            locals_ = [client._connection.local for client in clients]
            assert all(local is not None for local in locals_)
            assert len({id(local[0]) for local in locals_ if local is not None}) == 1
            assert len({local[1] for local in locals_ if local is not None}) == 3
            assert [client.information.local_address for client in clients] == [
                HostName("127.0.0.1")
            ] * 3
            accepted = [await listener.accept() for _ in clients]
            assert len({id(sock._connection.local) for sock in accepted}) == 1
            for sock in accepted:
                await sock.aclose()
        finally:
            for client in clients:
                await client.aclose()
