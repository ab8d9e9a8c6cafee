"""TLS contexts: which protection levels this platform provides, and the client and
server :class:`ssl.SSLContext` for a level and its settings.

TLS runs through the standard :mod:`ssl` module and :class:`trio.SSLStream` (see
:mod:`~trio_sockets._tls.session`); a client context is made from a frozen
:class:`~trio_sockets._tls.settings.TlsClientSettings`, which is also its cache key.
"""

from __future__ import annotations

import functools
import ssl
import warnings
from collections.abc import Sequence
from typing import Final

from .._core.certificate import Certificate
from .._core.checks import describe, shown
from .._core.enums import ChainValidationResult, SocketProtectionLevel
from .._core.errors import WindowsOnlyError, out_of_resources, translate_os_error
from .settings import TlsClientSettings, trusted_ders

__all__ = ["check_protection_level", "client_context", "server_context"]

_L = SocketProtectionLevel
_C = ChainValidationResult

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


def _trust(context: ssl.SSLContext, anchors: Sequence[bytes]) -> None:
    """Trust the roots *anchors* (DER, :func:`~trio_sockets._tls.settings.trusted_ders`).

    They go into OpenSSL's store, and :func:`~trio_sockets._tls.handshake.chain_verifier`
    reads the same store back: both verifiers trust the same roots. Each is trusted as
    it is, an authority that is not self-signed (an intermediate) too, without its own
    issuers: cryptography's verifier takes any certificate of its store as an anchor,
    and OpenSSL does so with ``VERIFY_X509_PARTIAL_CHAIN``. With it goes
    ``VERIFY_X509_STRICT``, as in Python 3.13's defaults (set here for every version):
    without it OpenSSL took as an anchor, issuing for any name, a trusted certificate
    that is no authority (keyCertSign but no basicConstraints), which cryptography
    refuses.
    """
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
    for der in anchors:
        context.load_verify_locations(cadata=der)


def _check_system_roots(context: ssl.SSLContext) -> None:
    """Make sure *context* holds the system's roots, which OpenSSL loads silently.

    When OpenSSL cannot open the CA bundle (out of file descriptors), it makes a context
    without roots and says nothing: kept for reuse, that context would fail every later
    handshake with ``UNTRUSTED``. An empty store while a bundle exists is loaded again
    here, where a failure raises (the caller then keeps nothing).
    """
    if context.cert_store_stats()["x509"]:
        return
    bundle = ssl.get_default_verify_paths().cafile  # None without a bundle file
    if not bundle:
        return  # only a directory of roots (capath), looked up at each handshake
    try:
        context.load_verify_locations(cafile=bundle)
    except ssl.SSLError:
        return  # a bundle that holds no certificate: there are no system roots
    except OSError as exc:
        action = f"load the system's root certificates from {shown(bundle)}"
        raise out_of_resources(exc, action) or translate_os_error(exc, action) from exc


def client_context(settings: TlsClientSettings) -> tuple[ssl.SSLContext, bool]:
    """The client context for *settings*.

    Returns the context and whether the certificate checks are left to
    :func:`~trio_sockets._tls.handshake.handshake` (``UNTRUSTED`` ignorable: OpenSSL
    does not verify). Contexts are kept for reuse, keyed by the settings: making one
    loads the system's trust store, tens of milliseconds, far more than a handshake on
    a fast network.

    Raises:
        ValueError: the level is below ``settings.minimum``, or the client certificate
            cannot be loaded.
        SocketStatusError: ``TOO_MANY_OPEN_FILES`` when the system's root certificates
            or the client certificate cannot be loaded for want of a file descriptor;
            such a context is not kept.
    """
    return _client_context(settings)


@functools.lru_cache(maxsize=32)
def _client_context(settings: TlsClientSettings) -> tuple[ssl.SSLContext, bool]:
    ignorable = settings.ignorable
    context = ssl.create_default_context()
    _no_renegotiation(context)
    _check_system_roots(context)
    # The name is matched against the subject alternative names only, by OpenSSL and by
    # name_matches alike, so that both verifiers judge a name the same way (OpenSSL
    # would otherwise fall back to the common name of a certificate without any).
    context.hostname_checks_common_name = False
    _trust(context, settings.anchors)
    _pin(context, settings.level, settings.minimum)
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
    if settings.certificate is not None:
        settings.certificate._load_into(context, "control.client_certificate")
        # TLS 1.3 servers may ask for it after the handshake too (for one path of a
        # site, say), and only if the ClientHello announced it. OpenSSL answers such a
        # request inside a read, which trio's SSLStream sends out; it brings no new
        # server certificate, so nothing here needs to check again.
        context.post_handshake_auth = True
    return context, checks_here


def _no_renegotiation(context: ssl.SSLContext) -> None:
    """Refuse TLS 1.2 (and older) renegotiation, from either side.

    A renegotiation is a new handshake inside the connection, and may bring another
    certificate: one nobody checks when trio_sockets verifies the chain itself (with
    ``UNTRUSTED`` ignorable, or a client certificate), and that ``information`` would
    not show. The peer's request is answered with a ``no_renegotiation`` alert; TLS 1.3
    has no renegotiation at all.
    """
    context.options |= ssl.OP_NO_RENEGOTIATION


def server_context(
    level: SocketProtectionLevel,
    certificate: Certificate | None,
    client_trust: Sequence[Certificate] | None,
) -> ssl.SSLContext:
    """The context a TLS listener serves its connections with.

    *client_trust*: the roots a required client certificate must chain to, each with
    the certificates of its chain (the system's roots are not among them: a server
    trusts for its clients only the authorities it names), or None when no client
    certificate is required.

    Raises:
        ValueError: no *certificate*, or one that cannot be loaded.
    """
    if certificate is None:
        raise ValueError(
            f"SocketProtectionLevel.{level.name} needs control.server_certificate: set it "
            "to a Certificate with its private key before binding"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _no_renegotiation(context)
    _pin(context, level, _L.UNSPECIFIED)
    certificate._load_into(context, "control.server_certificate")
    if client_trust is not None:
        _trust(context, trusted_ders(client_trust))
        context.verify_mode = ssl.CERT_REQUIRED
    return context
