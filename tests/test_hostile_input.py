"""Hostile input: strings from callers, and DNS answers from name servers.

Every lookup must end, within the resolver's lifetime, in a result or a classified
error (a :class:`SocketStatusError` whose status is not ``UNKNOWN``, or a
:class:`ValueError` / :class:`TypeError` for a bad argument). The answers come from
real DNS servers on loopback: dnsmasq (the ``dns_server`` fixture) for everything it
will publish, and, for the answers no well-behaved server sends (CNAME loops, truncation
even over TCP, malformed messages, answers of the wrong type), :func:`hostile_dns`: a
UDP and TCP server on 127.0.0.1 that answers each query with whatever the test says.
"""

from __future__ import annotations

import inspect
import ipaddress
import itertools
import math
import struct
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.SRV
import dns.rrset
import pytest
import trio
from conftest import live_tasks, open_fd_count
from dns_answers import Responder, hostile_dns, qname, qtype, reply, rrset
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from trio_sockets import (
    DatagramSocket,
    DataReader,
    DataWriter,
    EndpointPair,
    HostName,
    HostNameType,
    InputStreamOptions,
    Resolver,
    ServiceTarget,
    SocketError,
    SocketErrorStatus,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets.__main__ import _parser
from trio_sockets._cli.resolve import resolve_command
from trio_sockets._core.checks import MAX_SHOWN, shown
from trio_sockets._io.resolver import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT
from trio_sockets._io.srv import MAX_SRV_TARGETS
from trio_sockets._pytest_plugin import DnsServerFactory
from trio_sockets._sockets.stream_receive import MAX_RECEIVE_SIZE
from trio_sockets.testing import DnsServer, DnsServerError, SrvRecord

S = SocketErrorStatus
TIMED_OUT = S.CONNECTION_TIMED_OUT
#: What the services database knows (netbase): names that never reach DNS.
SERVICES_DB = ["http", "domain", "echo", "https"]
#: Answers stay this far within the lifetime, plus scheduling delay on a loaded machine.
SLACK = 0.5


async def outcome_of(lookup: object, bound: float) -> object:
    """The lookup's result or exception; fails if it takes longer than *bound*."""
    with trio.fail_after(bound):
        try:
            return await lookup  # type: ignore[misc]
        except (SocketStatusError, ValueError, TypeError) as exc:
            return exc


def assert_classified(error: object, *statuses: SocketErrorStatus) -> None:
    assert isinstance(error, SocketStatusError), error
    assert error.status != S.UNKNOWN, error
    assert SocketError.get_status(error) == error.status
    if statuses:
        assert error.status in statuses, error


# -- answers dnsmasq publishes -----------------------------------------------------------


async def test_srv_answers_dnsmasq_publishes_end_classified(
    dns_server: DnsServerFactory,
) -> None:
    many = [
        SrvRecord("_svc._tcp.many.test", f"t{index}.many.test", 1000 + index, index % 7, index % 5)
        for index in range(2000)
    ]
    server = await dns_server(
        srv=[
            SrvRecord("_svc._tcp.dot.test", "."),
            *[SrvRecord("_svc._tcp.zero.test", f"z{index}.test", 0) for index in range(3)],
            SrvRecord("_svc._tcp.alias.test", "alias.test", 7000),
            *many,
        ],
        txt={"_svc._tcp.none.test": "a name with no SRV record"},
        hosts={"end.test": "127.0.0.9"},
        cname={
            "alias.test": "chain1.test",
            "chain1.test": "chain2.test",
            "chain2.test": "end.test",
        },
    )
    resolver = server.resolver(timeout=0.5, attempts=2)
    bound = resolver.lifetime + SLACK

    async def targets(host: str) -> object:
        return await outcome_of(resolver.resolve_targets(HostName(host), "svc", "tcp"), bound)

    # No SRV record at all, a lone "." (RFC 2782: decidedly not available), and only
    # port-0 targets: three different errors, none of them UNKNOWN.
    assert_classified(await targets("none.test"), S.HOST_NOT_FOUND)
    assert_classified(await targets("dot.test"), S.CLASS_TYPE_NOT_FOUND)
    assert_classified(await targets("zero.test"), S.NO_ADDRESSES_FOUND)
    # A target that is an alias: its addresses come through the CNAME chain.
    [alias] = await targets("alias.test")  # type: ignore[misc]
    addresses = await resolver.resolve_addresses(alias.host, alias.port, "tcp")
    assert [sockaddr for _, sockaddr in addresses] == [("127.0.0.9", 7000)]
    # 2,000 targets: too many for UDP (TC) and even for one TCP message (dnsmasq sends
    # what fits in 64 KiB, with TC set again). What arrived is used, in RFC 2782 order,
    # bounded at MAX_SRV_TARGETS, all of the lowest priority.
    start = trio.current_time()
    found = await targets("many.test")
    assert isinstance(found, list), found
    assert len(found) == MAX_SRV_TARGETS
    assert {target.priority for target in found} == {0}
    assert len({target.port for target in found}) == MAX_SRV_TARGETS
    assert trio.current_time() - start < bound


async def test_dnsmasq_refuses_to_publish_a_cname_loop(dnsmasq_program: str) -> None:
    """Why CNAME loops are served by hostile_dns below: dnsmasq will not publish one."""
    with pytest.raises(DnsServerError, match="CNAME loop"):
        async with DnsServer(
            cname={"a.test": "b.test", "b.test": "a.test"}, dnsmasq=dnsmasq_program
        ):
            pass  # pragma: no cover


async def test_dns_server_refuses_an_address_with_a_zone(dnsmasq_program: str) -> None:
    """A zone (%eth0) cannot be in a record; dnsmasq would read the text as a name and
    publish no address, so the server is refused before it starts."""
    with pytest.raises(ValueError, match=r"'fe80::1%eth0' has a zone \(%eth0\)"):
        async with DnsServer(hosts={"a.test": "fe80::1%eth0"}, dnsmasq=dnsmasq_program):
            pass  # pragma: no cover


# -- answers only a hostile server sends ---------------------------------------------------


def _cname_loop(query: dns.message.Message, tcp: bool) -> bytes:
    return reply(
        query,
        rrset(qname(query), "CNAME", "b.loop.test."),
        rrset("b.loop.test.", "CNAME", qname(query).to_text()),
    )


def _cname_self(query: dns.message.Message, tcp: bool) -> bytes:
    return reply(query, rrset(qname(query), "CNAME", qname(query).to_text()))


def _cname_chain(query: dns.message.Message, tcp: bool) -> bytes:
    names = [qname(query).to_text()] + [f"c{index}.chain.test." for index in range(40)]
    links = [rrset(alias, "CNAME", target) for alias, target in itertools.pairwise(names)]
    return reply(query, *links, rrset(names[-1], "A", "127.0.0.1"))


def _cname_dangling(query: dns.message.Message, tcp: bool) -> bytes:
    return reply(query, rrset(qname(query), "CNAME", "nowhere.test."))


def _truncated_over_udp(query: dns.message.Message, tcp: bool) -> bytes:
    return reply(query, tc=True)


def _garbage_with_the_query_id(query: dns.message.Message, tcp: bool) -> bytes:
    return struct.pack("!HH", query.id, 0x8180) + b"\xff" * 40


def _another_id(query: dns.message.Message, tcp: bool) -> bytes:
    answer = bytearray(reply(query, rrset(qname(query), "SRV", "0 0 80 a.test.")))
    answer[:2] = struct.pack("!H", query.id ^ 0x5555)
    return bytes(answer)


def _another_question(query: dns.message.Message, tcp: bool) -> bytes:
    other = dns.message.make_query("_other._tcp.evil.test", "SRV")
    other.id = query.id
    return reply(other, rrset("_other._tcp.evil.test.", "SRV", "0 0 80 evil.test."))


def _truncated_then_nothing(query: dns.message.Message, tcp: bool) -> bytes | None:
    return None if tcp else reply(query, tc=True)


def _rcode(rcode: int) -> Responder:
    return lambda query, tcp: reply(query, rcode=rcode)


def _a_for_srv(query: dns.message.Message, tcp: bool) -> bytes:
    return reply(query, rrset(qname(query), "A", "127.0.0.1"))


#: The longest name DNS carries (253 characters; 255 octets on the wire).
_LONGEST = ".".join(["x" * 63, "y" * 63, "z" * 63, "w" * 61])


def _hostile_srv_targets(query: dns.message.Message, tcp: bool) -> bytes:
    return reply(
        query,
        rrset(
            qname(query),
            "SRV",
            "0 0 80 .",
            "0 0 80 a\\000b.test.",
            "0 0 80 a\\032b.test.",
            "0 0 80 a\\.b.test.",
            "0 0 80 xn--zz.test.",
            "0 0 80 -bad.test.",
            f"0 0 80 {_LONGEST}.",
            "1 0 80 " + "\\255" * 20 + ".test.",
            "2 0 0 zero-port.test.",
            "3 0 8080 good.test.",
        ),
    )


NAS = S.NON_AUTHORITATIVE_HOST_NOT_FOUND


def case(
    name: str,
    respond: Responder,
    lookup: str,
    status: SocketErrorStatus | None,
    *,
    tcp: bool = True,
    early: bool = True,
) -> Any:
    """One hostile answer: *lookup* is "targets" (SRV) or "addresses" (A and AAAA);
    *status* None means a result; *early*: the lookup ends before one query timeout."""
    return pytest.param(respond, tcp, lookup, status, early, id=name)


HOSTILE_CASES = [
    case("CNAME loop", _cname_loop, "addresses", NAS),
    case("CNAME to itself", _cname_self, "addresses", NAS),
    case("CNAME chain of 40", _cname_chain, "addresses", NAS),
    case("CNAME to nothing", _cname_dangling, "addresses", S.NO_DATA_RECORD_OF_REQUESTED_TYPE),
    case("TC, and TCP refused", _truncated_over_udp, "targets", NAS, tcp=False),
    # dnspython uses a TCP answer even if it says TC (as dnsmasq's 64 KiB answers do):
    # what arrived is all there is, here no record at all.
    case("TC over TCP too", _truncated_over_udp, "targets", S.HOST_NOT_FOUND),
    case("TCP closed unanswered", _truncated_then_nothing, "targets", NAS),
    # A reply that does not parse, or answers another query, may be forged: it is
    # ignored, and the lookup waits for the real answer until its lifetime is over.
    case("malformed reply", _garbage_with_the_query_id, "targets", TIMED_OUT, early=False),
    case("reply with another ID", _another_id, "targets", TIMED_OUT, early=False),
    case("reply to another question", _another_question, "targets", TIMED_OUT, early=False),
    case("no reply", lambda query, tcp: None, "targets", TIMED_OUT, early=False),
    case("SERVFAIL", _rcode(dns.rcode.SERVFAIL), "targets", NAS),
    case("REFUSED", _rcode(dns.rcode.REFUSED), "addresses", NAS),
    case("NOTIMP", _rcode(dns.rcode.NOTIMP), "targets", NAS),
    case("FORMERR", _rcode(dns.rcode.FORMERR), "targets", NAS),
    case("YXDOMAIN", _rcode(dns.rcode.YXDOMAIN), "targets", NAS),
    case("NXDOMAIN", _rcode(dns.rcode.NXDOMAIN), "addresses", S.HOST_NOT_FOUND),
    case("A records for an SRV query", _a_for_srv, "targets", S.HOST_NOT_FOUND),
    case("hostile SRV target names", _hostile_srv_targets, "targets", None),
]


async def test_localhost_names_have_no_srv_records_and_ask_no_name_server() -> None:
    """RFC 6761 section 6.3: a localhost name is never asked of a name server, whose
    answer could point a connect to "localhost" anywhere; a service name that needs SRV
    records is then not found."""
    asked: list[str] = []

    def anywhere(query: dns.message.Message, tcp: bool) -> bytes:
        asked.append(qname(query).to_text())
        return reply(query, rrset(qname(query), "SRV", "0 0 9 evil.test."))

    async with hostile_dns(anywhere) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=1.0, attempts=1)
        for host in ("localhost", "foo.localhost"):
            with trio.fail_after(5), pytest.raises(SocketStatusError) as caught:
                await resolver.resolve_targets(HostName(host), "xmpp-client-x", "tcp")
            assert caught.value.status == S.HOST_NOT_FOUND
            assert "localhost names have no SRV records" in str(caught.value)
        async with StreamSocket(resolver=resolver) as sock:
            with trio.fail_after(5), pytest.raises(SocketStatusError) as caught:
                await sock.connect("localhost", "xmpp-client-x")
            assert caught.value.status == S.HOST_NOT_FOUND
        # The same service of another name is asked, so the server does answer.
        targets = await resolver.resolve_targets(HostName("svc.test"), "xmpp-client-x", "tcp")
        assert targets == [ServiceTarget(HostName("evil.test"), 9, 0, 0)]
    assert asked == ["_xmpp-client-x._tcp.svc.test."]


