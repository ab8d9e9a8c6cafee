"""DatagramSocket on real loopback sockets: the seed flow, filtering, streams, errors."""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import os
import re
import socket
import struct
import subprocess
import sys
import textwrap
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio
import trio.testing
from conftest import (
    assert_load_says_it_holds_the_whole,
    cancel_io_during,
    live_tasks,
    open_fd_count,
    process_status_kib,
    require_tool,
    wait_until,
)
from netns import inside, ip, limit_rate, network_namespace

from trio_sockets import (
    DatagramSocket,
    DatagramSocketMessageReceivedEventArgs,
    DataReader,
    EndpointPair,
    HostName,
    InputStreamOptions,
    NoStreamError,
    Resolver,
    SocketError,
    SocketErrorStatus,
    SocketQualityOfService,
    SocketStatusError,
    WindowsOnlyError,
)
from trio_sockets._io.datagram_output import (
    _LOOKS_PER_ADD,
    STREAM_CACHE_SIZE,
    DatagramOutputStream,
)
from trio_sockets._io.datagram_read import ICMP_ERRNOS
from trio_sockets._io.udp_gso import MAX_SEGMENTS, SEGMENT_CAP
from trio_sockets._pytest_plugin import DnsServerFactory

LOCALHOST = HostName("127.0.0.1")
ROOT = Path(__file__).resolve().parent.parent
Args = DatagramSocketMessageReceivedEventArgs


@contextlib.contextmanager
def raw_udp(host: str = "127.0.0.1", port: int = 0) -> Iterator[socket.socket]:
    """A plain blocking UDP socket bound to *host* (a peer the library does not own)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        sock.settimeout(5)
        yield sock


def free_udp_port(host: str = "127.0.0.1") -> int:
    with raw_udp(host) as probe:
        port: int = probe.getsockname()[1]
        return port


async def receive(sock: DatagramSocket, limit: float = 5) -> Args:
    with trio.fail_after(limit):
        return await sock.message_received.receive()


async def receive_data(sock: DatagramSocket) -> bytes:
    return (await receive(sock)).data


async def assert_nothing_arrives(sock: DatagramSocket, wait: float = 0.2) -> None:
    with trio.move_on_after(wait):
        args = await sock.message_received.receive()
        pytest.fail(f"unexpected datagram {args!r}: {args.data!r}")


async def bound(sock: DatagramSocket, host: str = "127.0.0.1") -> int:
    await sock.bind_endpoint(host, "0")
    return int(sock.information.local_port)


# -- the seed flow -----------------------------------------------------------------------


async def test_seed_udp_echo_flow() -> None:
    with trio.fail_after(10):
        async with DatagramSocket() as server, DatagramSocket() as client:
            await server.bind_service_name("0")
            await client.bind_service_name("0")
            server_port = server.information.local_port
            client_port = client.information.local_port
            # The request leaves through a separate socket's output stream.
            async with DatagramSocket() as sender:
                stream = await sender.get_output_stream(HostName("localhost"), server_port)
                await stream.write(b"Hello, World!\n")
                await stream.flush()
            args = await receive(server)
            reader = args.get_data_reader()
            request = reader.read_string(reader.unconsumed_buffer_length).strip()
            assert request == "Hello, World!"
            # localhost is ::1 first (RFC 6761), over the dual-stack sockets.
            assert args.remote_address == HostName("::1")
            assert args.local_address == HostName("::1")
            # The server answers the sender's address, at the client's port.
            assert args.remote_address is not None
            reply = await server.get_output_stream(args.remote_address, client_port)
            await reply.write(f"{request}\n".encode())
            response = await receive(client)
            reader = response.get_data_reader()
            assert reader.read_string(reader.unconsumed_buffer_length).strip() == request
            assert response.remote_port == server_port


async def test_udp_echo_example_runs_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from trio_sockets.examples import udp_echo

    with trio.fail_after(10):
        assert await udp_echo.main("0", "0") == "Hello, World!"
    out = capsys.readouterr().out
    for line in (
        "server is about to bind...",
        'server received the request: "Hello, World!"',
        "server closed its socket",
        "client is about to bind...",
        'client received the response: "Hello, World!"',
        "client closed its socket",
    ):
        assert line in out


def test_udp_echo_script_and_demo_run_standalone() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "udp_echo.py"),
            "--server-service",
            "0",
            "--client-service",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert 'client received the response: "Hello, World!"' in result.stdout
    demo = subprocess.run(
        [sys.executable, "-m", "trio_sockets", "demo", "--service", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "== UDP echo (DatagramSocket) ==" in demo.stdout
    assert "client closed its socket" in demo.stdout.split("== UDP echo")[1]


# -- receiving ---------------------------------------------------------------------------


async def test_a_bound_socket_receives_from_any_remote() -> None:
    with trio.fail_after(10):
        async with DatagramSocket() as sock:
            port = await bound(sock)
            for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
                with raw_udp(host) as peer:
                    peer.sendto(host.encode(), ("127.0.0.1", port))
                    args = await receive(sock)
                    assert args.data == host.encode()
                    assert args.remote_address == HostName(host)
                    assert args.remote_port == str(peer.getsockname()[1])
                    assert args.local_address == LOCALHOST
            info = sock.information
            assert info.received_message_count == 3
            assert info.dropped_message_count == 0


async def test_bind_service_name_with_an_adapter_binds_that_address() -> None:
    with trio.fail_after(10):
        async with DatagramSocket() as sock:
            await sock.bind_service_name("0", adapter="127.0.0.2")
            assert sock.information.local_address == HostName("127.0.0.2")
            with raw_udp() as peer:
                peer.sendto(b"to .2", ("127.0.0.2", int(sock.information.local_port)))
                args = await receive(sock)
            assert args.local_address == HostName("127.0.0.2")
        async with DatagramSocket() as sock:
            await sock.bind_service_name("0")
            assert sock.information.local_address == HostName("::")


async def test_connect_hears_only_the_remote_even_what_arrived_before() -> None:
    with trio.fail_after(20):
        for _ in range(10):  # the early datagrams race the connect: try it both ways
            async with DatagramSocket() as sock:
                port = await bound(sock)
                with raw_udp("127.0.0.1") as peer, raw_udp("127.0.0.2") as third:
                    target = ("127.0.0.1", port)
                    third.sendto(b"third-early", target)
                    peer.sendto(b"peer-early", target)
                    # Taken into the channel before the connect...
                    await wait_until(
                        lambda: sock.information.received_message_count == 2, interval=0.001
                    )
                    # ...or still queued in the kernel when it happens.
                    third.sendto(b"third-queued", target)
                    await sock.connect(LOCALHOST, str(peer.getsockname()[1]))
                    third.sendto(b"third-late", target)
                    # The same address on another port is another remote, too.
                    with raw_udp("127.0.0.1") as other_port:
                        other_port.sendto(b"other-port", target)
                    peer.sendto(b"peer-late", target)
                    assert await receive_data(sock) == b"peer-early"
                    assert await receive_data(sock) == b"peer-late"
                    await assert_nothing_arrives(sock, 0.05)
                    info = sock.information
                    assert info.remote_address == LOCALHOST
                    assert info.remote_port == str(peer.getsockname()[1])
                    # What the connect filtered out counts nowhere, held or not when it
                    # happened: received == delivered + held + dropped.
                    assert info.received_message_count == 2
                    assert info.dropped_message_count == 0


async def test_connect_filters_the_datagram_that_waits_for_room_in_a_full_queue_too() -> None:
    """The queue full, the background task holds one more datagram while it waits for
    room; the connect that takes the other senders' out of the queue makes room, and
    that one was then delivered unfiltered, after the connect returned."""
    with trio.fail_after(20), raw_udp() as remote, raw_udp() as other:
        async with DatagramSocket(message_queue_size=4) as sock:
            port = await bound(sock)
            for index in range(5):  # nobody receives: 4 fill the queue, the 5th waits
                other.sendto(b"other %d" % index, ("127.0.0.1", port))
            statistics = sock.message_received.statistics
            await wait_until(lambda: statistics().tasks_waiting_send == 1, interval=0.001)
            await sock.connect(LOCALHOST, str(remote.getsockname()[1]))
            remote.sendto(b"remote", ("127.0.0.1", port))
            assert await receive_data(sock) == b"remote"
            await assert_nothing_arrives(sock, 0.1)


async def test_get_output_stream_binds_the_socket_at_once() -> None:
    """As the WinRT mapping says: the port is known before anything is sent (a peer
    can be told where to answer), and it is the port the datagrams come from. The
    kernel bound it only at the first send, and ``local_port`` read ``""`` until then."""
    with trio.fail_after(10), raw_udp() as peer:
        async with DatagramSocket() as sock:
            stream = await sock.get_output_stream(LOCALHOST, str(peer.getsockname()[1]))
            port = sock.information.local_port
            assert port not in ("", "0")
            with pytest.raises(RuntimeError, match="already bound"):
                await sock.bind_service_name("0")
            await stream.write(b"from the bound port")
            data, sender = peer.recvfrom(100)
            assert (data, str(sender[1])) == (b"from the bound port", port)
            assert sock.information.local_port == port


async def test_get_data_reader_twice_reads_on_and_data_stream_reads_raw() -> None:
    async with DatagramSocket() as sock:
        port = await bound(sock)
        with raw_udp() as peer:
            peer.sendto(b"\x00\x05hello world", ("127.0.0.1", port))
            args = await receive(sock)
    reader = args.get_data_reader()
    assert reader.unconsumed_buffer_length == 13
    assert reader.read_uint16() == 5
    again = args.get_data_reader()
    assert again is reader
    assert again.read_string(5) == "hello"
    reader.close()
    fresh = args.get_data_reader()
    assert fresh is not reader
    assert fresh.unconsumed_buffer_length == 13
    stream = args.get_data_stream()
    assert await stream.read(2) == b"\x00\x05"
    assert await stream.read(100, InputStreamOptions.PARTIAL) == b"hello world"
    assert await stream.read(1) == b""
    # Options are checked as a socket's input stream checks them, naming the value.
    with pytest.raises(TypeError, match=r"^options must be an InputStreamOptions, not str"):
        await stream.read(1, "PARTIAL")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^options 0x9 has unknown flag bits 0x8"):
        await stream.read(1, InputStreamOptions.PARTIAL | 8)
    assert await DataReader(args.get_data_stream()).load(100) == 13
    await stream.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await stream.read(1)


def test_a_datagram_socket_holds_no_receive_buffer_of_its_own() -> None:
    """Datagrams are received into one buffer per thread: a socket per peer or per
    query costs a few KiB, not the 64 KiB any datagram could need (75 KiB of RSS each
    when every socket had its own)."""
    gc.collect()
    before = process_status_kib("VmRSS")
    sockets = [DatagramSocket() for _ in range(1000)]
    grown = process_status_kib("VmRSS") - before
    assert grown < 20 * 1024, f"1,000 sockets grew the RSS by {grown} KiB"
    del sockets


async def test_sockets_of_one_thread_and_of_two_threads_keep_their_datagrams_apart() -> None:
    """The shared receive buffer: datagrams read one after another by several sockets of
    one thread, and by sockets of two trio runs in two threads at once, each arrive
    whole and unmixed."""

    async def exchange(tag: bytes, count: int) -> list[bytes]:
        async with DatagramSocket() as first, DatagramSocket() as second:
            ports = [await bound(first), await bound(second)]
            got: list[bytes] = []
            with raw_udp() as peer:
                for index in range(count):
                    size = 1 + (index * 7919) % 65000
                    peer.sendto(tag * size, ("127.0.0.1", ports[index % 2]))
                    data = await receive_data((first, second)[index % 2])
                    got.append(data)
                    assert data == tag * size, (tag, index, len(data))
            return got

    def in_thread(tag: bytes) -> list[bytes]:
        return trio.run(exchange, tag, 200)

    assert len(await exchange(b"m", 50)) == 50
    results: dict[bytes, list[bytes]] = {}

    async def run_in_thread(tag: bytes) -> None:
        results[tag] = await trio.to_thread.run_sync(in_thread, tag)

    async with trio.open_nursery() as nursery:
        for tag in (b"a", b"b"):
            nursery.start_soon(run_in_thread, tag)
    assert sorted(len(result) for result in results.values()) == [200, 200]


async def test_a_datagram_reader_asked_to_load_says_it_holds_the_whole_datagram() -> None:
    """``LoadAsync`` code ported as is: the reader of a datagram has no stream, and the
    error says why (it holds the whole datagram) and what to do instead, not that it was
    made by ``from_buffer()``, which the caller never called."""
    async with DatagramSocket() as sock:
        port = await bound(sock)
        with raw_udp() as peer:
            peer.sendto(b"hello", ("127.0.0.1", port))
            args = await receive(sock)
    reader = args.get_data_reader()
    await assert_load_says_it_holds_the_whole(reader, "datagram")
    with pytest.raises(NoStreamError, match="whole received datagram"):
        reader.detach_stream()
    assert reader.read_string(reader.unconsumed_buffer_length) == "hello"
    # A reader the caller made with from_buffer() still says so.
    with pytest.raises(NoStreamError, match=r"made by from_buffer\(\)"):
        await DataReader.from_buffer(b"hello").load(5)


async def test_async_for_ends_when_the_socket_closes() -> None:
    received: list[bytes] = []
    with trio.fail_after(10):
        async with DatagramSocket() as sock:
            port = await bound(sock)

            async def consume() -> None:
                async for args in sock.message_received:
                    received.append(args.data)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume)
                with raw_udp() as peer:
                    peer.sendto(b"one", ("127.0.0.1", port))
                    peer.sendto(b"two", ("127.0.0.1", port))
                await wait_until(lambda: len(received) == 2, interval=0.001)
                await sock.aclose()
    assert received == [b"one", b"two"]


async def test_the_channel_exists_before_entering_and_ends_on_close() -> None:
    sock = DatagramSocket()
    assert isinstance(sock.message_received, trio.abc.ReceiveChannel)
    await sock.aclose()
    await sock.aclose()  # idempotent
    with pytest.raises(trio.EndOfChannel):
        await sock.message_received.receive()


# -- sending -----------------------------------------------------------------------------


async def test_one_socket_talks_to_many_destinations() -> None:
    with trio.fail_after(10), contextlib.ExitStack() as stack:
        peers = [stack.enter_context(raw_udp(f"127.0.0.{n}")) for n in range(1, 6)]
        async with DatagramSocket() as sock:
            port = await bound(sock)
            streams = []
            for peer in peers:
                host, peer_port = peer.getsockname()
                streams.append(await sock.get_output_stream(HostName(host), str(peer_port)))
            assert len({id(stream) for stream in streams}) == 5
            for index, stream in enumerate(streams):
                stream.write(b"to %d" % index)
            # Asking again for one remote gives the same stream: its writes stay in order.
            host, peer_port = peers[0].getsockname()
            assert await sock.get_output_stream(host, str(peer_port)) is streams[0]
            for stream in streams:
                await stream.flush()
            assert sock.information.remote_port == str(peer_port)
            for index, peer in enumerate(peers):
                data, source = peer.recvfrom(100)
                assert data == b"to %d" % index
                assert source == ("127.0.0.1", port)
                # Replies from all of them reach the one socket.
                peer.sendto(b"back %d" % index, source)
            assert sorted([await receive_data(sock) for _ in peers]) == [
                b"back %d" % n for n in range(5)
            ]


async def test_the_stream_cache_is_bounded() -> None:
    with trio.fail_after(10):
        async with DatagramSocket() as sock:
            await bound(sock)
            first = await sock.get_output_stream(LOCALHOST, "40000")
            assert await sock.get_output_stream(LOCALHOST, "40000") is first
            assert await sock.get_output_stream("127.0.0.1", "40000") is first
            for port in range(40001, 40400):
                await sock.get_output_stream(LOCALHOST, str(port))
            assert len(sock._streams.all()) <= 256
            # A forgotten stream keeps working; asking again gives a stream that works.
            await first.write(b"")
            again = await sock.get_output_stream(LOCALHOST, "40000")
            await again.write(b"")
            await first.aclose()
            assert await sock.get_output_stream(LOCALHOST, "40000") is not first


async def test_a_stream_evicted_from_the_cache_is_still_flushed_and_its_failures_raised() -> None:
    """Past 256 destinations idle streams are forgotten (and their writers end), but one
    the caller still holds and writes to is flushed when the socket closes, and its
    failure is raised there."""
    with trio.fail_after(20), raw_udp("::1") as peer, contextlib.ExitStack() as stack:
        others = [stack.enter_context(raw_udp("::1")) for _ in range(300)]
        peer_port = str(peer.getsockname()[1])

        async def write_past_the_cache() -> None:
            async with DatagramSocket() as sock:
                # Over ::1 with don't-fragment, 65,527 bytes exceed lo's MTU: EMSGSIZE.
                sock.control.dont_fragment = True
                stream = await sock.get_output_stream("::1", peer_port)
                stream.write(b"first")
                await trio.testing.wait_all_tasks_blocked()
                tasks = len(live_tasks())
                for other in others:
                    port = str(other.getsockname()[1])
                    (await sock.get_output_stream("::1", port)).write(b"hello")
                await trio.testing.wait_all_tasks_blocked()
                assert await sock.get_output_stream("::1", peer_port) is not stream
                assert len(live_tasks()) <= tasks + 256
                # The first write of a task step is sent by write() itself; the two
                # behind it stay pending until the socket closes.
                stream.write(b"second")
                stream.write(b"x" * 65527)
                stream.write(b"late")

        with pytest.raises(SocketStatusError) as caught:
            await write_past_the_cache()
        assert caught.value.status == SocketErrorStatus.MESSAGE_TOO_LONG
        assert [peer.recv(10) for _ in range(3)] == [b"first", b"second", b"late"]
        assert [other.recv(10) for other in others] == [b"hello"] * len(others)


async def test_streams_whose_writes_failed_unseen_are_forgotten_past_the_cache_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server answering 3,000 senders with unawaited writes that all fail (no route to
    them): the cache keeps 256 streams, each new destination looks at a bounded number
    of cached streams, and closing the socket raises the failure of the first stream it
    forgot, with a note counting the other forgotten ones (and one naming the failures
    of the streams still cached). In 0.1.0 a stream with an unseen failure was never
    forgotten: the cache held all 3,000, and every addition looked at every one of
    them."""
    looks = 0
    has_pending = getattr(DatagramOutputStream, "_has_pending", None)

    def counted(stream: DatagramOutputStream) -> bool:
        nonlocal looks
        looks += 1
        assert has_pending is not None
        return bool(has_pending(stream))

    monkeypatch.setattr(DatagramOutputStream, "_has_pending", counted, raising=False)
    count = 3000

    async def answer_every_sender() -> None:
        async with DatagramSocket() as sock:
            await sock.bind_service_name("0")
            for index in range(1, count + 1):
                stream = await sock.get_output_stream(f"fd01::{index:x}", "9")
                stream.write(b"x")  # fails at once: nothing routes to fd01::/16
                assert len(sock._streams.all()) <= STREAM_CACHE_SIZE, index
            assert stream.idle is False  # its failure is unseen

    with (
        network_namespace("tsdc") as name,
        inside(name),
        trio.fail_after(60),
        pytest.raises(SocketStatusError) as caught,
    ):
        await answer_every_sender()
    assert looks <= _LOOKS_PER_ADD * count, looks
    assert caught.value.status == SocketErrorStatus.NETWORK_IS_UNREACHABLE
    assert "[fd01::1]:9" in str(caught.value)
    forgotten, cached = caught.value.__notes__
    assert forgotten == (
        f"{count - STREAM_CACHE_SIZE - 1} more output streams of this socket had write "
        f"failures nobody saw when it forgot them (past {STREAM_CACHE_SIZE} "
        "destinations); this is the first of those failures"
    )
    # The streams still cached, whose failures closing the socket found: 8 named.
    assert cached.startswith(
        f"{STREAM_CACHE_SIZE} more output streams of this socket had write failures nobody "
        f"saw: send a datagram to [fd01::{count - STREAM_CACHE_SIZE + 1:x}]:9 "
    )
    assert cached.endswith(f"; and {STREAM_CACHE_SIZE - 8} more")


