"""IPv6 link-local addresses and their scopes (``%interface``), between two network
namespaces joined by two links (:func:`netns.two_links`), where an address without its
scope is ambiguous and a datagram sent by the wrong link is lost.

What the library reports names the scope by interface index, as Windows does, so that
it can be given back to it (the WinRT way of answering a sender).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
import trio
from conftest import receive_exactly, wait_until
from netns import inside, ip, two_links

from trio_sockets import (
    DatagramSocket,
    EndpointPair,
    HostName,
    SocketProtectionLevel,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets._core.linux import index_of_interface_holding
from trio_sockets.testing import TlsCertificates, UdpEchoServer


@pytest.fixture
def links() -> Iterator[tuple[str, str]]:
    with two_links() as namespaces:
        yield namespaces


def index(namespace: str, device: str) -> int:
    """The interface index of *device* in *namespace*."""
    with inside(namespace):
        return socket.if_nametoindex(device)


def scoped(address: str, namespace: str, device: str) -> HostName:
    """*address* with the scope of *device* in *namespace*, as the library reports it."""
    return HostName(f"{address}%{index(namespace, device)}")


async def receive_data(sock: DatagramSocket) -> bytes:
    with trio.fail_after(5):
        return (await sock.message_received.receive()).data


async def assert_nothing_arrives(sock: DatagramSocket, wait: float = 0.3) -> None:
    with trio.move_on_after(wait):
        args = await sock.message_received.receive()
        pytest.fail(f"unexpected datagram {args!r}: {args.data!r}")


# -- what is reported keeps the scope ------------------------------------------------------


async def test_an_accepted_link_local_peer_is_reported_with_its_scope_and_reached_back(
    links: tuple[str, str],
) -> None:
    a, b = links
    with trio.fail_after(10):
        async with StreamSocketListener() as in_b, StreamSocketListener() as in_a:
            with inside(b):
                await in_b.bind_service_name("")
            with inside(a):
                await in_a.bind_service_name("")
            async with StreamSocket() as client:
                with inside(a):
                    await client.connect(HostName("fe80::d%c0"), in_b.information.local_port)
                assert client.information.remote_address == scoped("fe80::d", a, "c0")
                assert client.information.local_address == scoped("fe80::c", a, "c0")
                args = await in_b.connection_received.receive()
                async with args.socket as accepted:
                    peer = accepted.information.remote_host_name
                    assert peer is not None
                    assert peer == scoped("fe80::c", b, "d0")
                    assert accepted.information.remote_address == peer
                    assert accepted.information.local_address == scoped("fe80::d", b, "d0")
                    assert f"[fe80::c%{index(b, 'd0')}]" in repr(accepted)
                    async with StreamSocket() as back:
                        with inside(b):
                            await back.connect(peer, in_a.information.local_port)
                        assert back.information.remote_address == peer
                    await (await in_a.connection_received.receive()).socket.aclose()


async def test_a_datagram_answered_at_its_reported_sender_arrives_by_the_link_it_came_by(
    links: tuple[str, str],
) -> None:
    """The WinRT echo: ``get_output_stream(args.remote_address, args.remote_port)``. B has
    two links to A; the answer must leave by the one the datagram came in on."""
    a, b = links
    with trio.fail_after(10):
        async with DatagramSocket() as server, DatagramSocket() as client:
            with inside(b):
                await server.bind_service_name("")
            with inside(a):
                await client.bind_service_name("")
                out = await client.get_output_stream(
                    HostName("fe80::d%c0"), server.information.local_port
                )
            await out.write(b"ping")
            args = await server.message_received.receive()
            assert args.remote_address is not None
            assert args.remote_address == scoped("fe80::c", b, "d0")
            assert args.local_address == scoped("fe80::d", b, "d0")
            with inside(b):
                reply = await server.get_output_stream(args.remote_address, args.remote_port)
            await reply.write(b"pong")
            assert await receive_data(client) == b"pong"


async def test_an_echo_server_on_every_address_answers_from_the_link_local_address_sent_to(
    links: tuple[str, str],
) -> None:
    """B's d0 gets a second link-local address, which the kernel's source selection
    then picks for every answer by d0: a client connected to the first, fe80::d, got
    its echo from fe80::dd and dropped it. Each gets it from the address it sent to."""
    a, b = links
    ip("-n", b, "addr", "add", "fe80::dd/64", "dev", "d0", "nodad")
    with trio.fail_after(10), contextlib.ExitStack() as closing:
        with inside(a):
            plain = [
                closing.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
                for _ in range(2)
            ]
        with inside(b):
            async with UdpEchoServer(HostName("::")) as server:
                for sock, address in zip(plain, ("fe80::d", "fe80::dd"), strict=True):
                    sock.connect((address, int(server.port), 0, index(a, "c0")))
                    sock.setblocking(False)
                    client = trio.socket.from_stdlib_socket(sock)
                    await client.send(f"to {address}".encode())
                    assert await client.recv(100) == f"to {address}".encode()
                assert server.datagrams_echoed == 2


async def test_endpoint_pairs_of_a_scoped_literal_keep_the_scope_and_connect(
    links: tuple[str, str],
) -> None:
    a, b = links
    with trio.fail_after(10):
        async with StreamSocketListener() as listener:
            with inside(b):
                await listener.bind_service_name("")
            port = listener.information.local_port
            with inside(a):
                pairs = await StreamSocket.get_endpoint_pairs(HostName("fe80::d%c0"), port)
            assert [(p.local_host_name, p.remote_host_name) for p in pairs] == [
                (scoped("fe80::c", a, "c0"), scoped("fe80::d", a, "c0"))
            ]
            async with StreamSocket() as client:
                with inside(a):
                    await client.connect(pairs[0])
                assert client.information.remote_address == scoped("fe80::d", a, "c0")
                await (await listener.connection_received.receive()).socket.aclose()


async def test_tls_to_a_scoped_address_checks_the_certificate_without_the_scope(
    links: tuple[str, str], tls_certificates: TlsCertificates
) -> None:
    """The scope picks the link; the certificate's IP entry names the address alone: a
    certificate for ``fe80::d`` serves ``fe80::d%c0``."""
    a, b = links
    with trio.fail_after(10):
        async with StreamSocketListener() as listener:
            listener.control.server_certificate = tls_certificates.issue("fe80::d")
            with inside(b):
                await listener.bind_service_name("", SocketProtectionLevel.SSL)
            port = listener.information.local_port
            async with StreamSocket() as client:
                client.control.trusted_certificates.append(tls_certificates.authority)
                with inside(a):
                    await client.connect(HostName("fe80::d%c0"), port, SocketProtectionLevel.SSL)
                assert client.information.server_certificate_errors == []
                args = await listener.connection_received.receive()
                async with args.socket as accepted:
                    await client.send_all(b"over the link")
                    assert await receive_exactly(accepted, 13) == b"over the link"


# -- the connected-datagram filter -----------------------------------------------------------


async def test_a_connected_datagram_socket_drops_a_queued_datagram_from_its_remote_on_another_link(
    links: tuple[str, str],
) -> None:
    """The same link-local address and port on another link is another sender."""
    a, b = links
    ip("-n", b, "addr", "add", "fe80::99/64", "dev", "b0", "nodad")
    ip("-n", b, "addr", "add", "fe80::99/64", "dev", "d0", "nodad")
    with trio.fail_after(10), contextlib.ExitStack() as senders:
        async with DatagramSocket() as receiver:
            with inside(a):
                await receiver.bind_service_name("")
            port = int(receiver.information.local_port)
            with inside(b):
                on_b0 = senders.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
                on_d0 = senders.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
                on_b0.bind(("fe80::99", 0, 0, socket.if_nametoindex("b0")))
                sender_port = on_b0.getsockname()[1]
                on_d0.bind(("fe80::99", sender_port, 0, socket.if_nametoindex("d0")))
                on_b0.sendto(b"by a0", ("fe80::a", port, 0, socket.if_nametoindex("b0")))
                on_d0.sendto(b"by c0", ("fe80::c", port, 0, socket.if_nametoindex("d0")))
            await wait_until(lambda: receiver.information.received_message_count == 2)
            with inside(a):
                await receiver.connect(HostName("fe80::99%a0"), str(sender_port))
            assert await receive_data(receiver) == b"by a0"
            await assert_nothing_arrives(receiver)


# -- scopes missing or at odds ----------------------------------------------------------------


async def test_a_link_local_remote_without_a_scope_is_refused_by_name(
    links: tuple[str, str],
) -> None:
    """Which link is meant cannot be told: the kernel's EINVAL said nothing (``UNKNOWN``),
    and a datagram left by whichever link routing picked."""
    a, _ = links
    with trio.fail_after(10), inside(a):
        async with StreamSocket() as stream, DatagramSocket() as datagram:
            with pytest.raises(ValueError, match=r"'fe80::d' needs a %scope") as caught:
                await stream.connect(HostName("fe80::d"), "9")
            assert "connect to [fe80::d]:9" in str(caught.value)
            with pytest.raises(ValueError, match=r"'fe80::d' needs a %scope"):
                await datagram.get_output_stream(HostName("fe80::d"), "9")
            with pytest.raises(ValueError, match=r"'fe80::d' needs a %scope"):
                await datagram.connect(HostName("fe80::d"), "9")
            assert datagram.information.local_address is None  # left unbound


async def test_an_accepted_connection_to_a_link_local_address_from_any_peer_has_its_scope(
    links: tuple[str, str],
) -> None:
    """Linux gives an accepted socket its link only when the peer is link-local too: a
    peer with a global (here unique local) address reached fe80::b%b0, and the accepted
    socket reported fe80::b with no scope, where a datagram socket reports fe80::b%b0."""
    a, b = links
    ip("-n", a, "addr", "add", "fd00:ab::a/64", "dev", "a0", "nodad")
    ip("-n", b, "addr", "add", "fd00:ab::b/64", "dev", "b0", "nodad")
    a0, expected = index(a, "a0"), scoped("fe80::b", b, "b0")
    with inside(a):
        client = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with trio.fail_after(10), client, inside(b):
        async with StreamSocketListener() as listener:
            await listener.bind_service_name("")
            client.bind(("fd00:ab::a", 0))
            client.setblocking(False)
            client.connect_ex(("fe80::b", int(listener.information.local_port), 0, a0))
            args = await listener.connection_received.receive()
            async with args.socket as accepted:
                assert accepted.information.remote_address == HostName("fd00:ab::a")
                assert accepted.information.local_address == expected


def test_the_interface_holding_an_address_is_found_by_its_index() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as here:
        assert index_of_interface_holding("::1", here) == socket.if_nametoindex("lo")
        assert index_of_interface_holding("fe80::dead:beef:1:2", here) == 0  # nobody holds it
        assert index_of_interface_holding("not an address", here) == 0


def test_the_interface_is_not_looked_up_in_another_namespace_than_the_sockets(
    links: tuple[str, str],
) -> None:
    """A socket made in namespace B, asked about from A, where fe80::a is on a0: the
    table the thread sees is A's, not the socket's, so no index (it reported A's)."""
    a, b = links
    with inside(b):
        theirs = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with theirs, inside(a):
        assert index_of_interface_holding("fe80::a", theirs) == 0
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as ours:
            assert index_of_interface_holding("fe80::a", ours) == socket.if_nametoindex("a0")


async def test_a_link_local_local_side_without_a_scope_is_refused_by_name() -> None:
    """Binding ``fe80::1`` (no ``%eth0``) failed in the kernel with a bare "Invalid
    argument", status ``UNKNOWN``: a listener, a datagram socket and an endpoint pair's
    local side are refused before any system call, and stay usable."""
    needs_scope = r"\[fe80::1\]:0: the link-local address 'fe80::1' needs a %scope"
    pair = EndpointPair(HostName("fe80::1"), "", HostName("::1"), "9")
    with trio.fail_after(10):
        async with StreamSocketListener() as listener:
            with pytest.raises(ValueError, match=f"bind a listener to {needs_scope}"):
                await listener.bind_endpoint("fe80::1", "0")
            await listener.bind_endpoint("::1", "0")
        async with DatagramSocket() as datagram:
            with pytest.raises(ValueError, match=f"bind a DatagramSocket to {needs_scope}"):
                await datagram.bind_endpoint("fe80::1", "0")
            with pytest.raises(ValueError, match=needs_scope):
                await datagram.connect(pair)
            assert datagram.information.local_address is None  # left unbound
            await datagram.bind_endpoint("::1", "0")
        async with StreamSocket() as stream:
            with pytest.raises(ValueError, match=f"bind to the local {needs_scope}") as caught:
                await stream.connect(pair)
            assert "connect to [::1]:9" in str(caught.value)


async def test_an_endpoint_pair_on_two_links_is_refused_by_name(links: tuple[str, str]) -> None:
    a, _ = links
    pair = EndpointPair(HostName("fe80::a%a0"), "", HostName("fe80::d%c0"), "9")
    with trio.fail_after(10), inside(a):
        for sock in (StreamSocket(), DatagramSocket()):
            async with sock:
                with pytest.raises(ValueError, match="on another link than") as caught:
                    await sock.connect(pair)
                message = str(caught.value)
                assert f"fe80::d%{socket.if_nametoindex('c0')} (interface 'c0')" in message
                assert f"fe80::a%{socket.if_nametoindex('a0')} (interface 'a0')" in message


async def test_a_link_local_remote_without_a_scope_takes_the_local_sides(
    links: tuple[str, str],
) -> None:
    """Bound to a scoped link-local address, a socket has its link: the kernel sends by it."""
    a, b = links
    with trio.fail_after(10):
        async with StreamSocketListener() as listener, DatagramSocket() as receiver:
            with inside(b):
                await listener.bind_service_name("")
                await receiver.bind_service_name("")
            async with StreamSocket() as client, DatagramSocket() as sender:
                with inside(a):
                    await client.connect(
                        EndpointPair(
                            HostName("fe80::c%c0"),
                            "",
                            HostName("fe80::d"),
                            listener.information.local_port,
                        )
                    )
                    await sender.bind_endpoint("fe80::c%c0", "0")
                    out = await sender.get_output_stream(
                        HostName("fe80::d"), receiver.information.local_port
                    )
                assert client.information.remote_address == scoped("fe80::d", a, "c0")
                assert sender.information.remote_address == scoped("fe80::d", a, "c0")
                await out.write(b"by c0")
                assert await receive_data(receiver) == b"by c0"
                await (await listener.connection_received.receive()).socket.aclose()