async def _datagram_output_stream(host: str, service: str, resolver: Resolver) -> object:
    async with DatagramSocket(resolver=resolver) as sock:
        return await sock.get_output_stream(host, service)


async def _datagram_connect(host: str, service: str, resolver: Resolver) -> object:
    async with DatagramSocket(resolver=resolver) as sock:
        await sock.connect(host, service)
        return sock.information.remote_port


async def _stream_connect(host: str, service: str, resolver: Resolver) -> object:
    async with StreamSocket(resolver=resolver) as sock:
        await sock.connect(host, service)
        return sock.information.remote_port


_RESOLVING_CALLS: dict[str, Callable[[str, str, Resolver], Any]] = {
    "StreamSocket.connect": _stream_connect,
    "StreamSocket.get_endpoint_pairs": lambda host, service, resolver: (
        StreamSocket.get_endpoint_pairs(host, service, resolver=resolver)
    ),
    "DatagramSocket.get_endpoint_pairs": lambda host, service, resolver: (
        DatagramSocket.get_endpoint_pairs(host, service, resolver=resolver)
    ),
    "DatagramSocket.get_output_stream": _datagram_output_stream,
    "DatagramSocket.connect": _datagram_connect,
}


def _srv_targets_answering(*answering: int) -> Responder:
    """16 SRV targets ``t0.test`` to ``t15.test`` on ports 100 to 115, at priorities 0
    to 15 (so in that order); only the *answering* ones have an address (127.0.0.1), the
    others' A and AAAA queries go unanswered."""

    def respond(query: dns.message.Message, tcp: bool) -> bytes | None:
        if qtype(query) == "SRV":
            records = [f"{index} 0 {100 + index} t{index}.test." for index in range(16)]
            return reply(query, rrset(qname(query), "SRV", *records))
        if qname(query).to_text() not in {f"t{index}.test." for index in answering}:
            return None  # silence
        if qtype(query) == "A":
            return reply(query, rrset(qname(query), "A", "127.0.0.1"))
        return reply(query)  # no AAAA record

    return respond


