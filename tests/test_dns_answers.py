"""What a name server's answer may hold that no caller would give: an unscoped link-local
address, an unspecified one, an IP literal as an SRV target, a silent AAAA query,
thousands of addresses; and connects by name from a fixed local port.

The answers come from :func:`dns_answers.hostile_dns`, a DNS server on 127.0.0.1 that
answers each query with what the test says; every connection stays on loopback.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.SRV
import dns.rrset
import pytest
import trio
from conftest import free_tcp_port
from dns_answers import hostile_dns, qname, qtype, reply, rrset

from trio_sockets import (
    DatagramSocket,
    EndpointPair,
    HostName,
    Resolver,
    SocketError,
    SocketErrorStatus,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)

S = SocketErrorStatus


def quick_resolver(port: int) -> Resolver:
    return Resolver(["127.0.0.1"], port, timeout=1, attempts=1)


@pytest.fixture
def tcp_listener() -> Iterator[tuple[socket.socket, int]]:
    """A TCP listener on 127.0.0.1 (nothing accepts: the kernel completes connects)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        yield listening, listening.getsockname()[1]


def assert_no_addresses(error: BaseException, *names: str) -> None:
    assert isinstance(error, SocketStatusError), repr(error)
    assert error.status == S.NO_ADDRESSES_FOUND, error
    assert SocketError.get_status(error) == S.NO_ADDRESSES_FOUND
    for name in names:
        assert name in str(error), error


# -- an unscoped link-local address -------------------------------------------------------


def _link_local_zone(port: int) -> Callable[[dns.message.Message, bool], bytes]:
    """ll.test: only fe80::1; both.test: fe80::1 and 127.0.0.1; ok.test: 127.0.0.1;
    _x._tcp/_udp.h.test: SRV to ll.test (priority 1), then ok.test (priority 2)."""

    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        name, kind = qname(query).to_text(), qtype(query)
        if name in ("_x._tcp.h.test.", "_x._udp.h.test.") and kind == "SRV":
            return reply(query, rrset(name, "SRV", f"1 0 {port} ll.test.", f"2 0 {port} ok.test."))
        if name in ("ll.test.", "both.test.") and kind == "AAAA":
            return reply(query, rrset(name, "AAAA", "fe80::1"))
        if name in ("ok.test.", "both.test.") and kind == "A":
            return reply(query, rrset(name, "A", "127.0.0.1"))
        return reply(query)

    return respond


async def test_a_link_local_answer_is_skipped_and_fails_classified_when_alone(
    tcp_listener: tuple[socket.socket, int],
) -> None:
    """An unscoped fe80::1 from DNS is no caller's bad argument: a connect to a name with
    nothing else fails NO_ADDRESSES_FOUND (an OSError), the SRV connect falls through to
    the next target, and a datagram socket uses the name's IPv4 address."""
    _, port = tcp_listener
    async with hostile_dns(_link_local_zone(port)) as dns_port:
        resolver = quick_resolver(dns_port)
        with trio.fail_after(10):
            async with StreamSocket(resolver=resolver) as client:
                with pytest.raises(OSError, match="no usable address") as caught:
                    await client.connect(HostName("ll.test"), str(port))
            assert_no_addresses(caught.value, "ll.test", "fe80::1", "link-local")
            async with StreamSocket(resolver=resolver) as client:
                await client.connect(HostName("h.test"), "x")
                assert client.information.remote_address == HostName("127.0.0.1")
            for host, service in [("both.test", str(port)), ("h.test", "x")]:
                async with DatagramSocket(resolver=resolver) as datagrams:
                    await datagrams.connect(HostName(host), service)
                    assert datagrams.information.remote_address == HostName("127.0.0.1")
                async with DatagramSocket(resolver=resolver) as datagrams:
                    stream = await datagrams.get_output_stream(HostName(host), service)
                    assert stream.destination is not None  # in its IPv4-mapped spelling
                    assert str(stream.destination[0]).endswith("127.0.0.1")
            async with DatagramSocket(resolver=resolver) as datagrams:
                with pytest.raises(OSError, match="no usable address") as caught:
                    await datagrams.connect(HostName("ll.test"), str(port))
            assert_no_addresses(caught.value, "ll.test", "fe80::1")
    # The caller's own literal is still a bad argument, named.
    async with StreamSocket() as client:
        with pytest.raises(ValueError, match="needs a %scope"):
            await client.connect(HostName("fe80::1"), str(port))


