"""TLS for stream sockets: protection levels, contexts, the handshake and what it found.

TLS runs through the standard :mod:`ssl` module and :class:`trio.SSLStream`, over
:class:`SocketTransport`, a minimal :class:`trio.abc.Stream` on the socket the
:class:`~trio_sockets.StreamSocket` owns (so its options, such as ``no_delay``, stay
as the user set them).

Server certificates are verified by OpenSSL, with the system trust store plus
``control.trusted_certificates`` and the host name. Each ignorable error either has an
OpenSSL switch (``INVALID_NAME``: no host-name check; ``EXPIRED``: no time check) or,
for ``UNTRUSTED``, OpenSSL is told not to verify and :mod:`cryptography`'s verifier
checks the whole chain after the handshake, before any data moves; see
:mod:`trio_sockets._tls.chain`. Every certificate the peer presents is parsed under a guard:
one that cannot be read fails the connection with ``CERTIFICATE_IS_INVALID``.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import trio
from cryptography import x509

from .._core.certificate import IGNORABLE, Certificate, certificate_errors, severity_of
from .._core.checks import describe
from .._core.enums import ChainValidationResult, SocketProtectionLevel, SocketSslErrorSeverity
from .._core.errors import (
    SocketError,
    SocketErrorStatus,
    WindowsOnlyError,
    chain_result_of_verify_code,
    socket_error,
    status_of_chain_result,
    translate_os_error,
)
from .._core.hostname import HostName
from .chain import ChainVerifier

if TYPE_CHECKING:
    from .._sockets.stream_control import StreamSocketControl, StreamSocketListenerControl

__all__ = [
    "SocketTransport",
    "TlsReport",
    "check_protection_level",
    "client_context",
    "level_of_version",
    "server_context",
]

_L = SocketProtectionLevel
_C = ChainValidationResult

#: Reads of 64 KiB that take, without waiting, what a failed TLS connection received.
_MAX_DRAIN_READS: Final = 16

#: OpenSSL's ``X509_V_FLAG_NO_CHECK_TIME`` (OpenSSL 1.1.0+; :mod:`ssl` has no name for it).
_NO_CHECK_TIME: Final = 0x200000

_PINNED: Final = {
    _L.TLS10: ssl.TLSVersion.TLSv1,
    _L.TLS11: ssl.TLSVersion.TLSv1_1,
    _L.TLS12: ssl.TLSVersion.TLSv1_2,
    _L.TLS13: ssl.TLSVersion.TLSv1_3,
}
_HAS_VERSION: Final = {
    _L.TLS10: ssl.HAS_TLSv1,
    _L.TLS11: ssl.HAS_TLSv1_1,
    _L.TLS12: ssl.HAS_TLSv1_2,
    _L.TLS13: ssl.HAS_TLSv1_3,
}
_VERSION_LEVEL: Final = {
    "TLSv1": _L.TLS10,
    "TLSv1.1": _L.TLS11,
    "TLSv1.2": _L.TLS12,
    "TLSv1.3": _L.TLS13,
}
_REFUSED: Final = {
    _L.SSL_ALLOW_NULL_ENCRYPTION: (
        "it allows the NULL cipher (no encryption at all), which OpenSSL does not "
        "negotiate; use SSL (the best version both sides have) or a TLSnn level"
    ),
    _L.SSL3_ALLOW_WEAK_ENCRYPTION: (
        "SSL 3.0 and its weak ciphers are broken and not built into OpenSSL 3; use SSL "
        "(the best version both sides have) or a TLSnn level"
    ),
}


def check_protection_level(level: object, name: str = "protection_level") -> SocketProtectionLevel:
    """*level* as a :class:`SocketProtectionLevel` this platform can provide.

    Raises:
        TypeError: not a SocketProtectionLevel.
        ValueError: a level OpenSSL cannot provide (NULL or weak encryption, or a TLS
            version the local OpenSSL was built without), saying why.
        WindowsOnlyError: a Bluetooth level.
    """
    if not isinstance(level, SocketProtectionLevel):
        raise TypeError(f"{name} must be a SocketProtectionLevel, not {describe(level)}")
    if level in (
        _L.BLUETOOTH_ENCRYPTION_ALLOW_NULL_AUTHENTICATION,
        _L.BLUETOOTH_ENCRYPTION_WITH_AUTHENTICATION,
    ):
        raise WindowsOnlyError(
            f"SocketProtectionLevel.{level.name}",
            "it protects Bluetooth RFCOMM connections, which Windows alone provides",
        )
    if level in _REFUSED:
        raise ValueError(
            f"SocketProtectionLevel.{level.name} cannot be provided: {_REFUSED[level]}"
        )
    if level in _HAS_VERSION and not _HAS_VERSION[level]:
        raise ValueError(
            f"SocketProtectionLevel.{level.name} cannot be provided: the local OpenSSL "
            f"({ssl.OPENSSL_VERSION}) was built without that TLS version"
        )
    return level


def level_of_version(version: str | None) -> SocketProtectionLevel:
    """The level that names a negotiated TLS version (``"TLSv1.3"`` -> ``TLS13``)."""
    return _VERSION_LEVEL.get(version or "", _L.SSL)


def _pin(
    context: ssl.SSLContext, level: SocketProtectionLevel, minimum: SocketProtectionLevel
) -> None:
    pinned = _PINNED.get(level)
    floor = _PINNED.get(minimum)
    if pinned is not None and floor is not None and pinned < floor:
        raise ValueError(
            f"SocketProtectionLevel.{level.name} is below control.min_protection_level "
            f"({minimum.name})"
        )
    low = pinned or floor
    if low is None:
        return  # SSL / UNSPECIFIED: whatever both sides have, from the system's floor up
    # Setting TLS 1.0 / 1.1 is deprecated in ssl: here it is the user's explicit choice.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = low
        if pinned is not None:
            context.maximum_version = pinned
    if low < ssl.TLSVersion.TLSv1_2:
        # OpenSSL 3 refuses the SHA-1 signatures of TLS 1.0 / 1.1 above security level 0.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")


def _trust(context: ssl.SSLContext, certificates: Sequence[Certificate]) -> None:
    for certificate in certificates:
        context.load_verify_locations(cadata=certificate.der)


def client_context(
    level: SocketProtectionLevel, control: StreamSocketControl
) -> tuple[ssl.SSLContext, bool]:
    """The client context for *level* and the control's TLS settings.

    Returns the context and whether the certificate checks are left to
    :func:`handshake` (``UNTRUSTED`` ignorable: OpenSSL does not verify). Contexts are
    kept for reuse: making one loads the system's trust store, tens of milliseconds, far
    more than a handshake on a fast network.
    """
    certificate = control.client_certificate
    return _client_context(
        level,
        control.min_protection_level,
        tuple(control._checked_trust()),
        frozenset(control.ignorable_server_certificate_errors),
        certificate,
        None if certificate is None else (certificate._key_pem, certificate._password),
    )


@functools.lru_cache(maxsize=32)
def _client_context(
    level: SocketProtectionLevel,
    minimum: SocketProtectionLevel,
    trusted: tuple[Certificate, ...],
    ignorable: frozenset[ChainValidationResult],
    certificate: Certificate | None,
    secret: tuple[bytes | None, bytes | None] | None,  # the key: part of what is cached
) -> tuple[ssl.SSLContext, bool]:
    context = ssl.create_default_context()
    # The name is matched against the subject alternative names only, by OpenSSL and by
    # name_matches alike, so that both verifiers judge a name the same way (OpenSSL
    # would otherwise fall back to the common name of a certificate without any).
    context.hostname_checks_common_name = False
    _trust(context, trusted)
    _pin(context, level, minimum)
    # OpenSSL cannot skip the trust check alone. INCOMPLETE_CHAIN needs nothing switched
    # off: a missing issuer is reported as UNTRUSTED (OpenSSL does not tell the two
    # apart), so OpenSSL keeps verifying when only that one is ignorable.
    checks_here = _C.UNTRUSTED in ignorable
    if checks_here:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        if _C.INVALID_NAME in ignorable:
            context.check_hostname = False
        if _C.EXPIRED in ignorable:
            context.verify_flags |= _NO_CHECK_TIME
    if certificate is not None:
        certificate._load_into(context, "control.client_certificate")
    return context, checks_here


def server_context(
    level: SocketProtectionLevel, control: StreamSocketListenerControl
) -> ssl.SSLContext:
    """The context a TLS listener serves its connections with."""
    certificate = control.server_certificate
    if certificate is None:
        raise ValueError(
            f"SocketProtectionLevel.{level.name} needs control.server_certificate: set it "
            "to a Certificate with its private key before binding"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _pin(context, level, _L.UNSPECIFIED)
    certificate._load_into(context, "control.server_certificate")
    if control.client_certificate_required:
        _trust(context, control._checked_trust())
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _peer_ders(stream: trio.SSLStream[SocketTransport]) -> list[bytes]:
    """The DER of each certificate the peer presented, leaf first (also after a failed
    handshake)."""
    # ssl exposes the presented chain publicly from Python 3.13 on; before that the
    # underlying _ssl object has it. trio keeps the SSLObject in _ssl_object.
    ssl_object = getattr(stream, "_ssl_object", None)
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    ders: list[bytes] = []
    if getter is not None:
        for item in getter() or ():
            ders.append(item if isinstance(item, bytes) else item.public_bytes(2))  # DER
    if not ders and ssl_object is not None:
        with contextlib.suppress(ValueError):
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                ders.append(der)
    return ders


#: How much of what cryptography said about an unreadable certificate goes into messages.
_DETAIL_LIMIT: Final = 200


def _bounded(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


@dataclass
class TlsReport:
    """What a TLS handshake found: the level in force and the peer's certificates."""

    level: SocketProtectionLevel = _L.PLAIN_SOCKET
    peer_certificate: Certificate | None = None
    intermediates: list[Certificate] = field(default_factory=list)
    errors: list[ChainValidationResult] = field(default_factory=list)
    #: Why the peer's certificates were refused, in the verifier's words.
    detail: str | None = None
    #: Set when a presented certificate cannot be read: what is wrong with it.
    unreadable: str | None = None

    @property
    def severity(self) -> SocketSslErrorSeverity:
        return severity_of(self.errors)

    def record(
        self,
        stream: trio.SSLStream[SocketTransport],
        host: HostName | None,
        *,
        first_error: ChainValidationResult | None = None,
        verifier: ChainVerifier | None = None,
        ignorable: frozenset[ChainValidationResult] | None = None,
    ) -> None:
        """Fill in the peer's certificates and every error found with them.

        *first_error* is what OpenSSL refused the chain for. With a *verifier* (the
        client side, when OpenSSL did not verify or refused), the chain is verified by
        it; otherwise only dates and *host* are checked, and of those only the
        *ignorable* errors count (OpenSSL checked the others). Never raises: a
        certificate that cannot be read (the peer chooses the bytes) sets
        :attr:`unreadable` and the error ``OTHER_ERRORS``.
        """
        self.peer_certificate, self.intermediates, self.detail = None, [], None
        self.unreadable = None
        ders = _peer_ders(stream)
        # cryptography warns about some encodings it still reads (a serial number that
        # is not positive): the peer's choice, not something for the application's log.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                chain: list[x509.Certificate] = []
                for position, der in enumerate(ders, 1):
                    try:
                        chain.append(x509.load_der_x509_certificate(der))
                    except Exception as exc:
                        raise ValueError(
                            f"certificate {position} of {len(ders)} cannot be read: "
                            f"{type(exc).__name__}: {exc}"
                        ) from exc
                    if position == 1:
                        self.peer_certificate = Certificate._make(chain)
                    else:
                        self.intermediates.append(Certificate._make(chain[-1:]))
                self.errors = self._errors(chain, host, first_error, verifier, ignorable)
            # Anything cryptography raises on bytes the peer chose means the same: the
            # certificate cannot be judged, so it is not accepted.
            except Exception as exc:
                self.unreadable = _bounded(str(exc) if isinstance(exc, ValueError) else repr(exc))
                failed = {_C.OTHER_ERRORS}
                if first_error is not None:
                    failed.add(first_error)
                self.errors = sorted(failed)

    def _errors(
        self,
        chain: list[x509.Certificate],
        host: HostName | None,
        first_error: ChainValidationResult | None,
        verifier: ChainVerifier | None,
        ignorable: frozenset[ChainValidationResult] | None,
    ) -> list[ChainValidationResult]:
        if verifier is None:
            checked = certificate_errors(chain, host, first_error=first_error)
            if ignorable is not None and first_error is None:
                checked = [error for error in checked if error in ignorable]
            return checked
        findings = verifier.findings(chain, host)
        self.detail = findings.detail
        if first_error is None:
            return findings.errors
        # OpenSSL stopped at its first problem; the verifier adds the others. When that
        # first one is fatal already, the verifier's fatal result names the same problem.
        found = {first_error}
        for error in findings.errors:
            if error in IGNORABLE or first_error in IGNORABLE:
                found.add(error)
        return sorted(found)


