"""``StreamSocketControl`` and ``StreamSocketListenerControl``: TCP options as objects.

WinRT wants every option set before connect or bind. Linux can change all of these on
a live socket, so a :class:`StreamSocketControl` applies a late change at once instead of
refusing it; only the options that steer the connecting itself
(``serialize_connection_attempts``, ``connect_timeout``) are fixed once ``connect`` has
started. A listener's options are copied into the sockets it accepts, so they must be
set before it is bound.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import Final

from .._core.certificate import Certificate, IgnorableErrors, certificate_list
from .._core.checks import CheckedList, SealedList, check_bool, check_int, check_seconds, shown
from .._core.enums import ChainValidationResult, SocketProtectionLevel, SocketQualityOfService
from .._tls.context import server_context
from .._tls.settings import TlsClientSettings
from .socket_options import (
    DEFAULT_HOP_LIMIT,
    CommonOptions,
    apply_live,
    check_buffer_size,
    set_hop_limit,
)

__all__ = [
    "CONNECT_DEFAULTS",
    "StreamSocketControl",
    "StreamSocketListenerControl",
    "apply_options",
    "freeze_connect_options",
    "freeze_listener_options",
    "tls_client_settings",
    "tls_server_context",
]

#: Describes the socket a control belongs to, for messages.
Describer = Callable[[], str]
#: The open socket a late change applies to, or None.
LiveSocket = Callable[[], socket.socket | None]

#: Seconds a TLS handshake may take unless ``control.tls_handshake_timeout`` says otherwise
#: (asyncio's default too): a peer that accepts TCP and then says nothing cannot hang a
#: connect, an upgrade or a listener's handshake.
DEFAULT_TLS_HANDSHAKE_TIMEOUT = 60.0

#: Seconds an accepted TLS connection may take to send its whole ClientHello, unless
#: ``control.tls_hello_timeout`` says otherwise.
DEFAULT_TLS_HELLO_TIMEOUT = 10.0

#: TLS handshakes one peer may run at once on a listener, unless
#: ``control.max_tls_handshakes_per_address`` says otherwise.
DEFAULT_MAX_TLS_HANDSHAKES_PER_ADDRESS = 8

#: TLS handshakes a listener runs at once; past this it stops accepting until one ends.
MAX_PENDING_HANDSHAKES = 64


class _TcpControl(CommonOptions):
    """The options a stream socket and a listener share."""

    def __init__(self, describe: Describer) -> None:
        self._describe = describe
        self._keep_alive = False
        self._no_delay = True
        self._outbound_buffer_size: int | None = None
        self._hop_limit = DEFAULT_HOP_LIMIT
        self._qos = SocketQualityOfService.NORMAL
        self._trusted: list[Certificate] = CheckedList((), Certificate, "trusted_certificates")
        self._tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT

    def _copy_from(self, other: _TcpControl) -> None:
        self._keep_alive = other._keep_alive
        self._no_delay = other._no_delay
        self._outbound_buffer_size = other._outbound_buffer_size
        self._hop_limit = other._hop_limit
        self._qos = other._qos
        self._tls_handshake_timeout = other._tls_handshake_timeout

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} keep_alive={self._keep_alive} no_delay={self._no_delay} "
            f"outbound_buffer_size_in_bytes={self._outbound_buffer_size} "
            f"outbound_unicast_hop_limit={self._hop_limit} "
            f"quality_of_service={self._qos.name}>"
        )

    def _apply(self, sock: socket.socket, family: socket.AddressFamily) -> None:
        """Set every option on a socket that is not yet connected or bound."""
        if self._keep_alive:  # a new socket has it off: a system call less per connect
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, self._no_delay)
        if self._outbound_buffer_size is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._outbound_buffer_size)
        set_hop_limit(sock, self._hop_limit)

    def _live_change(self, name: str) -> socket.socket | None:
        """The socket a change must be applied to now, or None; may refuse the change."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    def _tls_change(self, name: str) -> None:
        """Refuse a change of TLS setting *name* where it can no longer take effect."""

    # -- TLS settings both sides have (not in WinRT) -------------------------------------

    @property
    def trusted_certificates(self) -> list[Certificate]:
        """Root certificates trusted: a mutable list that refuses anything but a
        :class:`~trio_sockets.Certificate` put into it, with TypeError. A Certificate
        trusts its ``chain`` too: read from a PEM file of several authorities (a CA
        bundle), it trusts each of them. On a socket:
        issuers accepted for the server certificate besides the system's roots, so a
        private CA can be trusted without turning verification off. On a listener: the
        only issuers a required client certificate may chain to; once bound, a change
        raises RuntimeError.
        """
        return self._trusted

    @trusted_certificates.setter
    def trusted_certificates(self, value: list[Certificate]) -> None:
        self._tls_change("trusted_certificates")
        trusted = certificate_list(value, "trusted_certificates")
        self._trusted = CheckedList(trusted, Certificate, "trusted_certificates")

    @property
    def tls_handshake_timeout(self) -> float | None:
        """Seconds a TLS handshake may take (default 60); None = no limit.

        When it runs out the connect, upgrade or accepted connection fails with
        ``CONNECTION_TIMED_OUT``.
        """
        return self._tls_handshake_timeout

    @tls_handshake_timeout.setter
    def tls_handshake_timeout(self, value: float | None) -> None:
        self._tls_change("tls_handshake_timeout")
        self._tls_handshake_timeout = check_seconds("tls_handshake_timeout", value, optional=True)

    def _checked_trust(self) -> list[Certificate]:
        # Checked again: list.append(trusted, x) passes by the list's own checks.
        return certificate_list(self._trusted, "trusted_certificates")

    def _set_live(self, name: str, setter: Callable[[socket.socket], None]) -> None:
        apply_live(self._live_change(name), name, self._describe, setter)

    def _refuse_late(self, name: str) -> None:
        self._live_change(name)

    @property
    def keep_alive(self) -> bool:
        """Send TCP keep-alive probes on an idle connection (``SO_KEEPALIVE``); default False."""
        return self._keep_alive

    @keep_alive.setter
    def keep_alive(self, value: bool) -> None:
        value = check_bool("keep_alive", value)
        self._set_live(
            "keep_alive",
            lambda s: s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, value),
        )
        self._keep_alive = value

    @property
    def no_delay(self) -> bool:
        """Disable Nagle's algorithm (``TCP_NODELAY``); default True, as in WinRT."""
        return self._no_delay

    @no_delay.setter
    def no_delay(self, value: bool) -> None:
        value = check_bool("no_delay", value)
        self._set_live(
            "no_delay", lambda s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, value)
        )
        self._no_delay = value

    @property
    def outbound_buffer_size_in_bytes(self) -> int | None:
        """The send buffer size asked for (``SO_SNDBUF``); None = the system's auto-tuning.

        Linux doubles the value for its bookkeeping, so ``getsockopt`` reads twice this.
        Setting it turns the kernel's send-buffer auto-tuning off, which is usually slower.
        """
        return self._outbound_buffer_size

    @outbound_buffer_size_in_bytes.setter
    def outbound_buffer_size_in_bytes(self, value: int | None) -> None:
        size = check_buffer_size("outbound_buffer_size_in_bytes", value)
        if size is not None:
            self._set_live(
                "outbound_buffer_size_in_bytes",
                lambda s: s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size),
            )
        elif self._outbound_buffer_size is not None:
            self._live_refuses_reset()
        self._outbound_buffer_size = size

    def _live_refuses_reset(self) -> None:
        sock = self._live_change("outbound_buffer_size_in_bytes")
        if sock is not None and sock.fileno() != -1:
            raise RuntimeError(
                "outbound_buffer_size_in_bytes cannot go back to None (auto-tuning) on "
                f"{self._describe()}: the kernel turns auto-tuning off for good"
            )


