"""The pytest plugin ``trio_sockets`` (entry point ``pytest11``).

Fixtures: ``dns_server`` (a factory of real DNS servers, dnsmasq on loopback),
``tcp_echo_server``, ``udp_echo_server`` and ``websocket_echo_server`` (running echo
servers on 127.0.0.1), ``tls_certificates`` (a throw-away certificate authority with
server and client certificates, also as files), and ``free_tcp_service`` /
``free_udp_service`` (a free port as a service string). The servers are ``async``
fixtures, so they work in trio tests only (``pytest-trio``: ``trio_mode = true``, or
tests marked ``@pytest.mark.trio``, or anyio's ``anyio_backend = "trio"``); elsewhere
they fail the test saying so. Projects that do not use them are not affected by the
plugin: it imports the library, and what the library needs, only when a test first
asks for one of its fixtures. The classes behind them are in :mod:`trio_sockets.testing`.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from .testing._certificates import TlsCertificates
    from .testing._dns import DnsServer, SrvRecord
    from .testing._echo import TcpEchoServer, UdpEchoServer, WebSocketEchoServer
else:
    try:
        import pytest
    except ImportError:  # pragma: no cover - used as a library without pytest
        pytest = None

__all__ = [
    "DnsServerFactory",
    "dns_server",
    "dnsmasq_program",
    "free_tcp_service",
    "free_udp_service",
    "tcp_echo_server",
    "tls_certificates",
    "udp_echo_server",
    "websocket_echo_server",
]

#: What the ``dns_server`` fixture gives: ``await dns_server(srv=..., hosts=...)``.
DnsServerFactory = Callable[..., Awaitable["DnsServer"]]

# The fixtures import what they serve when first used: pytest imports this module at
# every start, also for suites that never use it, and the library is not small
# (cryptography, websockets, dnspython).


def _require_trio(fixture: str) -> None:
    """Fail the test, naming *fixture*, unless it runs under trio: the servers run in
    trio nurseries, and under another event loop would fail deep inside trio, with an
    error that names neither the fixture nor trio."""
    import trio

    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        pytest.fail(
            f"the {fixture} fixture runs under trio only: run the test with pytest-trio "
            '(trio_mode = true, or @pytest.mark.trio), or with anyio_backend = "trio"',
            pytrace=False,
        )


def _dnsmasq_program_fixture() -> str:
    """The path of the dnsmasq program; skips without it (fails when ``CI`` is set)."""
    # A plain fixture, so that the skip keeps its reason (inside a trio fixture it would
    # be wrapped on its way out).
    program = shutil.which("dnsmasq")
    if program is None:
        from .testing._dns import DNSMASQ_PACKAGE

        message = f"dnsmasq is not installed (Debian package {DNSMASQ_PACKAGE})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must install it")
        pytest.skip(message)
    return program


async def _dns_server_fixture(dnsmasq_program: str) -> AsyncIterator[DnsServerFactory]:
    """A factory of real DNS servers (dnsmasq on 127.0.0.1), stopped after the test.

    ``server = await dns_server(srv=[SrvRecord(...)], hosts={"a.example.test":
    ["127.0.0.1"]}, txt={...}, cname={...})`` starts one and returns the running
    :class:`DnsServer`; ``server.resolver()`` is a Resolver that asks it. Trio tests
    only. Skips when dnsmasq is missing, or fails when the ``CI`` environment variable
    is set.
    """
    _require_trio("dns_server")
    from .testing._dns import DnsServer

    servers: list[DnsServer] = []

    async def start(
        *,
        srv: Iterable[SrvRecord] = (),
        hosts: Mapping[str, str | Sequence[str]] | None = None,
        txt: Mapping[str, str] | None = None,
        cname: Mapping[str, str] | None = None,
        domain: str = "test",
    ) -> DnsServer:
        server = DnsServer(
            srv=tuple(srv),
            hosts=hosts or {},
            txt=txt or {},
            cname=cname or {},
            domain=domain,
            dnsmasq=dnsmasq_program,
        )
        await server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in reversed(servers):
            await server.stop()


async def _tcp_echo_server_fixture() -> AsyncIterator[TcpEchoServer]:
    """A running :class:`~trio_sockets.testing.TcpEchoServer` on 127.0.0.1 (trio tests)."""
    _require_trio("tcp_echo_server")
    from .testing._echo import TcpEchoServer

    async with TcpEchoServer() as server:
        yield server


async def _udp_echo_server_fixture() -> AsyncIterator[UdpEchoServer]:
    """A running :class:`~trio_sockets.testing.UdpEchoServer` on 127.0.0.1 (trio tests)."""
    _require_trio("udp_echo_server")
    from .testing._echo import UdpEchoServer

    async with UdpEchoServer() as server:
        yield server


async def _websocket_echo_server_fixture() -> AsyncIterator[WebSocketEchoServer]:
    """A running :class:`~trio_sockets.testing.WebSocketEchoServer` on 127.0.0.1 (trio
    tests): connect to ``websocket_echo_server.uri`` (``ws://127.0.0.1:PORT/``) and each
    message comes back with its type."""
    _require_trio("websocket_echo_server")
    from .testing._echo import WebSocketEchoServer

    async with WebSocketEchoServer() as server:
        yield server


def _tls_certificates_fixture(tmp_path: os.PathLike[str]) -> TlsCertificates:
    """A fresh :class:`~trio_sockets.testing.TlsCertificates` whose files are in ``tmp_path``.

    ``tls_certificates.server`` / ``.client`` (with keys) and ``.authority`` for
    ``control.trusted_certificates``; ``tls_certificates.files("server")`` and
    ``.authority_file`` for programs such as ``openssl s_server``.
    """
    from .testing._certificates import TlsCertificates

    return TlsCertificates(tmp_path)


def _free_tcp_service_fixture() -> str:
    """A TCP port on 127.0.0.1 that nothing is bound to, as a service string."""
    from .testing._echo import free_port

    return free_port(socket.SOCK_STREAM)


def _free_udp_service_fixture() -> str:
    """A UDP port on 127.0.0.1 that nothing is bound to, as a service string."""
    from .testing._echo import free_port

    return free_port(socket.SOCK_DGRAM)


if pytest is not None:
    dnsmasq_program = pytest.fixture(name="dnsmasq_program")(_dnsmasq_program_fixture)
    dns_server = pytest.fixture(name="dns_server")(_dns_server_fixture)
    tcp_echo_server = pytest.fixture(name="tcp_echo_server")(_tcp_echo_server_fixture)
    udp_echo_server = pytest.fixture(name="udp_echo_server")(_udp_echo_server_fixture)
    websocket_echo_server = pytest.fixture(name="websocket_echo_server")(
        _websocket_echo_server_fixture
    )
    tls_certificates = pytest.fixture(name="tls_certificates")(_tls_certificates_fixture)
    free_tcp_service = pytest.fixture(name="free_tcp_service")(_free_tcp_service_fixture)
    free_udp_service = pytest.fixture(name="free_udp_service")(_free_udp_service_fixture)
