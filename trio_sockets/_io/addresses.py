"""Socket addresses as WinRT names: the HostName of an address, and endpoint pairs."""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable, Collection, Sequence
from typing import NamedTuple

import trio

from .._core.checks import describe, shown
from .._core.endpoint import EndpointPair
from .._core.enums import HostNameSortOptions
from .._core.errors import RESOURCE_ERRNOS, SocketErrorStatus, out_of_resources, socket_error
from .._core.hostname import HostName, coerce_host_name
from .._core.scheduling import helper_nursery
from .._core.sockaddr import is_link_local, needs_scope, unmapped, with_scope
from .resolver import (
    Protocol,
    Resolver,
    ServiceTarget,
    SockAddr,
    all_targets_failed,
    resolver_or_default,
)

__all__ = [
    "BOTH_FAMILIES",
    "PROBES_PER_CHECKPOINT",
    "Addresses",
    "LocalSide",
    "endpoint_pairs",
    "families_reached",
    "has_ipv6",
    "host_of",
    "of_reachable_family",
    "require_local_scope",
    "target_addresses",
    "with_link_scopes",
]

Addresses = list[tuple[socket.AddressFamily, SockAddr]]


class LocalSide(NamedTuple):
    """Where a datagram socket's datagrams to a remote leave from."""

    #: The local side, for a message.
    text: str
    #: Its address (None: not bound yet), which a link-local remote takes the scope of.
    sockaddr: SockAddr | None


#: ``get_endpoint_pairs`` probes the route of this many addresses between checkpoints.
PROBES_PER_CHECKPOINT = 256
#: What a dual-stack IPv6 socket (``IPV6_V6ONLY`` off) reaches.
BOTH_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
_FAMILY_NAMES: dict[int, str] = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}


def has_ipv6() -> bool:
    """Whether this host can make IPv6 sockets (the kernel may have IPv6 disabled).

    Asked at each call, not cached: it costs one socket, and the answer can change.
    """
    if not socket.has_ipv6:  # pragma: no cover - every test machine has IPv6
        return False
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
    except OSError as exc:
        # Out of descriptors or memory says nothing of IPv6: the socket the caller makes
        # next meets the same shortage and reports it, naming the address it wanted.
        return exc.errno in RESOURCE_ERRNOS
    return True


def families_reached(family: int, *, dual_stack: bool) -> frozenset[int]:
    """The address families a socket of *family* can send to: its own, and IPv4 too
    for a dual-stack IPv6 socket."""
    if family == socket.AF_INET6 and dual_stack:
        return BOTH_FAMILIES
    return frozenset({family})


def of_reachable_family(
    addresses: list[tuple[socket.AddressFamily, SockAddr]],
    families: Collection[int],
    what: str,
    local: str,
) -> list[tuple[socket.AddressFamily, SockAddr]]:
    """The remote *addresses* a local side reaching *families* can use, in their order.

    The one rule of both socket kinds for a local side fixed before the remote is known
    (an endpoint pair's local host, a bound socket): addresses of another family are
    skipped, as the kernel would refuse them.

    Raises:
        SocketStatusError: ``ADDRESS_FAMILY_NOT_SUPPORTED`` when none is left, naming
            *local* and the remote's addresses.
    """
    usable = [entry for entry in addresses if entry[0] in families]
    if not usable:
        remote = ", ".join(str(sockaddr[0]) for _, sockaddr in addresses[:8])
        kinds = "/".join(_FAMILY_NAMES.get(family, str(family)) for family in sorted(families))
        raise socket_error(
            SocketErrorStatus.ADDRESS_FAMILY_NOT_SUPPORTED,
            f"{what}: {local} reaches only {kinds} addresses, and the remote has none ({remote})",
        )
    return usable


