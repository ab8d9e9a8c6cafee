"""What a resolver's answer for a host name gives a socket: its addresses, in order, each
once, without those no socket can use.

An address that came from a name server (or the system resolver) is not the caller's
argument: one that cannot be used is skipped like any other unusable answer, and when
nothing is left the lookup fails with a classified :class:`SocketStatusError`, never
with the :exc:`ValueError` a caller's own literal gets.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence

from .._core.errors import SocketErrorStatus, socket_error
from .._core.sockaddr import ipv4_of_mapped, is_link_local

__all__ = [
    "Entry",
    "SockAddr",
    "deduplicated",
    "interleaved",
    "is_unspecified",
    "unmapped_entry",
    "usable_answer",
]

SockAddr = tuple[str, int] | tuple[str, int, int, int]
Entry = tuple[socket.AddressFamily, SockAddr]


def unmapped_entry(family: socket.AddressFamily, sockaddr: SockAddr) -> Entry:
    """A resolved address; an IPv4-mapped IPv6 one (an AAAA record in ::ffff:0:0/96) as
    the IPv4 address it is, as the literal is."""
    mapped = ipv4_of_mapped(sockaddr[0]) if family == socket.AF_INET6 else None
    if mapped is None:
        return family, sockaddr
    return socket.AF_INET, (mapped, sockaddr[1])


def deduplicated(entries: Iterable[Entry]) -> list[Entry]:
    """*entries* in their order, each once. Linear: a set beside the list (an answer may
    hold thousands of addresses, and this runs on the event loop)."""
    seen: set[Entry] = set()
    result: list[Entry] = []
    for entry in entries:
        if entry not in seen:
            seen.add(entry)
            result.append(entry)
    return result


def interleaved(v6: Sequence[Entry], v4: Sequence[Entry]) -> list[Entry]:
    """IPv6 and IPv4 addresses alternating, starting with IPv6 (RFC 8305), each once (an
    IPv4-mapped AAAA may repeat an A record's address)."""
    pairs = (
        entry
        for index in range(max(len(v6), len(v4)))
        for entry in (*v6[index : index + 1], *v4[index : index + 1])
    )
    return deduplicated(pairs)


def is_unspecified(text: str) -> bool:
    """Whether *text* is ``0.0.0.0`` or ``::``: "any address" to bind, no host to reach."""
    try:
        return ipaddress.ip_address(text.partition("%")[0]).is_unspecified
    except ValueError:
        return False


def usable_answer(entries: list[Entry], *, passive: bool, what: str) -> list[Entry]:
    """The addresses of a name's answer that a socket can use, in their order.

    A remote (*passive* False) skips the unspecified addresses ``0.0.0.0`` and ``::``:
    Linux would connect them to this host's own wildcard listeners, Windows refuses
    them. A local side to bind (*passive*) skips link-local IPv6 addresses without a
    scope: which link's address is meant cannot be told, and nothing gives a scope to
    them. (A remote one stays: it may take the scope of a bound local side.)

    Raises:
        SocketStatusError: ``NO_ADDRESSES_FOUND``, starting with *what* and saying why,
            when every address was skipped.
    """
    usable: list[Entry] = []
    skipped: list[str] = []
    for family, sockaddr in entries:
        if _unusable(sockaddr, passive=passive):
            skipped.append(str(sockaddr[0]))
        else:
            usable.append((family, sockaddr))
    if usable or not skipped:
        return usable
    why = (
        "link-local, and nothing names the interface (%scope) to bind it on"
        if passive
        else 'unspecified ("any address"), which is no host to connect or send to'
    )
    some = ", ".join(skipped[:8]) + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else "")
    verb = "is" if len(skipped) == 1 else "are each"
    raise socket_error(
        SocketErrorStatus.NO_ADDRESSES_FOUND, f"{what}: no usable address: {some} {verb} {why}"
    )


def _unusable(sockaddr: SockAddr, *, passive: bool) -> bool:
    if passive:
        return len(sockaddr) == 4 and not sockaddr[3] and is_link_local(str(sockaddr[0]))
    return is_unspecified(str(sockaddr[0]))