@pytest.mark.parametrize("call", list(_RESOLVING_CALLS))
async def test_many_silent_srv_targets_take_one_lookup(call: str) -> None:
    """16 SRV targets whose addresses nobody answers: they are looked up together, so
    resolving the service takes the SRV query and one lookup's lifetime, not 16; the
    error names at most 8 of the targets."""
    async with hostile_dns(_srv_targets_answering()) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=0.25, attempts=2)
        start = trio.current_time()
        with trio.fail_after(2 * resolver.lifetime + SLACK):
            with pytest.raises(SocketStatusError) as caught:
                await _RESOLVING_CALLS[call]("h.test", "svc", resolver)
        elapsed = trio.current_time() - start
    assert elapsed < 2 * resolver.lifetime + SLACK / 2, elapsed
    assert caught.value.status == TIMED_OUT
    message = str(caught.value)
    assert message.count("(CONNECTION_TIMED_OUT)") == 8 + 1  # 8 named, the rest counted
    assert "and 8 more" in message
    assert len(message) <= MAX_MESSAGE


async def test_a_datagram_remote_goes_to_the_first_srv_target_in_order_that_resolves() -> None:
    """The targets are looked up together, but the first in RFC 2782 order that has an
    address wins, not the first to answer: t3 answers at once, t1 only after t0 has
    timed out, and t1 is the one. Once the first target resolves, the lookups of the
    others are not waited for (their lifetime here is far longer than the bound)."""
    async with hostile_dns(_srv_targets_answering(1, 3)) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=0.25, attempts=2)
        for call in ("DatagramSocket.get_output_stream", "DatagramSocket.connect"):
            with trio.fail_after(2 * resolver.lifetime + SLACK):
                result = await _RESOLVING_CALLS[call]("h.test", "svc", resolver)
            remote_port = result.destination[1] if call.endswith("stream") else int(result)
            assert remote_port == 101, call
    async with hostile_dns(_srv_targets_answering(0, 3)) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=30, attempts=1)
        for call in ("DatagramSocket.get_output_stream", "DatagramSocket.connect"):
            with trio.fail_after(10):
                result = await _RESOLVING_CALLS[call]("h.test", "svc", resolver)
            remote_port = result.destination[1] if call.endswith("stream") else int(result)
            assert remote_port == 100, call


@pytest.mark.parametrize(("respond", "tcp", "lookup", "status", "early"), HOSTILE_CASES)
async def test_hostile_answers_end_classified_within_the_lifetime(
    respond: Responder,
    tcp: bool,
    lookup: str,
    status: SocketErrorStatus | None,
    early: bool,
) -> None:
    fds, tasks = open_fd_count(), len(live_tasks())
    async with hostile_dns(respond, tcp=tcp) as port:
        # An answer that ends the lookup must end it long before one query timeout (2 s);
        # one that is ignored must make it wait its lifetime (kept short here).
        timeout, attempts = (2.0, 1) if early else (0.2, 2)
        resolver = Resolver(["127.0.0.1"], port, timeout=timeout, attempts=attempts)
        start = trio.current_time()
        if lookup == "targets":
            result = await outcome_of(
                resolver.resolve_targets(HostName("svc.test"), "svc", "tcp"),
                resolver.lifetime + SLACK,
            )
        else:
            result = await outcome_of(
                resolver.resolve_addresses(HostName("a.test"), 80, "tcp"),
                resolver.lifetime + SLACK,
            )
        elapsed = trio.current_time() - start
    if status is not None:
        assert_classified(result, status)
    else:  # only the usable targets of the hostile SRV answer are kept
        assert result == [
            ServiceTarget(HostName(_LONGEST), 80, 0, 0),
            ServiceTarget(HostName("good.test"), 8080, 3, 0),
        ]
    if early:
        assert elapsed < resolver.timeout / 2, elapsed  # a failing server is not waited for
    else:
        assert resolver.lifetime - 0.01 <= elapsed, elapsed
    assert open_fd_count() == fds
    assert len(live_tasks()) == tasks