async def test_a_failure_awaited_after_its_stream_was_forgotten_is_not_raised_again() -> None:
    """A write fails unseen (nothing routes to 10.9.0.1), the cache forgets its stream
    past 256 destinations, and then the caller awaits the write and handles its
    failure: closing the socket raises nothing, as it does when the stream was not
    forgotten. Before, the failure the socket took over was raised a second time."""
    with network_namespace("tsdc") as name, inside(name), trio.fail_after(20):
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            stream = await sock.get_output_stream("10.9.0.1", "9")
            failed = stream.write(b"x")
            for port in range(20000, 20000 + STREAM_CACHE_SIZE + 44):
                await sock.get_output_stream("127.0.0.1", str(port))
            assert await sock.get_output_stream("10.9.0.1", "9") is not stream  # forgotten
            with pytest.raises(SocketStatusError) as caught:
                await failed
            assert caught.value.status == SocketErrorStatus.NETWORK_IS_UNREACHABLE


async def test_closing_raises_the_first_unseen_failure_noting_every_other_stream() -> None:
    """Three streams whose writes failed unseen (nothing routes to them): closing the
    socket raises the first stream's failure, with a note naming the other two
    failures, so that none is lost. Before, the other two vanished without a trace."""

    async def write_to_three() -> None:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            for host in ("10.9.0.1", "10.9.0.2", "10.9.0.3"):
                (await sock.get_output_stream(host, "9")).write(b"x")

    with (
        network_namespace("tsdc") as name,
        inside(name),
        trio.fail_after(20),
        pytest.raises(SocketStatusError) as caught,
    ):
        await write_to_three()
    error = caught.value
    assert error.status == SocketErrorStatus.NETWORK_IS_UNREACHABLE
    assert "10.9.0.1:9" in str(error)
    [note] = error.__notes__
    assert note.startswith("2 more output streams of this socket had write failures nobody saw: ")
    assert "10.9.0.2:9" in note
    assert "10.9.0.3:9" in note
    assert "NETWORK_IS_UNREACHABLE" in note


async def test_forgotten_streams_written_to_are_let_go_once_sent() -> None:
    """The caller holds 600 streams and writes to each after the cache forgot most of
    them: each is kept for closing the socket only while it has work, so the socket
    holds at most 512 streams at any time (in 0.1.0 it held every forgotten stream ever
    written to until the next new destination), and every datagram arrives."""
    count = 600
    with trio.fail_after(20), contextlib.ExitStack() as stack:
        peers = [stack.enter_context(raw_udp()) for _ in range(count)]
        async with DatagramSocket() as sock:
            await bound(sock)
            streams = [
                await sock.get_output_stream("127.0.0.1", str(peer.getsockname()[1]))
                for peer in peers
            ]
            for index, stream in enumerate(streams):
                stream.write(b"to %d" % index)
                assert len(sock._streams.all()) <= 2 * STREAM_CACHE_SIZE, index
        assert [peer.recv(10) for peer in peers] == [b"to %d" % n for n in range(count)]


async def test_a_cached_stream_with_writes_pending_is_not_forgotten() -> None:
    """Past 256 destinations the cache forgets its oldest streams, but not one with
    writes pending: asking again for its destination gives the same stream, so its
    writes stay in order. (300 destinations are added within one task step, while the
    second of two writes still waits for the stream's writer.)"""
    with trio.fail_after(10), raw_udp() as peer:
        async with DatagramSocket() as sock:
            await bound(sock)
            port = peer.getsockname()[1]
            first = await sock.get_output_stream("127.0.0.1", str(port))
            cache = sock._streams
            first.write(b"one")  # sent by write() itself
            first.write(b"two")  # waits for the writer task
            assert first.pending_bytes == 3
            for index in range(300):
                target = ("127.0.0.1", 10000 + index)
                other = DatagramOutputStream(sock.socket, lambda: None, "x", target, _Events())
                cache.add(other, None, None)
            assert cache.get(("127.0.0.1", port)) is first
            assert len(cache.all()) <= STREAM_CACHE_SIZE + 1
            assert await sock.get_output_stream("127.0.0.1", str(port)) is first
            await first.flush()
            assert [peer.recv(10) for _ in range(2)] == [b"one", b"two"]


