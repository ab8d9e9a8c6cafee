"""Faults the loopback interface cannot produce: a peer that never answers, a router
that refuses.

Each test makes a throwaway network namespace whose only way out is a veth pair, with
static neighbour entries for a few addresses (203.0.113.9 and up, 2001:db8::9 and up)
that point at a link-layer address nobody has. SYNs to them leave by ``v0``, arrive at
``v1`` and are dropped there, silently: no RST, no ICMP error, no ARP or neighbour
discovery failure. That is a peer that never answers, which is what
``control.connect_timeout`` is for. The sockets are created inside the namespace by
switching the trio thread into it (``setns``) for the duration of the test, or, where
the test needs a worker thread or a process (dnsmasq), by a Python process run inside it
with ``ip netns exec``. A second pair of namespaces puts a router in front of
addresses it refuses to forward to (``prohibit`` routes), answering with ICMP
"administratively prohibited".
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
from collections.abc import Iterator

import pytest
import trio
from conftest import live_tasks, open_fd_count
from netns import inside, ip, network_namespace

from trio_sockets import (
    DatagramSocket,
    HostName,
    SocketError,
    SocketErrorStatus,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)

#: How late a timed-out connect may end, beyond its connect_timeout: scheduling delay on
#: a loaded machine (measured: under 10 ms when idle).
SLACK = 0.3
#: The local addresses of v0, and the silent addresses behind it.
LOCAL_V4, LOCAL_V6 = "203.0.113.1", "2001:db8::1"
SILENT_V4 = [f"203.0.113.{host}" for host in (9, 10, 11)]
SILENT_V6 = [f"2001:db8::{host}" for host in (9, 10, 11)]
#: A link-layer address no interface has (locally administered).
NOBODY = "02:00:5e:00:53:99"


@pytest.fixture
def silent_netns() -> Iterator[str]:
    """A network namespace in which the SILENT addresses never answer. Deleted after."""
    with network_namespace("ts7f") as name:
        ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip("-n", name, "addr", "add", f"{LOCAL_V4}/24", "dev", "v0")
        ip("-n", name, "addr", "add", f"{LOCAL_V6}/64", "dev", "v0", "nodad")
        ip("-n", name, "link", "set", "v0", "up")
        ip("-n", name, "link", "set", "v1", "up")
        for address in SILENT_V4 + SILENT_V6:
            neighbour = f"{address} lladdr {NOBODY} dev v0 nud permanent"
            ip("-n", name, "neigh", "add", *neighbour.split())
        yield name
        stray = threads_in(name)
        assert not stray, f"threads {stray} were left in the test namespace"


def threads_in(name: str) -> list[int]:
    """This process's threads that are in namespace *name*.

    Nothing may be: a trio worker thread started while the trio thread was switched in
    (see :func:`inside`) would stay there, and run later tests' work in a dead namespace.
    """
    namespace = os.stat(f"/run/netns/{name}").st_ino
    return [
        int(tid)
        for tid in os.listdir("/proc/self/task")
        if os.stat(f"/proc/self/task/{tid}/ns/net").st_ino == namespace
    ]


def frames_dropped_at_v1(name: str) -> int:
    """Frames v1 received: every SYN to a silent address ends there, unanswered."""
    with open("/proc/thread-self/net/dev") as stats:  # the namespace this thread is in
        for line in stats:
            interface, _, counters = line.partition(":")
            if interface.strip() == "v1":
                return int(counters.split()[1])
    raise AssertionError(f"no interface v1 in namespace {name}")


async def timed_connect(client: StreamSocket, *target: object) -> tuple[float, SocketStatusError]:
    """Connect, expecting failure; (seconds it took, the error)."""
    start = trio.current_time()
    with pytest.raises(SocketStatusError) as caught:
        await client.connect(*target)  # type: ignore[call-overload]
    return trio.current_time() - start, caught.value


@pytest.mark.parametrize("address", [SILENT_V4[0], SILENT_V6[0]])
async def test_connect_to_a_silent_address_times_out_at_connect_timeout(
    silent_netns: str, address: str
) -> None:
    timeout = 0.5
    with trio.fail_after(10), inside(silent_netns):
        fds, tasks = open_fd_count(), len(live_tasks())
        frames = frames_dropped_at_v1(silent_netns)
        async with StreamSocketListener() as listener:
            local = LOCAL_V4 if "." in address else LOCAL_V6
            await listener.bind_endpoint(local, "0")
            async with StreamSocket() as client:
                client.control.connect_timeout = timeout
                before = open_fd_count()
                elapsed, error = await timed_connect(client, HostName(address), "80")
                assert error.status == SocketErrorStatus.CONNECTION_TIMED_OUT
                assert SocketError.get_status(error) == SocketErrorStatus.CONNECTION_TIMED_OUT
                assert isinstance(error, TimeoutError)
                assert f"connect_timeout={timeout}" in str(error)
                assert timeout <= elapsed <= timeout + SLACK, elapsed
                # The attempt's socket is closed, and the SYNs really went out unanswered.
                assert open_fd_count() == before
                assert frames_dropped_at_v1(silent_netns) > frames
                # A failed connect leaves the socket usable: connect it somewhere real.
                await client.connect(HostName(local), listener.information.local_port)
                server = await listener.accept()
                async with server:
                    await client.send_all(b"after the timeout")
                    assert await server.receive_some() == b"after the timeout"
        assert open_fd_count() == fds
        assert len(live_tasks()) == tasks


# Run by a Python inside the namespace (``ip netns exec``): dnsmasq is started through a
# worker thread (trio's open_process), and a worker thread made while this process's
# trio thread is switched into the namespace would stay there for the tests after it.
_SEVERAL_SILENT_ADDRESSES = """
import json, os, sys, trio
from trio_sockets import EndpointPair, HostName, SocketStatusError, StreamSocket
from trio_sockets.testing import DnsServer, SrvRecord