@pytest.mark.parametrize(
    ("address", "status"),
    [
        # Skipped as no host's address: Linux would connect it to this host.
        ("0.0.0.0", S.NO_ADDRESSES_FOUND),
        ("::", S.NO_ADDRESSES_FOUND),
        ("224.0.0.1", S.NETWORK_IS_UNREACHABLE),
        ("255.255.255.255", S.NETWORK_IS_UNREACHABLE),
        ("ff02::1", S.NETWORK_IS_UNREACHABLE),
    ],
)
async def test_addresses_no_host_should_have_fail_classified(
    address: str, status: SocketErrorStatus
) -> None:
    rdtype = "AAAA" if ":" in address else "A"

    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        if qtype(query) != rdtype:
            return reply(query)
        return reply(query, rrset(qname(query), rdtype, address))

    async with hostile_dns(respond) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=0.5, attempts=1)
        async with StreamSocket(resolver=resolver) as client:
            client.control.connect_timeout = 2
            with pytest.raises(SocketStatusError) as caught:
                await client.connect(HostName("a.test"), "9")
    assert_classified(caught.value, status)


async def test_thousands_of_addresses_are_each_tried_and_fail_classified() -> None:
    """4,000 A records, all on loopback addresses that refuse: the connect tries each
    (happy eyeballs starts the next as soon as one fails), ends in CONNECTION_REFUSED,
    and leaves no socket open."""
    addresses = [str(ipaddress.IPv4Address("127.1.0.0") + index) for index in range(4000)]

    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        if qtype(query) != "A":
            return reply(query)
        if not tcp:
            return reply(query, tc=True)
        return reply(query, rrset(qname(query), "A", *addresses))

    fds = open_fd_count()
    async with hostile_dns(respond) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=1, attempts=1)
        async with StreamSocket(resolver=resolver) as client:
            with trio.fail_after(20), pytest.raises(SocketStatusError) as caught:
                await client.connect(HostName("a.test"), "9")
    assert_classified(caught.value, S.CONNECTION_REFUSED)
    group = caught.value.__cause__
    assert isinstance(group, ExceptionGroup)
    assert len(group.exceptions) == len(addresses)
    # The message names a few of them, not all 4,000.
    assert "and 3992 more addresses" in str(caught.value)
    assert len(str(caught.value)) < 2000
    assert open_fd_count() == fds


async def test_a_64_kib_srv_answer_costs_little_more_than_parsing_it() -> None:
    """The largest SRV answer DNS can carry (over 2,000 targets in one 64 KiB TCP
    message): bounded to MAX_SRV_TARGETS of the lowest priority, and ordering them costs
    a fraction of what parsing the message costs (it used to cost more than parsing)."""
    query = dns.message.make_query("_svc._tcp.svc.test", "SRV")
    # As many records as fit in one TCP message: 12 bytes of header, the question, and
    # per record a compressed owner (2), type, class, TTL, length (10), priority, weight,
    # port (6) and the target, which SRV never compresses (RFC 2782).
    size = 12 + len(qname(query).to_text()) + 1 + 4
    records: list[str] = []
    while size + 18 + len(target := f"t{len(records)}.test.") + 1 <= 65535:
        size += 18 + len(target) + 1
        index = len(records)
        records.append(f"{index // 2000} {1 + index % 100} {1 + index} {target}")
    response = dns.message.make_response(query)
    response.answer.append(rrset(qname(query), "SRV", *records))
    wire = response.to_wire(max_size=65535)
    published = len(response.answer[0])
    assert published > 2000

    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        if not tcp:
            return reply(query, tc=True)
        return struct.pack("!H", query.id) + wire[2:]

    # What parsing alone costs, on this machine, now.
    parse_cost = min(_cpu_time(lambda: dns.message.from_wire(wire)) for _ in range(3))
    async with hostile_dns(respond) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=2, attempts=1)
        costs = []
        targets: list[ServiceTarget] = []
        for _ in range(3):
            started = time.thread_time()
            targets = await resolver.resolve_targets(HostName("svc.test"), "svc", "tcp")
            costs.append(time.thread_time() - started)
    assert len(targets) == MAX_SRV_TARGETS
    assert {target.priority for target in targets} == {0}
    # The lookup parses the message once (and the short UDP reply); the rest is small.
    print(f"parse {parse_cost:.3f} s, lookup {min(costs):.3f} s")
    assert min(costs) < 1.5 * parse_cost + 0.02, (costs, parse_cost)


def _cpu_time(work: Callable[[], object]) -> float:
    started = time.thread_time()
    work()
    return time.thread_time() - started


# -- hypothesis: any SRV answer --------------------------------------------------------------

_LABELS = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True).map(str.encode),
    st.binary(min_size=1, max_size=63),
    st.sampled_from([b"xn--zz", b"xn--bcher-kva", b"-x", b"_sip", b"a" * 63, b"*", b"\\", b"."]),
)
_TARGETS = st.one_of(
    st.just(dns.name.root),
    st.lists(_LABELS, min_size=1, max_size=5)
    .map(lambda labels: [*labels, b"test", b""])
    .filter(lambda labels: sum(len(label) + 1 for label in labels) <= 255)
    .map(dns.name.Name),
)
_RECORDS = st.lists(
    st.tuples(
        st.integers(0, 65535),  # priority
        st.integers(0, 65535),  # weight
        st.integers(0, 65535),  # port
        _TARGETS,
    ),
    max_size=40,
)


def _usable(target: dns.name.Name, port: int) -> bool:
    if target == dns.name.root or port == 0:
        return False
    try:
        host = HostName(target.to_text(omit_final_dot=True))
    except ValueError:
        return False
    return host.type == HostNameType.DOMAIN_NAME  # an IP literal is no domain name


@settings(
    max_examples=80,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=_RECORDS, rcode=st.sampled_from([0, 0, 0, 0, 2, 3, 5]))
