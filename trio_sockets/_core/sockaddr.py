"""Socket-address rules: one place that knows IPv4-mapped IPv6 addresses.

A dual-stack IPv6 socket (``IPV6_V6ONLY`` off) sends to and hears from IPv4 peers
through IPv4-mapped addresses (``::ffff:192.0.2.1``, RFC 4291 §2.5.5.2). Inside the
library an IPv4 peer is always named by its IPv4 address; these functions are the only
place that maps one way or the other.

Pure: text in, text out, no socket calls.
"""

from __future__ import annotations

import functools
import ipaddress

__all__ = [
    "MAX_INTERFACE_INDEX",
    "ipv4_mapped",
    "ipv4_of_mapped",
    "is_link_local",
    "is_multicast",
    "unmapped",
    "with_scope",
]

#: The largest network interface index: a scope id is 32 bits unsigned (``sockaddr_in6``).
MAX_INTERFACE_INDEX = 0xFFFF_FFFF


def ipv4_mapped(ipv4: str) -> str:
    """The IPv4-mapped IPv6 address of the IPv4 address *ipv4*, as the kernel writes it."""
    return f"::ffff:{ipv4}"


def ipv4_of_mapped(text: str) -> str | None:
    """The IPv4 address that *text* maps, if it is an IPv4-mapped IPv6 address in any
    spelling (``::ffff:127.0.0.1``, ``::FFFF:7f00:1``, with or without a ``%scope``);
    ``None`` for anything else, including text that is no address at all."""
    if ":" not in text:  # an IPv4 address or a name: the common case, without a parse
        return None
    return _ipv4_of_ipv6_text(text)


# Every datagram a connected socket receives is checked: the few senders a socket hears
# from are parsed once.
@functools.lru_cache(maxsize=1024)
def _ipv4_of_ipv6_text(text: str) -> str | None:
    try:
        address = ipaddress.IPv6Address(text.partition("%")[0])
    except ValueError:
        return None
    mapped = address.ipv4_mapped
    return None if mapped is None else str(mapped)


def unmapped(text: str) -> str:
    """*text* with an IPv4-mapped IPv6 address read as its IPv4 address; any other
    text (an IPv6 address keeps its scope) unchanged."""
    ipv4 = ipv4_of_mapped(text)
    return text if ipv4 is None else ipv4


def is_multicast(text: str) -> bool:
    """Whether the IP address *text* is a multicast group: 224.0.0.0/4 or ff00::/8,
    written IPv4-mapped or with a scope as well."""
    return ipaddress.ip_address(unmapped(text).partition("%")[0]).is_multicast


def with_scope(text: str, scope: int) -> str:
    """The address *text* with the interface index *scope* as its ``%scope``; *text* as
    it is when *scope* is 0 (none) or it has a scope already."""
    return f"{text}%{scope}" if scope and "%" not in text else text


def needs_scope(text: str) -> bool:
    """Whether the kernel keeps a scope with the IPv6 address *text* (Linux's
    ``__ipv6_addr_needs_scope_id``): link-local unicast (fe80::/10) and interface- or
    link-local multicast (ffx1::/16, ffx2::/16). It ignores any other's scope."""
    if ":" not in text:
        return False
    try:
        address = ipaddress.IPv6Address(text.partition("%")[0])
    except ValueError:
        return False
    return address.is_link_local or (address.is_multicast and address.packed[1] & 0x0F in (1, 2))


def is_link_local(text: str) -> bool:
    """Whether the IP address *text* is a link-local IPv6 unicast address (fe80::/10,
    with or without a scope): one that names a host only together with a link."""
    if ":" not in text:
        return False
    try:
        return ipaddress.IPv6Address(text.partition("%")[0]).is_link_local
    except ValueError:
        return False