@pytest.mark.parametrize("awaited", [False, True], ids=["unawaited", "awaited"])
async def test_the_streams_of_one_socket_take_turns_waiting_for_send_buffer_room(
    awaited: bool,
) -> None:
    """Two output streams of one socket whose sends must wait for room in its send
    buffer (``lo`` limited to 2 Mbit/s, a small ``SO_SNDBUF``), written to unawaited
    or by a task each awaiting every write: every write succeeds and every datagram
    arrives, in order per stream, and the streams take turns (each has a quarter of
    the first half of the arrivals). Before, the second stream's sender waited on the
    socket's fd while the first one did, and trio's ``BusyResourceError`` took the
    socket's block down."""
    count = 100

    def payload(tag: int, index: int) -> bytes:
        return bytes([tag]) + b"%03d" % index + b"." * (300 + index)  # no GSO run

    async def write_each(stream: DatagramOutputStream, tag: int) -> None:
        for index in range(count):
            assert await stream.write(payload(tag, index)) == 304 + index

    with network_namespace("tsdw") as name:
        limit_rate(name, "2mbit")
        with inside(name), trio.fail_after(20), raw_udp("0.0.0.0") as peer:
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            port = str(peer.getsockname()[1])
            async with DatagramSocket() as sock:
                await sock.bind_endpoint("127.0.0.1", "0")
                sock.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
                streams = {
                    tag: await sock.get_output_stream(host, port)
                    for tag, host in zip(b"ab", ["127.0.0.1", "127.0.0.2"], strict=True)
                }
                if awaited:
                    async with trio.open_nursery() as nursery:
                        for tag, stream in streams.items():
                            nursery.start_soon(write_each, stream, tag)
                else:
                    for index in range(count):
                        for tag, stream in streams.items():
                            stream.write(payload(tag, index))
                    await trio.testing.wait_all_tasks_blocked()
                    assert all(stream.pending_bytes for stream in streams.values())
            got = [peer.recv(2000) for _ in range(2 * count)]
    for tag in b"ab":
        assert [data for data in got if data[0] == tag] == [
            payload(tag, index) for index in range(count)
        ]
        assert sum(data[0] == tag for data in got[:count]) >= count // 4, got[:count]


async def test_connect_with_an_endpoint_pair_binds_its_local_side() -> None:
    with trio.fail_after(10), raw_udp() as peer:
        peer_port = str(peer.getsockname()[1])
        local_port = str(free_udp_port("127.0.0.2"))
        async with DatagramSocket() as sock:
            await sock.connect(EndpointPair("127.0.0.2", local_port, LOCALHOST, peer_port))
            assert sock.information.local_address == HostName("127.0.0.2")
            assert sock.information.local_port == local_port
            await sock.output_stream.write(b"from the pair")
            data, source = peer.recvfrom(100)
            assert (data, source) == (b"from the pair", ("127.0.0.2", int(local_port)))
            peer.sendto(b"answer", source)
            assert await receive_data(sock) == b"answer"
        async with DatagramSocket() as sock:
            await sock.connect(EndpointPair(None, "", "127.0.0.1", peer_port))
            assert sock.information.local_port not in ("", "0")


async def test_get_output_stream_with_an_endpoint_pair_binds_its_local_side() -> None:
    with trio.fail_after(10), raw_udp() as peer:
        peer_port = str(peer.getsockname()[1])
        async with DatagramSocket() as sock:
            pair = EndpointPair(HostName("127.0.0.3"), "", LOCALHOST, peer_port)
            stream = await sock.get_output_stream(pair)
            assert sock.information.local_address == HostName("127.0.0.3")
            await stream.write(b"x")
            assert peer.recvfrom(10)[1][0] == "127.0.0.3"
            # The same pair again (the seed's pattern): its local side is where the
            # socket is bound, so it applies; another local side does not.
            assert await sock.get_output_stream(pair) is stream
            bound_port = sock.information.local_port
            again = EndpointPair(HostName("127.0.0.3"), bound_port, LOCALHOST, "9")
            assert await sock.get_output_stream(again) is not stream
            with pytest.raises(RuntimeError, match="already bound"):
                await sock.get_output_stream(EndpointPair("127.0.0.4", "", LOCALHOST, "9"))
            # Without a local side, more streams on the bound socket are fine.
            await sock.get_output_stream(EndpointPair(None, "", LOCALHOST, peer_port))
            with pytest.raises(ValueError, match="remote"):
                await sock.get_output_stream(EndpointPair(None, "", None, ""))


async def test_a_socket_bound_to_every_address_sends_from_the_pairs_local_address() -> None:
    """On a socket bound to every address, an endpoint pair's local address is the
    source of the stream's datagrams (IP_PKTINFO / IPV6_PKTINFO): an answer leaves from
    the address its request was sent to, which a connected client requires. Before,
    such a pair was refused as "already bound", and answers left from the address
    routing picks (127.0.0.1 for every loopback address)."""
    with trio.fail_after(10), raw_udp() as peer, raw_udp("::1") as peer6:
        async with DatagramSocket() as sock:
            port = await bound(sock, "::")
            target = str(peer.getsockname()[1])
            streams = []
            for local in ("127.0.0.2", "127.0.0.3"):
                stream = await sock.get_output_stream(EndpointPair(local, "", LOCALHOST, target))
                assert stream.source == (local, port)
                await stream.write(b"from " + local.encode())
                assert peer.recvfrom(100) == (b"from " + local.encode(), (local, port))
                streams.append(stream)
            # The same pair again is the same stream; its port may be given too.
            again = EndpointPair("127.0.0.2", str(port), LOCALHOST, target)
            assert await sock.get_output_stream(again) is streams[0]
            plain = await sock.get_output_stream(LOCALHOST, target)
            assert plain not in streams
            assert plain.source is None
            # A run of datagrams of one size leaves in one sendmsg (GSO), from there too.
            operations = [streams[1].write(b"%03d" % i) for i in range(5)]
            for operation in operations:
                await operation
            for i in range(5):
                assert peer.recvfrom(100) == (b"%03d" % i, ("127.0.0.3", port))
            assert (streams[1].send_calls, streams[1].datagrams_sent) == (3, 6)
            six = EndpointPair("::1", "", HostName("::1"), str(peer6.getsockname()[1]))
            await (await sock.get_output_stream(six)).write(b"v6")
            assert peer6.recvfrom(100)[:2] == (b"v6", ("::1", port, 0, 0))
            # Another port, a group, or no address of this host cannot be a source.
            with pytest.raises(RuntimeError, match="already bound"):
                await sock.get_output_stream(EndpointPair("127.0.0.2", "9", LOCALHOST, target))
            for local in ("239.1.2.3", "192.0.2.1"):
                with pytest.raises(SocketStatusError, match=local) as caught:
                    await sock.get_output_stream(EndpointPair(local, "", LOCALHOST, target))
                assert caught.value.status == SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS
            with pytest.raises(SocketStatusError) as caught:
                await sock.get_output_stream(EndpointPair("::1", "", LOCALHOST, target))
            assert caught.value.status == SocketErrorStatus.ADDRESS_FAMILY_NOT_SUPPORTED
        # connect keeps refusing a local side on a bound socket.
        async with DatagramSocket() as sock:
            await bound(sock, "::")
            with pytest.raises(RuntimeError, match="already bound"):
                await sock.connect(EndpointPair("127.0.0.2", "", LOCALHOST, target))


async def test_an_unbound_socket_binds_on_first_use_and_hears_replies() -> None:
    with trio.fail_after(10), raw_udp("::1") as peer:
        async with DatagramSocket() as sock:
            assert sock.information.local_port == ""
            stream = await sock.get_output_stream(HostName("::1"), str(peer.getsockname()[1]))
            await stream.write(b"v6")
            data, source = peer.recvfrom(10)
            assert data == b"v6"
            assert sock.information.local_port == str(source[1])
            peer.sendto(b"v6 reply", source)
            args = await receive(sock)
            assert args.data == b"v6 reply"
            assert args.remote_address == HostName("::1")
            assert args.local_address == HostName("::1")


async def test_broadcast_on_loopback_via_stream_and_connect() -> None:
    with trio.fail_after(10):
        async with DatagramSocket() as receiver, DatagramSocket() as sender:
            await receiver.bind_endpoint("0.0.0.0", "0")
            port = receiver.information.local_port
            stream = await sender.get_output_stream(HostName("127.255.255.255"), port)
            await stream.write(b"broadcast")
            args = await receive(receiver)
            assert args.data == b"broadcast"
            assert args.local_address == HostName("127.255.255.255")
            assert sender.socket.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
            async with DatagramSocket() as connected:
                await connected.connect(HostName("127.255.255.255"), port)
                await connected.output_stream.write(b"connected broadcast")
                assert await receive_data(receiver) == b"connected broadcast"


async def test_binding_an_ipv4_mapped_address_binds_the_ipv4_address() -> None:
    async with DatagramSocket() as sock:
        await sock.bind_endpoint("::ffff:127.0.0.1", "0")
        assert sock.information.local_address == LOCALHOST
        assert sock.socket.family == socket.AF_INET
        with raw_udp("127.0.0.1") as peer:
            peer.sendto(b"to the mapped bind", ("127.0.0.1", int(sock.information.local_port)))
            assert await receive_data(sock) == b"to the mapped bind"


async def test_an_ipv4_socket_reaches_a_remote_spelled_ipv4_mapped() -> None:
    """::ffff:127.0.0.1 is 127.0.0.1: an IPv4 socket sends to it, as a dual-stack one
    does, and get_endpoint_pairs' answer for it is usable."""
    async with DatagramSocket() as receiver, DatagramSocket() as sender:
        port = await bound(receiver)
        await sender.bind_endpoint("127.0.0.1", "0")
        stream = await sender.get_output_stream(HostName("::ffff:127.0.0.1"), str(port))
        await stream.write(b"to the mapped spelling")
        assert await receive_data(receiver) == b"to the mapped spelling"
    async with DatagramSocket() as receiver, DatagramSocket() as sender:
        port = await bound(receiver)
        await sender.connect(EndpointPair(LOCALHOST, "", HostName("::ffff:127.0.0.1"), str(port)))
        assert sender.information.remote_address == LOCALHOST
        await sender.output_stream.write(b"connected")
        assert await receive_data(receiver) == b"connected"


async def test_a_scope_no_interface_has_is_refused_by_name() -> None:
    async with DatagramSocket() as sock:
        with pytest.raises(SocketStatusError) as caught:
            await sock.bind_endpoint("fe80::1%4294967295", "0")
        assert caught.value.status == SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS
        assert "no network interface named or numbered '4294967295'" in str(caught.value)


async def test_connect_to_a_multicast_address_is_host_not_found() -> None:
    async with DatagramSocket() as sock:
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("239.255.0.1"), "5000")
        assert caught.value.status == SocketErrorStatus.HOST_NOT_FOUND
        assert "multicast" in str(caught.value)
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("ff02::1"), "5000")
        assert SocketError.get_status(caught.value) == SocketErrorStatus.HOST_NOT_FOUND
        # An IPv4 multicast group in its IPv4-mapped IPv6 spelling is one too.
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("::ffff:239.255.0.1"), "5000")
        assert caught.value.status == SocketErrorStatus.HOST_NOT_FOUND
        assert "multicast" in str(caught.value)