class StreamSocketControl(_TcpControl):
    """Options of a :class:`~trio_sockets.StreamSocket` (WinRT ``StreamSocketControl``).

    Set before ``connect``, they apply to every connection attempt; set later, the
    socket options change on the live connection at once.
    """

    def __init__(
        self, describe: Describer, live_socket: LiveSocket, like: _TcpControl | None = None
    ) -> None:
        """A control for a socket that *describe* names and *live_socket* gives once
        open; *like*: the listener control whose values an accepted socket starts with."""
        super().__init__(describe)
        self._live_socket = live_socket
        self._serialize = False
        self._connect_timeout: float | None = None
        # An accepted socket never connects: its connect options are fixed from the start.
        self._connect_called = like is not None
        self._client_certificate: Certificate | None = None
        self._ignorable: IgnorableErrors | None = None  # made on first use
        self._min_protection_level = SocketProtectionLevel.UNSPECIFIED
        if like is not None:
            self._copy_from(like)

    def _live_change(self, name: str) -> socket.socket | None:
        if name in ("serialize_connection_attempts", "connect_timeout") and self._connect_called:
            raise RuntimeError(
                f"{name} steers connect() and cannot change once connect() was called "
                f"on {self._describe()}"
            )
        return self._live_socket()

    @property
    def serialize_connection_attempts(self) -> bool:
        """Try the resolved addresses one at a time instead of racing them; default False."""
        return self._serialize

    @serialize_connection_attempts.setter
    def serialize_connection_attempts(self, value: bool) -> None:
        value = check_bool("serialize_connection_attempts", value)
        self._live_change("serialize_connection_attempts")
        self._serialize = value

    @property
    def connect_timeout(self) -> float | None:
        """Seconds ``connect`` may take in all (resolution included); None = no limit.

        When it runs out, ``connect`` raises a ``CONNECTION_TIMED_OUT``
        :class:`~trio_sockets.SocketStatusError` (also a :class:`TimeoutError`).
        """
        return self._connect_timeout

    @connect_timeout.setter
    def connect_timeout(self, value: float | None) -> None:
        value = check_seconds("connect_timeout", value, optional=True)
        self._live_change("connect_timeout")
        self._connect_timeout = value

    # -- TLS (they apply to the next handshake: a connect after a failed one, or an
    # upgrade) ------------------------------------------------------------------------

    @property
    def client_certificate(self) -> Certificate | None:
        """The certificate (with its key) offered when a TLS server asks for one: in the
        handshake, or after a TLS 1.3 one (answered by the read that meets the request).

        Set it before ``connect`` / ``upgrade_to_ssl``. Raises :class:`ValueError` for a
        certificate without a private key.
        """
        return self._client_certificate

    @client_certificate.setter
    def client_certificate(self, value: Certificate | None) -> None:
        self._client_certificate = _certificate_with_key("client_certificate", value)

    @property
    def ignorable_server_certificate_errors(self) -> IgnorableErrors:
        """The server-certificate errors to accept (a mutable set of ChainValidationResult).

        Empty by default: every error fails the handshake. Only ``UNTRUSTED``,
        ``INCOMPLETE_CHAIN``, ``EXPIRED``, ``INVALID_NAME`` and the revocation results can
        be added; anything else raises :class:`ValueError`. The WinRT retry pattern: after
        a failed connect, add ``information.server_certificate_errors`` here and connect
        again on the same socket.
        """
        if self._ignorable is None:
            self._ignorable = IgnorableErrors()
        return self._ignorable

    @ignorable_server_certificate_errors.setter
    def ignorable_server_certificate_errors(
        self, value: IgnorableErrors | set[ChainValidationResult]
    ) -> None:
        try:
            self._ignorable = IgnorableErrors(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"ignorable_server_certificate_errors: {exc}") from None

    @property
    def min_protection_level(self) -> SocketProtectionLevel:
        """The lowest TLS version a connect or upgrade may negotiate.

        ``UNSPECIFIED`` (the default): the system's OpenSSL floor (TLS 1.2 on Debian).
        ``TLS10`` ... ``TLS13``: that version. A connect pinned below it is refused.
        """
        return self._min_protection_level

    @min_protection_level.setter
    def min_protection_level(self, value: SocketProtectionLevel) -> None:
        allowed = (
            SocketProtectionLevel.UNSPECIFIED,
            SocketProtectionLevel.TLS10,
            SocketProtectionLevel.TLS11,
            SocketProtectionLevel.TLS12,
            SocketProtectionLevel.TLS13,
        )
        if not isinstance(value, SocketProtectionLevel):
            raise TypeError(
                f"min_protection_level must be a SocketProtectionLevel, not {shown(value)}"
            )
        if value not in allowed:
            raise ValueError(
                f"min_protection_level must be UNSPECIFIED or TLS10 ... TLS13, not {value.name}"
            )
        self._min_protection_level = value