def trust_anchors(context: ssl.SSLContext) -> list[x509.Certificate]:
    """The roots *context* trusts, for the checks made after an unverified handshake."""
    anchors = (_parse_anchor(der) for der in context.get_ca_certs(binary_form=True))
    return [anchor for anchor in anchors if anchor is not None]


@functools.lru_cache(maxsize=1024)
def _parse_anchor(der: bytes) -> x509.Certificate | None:
    # The system store holds a few old roots cryptography frowns at (a non-positive
    # serial number): they still count, but must not turn into warnings or errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return x509.load_der_x509_certificate(der)
        except (ValueError, x509.InvalidVersion):
            return None


_VERIFIERS: weakref.WeakKeyDictionary[ssl.SSLContext, ChainVerifier] = weakref.WeakKeyDictionary()


def chain_verifier(context: ssl.SSLContext) -> ChainVerifier:
    """The verifier for the roots *context* trusts, made once per context (its trust
    does not change once made, and a verifier keeps the parsed roots)."""
    verifier = _VERIFIERS.get(context)
    if verifier is None:
        verifier = _VERIFIERS[context] = ChainVerifier(trust_anchors(context))
    return verifier


async def handshake(
    stream: trio.SSLStream[SocketTransport],
    report: TlsReport,
    *,
    host: HostName | None,
    checks_here: bool,
    ignorable: frozenset[ChainValidationResult],
    deadline: float,
    deadline_reason: str,
    what: str,
) -> None:
    """Run the handshake of *stream*, fill in *report*, raise a classified failure.

    *host* is the name the server certificate must be valid for (None on the server
    side). Raises :class:`~trio_sockets.SocketStatusError`: a ``CERTIFICATE_*`` status
    for a certificate the settings do not accept (``CERTIFICATE_IS_INVALID`` for one
    that cannot be read, on either side), ``CONNECTION_TIMED_OUT`` at
    *deadline* (*deadline_reason* says which setting set it), and the classified TLS or
    socket failure otherwise.
    """
    try:
        with trio.fail_at(deadline):
            await stream.do_handshake()
    except trio.TooSlowError:
        raise socket_error(
            SocketErrorStatus.CONNECTION_TIMED_OUT,
            f"{what}: the TLS handshake did not finish within {deadline_reason}",
        ) from None
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLError):
            _send_alert(stream)
        if isinstance(cause, ssl.SSLCertVerificationError):
            first = chain_result_of_verify_code(cause.verify_code)
            if stream.server_side:
                report.record(stream, host, first_error=first)
                raise socket_error(
                    status_of_chain_result(first),
                    f"{what}: the client certificate failed verification: {cause.verify_message}",
                ) from exc
            report.record(stream, host, first_error=first, verifier=chain_verifier(stream.context))
            raise _certificate_failure(report, what, cause) from exc
        report.record(stream, None)
        if isinstance(cause, ssl.SSLError) and _refuses_our_certificate(stream, cause, report):
            raise socket_error(
                SocketErrorStatus.CERTIFICATE_IS_INVALID,
                f"{what}: TLS handshake: the server refused our client certificate, or "
                f"its absence (handshake_failure alert after the server's certificate: "
                f"{cause.reason})",
                broken=True,
            ) from exc
        raise tls_error(exc, f"{what}: TLS handshake") from exc
    if checks_here:
        report.record(stream, host, verifier=chain_verifier(stream.context))
    else:
        report.record(stream, host, ignorable=ignorable)
    if report.unreadable is not None:
        peer = "client" if stream.server_side else "server"
        raise socket_error(
            SocketErrorStatus.CERTIFICATE_IS_INVALID,
            f"{what}: the {peer}'s certificate chain is not accepted: {report.unreadable}",
        )
    refused = [error for error in report.errors if error not in ignorable]
    if checks_here and refused:
        raise _certificate_failure(report, what, None, refused)
    report.level = level_of_version(stream.version())


