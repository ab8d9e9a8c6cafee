"""``StreamSocketInformation``: what a ``StreamSocket`` tells about its connection.

It reads narrow values the socket hands it -- a :class:`Connection` record, the report
of the last TLS handshake, ``TCP_INFO`` -- never the socket itself.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from .._core.certificate import Certificate
from .._core.enums import (
    ChainValidationResult,
    SocketProtectionLevel,
    SocketSslErrorSeverity,
)
from .._core.hostname import HostName
from .._core.lifecycle import Action, Lifecycle
from .._core.tcp_info import (
    TCP_INFO_SIZE,
    BandwidthStatistics,
    RoundTripTimeStatistics,
    TcpInfo,
    bandwidth_statistics,
    parse_tcp_info,
    round_trip_time_statistics,
)
from .._io.addresses import host_of
from .._io.connect import format_sockaddr
from .._io.resolver import SockAddr
from .._tls.handshake import TlsReport
from .._tls.session import TlsSession

__all__ = [
    "NOT_CONNECTED",
    "Connection",
    "StreamSocketInformation",
    "bytes_acked",
    "tcp_info_of",
]


@dataclass(frozen=True, slots=True)
class Connection:
    """The endpoints of a stream socket's connection, and how it came to be."""

    local: SockAddr | None = None
    remote: SockAddr | None = None
    #: The host name given to ``connect``; None on an accepted socket, whose remote host
    #: and service names are its peer's address and port, made when asked for.
    host: HostName | None = None
    #: The service name given to ``connect``; "" on an accepted socket.
    service: str = ""
    #: Whether a listener handed the socket out.
    accepted: bool = False

    @property
    def remote_host_name(self) -> HostName | None:
        """The host name given to ``connect`` (for an accepted socket, the peer's address)."""
        remote = self.remote
        if self.accepted and remote is not None:
            return host_of(remote)
        return self.host

    @property
    def remote_service_name(self) -> str:
        """The service name given to ``connect`` (for an accepted socket, the peer's port)."""
        remote = self.remote
        if self.accepted and remote is not None:
            return str(remote[1])
        return self.service

    def describe(self, lifecycle: Lifecycle) -> str:
        """The socket with this connection and *lifecycle*, as messages name it."""
        local, remote = self.local, self.remote
        if local is None or remote is None:
            connecting = lifecycle.changing is Action.CONNECT
            return f"StreamSocket ({'connecting' if connecting else lifecycle.phase.value})"
        closed = " closed" if lifecycle.closed else ""
        return f"StreamSocket {format_sockaddr(local)} -> {format_sockaddr(remote)}{closed}"


#: What a socket that never connected has (shared, never changed).
NOT_CONNECTED = Connection()

# What a socket that never did a TLS handshake reports (shared, never changed).
_PLAIN = TlsReport()


class StreamSocketInformation:
    """Addresses, protection level and statistics of a :class:`StreamSocket`.

    Readable at any time; before ``connect`` the addresses are ``None`` and the ports
    ``""`` (WinRT's values).
    """

    def __init__(
        self,
        connection: Callable[[], Connection],
        tls_tried: Callable[[], TlsSession | None],
        live_socket: Callable[[], socket.socket | None],
    ) -> None:
        self._connection = connection
        self._tls_tried = tls_tried
        self._live_socket = live_socket
        self._rtt_max = 0

    def _tls_report(self) -> TlsReport:
        """The report of the last handshake tried, after a failure too."""
        session = self._tls_tried()
        return _PLAIN if session is None else session.report

    def _server_report(self) -> TlsReport | None:
        """The last handshake's report on a client socket; None on an accepted one."""
        return None if self._connection().accepted else self._tls_report()

    @property
    def local_address(self) -> HostName | None:
        local = self._connection().local
        return host_of(local) if local is not None else None

    @property
    def local_port(self) -> str:
        local = self._connection().local
        return str(local[1]) if local is not None else ""

    @property
    def remote_address(self) -> HostName | None:
        remote = self._connection().remote
        return host_of(remote) if remote is not None else None

    @property
    def remote_port(self) -> str:
        remote = self._connection().remote
        return str(remote[1]) if remote is not None else ""

    @property
    def remote_host_name(self) -> HostName | None:
        """The host name given to ``connect`` (for an accepted socket, the peer's address)."""
        return self._connection().remote_host_name

    @property
    def remote_service_name(self) -> str:
        """The service name given to ``connect`` (for an accepted socket, the peer's port)."""
        return self._connection().remote_service_name

    @property
    def protection_level(self) -> SocketProtectionLevel:
        """The TLS version in force (``TLS12``, ``TLS13``...), or ``PLAIN_SOCKET``."""
        return self._tls_report().level

    @property
    def server_certificate(self) -> Certificate | None:
        """The certificate the server presented in the last TLS handshake.

        Also after a failed handshake, for diagnostics. ``None`` before any handshake,
        once a plain ``connect`` has succeeded after it (nor are that handshake's errors
        reported then), and on a socket accepted by a listener (see
        :attr:`peer_certificate`).
        """
        report = self._server_report()
        return None if report is None else report.peer_certificate

    @property
    def server_intermediate_certificates(self) -> list[Certificate]:
        """The issuer certificates the server sent with its own, nearest first."""
        report = self._server_report()
        return [] if report is None else list(report.intermediates)

    @property
    def server_certificate_errors(self) -> list[ChainValidationResult]:
        """Every problem found with the server certificate in the last handshake.

        After a failed connect it lists what failed; after a successful one, the errors
        that ``control.ignorable_server_certificate_errors`` let through. Empty when the
        certificate is fine. See the TLS how-to for how complete the list is.
        """
        report = self._server_report()
        return [] if report is None else list(report.errors)

    @property
    def server_certificate_error_severity(self) -> SocketSslErrorSeverity:
        """``NONE``, ``IGNORABLE`` (every error can be ignored) or ``FATAL``."""
        report = self._server_report()
        return SocketSslErrorSeverity.NONE if report is None else report.severity

    @property
    def peer_certificate(self) -> Certificate | None:
        """The certificate the peer presented: the server's on a client socket, the
        client's on a socket accepted by a listener that requires one (not in WinRT)."""
        return self._tls_report().peer_certificate

    @property
    def session_key(self) -> None:
        """Always ``None``: Windows sets it only for proximity ("tap") connections."""
        return None

    @property
    def round_trip_time_statistics(self) -> RoundTripTimeStatistics:
        """Round-trip times from Linux ``TCP_INFO``, in microseconds; zeros elsewhere."""
        stats = round_trip_time_statistics(tcp_info_of(self._live_socket()), self._rtt_max)
        self._rtt_max = stats.max
        return stats

    @property
    def bandwidth_statistics(self) -> BandwidthStatistics:
        """Bandwidth estimates from Linux ``TCP_INFO``; zeros elsewhere."""
        return bandwidth_statistics(tcp_info_of(self._live_socket()))


def bytes_acked(information: StreamSocketInformation) -> int:
    """How many bytes of the connection the peer's TCP has acknowledged, from Linux
    ``TCP_INFO``; 0 without one (closed, or another system)."""
    return tcp_info_of(information._live_socket()).bytes_acked


def tcp_info_of(sock: socket.socket | None) -> TcpInfo:
    """Linux ``TCP_INFO`` of *sock*; zeros without one (closed, or another system)."""
    if sock is None or sock.fileno() == -1 or not hasattr(socket, "TCP_INFO"):
        return parse_tcp_info(b"")
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
    except OSError:
        return parse_tcp_info(b"")
    return parse_tcp_info(raw)