v4, v6, local, timeout = json.loads(sys.argv[1])

async def main():
    hosts = {"silent.test": v4 + v6}
    hosts |= {f"t{i}.silent.test": [a, b] for i, (a, b) in enumerate(zip(v4, v6))}
    srv = [SrvRecord("_svc._tcp.silent.test", f"t{i}.silent.test", 80, priority=i)
           for i in range(len(v4))]
    results = []
    async with DnsServer(hosts=hosts, srv=srv) as dns:
        resolver = dns.resolver(timeout=1, attempts=2)
        for target in (
            (HostName("silent.test"), "80"),
            (HostName("silent.test"), "svc"),
            (EndpointPair(HostName(local), "", HostName("silent.test"), "80"),),
        ):
            async with StreamSocket(resolver=resolver) as client:
                client.control.connect_timeout = timeout
                fds = len(os.listdir("/proc/self/fd"))
                start = trio.current_time()
                try:
                    await client.connect(*target)
                except SocketStatusError as exc:
                    status = exc.status.name
                else:
                    status = "connected"
                results.append({
                    "target": repr(target), "status": status,
                    "elapsed": trio.current_time() - start,
                    "fds_left": len(os.listdir("/proc/self/fd")) - fds,
                })
    print(json.dumps(results))

trio.run(main)
"""


async def test_connect_timeout_bounds_every_address_and_srv_target_together(
    silent_netns: str, dnsmasq_program: str
) -> None:
    """Happy eyeballs over six silent addresses, three silent SRV targets, and the
    addresses of one family: each connect ends at connect_timeout, which bounds the
    whole connect, not each attempt (each of which the kernel would retry for minutes)."""
    timeout = 0.6
    arguments = json.dumps([SILENT_V4, SILENT_V6, LOCAL_V4, timeout])
    with trio.fail_after(30):
        done = await trio.run_process(
            [
                "ip",
                "netns",
                "exec",
                silent_netns,
                sys.executable,
                "-W",
                "error",
                "-c",
                _SEVERAL_SILENT_ADDRESSES,
                arguments,
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    results = json.loads(done.stdout)
    assert len(results) == 3
    for result in results:
        assert result["status"] == "CONNECTION_TIMED_OUT", result
        assert timeout <= result["elapsed"] <= timeout + SLACK, result
        assert result["fds_left"] == 0, result


async def test_a_cancelled_connect_to_a_silent_address_leaves_the_socket_usable(
    silent_netns: str,
) -> None:
    """Without connect_timeout only the caller's deadline ends the attempt: the SYNs
    would be retried for minutes. Cancelling it closes the attempt."""
    with trio.fail_after(10), inside(silent_netns):
        fds = open_fd_count()
        async with StreamSocketListener() as listener:
            await listener.bind_endpoint(LOCAL_V4, "0")
            async with StreamSocket() as client:
                before = open_fd_count()
                with trio.move_on_after(0.3) as scope:
                    await client.connect(HostName(SILENT_V4[0]), "80")
                assert scope.cancelled_caught
                assert open_fd_count() == before
                assert client.information.remote_address is None
                await client.connect(HostName(LOCAL_V4), listener.information.local_port)
                (await listener.accept())._close_now()
        assert open_fd_count() == fds


#: Behind the router of :func:`prohibiting_router`, which refuses to forward to them.
PROHIBITED = ["10.20.2.1", "fd20:2::1"]


@pytest.fixture
def prohibiting_router() -> Iterator[str]:
    """A namespace whose only way out is a router (a second namespace) with
    ``prohibit`` routes to the PROHIBITED addresses: it answers what it is asked to
    forward there with ICMP "administratively prohibited" (IPv4: host prohibited,
    which Linux reports as ``EHOSTUNREACH``; ICMPv6: ``EACCES``). Yields the first."""
    with network_namespace("ts7a") as host, network_namespace("ts7r") as router:
        ip("-n", host, "link", "add", "p0", "type", "veth", "peer", "name", "p1", "netns", router)
        for name, device, address4, address6 in [
            (host, "p0", "10.20.1.1/24", "fd20:1::1/64"),
            (router, "p1", "10.20.1.254/24", "fd20:1::fe/64"),
        ]:
            ip("-n", name, "addr", "add", address4, "dev", device)
            ip("-n", name, "addr", "add", address6, "dev", device, "nodad")
            ip("-n", name, "link", "set", device, "up")
        ip("-n", host, "route", "add", "10.20.2.0/24", "via", "10.20.1.254")
        ip("-n", host, "-6", "route", "add", "fd20:2::/64", "via", "fd20:1::fe")
        ip("-n", router, "route", "add", "prohibit", "10.20.2.0/24")
        ip("-n", router, "-6", "route", "add", "prohibit", "fd20:2::/64")
        for sysctl in ("ipv4/ip_forward", "ipv6/conf/all/forwarding"):
            ip("netns", "exec", router, "sh", "-c", f"echo 1 > /proc/sys/net/{sysctl}")
        yield host


@pytest.mark.parametrize("address", PROHIBITED)
async def test_administratively_prohibited_is_an_unreachable_host_in_both_families(
    prohibiting_router: str, address: str
) -> None:
    """A router's "administratively prohibited" answer fails a connect, and arrives as
    the receive event of a connected datagram socket, as ``UNREACHABLE_HOST`` over
    IPv6 as over IPv4. Before, ICMPv6's (``EACCES``) was ``UNKNOWN``."""
    with trio.fail_after(10), inside(prohibiting_router):
        async with StreamSocket() as client:
            with pytest.raises(SocketStatusError) as caught:
                await client.connect(HostName(address), "80")
        assert caught.value.status == SocketErrorStatus.UNREACHABLE_HOST, caught.value
        assert address in str(caught.value)
        async with DatagramSocket() as sock:
            await sock.connect(HostName(address), "80")
            await sock.output_stream.write(b"x")
            args = await sock.message_received.receive()
            with pytest.raises(SocketStatusError) as caught:
                args.get_data_reader()
        assert caught.value.status == SocketErrorStatus.UNREACHABLE_HOST, caught.value