@example(records=[], rcode=0)
@example(records=[(0, 0, 0, dns.name.root)], rcode=0)
@example(records=[(0, 0, 0, dns.name.root), (1, 0, 80, dns.name.from_text("a.test"))], rcode=0)
async def test_any_srv_answer_gives_the_lowest_priority_targets_or_a_classified_error(
    records: list[tuple[int, int, int, dns.name.Name]], rcode: int
) -> None:
    rdatas = {
        dns.rdtypes.IN.SRV.SRV(dns.rdataclass.IN, dns.rdatatype.SRV, priority, weight, port, target)
        for priority, weight, port, target in records
    }

    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        answer = dns.rrset.RRset(qname(query), dns.rdataclass.IN, dns.rdatatype.SRV)
        for rdata in rdatas:
            answer.add(rdata, 60)
        wire = reply(query, *([answer] if rdatas else []), rcode=rcode)
        if not tcp and len(wire) > 512:
            return reply(query, tc=True)
        return wire

    async with hostile_dns(respond) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=0.5, attempts=1)
        result = await outcome_of(
            resolver.resolve_targets(HostName("svc.test"), "svc", "tcp"),
            resolver.lifetime + SLACK,
        )
    usable = sorted(
        (rdata.priority, rdata.port, rdata.target.to_text(omit_final_dot=True))
        for rdata in rdatas
        if _usable(rdata.target, rdata.port)
    )
    if rcode == dns.rcode.NXDOMAIN and rdatas:
        # "No such name", with records of it: dnspython takes the server for broken.
        assert_classified(result, S.NON_AUTHORITATIVE_HOST_NOT_FOUND)
    elif rcode == dns.rcode.NXDOMAIN:
        assert_classified(result, S.HOST_NOT_FOUND)
    elif rcode != dns.rcode.NOERROR:
        assert_classified(result, S.NON_AUTHORITATIVE_HOST_NOT_FOUND)
    elif not rdatas:
        assert_classified(result, S.HOST_NOT_FOUND)
    elif all(rdata.target == dns.name.root for rdata in rdatas):
        assert_classified(result, S.CLASS_TYPE_NOT_FOUND)
    elif not usable:
        assert_classified(result, S.NO_ADDRESSES_FOUND)
    else:
        assert isinstance(result, list), result
        assert len(result) == min(len(usable), MAX_SRV_TARGETS)
        # RFC 2782: lowest priority first, so the targets kept are the lowest ones.
        priorities = [target.priority for target in result]
        assert priorities == sorted(priorities)
        assert priorities == [priority for priority, _, _ in usable[: len(result)]]
        chosen = sorted((t.priority, t.port, t.host.raw_name) for t in result)
        assert set(chosen) <= set(usable)


# -- hypothesis: corrupted answers -----------------------------------------------------------

_GOOD_QUERY = dns.message.make_query("_svc._tcp.svc.test", "SRV")
_GOOD_ANSWER = reply(
    _GOOD_QUERY,
    rrset("_svc._tcp.svc.test.", "SRV", "0 5 7001 a.svc.test.", "1 0 7002 b.svc.test."),
)


@settings(max_examples=20, deadline=timedelta(seconds=3))
@given(
    flips=st.lists(
        st.tuples(st.integers(2, len(_GOOD_ANSWER) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    ),
    cut=st.integers(2, len(_GOOD_ANSWER)),
)
async def test_corrupted_answers_end_in_a_result_or_a_classified_error(
    flips: list[tuple[int, int]], cut: int
) -> None:
    corrupted = bytearray(_GOOD_ANSWER)
    for position, value in flips:
        corrupted[position] = value
    del corrupted[cut:]

    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        return struct.pack("!H", query.id) + bytes(corrupted[2:])

    async with hostile_dns(respond) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=0.1, attempts=1)
        result = await outcome_of(
            resolver.resolve_targets(HostName("svc.test"), "svc", "tcp"),
            resolver.lifetime + SLACK,
        )
    if isinstance(result, list):
        assert 1 <= len(result) <= MAX_SRV_TARGETS
        assert all(1 <= target.port <= 65535 for target in result)
    else:
        assert_classified(result)


# -- hypothesis: host and service strings ---------------------------------------------------

_PIECES = st.sampled_from(
    [
        "a", "svc", "test", ".", "..", "-", "_", "xn--", "xn--bcher-kva", "%", "%lo", "%1",
        ":", "::", "::1", "::ffff:127.0.0.1", "127.0.0.1", "127.1", "0x7f", "1e3", "[", "]",
        "localhost", "LOCALHOST", "\x00", "\ufeff", "\u200b", "\uff0e", "\u3002", "ß", "İ",
        "\u0661\u0662", "\uff11", "é", "\U0001f4a9", " ", "\t", "\n", "a" * 64, "0", "65536",
        "+80", "8_0", "http", "_svc", "@", "/", "\\", "\ud800",
    ]
)  # fmt: skip
_HOSTILE_TEXT = st.one_of(
    st.lists(_PIECES, min_size=1, max_size=8).map("".join),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.text(max_size=300),
)
_NOT_STRINGS = st.one_of(
    st.none(), st.integers(), st.binary(max_size=8), st.floats(), st.just(["a.test"])
)


def _answers_everything(query: dns.message.Message, tcp: bool) -> bytes:
    kind = qtype(query)
    if kind == "A":
        return reply(query, rrset(qname(query), "A", "127.0.0.1"))
    if kind == "AAAA":
        return reply(query, rrset(qname(query), "AAAA", "::1"))
    if kind == "SRV":
        return reply(query, rrset(qname(query), "SRV", "0 0 7001 a.svc.test."))
    return reply(query, rcode=dns.rcode.NXDOMAIN)


_HOSTS = st.one_of(
    _HOSTILE_TEXT,
    # Names that may well be valid, so that the lookups reach the name server.
    st.lists(st.text("abcxyz019-_éßü\u0661", min_size=1, max_size=12), min_size=1, max_size=4).map(
        lambda labels: ".".join([*labels, "test"])
    ),
    st.sampled_from(
        ["svc.test", "localhost", "a.localhost", "127.0.0.1", "::1", "fe80::1%lo", "bücher.test"]
    ),
    _NOT_STRINGS,
)
_SERVICES = st.one_of(
    _HOSTILE_TEXT,
    st.sampled_from([*SERVICES_DB, "svc", "0", "1", "65535", "65536", "stun._service01"]),
    st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True),
    st.integers(-1, 70000).map(str),
    _NOT_STRINGS,
)


@settings(max_examples=200, deadline=timedelta(seconds=3))
@given(host=_HOSTS, service=_SERVICES, protocol=st.sampled_from(["tcp", "udp"]))
async def test_hostile_host_and_service_strings_end_classified(
    host: object, service: object, protocol: str
) -> None:
    async with hostile_dns(_answers_everything) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=0.5, attempts=1)
        bound = 4 * resolver.lifetime + SLACK
        kind = StreamSocket if protocol == "tcp" else DatagramSocket
        lookups = [
            lambda: resolver.resolve_targets(host, service, protocol),  # type: ignore[arg-type]
            lambda: resolver.resolve_port(service, protocol, local=True),  # type: ignore[arg-type]
            lambda: kind.get_endpoint_pairs(host, service, resolver=resolver),  # type: ignore[arg-type]
        ]
        for index, lookup in enumerate(lookups):
            result = await outcome_of(lookup(), bound)
            event(f"{index}: {type(result).__name__}")
            if isinstance(result, SocketStatusError):
                assert_classified(result)
            elif isinstance(result, (ValueError, TypeError)):
                assert str(result)  # names what was wrong
            elif isinstance(result, int):
                assert 0 <= result <= 65535
            else:
                assert isinstance(result, list)
                assert result


