"""The TLS handshake and what it found: :class:`TlsReport`, the classified failures.

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
import ssl
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Final

import trio
from cryptography import x509

from .._core.certificate import IGNORABLE, Certificate, severity_of
from .._core.certificate_checks import certificate_errors
from .._core.enums import ChainValidationResult, SocketProtectionLevel, SocketSslErrorSeverity
from .._core.errors import SocketError, SocketErrorStatus, socket_error, translate_os_error
from .._core.hostname import HostName
from .._core.status import chain_result_of_verify_code, status_of_chain_result
from .chain import ChainVerifier
from .strength import DEFAULT_SECURITY_LEVEL, weakness
from .transport import SocketTransport

__all__ = [
    "TlsReport",
    "chain_verifier",
    "handshake",
    "level_of_version",
    "tls_error",
]

_L = SocketProtectionLevel
_C = ChainValidationResult

_VERSION_LEVEL: Final = {
    "TLSv1": _L.TLS10,
    "TLSv1.1": _L.TLS11,
    "TLSv1.2": _L.TLS12,
    "TLSv1.3": _L.TLS13,
}


def level_of_version(version: str | None) -> SocketProtectionLevel:
    """The level that names a negotiated TLS version (``"TLSv1.3"`` -> ``TLS13``)."""
    return _VERSION_LEVEL.get(version or "", _L.SSL)


def _peer_ders(stream: trio.SSLStream[SocketTransport], *, verified: bool = False) -> list[bytes]:
    """The DER of each certificate the peer presented, leaf first (also after a failed
    handshake); or, *verified*, of the path OpenSSL verified, from the leaf to the
    trust anchor (empty when it did not verify one)."""
    # ssl exposes both chains publicly from Python 3.13 on; before that the underlying
    # _ssl object has them. trio keeps the SSLObject in _ssl_object.
    name = "get_verified_chain" if verified else "get_unverified_chain"
    ssl_object = getattr(stream, "_ssl_object", None)
    getter = getattr(ssl_object, name, None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), name, None)
    ders: list[bytes] = []
    if getter is not None:
        for item in getter() or ():
            ders.append(item if isinstance(item, bytes) else item.public_bytes(2))  # DER
    if not ders and not verified and ssl_object is not None:
        with contextlib.suppress(ValueError):
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                ders.append(der)
    return ders


def _verified_path(stream: trio.SSLStream[SocketTransport]) -> list[x509.Certificate]:
    """The path OpenSSL verified, leaf to trust anchor; empty when it verified none, or
    when cryptography cannot read one of its certificates (a root of the system store)."""
    try:
        return [x509.load_der_x509_certificate(der) for der in _peer_ders(stream, verified=True)]
    except (ValueError, x509.InvalidVersion):
        return []


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
        lowered: bool = False,
    ) -> None:
        """Fill in the peer's certificates and every error found with them.

        *first_error* is what OpenSSL refused the chain for. With a *verifier* (the
        client side, when OpenSSL did not verify or refused), the chain is verified by
        it; otherwise only dates and *host* are checked, on the path OpenSSL verified
        (its trust anchor too), and of those only the *ignorable* errors count (OpenSSL
        checked the others). *lowered*: OpenSSL verified below the default security
        level, so the path's key sizes and digests are checked here. Never raises: a
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
                if verifier is None:
                    path = (_verified_path(stream) if first_error is None else []) or chain
                    self.errors = self._checked(path, host, first_error, ignorable)
                    if lowered:
                        self._check_strength(path)
                else:
                    self.errors = self._verified(chain, host, first_error, verifier)
            # Anything cryptography raises on bytes the peer chose means the same: the
            # certificate cannot be judged, so it is not accepted.
            except Exception as exc:
                self.unreadable = _bounded(str(exc) if isinstance(exc, ValueError) else repr(exc))
                failed = {_C.OTHER_ERRORS}
                if first_error is not None:
                    failed.add(first_error)
                self.errors = sorted(failed)

    def _checked(
        self,
        path: list[x509.Certificate],
        host: HostName | None,
        first_error: ChainValidationResult | None,
        ignorable: frozenset[ChainValidationResult] | None,
    ) -> list[ChainValidationResult]:
        checked = certificate_errors(path, host, first_error=first_error)
        if ignorable is not None and first_error is None:
            checked = [error for error in checked if error in ignorable]
        return checked

    def _check_strength(self, path: list[x509.Certificate]) -> None:
        weak = weakness(path)
        if weak is not None:
            self.detail = weak
            self.errors = sorted({*self.errors, _C.INVALID_SIGNATURE})

    def _verified(
        self,
        chain: list[x509.Certificate],
        host: HostName | None,
        first_error: ChainValidationResult | None,
        verifier: ChainVerifier,
    ) -> list[ChainValidationResult]:
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
        raise tls_error(exc, f"{what}: TLS handshake", handshaken=False) from exc
    # TLS 1.0 and 1.1 need security level 0, at which OpenSSL does not check key sizes
    # and digests: they are checked after the handshake (see _tls.strength).
    lowered = stream.context.security_level < DEFAULT_SECURITY_LEVEL
    if checks_here:
        report.record(stream, host, verifier=chain_verifier(stream.context))
    else:
        report.record(stream, host, ignorable=ignorable, lowered=lowered)
    peer = "client" if stream.server_side else "server"
    if report.unreadable is not None:
        raise socket_error(
            SocketErrorStatus.CERTIFICATE_IS_INVALID,
            f"{what}: the {peer}'s certificate chain is not accepted: {report.unreadable}",
        )
    refused = [error for error in report.errors if error not in ignorable]
    if (checks_here or lowered) and refused:
        raise _certificate_failure(report, what, None, refused, peer)
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
    peer: str = "server",
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
        f"{what}: the {peer} certificate failed verification: {detail} "
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
# What our OpenSSL refusing the peer's TLS means, for the message (see TLS_REFUSED).
_REFUSAL_HINTS: Final = {
    "EXCESSIVE_MESSAGE_SIZE": (
        "refused: a handshake message from the peer is over OpenSSL's size limit (a "
        "certificate chain over 100 KiB, say)"
    ),
    "DECRYPTION_FAILED_OR_BAD_RECORD_MAC": (
        "a record from the peer failed its integrity check (corrupted or tampered with on the way)"
    ),
}
_STATUS_HINTS: Final = {
    SocketErrorStatus.HTTP_INVALID_SERVER_RESPONSE: "the peer does not speak TLS",
    SocketErrorStatus.SOFTWARE_CAUSED_CONNECTION_ABORT: (
        "the two sides share no TLS version or cipher the settings allow"
    ),
    SocketErrorStatus.CONNECTION_RESET_BY_PEER: "the peer ended the connection",
}