async def test_a_local_name_whose_answer_is_link_local_fails_classified(
    tcp_listener: tuple[socket.socket, int],
) -> None:
    _, port = tcp_listener
    async with hostile_dns(_link_local_zone(port)) as dns_port:
        resolver = quick_resolver(dns_port)
        with trio.fail_after(10):
            async with StreamSocket(resolver=resolver) as client:
                with pytest.raises(OSError, match="no usable address") as caught:
                    await client.connect(EndpointPair("ll.test", "", "127.0.0.1", str(port)))
            assert_no_addresses(caught.value, "ll.test", "fe80::1")
            async with DatagramSocket(resolver=resolver) as datagrams:
                with pytest.raises(OSError, match="no usable address") as caught:
                    await datagrams.bind_endpoint("ll.test", "")
            assert_no_addresses(caught.value, "ll.test", "fe80::1")
            async with StreamSocketListener(resolver=resolver) as listener:
                with pytest.raises(OSError, match="no usable address") as caught:
                    await listener.bind_endpoint("ll.test", "")
            assert_no_addresses(caught.value, "ll.test", "fe80::1")
            # Beside a usable address, the link-local one is left out.
            async with StreamSocketListener(resolver=resolver) as listener:
                await listener.bind_endpoint("both.test", "")
                async with StreamSocket() as client:
                    await client.connect(HostName("127.0.0.1"), listener.information.local_port)


# -- a name server that drops AAAA (or A) queries ---------------------------------------


@pytest.mark.parametrize("answered", ["A", "AAAA"])
async def test_one_family_answered_is_used_after_the_resolution_delay(answered: str) -> None:
    """A name server that never answers the other query: the lookup waits 50 ms more
    for it (RFC 8305's Resolution Delay), not the resolver's 6-second lifetime."""
    address = "127.0.0.1" if answered == "A" else "::1"

    def respond(query: dns.message.Message, tcp: bool) -> bytes | None:
        if qtype(query) != answered:
            return None  # dropped
        return reply(query, rrset(qname(query), answered, address))

    family = socket.AF_INET if answered == "A" else socket.AF_INET6
    with socket.socket(family) as listening:
        listening.bind((address, 0))
        listening.listen(16)
        port = listening.getsockname()[1]
        async with hostile_dns(respond) as dns_port:
            resolver = Resolver(["127.0.0.1"], dns_port)  # the defaults: 2 s x 3
            assert resolver.lifetime == 6
            started = time.monotonic()
            found = await resolver.resolve_addresses(HostName("www.test"), port, "tcp")
            assert time.monotonic() - started < 1.0
            assert [sockaddr[0] for _, sockaddr in found] == [address]
            with trio.fail_after(2):
                async with StreamSocket(resolver=resolver) as client:
                    client.control.connect_timeout = 1.5
                    await client.connect(HostName("www.test"), str(port))
                    assert client.information.remote_address == HostName(address)
                async with DatagramSocket(resolver=resolver) as datagrams:
                    await datagrams.connect(HostName("www.test"), str(port))
                    assert datagrams.information.remote_address == HostName(address)


# -- a fixed local port --------------------------------------------------------------------


