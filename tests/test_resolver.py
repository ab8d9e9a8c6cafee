"""Resolver: service names (port, services database, DNS SRV) and host names, against a
real DNS server (dnsmasq on loopback) and, for the system-resolver path, inside a
throwaway network and mount namespace."""

from __future__ import annotations

import collections
import hashlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import IN_CI, free_tcp_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netns import inside, network_namespace

from trio_sockets import (
    DatagramSocket,
    EndpointPair,
    HostName,
    Resolver,
    ServiceTarget,
    SocketError,
    SocketErrorStatus,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets._io.srv import MAX_SRV_TARGETS
from trio_sockets._pytest_plugin import DnsServerFactory
from trio_sockets.testing import DnsServer, SrvRecord

# Service names that are in no services database, so they go to DNS SRV.
SERVICE = "trioecho"
SRV_NAME = f"_{SERVICE}._tcp.svc.test"


async def listen_on(nursery: trio.Nursery, address: str) -> StreamSocketListener:
    """An entered listener on *address*, port chosen by the system, closed with *nursery*."""
    listener = StreamSocketListener()
    await nursery.start(_run_listener, listener)
    await listener.bind_endpoint(HostName(address), "0")
    return listener


async def _run_listener(
    listener: StreamSocketListener, *, task_status: trio.TaskStatus[None]
) -> None:
    async with listener:
        task_status.started()
        await trio.sleep_forever()


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


@pytest.fixture
async def silent_nameserver() -> AsyncIterator[tuple[int, socket.socket]]:
    """(port, socket): a UDP socket on 127.0.0.1 that receives queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        yield sock.getsockname()[1], sock


def pending_datagrams(sock: socket.socket) -> int:
    for count in range(10_000):
        try:
            sock.recv(4096)
        except BlockingIOError:
            return count
    raise AssertionError("more datagrams than any test sends")


# -- service names without DNS ----------------------------------------------------------


async def test_port_numbers_and_the_services_database_need_no_dns(
    silent_nameserver: tuple[int, socket.socket],
) -> None:
    port, sock = silent_nameserver
    resolver = Resolver(["127.0.0.1"], port, timeout=0.5, attempts=1)
    host = HostName("example.test")
    start = trio.current_time()
    assert await resolver.resolve_targets(host, "http", "tcp") == [ServiceTarget(host, 80)]
    assert await resolver.resolve_targets(host, "domain", "udp") == [ServiceTarget(host, 53)]
    assert await resolver.resolve_targets("example.test", "8080", "tcp") == [
        ServiceTarget(host, 8080)
    ]
    assert await resolver.resolve_port("https", "tcp", local=False) == 443
    # An IP address with an unknown service: no SRV lookup under an address.
    with pytest.raises(SocketStatusError) as info:
        await resolver.resolve_targets(HostName("127.0.0.1"), SERVICE, "tcp")
    assert info.value.status == SocketErrorStatus.CLASS_TYPE_NOT_FOUND
    assert SERVICE in str(info.value)
    assert trio.current_time() - start < 0.5
    assert pending_datagrams(sock) == 0


async def test_ip_literals_and_localhost_never_reach_dns(
    silent_nameserver: tuple[int, socket.socket],
) -> None:
    port, sock = silent_nameserver
    resolver = Resolver(["127.0.0.1"], port, timeout=0.5, attempts=1)
    assert await resolver.resolve_addresses(HostName("127.0.0.2"), 7, "tcp") == [
        (socket.AF_INET, ("127.0.0.2", 7))
    ]
    assert await resolver.resolve_addresses(HostName("::1"), 7, "udp") == [
        (socket.AF_INET6, ("::1", 7, 0, 0))
    ]
    assert await resolver.resolve_addresses(HostName("LocalHost"), 7, "tcp") == [
        (socket.AF_INET6, ("::1", 7, 0, 0)),
        (socket.AF_INET, ("127.0.0.1", 7)),
    ]
    assert pending_datagrams(sock) == 0


async def test_listeners_bind_through_the_services_database_only(
    dns_server: DnsServerFactory,
) -> None:
    server = await dns_server(
        srv=[SrvRecord(f"_{SERVICE}._tcp.localhost.test", "a.test", 7001)],
        hosts={"a.test": "127.0.0.1"},
    )
    async with StreamSocketListener(resolver=server.resolver()) as listener:
        with pytest.raises(SocketStatusError) as info:
            await listener.bind_service_name(SERVICE)
    assert info.value.status == SocketErrorStatus.CLASS_TYPE_NOT_FOUND


# -- DNS SRV ----------------------------------------------------------------------------


async def test_srv_priority_order_is_honoured(dns_server: DnsServerFactory) -> None:
    # dnsmasq rotates the records in every answer, so wire order proves nothing.
    server = await dns_server(
        srv=[
            SrvRecord(SRV_NAME, "c.svc.test", 7003, priority=30, weight=5),
            SrvRecord(SRV_NAME, "a.svc.test", 7001, priority=10, weight=0),
            SrvRecord(SRV_NAME, "b1.svc.test", 7002, priority=20, weight=50),
            SrvRecord(SRV_NAME, "b2.svc.test", 7012, priority=20, weight=50),
        ]
    )
    resolver = server.resolver()
    seen_second = set()
    for _ in range(40):
        targets = await resolver.resolve_targets(HostName("svc.test"), SERVICE, "tcp")
        assert [t.priority for t in targets] == [10, 20, 20, 30]
        assert targets[0] == ServiceTarget(HostName("a.svc.test"), 7001, 10, 0)
        assert targets[-1] == ServiceTarget(HostName("c.svc.test"), 7003, 30, 5)
        seen_second.add(targets[1].port)
    # Equal weights within priority 20: both orders occur (probability of not: 2**-39).
    assert seen_second == {7002, 7012}


async def test_srv_weights_choose_the_first_target_in_proportion(
    dns_server: DnsServerFactory,
) -> None:
    server = await dns_server(
        srv=[
            SrvRecord(SRV_NAME, "heavy.svc.test", 7001, priority=1, weight=75),
            SrvRecord(SRV_NAME, "light.svc.test", 7002, priority=1, weight=25),
        ]
    )
    resolver = server.resolver()
    runs = 1000
    firsts: collections.Counter[int] = collections.Counter()
    for _ in range(runs):
        targets = await resolver.resolve_targets(HostName("svc.test"), SERVICE, "tcp")
        assert {t.port for t in targets} == {7001, 7002}
        firsts[targets[0].port] += 1
    # RFC 2782: the first target is "heavy" with probability 75 / (75 + 25). Its count is
    # binomial(n=1000, p=0.75): mean 750, standard deviation sqrt(n p (1-p)) = 13.7. The
    # bound is 5 standard deviations, so a correct implementation fails this test with
    # probability below 1e-6, while a weight-blind one (p = 0.5, count near 500) or a
    # deterministic one (count 0 or 1000) cannot pass.
    p, sigma = 0.75, math.sqrt(runs * 0.75 * 0.25)
    assert abs(firsts[7001] - runs * p) <= 5 * sigma, firsts


async def test_srv_connect_falls_through_to_the_next_target(
    dns_server: DnsServerFactory, nursery: trio.Nursery
) -> None:
    first = await listen_on(nursery, "127.0.0.2")
    later = await listen_on(nursery, "127.0.0.1")
    refused = free_tcp_port("127.0.0.1")
    server = await dns_server(
        srv=[
            SrvRecord(SRV_NAME, "down.svc.test", refused, priority=1),
            SrvRecord(SRV_NAME, "up.svc.test", int(first.information.local_port), priority=2),
            SrvRecord(SRV_NAME, "down.svc.test", int(later.information.local_port), priority=3),
        ],
        hosts={"down.svc.test": "127.0.0.1", "up.svc.test": "127.0.0.2"},
    )
    async with StreamSocket(resolver=server.resolver()) as client:
        await client.connect(HostName("svc.test"), SERVICE)
        assert client.information.remote_address == HostName("127.0.0.2")
        assert client.information.remote_port == first.information.local_port
        assert client.information.remote_service_name == SERVICE
        assert client.information.remote_host_name == HostName("svc.test")
        async with await first.accept() as peer:
            await client.send_all(b"via SRV")
            assert await peer.receive_some() == b"via SRV"


async def test_srv_connect_error_names_every_target(dns_server: DnsServerFactory) -> None:
    ports = [free_tcp_port("127.0.0.1"), free_tcp_port("127.0.0.2")]
    server = await dns_server(
        srv=[
            SrvRecord(SRV_NAME, "one.svc.test", ports[0], priority=1),
            SrvRecord(SRV_NAME, "two.svc.test", ports[1], priority=2),
            SrvRecord(SRV_NAME, "gone.svc.test", 9, priority=3),
        ],
        hosts={"one.svc.test": "127.0.0.1", "two.svc.test": "127.0.0.2"},
    )
    async with StreamSocket(resolver=server.resolver()) as client:
        with pytest.raises(SocketStatusError) as info:
            await client.connect(EndpointPair(None, "", "svc.test", SERVICE))
        error = info.value
        assert error.status == SocketErrorStatus.CONNECTION_REFUSED
        assert SocketError.get_status(error) == SocketErrorStatus.CONNECTION_REFUSED
        assert isinstance(error, ConnectionRefusedError)
        message = str(error)
        assert f"one.svc.test:{ports[0]}" in message
        assert f"two.svc.test:{ports[1]}" in message
        assert "gone.svc.test:9" in message
        assert "HOST_NOT_FOUND" in message
        assert isinstance(error.__cause__, ExceptionGroup)
        assert len(error.__cause__.exceptions) == 3
        # A failed connect leaves the socket usable.
        assert client.information.remote_address is None


async def test_srv_dot_target_means_not_available(dns_server: DnsServerFactory) -> None:
    server = await dns_server(srv=[SrvRecord(SRV_NAME, ".")])
    resolver = server.resolver()
    with pytest.raises(SocketStatusError) as info:
        await resolver.resolve_targets(HostName("svc.test"), SERVICE, "tcp")
    assert info.value.status == SocketErrorStatus.CLASS_TYPE_NOT_FOUND
    assert "decidedly not available" in str(info.value)
    assert SRV_NAME in str(info.value)
    async with StreamSocket(resolver=resolver) as client:
        with pytest.raises(SocketStatusError) as info:
            await client.connect(HostName("svc.test"), SERVICE)
    assert info.value.status == SocketErrorStatus.CLASS_TYPE_NOT_FOUND


async def test_unusable_srv_targets_are_skipped(dns_server: DnsServerFactory) -> None:
    server = await dns_server(
        srv=[
            SrvRecord(SRV_NAME, "zero.svc.test", 0, priority=1),
            SrvRecord(SRV_NAME, "ok.svc.test", 7001, priority=2),
            SrvRecord(f"_{SERVICE}._tcp.only-zero.test", "zero.svc.test", 0),
        ]
    )
    resolver = server.resolver()
    assert await resolver.resolve_targets(HostName("svc.test"), SERVICE, "tcp") == [
        ServiceTarget(HostName("ok.svc.test"), 7001, 2, 0)
    ]
    with pytest.raises(SocketStatusError) as info:
        await resolver.resolve_targets(HostName("only-zero.test"), SERVICE, "tcp")
    assert info.value.status == SocketErrorStatus.NO_ADDRESSES_FOUND
    assert "zero.svc.test:0" in str(info.value)


async def test_nxdomain_and_missing_srv_records_are_host_not_found(
    dns_server: DnsServerFactory,
) -> None:
    server = await dns_server(
        txt={SRV_NAME: "a name with no SRV record"}, hosts={"plain.test": "127.0.0.1"}
    )
    resolver = server.resolver()
    for host in ("nowhere.test", "svc.test"):
        with pytest.raises(SocketStatusError) as info:
            await resolver.resolve_targets(HostName(host), SERVICE, "tcp")
        assert info.value.status == SocketErrorStatus.HOST_NOT_FOUND
        assert f"_{SERVICE}._tcp.{host}" in str(info.value)
        assert SocketError.get_status(info.value) == SocketErrorStatus.HOST_NOT_FOUND
    with pytest.raises(SocketStatusError) as info:
        await resolver.resolve_addresses(HostName("nowhere.test"), 80, "tcp")
    assert info.value.status == SocketErrorStatus.HOST_NOT_FOUND
    assert "nowhere.test" in str(info.value)
    async with StreamSocket(resolver=resolver) as client:
        with pytest.raises(SocketStatusError) as info:
            await client.connect(HostName("nowhere.test"), "80")
    assert info.value.status == SocketErrorStatus.HOST_NOT_FOUND


async def test_a_nameserver_that_does_not_answer_times_out_within_the_bound(
    silent_nameserver: tuple[int, socket.socket],
) -> None:
    port, sock = silent_nameserver
    resolver = Resolver(["127.0.0.1"], port, timeout=0.2, attempts=2)
    assert resolver.lifetime == pytest.approx(0.4)
    for lookup in (
        resolver.resolve_targets(HostName("svc.test"), SERVICE, "tcp"),
        resolver.resolve_addresses(HostName("a.svc.test"), 80, "tcp"),
    ):
        start = trio.current_time()
        with pytest.raises(SocketStatusError) as info:
            await lookup
        elapsed = trio.current_time() - start
        assert info.value.status == SocketErrorStatus.CONNECTION_TIMED_OUT
        assert SocketError.get_status(info.value) == SocketErrorStatus.CONNECTION_TIMED_OUT
        assert isinstance(info.value, TimeoutError)
        # The bound is timeout * attempts = 0.4 s: the lookup must not give up early, and
        # may end late only by scheduling delay (a margin of 0.35 s for a loaded machine).
        assert 0.4 - 0.01 <= elapsed <= 0.4 + 0.35, elapsed
    assert pending_datagrams(sock) >= 2


async def test_srv_target_list_is_bounded(dns_server: DnsServerFactory) -> None:
    # 24 records do not fit a 512-byte UDP answer: this also crosses the TCP retry.
    records = [
        SrvRecord(SRV_NAME, f"t{index}.svc.test", 7000 + index, priority=index)
        for index in range(24)
    ]
    server = await dns_server(srv=records)
    targets = await server.resolver().resolve_targets(HostName("svc.test"), SERVICE, "tcp")
    assert len(targets) == MAX_SRV_TARGETS
    assert [t.port for t in targets] == [7000 + index for index in range(MAX_SRV_TARGETS)]


async def test_dotted_service_names_keep_their_inner_labels(
    dns_server: DnsServerFactory,
) -> None:
    server = await dns_server(
        srv=[
            SrvRecord("_stun._service01._udp.svc.test", "a.svc.test", 3478),
            SrvRecord("_stun._service01._tcp.svc.test", "a.svc.test", 3479),
        ]
    )
    resolver = server.resolver()
    host = HostName("svc.test")
    (udp,) = await resolver.resolve_targets(host, "stun._service01", "udp")
    (tcp,) = await resolver.resolve_targets(host, "stun._service01", "tcp")
    assert (udp.host, udp.port, tcp.port) == (HostName("a.svc.test"), 3478, 3479)


async def test_get_endpoint_pairs_follows_the_srv_targets(
    dns_server: DnsServerFactory,
) -> None:
    server = await dns_server(
        srv=[
            SrvRecord(SRV_NAME, "first.svc.test", 7001, priority=1),
            SrvRecord(SRV_NAME, "second.svc.test", 7002, priority=2),
            SrvRecord(SRV_NAME, "missing.svc.test", 7003, priority=3),
        ],
        hosts={"first.svc.test": ["127.0.0.3", "127.0.0.4"], "second.svc.test": "127.0.0.5"},
    )
    pairs = await StreamSocket.get_endpoint_pairs(
        HostName("svc.test"), SERVICE, resolver=server.resolver()
    )
    remotes = [(str(p.remote_host_name), p.remote_service_name) for p in pairs]
    # dnsmasq rotates the addresses of a name too: the first target's two in any order.
    assert sorted(remotes[:2]) == [("127.0.0.3", "7001"), ("127.0.0.4", "7001")]
    assert remotes[2:] == [("127.0.0.5", "7002")]
    assert all(p.local_host_name is not None for p in pairs)


async def test_host_names_through_dns_follow_cnames(dns_server: DnsServerFactory) -> None:
    server = await dns_server(
        hosts={"real.test": ["127.0.0.7", "::1"]}, cname={"alias.test": "real.test"}
    )
    addresses = await server.resolver().resolve_addresses(HostName("alias.test"), 80, "tcp")
    assert addresses == [(socket.AF_INET6, ("::1", 80, 0, 0)), (socket.AF_INET, ("127.0.0.7", 80))]


async def test_an_ipv4_mapped_aaaa_answer_is_its_ipv4_address(
    dns_server: DnsServerFactory,
) -> None:
    """As the literal ``::ffff:127.0.0.1`` is: an IPv4-bound socket reaches it, and an A
    record of the same address makes no second entry."""
    server = await dns_server(
        hosts={"mapped.test": ["::ffff:127.0.0.1"], "both.test": ["::ffff:127.0.0.1", "127.0.0.1"]}
    )
    resolver = server.resolver()
    for name in ("mapped.test", "both.test"):
        addresses = await resolver.resolve_addresses(HostName(name), 80, "tcp")
        assert addresses == [(socket.AF_INET, ("127.0.0.1", 80))], name
    with trio.fail_after(10):
        async with (
            StreamSocketListener() as listener,
            StreamSocket(resolver=resolver) as client,
            DatagramSocket() as receiver,
            DatagramSocket(resolver=resolver) as sender,
        ):
            await listener.bind_endpoint("127.0.0.1", "0")
            pair = EndpointPair(
                HostName("127.0.0.1"), "", HostName("mapped.test"), listener.information.local_port
            )
            await client.connect(pair)
            assert client.information.remote_address == HostName("127.0.0.1")
            await receiver.bind_endpoint("127.0.0.1", "0")
            await sender.bind_endpoint("127.0.0.1", "0")
            out = await sender.get_output_stream(
                HostName("mapped.test"), receiver.information.local_port
            )
            await out.write(b"to the mapped name")
            assert (await receiver.message_received.receive()).data == b"to the mapped name"
            await (await listener.connection_received.receive()).socket.aclose()


async def test_internationalised_names(dns_server: DnsServerFactory, nursery: trio.Nursery) -> None:
    listener = await listen_on(nursery, "127.0.0.1")
    port = int(listener.information.local_port)
    # Published in their A-label form, as a DNS server holds them.
    server = await dns_server(
        srv=[SrvRecord(f"_{SERVICE}._tcp.xn--bcher-kva.test", "xn--mnchen-3ya.test", port)],
        hosts={"xn--mnchen-3ya.test": "127.0.0.1"},
    )
    resolver = server.resolver()
    (target,) = await resolver.resolve_targets(HostName("Bücher.test"), SERVICE, "tcp")
    assert target.host == HostName("münchen.test")
    assert target.host.display_name == "münchen.test"
    assert str(target) == f"münchen.test:{port}"
    assert await resolver.resolve_addresses(HostName("MÜNCHEN.test"), 1, "tcp") == [
        (socket.AF_INET, ("127.0.0.1", 1))
    ]
    async with StreamSocket(resolver=resolver) as client:
        await client.connect(HostName("bücher.test"), SERVICE)
        assert client.information.remote_port == str(port)
        (await listener.accept())._close_now()


# -- the Resolver object ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ("127.0.0.1", {}, TypeError),
        ([], {}, ValueError),
        (["ns.example"], {}, ValueError),
        ([53], {}, TypeError),
        (["127.0.0.1"], {"port": 0}, ValueError),
        (["127.0.0.1"], {"port": "53"}, TypeError),
        (None, {"timeout": 0}, ValueError),
        (None, {"timeout": math.inf}, ValueError),
        (None, {"timeout": "1"}, TypeError),
        (None, {"attempts": 0}, ValueError),
        (None, {"attempts": 1.5}, TypeError),
    ],
)
def test_resolver_rejects_bad_arguments(
    args: object, kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Resolver(args, **kwargs)  # type: ignore[arg-type]


async def test_resolver_rejects_bad_service_and_protocol() -> None:
    resolver = Resolver(["127.0.0.1"], 9)
    host = HostName("svc.test")
    with pytest.raises(ValueError, match="remote_service_name"):
        await resolver.resolve_targets(host, "0", "tcp")
    with pytest.raises(ValueError, match="not a valid service name"):
        await resolver.resolve_targets(host, "a b", "tcp")
    with pytest.raises(TypeError):
        await resolver.resolve_targets(host, 80, "tcp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="protocol"):
        await resolver.resolve_targets(host, "80", "sctp")  # type: ignore[arg-type]


def test_resolver_repr_and_properties() -> None:
    assert repr(Resolver()) == "Resolver()"
    resolver = Resolver(["127.0.0.1", "::1"], 53535, timeout=0.5, attempts=4)
    assert resolver.nameservers == ("127.0.0.1", "::1")
    assert (resolver.port, resolver.timeout, resolver.attempts) == (53535, 0.5, 4)
    assert resolver.lifetime == 2.0
    assert repr(resolver) == (
        "Resolver(nameservers=['127.0.0.1', '::1'], port=53535, timeout=0.5, attempts=4)"
    )


async def test_dns_server_stops_its_process() -> None:
    if shutil.which("dnsmasq") is None and not IN_CI:
        pytest.skip("dnsmasq is not installed (Debian package dnsmasq-base)")
    async with DnsServer(hosts={"a.test": "127.0.0.1"}) as server:
        process = server._process
        assert process is not None
        assert server.host == "127.0.0.1"
        assert server.port > 1024
        resolver = server.resolver()
    assert process.returncode is not None
    with pytest.raises(RuntimeError, match="not running"):
        server.resolver()
    assert resolver.nameservers == ("127.0.0.1",)


_KILLED_WHILE_SERVING = """
import sys, trio
from trio_sockets.testing import DnsServer

async def main():
    async with DnsServer(hosts={"a.test": "127.0.0.1"}) as server:
        print(server._process.pid, flush=True)
        await trio.sleep(60)

trio.run(main)
"""


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_dns_server_ends_with_a_killed_test_process(how: str) -> None:
    """A test process killed before it stops its DnsServer (no ``finally`` runs) takes
    dnsmasq with it. Before, dnsmasq went on serving, orphaned, until the machine's end."""
    if shutil.which("dnsmasq") is None and not IN_CI:
        pytest.skip("dnsmasq is not installed (Debian package dnsmasq-base)")
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_WHILE_SERVING], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        os.kill(child.pid, getattr(signal, how))
        child.wait(timeout=10)
        for _ in range(500):  # 5 seconds at most
            if not _running(pid):
                break
            time.sleep(0.01)
        assert not _running(pid), f"dnsmasq (pid {pid}) outlived the process that started it"