class StreamSocketListenerControl(_TcpControl):
    """Options a :class:`~trio_sockets.StreamSocketListener` gives the sockets it accepts.

    WinRT ``StreamSocketListenerControl``: set them before the listener is bound;
    afterwards a change raises :class:`RuntimeError`.
    """

    def __init__(self, describe: Describer) -> None:
        super().__init__(describe)
        self._bound = False
        self._server_certificate: Certificate | None = None
        self._client_certificate_required = False
        self._tls_hello_timeout: float | None = DEFAULT_TLS_HELLO_TIMEOUT
        self._max_tls_handshakes_per_address = DEFAULT_MAX_TLS_HANDSHAKES_PER_ADDRESS

    def _live_change(self, name: str) -> socket.socket | None:
        if self._bound:
            raise RuntimeError(
                f"{name} must be set before the listener is bound; "
                f"{self._describe()} is already bound"
            )
        return None

    def _tls_change(self, name: str) -> None:
        self._live_change(name)

    # -- TLS (not in WinRT, whose listeners have no server-side TLS) ----------------------

    @property
    def server_certificate(self) -> Certificate | None:
        """The certificate (with its key) a TLS listener presents; set before binding."""
        return self._server_certificate

    @server_certificate.setter
    def server_certificate(self, value: Certificate | None) -> None:
        value = _certificate_with_key("server_certificate", value)
        self._live_change("server_certificate")
        self._server_certificate = value

    @property
    def client_certificate_required(self) -> bool:
        """Whether a TLS listener requires (and verifies) a client certificate.

        The certificate must chain to one of ``trusted_certificates`` (not to the
        system's roots); a connection without one fails its handshake, undelivered.
        """
        return self._client_certificate_required

    @client_certificate_required.setter
    def client_certificate_required(self, value: bool) -> None:
        value = check_bool("client_certificate_required", value)
        self._live_change("client_certificate_required")
        self._client_certificate_required = value

    @property
    def tls_hello_timeout(self) -> float | None:
        """Seconds a TLS listener waits for a connection's whole ClientHello (default
        10); None = only ``tls_handshake_timeout``.

        A connection that has not sent it by then (nothing, or part of it) is closed and counted in
        ``information.tls_handshake_failures`` (``CONNECTION_TIMED_OUT``), so that idle
        connections cannot hold the listener's handshake slots for the whole
        ``tls_handshake_timeout``; so is one that does not answer a handshake message of
        the server within as long (it sent a ClientHello, then stalled). Both run from
        the accept.
        """
        return self._tls_hello_timeout

    @tls_hello_timeout.setter
    def tls_hello_timeout(self, value: float | None) -> None:
        value = check_seconds("tls_hello_timeout", value, optional=True)
        self._live_change("tls_hello_timeout")
        self._tls_hello_timeout = value

    @property
    def max_tls_handshakes_per_address(self) -> int:
        """TLS handshakes one peer may run at once on a listener (default 8).

        A peer is an IPv4 address, or an IPv6 /64 network (one host usually has a whole
        /64). The listener runs at most 64 handshakes in all; a connection from a peer
        that already runs this many is closed at once, without a handshake, and counted
        in ``information.tls_handshake_failures`` (``CONNECTION_REFUSED``), so one
        address cannot take every slot. An int from 1 to 64 (64: no limit per peer).
        """
        return self._max_tls_handshakes_per_address

    @max_tls_handshakes_per_address.setter
    def max_tls_handshakes_per_address(self, value: int) -> None:
        value = check_int("max_tls_handshakes_per_address", value, 1, MAX_PENDING_HANDSHAKES)
        self._live_change("max_tls_handshakes_per_address")
        self._max_tls_handshakes_per_address = value


