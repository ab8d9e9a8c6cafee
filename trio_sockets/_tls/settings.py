"""The TLS settings of one client handshake, as one frozen value.

A :class:`~trio_sockets.StreamSocketControl` is mutable and belongs to its socket; a
handshake needs a snapshot of its TLS settings that cannot change under it, and the
client-context cache needs a key. :class:`TlsClientSettings` is both: the control makes
one when a ``connect`` or ``upgrade_to_ssl`` starts (``tls_client_settings`` in
``_sockets/stream_control.py``), and :func:`~trio_sockets._tls.context.client_context`
takes it instead of the control. The timeouts ride along for the handshake deadline but
are no part of the key: two sockets that differ only there share a context.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import trio

from .._core.certificate import Certificate
from .._core.enums import ChainValidationResult, SocketProtectionLevel

__all__ = ["TlsClientSettings", "trusted_ders"]


def _key_of(
    certificate: Certificate | None,
) -> tuple[bytes | None, bytes | None, tuple[bytes, ...]] | None:
    # A Certificate compares by its DER alone; two with different keys, or different
    # chains (which the handshake sends with it), must not share a context, so the key
    # and the chain are part of the settings' identity.
    if certificate is None:
        return None
    chain = tuple(issuer.der for issuer in certificate.chain)
    return (certificate._key_pem, certificate._password, chain)


def trusted_ders(certificates: Iterable[Certificate]) -> tuple[bytes, ...]:
    """The DER encodings of every root *certificates* make trusted, each once.

    A trusted :class:`~trio_sockets.Certificate` stands for every certificate it holds:
    its own and those of its :attr:`~trio_sockets.Certificate.chain`. A PEM file of
    several authorities (a CA bundle: two roots during a rotation, a root and its
    issuing CA) is read as its first certificate with the others as its chain, and each
    of them is trusted, as in any other CA file.
    """
    found: dict[bytes, None] = {}
    for certificate in certificates:
        found[certificate.der] = None
        for issuer in certificate.chain:
            found[issuer.der] = None
    return tuple(found)


@dataclass(frozen=True, slots=True)
class TlsClientSettings:
    """What a client handshake uses: the level asked for and the control's TLS settings.

    Equal settings (timeouts aside) make the same :class:`ssl.SSLContext`, so the value
    is also the client-context cache key.
    """

    level: SocketProtectionLevel
    minimum: SocketProtectionLevel = SocketProtectionLevel.UNSPECIFIED
    #: Roots trusted besides the system's, checked to be Certificates.
    trusted: tuple[Certificate, ...] = ()
    ignorable: frozenset[ChainValidationResult] = frozenset()
    certificate: Certificate | None = None
    handshake_timeout: float | None = field(default=None, compare=False)
    connect_timeout: float | None = field(default=None, compare=False)
    key: tuple[bytes | None, bytes | None, tuple[bytes, ...]] | None = field(init=False, repr=False)
    #: Every root :attr:`trusted` stands for (:func:`trusted_ders`): a Certificate
    #: compares by its first DER alone, and two with other chains trust other roots.
    anchors: tuple[bytes, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _key_of(self.certificate))
        object.__setattr__(self, "anchors", trusted_ders(self.trusted))

    def deadline(self, start: float) -> tuple[float, str]:
        """When a handshake that is part of a connect begun at *start* must be done,
        and which setting says so (for the timeout's message)."""
        deadline, reason = float("inf"), "no limit"
        if self.handshake_timeout is not None:
            deadline = trio.current_time() + self.handshake_timeout
            reason = f"control.tls_handshake_timeout={self.handshake_timeout} s"
        if self.connect_timeout is not None and start + self.connect_timeout < deadline:
            deadline = start + self.connect_timeout
            reason = f"control.connect_timeout={self.connect_timeout} s"
        return deadline, reason