async def test_socat_is_a_real_peer() -> None:
    socat = require_tool("socat")
    port = free_udp_port()
    process = await trio.lowlevel.open_process(
        [socat, "-T", "10", f"UDP4-LISTEN:{port},bind=127.0.0.1", "PIPE"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with trio.fail_after(10):
            async with DatagramSocket() as sock:
                await sock.connect(LOCALHOST, str(port))
                for _ in range(200):  # socat may not be bound yet: UDP just retries
                    await sock.output_stream.write(b"echo me")
                    with trio.move_on_after(0.05):
                        args = await sock.message_received.receive()
                        if args.error is None:
                            break
                else:
                    pytest.fail("socat never echoed")
                assert args.data == b"echo me"
                assert args.remote_port == str(port)
        # socat as a sender, from a fixed source port.
        async with DatagramSocket() as sock:
            port = await bound(sock)
            with trio.fail_after(10):
                sent = await trio.run_process(
                    [socat, "-u", "-", f"UDP4-SENDTO:127.0.0.1:{port}"],
                    stdin=b"from socat",
                )
                assert sent.returncode == 0
                assert await receive_data(sock) == b"from socat"
    finally:
        process.kill()
        with trio.fail_after(5):
            await process.wait()


# -- failures ----------------------------------------------------------------------------


async def test_icmp_port_unreachable_is_an_event_and_the_socket_keeps_receiving() -> None:
    port = free_udp_port()
    with trio.fail_after(10):
        async with DatagramSocket() as sock:
            await sock.connect(LOCALHOST, str(port))
            await sock.output_stream.write(b"anyone?")
            args = await receive(sock)
            with pytest.raises(SocketStatusError) as caught:
                args.get_data_reader()
            error = caught.value
            assert error.status == SocketErrorStatus.CONNECTION_RESET_BY_PEER
            assert isinstance(error, ConnectionResetError)
            assert error.errno == errno.ECONNREFUSED
            assert args.error is error
            assert args.remote_port == str(port)
            with pytest.raises(SocketStatusError):
                args.get_data_stream()
            # Someone opens the port: the socket hears it.
            with raw_udp("127.0.0.1", port) as peer:
                peer.sendto(b"here now", ("127.0.0.1", int(sock.information.local_port)))
                assert await receive_data(sock) == b"here now"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def _send_fragmentation_needed(source: tuple[str, int], destination: tuple[str, int]) -> None:
    """What a router says of a datagram from *source* to *destination* too large for its
    next link (ICMP 3/4, next-hop MTU 600), sent on loopback by a raw socket: the kernel
    hands the connected socket an EMSGSIZE, as for a real router's."""
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + 1400, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(source[0]), socket.inet_aton(destination[0]),
    )  # fmt: skip
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    quoted = header + struct.pack("!HHHH", source[1], destination[1], 8 + 1400, 0)
    message = struct.pack("!BBHHH", 3, 4, 0, 0, 600) + quoted
    message = message[:2] + struct.pack("!H", _checksum(message)) + message[4:]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as raw:
        raw.sendto(message, (destination[0], 0))


@pytest.mark.skipif(os.geteuid() != 0, reason="a raw ICMP socket needs root")
async def test_a_datagram_too_large_for_the_path_is_an_event_that_says_so() -> None:
    """A router's "fragmentation needed" (ICMPv6: "packet too big") about a datagram
    sent earlier reaches a connected socket as EMSGSIZE: the event says a sent datagram
    was dropped, larger than the path's MTU, not just "Message too long" as if a
    received one were. In a namespace of its own: the kernel keeps the path MTU it is
    told (600 bytes to 127.0.0.1) for ten minutes, which changes every TCP connection
    on the host's loopback meanwhile."""
    with (
        trio.fail_after(10),
        network_namespace("tsptb") as namespace,
        inside(namespace),
        raw_udp("127.0.0.1", 0) as peer,
    ):
        async with DatagramSocket() as sock:
            # Over IPv4 only a datagram that may not be fragmented is dropped so (over
            # IPv6, every datagram: routers never fragment).
            sock.control.dont_fragment = True
            await sock.connect(LOCALHOST, str(peer.getsockname()[1]))
            local = ("127.0.0.1", int(sock.information.local_port))
            _send_fragmentation_needed(local, peer.getsockname())
            args = await receive(sock)
            with pytest.raises(SocketStatusError) as caught:
                args.get_data_reader()
            error = caught.value
            assert error.status == SocketErrorStatus.MESSAGE_TOO_LONG
            assert error.errno == errno.EMSGSIZE
            assert "a datagram sent earlier was dropped on the way" in str(error)
            assert "larger than the path's MTU" in str(error)
            await sock.output_stream.write(b"small")  # the socket goes on
            assert peer.recv(100) == b"small"


async def test_an_earlier_datagrams_icmp_error_fails_no_later_write() -> None:
    """Linux hands a connected socket's pending ICMP error to its next system call, a
    send included, which then sends nothing. Back-to-back writes to a closed port each
    succeed, and each datagram's "port unreachable" arrives as an event, one per
    datagram. Before, every other write failed with ``CONNECTION_REFUSED`` without
    its datagram leaving, and those errors never became events. In a namespace of its
    own: Linux rate-limits "port unreachable" messages per namespace (a burst of 50),
    and other tests spend them."""
    count = 6
    with network_namespace("tsicmp") as name, inside(name), trio.fail_after(10):
        port = free_udp_port()
        async with DatagramSocket() as sock:
            await sock.connect(LOCALHOST, str(port))
            for index in range(count):
                assert await sock.output_stream.write(b"request %d" % index) == 9
            statuses = []
            for _ in range(count):
                args = await receive(sock)
                assert args.error is not None
                assert args.remote_port == str(port)
                statuses.append(args.error.status)
            assert statuses == [SocketErrorStatus.CONNECTION_RESET_BY_PEER] * count
            with trio.move_on_after(0.2):
                extra = await receive(sock)
                pytest.fail(f"more events than datagrams sent: {extra!r}")


async def test_an_icmp_error_a_send_meets_reaches_the_consumer_waiting_for_it() -> None:
    """A consumer waits for the socket to become readable. Datagram 1 goes to a closed
    port and its error is left pending; the port opens, and the send of datagram 2
    meets that error, which the socket would never become readable for: it reaches
    the consumer, and datagram 2 reaches the port. Before, the write of datagram 2
    failed and the datagram never left."""
    port = free_udp_port()
    events: list[SocketErrorStatus] = []
    with trio.fail_after(10):
        async with DatagramSocket() as sock, trio.open_nursery() as nursery:
            await sock.connect(LOCALHOST, str(port))

            async def consume() -> None:
                async for args in sock.message_received:
                    assert args.error is not None
                    events.append(args.error.status)

            nursery.start_soon(consume)
            await sock.output_stream.write(b"0")
            await wait_until(lambda: len(events) == 1, interval=0.001)
            await trio.testing.wait_all_tasks_blocked()  # the consumer waits on the socket
            sock.output_stream.write(b"1")  # sent at once; its ICMP error stays pending
            with raw_udp("127.0.0.1", port) as peer:
                peer.settimeout(5)
                assert await sock.output_stream.write(b"2") == 1  # meets that error
                assert peer.recv(10) == b"2"
            await wait_until(lambda: len(events) == 2, interval=0.001)
            nursery.cancel_scope.cancel()
    assert events == [SocketErrorStatus.CONNECTION_RESET_BY_PEER] * 2


async def test_oversize_datagrams_raise_at_write_and_the_socket_stays_usable() -> None:
    with trio.fail_after(10), raw_udp() as peer, raw_udp("::1") as peer6:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        async with DatagramSocket() as sock:
            await sock.connect(LOCALHOST, str(peer.getsockname()[1]))
            stream = sock.output_stream
            with pytest.raises(SocketStatusError) as caught:
                stream.write(b"x" * 65508)
            error = caught.value
            assert error.status == SocketErrorStatus.MESSAGE_TOO_LONG
            assert error.errno == errno.EMSGSIZE
            assert "65508" in str(error)
            assert "65507" in str(error)
            assert stream.pending_bytes == 0
            await stream.write(b"y" * 65507)
            assert len(peer.recv(70000)) == 65507
            await stream.write(b"")  # an empty datagram is a datagram
            assert peer.recv(10) == b""
        async with DatagramSocket() as sock:
            stream = await sock.get_output_stream("::1", str(peer6.getsockname()[1]))
            with pytest.raises(SocketStatusError, match=r"65528 bytes .* 65527"):
                stream.write(b"x" * 65528)
            await stream.write(b"z" * 1000)
            assert peer6.recv(2000) == b"z" * 1000


async def test_a_datagram_the_kernel_refuses_fails_only_its_write() -> None:
    with trio.fail_after(10), raw_udp("::1") as peer:
        peer_port = str(peer.getsockname()[1])
        async with DatagramSocket() as sock:
            # Over ::1 with don't-fragment, 65,527 bytes exceed lo's MTU: EMSGSIZE.
            sock.control.dont_fragment = True
            stream = await sock.get_output_stream("::1", peer_port)
            with pytest.raises(SocketStatusError) as caught:
                await stream.write(b"x" * 65527)
            assert caught.value.status == SocketErrorStatus.MESSAGE_TOO_LONG
            assert caught.value.errno == errno.EMSGSIZE
            assert f"[::1]:{peer_port}" in str(caught.value)
            assert await stream.write(b"fits") == 4
            assert peer.recv(10) == b"fits"

        async def write_and_look_away() -> None:
            async with DatagramSocket() as sock:
                sock.control.dont_fragment = True
                stream = await sock.get_output_stream("::1", peer_port)
                stream.write(b"before")  # nothing pending: sent by write() itself
                stream.write(b"x" * 65527)  # pending behind it: sent by the writer
                stream.write(b"after")

        # Nobody awaited the failed write: leaving the block raises it.
        with pytest.raises(SocketStatusError) as caught:
            await write_and_look_away()
        assert caught.value.status == SocketErrorStatus.MESSAGE_TOO_LONG
        assert [peer.recv(10), peer.recv(10)] == [b"before", b"after"]

        # A lone write is sent by write() itself. Nobody holds its operation: its
        # failure is raised by the next write (as any failure nobody has seen), which
        # is not made.
        async with DatagramSocket() as sock:
            sock.control.dont_fragment = True
            stream = await sock.get_output_stream("::1", peer_port)
            stream.write(b"x" * 65527)
            with pytest.raises(SocketStatusError) as caught:
                stream.write(b"not made")
            assert caught.value.status == SocketErrorStatus.MESSAGE_TOO_LONG
            assert await stream.write(b"goes on") == 7
            assert peer.recv(10) == b"goes on"


@pytest.mark.parametrize("failing", [0, 1, 3], ids=["first-of-its-step", "second", "last"])
async def test_a_held_write_that_fails_fails_only_its_operation(failing: int) -> None:
    """The howto's "start every write, then await each one" on a datagram stream, one
    datagram of which the kernel refuses (65,527 bytes over ``::1`` with don't-fragment:
    ``EMSGSIZE``): awaiting each operation gives each write's own outcome, and the
    other datagrams arrive, whether the refused one was the first of its task step
    (sent by ``write()`` itself) or went through the background writer. Before, when it
    was the first, the next ``write()`` raised its failure: the list was never made,
    and neither were the writes after it."""
    sizes = [100] * 4
    sizes[failing] = 65527
    with trio.fail_after(10), raw_udp("::1") as peer:
        async with DatagramSocket() as sock:
            sock.control.dont_fragment = True
            stream = await sock.get_output_stream("::1", str(peer.getsockname()[1]))
            packets = [bytes([index]) * size for index, size in enumerate(sizes)]
            operations = [stream.write(packet) for packet in packets]
            results: list[int | SocketErrorStatus] = []
            for operation in operations:
                try:
                    results.append(await operation)
                except SocketStatusError as exc:
                    results.append(exc.status)
            expected: list[int | SocketErrorStatus] = [100] * 4
            expected[failing] = SocketErrorStatus.MESSAGE_TOO_LONG
            assert results == expected
            # Each failure was seen by awaiting its operation: nothing is left to raise.
            assert await stream.flush() is True
            assert await stream.write(b"after") == 5
        got = [peer.recv(70000) for _ in range(4)]
        assert got == [packet for packet in packets if len(packet) == 100] + [b"after"]


async def test_failures_of_operations_let_go_unawaited_are_raised_and_do_not_pile_up() -> None:
    """``op = stream.write(...)`` in a loop holds each operation at the next write, then
    lets it go: its failure is raised by the write after that, so failures neither
    pile up unseen (they were kept, one exception each, until a flush: hundreds of
    megabytes for a producer that never flushed) nor go unreported."""
    with trio.fail_after(20), raw_udp("::1") as peer:
        async with DatagramSocket() as sock:
            sock.control.dont_fragment = True
            stream = await sock.get_output_stream("::1", str(peer.getsockname()[1]))
            raised: list[SocketErrorStatus] = []
            for _ in range(1000):
                try:
                    op = stream.write(b"x" * 65527)  # refused by the kernel: EMSGSIZE
                except SocketStatusError as exc:
                    raised.append(exc.status)
                await trio.lowlevel.checkpoint()
            assert len(raised) >= 400
            assert set(raised) == {SocketErrorStatus.MESSAGE_TOO_LONG}
            del op
            with pytest.raises(SocketStatusError):
                await stream.flush()  # the last ones, unseen
            assert await stream.flush() is True
            assert await stream.write(b"after") == 5
            assert peer.recv(10) == b"after"


async def test_a_held_write_never_awaited_is_raised_by_flush_and_close_not_by_write() -> None:
    """A failed write whose operation the caller holds is that operation's to raise:
    later writes go on. Held and never awaited, it is still not lost: ``flush()``
    raises it, and so does leaving the block. Before, the next ``write()`` raised it."""
    with trio.fail_after(10), raw_udp("::1") as peer:
        peer_port = str(peer.getsockname()[1])
        async with DatagramSocket() as sock:
            sock.control.dont_fragment = True
            stream = await sock.get_output_stream("::1", peer_port)
            failed = stream.write(b"x" * 65527)  # the first of its step: write() sends it
            assert stream.write(b"one") is not failed
            with pytest.raises(SocketStatusError) as caught:
                await stream.flush()
            assert caught.value.status == SocketErrorStatus.MESSAGE_TOO_LONG
            with pytest.raises(SocketStatusError) as again:
                await failed  # its own outcome, still
            assert again.value is caught.value
            assert await stream.flush() is True  # raised once
            assert peer.recv(10) == b"one"

        async def hold_and_look_away() -> None:
            async with DatagramSocket() as sock:
                sock.control.dont_fragment = True
                stream = await sock.get_output_stream("::1", peer_port)
                held = stream.write(b"x" * 65527)
                stream.write(b"two")
                assert held.done

        with pytest.raises(SocketStatusError) as caught:
            await hold_and_look_away()
        assert caught.value.status == SocketErrorStatus.MESSAGE_TOO_LONG
        assert peer.recv(10) == b"two"


class _Events:
    """What a stream made here tells its socket: no broadcast to turn on; the earlier
    datagrams' errors its sends meet are kept in ``reported``."""

    def __init__(self) -> None:
        self.reported: list[OSError] = []

    def enable_broadcast(self) -> bool:
        return False

    def report_earlier_failure(self, exc: OSError) -> None:
        self.reported.append(exc)


class _RefusingSocket(socket.socket):
    """A real UDP socket whose sends fail for chosen payloads, and whose GSO is refused."""

    fail_payload = b"fail"
    gso_error = errno.EIO
    gso_calls = 0

    def send(self, data: object, flags: int = 0) -> int:  # type: ignore[override]
        if data == self.fail_payload:
            raise OSError(errno.ENOBUFS, os.strerror(errno.ENOBUFS))
        return super().send(data, flags)  # type: ignore[arg-type]

    def sendmsg(self, *args: object) -> int:  # type: ignore[override]
        self.gso_calls += 1
        raise OSError(self.gso_error, os.strerror(self.gso_error))


async def test_one_failed_datagram_fails_only_its_write() -> None:
    with trio.fail_after(10), raw_udp() as peer:
        sock = _RefusingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(peer.getsockname())
            async with trio.open_nursery() as nursery:
                stream = DatagramOutputStream(sock, lambda: nursery, "test stream", None, _Events())
                first = stream.write(b"ok 1")
                failing = stream.write(b"fail")
                last = stream.write(b"ok 22")  # another size: no GSO run
                assert await first == 4
                with pytest.raises(SocketStatusError) as caught:
                    await failing
                assert caught.value.errno == errno.ENOBUFS
                assert not isinstance(caught.value, trio.BrokenResourceError)
                assert await last == 5
                assert peer.recv(10) == b"ok 1"
                assert peer.recv(10) == b"ok 22"
                # Unawaited, the failure surfaces on the next flush; the stream goes on.
                stream.write(b"fail")
                with pytest.raises(SocketStatusError, match=r"ENOBUFS|buffer space"):
                    await stream.flush()
                await stream.write(b"still fine")
                assert peer.recv(20) == b"still fine"
                nursery.cancel_scope.cancel()  # as a socket ends its nursery on close
        finally:
            sock.close()


@pytest.mark.parametrize("refusal", [errno.EIO, errno.ENOPROTOOPT, errno.EINVAL, errno.EMSGSIZE])
async def test_gso_refused_by_the_kernel_falls_back_to_one_send_each(refusal: int) -> None:
    with trio.fail_after(10), raw_udp() as peer:
        sock = _RefusingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.gso_error = refusal
        try:
            sock.setblocking(False)
            sock.connect(peer.getsockname())
            async with trio.open_nursery() as nursery:
                events = _Events()
                stream = DatagramOutputStream(sock, lambda: nursery, "test", None, events)
                for index in range(10):
                    stream.write(b"%04d" % index)
                await stream.flush()
                assert [peer.recv(10) for _ in range(10)] == [b"%04d" % n for n in range(10)]
                # An error an ICMP message could have left pending for this send (about
                # an earlier datagram) is the send's own only if a second try meets it too.
                assert sock.gso_calls == (2 if refusal in ICMP_ERRNOS else 1)
                assert events.reported == []
                for index in range(10):  # remembered: no second attempt at this size
                    stream.write(b"%04d" % index)
                await stream.flush()
                assert sock.gso_calls == (2 if refusal in ICMP_ERRNOS else 1)
                assert stream.send_calls == 20
                nursery.cancel_scope.cancel()  # as a socket ends its nursery on close
        finally:
            sock.close()


class _SegmentLimitSocket(socket.socket):
    """A real UDP socket on a kernel that takes at most 64 segments in one GSO send
    (``UDP_MAX_SEGMENTS`` before Linux 6.9: ``EINVAL`` for more); its first ``sendmsg``
    may meet the error an ICMP message about an earlier datagram left pending."""

    refused = 0
    pending_icmp_error = False

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):  # type: ignore[no-untyped-def]
        if self.pending_icmp_error:
            self.pending_icmp_error = False
            raise OSError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED))
        ((_, _, segment),) = ancdata
        if -(-len(buffers[0]) // struct.unpack("@H", segment)[0]) > 64:
            self.refused += 1
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return super().sendmsg(buffers, ancdata, flags)


@pytest.mark.parametrize("icmp_error_first", [False, True])
async def test_a_kernel_taking_64_segments_per_send_is_found_once_per_process(
    icmp_error_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs of up to 128 are tried first; the kernel refusing more than 64 with
    ``EINVAL``, the first 64 go at once, and every stream of the process then sends 64
    at most, never meeting the refusal again. Every datagram arrives, in order."""
    monkeypatch.setattr(SEGMENT_CAP, "segments", MAX_SEGMENTS)  # and back afterwards
    with trio.fail_after(10), raw_udp() as peer:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock = _SegmentLimitSocket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(peer.getsockname())
            async with trio.open_nursery() as nursery:
                events = _Events()
                stream = DatagramOutputStream(sock, lambda: nursery, "test", None, events)
                sock.pending_icmp_error = icmp_error_first
                for index in range(201):  # the first one is sent by write() itself
                    stream.write(b"%010d" % index)
                await stream.flush()
                assert [peer.recv(20) for _ in range(201)] == [b"%010d" % n for n in range(201)]
                assert sock.refused == 1
                assert SEGMENT_CAP.segments == 64
                assert stream.send_calls == 1 + 4  # 64 + 64 + 64 + 8
                assert [exc.errno for exc in events.reported] == (
                    [errno.ECONNREFUSED] if icmp_error_first else []
                )
                other = DatagramOutputStream(sock, lambda: nursery, "other", None, events)
                for index in range(101):
                    other.write(b"%010d" % index)
                await other.flush()
                assert [peer.recv(20) for _ in range(101)] == [b"%010d" % n for n in range(101)]
                assert sock.refused == 1
                assert other.send_calls == 1 + 2  # 64 + 36
                nursery.cancel_scope.cancel()  # as a socket ends its nursery on close
        finally:
            sock.close()


async def test_einval_for_another_cause_than_the_segment_count_keeps_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run of more than 64 refused with ``EINVAL``, and its first 64 refused too: the
    cause is not the number of segments (a segment over the path MTU on an older
    kernel, say), so the cap stays and the datagrams go one send each."""
    monkeypatch.setattr(SEGMENT_CAP, "segments", MAX_SEGMENTS)
    with trio.fail_after(10), raw_udp() as peer:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock = _RefusingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.gso_error = errno.EINVAL
        try:
            sock.setblocking(False)
            sock.connect(peer.getsockname())
            async with trio.open_nursery() as nursery:
                stream = DatagramOutputStream(sock, lambda: nursery, "test", None, _Events())
                for index in range(101):
                    stream.write(b"%04d" % index)
                await stream.flush()
                assert [peer.recv(10) for _ in range(101)] == [b"%04d" % n for n in range(101)]
                assert sock.gso_calls == 2  # 100, then 64
                assert SEGMENT_CAP.segments == MAX_SEGMENTS
                assert stream.send_calls == 101
                nursery.cancel_scope.cancel()  # as a socket ends its nursery on close
        finally:
            sock.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_equal_size_datagrams_over_the_mtu_are_sent_one_by_one_and_arrive(
    host: str,
) -> None:
    """Equal-size datagrams larger than the MTU (4,000 bytes over an ``lo`` of 1,500),
    pending together: the kernel refuses to segment them (``EMSGSIZE`` on current
    kernels, ``EINVAL`` on older ones), so they go one send each, fragmented, and every
    one arrives. Before, ``EMSGSIZE`` failed the head of each GSO run with
    ``MESSAGE_TOO_LONG``: only the first and the last of ten arrived."""
    with network_namespace("tsgso") as name:
        ip("-n", name, "link", "set", "lo", "mtu", "1500")
        with inside(name), trio.fail_after(10), raw_udp(host) as peer:
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            async with DatagramSocket() as sock:
                await sock.connect(HostName(host), str(peer.getsockname()[1]))
                stream = sock.output_stream
                operations = [stream.write(bytes([index]) * 4000) for index in range(10)]
                assert [await operation for operation in operations] == [4000] * 10
                await stream.flush()
            assert [peer.recv(5000) for _ in range(10)] == [
                bytes([index]) * 4000 for index in range(10)
            ]


@functools.cache
def kernel_max_segments() -> int:
    """The most datagrams this kernel takes in one UDP GSO send (``UDP_MAX_SEGMENTS``):
    128 on Linux 6.9 and later, 64 before; found by sending 128 segments of one byte to a
    plain socket on loopback. Skips without GSO."""
    with raw_udp() as peer, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        control = [(socket.SOL_UDP, 103, struct.pack("@H", 1))]  # UDP_SEGMENT
        try:
            sender.sendmsg([b"x" * 128], control, 0, peer.getsockname())
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                pytest.skip(f"no UDP segmentation offload here: {exc}")
            return 64
        return 128


async def test_equal_size_writes_leave_in_fewer_system_calls_keeping_boundaries() -> None:
    with trio.fail_after(10), raw_udp() as peer:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        async with DatagramSocket() as sock:
            await sock.connect(LOCALHOST, str(peer.getsockname()[1]))
            stream = sock.output_stream
            sizes = [100] * 150 + [7] * 3 + [100] * 2 + [1] + [1200] * 60
            payloads = [bytes([index % 256]) * size for index, size in enumerate(sizes)]
            operations = [stream.write(payload) for payload in payloads]
            await stream.flush()
            assert [await op for op in operations] == sizes
            assert [peer.recv(2000) for _ in sizes] == payloads
            assert stream.datagrams_sent == len(sizes)
            # The first write found nothing pending and was sent by write() itself; then
            # 149 x 100 B: 128, then 21 and the first 7 B (a shorter one ends a run) --
            # 64 + 64 + 21 and a 7 where the kernel takes 64 segments at most; 2 x 7;
            # 2 x 100 + 1; 60 x 1200 (54 fit 65507 B): 54 + 6.
            assert stream.send_calls == (7 if kernel_max_segments() == 128 else 8)


async def test_the_first_write_of_a_step_is_sent_by_write_and_its_operation_reused() -> None:
    with trio.fail_after(10), raw_udp() as peer:
        peer.setblocking(False)
        async with DatagramSocket() as sock:
            await sock.connect(LOCALHOST, str(peer.getsockname()[1]))
            stream = sock.output_stream
            # Sent before write() returns, with nothing queued and the operation done.
            held = stream.write(b"first")
            assert (held.done, stream.pending_bytes, peer.recv(100)) == (True, 0, b"first")
            await trio.lowlevel.checkpoint()
            # The operation of a write nobody holds is given to the next one; a held
            # one never is: it keeps its own write's size.
            operations = []
            for index in range(4):
                operations.append(weakref.ref(stream.write(b"x" * (index + 1))))
                await trio.lowlevel.checkpoint()
            assert held.nbytes == 5
            assert await held == 5
            reused = operations[0]()
            assert reused is not None
            assert reused is not held
            assert all(ref() is reused for ref in operations)
            assert [peer.recv(100) for _ in range(4)] == [b"x", b"xx", b"xxx", b"xxxx"]
            # A second write in the same step is queued, to leave with those after it.
            stream.write(b"a")
            stream.write(b"bc")
            assert stream.pending_bytes == 2
            await stream.flush()
            assert [peer.recv(100) for _ in range(2)] == [b"a", b"bc"]
            assert (stream.datagrams_sent, stream.send_calls) == (7, 7)


def strace_sends(writes: str, sizes: str) -> list[str]:
    """The send-family system calls, but trio's own 1-byte wake-up writes, of a program
    that connects a DatagramSocket to a plain socket on 127.0.0.1, makes the unawaited
    writes *writes* (Python statements over ``stream``) and flushes once; *sizes* (an
    expression) are those of the datagrams the plain socket must receive, in order,
    each ``bytes([index % 256]) * size``, as ``write(index, size)`` makes them."""
    strace = require_tool("strace")
    script = (
        textwrap.dedent(
            """
            import socket, trio
            from trio_sockets import DatagramSocket, HostName

            async def main():
                sizes = SIZES
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
                    peer.bind(("127.0.0.1", 0))
                    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                    peer.settimeout(5)
                    async with DatagramSocket() as sock:
                        await sock.connect(HostName("127.0.0.1"), str(peer.getsockname()[1]))
                        stream = sock.output_stream

                        def write(index, size):
                            stream.write(bytes([index % 256]) * size)

            WRITES
                        await stream.flush()
                    got = [peer.recv(70000) for _ in sizes]
                    expected = [bytes([index % 256]) * size for index, size in enumerate(sizes)]
                    assert got == expected, [len(data) for data in got]
                    print("received", len(got))

            trio.run(main)
            """
        )
        .replace("SIZES", sizes)
        .replace("WRITES", textwrap.indent(writes, " " * 12))
    )
    result = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=sendmsg,sendto,sendmmsg", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0 and "ptrace" in result.stderr:  # pragma: no cover
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    assert "received" in result.stdout
    return [
        line
        for line in result.stderr.splitlines()
        if line.startswith(("sendmsg(", "sendto(", "sendmmsg(")) and not line.endswith("= 1")
    ]


def assert_gso_sends(sends: list[str], sizes: list[int]) -> None:
    """*sends* are a ``sendto`` of one 100-byte datagram, then GSO ``sendmsg`` calls
    of *sizes* bytes."""
    assert len(sends) == 1 + len(sizes), sends
    assert sends[0].startswith("sendto("), sends[0]
    assert sends[0].endswith("= 100"), sends[0]
    for line, size in zip(sends[1:], sizes, strict=True):
        assert "cmsg_type=0x67" in line or "UDP_SEGMENT" in line, line  # UDP_SEGMENT = 103
        assert line.endswith(f"= {size}"), line


def test_gso_counted_with_strace() -> None:
    sends = strace_sends(
        "for index in range(128): write(index, 100)",
        "[100] * 128",
    )
    # The first write found nothing pending and was sent by write() itself; the 127 that
    # piled up behind it left together, in one call where the kernel takes 128 segments.
    assert_gso_sends(sends, [12700] if kernel_max_segments() == 128 else [6400, 6300])


def test_a_run_of_equal_datagrams_and_a_shorter_last_one_leaves_in_one_call() -> None:
    """Linux segments a send into datagrams of the first one's size, the last one maybe
    shorter: 20 x 100 B and 37 B leave together, and 3 x 1,200 B and 600 B. Before,
    a shorter datagram ended the run and went in a call of its own: 4 calls, not 2."""
    sizes = [100] * 21 + [37] + [1200] * 3 + [600]
    sends = strace_sends(
        "for index, size in enumerate(sizes): write(index, size)",
        repr(sizes),
    )
    assert_gso_sends(sends, [2037, 4200])


def test_more_than_64_equal_datagrams_leave_in_one_call_where_the_kernel_takes_128() -> None:
    """200 x 50 B and 20 B behind the first write: 128 in one call, then 72 and the
    shorter one. Before, at most 64 went in one call: 5 calls, not 2."""
    if kernel_max_segments() != 128:
        pytest.skip("this kernel takes at most 64 segments per UDP GSO send (before 6.9)")
    sends = strace_sends(
        "write(0, 100)\nfor index in range(1, 201): write(index, 50)\nwrite(201, 20)",
        "[100] + [50] * 200 + [20]",
    )
    assert_gso_sends(sends, [128 * 50, 72 * 50 + 20])


async def test_a_flood_at_an_unread_socket_stays_bounded_and_is_counted() -> None:
    total = 100_000
    with trio.fail_after(60):
        async with DatagramSocket(message_queue_size=256) as sock:
            sock.control.inbound_buffer_size_in_bytes = 4 << 20
            port = await bound(sock)
            with raw_udp() as flooder:
                for start in range(0, total, 500):
                    for index in range(start, start + 500):
                        flooder.sendto(b"%06d" % index, ("127.0.0.1", port))
                    await trio.lowlevel.checkpoint()  # the receive task runs between bursts
                # Wait until the receive task has taken everything the kernel kept.
                while True:
                    before = sock.information.received_message_count
                    await trio.sleep(0.05)
                    if sock.information.received_message_count == before:
                        break
            info = sock.information
            stats = sock.message_received.statistics()
            assert stats.current_buffer_used == 256  # only the bound is held
            assert info.dropped_message_count > 0
            assert info.received_message_count == stats.current_buffer_used + (
                info.dropped_message_count
            )
            assert info.received_message_count <= total
            held = [sock.message_received.receive_nowait() for _ in range(256)]
            assert [args.data for args in held] == sorted(args.data for args in held)
            with raw_udp() as late:
                late.sendto(b"fresh", ("127.0.0.1", port))
                assert await receive_data(sock) == b"fresh"
            # Every datagram was taken by the socket or dropped by the kernel (Linux
            # counts those, as of the latest datagram received).
            assert info.received_message_count + info.kernel_dropped_message_count == total + 1


async def test_a_consumer_that_keeps_pace_loses_nothing() -> None:
    count, burst = 5000, 200
    with trio.fail_after(30):
        async with DatagramSocket(message_queue_size=64) as sock:
            sock.control.inbound_buffer_size_in_bytes = 1 << 20
            port = await bound(sock)
            info = sock.information
            got: list[bytes] = []
            async with trio.open_nursery() as nursery:

                async def consume() -> None:
                    async for args in sock.message_received:
                        got.append(args.data)

                nursery.start_soon(consume)
                with raw_udp() as sender:
                    # Bursts over three times the channel's bound; on average the
                    # consumer keeps up, which is all it must do to lose nothing.
                    for start in range(0, count, burst):
                        for index in range(start, start + burst):
                            sender.sendto(b"%d" % index, ("127.0.0.1", port))
                        sent = start + burst
                        await wait_until(
                            lambda: len(got) + info.kernel_dropped_message_count >= sent,  # noqa: B023
                            interval=0.001,
                        )
                nursery.cancel_scope.cancel()
            assert info.dropped_message_count == 0
            assert len(got) == info.received_message_count
            # What the kernel kept, the consumer got, in order.
            assert info.received_message_count + info.kernel_dropped_message_count == count
            assert got == sorted(got, key=int)


# -- control -----------------------------------------------------------------------------


async def test_control_defaults_and_options_applied() -> None:
    async with DatagramSocket() as sock:
        control = sock.control
        assert control.outbound_unicast_hop_limit == 128
        assert control.dont_fragment is False
        assert control.inbound_buffer_size_in_bytes is None
        assert control.multicast_only is False
        assert control.quality_of_service == SocketQualityOfService.NORMAL
        assert control.multicast_interface is None
        assert control.multicast_hop_limit == 1
        control.dont_fragment = True
        control.inbound_buffer_size_in_bytes = 65536
        control.quality_of_service = SocketQualityOfService.LOW_LATENCY
        await bound(sock)
        raw = sock.socket
        assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 128
        assert raw.getsockopt(socket.IPPROTO_IP, 10) == 2  # IP_MTU_DISCOVER = DO
        assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * 65536
        assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
        assert raw.getsockopt(socket.IPPROTO_IP, 49) == 0  # IP_MULTICAST_ALL
        control.outbound_unicast_hop_limit = 9  # WinRT allows this one any time
        assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 9
        control.multicast_hop_limit = 0
        assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 0
        for name, value in [
            ("dont_fragment", False),
            ("inbound_buffer_size_in_bytes", 1024),
            ("multicast_only", True),
            ("quality_of_service", SocketQualityOfService.NORMAL),
        ]:
            with pytest.raises(RuntimeError, match=f"{name} must be set before"):
                setattr(control, name, value)
    # Once the socket has closed, the error says so (not that it is open).
    for closed in (DatagramSocket(), sock):
        await closed.aclose()
        with pytest.raises(trio.ClosedResourceError, match=r"dont_fragment cannot be set: .*clos"):
            closed.control.dont_fragment = True


def _df_bit_of_udp_to(raw: socket.socket, port: int) -> bool:
    """Whether the next IPv4 packet *raw* (an ``IPPROTO_UDP`` raw socket) sees going
    to UDP *port* carries the don't-fragment bit."""
    while True:
        packet = raw.recv(70000)
        header = (packet[0] & 0x0F) * 4
        if int.from_bytes(packet[header + 2 : header + 4], "big") == port:
            return bool(int.from_bytes(packet[6:8], "big") & 0x4000)


@pytest.mark.parametrize("local", ["127.0.0.1", ""], ids=["ipv4", "dual-stack"])
async def test_ipv4_datagrams_carry_the_df_bit_only_with_dont_fragment(local: str) -> None:
    """WinRT's ``DontFragment`` false means fragmentation allowed: IPv4 datagrams leave
    without the don't-fragment bit, from an IPv4 socket and from a dual-stack one
    (IPv4-mapped), so a router with a smaller MTU fragments them instead of dropping
    them. Seen by a raw socket in a network namespace. Before, Linux's default
    (``IP_PMTUDISC_WANT``) set the bit on every datagram that fit the local MTU."""
    with (
        network_namespace("tsdf") as name,
        inside(name),
        trio.fail_after(10),
        raw_udp() as peer,
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP) as raw,
    ):
        raw.settimeout(5)
        port = peer.getsockname()[1]
        for dont_fragment in (False, True):
            async with DatagramSocket() as sock:
                sock.control.dont_fragment = dont_fragment
                await sock.bind_endpoint(local or None, "0")
                stream = await sock.get_output_stream("127.0.0.1", str(port))
                await stream.write(b"probe")
            assert _df_bit_of_udp_to(raw, port) is dont_fragment
            assert peer.recv(10) == b"probe"


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("outbound_unicast_hop_limit", 0, ValueError),
        ("outbound_unicast_hop_limit", 256, ValueError),
        ("multicast_hop_limit", -1, ValueError),
        ("multicast_hop_limit", 256, ValueError),
        ("inbound_buffer_size_in_bytes", 0, ValueError),
        ("dont_fragment", 1, TypeError),
        ("multicast_only", "yes", TypeError),
        ("quality_of_service", 1, TypeError),
        ("multicast_interface", 5, TypeError),
        ("multicast_interface", "no-such-if0", ValueError),
        ("multicast_interface", "fe80::1", ValueError),
    ],
)
def test_control_rejects_bad_values(name: str, value: object, error: type[Exception]) -> None:
    control = DatagramSocket().control
    with pytest.raises(error, match=repr(value).replace("(", r"\(")) as caught:
        setattr(control, name, value)
    assert name in str(caught.value)


