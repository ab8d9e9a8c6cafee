"""The key sizes and signature digests OpenSSL's default security level asks of a chain.

The contexts here verify at security level 2 (the :mod:`ssl` module's default): every
key of a verified chain must give at least 112 bits of security, and every signature
but the trust anchor's own at least 112 bits too. OpenSSL's verifier does not make
these checks where it does not run at that level:

- when ``UNTRUSTED`` is ignorable, OpenSSL does not verify and
  :class:`~trio_sockets._tls.chain.ChainVerifier` does, and cryptography's verifier
  checks the issuers' keys but never the end entity's;
- TLS 1.0 and 1.1 need security level 0 (their handshakes sign with SHA-1), which also
  turns these checks off, for a TLS 1.3 connection too when a floor allows 1.0.

:func:`weakness` makes them on the verified chain after the handshake, before any data
moves. Each rule mirrors OpenSSL 3's (``check_key_level`` and ``check_sig_level`` in
``crypto/x509/x509_vfy.c``); a chain that breaks one is refused as OpenSSL refuses it,
with ``INVALID_SIGNATURE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

__all__ = ["DEFAULT_SECURITY_LEVEL", "weakness"]

#: The security level of the :mod:`ssl` module's contexts, and the bits of security it asks.
DEFAULT_SECURITY_LEVEL: Final = 2
MIN_SECURITY_BITS: Final = 112
#: The shortest RSA or DSA modulus OpenSSL 3 rates at 112 bits (its estimate after NIST
#: SP 800-56B, ``ossl_ifc_ffc_compute_security_bits``, reaches 112 from 1963 bits on).
MIN_MODULUS_BITS: Final = 1963
#: The smallest elliptic-curve group giving 112 bits (OpenSSL halves the order's bits).
MIN_CURVE_BITS: Final = 224
#: Hashes whose signatures OpenSSL 3 rates under 112 bits: MD5 at 39, SHA-1 at 63 (both
#: broken); the others count half their length, so SHA-224 and longer pass.
_BROKEN_HASHES: Final = frozenset({hashes.MD5.name, hashes.SHA1.name})


def _weak_key(cert: x509.Certificate) -> str | None:
    """*cert*'s key, described, when it gives under 112 bits of security (the rule of
    ``EVP_PKEY_get_security_bits``); None when it is strong enough."""
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return "a key of a kind not known here"
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        kind = "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"
        weak = key.key_size < MIN_MODULUS_BITS
        if isinstance(key, dsa.DSAPublicKey):
            weak |= key.parameters().parameter_numbers().q.bit_length() < MIN_CURVE_BITS
        return f"{kind} {key.key_size} bits" if weak else None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}" if key.curve.key_size < MIN_CURVE_BITS else None
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return None
    return f"a {type(key).__name__}"


def _weak_signature(cert: x509.Certificate) -> str | None:
    """*cert*'s signature hash when it gives under 112 bits of security (the rule of
    ``X509_get_signature_info``); None when it is strong enough (EdDSA signatures are
    as strong as their keys)."""
    try:
        digest = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "an algorithm not known here"
    if digest is None:
        return None
    if digest.name in _BROKEN_HASHES or digest.digest_size * 4 < MIN_SECURITY_BITS:
        return digest.name.upper()
    return None


def weakness(chain: Sequence[x509.Certificate]) -> str | None:
    """What makes the verified *chain* (leaf first, trust anchor last) weaker than the
    default security level allows, in OpenSSL's words; None when nothing does."""
    needed = f"under the {MIN_SECURITY_BITS} bits of security the default level asks"
    for position, cert in enumerate(chain):
        key = _weak_key(cert)
        if key is not None:
            role = "EE" if position == 0 else "CA"
            return f"{role} certificate key too weak ({key}, {needed})"
        # The anchor's signature on itself is not checked: trust does not come from it.
        digest = _weak_signature(cert) if position < len(chain) - 1 else None
        if digest is not None:
            return (
                f"signature digest algorithm too weak (certificate {position + 1} of the "
                f"chain is signed with {digest}, {needed})"
            )
    return None