async def test_thousands_of_unusable_srv_targets_give_a_short_message() -> None:
    def respond(query: dns.message.Message, tcp: bool) -> bytes:
        if not tcp:
            return reply(query, tc=True)
        return reply(query, rrset(qname(query), "SRV", *[f"0 0 0 t{i}.test." for i in range(2000)]))

    async with hostile_dns(respond) as port:
        resolver = Resolver(["127.0.0.1"], port, timeout=1, attempts=1)
        error = await outcome_of(
            resolver.resolve_targets(HostName("svc.test"), "svc", "tcp"), resolver.lifetime + SLACK
        )
    assert_classified(error, S.NO_ADDRESSES_FOUND)
    assert "and 1992 more" in str(error)
    assert len(str(error)) < 1000


# -- every setter and size argument ------------------------------------------------------

#: An int whose repr Python refuses (over 4300 digits) and no float can hold.
HUGE = 10**5000
#: The longest error message any bad value may produce.
MAX_MESSAGE = 400

_NOT_BOOL = [1, 0, "yes", None]
_NOT_INT = ["5", 5.0, True, None, b"5"]
_NOT_SECONDS = ["1", True, b"1", (1,)]
_BAD_SECONDS = [0, -1, -0.5, math.nan, math.inf, -math.inf, 10**400, HUGE]


def _hop_limits(low: int) -> dict[object, type[Exception]]:
    out: dict[object, type[Exception]] = dict.fromkeys(_NOT_INT, TypeError)
    out.update(dict.fromkeys([low - 1, 256, -HUGE, HUGE], ValueError))
    return out


def _buffer_sizes() -> dict[object, type[Exception]]:
    out: dict[object, type[Exception]] = dict.fromkeys(["5", 5.0, True, b"5"], TypeError)
    out.update(dict.fromkeys([0, -1, 2**31, HUGE], ValueError))
    return out


def _optional_seconds() -> dict[object, type[Exception]]:
    out: dict[object, type[Exception]] = dict.fromkeys(_NOT_SECONDS, TypeError)
    out.update(dict.fromkeys(_BAD_SECONDS, ValueError))
    return out


def _counts() -> dict[object, type[Exception]]:
    out: dict[object, type[Exception]] = dict.fromkeys(["5", 5.0, True, None], TypeError)
    out.update(dict.fromkeys([-1, -HUGE], ValueError))
    return out


def _bools() -> dict[object, type[Exception]]:
    return dict.fromkeys(_NOT_BOOL, TypeError)


def _setter(target: Callable[[dict[str, Any]], object], name: str) -> Callable[..., object]:
    return lambda objects, value: setattr(target(objects), name, value)


def _stream_control(objects: dict[str, Any]) -> object:
    return objects["client"].control


def _listener_control(objects: dict[str, Any]) -> object:
    return objects["listener"].control


def _datagram_control(objects: dict[str, Any]) -> object:
    return objects["datagram"].control


_CONTROLS = {
    "StreamSocketControl": _stream_control,
    "StreamSocketListenerControl": _listener_control,
    "DatagramSocketControl": _datagram_control,
}
_TCP_CONTROLS = {k: v for k, v in _CONTROLS.items() if k != "DatagramSocketControl"}

#: (what, how to apply a value, bad values and the error each must raise).
SETTERS: list[tuple[str, Callable[..., object], dict[object, type[Exception]]]] = [
    *(
        (
            f"{kind}.outbound_unicast_hop_limit",
            _setter(get, "outbound_unicast_hop_limit"),
            _hop_limits(1),
        )
        for kind, get in _CONTROLS.items()
    ),
    *(
        (
            f"{kind}.quality_of_service",
            _setter(get, "quality_of_service"),
            dict.fromkeys([0, None, "NORMAL"], TypeError),
        )
        for kind, get in _CONTROLS.items()
    ),
    *(
        (f"{kind}.{name}", _setter(get, name), _bools())
        for kind, get in _TCP_CONTROLS.items()
        for name in ("keep_alive", "no_delay")
    ),
    *(
        (
            f"{kind}.outbound_buffer_size_in_bytes",
            _setter(get, "outbound_buffer_size_in_bytes"),
            _buffer_sizes(),
        )
        for kind, get in _TCP_CONTROLS.items()
    ),
    *(
        (
            f"{kind}.tls_handshake_timeout",
            _setter(get, "tls_handshake_timeout"),
            _optional_seconds(),
        )
        for kind, get in _TCP_CONTROLS.items()
    ),
    *(
        (
            f"{kind}.trusted_certificates",
            _setter(get, "trusted_certificates"),
            dict.fromkeys(["ca.pem", 5, (5,), None], TypeError),
        )
        for kind, get in _TCP_CONTROLS.items()
    ),
    (
        "StreamSocketControl.serialize_connection_attempts",
        _setter(_stream_control, "serialize_connection_attempts"),
        _bools(),
    ),
    (
        "StreamSocketControl.connect_timeout",
        _setter(_stream_control, "connect_timeout"),
        _optional_seconds(),
    ),
    (
        "StreamSocketControl.client_certificate",
        _setter(_stream_control, "client_certificate"),
        dict.fromkeys(["cert.pem", 5], TypeError),
    ),
    (
        "StreamSocketControl.ignorable_server_certificate_errors",
        _setter(_stream_control, "ignorable_server_certificate_errors"),
        dict.fromkeys([5, "EXPIRED", (5,), None], TypeError),
    ),
    (
        "StreamSocketControl.min_protection_level",
        _setter(_stream_control, "min_protection_level"),
        dict.fromkeys([1, "TLS12", None], TypeError),
    ),
    (
        "StreamSocketListenerControl.server_certificate",
        _setter(_listener_control, "server_certificate"),
        dict.fromkeys(["cert.pem", 5], TypeError),
    ),
    (
        "StreamSocketListenerControl.client_certificate_required",
        _setter(_listener_control, "client_certificate_required"),
        _bools(),
    ),
    *(
        (f"DatagramSocketControl.{name}", _setter(_datagram_control, name), _bools())
        for name in ("dont_fragment", "multicast_only")
    ),
    (
        "DatagramSocketControl.inbound_buffer_size_in_bytes",
        _setter(_datagram_control, "inbound_buffer_size_in_bytes"),
        _buffer_sizes(),
    ),
    (
        "DatagramSocketControl.multicast_hop_limit",
        _setter(_datagram_control, "multicast_hop_limit"),
        _hop_limits(0),
    ),
    (
        "DatagramSocketControl.multicast_interface",
        _setter(_datagram_control, "multicast_interface"),
        {
            5: TypeError,
            b"lo": TypeError,
            "no-such-interface": ValueError,
            "x" * 10_000_000: ValueError,
            "127.0.0.1%lo": ValueError,
            "fe80::1": ValueError,
            # Numbers name an interface by index: one that exists, in ASCII digits.
            "99999999999": ValueError,
            "4294967295": ValueError,
            "0": ValueError,
            "\u0967": ValueError,  # DEVANAGARI DIGIT ONE
            "\u00b2": ValueError,  # SUPERSCRIPT TWO
            "fe80::1%4294967296": ValueError,
        },
    ),
    (
        "OutputStream.max_pending_bytes",
        lambda objects, value: setattr(objects["client"].output_stream, "max_pending_bytes", value),
        {**_counts(), b"1": TypeError},
    ),
    (
        "StreamSocket.receive_some max_bytes",
        lambda objects, value: objects["server"].receive_some(value),
        {**dict.fromkeys(["5", 5.0, True], TypeError), **dict.fromkeys([0, -1, -HUGE], ValueError)},
    ),
    (
        "InputStream.read count",
        lambda objects, value: objects["server"].input_stream.read(value),
        _counts(),
    ),
    (
        "DataReader.load count",
        lambda objects, value: objects["stream_reader"].load(value),
        _counts(),
    ),
    (
        "DataReader.read_bytes count",
        lambda objects, value: objects["reader"].read_bytes(value),
        {**_counts(), None: TypeError},
    ),
    (
        "DataReader.read_buffer length",
        lambda objects, value: objects["reader"].read_buffer(value),
        _counts(),
    ),
    (
        "DataReader.read_string code_unit_count",
        lambda objects, value: objects["reader"].read_string(value),
        _counts(),
    ),
    (
        "DataWriter.write_buffer start",
        lambda objects, value: objects["writer"].write_buffer(b"abc", value, 1),
        _counts(),
    ),
    (
        "DataWriter.write_buffer count",
        lambda objects, value: objects["writer"].write_buffer(b"abc", 0, value),
        {**_counts(), None: None},
    ),
    (
        "Resolver port",
        lambda objects, value: Resolver(["127.0.0.1"], value),
        {
            **dict.fromkeys(["53", 53.0, True, None], TypeError),
            **dict.fromkeys([0, 65536, -1, HUGE], ValueError),
        },
    ),
    (
        "Resolver timeout",
        lambda objects, value: Resolver(timeout=value),
        {
            **dict.fromkeys([*_NOT_SECONDS, None], TypeError),
            **dict.fromkeys(_BAD_SECONDS, ValueError),
        },
    ),
    (
        "Resolver attempts",
        lambda objects, value: Resolver(attempts=value),
        {
            **dict.fromkeys(["3", 3.0, True, None], TypeError),
            **dict.fromkeys([0, -1, -HUGE, 10**400, HUGE], ValueError),
        },
    ),
    (
        "Resolver name server",
        lambda objects, value: Resolver(value),
        {
            "127.0.0.1": TypeError,
            5: TypeError,
            (5,): TypeError,
            (): ValueError,
            ("x" * 10_000_000,): ValueError,
            ("ns.example.test",): ValueError,
        },
    ),
    (
        "DatagramSocket message_queue_size",
        lambda objects, value: DatagramSocket(message_queue_size=value),
        {
            **dict.fromkeys(["5", 5.0, True, None], TypeError),
            **dict.fromkeys([0, -1, -HUGE], ValueError),
        },
    ),
    *(
        (
            f"{kind.__name__} resolver",
            lambda objects, value, kind=kind: kind(resolver=value),
            dict.fromkeys(["127.0.0.1", ("127.0.0.1",), 5], TypeError),
        )
        for kind in (StreamSocket, StreamSocketListener, DatagramSocket)
    ),
    *(
        (f"{kind}.{name}", _setter(lambda objects, kind=kind: objects[kind], name), bad)
        for kind in ("reader", "writer")
        for name, bad in (
            ("byte_order", dict.fromkeys([0, 1, "LITTLE_ENDIAN", None], TypeError)),
            ("unicode_encoding", dict.fromkeys([0, "utf-8", None], TypeError)),
        )
    ),
    (
        "DataReader.input_stream_options",
        _setter(lambda objects: objects["reader"], "input_stream_options"),
        dict.fromkeys([0, 1, "PARTIAL", None], TypeError),
    ),
    *(
        (f"EndpointPair.{name}", _setter(lambda objects: objects["pair"], name), bad)
        for name, bad in (
            ("local_host_name", {5: TypeError, "x" * 10_000_000: ValueError, "a b": ValueError}),
            ("remote_host_name", {5: TypeError, b"localhost": TypeError, "-a": ValueError}),
            (
                "local_service_name",
                {5: TypeError, "65536": ValueError, "a." * 5_000_000: ValueError},
            ),
            ("remote_service_name", {5: TypeError, "0": ValueError, "x" * 64: ValueError}),
        )
    ),
    (
        "HostName",
        lambda objects, value: HostName(value),
        {
            5: TypeError,
            None: TypeError,
            "x" * 10_000_000: ValueError,
            "a." * 5_000_000: ValueError,
            "x" * 300: ValueError,
            "127.1.": ValueError,
        },
    ),
    (
        "EndpointPair remote_service_name",
        lambda objects, value: EndpointPair(None, None, "localhost", value),
        {
            5: TypeError,
            "a." * 5_000_000: ValueError,
            "x" * 64: ValueError,
            "99999": ValueError,
            "-1": ValueError,
        },
    ),
]