def _wait_for_socket_error(sock: socket.socket) -> None:
    """Block (trio too: no task reads the socket meanwhile) until an ICMP error is
    pending on *sock*, for at most 5 seconds."""
    poll = select.poll()
    poll.register(sock.fileno(), 0)  # POLLERR is always reported; nothing is read
    assert poll.poll(5000), "no ICMP error came back within 5 seconds"


@pytest.mark.parametrize("address", PROHIBITED)
async def test_a_refusal_the_next_send_meets_is_an_event_and_fails_no_write(
    prohibiting_router: str, address: str
) -> None:
    """A router's refusal that arrives while nobody reads the socket is handed by Linux
    to the next send, which sends nothing. That write does not fail: its datagram is
    sent again, and the refusal arrives as the receive event a read would have made of
    it, ``UNREACHABLE_HOST`` in both families, with ``SO_BROADCAST`` left off. Before,
    that write failed with the refusal of the datagram before it (and earlier still,
    over IPv6, its ``EACCES`` was taken for a broadcast without ``SO_BROADCAST``)."""
    with trio.fail_after(10), inside(prohibiting_router):
        async with DatagramSocket() as sock:
            await sock.connect(HostName(address), "80")
            sock.output_stream.write(b"x")  # sent at once, with no yield until y
            _wait_for_socket_error(sock.socket)
            assert await sock.output_stream.write(b"y") == 1
            assert sock.output_stream.datagrams_sent == 2
            for _ in range(2):  # x's refusal, met by y's send; then y's own
                args = await sock.message_received.receive()
                with pytest.raises(SocketStatusError) as caught:
                    args.get_data_reader()
                assert caught.value.status == SocketErrorStatus.UNREACHABLE_HOST, caught.value
            assert sock.socket.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 0