def _running(pid: int) -> bool:
    """Whether process *pid* exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- properties over generated input --------------------------------------------------

_PUBLISHED = ["svc.test", "a.svc.test", "nowhere.test", "xn--bcher-kva.test", "127.0.0.1", "::1"]
_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9_-]{0,10}[a-z0-9])?", fullmatch=True)
_HOSTS = st.one_of(
    st.sampled_from(_PUBLISHED),
    st.lists(_LABEL, min_size=1, max_size=3).map(lambda labels: ".".join([*labels, "test"])),
    st.text(max_size=24),
)
_SERVICES = st.one_of(
    st.sampled_from([SERVICE, "http", "domain", "stun._service01", "0", "65536", ""]),
    st.integers(min_value=-5, max_value=70000).map(str),
    st.from_regex(r"[a-z][a-z0-9_-]{0,62}(\.[a-z0-9_]{1,8})?", fullmatch=True),
    st.text(max_size=16),
)


@settings(
    max_examples=60,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(host=_HOSTS, service=_SERVICES, protocol=st.sampled_from(["tcp", "udp"]))
async def test_any_host_and_service_resolve_or_fail_classified(
    dns_server: DnsServerFactory, host: str, service: str, protocol: str
) -> None:
    server = await dns_server(
        srv=[
            SrvRecord(SRV_NAME, "a.svc.test", 7001),
            SrvRecord("_stun._service01._udp.svc.test", "."),
        ],
        hosts={"a.svc.test": ["127.0.0.1", "::1"], "xn--bcher-kva.test": "127.0.0.2"},
    )
    resolver = server.resolver(timeout=0.2, attempts=2)
    # Every lookup is bounded by the resolver's lifetime; a hang would fail here.
    failure: SocketStatusError | None = None
    with trio.fail_after(4 * resolver.lifetime + 1):
        try:
            targets = await resolver.resolve_targets(host, service, protocol)  # type: ignore[arg-type]
            assert 1 <= len(targets) <= MAX_SRV_TARGETS
            for target in targets[:2]:
                assert 1 <= target.port <= 65535
                await resolver.resolve_addresses(target.host, target.port, protocol)  # type: ignore[arg-type]
        except SocketStatusError as exc:
            failure = exc
        except (ValueError, TypeError):
            pass
    if failure is not None:
        assert failure.status != SocketErrorStatus.UNKNOWN, failure
        assert SocketError.get_status(failure) == failure.status


# -- the system resolver, in a throwaway namespace ------------------------------------

_INSIDE = """\
import json, sys, trio
from trio_sockets import HostName, Resolver, StreamSocket, StreamSocketListener
from trio_sockets.testing import DnsServer, SrvRecord