async def test_plain_sockets_do_not_share_a_port() -> None:
    async with DatagramSocket() as first, DatagramSocket() as second:
        port = await bound(first)
        with pytest.raises(SocketStatusError) as caught:
            await second.bind_endpoint(LOCALHOST, str(port))
        assert caught.value.status == SocketErrorStatus.ADDRESS_ALREADY_IN_USE


# -- misuse ------------------------------------------------------------------------------


async def test_output_stream_before_connect_is_a_clear_error() -> None:
    async with DatagramSocket() as sock:
        with pytest.raises(RuntimeError, match="not connected"):
            sock.output_stream.write(b"x")
        await bound(sock)
        with pytest.raises(RuntimeError, match="get_output_stream"):
            _ = sock.output_stream


async def test_misuse_names_the_socket_and_why() -> None:
    async with DatagramSocket() as sock:
        port = await bound(sock)
        with pytest.raises(
            RuntimeError,
            match=rf"^bind: not possible on DatagramSocket 127\.0\.0\.1:{port}: it is already "
            r"bound \(WinRT binds a socket once",
        ):
            await sock.bind_service_name("0")
    with pytest.raises(trio.ClosedResourceError, match=r"^connect: this DatagramSocket was closed"):
        await sock.connect(LOCALHOST, "9")