def with_link_scopes(
    addresses: Addresses, local: SockAddr | None, what: str, *, named: HostName | None = None
) -> Addresses:
    """The remote *addresses* a local side bound to *local* (None: not bound) can use,
    each link-local one with the scope that names its link.

    A link-local address names a host only together with a link. Without a scope it
    takes the local side's (the kernel sends by the interface of a socket bound to a
    scoped address); with one, it must be the local side's, if that has one. The
    kernel refuses the others with a bare EINVAL, or sends a datagram by whichever
    link routing picks, so they are skipped here.

    *named*: the host name whose answer *addresses* are (None: the caller's literal).
    An address from a name server is no argument of the caller's, so when none is
    left the error is a classified one.

    Raises:
        ValueError: none is left of a literal; the message names the first address
            skipped and why.
        SocketStatusError: ``NO_ADDRESSES_FOUND``, none is left of a name's addresses
            (link-local ones without a scope, from a name server: the only kind a name
            can give that these rules refuse); the message names them.
    """
    local_scope = local[3] if local is not None and len(local) == 4 else 0
    usable: Addresses = []
    refused = ""
    for family, sockaddr in addresses:
        if len(sockaddr) == 4 and is_link_local(sockaddr[0]):
            host, port, flow, scope = sockaddr
            if not scope and not local_scope:
                refused = refused or _needs_scope(host)
                continue
            if scope and local_scope and scope != local_scope:
                refused = refused or (
                    f"the remote {_format_scoped(host, scope)} is on another link than the "
                    f"local side {_format_scoped(str(local[0]) if local else '', local_scope)}"
                )
                continue
            sockaddr = (host, port, flow, scope or local_scope)
        usable.append((family, sockaddr))
    if usable:
        return usable
    if named is None:
        raise ValueError(f"{what}: {refused}")
    skipped = ", ".join(str(sockaddr[0]) for _, sockaddr in addresses[:8])
    raise socket_error(
        SocketErrorStatus.NO_ADDRESSES_FOUND,
        f"{what}: no usable address of {named.display_name}: its addresses ({skipped}) are "
        "link-local, and the answer names no interface (%scope) to reach them by",
    )


def require_local_scope(sockaddr: SockAddr, what: str) -> None:
    """Refuse *sockaddr* as a local side to bind when it is a link-local IPv6 address
    without a scope, before any system call: which link's address is meant cannot be
    told, and the kernel says only "Invalid argument". The rule of
    :func:`with_link_scopes` for a remote, on the local side (which has no local side
    to take a scope from).

    Raises:
        ValueError: ``"{what}: the link-local address 'fe80::1' needs a %scope ..."``.
    """
    if len(sockaddr) == 4 and not sockaddr[3] and is_link_local(str(sockaddr[0])):
        raise ValueError(f"{what}: {_needs_scope(str(sockaddr[0]))}")


def _needs_scope(host: str) -> str:
    return (
        f"the link-local address {shown(host)} needs a %scope naming the interface to use "
        f"({shown(host + '%eth0')})"
    )


def _format_scoped(host: str, scope: int) -> str:
    """*host* with its scope, and the name of that interface where this host has one."""
    try:
        name = socket.if_indextoname(scope)
    except OSError:
        return f"{host}%{scope}"
    return f"{host}%{scope} (interface {shown(name)})"


def host_of(sockaddr: SockAddr) -> HostName:
    """The :class:`HostName` of a socket address; IPv4-mapped IPv6 reads as IPv4.

    A link-local IPv6 address keeps its scope, by interface index (``fe80::1%2``, as
    Windows writes it): Python gives it apart from the address text (``sockaddr[3]``),
    and without it the address cannot be given back to connect or answer that peer.
    Any other address reads without the scope, which the kernel ignores (``::1%lo``
    is ``::1``, as the peer sees it), as :func:`~trio_sockets._core.sockaddr.needs_scope`
    says.
    """
    scope = sockaddr[3] if len(sockaddr) == 4 and needs_scope(sockaddr[0]) else 0
    return _host_of_address(sockaddr[0], scope)


# Every received datagram names its sender: parsing the same few addresses over and over
# was a measurable share of a UDP echo. HostName is immutable, so sharing is safe.
@functools.lru_cache(maxsize=1024)
def _host_of_address(text: str, scope: int) -> HostName:
    return HostName(with_scope(unmapped(text), scope))


