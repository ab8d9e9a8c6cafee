"""Datagrams that routing refuses with ``EINVAL``: a blackhole route, a source that
cannot reach the remote. In throwaway network namespaces (skipped where they cannot
be made); nothing is sent outside them."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
import trio
from netns import inside, ip, network_namespace

from trio_sockets import (
    DatagramSocket,
    EndpointPair,
    HostName,
    SocketError,
    SocketErrorStatus,
    SocketStatusError,
)

#: Blackholed in the test's namespace (TEST-NET-2, and the documentation prefix's).
BLACKHOLED = {
    "v4": ("198.51.100.7", "198.51.100.0/24"),
    "v6": ("2001:db8:97::7", "2001:db8:97::/64"),
}


@contextlib.contextmanager
def receiver(family: socket.AddressFamily) -> Iterator[tuple[socket.socket, str]]:
    """A plain UDP socket bound to every address (of this namespace), and its port."""
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        sock.settimeout(5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        yield sock, str(sock.getsockname()[1])


@pytest.mark.parametrize("version", ["v4", "v6"])
async def test_a_blackhole_route_fails_each_write_explained_and_batches_keep_their_segments(
    version: str,
) -> None:
    """A blackhole route makes the kernel refuse each datagram with ``EINVAL``. Each
    write fails with ``UNREACHABLE_HOST`` and a message that says why, also in a batch
    (runs of equal datagrams, sent with UDP segmentation offload, each tried alone
    first); and a refused run is not taken for segments over the path MTU: once the
    route is gone, the stream still sends its equal datagrams many to a system call.
    Before: ``[Errno 22] Invalid argument (UNKNOWN)``, and the stream sent datagrams of
    that size one per call from then on."""
    host, prefix = BLACKHOLED[version]
    family = socket.AF_INET6 if version == "v6" else socket.AF_INET
    six = ["-6"] if version == "v6" else []
    with network_namespace("tsbh") as name:
        ip("-n", name, *six, "route", "add", "blackhole", prefix)
        with inside(name), trio.fail_after(10), receiver(family) as (peer, port):
            async with DatagramSocket() as sock:
                stream = await sock.get_output_stream(HostName(host), port)
                with pytest.raises(SocketStatusError) as caught:
                    await stream.write(b"x" * 10)
                assert caught.value.status == SocketErrorStatus.UNREACHABLE_HOST
                assert "blackhole route" in str(caught.value)
                assert "Invalid argument" in str(caught.value)
                operations = [stream.write(b"y" * 100) for _ in range(200)]
                statuses = set()
                for operation in operations:
                    with pytest.raises(SocketStatusError, match="blackhole") as failed:
                        await operation
                    statuses.add(SocketError.get_status(failed.value))
                assert statuses == {SocketErrorStatus.UNREACHABLE_HOST}
                assert await stream.flush() is True  # every failure was seen

                ip("-n", name, *six, "route", "del", "blackhole", prefix)
                ip("-n", name, *six, "addr", "add", host, "dev", "lo", *(["nodad"] if six else []))
                calls = stream.send_calls
                for index in range(128):
                    stream.write(bytes([index]) * 100)
                await stream.flush()
                # The first alone (write() sends it), the other 127 in one call.
                assert stream.send_calls - calls == 2
            assert [peer.recv(200) for _ in range(128)] == [bytes([i]) * 100 for i in range(128)]


@contextlib.contextmanager
def namespace_with_a_link() -> Iterator[str]:
    """A namespace with ``lo`` and a veth pair ``v0``-``v1`` (both ends in it):
    203.0.113.1/24 and 2001:db8::1/64 on ``v0``, the link-local fe80::1 on ``v0``."""
    with network_namespace("tsls") as name:
        ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip("-n", name, "link", "set", "v0", "addrgenmode", "none")
        ip("-n", name, "addr", "add", "203.0.113.1/24", "dev", "v0")
        ip("-n", name, "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad")
        ip("-n", name, "addr", "add", "fe80::1/64", "dev", "v0", "nodad")
        ip("-n", name, "link", "set", "v0", "up")
        ip("-n", name, "link", "set", "v1", "up")
        yield name


@pytest.mark.parametrize(
    ("local", "remote"),
    [("127.0.0.2", "203.0.113.2"), ("::1", "fe80::2%v0")],
    ids=["v4", "v6-link-local"],
)
async def test_a_loopback_source_toward_another_interface_is_refused_at_the_call(
    local: str, remote: str
) -> None:
    """``get_output_stream`` with a local address to send from that is an address of
    this host but cannot reach the remote (a loopback address toward another
    interface, which the kernel refuses with ``EINVAL``) raises
    ``CANNOT_ASSIGN_REQUESTED_ADDRESS`` naming both addresses, as for a local address
    that is none of this host's. The same source toward a loopback remote works.
    Before, the stream was made and every write failed with ``[Errno 22] Invalid
    argument (UNKNOWN)``."""
    with namespace_with_a_link() as name, inside(name), trio.fail_after(10):
        async with DatagramSocket() as sock:
            await sock.bind_service_name("")
            with pytest.raises(SocketStatusError) as caught:
                await sock.get_output_stream(
                    EndpointPair(HostName(local), "", HostName(remote), "9")
                )
            assert caught.value.status == SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS
            message = str(caught.value)
            assert local in message
            assert remote.partition("%")[0] in message
            family = socket.AF_INET6 if ":" in local else socket.AF_INET
            with receiver(family) as (peer, port):
                loopback = "::1" if ":" in local else "127.0.0.1"
                stream = await sock.get_output_stream(
                    EndpointPair(HostName(local), "", HostName(loopback), port)
                )
                assert await stream.write(b"from the loopback") == 17
                assert peer.recvfrom(100)[0] == b"from the loopback"


async def test_a_source_is_not_refused_for_a_blackhole_route_that_refuses_every_source() -> None:
    """A blackhole route refuses the remote from any source: that is no fault of the
    local address asked for, so the stream is made, as one without a local address is,
    and each write fails with the route's explanation."""
    with namespace_with_a_link() as name:
        ip("-n", name, "route", "add", "blackhole", BLACKHOLED["v4"][1])
        with inside(name), trio.fail_after(10):
            async with DatagramSocket() as sock:
                await sock.bind_service_name("")
                stream = await sock.get_output_stream(
                    EndpointPair(HostName("203.0.113.1"), "", HostName(BLACKHOLED["v4"][0]), "9")
                )
                with pytest.raises(SocketStatusError) as caught:
                    await stream.write(b"x")
                assert caught.value.status == SocketErrorStatus.UNREACHABLE_HOST
                assert "blackhole route" in str(caught.value)
