"""Verifying a presented certificate chain with :mod:`cryptography`'s X.509 verifier.

OpenSSL verifies server certificates during the handshake whenever it can. It cannot
skip the trust check alone, so when ``UNTRUSTED`` is ignorable it does not verify, and
:meth:`ChainVerifier.findings` verifies after the handshake, before any data moves. The
same findings also complete the list of a chain OpenSSL refused (OpenSSL stops at its
first problem).

The verifier is ``cryptography.x509.verification`` (path building, basic constraints
and path length, key usage, extended key usage, name constraints, signature algorithms
and key sizes, signatures, validity of every certificate, unknown critical extensions).
Its Web PKI profile is relaxed only where OpenSSL is more lenient without the chain
getting weaker (see :data:`_EE_POLICY` and :data:`_CA_POLICY`). What WinRT needs and the
verifier has no switch for is done around it:

- the key sizes and signature digests of the path are checked by
  :func:`~trio_sockets._tls.strength.weakness`, as OpenSSL's default security level
  checks them (cryptography's verifier leaves the end entity's key unchecked);
- the host name is checked by :func:`~trio_sockets._core.certificate.name_matches` (as OpenSSL
  checks it), and the verifier runs without a name;
- an expired chain is verified again at a moment its certificates were valid: if it
  passes then, the only problem is the date (``EXPIRED``);
- an untrusted chain is verified again with its own top certificates (self-issued, or
  whose issuer is not to be found) as the anchors: if it passes then, the only problem is
  trust (``UNTRUSTED``). A certificate whose issuer *is* presented or trusted is never a
  top, so a chain through a certificate that may not issue (an end entity, a CA past its
  path length ...) fails either way.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from .._core.certificate_checks import name_matches
from .._core.enums import ChainValidationResult
from .._core.hostname import HostName
from .strength import weakness

__all__ = ["ChainFindings", "ChainVerifier"]

_C = ChainValidationResult

#: Presented certificates the verifier looks at (the leaf and the first that follow it;
#: paths are at most 8 intermediates long, and the peer chooses how many it sends).
MAX_PRESENTED: Final = 32
#: Other moments a failing chain is verified at, to tell an expired chain from a broken
#: one: the start of validity of at most this many presented certificates and of the
#: roots they name (each verification costs signature checks; the peer picks the chain).
MAX_MOMENTS: Final = 8


def _server_usage(policy: Policy, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    # OpenSSL's rule for a TLS server's certificate (RFC 5280 allows no key usage at all).
    if usage is not None and not (
        usage.digital_signature or usage.key_encipherment or usage.key_agreement
    ):
        raise ValueError("keyUsage of the server certificate allows no TLS use")


def _server_purpose(
    policy: Policy, cert: x509.Certificate, purposes: x509.ExtendedKeyUsage | None
) -> None:
    if purposes is not None and ExtendedKeyUsageOID.SERVER_AUTH not in purposes:
        raise ValueError("extended key usage: the certificate is not for TLS servers")


def _issuer_purpose(
    policy: Policy, cert: x509.Certificate, purposes: x509.ExtendedKeyUsage | None
) -> None:
    if (
        purposes is not None
        and ExtendedKeyUsageOID.SERVER_AUTH not in purposes
        and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in purposes
    ):
        raise ValueError("extended key usage: the issuer may not issue TLS server certificates")


def _issuer_usage(policy: Policy, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError("keyUsage of the issuer lacks keyCertSign: it may not issue")


def _issuer_constraints(
    policy: Policy, cert: x509.Certificate, constraints: x509.BasicConstraints
) -> None:
    if not constraints.ca:
        raise ValueError("basicConstraints: the issuer is not a certificate authority")


_AGNOSTIC = Criticality.AGNOSTIC

#: The end-entity profile: the Web PKI one, less what OpenSSL does not ask of a server
#: certificate either: a subject alternative name (the name is checked apart), an
#: authority key identifier, ``cA`` false (a self-signed CA certificate may serve). Its
#: key usage and extended key usage must allow a TLS server, as OpenSSL requires. The
#: client verifier is used because only it runs without a name; these rules replace its
#: client-side usage checks.
_EE_POLICY: Final = (
    ExtensionPolicy.webpki_defaults_ee()
    .may_be_present(x509.SubjectAlternativeName, _AGNOSTIC, None)
    .may_be_present(x509.AuthorityKeyIdentifier, _AGNOSTIC, None)
    .may_be_present(x509.BasicConstraints, _AGNOSTIC, None)
    .may_be_present(x509.KeyUsage, _AGNOSTIC, _server_usage)
    .may_be_present(x509.ExtendedKeyUsage, _AGNOSTIC, _server_purpose)
)
#: The issuer profile: the Web PKI one, less the rules several trusted roots of common
#: stores break and OpenSSL does not make (a non-critical basic constraints extension,
#: no key usage extension, an authority key identifier naming issuer and serial). ``cA``
#: must be true and, if there is a key usage, it must include ``keyCertSign``.
_CA_POLICY: Final = (
    ExtensionPolicy.webpki_defaults_ca()
    .require_present(x509.BasicConstraints, _AGNOSTIC, _issuer_constraints)
    .may_be_present(x509.KeyUsage, _AGNOSTIC, _issuer_usage)
    .may_be_present(x509.AuthorityKeyIdentifier, _AGNOSTIC, None)
    .may_be_present(x509.ExtendedKeyUsage, _AGNOSTIC, _issuer_purpose)
)

# Words of the verifier's messages (and of the rules above) → the WinRT result. Only
# used for problems that can never be ignored: a message cryptography rewords changes
# which fatal result is reported, never whether the chain is accepted.
_FATAL_WORDS: Final = (
    ("basicConstraints", _C.BASIC_CONSTRAINTS_ERROR),
    ("path length", _C.BASIC_CONSTRAINTS_ERROR),
    ("keyCertSign", _C.BASIC_CONSTRAINTS_ERROR),  # as OpenSSL: not a valid CA
    ("keyUsage", _C.WRONG_USAGE),
    ("extended key usage", _C.WRONG_USAGE),
    ("EKU", _C.WRONG_USAGE),
    ("critical extension", _C.UNKNOWN_CRITICAL_EXTENSION),
    ("signature", _C.INVALID_SIGNATURE),
    ("public key", _C.INVALID_SIGNATURE),
    ("RSA key", _C.INVALID_SIGNATURE),
)


def _telling(failures: list[tuple[bool, str]]) -> str:
    """The failure that says most: not about dates (other moments were tried), and
    with the chain's own top as anchor if there is one (the failure against the trusted
    roots then only says that none is the issuer)."""
    if not failures:
        return "no trusted certificate to verify against"
    undated = [failure for failure in failures if "validation time" not in failure[1]]
    ranked = sorted(undated or failures, key=lambda failure: not failure[0])
    return ranked[0][1]


def _fatal_result(message: str) -> ChainValidationResult:
    for words, result in _FATAL_WORDS:
        if words in message:
            return result
    return _C.OTHER_ERRORS


@dataclass(frozen=True)
class ChainFindings:
    """What :meth:`ChainVerifier.findings` found: the errors, sorted, and why."""

    errors: list[ChainValidationResult]
    #: The verifier's own words for a chain it refused, else None.
    detail: str | None = None


class ChainVerifier:
    """Verifies presented chains against one set of trusted roots (see the module)."""

    def __init__(self, anchors: Sequence[x509.Certificate]) -> None:
        self._anchors = list(anchors)
        self._store = Store(self._anchors) if self._anchors else None

    def findings(
        self,
        chain: Sequence[x509.Certificate],
        host: HostName | None,
        now: datetime.datetime | None = None,
    ) -> ChainFindings:
        """Every problem of the presented *chain* (leaf first) for *host* at *now*.

        Raises what :mod:`cryptography` raises on certificates it cannot read (the
        caller turns that into a classified failure).
        """
        if not chain:
            return ChainFindings([_C.UNTRUSTED], "the peer presented no certificate")
        chain = chain[:MAX_PRESENTED]
        moment = now or datetime.datetime.now(datetime.UTC)
        found: set[ChainValidationResult] = set()
        if host is not None and not name_matches(chain[0], host):
            found.add(_C.INVALID_NAME)
        failures: list[tuple[bool, str]] = []
        if self._store is not None:
            # The common case first: a sound chain to a trusted root.
            try:
                path = self._verify(self._store, moment, chain)
            except VerificationError as exc:
                failures.append((False, str(exc)))
            else:
                return _strength_checked(found, path)
        tops = [cert for cert in chain if self._is_top(cert, chain)]
        stores = [(store, False) for store in (self._store,) if store is not None]
        if tops:
            stores.append((Store(tops), True))
        # A path is valid from the latest start of validity of its certificates on, so
        # those of the presented certificates and of the roots they name are the
        # moments to try.
        presented = chain[:MAX_MOMENTS]
        roots = [root for root in self._anchors if any(_names_issuer(c, root) for c in presented)]
        starts = {cert.not_valid_before_utc for cert in (*presented, *roots)} - {moment}
        moments = [moment, *sorted(starts, key=lambda start: abs(start - moment))]
        for when in moments:
            for store, untrusted in stores:
                if when == moment and not untrusted:
                    continue  # tried above
                try:
                    path = self._verify(store, when, chain)
                except VerificationError as exc:
                    failures.append((untrusted, str(exc)))
                    continue
                if untrusted:
                    found.add(_C.UNTRUSTED)
                if when != moment:
                    found.add(_C.EXPIRED)
                return _strength_checked(found, path)
        detail = _telling(failures)
        found.add(_fatal_result(detail))
        if not all(_valid_at(cert, moment) for cert in chain):
            found.add(_C.EXPIRED)
        return ChainFindings(sorted(found), detail)

    def _verify(
        self, store: Store, when: datetime.datetime, chain: Sequence[x509.Certificate]
    ) -> list[x509.Certificate]:
        """The path from *chain*'s leaf to an anchor in *store*, valid at *when*."""
        verifier = (
            PolicyBuilder()
            .store(store)
            .time(when)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
            .build_client_verifier()
        )
        return verifier.verify(chain[0], list(chain[1:])).chain

    def _is_top(self, cert: x509.Certificate, chain: Sequence[x509.Certificate]) -> bool:
        """Whether *cert* ends the chain: self-issued, or no issuer for it anywhere.

        Issuers are found as OpenSSL finds them, by name and key identifier, never by
        signature: a certificate that claims a trusted issuer must be verified by it.
        """
        if _names_issuer(cert, cert):
            return True
        return not any(
            candidate is not cert and _names_issuer(cert, candidate)
            for candidate in (*chain, *self._anchors)
        )


def _strength_checked(
    found: set[ChainValidationResult], path: list[x509.Certificate]
) -> ChainFindings:
    """*found* for a chain that verified along *path*, with the key sizes and digests
    OpenSSL checks and cryptography's verifier does not (fatal, as in OpenSSL)."""
    weak = weakness(path)
    if weak is not None:
        found.add(_C.INVALID_SIGNATURE)
    return ChainFindings(sorted(found), weak)


def _names_issuer(cert: x509.Certificate, candidate: x509.Certificate) -> bool:
    if cert.issuer != candidate.subject:
        return False
    wanted = _key_id(cert, x509.AuthorityKeyIdentifier)
    have = _key_id(candidate, x509.SubjectKeyIdentifier)
    return wanted is None or have is None or wanted == have


def _key_id(
    cert: x509.Certificate,
    kind: type[x509.AuthorityKeyIdentifier] | type[x509.SubjectKeyIdentifier],
) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    return value.key_identifier if isinstance(value, x509.AuthorityKeyIdentifier) else value.digest


def _valid_at(cert: x509.Certificate, moment: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc
