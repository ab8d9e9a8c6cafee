"""The certificate checks behind ``ChainValidationResult`` lists that OpenSSL can be
told to skip: validity dates and the host name, checked here on the certificates a peer
presented (:mod:`cryptography` objects). Pure functions."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from .enums import ChainValidationResult, HostNameType
from .hostname import HostName

__all__ = ["certificate_errors", "name_matches", "san_values"]

_C = ChainValidationResult


def san_values(
    cert: x509.Certificate, kind: type[x509.DNSName] | type[x509.IPAddress]
) -> list[Any]:
    """The values of *kind* in the subject alternative names (none without the extension)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(kind)


def name_matches(cert: x509.Certificate, host: HostName) -> bool:
    """Whether *cert* is valid for *host*, as OpenSSL checks it for the :mod:`ssl` module.

    Only the subject alternative names count (never the common name); a wildcard stands
    for one whole left-most label (``*.example.com``), an IDN A-label (``xn--...``) too,
    and an IP address matches only an IP address entry. (OpenSSL keeps A-labels from
    *partial* wildcards, ``b*.example.com``, and :mod:`ssl` allows no partial wildcards.)
    """
    if host.type != HostNameType.DOMAIN_NAME:
        wanted = ipaddress.ip_address(host.canonical_name.split("%")[0])
        return any(ip == wanted for ip in san_values(cert, x509.IPAddress))
    labels = host.canonical_name.rstrip(".").split(".")
    pattern: str
    for pattern in san_values(cert, x509.DNSName):
        pattern_labels = pattern.lower().split(".")  # as written: a trailing dot never matches
        if len(pattern_labels) != len(labels):
            continue
        if pattern_labels[0] == "*" and len(pattern_labels) > 2:
            if pattern_labels[1:] == labels[1:]:
                return True
        elif pattern_labels == labels:
            return True
    return False


def _valid_now(cert: x509.Certificate, now: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def certificate_errors(
    chain: Sequence[x509.Certificate],
    host: HostName | None,
    *,
    first_error: ChainValidationResult | None = None,
    now: datetime.datetime | None = None,
) -> list[ChainValidationResult]:
    """The date and name problems of a presented certificate *chain* (leaf first), sorted.

    *first_error* is what OpenSSL reported, if it failed. Validity dates of every
    presented certificate and the *host* name (None: not checked) are checked here; the
    path itself is :class:`trio_sockets._tls.chain.ChainVerifier`'s.
    """
    found: set[ChainValidationResult] = set()
    if first_error is not None:
        found.add(first_error)
    if chain:
        moment = now or datetime.datetime.now(datetime.UTC)
        if not all(_valid_now(cert, moment) for cert in chain):
            found.add(_C.EXPIRED)
        if host is not None and not name_matches(chain[0], host):
            found.add(_C.INVALID_NAME)
    return sorted(found)