def _precedence(error: ChainValidationResult) -> int:
    if error == _C.UNTRUSTED:
        return 0
    if error not in IGNORABLE:
        return 1
    return {_C.INVALID_NAME: 2, _C.EXPIRED: 3}.get(error, 4)


def _send_alert(stream: trio.SSLStream[SocketTransport]) -> None:
    """Send the alert OpenSSL wrote when the handshake failed, then end our side.

    trio's SSLStream raises as soon as the SSLObject fails and leaves that alert in its
    outgoing MemoryBIO (``_retry`` in trio/_ssl.py reads the BIO only after a call that
    did not raise): unsent, the peer would see the connection end with no reason -- a
    TLS 1.3 client a clean end of stream instead of "certificate required".
    """
    outgoing = getattr(stream, "_outgoing", None)
    if isinstance(outgoing, ssl.MemoryBIO):
        stream.transport_stream.send_final(outgoing.read())


def alert_left_by_peer(stream: trio.SSLStream[SocketTransport]) -> ssl.SSLError | None:
    """The alert the peer sent before the connection broke, if it waits unread.

    A server that refuses our certificate after a TLS 1.3 handshake sends an alert and
    may then reset the connection: a send fails with the reset while the alert that
    says why still waits in the kernel's receive buffer. Call this once a send has
    broken the stream (its received bytes are of no other use then): it reads what
    has arrived, without waiting, and returns the ``SSLError`` of the alert it holds.

    Nothing is read while a receive is under way: that receive may hold bytes that
    come first, and it meets the alert itself.
    """
    ssl_object = getattr(stream, "_ssl_object", None)
    incoming = getattr(stream, "_incoming", None)
    if not isinstance(ssl_object, ssl.SSLObject) or not isinstance(incoming, ssl.MemoryBIO):
        return None
    if stream.transport_stream.receiving:
        return None
    incoming.write(stream.transport_stream.received_now())
    try:
        for _ in range(_MAX_DRAIN_READS):
            if not ssl_object.read(65536):  # application data before the alert: skipped
                break
    except ssl.SSLError as exc:  # SSLWantReadError too: no alert there
        if "ALERT" in (exc.reason or ""):
            return exc
    return None