async def test_a_fixed_local_port_falls_back_to_the_next_address_of_the_family() -> None:
    """two.test is 127.0.0.2, which drops SYNs (a full accept queue), then 127.0.0.1,
    which accepts: from a fixed local port, happy eyeballs' second attempt binds the
    same port while the first still holds it, and connects."""
    with socket.socket() as full, socket.socket() as accepting:
        full.bind(("127.0.0.2", 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = []
        try:
            for _ in range(3):  # fill the accept queue: later SYNs are dropped
                filler = socket.socket()
                fillers.append(filler)
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.2", port))
            accepting.bind(("127.0.0.1", port))
            accepting.listen(16)

            def respond(query: dns.message.Message, tcp: bool) -> bytes:
                if qtype(query) != "A":
                    return reply(query)
                return reply(
                    query, rrset(qname(query), "A", "127.0.0.2", "127.0.0.1"), shuffle=False
                )

            async with hostile_dns(respond) as dns_port:
                local_port = str(free_tcp_port())
                async with StreamSocket(resolver=quick_resolver(dns_port)) as client:
                    client.control.connect_timeout = 3
                    started = time.monotonic()
                    await client.connect(EndpointPair(None, local_port, "two.test", str(port)))
                    assert time.monotonic() - started < 2
                    assert client.information.remote_address == HostName("127.0.0.1")
                    assert client.information.local_port == local_port
        finally:
            for filler in fillers:
                filler.close()


# -- IP literals as SRV targets ---------------------------------------------------------------


def _srv(owner: dns.name.Name, *records: tuple[int, int, list[bytes]]) -> dns.rrset.RRset:
    result = dns.rrset.RRset(owner, dns.rdataclass.IN, dns.rdatatype.SRV)
    for priority, port, labels in records:
        target = dns.name.Name([*labels, b""])
        result.add(
            dns.rdtypes.IN.SRV.SRV(dns.rdataclass.IN, dns.rdatatype.SRV, priority, 0, port, target),
            60,
        )
    return result


LITERAL_TARGETS = {
    "colon": [b"::1"],
    "bracket": [b"[::1]"],
    "scoped": [b"::1%lo"],
    "quad": [b"127", b"0", b"0", b"1"],
}


@pytest.mark.parametrize("kind", sorted(LITERAL_TARGETS))
async def test_an_srv_target_that_reads_as_an_ip_literal_is_skipped(kind: str) -> None:
    labels = LITERAL_TARGETS[kind]

    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        name = qname(query)
        if qtype(query) == "SRV" and name.labels[2] == b"only":
            return reply(query, _srv(name, (1, 7, labels)))
        if qtype(query) == "SRV":
            return reply(query, _srv(name, (1, 7, labels), (2, 8, [b"ok", b"test"])))
        if name.to_text() == "ok.test." and qtype(query) == "A":
            return reply(query, rrset(name, "A", "127.0.0.1"))
        return reply(query, rcode=3)

    async with hostile_dns(respond) as dns_port:
        resolver = quick_resolver(dns_port)
        with trio.fail_after(5):
            with pytest.raises(SocketStatusError) as caught:
                await resolver.resolve_targets("only.test", "x", "tcp")
            assert_no_addresses(caught.value, "no SRV target is a valid host name")
            targets = await resolver.resolve_targets("mixed.test", "x", "tcp")
    assert [str(target) for target in targets] == ["ok.test:8"]


# -- unspecified addresses --------------------------------------------------------------------


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "::ffff:0.0.0.0"])
async def test_an_unspecified_address_is_no_remote(address: str) -> None:
    """Linux connects 0.0.0.0 and :: to this host (to a listener on 127.0.0.1 or ::1):
    from DNS the address is skipped, as a literal it fails as on Windows."""
    family = socket.AF_INET6 if address == "::" else socket.AF_INET
    loopback = "::1" if address == "::" else "127.0.0.1"
    # A usable address beside it, in the same record type.
    partner = {"0.0.0.0": "127.0.0.1", "::": "::1", "::ffff:0.0.0.0": "::ffff:127.0.0.1"}[address]
    rdtype = "AAAA" if ":" in address else "A"

    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        if qtype(query) != rdtype:
            return reply(query)
        if qname(query).to_text() == "mixed.test.":
            return reply(
                query,
                rrset(qname(query), rdtype, address, partner),
                shuffle=False,
            )
        return reply(query, rrset(qname(query), rdtype, address))

    with socket.socket(family) as listening:
        listening.bind((loopback, 0))
        listening.listen(16)
        port = str(listening.getsockname()[1])
        async with hostile_dns(respond) as dns_port:
            resolver = quick_resolver(dns_port)
            with trio.fail_after(10):
                async with StreamSocket(resolver=resolver) as client:
                    with pytest.raises(SocketStatusError) as caught:
                        await client.connect(HostName("zero.test"), port)
                assert_no_addresses(caught.value, "zero.test", "unspecified")
                async with DatagramSocket(resolver=resolver) as datagrams:
                    with pytest.raises(SocketStatusError) as caught:
                        await datagrams.connect(HostName("zero.test"), port)
                assert_no_addresses(caught.value, "zero.test", "unspecified")
                async with StreamSocket(resolver=resolver) as client:
                    await client.connect(HostName("mixed.test"), port)
                    assert client.information.remote_address == HostName(loopback)
                for open_one in (StreamSocket, DatagramSocket):
                    async with open_one() as sock:
                        with pytest.raises(SocketStatusError) as caught:
                            await sock.connect(HostName(address), port)
                    assert caught.value.status == S.CANNOT_ASSIGN_REQUESTED_ADDRESS
                    assert "unspecified" in str(caught.value)