async def test_bind_twice_and_connect_twice_are_misuse() -> None:
    async with DatagramSocket() as sock:
        await bound(sock)
        with pytest.raises(RuntimeError, match="already bound"):
            await sock.bind_service_name("0")
        await sock.connect(LOCALHOST, "9")
        with pytest.raises(RuntimeError, match="already connected"):
            await sock.connect(LOCALHOST, "9")
        with pytest.raises(RuntimeError, match="already bound"):
            await sock.bind_endpoint(LOCALHOST, "0")


async def test_opening_needs_the_socket_to_be_entered() -> None:
    sock = DatagramSocket()
    with pytest.raises(RuntimeError, match="async with"):
        await sock.bind_service_name("0")
    with pytest.raises(RuntimeError, match="async with"):
        await sock.connect(LOCALHOST, "9")
    with pytest.raises(RuntimeError, match="async with"):
        await sock.get_output_stream(LOCALHOST, "9")
    with pytest.raises(RuntimeError, match="not bound"):
        sock.join_multicast_group("239.255.0.1")
    await sock.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await sock.bind_service_name("0")


async def test_use_after_close_raises_closed() -> None:
    async with DatagramSocket() as sock:
        await sock.connect(LOCALHOST, "9")
        stream = sock.output_stream
        await sock.aclose()
        with pytest.raises(trio.ClosedResourceError):
            stream.write(b"x")
        with pytest.raises(trio.ClosedResourceError):
            await sock.get_output_stream(LOCALHOST, "9")
        with pytest.raises(trio.ClosedResourceError):
            await sock.connect(LOCALHOST, "9")
        with pytest.raises(trio.ClosedResourceError):
            _ = sock.socket
        assert sock.information.remote_port == "9"
        assert sock.information.local_port != ""