async def main():
    out = {}
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint(HostName("127.0.0.1"), "0")
        port = int(listener.information.local_port)
        srv = [SrvRecord("_nsecho._tcp.example.test", "a.example.test", port)]
        async with DnsServer(srv=srv, hosts={"a.example.test": "127.0.0.1"},
                             domain="example.test", port=53):
            resolver = Resolver()
            host = HostName("example.test")
            out["services_file"] = [t.port for t in await resolver.resolve_targets(
                host, "nsfile", "tcp")]
            out["srv"] = [(str(t.host), t.port) for t in await resolver.resolve_targets(
                host, "nsecho", "tcp")]
            out["dns_host"] = [a[1][0] for a in await resolver.resolve_addresses(
                HostName("a.example.test"), 1, "tcp")]
            out["hosts_file"] = [a[1][0] for a in await resolver.resolve_addresses(
                HostName("hosts-only.example.test"), 1, "tcp")]
            try:
                await resolver.resolve_addresses(HostName("nowhere.example.test"), 1, "tcp")
            except OSError as exc:
                out["nxdomain"] = exc.status.name
            async with StreamSocket() as client:
                await client.connect(host, "nsecho")
                out["connected"] = client.information.remote_port == str(port)
    print(json.dumps(out))

trio.run(main)
"""


def _unshare_allowed() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return probe.returncode == 0


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _run_in_a_private_namespace(tmp_path: Path, script: str, files: dict[str, str]) -> Any:
    """Run the Python *script* in new network and mount namespaces, with loopback up and
    each ``/etc/NAME`` of *files* replaced (bind-mounted) by the given text; return the
    JSON it prints. Skips (fails in CI) where ``unshare --net --mount`` is not allowed."""
    if not _unshare_allowed():
        if IN_CI:
            pytest.fail("CI must allow unshare --net --mount (run the tests as root)")
        pytest.skip("unshare --net --mount is not permitted here (needs root)")
    mounts = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        mounts.append(f"mount --bind {tmp_path}/{name} /etc/{name}")
    (tmp_path / "inside.py").write_text(script)
    (tmp_path / "inside.sh").write_text(
        "\n".join(
            ["set -eu", "ip link set lo up", *mounts, f"exec {sys.executable} {tmp_path}/inside.py"]
        )
        + "\n"
    )
    result = subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "private", "sh", tmp_path / "inside.sh"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_system_resolver_in_a_private_namespace(tmp_path: Path) -> None:
    if shutil.which("dnsmasq") is None and not IN_CI:
        pytest.skip("dnsmasq is not installed (Debian package dnsmasq-base)")
    etc = {name: _digest(f"/etc/{name}") for name in ("resolv.conf", "hosts", "services")}
    files = {
        "resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        "hosts": "127.0.0.1 localhost\n127.0.0.9 hosts-only.example.test\n",
        "services": Path("/etc/services").read_text() + "\nnsfile 47001/tcp\n",
    }
    out = _run_in_a_private_namespace(tmp_path, _INSIDE, files)
    assert out == {
        "services_file": [47001],
        "srv": [["a.example.test", out["srv"][0][1]]],
        "dns_host": ["127.0.0.1"],
        "hosts_file": ["127.0.0.9"],
        "nxdomain": "HOST_NOT_FOUND",
        "connected": True,
    }
    # The host's files are untouched.
    assert {name: _digest(f"/etc/{name}") for name in etc} == etc


async def test_datagram_socket_uses_udp_srv_records(dns_server: DnsServerFactory) -> None:
    from trio_sockets import DatagramSocket

    async with DatagramSocket() as echo:
        await echo.bind_endpoint("127.0.0.2", "0")
        port = int(echo.information.local_port)
        server = await dns_server(
            srv=[
                # The lower priority target has no address: the datagram socket skips it.
                SrvRecord("_ping._udp.udp.test", "gone.udp.test", 9, priority=5),
                SrvRecord("_ping._udp.udp.test", "echo.udp.test", port, priority=10),
                # A TCP record of the same service must not be used for UDP.
                SrvRecord("_ping._tcp.udp.test", "tcp-only.udp.test", 7, priority=1),
            ],
            hosts={"echo.udp.test": "127.0.0.2", "tcp-only.udp.test": "127.0.0.3"},
        )
        async with trio.open_nursery() as nursery:

            async def answer() -> None:
                async for message in echo.message_received:
                    assert message.remote_address is not None
                    out = await echo.get_output_stream(message.remote_address, message.remote_port)
                    await out.write(b"pong:" + message.data)

            nursery.start_soon(answer)
            with trio.fail_after(10):
                async with DatagramSocket(resolver=server.resolver()) as client:
                    await client.connect(HostName("udp.test"), "ping")
                    assert client.information.remote_address == HostName("127.0.0.2")
                    assert client.information.remote_port == str(port)
                    await client.output_stream.write(b"connected")
                    reply = await client.message_received.receive()
                    assert reply.data == b"pong:connected"
                async with DatagramSocket(resolver=server.resolver()) as sender:
                    stream = await sender.get_output_stream(HostName("udp.test"), "ping")
                    await stream.write(b"streamed")
                    reply = await sender.message_received.receive()
                    assert reply.data == b"pong:streamed"
            nursery.cancel_scope.cancel()


# Run inside a net + mount namespace whose resolv.conf names a server that takes every
# query and never answers (glibc waits timeout:2 x attempts:1 per query), with an
# nsswitch.conf that asks /etc/hosts first, as Debian's does.
_SILENT_DNS = """\
import json, socket, trio
from trio_sockets import HostName, Resolver, SocketStatusError, StreamSocket
from trio_sockets._io.system_lookups import MAX_SYSTEM_LOOKUPS

