"""Helpers for testing code that uses trio_sockets, like :mod:`trio.testing` for trio.

:class:`DnsServer` runs a real DNS server (dnsmasq) on loopback with the SRV, A and
AAAA records a test needs; the pytest plugin offers it as the ``dns_server`` fixture.
"""

from __future__ import annotations

from ._dns_server import DnsServer, DnsServerError, SrvRecord

__all__ = ["DnsServer", "DnsServerError", "SrvRecord"]

for _cls in (DnsServer, DnsServerError, SrvRecord):
    _cls.__module__ = "trio_sockets.testing"
del _cls