def _refuses_our_certificate(
    stream: trio.SSLStream[SocketTransport], cause: ssl.SSLError, report: TlsReport
) -> bool:
    """Whether a client's failed handshake is the server refusing our certificate.

    TLS 1.2 has no certificate_required alert: a server that requires a client
    certificate and gets none, or refuses the one it got without a more specific alert,
    sends handshake_failure -- the alert that also means "no shared version or cipher".
    The two differ in when they come: that one answers the ClientHello, before the
    server has sent its certificate; a refusal of ours comes after it.
    """
    return (
        not stream.server_side
        and cause.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"
        and report.peer_certificate is not None
    )


def _certificate_failure(
    report: TlsReport,
    what: str,
    cause: ssl.SSLCertVerificationError | None,
    refused: list[ChainValidationResult] | None = None,
) -> OSError:
    refused = refused if refused is not None else report.errors
    # The one OpenSSL would have named: it checks the path first, then the chain's
    # structure and usage, then the name, and the dates last.
    primary = min(refused, key=_precedence, default=_C.OTHER_ERRORS)
    if report.unreadable is not None:
        primary = _C.OTHER_ERRORS
    elif cause is not None:
        primary = chain_result_of_verify_code(cause.verify_code)
    status = status_of_chain_result(primary)
    if report.unreadable is not None:
        detail = report.unreadable
    elif cause is not None:
        detail = cause.verify_message
    else:
        detail = _bounded(report.detail) if report.detail else "not accepted"
    names = ", ".join(error.name for error in report.errors) or primary.name
    return socket_error(
        status,
        f"{what}: the server certificate failed verification: {detail} "
        f"(information.server_certificate_errors: {names}; severity "
        f"{report.severity.name})",
    )