async def test_a_multicast_only_socket_refuses_to_connect() -> None:
    async with DatagramSocket() as sock:
        sock.control.multicast_only = True
        with pytest.raises(RuntimeError, match="multicast_only"):
            await sock.connect(LOCALHOST, "9")


@pytest.mark.parametrize(
    ("remote", "shown"),
    [("127.0.0.1", "127.0.0.1:9"), ("::1", "[::1]:9"), ("::ffff:127.0.0.1", "127.0.0.1:9")],
)
async def test_a_multicast_only_socket_sends_only_to_groups(remote: str, shown: str) -> None:
    """As in WinRT, a multicast-only socket refuses unicast use: ``get_output_stream``
    to a unicast remote raises, naming it, and makes no stream (nothing is sent)."""
    async with DatagramSocket() as sock:
        sock.control.multicast_only = True
        with pytest.raises(RuntimeError, match=rf"to {re.escape(shown)}: .*multicast_only"):
            await sock.get_output_stream(HostName(remote), "9")
        assert sock.information.local_port == ""  # nothing was opened for it


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda s: s.bind_service_name("65536"), "'65536'"),
        (lambda s: s.bind_endpoint("bad host!", "0"), "bad host!"),
        (lambda s: s.connect("bad host!", "1"), "remote_host_name"),
        (lambda s: s.connect(LOCALHOST, "0"), "'0'"),
        (lambda s: s.connect(LOCALHOST, 53), "53"),
        (lambda s: s.connect(LOCALHOST), "remote_service_name"),
        (lambda s: s.get_output_stream(LOCALHOST, ""), "remote_service_name is empty"),
        (lambda s: s.get_output_stream(EndpointPair(None, "", LOCALHOST, "9"), "9"), "takes no"),
    ],
)
async def test_bad_inputs_are_rejected_naming_the_value(call: object, expected: str) -> None:
    async with DatagramSocket() as sock:
        with pytest.raises((ValueError, TypeError), match=expected):
            await call(sock)  # type: ignore[operator]


def test_bad_queue_size_is_rejected_naming_the_value() -> None:
    with pytest.raises(ValueError, match=r"message_queue_size .* 0"):
        DatagramSocket(message_queue_size=0)


async def test_windows_only_members_say_so() -> None:
    sock = DatagramSocket()
    with pytest.raises(WindowsOnlyError, match="socket broker"):
        sock.transfer_ownership("id")
    with pytest.raises(WindowsOnlyError, match=r"DatagramSocket\.enable_transfer_ownership"):
        sock.enable_transfer_ownership("task")


async def test_information_before_binding_uses_winrt_empty_values() -> None:
    info = DatagramSocket().information
    assert info.local_address is None
    assert info.local_port == ""
    assert info.remote_address is None
    assert info.remote_port == ""
    assert info.received_message_count == 0
    assert info.dropped_message_count == 0


async def test_get_endpoint_pairs_is_static_and_resolves() -> None:
    pairs = await DatagramSocket.get_endpoint_pairs(HostName("localhost"), "53")
    assert pairs
    assert LOCALHOST in [pair.remote_host_name for pair in pairs]
    assert all(pair.remote_service_name == "53" for pair in pairs)
    assert (await DatagramSocket.get_endpoint_pairs("127.0.0.1", "domain"))[
        0
    ].remote_service_name == "53"


# -- cancel_io and lifetimes -------------------------------------------------------------


async def test_cancel_io_aborts_pending_writes_and_the_socket_goes_on() -> None:
    with trio.fail_after(10), raw_udp() as peer:
        async with DatagramSocket() as sock:
            await sock.connect(LOCALHOST, str(peer.getsockname()[1]))
            # The first write found nothing pending and was sent by write() itself;
            # the ones behind it are pending.
            first, *operations = [sock.output_stream.write(b"never %d" % n) for n in range(3)]
            await sock.cancel_io()
            assert await first == 7
            for operation in operations:
                with pytest.raises(SocketStatusError) as caught:
                    await operation
                assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED
            await sock.output_stream.write(b"after")
            assert peer.recv(10) == b"never 0"
            assert peer.recv(10) == b"after"
            peer.sendto(b"still hearing", ("127.0.0.1", int(sock.information.local_port)))
            assert await receive_data(sock) == b"still hearing"


async def test_a_write_after_cancel_io_leaves_the_aborted_write_to_its_held_operation() -> None:
    """The caller holds the operation of the write ``cancel_io()`` aborted: the next
    ``write()`` goes on (before, it raised that failure, which awaiting the operation
    then raised a second time), and the operation raises it once. One let go is
    raised by the next write, as ever."""
    with trio.fail_after(10), raw_udp() as peer:
        async with DatagramSocket() as sock:
            await sock.connect(LOCALHOST, str(peer.getsockname()[1]))
            stream = sock.output_stream
            first, held = stream.write(b"one"), stream.write(b"two")
            await sock.cancel_io()
            assert await stream.write(b"three") == 5
            assert await first == 3
            with pytest.raises(SocketStatusError) as caught:
                await held
            assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED
            assert await stream.flush() is True
            stream.write(b"four")
            stream.write(b"five")  # pending: aborted, its operation let go
            await sock.cancel_io()
            with pytest.raises(SocketStatusError) as caught:
                stream.write(b"six")
            assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED
            assert await stream.write(b"seven") == 5
        assert [peer.recv(10) for _ in range(4)] == [b"one", b"three", b"four", b"seven"]


async def test_a_failure_claimed_by_a_write_that_raised_is_raised_once_let_go() -> None:
    """A write that raises (here, over the size limit) while the caller holds a failed
    write's operation leaves that operation the last: let go, its failure is raised by
    the next write. Before, the queue's own reference kept the claim alive, and only a
    flush or a close raised it."""
    with trio.fail_after(10), raw_udp("::1") as peer:
        async with DatagramSocket() as sock:
            sock.control.dont_fragment = True
            stream = await sock.get_output_stream("::1", str(peer.getsockname()[1]))
            failed = stream.write(b"x" * 65527)  # refused by the kernel: EMSGSIZE
            assert failed.done
            await trio.lowlevel.checkpoint()
            with pytest.raises(SocketStatusError) as caught:
                stream.write(b"y" * 70000)  # over the limit, at once
            assert caught.value.status == SocketErrorStatus.MESSAGE_TOO_LONG
            del failed, caught
            gc.collect()
            with pytest.raises(SocketStatusError) as caught:
                stream.write(b"not made")
            assert caught.value.status == SocketErrorStatus.MESSAGE_TOO_LONG
            assert await stream.write(b"goes on") == 7
            assert await stream.flush() is True
        assert peer.recv(70000) == b"goes on"


async def test_cancel_io_leaves_a_task_waiting_for_a_datagram_waiting() -> None:
    """A datagram socket has no pending read for ``cancel_io()`` to abort: datagrams
    are its MessageReceived event, as in WinRT. A task waiting in
    ``message_received.receive()`` keeps waiting through it, and gets the next datagram;
    closing the socket ends such a wait."""
    with trio.fail_after(10), raw_udp() as peer:
        async with DatagramSocket() as sock:
            await sock.connect(LOCALHOST, str(peer.getsockname()[1]))
            address = ("127.0.0.1", int(sock.information.local_port))
            got: list[bytes | type[trio.EndOfChannel]] = []

            async def receive_one() -> None:
                try:
                    got.append((await sock.message_received.receive()).data)
                except trio.EndOfChannel:
                    got.append(trio.EndOfChannel)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(receive_one)
                await trio.testing.wait_all_tasks_blocked()
                sock.output_stream.write(b"sent")
                pending = sock.output_stream.write(b"aborted")
                await sock.cancel_io()
                with pytest.raises(SocketStatusError) as caught:
                    await pending  # cancel_io() did abort what was pending
                assert caught.value.status == SocketErrorStatus.OPERATION_ABORTED
                await trio.testing.wait_all_tasks_blocked()
                assert sock.message_received.statistics().tasks_waiting_receive == 1
                assert got == []
                peer.sendto(b"after cancel_io", address)
            assert got == [b"after cancel_io"]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(receive_one)
                await trio.testing.wait_all_tasks_blocked()
                await sock.cancel_io()
                await trio.testing.wait_all_tasks_blocked()
                assert got == [b"after cancel_io"]
                await sock.aclose()
            assert got == [b"after cancel_io", trio.EndOfChannel]
            assert peer.recv(10) == b"sent"