#: Behind this host's own ``prohibit`` routes (:func:`prohibit_routes`).
LOCALLY_PROHIBITED = ["10.30.0.5", "fd30::5"]


@pytest.fixture
def prohibit_routes() -> Iterator[str]:
    """A namespace with ``prohibit`` routes to the LOCALLY_PROHIBITED addresses: the
    kernel refuses a connect or a send there at once, with ``EACCES``."""
    with network_namespace("ts7p") as name:
        ip("-n", name, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
        for device in ("p0", "p1"):
            ip("-n", name, "link", "set", device, "up")
        ip("-n", name, "addr", "add", "10.30.1.1/24", "dev", "p0")
        ip("-n", name, "addr", "add", "fd31::1/64", "dev", "p0", "nodad")
        ip("-n", name, "route", "add", "prohibit", "10.30.0.0/24")
        ip("-n", name, "-6", "route", "add", "prohibit", "fd30::/64")
        yield name


@pytest.mark.parametrize("address", LOCALLY_PROHIBITED)
async def test_a_prohibit_route_is_an_unreachable_host(prohibit_routes: str, address: str) -> None:
    """A connect or a send the host's own ``prohibit`` route refuses (``EACCES``) fails
    with ``UNREACHABLE_HOST``, as a router's refusal does, naming the remote; the
    datagram socket does not take it for a broadcast (``SO_BROADCAST`` stays off over
    IPv6, where there is none). Before, each was ``UNKNOWN`` "Permission denied"."""
    failures: list[SocketStatusError] = []
    with trio.fail_after(10), inside(prohibit_routes):
        async with StreamSocket() as client:
            with pytest.raises(SocketStatusError) as caught:
                await client.connect(HostName(address), "80")
            failures.append(caught.value)
        async with DatagramSocket() as sock:
            with pytest.raises(SocketStatusError) as caught:
                await sock.connect(HostName(address), "80")
            failures.append(caught.value)
        async with DatagramSocket() as sock:
            await sock.bind_service_name("")
            output = await sock.get_output_stream(HostName(address), "80")
            with pytest.raises(SocketStatusError) as caught:
                await output.write(b"x")
            failures.append(caught.value)
            broadcast = sock.socket.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
            assert broadcast == (":" not in address)  # turned on for IPv4's retry only
    for failure in failures:
        assert failure.status == SocketErrorStatus.UNREACHABLE_HOST, failure
        assert address in str(failure), failure
        assert "the network refused" in str(failure), failure