async def timed(lookup):
    start = trio.current_time()
    try:
        value = await lookup()
    except SocketStatusError as exc:
        value = exc.status.name
    return value, trio.current_time() - start

async def main():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 53))
    web = socket.create_server(("127.0.0.1", 80))
    resolver = Resolver(timeout=0.25, attempts=1)
    out = {"silent": []}

    def silent_name(index):
        return lambda: resolver.resolve_addresses(HostName(f"n{index}.silent.test"), 80, "tcp")

    async def silent_lookup(index):
        out["silent"].append(await timed(silent_name(index)))

    async with trio.open_nursery() as nursery:
        for index in range(45):
            nursery.start_soon(silent_lookup, index)
    # The silent lookups' threads are still stuck in libc for about two seconds.
    async def hosts_file_name():
        addresses = await resolver.resolve_addresses(HostName("files-only.test"), 1, "tcp")
        return [sockaddr[0] for _, sockaddr in addresses]

    out["hosts"] = await timed(hosts_file_name)
    out["services"] = await timed(lambda: resolver.resolve_port("http", "tcp", local=False))

    async def connect():
        async with StreamSocket() as client:
            client.control.connect_timeout = 5
            await client.connect(HostName("127.0.0.1"), "http")
            return client.information.remote_port

    out["connect"] = await timed(connect)
    start = trio.current_time()
    try:
        await silent_name("late")()
    except SocketStatusError as exc:
        out["past_the_bound"] = [exc.status.name, trio.current_time() - start,
                                 f"all {MAX_SYSTEM_LOOKUPS} lookup threads" in str(exc)]
    out["default_limiter"] = trio.to_thread.current_default_thread_limiter().borrowed_tokens
    # Once libc gives the threads back, lookups ask the name server again.
    with trio.fail_after(20):
        while True:
            value, elapsed = await timed(silent_name("again"))
            if value != "NON_AUTHORITATIVE_HOST_NOT_FOUND":
                out["again"] = [value, elapsed]
                break
            await trio.sleep(0.2)
    silent.close()
    web.close()
    print(json.dumps(out))

