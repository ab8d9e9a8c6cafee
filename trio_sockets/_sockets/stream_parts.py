"""What a ``StreamSocket`` hands out besides itself: its information and input stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .._core.certificate import Certificate
from .._core.enums import (
    ChainValidationResult,
    InputStreamOptions,
    SocketProtectionLevel,
    SocketSslErrorSeverity,
)
from .._core.hostname import HostName
from .._core.tcp_info import (
    BandwidthStatistics,
    RoundTripTimeStatistics,
    bandwidth_statistics,
    round_trip_time_statistics,
)
from .._data.interfaces import InputStream
from .._io.addresses import host_of

if TYPE_CHECKING:
    from .stream_socket import StreamSocket

__all__ = ["SocketInputStream", "StreamSocketInformation"]


class StreamSocketInformation:
    """Addresses, protection level and statistics of a :class:`StreamSocket`.

    Readable at any time; before ``connect`` the addresses are ``None`` and the ports
    ``""`` (WinRT's values).
    """

    def __init__(self, owner: StreamSocket) -> None:
        self._owner = owner
        self._rtt_max = 0

    @property
    def local_address(self) -> HostName | None:
        local = self._owner._local
        return host_of(local) if local is not None else None

    @property
    def local_port(self) -> str:
        local = self._owner._local
        return str(local[1]) if local is not None else ""

    @property
    def remote_address(self) -> HostName | None:
        remote = self._owner._remote
        return host_of(remote) if remote is not None else None

    @property
    def remote_port(self) -> str:
        remote = self._owner._remote
        return str(remote[1]) if remote is not None else ""

    @property
    def remote_host_name(self) -> HostName | None:
        """The host name given to ``connect`` (for an accepted socket, the peer's address)."""
        return self._owner._remote_host_name

    @property
    def remote_service_name(self) -> str:
        """The service name given to ``connect`` (for an accepted socket, the peer's port)."""
        return self._owner._remote_service_name

    @property
    def protection_level(self) -> SocketProtectionLevel:
        """The TLS version in force (``TLS12``, ``TLS13``...), or ``PLAIN_SOCKET``."""
        return self._owner._tls_report.level

    @property
    def server_certificate(self) -> Certificate | None:
        """The certificate the server presented in the last TLS handshake.

        Also after a failed handshake, for diagnostics. ``None`` before any handshake,
        and on a socket accepted by a listener (see :attr:`peer_certificate`).
        """
        return None if self._owner._accepted else self._owner._tls_report.peer_certificate

    @property
    def server_intermediate_certificates(self) -> list[Certificate]:
        """The issuer certificates the server sent with its own, nearest first."""
        return [] if self._owner._accepted else list(self._owner._tls_report.intermediates)

    @property
    def server_certificate_errors(self) -> list[ChainValidationResult]:
        """Every problem found with the server certificate in the last handshake.

        After a failed connect it lists what failed; after a successful one, the errors
        that ``control.ignorable_server_certificate_errors`` let through. Empty when the
        certificate is fine. See the TLS how-to for how complete the list is.
        """
        return [] if self._owner._accepted else list(self._owner._tls_report.errors)

    @property
    def server_certificate_error_severity(self) -> SocketSslErrorSeverity:
        """``NONE``, ``IGNORABLE`` (every error can be ignored) or ``FATAL``."""
        if self._owner._accepted:
            return SocketSslErrorSeverity.NONE
        return self._owner._tls_report.severity

    @property
    def peer_certificate(self) -> Certificate | None:
        """The certificate the peer presented: the server's on a client socket, the
        client's on a socket accepted by a listener that requires one (not in WinRT)."""
        return self._owner._tls_report.peer_certificate

    @property
    def session_key(self) -> None:
        """Always ``None``: Windows sets it only for proximity ("tap") connections."""
        return None

    @property
    def round_trip_time_statistics(self) -> RoundTripTimeStatistics:
        """Round-trip times from Linux ``TCP_INFO``, in microseconds; zeros elsewhere."""
        stats = round_trip_time_statistics(self._owner._tcp_info(), self._rtt_max)
        self._rtt_max = stats.max
        return stats

    @property
    def bandwidth_statistics(self) -> BandwidthStatistics:
        """Bandwidth estimates from Linux ``TCP_INFO``; zeros elsewhere."""
        return bandwidth_statistics(self._owner._tcp_info())


class SocketInputStream(InputStream):
    """The input stream of a :class:`StreamSocket` (WinRT ``IInputStream``)."""

    def __init__(self, owner: StreamSocket) -> None:
        self._owner = owner
        self._closed = False

    async def read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        """Read up to *count* bytes; ``b""`` means the peer closed its side.

        ``NONE`` waits for *count* bytes (fewer only at end of stream), ``PARTIAL``
        returns what the first receive brings, ``READ_AHEAD`` receives up to 64 KiB per
        system call and keeps the surplus for the next read.

        Cancellation: bytes already received stay buffered for the next read; nothing
        is lost and the socket stays usable.
        """
        if self._closed:
            raise trio.ClosedResourceError("this input stream was closed")
        return await self._owner._read(count, options)

    async def aclose(self) -> None:
        """Stop reading through this stream object; the socket stays open."""
        self._closed = True
        await trio.lowlevel.checkpoint()