# What the peer's alert about our certificate means, for the message.
_ALERT_HINTS: Final = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the peer requires a client certificate and got none",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the peer rejected our certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the peer does not trust the issuer of our certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the peer says our certificate has expired",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the peer rejected our certificate",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "the peer rejected our certificate",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the client sent no certificate, and one is required",
}
_STATUS_HINTS: Final = {
    SocketErrorStatus.HTTP_INVALID_SERVER_RESPONSE: "the peer does not speak TLS",
    SocketErrorStatus.SOFTWARE_CAUSED_CONNECTION_ABORT: (
        "the two sides share no TLS version or cipher the settings allow"
    ),
    SocketErrorStatus.CONNECTION_RESET_BY_PEER: "the peer ended the connection",
}


def tls_error(exc: BaseException, action: str) -> OSError:
    """A classified :class:`~trio_sockets.SocketStatusError` for a failed TLS operation.

    *exc* is what :class:`trio.SSLStream` raised (a :class:`trio.BrokenResourceError`,
    usually caused by an :class:`ssl.SSLError`); ``SocketError.get_status`` classifies
    it, and the message says what it means. The result is also a
    :class:`trio.BrokenResourceError`.
    """
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
    if isinstance(cause, OSError) and not isinstance(cause, ssl.SSLError):
        return translate_os_error(cause, action, broken=True)
    status = SocketError.get_status(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = cause.verify_message
    elif isinstance(cause, ssl.SSLError):
        reason = cause.reason or ""
        hint = _ALERT_HINTS.get(reason) or _STATUS_HINTS.get(status)
        text = reason or cause.strerror or str(cause)
        detail = f"{hint} ({text})" if hint else text
    elif cause is None:
        detail = "the TLS stream is broken by an earlier failure"
    else:
        detail = repr(cause)
    return socket_error(status, f"{action}: {detail}", broken=True)


class SocketTransport(trio.abc.Stream):
    """The socket under a :class:`trio.SSLStream`: raw sends and receives, nothing else.

    It neither sets socket options (a ``trio.SocketStream`` would force ``TCP_NODELAY``)
    nor closes the socket: the :class:`~trio_sockets.StreamSocket` owns it. While
    :attr:`closing`, a send that would block gives up instead, so that the close_notify
    of a closing TLS stream never waits on a peer that does not read.
    """

    def __init__(self, sock: socket.socket, what: str) -> None:
        self._sock = sock
        self._what = what
        self.closing = False
        #: Whether a receive is under way (it may hold bytes not yet given to OpenSSL).
        self.receiving = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        sock = self._sock
        await trio.lowlevel.checkpoint_if_cancelled()
        yielded = False
        with memoryview(data) as view:
            remaining = view
            while remaining:
                try:
                    sent = sock.send(remaining)
                except BlockingIOError:
                    if self.closing:
                        raise trio.BrokenResourceError("the socket is closing") from None
                    yielded = True
                    await trio.lowlevel.wait_writable(sock)
                    continue
                except OSError as exc:
                    raise self._failure(exc, "send") from exc
                remaining = remaining[sent:]
        if not yielded:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.wait_writable(self._sock)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        sock = self._sock
        size = max_bytes or 65536
        await trio.lowlevel.checkpoint_if_cancelled()
        yielded = False
        self.receiving = True
        try:
            while True:
                try:
                    data = sock.recv(size)
                except BlockingIOError:
                    yielded = True
                    await trio.lowlevel.wait_readable(sock)
                    continue
                except OSError as exc:
                    raise self._failure(exc, "receive") from exc
                if not yielded:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return data
        finally:
            self.receiving = False

    def send_final(self, data: bytes) -> None:
        """Send *data* if the kernel takes it at once, then end the sending side.

        For the alert of a failed handshake: nothing waits on the peer. The FIN goes
        out before the reset that closing the socket with unread bytes would cause (a
        reset may make the peer drop the alert unread), and bytes that already arrived
        are read and dropped, so that they cause no reset.
        """
        sock = self._sock
        # OSError: the peer is gone, or the send buffer is full.
        with contextlib.suppress(OSError), memoryview(data) as view:
            sent = 0
            while sent < len(view):
                sent += sock.send(view[sent:])
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        self.received_now()

    def received_now(self) -> bytes:
        """What has arrived and not been read yet (at most 1 MiB), without waiting."""
        received = bytearray()
        for _ in range(_MAX_DRAIN_READS):
            try:
                data = self._sock.recv(65536)
            except OSError:  # nothing more now (BlockingIOError), or the peer reset
                break
            if not data:
                break
            received += data
        return bytes(received)

    def _failure(self, exc: OSError, action: str) -> Exception:
        if self._sock.fileno() == -1:
            return trio.ClosedResourceError(f"{self._what} was closed")
        return translate_os_error(exc, f"{action} on {self._what}", broken=True)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