trio.run(main)
"""


def test_a_silent_name_server_starves_no_lookup_that_needs_no_dns(tmp_path: Path) -> None:
    """45 lookups of names a silent name server never answers time out at the lifetime,
    and abandon their threads in libc; meanwhile /etc/hosts names, the services database
    and a connect to an address and a service name answer at once, a further DNS lookup
    fails at once naming the bound (every lookup thread is stuck), trio's default thread
    limiter is untouched, and lookups ask the name server again once libc returns."""
    files = {
        "resolv.conf": "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n",
        "hosts": "127.0.0.1 localhost\n127.0.0.9 files-only.test\n",
        "nsswitch.conf": "hosts: files dns\nservices: files\n",
    }
    out = _run_in_a_private_namespace(tmp_path, _SILENT_DNS, files)
    slack = 0.3
    assert len(out["silent"]) == 45
    for status, elapsed in out["silent"]:
        assert status == "CONNECTION_TIMED_OUT"
        assert elapsed <= 0.25 + slack
    assert out["hosts"][0] == ["127.0.0.9"]
    assert out["hosts"][1] < slack
    assert out["services"][0] == 80
    assert out["services"][1] < slack
    assert out["connect"][0] == "80"
    assert out["connect"][1] < slack
    status, elapsed, named = out["past_the_bound"]
    assert (status, named) == ("NON_AUTHORITATIVE_HOST_NOT_FOUND", True)
    assert elapsed < slack
    assert out["default_limiter"] == 0
    assert out["again"][0] == "CONNECTION_TIMED_OUT"
    assert out["again"][1] <= 0.25 + slack


@pytest.mark.parametrize("nameservers", [False, True], ids=["system", "name servers"])
async def test_localhost_is_every_loopback_address_whatever_the_hosts_file_says(
    nameservers: bool,
) -> None:
    """RFC 6761: ``localhost`` is the loopback addresses, ``::1`` and ``127.0.0.1``,
    with the system's configuration as with name servers, and without asking either
    (a hosts file may list only one of them, as this machine's may). A listener on
    ``::1`` alone is reached through it."""
    resolver = Resolver(["127.0.0.1"], 9) if nameservers else Resolver()
    assert await resolver.resolve_addresses(HostName("localhost"), 80, "tcp") == [
        (socket.AF_INET6, ("::1", 80, 0, 0)),
        (socket.AF_INET, ("127.0.0.1", 80)),
    ]
    async with StreamSocketListener() as listener, StreamSocket(resolver=resolver) as client:
        await listener.bind_endpoint(HostName("::1"), "0")
        with trio.fail_after(5):
            await client.connect(HostName("localhost"), listener.information.local_port)
        assert client.information.remote_address == HostName("::1")


async def test_localhost_is_127_0_0_1_alone_where_the_loopback_has_no_ipv6() -> None:
    """Where ``lo`` has no ``::1`` (IPv6 turned off on it), ``localhost`` is
    ``127.0.0.1`` alone, so that a connect or a bind to it does not fail on ``::1``."""
    with network_namespace("tsnv6") as name:
        await trio.run_process(
            ["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1"],
            capture_stdout=True,
        )
        with inside(name):
            addresses = await Resolver().resolve_addresses(HostName("localhost"), 80, "tcp")
            assert addresses == [(socket.AF_INET, ("127.0.0.1", 80))]
            async with StreamSocketListener() as listener:
                await listener.bind_endpoint(HostName("localhost"), "0")
                assert [s.family for s in listener.sockets] == [socket.AF_INET]
