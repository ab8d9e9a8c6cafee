"""Host and service resolution for the sockets.

A service name resolves as in WinRT: a decimal port first, then the services database
of the socket's protocol (``/etc/services`` plays Windows' ``drivers\\etc\\services``),
then DNS SRV records (RFC 2782) for ``_service._tcp.host`` or ``_service._udp.host``.
Host names go through trio's ``getaddrinfo`` (the system resolver, in a worker thread),
or, when the :class:`Resolver` is given name servers, through dnspython's asynchronous
resolver. IP literals never touch a resolver.

The system's lookups (threads, limiters) are in :mod:`.system_lookups`; what SRV records
lead to, and in which order, in :mod:`.srv`.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from collections.abc import Iterable
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.resolver
import trio

from .._core.checks import check_int, check_seconds, describe, shown
from .._core.errors import SocketErrorStatus, socket_error
from .._core.hostname import HostName, coerce_host_name
from .._core.scheduling import helper_nursery
from .._core.service_name import parse_service_name
from .._core.sockaddr import ipv4_of_mapped
from .answers import deduplicated, interleaved, is_unspecified, unmapped_entry, usable_answer
from .dns_errors import dns_error, no_configuration
from .srv import ServiceTarget, all_targets_failed, is_localhost, srv_name, srv_targets
from .system_lookups import (
    local_files_limiter,
    loopback_addresses,
    scope_index,
    services_database,
    system_getaddrinfo,
)
from .translate import translating

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TIMEOUT",
    "RESOLUTION_DELAY",
    "Protocol",
    "Resolver",
    "ServiceTarget",
    "SockAddr",
    "all_targets_failed",
    "check_resolver",
    "resolver_or_default",
]

Protocol = Literal["tcp", "udp"]
SockAddr = tuple[str, int] | tuple[str, int, int, int]
_KIND = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}

#: Seconds one DNS query waits for an answer before it is sent again (or to the next
#: name server).
DEFAULT_TIMEOUT = 2.0
#: How many query timeouts one lookup may spend: it gives up after
#: ``timeout * attempts`` seconds.
DEFAULT_ATTEMPTS = 3
#: Seconds the A or AAAA query still outstanding is waited for once the other has
#: given addresses (RFC 8305 section 3's "Resolution Delay"): then the lookup goes on
#: with what it has.
RESOLUTION_DELAY = 0.05
_S = SocketErrorStatus


class Resolver:
    """Resolves host names and service names for the sockets that use it.

    ``Resolver()`` uses the system's configuration: the services database, the system
    resolver (``/etc/hosts``, ``/etc/resolv.conf``) for host names, and the name servers
    of ``/etc/resolv.conf`` (read at the first SRV lookup) for DNS SRV records.

    ``Resolver(nameservers=["127.0.0.1"], port=53535)`` asks the given name servers
    instead, for host names (A and AAAA records) as for SRV records; ``/etc/hosts`` and
    ``/etc/resolv.conf`` are then not read, and names are taken as absolute (no search
    domains). The services database is used in both cases.

    Every lookup is bounded: a DNS query waits *timeout* seconds for an answer before
    it is sent again (to the next name server, in turn), and one lookup gives up after
    ``timeout * attempts`` seconds (:attr:`lifetime`) with ``CONNECTION_TIMED_OUT``; a
    system ``getaddrinfo`` call is abandoned after the same time. Answers are not cached: every
    lookup asks the name servers, so a changed record applies at once.

    System lookups do not use trio's default thread limiter. The services database and
    names listed in ``/etc/hosts`` (when ``nsswitch.conf`` consults ``files`` first) are
    looked up in a thread of their own, so they never wait behind lookups that ask DNS.
    Those run in at most 32 threads (``MAX_SYSTEM_LOOKUPS``); a thread abandoned by a
    timed-out or cancelled lookup keeps its place until libc returns, and while every
    place is so held a lookup that may ask DNS fails at once with
    ``NON_AUTHORITATIVE_HOST_NOT_FOUND``.

    Every socket class takes ``resolver=``; ``None`` means a ``Resolver()``.

    Raises:
        TypeError / ValueError: a name server that is not an IP address, a port outside
            1-65535, a timeout that is not a positive number, attempts below 1.
    """

    def __init__(
        self,
        nameservers: Iterable[str] | None = None,
        port: int = 53,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
    ) -> None:
        if nameservers is not None:
            if isinstance(nameservers, (str, bytes)) or not isinstance(nameservers, Iterable):
                raise TypeError(
                    f"nameservers must be a list of IP addresses, not {describe(nameservers)}"
                )
            servers = tuple(nameservers)
            if not servers:
                raise ValueError("nameservers is empty: give at least one, or None")
            for server in servers:
                if not isinstance(server, str):
                    raise TypeError(f"a name server must be a str, not {describe(server)}")
                try:
                    ipaddress.ip_address(server)
                except ValueError:
                    raise ValueError(
                        f"name server {shown(server)} is not an IP address (a name server "
                        "given by name would need a resolver to find it)"
                    ) from None
            self._nameservers: tuple[str, ...] | None = servers
        else:
            self._nameservers = None
        self._port = check_int("port", port, 1, 65535)
        seconds = check_seconds("timeout", timeout, optional=False)
        assert seconds is not None
        self._timeout = seconds
        self._attempts = check_int("attempts", attempts, 1)
        try:
            lifetime = seconds * attempts
        except OverflowError:
            lifetime = math.inf
        if not math.isfinite(lifetime):
            raise ValueError(
                f"timeout x attempts must be a finite number of seconds, not "
                f"{shown(timeout)} x {shown(attempts)}"
            )
        self._dns: dns.asyncresolver.Resolver | None = None
        # Made on first use: every StreamSocket without a resolver of its own has one of
        # these, and most never look up a DNS record.
        self._dns_lock: trio.Lock | None = None

    @property
    def nameservers(self) -> tuple[str, ...] | None:
        """The name servers given, or ``None`` for the system's configuration."""
        return self._nameservers

    @property
    def port(self) -> int:
        """The port of the given name servers."""
        return self._port

    @property
    def timeout(self) -> float:
        """Seconds one DNS query waits for an answer."""
        return self._timeout

    @property
    def attempts(self) -> int:
        """How many query timeouts one lookup may spend (see :attr:`lifetime`)."""
        return self._attempts

    @property
    def lifetime(self) -> float:
        """The longest one lookup takes: ``timeout * attempts`` seconds."""
        return self._timeout * self._attempts

    def __repr__(self) -> str:
        if self._nameservers is None and (self._timeout, self._attempts) == (
            DEFAULT_TIMEOUT,
            DEFAULT_ATTEMPTS,
        ):
            return "Resolver()"
        parts = []
        if self._nameservers is not None:
            parts.append(f"nameservers={list(self._nameservers)!r}")
            if self._port != 53:
                parts.append(f"port={self._port}")
        parts.append(f"timeout={self._timeout!r}")
        parts.append(f"attempts={self._attempts!r}")
        return f"Resolver({', '.join(parts)})"

    # -- services ------------------------------------------------------------------------

    async def resolve_port(self, service: str, protocol: Protocol, *, local: bool) -> int:
        """The port a service name stands for: a decimal port or a services-database name.

        DNS SRV is not consulted: this is for local binds (and any caller that wants the
        services database only); :meth:`resolve_targets` adds SRV.

        Raises:
            ValueError / TypeError: *service* is not a valid service string.
            SocketStatusError: ``CLASS_TYPE_NOT_FOUND`` when the name is not known.

        Cancellation: nothing to undo.
        """
        _check_protocol(protocol)
        parsed = parse_service_name(
            service, "local_service_name" if local else "remote_service_name", local=local
        )
        if isinstance(parsed, int):
            await trio.lowlevel.checkpoint()
            return parsed
        port = await services_database(parsed, protocol)
        if port is None:
            raise socket_error(
                SocketErrorStatus.CLASS_TYPE_NOT_FOUND,
                f"service {service!r} is neither a port number nor a {protocol} service in "
                "the services database",
            )
        return port

    async def resolve_targets(
        self, host: HostName | str, service: str, protocol: Protocol
    ) -> list[ServiceTarget]:
        """Where *service* on *host* leads, in the order to try: WinRT's service names.

        A decimal port, or a name in the services database for *protocol*, gives one
        target: *host* itself at that port. Any other name is looked up in DNS as SRV
        records of ``_service._tcp.host`` (or ``_udp``); a dotted service keeps its inner
        labels (``"stun._service01"`` asks for ``_stun._service01._udp.host``), and a
        label that already starts with ``_`` is not given a second one. The targets come
        in RFC 2782 order (lowest priority first, weighted-random within a priority, with
        the odds of dnspython's ``processing_order``, so the order may differ from one call
        to the next); at most ``MAX_SRV_TARGETS`` are returned. Target host names are
        not resolved here: pass each to :meth:`resolve_addresses`.

        Raises:
            ValueError / TypeError: *service*, *host* or *protocol* is not valid.
            SocketStatusError: naming the service and the SRV name, with status
                ``HOST_NOT_FOUND`` when the SRV name does not exist (NXDOMAIN) or has no
                SRV records; ``CLASS_TYPE_NOT_FOUND`` when the records say the service is
                decidedly not available (a lone ``"."`` target), or when *host* is an IP
                address (which has no SRV records); ``CONNECTION_TIMED_OUT`` when no name
                server answered within :attr:`lifetime`; ``NON_AUTHORITATIVE_HOST_NOT_FOUND``
                when the name servers failed (SERVFAIL, refused) or none is configured;
                ``NO_ADDRESSES_FOUND`` when no target is usable (port 0, or a target that
                is not a valid host name: such targets are skipped).

        Cancellation: nothing to undo.
        """
        _check_protocol(protocol)
        host = coerce_host_name(host, "remote_host_name")
        parsed = parse_service_name(service, "remote_service_name", local=False)
        if isinstance(parsed, int):
            await trio.lowlevel.checkpoint()
            return [ServiceTarget(host, parsed)]
        port = await services_database(parsed, protocol)
        if port is not None:
            return [ServiceTarget(host, port)]
        if host.ip_address is not None:
            raise socket_error(
                _S.CLASS_TYPE_NOT_FOUND,
                f"service {service!r} is neither a port number nor a {protocol} service in "
                f"the services database, and {host.display_name} is an IP address, which "
                "has no DNS SRV records",
            )
        return await self._srv_targets(host, parsed, protocol)

    async def _srv_targets(
        self, host: HostName, service: str, protocol: Protocol
    ) -> list[ServiceTarget]:
        srv_text = srv_name(service, protocol, host)
        what = f"resolve service {service!r} of {host.display_name} (DNS SRV {srv_text})"
        if is_localhost(host):  # RFC 6761 section 6.3: a negative answer, never a query
            raise socket_error(_S.HOST_NOT_FOUND, f"{what}: localhost names have no SRV records")
        try:
            query_name = dns.name.from_text(srv_text)
        except dns.exception.DNSException as exc:
            # A 63-character service label is valid, but with its "_" it no longer fits
            # in a DNS label: no such SRV name can exist.
            raise socket_error(_S.HOST_NOT_FOUND, f"{what}: not a valid DNS name ({exc})") from exc
        resolver = await self._dns_resolver(what)
        try:
            answer = await self._query(resolver, query_name, "SRV")
        except dns.resolver.NoAnswer as exc:
            raise socket_error(_S.HOST_NOT_FOUND, f"{what}: no SRV records") from exc
        except dns.exception.DNSException as exc:
            raise dns_error(exc, what, self.lifetime) from exc
        rrset = answer.rrset
        if rrset is None:  # pragma: no cover - resolve() raises NoAnswer instead
            raise socket_error(_S.HOST_NOT_FOUND, f"{what}: no SRV records")
        return srv_targets(rrset, what)

    # -- host names ------------------------------------------------------------------------

    async def resolve_addresses(
        self, host: HostName, port: int, protocol: Protocol, *, passive: bool = False
    ) -> list[tuple[socket.AddressFamily, SockAddr]]:
        """Socket addresses for *host*, best first.

        With the system configuration: ``getaddrinfo``'s (RFC 6724) order. With name
        servers: the A and AAAA records, asked for together, IPv6 and IPv4 alternating
        (RFC 8305), starting with IPv6; once one of the two has given addresses, the
        other is waited for at most :data:`RESOLUTION_DELAY` (50 ms) more (RFC 8305's
        Resolution Delay), and an answer later than that is not used (the next lookup
        asks again). Either way ``localhost`` and names under it are
        ``::1`` (where the host has it) and ``127.0.0.1``, without a lookup (RFC 6761).
        An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``), a literal or an AAAA answer,
        is its IPv4 address. A name's answer is a host's addresses, never the caller's
        argument: a remote's (not *passive*) skips ``0.0.0.0`` and ``::``, a local
        side's (*passive*) skips link-local IPv6 addresses, which have no scope.

        Raises:
            SocketStatusError: naming the host, with status ``HOST_NOT_FOUND``,
                ``NO_DATA_RECORD_OF_REQUESTED_TYPE``, ``NO_ADDRESSES_FOUND`` (also when
                every address of the answer was skipped, saying why),
                ``NON_AUTHORITATIVE_HOST_NOT_FOUND``… from the resolver's answer, or
                ``CONNECTION_TIMED_OUT`` when no answer came within :attr:`lifetime`;
                ``CANNOT_ASSIGN_REQUESTED_ADDRESS`` for the literal ``0.0.0.0`` or
                ``::`` as a remote (as Windows refuses it: ``WSAEADDRNOTAVAIL``).

        Cancellation: nothing to undo (a ``getaddrinfo`` worker thread is abandoned).
        """
        _check_protocol(protocol)
        address = host.ip_address
        if address is not None:
            await trio.lowlevel.checkpoint()
            if not passive and is_unspecified(ipv4_of_mapped(str(address)) or str(address)):
                raise socket_error(
                    _S.CANNOT_ASSIGN_REQUESTED_ADDRESS,
                    f"resolve {host.display_name!r}: it is the unspecified address "
                    '("any address"), which is no host to connect or send to',
                )
            if address.version == 4:  # the canonical name is the dotted quad
                return [(socket.AF_INET, (host.canonical_name, port))]
            mapped = ipv4_of_mapped(host.canonical_name)
            if mapped is not None:
                # An address in its IPv4-mapped spelling is the IPv4 address, local or
                # remote: an IPv4 socket reaches it, and only a dual-stack socket bound
                # to "::" could bind or hear through the mapped form.
                return [(socket.AF_INET, (mapped, port))]
            scope = scope_index(host)
            return [(socket.AF_INET6, (host.canonical_name.split("%")[0], port, 0, scope))]
        if is_localhost(host):
            # RFC 6761 section 6.3: localhost names are the loopback addresses, whatever
            # a hosts file or a name server says, and are never asked of a name server.
            await trio.lowlevel.checkpoint()
            return loopback_addresses(port)
        what = f"resolve {host.display_name!r}"
        if self._nameservers is not None:
            found = await self._dns_addresses(host, port)
        else:
            found = await self._system_addresses(host, port, protocol, passive, what)
        return usable_answer(found, passive=passive, what=what)

    async def _system_addresses(
        self, host: HostName, port: int, protocol: Protocol, passive: bool, what: str
    ) -> list[tuple[socket.AddressFamily, SockAddr]]:
        infos = None
        with trio.move_on_after(self.lifetime), translating(what, opening=True):
            infos = await system_getaddrinfo(
                host.canonical_name,
                port,
                _KIND[protocol],
                socket.AI_PASSIVE if passive else 0,
                what,
            )
        if infos is None:
            raise socket_error(
                _S.CONNECTION_TIMED_OUT,
                f"{what}: the system resolver gave no answer within {self.lifetime:g} s",
            )
        result = deduplicated(
            unmapped_entry(family, tuple(sockaddr))
            for family, _kind, _proto, _canon, sockaddr in infos
            if family in (socket.AF_INET, socket.AF_INET6)
        )
        if not result:
            raise socket_error(_S.NO_ADDRESSES_FOUND, f"{what}: no IPv4 or IPv6 address")
        return result

    async def _dns_addresses(
        self, host: HostName, port: int
    ) -> list[tuple[socket.AddressFamily, SockAddr]]:
        what = f"resolve {host.display_name!r}"
        try:
            name = dns.name.from_text(host.canonical_name)
        except dns.exception.DNSException as exc:  # pragma: no cover - HostName checked it
            raise socket_error(_S.HOST_NOT_FOUND, f"{what}: not a valid DNS name") from exc
        resolver = await self._dns_resolver(what)
        found: dict[str, list[str]] = {}
        errors: dict[str, dns.exception.DNSException] = {}

        @trio.lowlevel.enable_ki_protection
        async def query(rdtype: str) -> None:
            try:
                answer = await self._query(resolver, name, rdtype)
            except dns.exception.DNSException as exc:
                errors[rdtype] = exc
                return
            found[rdtype] = [rr.address for rr in answer]
            if found[rdtype]:  # RFC 8305 section 3: wait a Resolution Delay for the other
                scope = nursery.cancel_scope
                scope.deadline = min(scope.deadline, trio.current_time() + RESOLUTION_DELAY)

        async with helper_nursery() as nursery:
            nursery.start_soon(query, "AAAA")
            nursery.start_soon(query, "A")
        v6 = [unmapped_entry(socket.AF_INET6, (a, port, 0, 0)) for a in found.get("AAAA", [])]
        v4: list[tuple[socket.AddressFamily, SockAddr]] = [
            (socket.AF_INET, (addr, port)) for addr in found.get("A", [])
        ]
        result = interleaved(v6, v4)
        if result:
            return result
        failures = [errors[rdtype] for rdtype in ("AAAA", "A") if rdtype in errors]
        if not failures:
            raise socket_error(_S.NO_ADDRESSES_FOUND, f"{what}: no IPv4 or IPv6 address")
        # The most telling failure: a timeout or server failure outranks "no such record".
        ranks = (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NXDOMAIN)
        worst = min(
            failures,
            key=lambda e: next((i for i, k in enumerate(ranks) if isinstance(e, k)), len(ranks)),
        )
        raise dns_error(worst, what, self.lifetime) from worst

    async def _query(
        self, resolver: dns.asyncresolver.Resolver, name: dns.name.Name, rdtype: str
    ) -> dns.resolver.Answer:
        # dnspython checks its lifetime only between queries, after a back-off sleep,
        # so it can overrun by that sleep; the cancel scope makes the bound exact.
        with trio.move_on_after(self.lifetime):
            return await resolver.resolve(name, rdtype, search=False)
        raise dns.resolver.LifetimeTimeout(timeout=self.lifetime, errors=[])  # type: ignore[no-untyped-call]

    async def _dns_resolver(self, what: str) -> dns.asyncresolver.Resolver:
        """The dnspython resolver, made on first use (the system one reads resolv.conf)."""
        if self._dns is not None:
            await trio.lowlevel.checkpoint()
            return self._dns
        if self._dns_lock is None:
            self._dns_lock = trio.Lock()
        async with self._dns_lock:
            if self._dns is None:
                if self._nameservers is not None:
                    resolver = dns.asyncresolver.Resolver(configure=False)
                    resolver.nameservers = [
                        dns.nameserver.Do53Nameserver(server, self._port)
                        for server in self._nameservers
                    ]
                else:
                    try:
                        resolver = await trio.to_thread.run_sync(
                            dns.asyncresolver.Resolver, limiter=local_files_limiter()
                        )
                    except dns.exception.DNSException as exc:
                        raise no_configuration(exc, what) from exc
                resolver.cache = None
                resolver.timeout = self._timeout
                resolver.lifetime = self.lifetime
                self._dns = resolver
            return self._dns


def resolver_or_default(value: object) -> Resolver:
    """The ``resolver=`` argument of a socket: *value*, or a ``Resolver()`` for None.

    Raises :exc:`TypeError` naming anything else.
    """
    checked = check_resolver(value)
    return Resolver() if checked is None else checked


def check_resolver(value: object) -> Resolver | None:
    """The ``resolver=`` argument of a socket, checked: a Resolver or None.

    Raises :exc:`TypeError` naming anything else.
    """
    if value is not None and not isinstance(value, Resolver):
        raise TypeError(f"resolver must be a Resolver or None, not {describe(value)}")
    return value


def _check_protocol(protocol: object) -> None:
    if protocol not in _KIND:
        raise ValueError(f"protocol must be 'tcp' or 'udp', not {shown(protocol)}")