class _StuckResolver(Resolver):
    async def resolve_port(self, service: str, protocol: object, *, local: bool) -> int:  # type: ignore[override]
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover


async def test_cancel_io_aborts_a_pending_connect() -> None:
    with trio.fail_after(10):
        async with DatagramSocket(resolver=_StuckResolver()) as sock:
            errors = await cancel_io_during(
                sock, lambda: sock.connect(HostName("example.invalid"), "9")
            )
            assert [SocketError.get_status(e) for e in errors] == [
                SocketErrorStatus.OPERATION_ABORTED
            ]


async def test_opening_while_another_task_connects_is_busy() -> None:
    errors: list[OSError] = []

    async def connect(sock: DatagramSocket) -> None:
        try:
            await sock.connect(HostName("example.invalid"), "9")
        except OSError as error:
            errors.append(error)

    with trio.fail_after(10):
        async with DatagramSocket(resolver=_StuckResolver()) as sock:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(connect, sock)
                await trio.testing.wait_all_tasks_blocked()
                busy = "another task is already running connect on this DatagramSocket"
                with pytest.raises(trio.BusyResourceError, match=f"^bind: {busy}"):
                    await sock.bind_service_name("0")
                with pytest.raises(trio.BusyResourceError, match=f"^connect: {busy}"):
                    await sock.connect(LOCALHOST, "9")
                with pytest.raises(trio.BusyResourceError, match=f"^get_output_stream: {busy}"):
                    await sock.get_output_stream(LOCALHOST, "9")
                await sock.cancel_io()
            assert [SocketError.get_status(e) for e in errors] == [
                SocketErrorStatus.OPERATION_ABORTED
            ]
            assert repr(sock) == "<DatagramSocket (new)>"


async def test_leaving_the_block_flushes_and_unseen_failures_surface() -> None:
    with trio.fail_after(10), raw_udp() as peer:
        async with DatagramSocket() as sock:
            await sock.connect(LOCALHOST, str(peer.getsockname()[1]))
            for index in range(100):
                sock.output_stream.write(b"%03d" % index)
        assert [peer.recv(10) for _ in range(100)] == [b"%03d" % n for n in range(100)]


async def test_no_fd_or_task_leak_over_100_lifecycles() -> None:
    async def lifecycle() -> None:
        async with DatagramSocket() as server, DatagramSocket() as client:
            port = await bound(server)
            await client.connect(LOCALHOST, str(port))
            for _ in range(5):
                client.output_stream.write(b"ping")
            await client.output_stream.flush()
            args = None
            for _ in range(5):
                args = await receive(server)
            assert args is not None
            assert args.remote_address is not None
            reply = await server.get_output_stream(args.remote_address, args.remote_port)
            await reply.write(b"pong")
            assert await receive_data(client) == b"pong"

    with trio.fail_after(60):
        await lifecycle()  # warm up lazily created resources
        fds, tasks = open_fd_count(), len(live_tasks())
        for _ in range(100):
            await lifecycle()
        assert open_fd_count() == fds
        assert len(live_tasks()) == tasks


async def test_an_exception_in_the_block_propagates_unwrapped() -> None:
    sock = DatagramSocket()

    async def fail_inside() -> None:
        async with sock:
            await bound(sock)
            raise KeyError("mine")

    with pytest.raises(KeyError):
        await fail_inside()
    with pytest.raises(trio.EndOfChannel):
        sock.message_received.receive_nowait()


async def _settle(condition: Callable[[], bool], passes: int = 200) -> None:
    """Let every task run until *condition* holds; a mock clock never times out, so the
    wait is bounded by scheduler passes instead."""
    for _ in range(passes):
        if condition():
            return
        await trio.testing.wait_all_tasks_blocked()
        await trio.lowlevel.checkpoint()
    raise AssertionError(f"not reached in {passes} scheduler passes")


async def test_a_stalled_process_does_not_make_a_keeping_up_consumer_lose_datagrams(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The full-channel patience is wall time; time that passed while the whole process
    was not running (a busy machine) must not count against the consumer."""
    async with DatagramSocket(message_queue_size=1) as sock:
        port = await bound(sock)
        may_consume = trio.Event()
        got: list[bytes] = []
        async with trio.open_nursery() as nursery:

            async def consume() -> None:
                await may_consume.wait()
                async for args in sock.message_received:
                    got.append(args.data)

            nursery.start_soon(consume)
            with raw_udp() as sender:
                sender.sendto(b"first", ("127.0.0.1", port))
                sender.sendto(b"second", ("127.0.0.1", port))
                # The receive task has put "first" in the channel and waits for room
                # for "second".
                await _settle(lambda: sock.message_received.statistics().tasks_waiting_send > 0)
                # The process "was not running" for a second, and the consumer is
                # runnable only now: it must still get both.
                mock_clock.jump(1)
                may_consume.set()
                await _settle(lambda: len(got) == 2 or sock.information.dropped_message_count > 0)
            nursery.cancel_scope.cancel()
        assert got == [b"first", b"second"]
        assert sock.information.dropped_message_count == 0


@pytest.mark.parametrize(
    ("local", "remote"), [("127.0.0.1", "::1"), ("::1", "127.0.0.1")], ids=["v4-to-v6", "v6-to-v4"]
)
@pytest.mark.parametrize("method", ["connect", "get_output_stream"])
async def test_an_endpoint_pair_of_two_families_is_refused_at_the_call(
    local: str, remote: str, method: str
) -> None:
    """A local side of one family and a remote of the other cannot meet: the call fails
    with ADDRESS_FAMILY_NOT_SUPPORTED, as StreamSocket's connect does, and the socket
    stays unbound and usable."""
    with raw_udp() as peer, trio.fail_after(10):
        port = str(peer.getsockname()[1])
        async with DatagramSocket() as sock:
            pair = EndpointPair(HostName(local), "0", HostName(remote), "9")
            with pytest.raises(SocketStatusError) as caught:
                await getattr(sock, method)(pair)
            assert caught.value.status == SocketErrorStatus.ADDRESS_FAMILY_NOT_SUPPORTED
            assert remote in str(caught.value)
            assert local in str(caught.value)
            assert sock.information.local_port == ""
            # Still usable: the same socket reaches a remote of the right family.
            stream = await sock.get_output_stream(
                EndpointPair(HostName("127.0.0.1"), "0", LOCALHOST, port)
            )
            await stream.write(b"after the refusal")
            await stream.flush()
            assert peer.recv(100) == b"after the refusal"


@pytest.mark.parametrize("remote", ["127.0.0.1", "::1"], ids=["v4", "v6"])
@pytest.mark.parametrize("method", ["connect", "get_output_stream"])
async def test_a_local_host_of_both_families_meets_the_remote_in_its_family(
    remote: str, method: str
) -> None:
    """``localhost`` as an endpoint pair's local side is every loopback address: the
    socket binds the one of the remote's family, as StreamSocket's connect does. On a
    socket already bound to one of them the pair applies, and on one bound to every
    address its datagrams leave from the one of the remote's family. Before, only the
    first (``::1``) counted: an IPv4 remote was refused with
    ADDRESS_FAMILY_NOT_SUPPORTED, and a socket bound to 127.0.0.1 as "already bound"."""
    with raw_udp(remote) as peer, trio.fail_after(10):
        port = str(peer.getsockname()[1])
        pair = EndpointPair(HostName("localhost"), "", HostName(remote), port)
        for prepare in (None, remote, "::"):
            async with DatagramSocket() as sock:
                if prepare is not None:
                    await bound(sock, prepare)
                if prepare == "::" and method == "connect":
                    with pytest.raises(RuntimeError, match="already bound"):
                        await sock.connect(pair)  # connect takes no source address
                    continue
                opened = await getattr(sock, method)(pair)
                stream = sock.output_stream if method == "connect" else opened
                await stream.write(b"to " + remote.encode())
                await stream.flush()
                data, source = peer.recvfrom(100)
                assert data == b"to " + remote.encode()
                assert source[0] == remote
                if prepare != "::":
                    assert sock.information.local_address == HostName(remote)


@pytest.mark.parametrize(
    ("local", "remote"), [("127.0.0.1", "::1"), ("::1", "127.0.0.1")], ids=["v4-to-v6", "v6-to-v4"]
)
async def test_a_refused_family_leaves_nothing_to_fail_in_the_nursery(
    local: str, remote: str
) -> None:
    """The refused call made no stream, so no unawaited write fails later in the
    socket's nursery: the block ends cleanly."""
    status = None
    with trio.fail_after(10):
        async with DatagramSocket() as sock:
            pair = EndpointPair(HostName(local), "0", HostName(remote), "9")
            try:
                stream = await sock.get_output_stream(pair)
            except SocketStatusError as exc:
                status = exc.status
            else:
                for _ in range(3):
                    stream.write(b"never sent")
    assert status == SocketErrorStatus.ADDRESS_FAMILY_NOT_SUPPORTED


async def test_a_bound_socket_picks_the_remote_address_of_its_own_family(
    dns_server: DnsServerFactory,
) -> None:
    """A host with IPv6 and IPv4 addresses, IPv6 first: a socket whose endpoint pair binds
    it to an IPv4 address sends to the IPv4 one instead of failing."""
    with raw_udp() as peer, trio.fail_after(10):
        port = str(peer.getsockname()[1])
        server = await dns_server(hosts={"both.test": ["::1", "127.0.0.1"]})
        for method in ("connect", "get_output_stream"):
            async with DatagramSocket(resolver=server.resolver()) as sock:
                pair = EndpointPair(HostName("127.0.0.1"), "0", HostName("both.test"), port)
                result = await getattr(sock, method)(pair)
                stream = sock.output_stream if result is None else result
                await stream.write(method.encode())
                await stream.flush()
                assert peer.recv(100) == method.encode()


async def test_binding_to_an_address_the_host_lacks_fails_as_the_bind() -> None:
    """The bound address is also the default multicast interface; an address no
    interface has must fail naming the bind, not the multicast option set before it."""
    with network_namespace("tsdb") as name, inside(name), trio.fail_after(10):
        async with DatagramSocket() as sock:
            with pytest.raises(SocketStatusError) as caught:
                await sock.bind_endpoint(HostName("203.0.113.7"), "0")
            assert caught.value.status == SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS
            assert "bind a DatagramSocket to 203.0.113.7:0" in str(caught.value)


_LOOKUPS: dict[str, Callable[[DatagramSocket], object]] = {
    "bind_endpoint": lambda sock: sock.bind_endpoint("silent.test", "0"),
    "connect": lambda sock: sock.connect("silent.test", "9"),
    "get_output_stream": lambda sock: sock.get_output_stream("silent.test", "9"),
}


@pytest.mark.parametrize("operation", sorted(_LOOKUPS))
async def test_closing_aborts_a_pending_lookup_and_options_wait_for_no_open(
    operation: str,
) -> None:
    """An open that waits on a name server that never answers: a before-open option set
    meanwhile is refused (the open may happen any moment, and would not apply it), and
    closing the socket ends the operation at once, as ``cancel_io()`` does, not when
    the resolver gives up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent_name_server:
        silent_name_server.bind(("127.0.0.1", 0))
        port = silent_name_server.getsockname()[1]
        resolver = Resolver(["127.0.0.1"], port, timeout=60, attempts=1)
        errors: list[BaseException] = []
        with trio.fail_after(5):
            async with DatagramSocket(resolver=resolver) as sock:

                async def run() -> None:
                    try:
                        await _LOOKUPS[operation](sock)  # type: ignore[misc]
                    except (OSError, trio.ClosedResourceError) as error:
                        errors.append(error)

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(run)
                    await trio.testing.wait_all_tasks_blocked()
                    if operation != "get_output_stream":  # it opens without awaiting
                        with pytest.raises(RuntimeError, match="being opened by another task"):
                            sock.control.multicast_only = True
                    start = trio.current_time()
                    await sock.aclose()
                assert trio.current_time() - start < 1
        assert [SocketError.get_status(e) for e in errors] == [SocketErrorStatus.OPERATION_ABORTED]
        assert isinstance(errors[0], trio.ClosedResourceError)