def _ended(cause: ssl.SSLError) -> bool:
    """Whether *cause* is the peer ending the connection (an alert it sent, or the end
    of the stream), not our OpenSSL refusing what it sent."""
    return "ALERT" in (cause.reason or "") or isinstance(
        cause, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError
    )


def tls_error(exc: BaseException, action: str, *, handshaken: bool = True) -> OSError:
    """A classified :class:`~trio_sockets.SocketStatusError` for a failed TLS operation.

    *exc* is what :class:`trio.SSLStream` raised (a :class:`trio.BrokenResourceError`,
    usually caused by an :class:`ssl.SSLError`); ``SocketError.get_status`` classifies
    it, and the message says what it means. The result is also a
    :class:`trio.BrokenResourceError`.

    Once *handshaken*, an alert that would mean "no common version or cipher" in a
    handshake means that the peer ended the connection over a new handshake on it (a
    renegotiation: trio_sockets refuses them from either side).
    """
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
    if isinstance(cause, OSError) and not isinstance(cause, ssl.SSLError):
        return translate_os_error(cause, action, broken=True)
    status = SocketError.get_status(exc)
    if handshaken and status == SocketErrorStatus.SOFTWARE_CAUSED_CONNECTION_ABORT:
        text = getattr(cause, "reason", None) or str(cause)
        return socket_error(
            SocketErrorStatus.CONNECTION_RESET_BY_PEER,
            f"{action}: the peer ended the established connection over a failed new "
            f"handshake on it (a renegotiation, which trio_sockets refuses from either "
            f"side) ({text})",
            broken=True,
        )
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = cause.verify_message
    elif isinstance(cause, ssl.SSLError):
        reason = cause.reason or ""
        hint = _ALERT_HINTS.get(reason) or _REFUSAL_HINTS.get(reason)
        if hint is None and status == SocketErrorStatus.CONNECTION_RESET_BY_PEER:
            hint = _STATUS_HINTS[status] if _ended(cause) else "OpenSSL refused what the peer sent"
        elif hint is None:
            hint = _STATUS_HINTS.get(status)
        text = reason or cause.strerror or str(cause)
        detail = f"{hint} ({text})" if hint else text
    elif cause is None:
        detail = "the TLS stream is broken by an earlier failure"
    else:
        detail = repr(cause)
    return socket_error(status, f"{action}: {detail}", broken=True)