# -- what the sockets read from their controls ----------------------------------------


#: The options of a StreamSocket whose control nobody asked for: what its ``connect``
#: applies, and what a control made afterwards starts from. Never handed out.
CONNECT_DEFAULTS: Final = StreamSocketControl(lambda: "StreamSocket", lambda: None)
CONNECT_DEFAULTS._connect_called = True


def apply_options(control: _TcpControl, sock: socket.socket, family: socket.AddressFamily) -> None:
    """Set every option of *control* on a socket that is not yet connected or bound."""
    control._apply(sock, family)


def freeze_connect_options(control: StreamSocketControl) -> None:
    """``connect`` has started: the options that steer it can no longer change."""
    control._connect_called = True


def freeze_listener_options(control: StreamSocketListenerControl) -> None:
    """The listener is bound: its options can no longer change, nor its trust list."""
    control._bound = True
    where = control._describe()
    why = f"trusted_certificates must be set before the listener is bound; {where} is bound"
    control._trusted = SealedList(control._trusted, why)


def tls_client_settings(
    control: StreamSocketControl, level: SocketProtectionLevel
) -> TlsClientSettings:
    """The frozen TLS settings of a client handshake at *level* under *control*.

    Raises:
        TypeError: ``trusted_certificates`` holds something other than Certificates.
    """
    return TlsClientSettings(
        level=level,
        minimum=control._min_protection_level,
        trusted=tuple(control._checked_trust()),
        ignorable=frozenset(control.ignorable_server_certificate_errors),
        certificate=control._client_certificate,
        handshake_timeout=control._tls_handshake_timeout,
        connect_timeout=control._connect_timeout,
    )


def tls_server_context(
    control: StreamSocketListenerControl, level: SocketProtectionLevel
) -> ssl.SSLContext:
    """The context a listener bound at TLS *level* serves with, from *control*.

    Raises:
        ValueError: no ``server_certificate``.
    """
    trust = control._checked_trust() if control._client_certificate_required else None
    return server_context(level, control._server_certificate, trust)


def _certificate_with_key(name: str, value: object) -> Certificate | None:
    if value is None:
        return None
    if not isinstance(value, Certificate):
        raise TypeError(f"{name} must be a Certificate, not {shown(value)}")
    if not value.has_private_key:
        raise ValueError(
            f"{name} {value.subject!r} has no private key: make it with "
            "Certificate.from_pem(cert_pem, key_pem) or .from_pem_file(cert, key)"
        )
    return value