async def test_every_setter_and_size_argument_names_a_bad_value_briefly(
    tcp_pair: tuple[StreamSocket, StreamSocket],
) -> None:
    """Each public setter, size argument and keyword, with values of the wrong type
    (a bool where an int is meant included), negative, huge (10**5000, whose repr Python
    refuses), NaN and infinite: a TypeError or ValueError whose message names the setter
    or argument and shows the value, in at most 400 characters, and the setting keeps
    its old value."""
    client, server = tcp_pair
    async with DatagramSocket() as datagram, StreamSocketListener() as listener:
        objects = {
            "client": client,
            "server": server,
            "datagram": datagram,
            "listener": listener,
            "reader": DataReader.from_buffer(b"abcd"),
            "stream_reader": DataReader(server.input_stream),
            "writer": DataWriter(),
            "pair": EndpointPair(None, None, "localhost", "80"),
        }
        checked = 0
        for what, apply, bad in SETTERS:
            for value, error in bad.items():
                if error is None:
                    continue
                with trio.fail_after(5):
                    try:
                        result = apply(objects, value)
                        if inspect.isawaitable(result):
                            await result
                    except (TypeError, ValueError) as exc:
                        caught: Exception = exc
                    else:
                        pytest.fail(f"{what} = {shown(value)} was accepted")
                assert type(caught) is error or isinstance(caught, error), (what, value, caught)
                message = str(caught)
                assert len(message) <= MAX_MESSAGE, (what, shown(value), message[:500])
                name = what.split()[-1].split(".")[-1]
                assert name.lower() in message.lower() or "host name" in message, (what, message)
                if not isinstance(value, tuple) and len(shown(value)) < 40:
                    assert shown(value) in message or type(value).__name__ in message, (
                        what,
                        shown(value),
                        message,
                    )
                checked += 1
        assert checked > 250
        # Nothing was changed by a refused value.
        assert client.control.outbound_unicast_hop_limit == 128
        assert client.control.connect_timeout is None
        assert client.output_stream.max_pending_bytes == 64 * 1024 * 1024
        assert datagram.control.multicast_hop_limit == 1


def test_a_huge_count_past_the_loaded_bytes_is_named_briefly() -> None:
    """A count beyond what is loaded, however large (10**5000 has a repr Python refuses),
    names the read and shows the count in a bounded form; nothing is consumed."""
    reader = DataReader.from_buffer(b"abcdef")
    writer = DataWriter()
    calls: list[tuple[str, Callable[[int], object]]] = [
        ("read_bytes", reader.read_bytes),
        ("read_buffer", reader.read_buffer),
        ("read_string", reader.read_string),
        ("write_buffer: start", lambda count: writer.write_buffer(b"abc", count)),
        ("write_buffer: start 0 + count", lambda count: writer.write_buffer(b"abc", 0, count)),
    ]
    for count in (10**400, HUGE):
        for what, call in calls:
            with pytest.raises((EOFError, ValueError)) as caught:
                call(count)
            message = str(caught.value)
            assert message.startswith(what), message[:200]
            assert len(message) <= MAX_MESSAGE, message[:500]
            assert f"<an int of {count.bit_length()} bits>" in message
    assert reader.unconsumed_buffer_length == 6
    assert writer.unstored_buffer_length == 0


async def test_an_endpoint_pair_without_its_remote_is_named_briefly() -> None:
    long_name = ".".join(["a" * 62] * 4)  # a valid name of 251 octets
    soft_hyphens = ("a" + "\u00ad" * 8 + ".") * 100 + "example"  # mapped away: valid
    async with DatagramSocket() as sock:
        for pair in (
            EndpointPair(long_name, "", long_name, ""),
            EndpointPair(soft_hyphens, "", None, ""),
        ):
            with pytest.raises(ValueError, match="has no remote") as caught:
                await sock.connect(pair)
            assert len(str(caught.value)) <= MAX_MESSAGE, str(caught.value)[:500]


@pytest.mark.parametrize("size", [2**45, 2**63, 10**400])
async def test_receive_some_takes_any_size_and_returns_what_arrived(
    tcp_pair: tuple[StreamSocket, StreamSocket], size: int
) -> None:
    """receive_some(n) receives at most n bytes: a size larger than memory is valid, and
    returns what has arrived (one call gives at most MAX_RECEIVE_SIZE)."""
    client, server = tcp_pair
    with trio.fail_after(10):
        await client.send_all(b"hello")
        assert await server.receive_some(size) == b"hello"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_all, b"x" * (MAX_RECEIVE_SIZE + 100_000))
            received = 0
            while received < MAX_RECEIVE_SIZE + 100_000:
                chunk = await server.receive_some(size)
                assert 0 < len(chunk) <= MAX_RECEIVE_SIZE
                received += len(chunk)
        await client.send_all(b"!")
        assert await server.input_stream.read(size, InputStreamOptions.PARTIAL) == b"!"


def test_shown_is_bounded_for_any_value() -> None:
    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    for value in [
        "x" * 10_000_000,
        HUGE,
        -HUGE,
        b"y" * 10_000_000,
        list(range(10**6)),
        BadRepr(),
        1.5,
        "short",
    ]:
        text = shown(value)
        assert 0 < len(text) <= MAX_SHOWN
    assert shown("short") == "'short'"
    assert shown(HUGE) == "<an int of 16610 bits>"
    assert shown(BadRepr()).startswith("<BadRepr ")


async def test_cli_resolve_looks_srv_targets_up_together(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """``trio-sockets resolve`` with 16 SRV targets of which only the last answers: the
    targets are looked up together, as a connect does, so the command takes the SRV
    query and one lookup's lifetime (the CLI's resolver has the default one), not 16,
    and still reports them in order. The clock jumps whenever every task waits, so the
    lifetimes cost no real time."""
    lifetime = DEFAULT_TIMEOUT * DEFAULT_ATTEMPTS
    async with hostile_dns(_srv_targets_answering(15)) as port:
        arguments = ["resolve", "h.test", "svc", "--nameserver", "127.0.0.1", "--port", str(port)]
        args = _parser().parse_args(arguments)
        start = trio.current_time()
        await resolve_command(args)
        elapsed = trio.current_time() - start
    assert lifetime <= elapsed < 2 * lifetime, elapsed
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("target ")] == [
        f"target {index + 1}: t{index}.test:{100 + index} (priority {index}, weight 0)"
        for index in range(16)
    ]
    assert lines[-1] == "  address 127.0.0.1 port 115"
    assert err.count("CONNECTION_TIMED_OUT: target ") == 15
