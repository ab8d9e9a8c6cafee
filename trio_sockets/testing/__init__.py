"""Helpers for testing code that uses trio_sockets, like :mod:`trio.testing` for trio.

:class:`DnsServer` runs a real DNS server (dnsmasq) on loopback with the SRV, A and
AAAA records a test needs; :class:`TcpEchoServer` and :class:`UdpEchoServer` run echo
servers on 127.0.0.1; :class:`TlsCertificates` makes a throw-away certificate authority
with server and client certificates (trustme); :class:`WebSocketEchoServer` runs a
WebSocket echo server (``ws://`` or ``wss://``); :func:`free_port` finds a free port.
The pytest plugin offers them as the fixtures ``dns_server``, ``tcp_echo_server``,
``udp_echo_server``, ``websocket_echo_server``, ``tls_certificates``,
``free_tcp_service`` and ``free_udp_service``.
"""

from __future__ import annotations

# Loads the package's public names too, so that its classes name their home
# (``trio_sockets.StreamSocket``) from here on, as on any use of the package.
from .. import _public  # noqa: F401
from ._certificates import TlsCertificates
from ._dns import DnsServer, DnsServerError, SrvRecord
from ._echo import TcpEchoServer, UdpEchoServer, WebSocketEchoServer, free_port

__all__ = [
    "DnsServer",
    "DnsServerError",
    "SrvRecord",
    "TcpEchoServer",
    "TlsCertificates",
    "UdpEchoServer",
    "WebSocketEchoServer",
    "free_port",
]

for _cls in (
    DnsServer,
    DnsServerError,
    SrvRecord,
    TcpEchoServer,
    TlsCertificates,
    UdpEchoServer,
    WebSocketEchoServer,
):
    _cls.__module__ = "trio_sockets.testing"
del _cls