# -- a large answer ---------------------------------------------------------------------------


async def test_a_64_kib_address_answer_costs_little_more_than_parsing_it() -> None:
    """The most A records one TCP message holds (about 4,000): de-duplicating them is
    linear (it was quadratic: more CPU time than parsing the message, on the event
    loop), and ``get_endpoint_pairs`` gives one pair per address."""
    query = dns.message.make_query("big.test", "A")
    # 12 bytes of header, the question, then per record a compressed owner (2), type,
    # class, TTL, length (10) and the address (4).
    count = (65535 - 12 - len("big.test.") - 1 - 4) // 16
    addresses = [f"127.{1 + i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(count)]
    response = dns.message.make_response(query)
    response.answer.append(rrset(qname(query), "A", *addresses))
    wire = response.to_wire(max_size=65535)

    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        if qtype(query) != "A":
            return reply(query)
        if not tcp:
            return reply(query, tc=True)
        return struct.pack("!H", query.id) + wire[2:]

    parse_cost = min(_cpu_time(lambda: dns.message.from_wire(wire)) for _ in range(3))
    async with hostile_dns(respond) as dns_port:
        resolver = Resolver(["127.0.0.1"], dns_port, timeout=2, attempts=1)
        costs = []
        for _ in range(3):
            started = time.thread_time()
            found = await resolver.resolve_addresses(HostName("big.test"), 9, "tcp")
            costs.append(time.thread_time() - started)
        assert len(found) == count
        pairs = await StreamSocket.get_endpoint_pairs(HostName("big.test"), "9", resolver=resolver)
        assert len(pairs) == count
    print(f"parse {parse_cost:.3f} s, lookup {min(costs):.3f} s")
    assert min(costs) < 1.5 * parse_cost + 0.02, (costs, parse_cost)


def _cpu_time(work: Callable[[], object]) -> float:
    started = time.thread_time()
    work()
    return time.thread_time() - started


# -- a scope the kernel ignores ---------------------------------------------------------------


async def test_a_scope_on_an_address_that_is_not_link_local_is_not_reported() -> None:
    """``::1%lo``: the kernel ignores the scope of a loopback address, and both ends
    and both socket kinds report the remote as ``::1``."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("::1", "0")
        port = listener.information.local_port
        with trio.fail_after(5):
            async with StreamSocket() as client:
                await client.connect(HostName("::1%lo"), port)
                server_side = await listener.accept()
                async with server_side:
                    assert client.information.remote_address == HostName("::1")
                    assert (
                        client.information.remote_address == server_side.information.local_address
                    )
        async with DatagramSocket() as datagrams:
            await datagrams.connect(HostName("::1%lo"), port)
            assert datagrams.information.remote_address == HostName("::1")