async def endpoint_pairs(
    remote_host_name: HostName | str,
    remote_service_name: str,
    sort_options: HostNameSortOptions,
    resolver: Resolver | None,
    protocol: Protocol,
) -> list[EndpointPair]:
    """``get_endpoint_pairs`` for both socket classes."""
    host = coerce_host_name(remote_host_name, "remote_host_name")
    if not isinstance(sort_options, HostNameSortOptions):
        raise TypeError(f"sort_options must be a HostNameSortOptions, not {describe(sort_options)}")
    resolver = resolver_or_default(resolver)
    targets = await resolver.resolve_targets(host, remote_service_name, protocol)
    found = await target_addresses(resolver, targets, protocol)
    pairs = []
    failures: list[tuple[ServiceTarget, OSError]] = []
    # The local side of each distinct address, probed once: SRV targets may share
    # addresses, and a hostile answer holds thousands.
    locals_of: dict[tuple[socket.AddressFamily, str, int], HostName | None] = {}
    for target, addresses in zip(targets, found, strict=True):
        if isinstance(addresses, OSError):
            # An SRV target that does not resolve is left out, as a connect would skip it.
            failures.append((target, addresses))
            continue
        for family, sockaddr in addresses:
            key = (family, sockaddr[0], sockaddr[3] if len(sockaddr) == 4 else 0)
            if key not in locals_of:
                if len(locals_of) % PROBES_PER_CHECKPOINT == 0:
                    await trio.lowlevel.checkpoint()  # ~20 µs a probe: let others run
                locals_of[key] = _route_source(family, sockaddr)
            pairs.append(EndpointPair(locals_of[key], "", host_of(sockaddr), str(target.port)))
    if not pairs:
        if len(failures) == 1:
            raise failures[0][1]
        raise all_targets_failed(f"resolve {host.display_name}:{remote_service_name}", failures)
    return pairs


def _route_source(family: socket.AddressFamily, sockaddr: SockAddr) -> HostName | None:
    """The local address the kernel would send to *sockaddr* from (None: no route)."""
    try:
        probe = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as exc:
        action = f"get_endpoint_pairs: open a socket to find the route to {sockaddr[0]}"
        shortage = out_of_resources(exc, action)
        if shortage is not None:
            raise shortage from exc
        return None  # pragma: no cover - the family is disabled: no route
    try:
        probe.connect(sockaddr)  # a UDP connect picks the route and sends nothing
        return host_of(probe.getsockname())
    except OSError:
        return None
    finally:
        probe.close()


async def target_addresses(
    resolver: Resolver,
    targets: Sequence[ServiceTarget],
    protocol: Protocol,
    *,
    usable: Callable[[ServiceTarget, Addresses], Addresses] | None = None,
    first: bool = False,
) -> list[Addresses | OSError]:
    """The addresses of each of *targets* (the SRV targets of a service), or the error
    that says why it has none, in the targets' order.

    The targets are looked up together, so that the call takes no longer than one
    lookup (the resolver's lifetime) however many targets there are: with the SRV
    query, a service name resolves within twice the lifetime. *usable* narrows a
    target's addresses to those the caller can use, raising :exc:`OSError` when none
    is left. With *first* the answer ends at the first target with usable addresses,
    and comes as soon as that target and every target before it are known: the
    lookups of the targets after it are cancelled.

    Cancellation: every lookup is cancelled with the call.
    """
    found: list[Addresses | OSError | None] = [None] * len(targets)
    settled = trio.CancelScope()

    @trio.lowlevel.enable_ki_protection
    async def look_up(index: int, target: ServiceTarget) -> None:
        try:
            addresses = await resolver.resolve_addresses(target.host, target.port, protocol)
            found[index] = addresses if usable is None else usable(target, addresses)
        except OSError as exc:
            found[index] = exc
        if first and _first_usable(found) is not None:
            settled.cancel()

    if len(targets) == 1:  # a port or a services-database name: no task to start
        await look_up(0, targets[0])
    else:
        with settled:
            async with helper_nursery() as nursery:
                for index, target in enumerate(targets):
                    nursery.start_soon(look_up, index, target)
    end = _first_usable(found) if first else None
    return [result for result in found[: None if end is None else end + 1] if result is not None]


def _first_usable(found: Sequence[Addresses | OSError | None]) -> int | None:
    """The index of the first target with addresses, once every one before it failed."""
    for index, result in enumerate(found):
        if result is None:
            return None
        if not isinstance(result, OSError):
            return index
    return None
