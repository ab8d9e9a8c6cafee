"""Host and service resolution for the sockets.

A service name resolves as in WinRT: a decimal port first, then the services database
of the socket's protocol (``/etc/services`` plays Windows' ``drivers\\etc\\services``),
then DNS SRV records (RFC 2782) for ``_service._tcp.host`` or ``_service._udp.host``.
Host names go through trio's ``getaddrinfo`` (the system resolver, in a worker thread),
or, when the :class:`Resolver` is given name servers, through dnspython's asynchronous
resolver. IP literals never touch a resolver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import math
import os
import random
import socket
import threading
from collections.abc import Iterable
from typing import Any, Literal

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdtypes.IN.SRV
import dns.resolver
import trio

from .._core.checks import check_int, check_seconds, describe, shown
from .._core.errors import (
    SocketError,
    SocketErrorStatus,
    SocketStatusError,
    socket_error,
    translate_os_error,
)
from .._core.hostname import HostName, InvalidHostNameError, coerce_host_name, parse_service_name

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TIMEOUT",
    "MAX_SRV_TARGETS",
    "MAX_SYSTEM_LOOKUPS",
    "Protocol",
    "Resolver",
    "ServiceTarget",
    "SockAddr",
    "all_targets_failed",
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
#: At most this many SRV targets are kept, the first in RFC 2782 order: a connect tries
#: each in turn, so the list must stay short enough to finish.
MAX_SRV_TARGETS = 16
#: At most this many system ``getaddrinfo`` calls that may ask DNS run at once, in
#: worker threads of their own (not trio's default thread limiter). A lookup that gives
#: up (timeout or cancellation) abandons its thread, which keeps its place until libc
#: returns; while every place is held by such threads, a lookup that may need DNS fails
#: at once with ``NON_AUTHORITATIVE_HOST_NOT_FOUND`` instead of queueing behind them.
MAX_SYSTEM_LOOKUPS = 32

_S = SocketErrorStatus


@dataclasses.dataclass(frozen=True)
class ServiceTarget:
    """Where a service name leads: a host and a port, from a port number, the services
    database or one DNS SRV record.

    For a port or a services-database name there is one target, the host that was asked
    about, with priority and weight 0. For SRV the targets come in the order to try them.
    Targets are immutable, hashable and compare field by field; ``str()`` gives
    ``host:port``.

    Attributes:
        host: the host to connect to (the SRV record's target, or the host asked about).
        port: the port on that host.
        priority: the SRV record's priority (lower is tried first), kept for display.
        weight: the SRV record's weight among targets of equal priority, kept for display.
    """

    host: HostName
    port: int
    priority: int = 0
    weight: int = 0

    def __str__(self) -> str:
        name = self.host.display_name
        return f"[{name}]:{self.port}" if ":" in name else f"{name}:{self.port}"


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
        port = await _services_database(parsed, protocol)
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
        to the next); at most :data:`MAX_SRV_TARGETS` are returned. Target host names are
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
        port = await _services_database(parsed, protocol)
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
        labels = [label if label.startswith("_") else f"_{label}" for label in service.split(".")]
        srv_text = ".".join([*labels, f"_{protocol}", host.canonical_name])
        what = f"resolve service {service!r} of {host.display_name} (DNS SRV {srv_text})"
        try:
            srv_name = dns.name.from_text(srv_text)
        except dns.exception.DNSException as exc:
            # A 63-character service label is valid, but with its "_" it no longer fits
            # in a DNS label: no such SRV name can exist.
            raise socket_error(_S.HOST_NOT_FOUND, f"{what}: not a valid DNS name ({exc})") from exc
        resolver = await self._dns_resolver(what)
        try:
            answer = await self._query(resolver, srv_name, "SRV")
        except dns.resolver.NoAnswer as exc:
            raise socket_error(_S.HOST_NOT_FOUND, f"{what}: no SRV records") from exc
        except dns.exception.DNSException as exc:
            raise _dns_error(exc, what, self.lifetime) from exc
        rrset = answer.rrset
        if rrset is None:  # pragma: no cover - resolve() raises NoAnswer instead
            raise socket_error(_S.HOST_NOT_FOUND, f"{what}: no SRV records")
        usable = [
            rr
            for rr in rrset
            if isinstance(rr, dns.rdtypes.IN.SRV.SRV) and rr.target != dns.name.root
        ]
        if not usable:
            # RFC 2782: a single record whose target is "." means the service is
            # decidedly not available at this domain.
            raise socket_error(
                _S.CLASS_TYPE_NOT_FOUND,
                f"{what}: the service is decidedly not available (SRV target '.')",
            )
        targets: list[ServiceTarget] = []
        invalid: list[str] = []
        for rr in _rfc2782_order(usable):
            text = rr.target.to_text(omit_final_dot=True)
            if rr.port == 0:
                # Port 0 cannot be connected to or sent to.
                invalid.append(f"{text}:0")
                continue
            try:
                target = HostName(text)
            except InvalidHostNameError:
                invalid.append(text)
                continue
            targets.append(ServiceTarget(target, rr.port, rr.priority, rr.weight))
            if len(targets) == MAX_SRV_TARGETS:
                break
        if not targets:
            raise socket_error(
                _S.NO_ADDRESSES_FOUND,
                f"{what}: no SRV target is a valid host name and port ({_some(invalid)})",
            )
        return targets

    # -- host names ------------------------------------------------------------------------

    async def resolve_addresses(
        self, host: HostName, port: int, protocol: Protocol, *, passive: bool = False
    ) -> list[tuple[socket.AddressFamily, SockAddr]]:
        """Socket addresses for *host*, best first.

        With the system configuration: ``getaddrinfo``'s (RFC 6724) order. With name
        servers: the A and AAAA records, asked for together, IPv6 and IPv4 alternating
        (RFC 8305), starting with IPv6; ``localhost`` and names under it are ``::1`` and
        ``127.0.0.1`` without a query (RFC 6761).

        Raises:
            SocketStatusError: naming the host, with status ``HOST_NOT_FOUND``,
                ``NO_DATA_RECORD_OF_REQUESTED_TYPE``, ``NO_ADDRESSES_FOUND``,
                ``NON_AUTHORITATIVE_HOST_NOT_FOUND``… from the resolver's answer, or
                ``CONNECTION_TIMED_OUT`` when no answer came within :attr:`lifetime`.

        Cancellation: nothing to undo (a ``getaddrinfo`` worker thread is abandoned).
        """
        _check_protocol(protocol)
        address = host.ip_address
        if address is not None:
            await trio.lowlevel.checkpoint()
            if address.version == 4:
                return [(socket.AF_INET, (str(address), port))]
            scope = _scope_id(host)
            return [(socket.AF_INET6, (host.canonical_name.split("%")[0], port, 0, scope))]
        if self._nameservers is not None:
            return await self._dns_addresses(host, port)
        what = f"resolve {host.display_name!r}"
        infos = None
        with trio.move_on_after(self.lifetime):
            try:
                infos = await _system_getaddrinfo(
                    host.canonical_name,
                    port,
                    _KIND[protocol],
                    socket.AI_PASSIVE if passive else 0,
                    what,
                )
            except SocketStatusError:
                raise
            except OSError as exc:
                raise translate_os_error(exc, what) from exc
        if infos is None:
            raise socket_error(
                _S.CONNECTION_TIMED_OUT,
                f"{what}: the system resolver gave no answer within {self.lifetime:g} s",
            )
        result: list[tuple[socket.AddressFamily, SockAddr]] = []
        for family, _kind, _proto, _canon, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                entry = (family, tuple(sockaddr))
                if entry not in result:
                    result.append(entry)
        if not result:
            raise socket_error(_S.NO_ADDRESSES_FOUND, f"{what}: no IPv4 or IPv6 address")
        return result

    async def _dns_addresses(
        self, host: HostName, port: int
    ) -> list[tuple[socket.AddressFamily, SockAddr]]:
        what = f"resolve {host.display_name!r}"
        if host.canonical_name == "localhost" or host.canonical_name.endswith(".localhost"):
            # RFC 6761 section 6.3: localhost names are the loopback addresses and are
            # never asked of a name server.
            await trio.lowlevel.checkpoint()
            return [(socket.AF_INET6, ("::1", port, 0, 0)), (socket.AF_INET, ("127.0.0.1", port))]
        try:
            name = dns.name.from_text(host.canonical_name)
        except dns.exception.DNSException as exc:  # pragma: no cover - HostName checked it
            raise socket_error(_S.HOST_NOT_FOUND, f"{what}: not a valid DNS name") from exc
        resolver = await self._dns_resolver(what)
        found: dict[str, list[str]] = {}
        errors: dict[str, dns.exception.DNSException] = {}

        async def query(rdtype: str) -> None:
            try:
                answer = await self._query(resolver, name, rdtype)
            except dns.exception.DNSException as exc:
                errors[rdtype] = exc
                return
            found[rdtype] = [rr.address for rr in answer]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(query, "AAAA")
            nursery.start_soon(query, "A")
        v6 = [(socket.AF_INET6, (addr, port, 0, 0)) for addr in found.get("AAAA", [])]
        v4 = [(socket.AF_INET, (addr, port)) for addr in found.get("A", [])]
        result: list[tuple[socket.AddressFamily, SockAddr]] = []
        for index in range(max(len(v6), len(v4))):
            result += v6[index : index + 1]
            result += v4[index : index + 1]
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
        raise _dns_error(worst, what, self.lifetime) from worst

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
                            dns.asyncresolver.Resolver, limiter=_local_files_limiter()
                        )
                    except dns.exception.DNSException as exc:
                        raise socket_error(
                            _S.NON_AUTHORITATIVE_HOST_NOT_FOUND,
                            f"{what}: no DNS name server is configured ({exc})",
                        ) from exc
                resolver.cache = None
                resolver.timeout = self._timeout
                resolver.lifetime = self.lifetime
                self._dns = resolver
            return self._dns


def resolver_or_default(value: object) -> Resolver:
    """The ``resolver=`` argument of a socket: *value*, or a ``Resolver()`` for None.

    Raises :exc:`TypeError` naming anything else.
    """
    if value is None:
        return Resolver()
    if not isinstance(value, Resolver):
        raise TypeError(f"resolver must be a Resolver or None, not {describe(value)}")
    return value


def all_targets_failed(
    what: str, failures: list[tuple[ServiceTarget, OSError]]
) -> SocketStatusError:
    """The exception to raise once every SRV target of a connect failed.

    The message names each target and its error; the status is the first classified
    one (the shared one when they agree), as for the addresses of one host; the errors
    are kept as an :class:`ExceptionGroup` in ``__cause__``.
    """
    known = [
        status
        for status in (SocketError.get_status(exc) for _, exc in failures)
        if status != SocketErrorStatus.UNKNOWN
    ]
    status = known[0] if known else SocketErrorStatus.UNKNOWN
    detail = "; ".join(f"{target}: {exc}" for target, exc in failures)
    error = socket_error(
        status, f"{what} failed for every SRV target: {detail}", errno=failures[0][1].errno
    )
    error.__cause__ = ExceptionGroup(
        f"{what}: every SRV target failed", [exc for _, exc in failures]
    )
    return error


#: The weight dnspython's ``processing_order`` gives an SRV record of weight 0: such
#: records are chosen rarely, but they are chosen.
_ZERO_WEIGHT = 0.1


def _rfc2782_order(records: list[dns.rdtypes.IN.SRV.SRV]) -> list[dns.rdtypes.IN.SRV.SRV]:
    """*records* in RFC 2782 order: by priority, weighted-random within a priority.

    The odds are those of dnspython's ``processing_order`` (pick by weight, remove,
    repeat), which takes time quadratic in the records of one priority: a hostile 64 KiB
    answer (2,000 records) then costs more than parsing it. Sorting on the key
    ``log(u) / weight``, u uniform in (0, 1], draws the same order (Efraimidis and
    Spirakis, "Weighted random sampling with a reservoir", 2006) in O(n log n).
    """

    def key(rr: dns.rdtypes.IN.SRV.SRV) -> tuple[int, float]:
        draw = math.log(1.0 - random.random()) / (rr.weight or _ZERO_WEIGHT)
        return rr.priority, -draw

    return sorted(records, key=key)


def _some(items: list[str], shown: int = 8) -> str:
    """*items* for a message, at most *shown* of them: a hostile answer may have 1000s."""
    text = ", ".join(items[:shown])
    return text if len(items) <= shown else f"{text} and {len(items) - shown} more"


def _check_protocol(protocol: object) -> None:
    if protocol not in _KIND:
        raise ValueError(f"protocol must be 'tcp' or 'udp', not {shown(protocol)}")


async def _services_database(name: str, protocol: Protocol) -> int | None:
    """The port of *name* in the services database, or None if it is not there."""
    if "." in name:
        # No services-database name has a dot; do not make the thread round trip.
        await trio.lowlevel.checkpoint()
        return None
    try:
        return await trio.to_thread.run_sync(
            socket.getservbyname, name, protocol, limiter=_local_files_limiter()
        )
    except OSError:
        return None


# -- the system resolver's threads ------------------------------------------------------
#
# trio's own getaddrinfo runs in trio's default thread limiter (40 threads, shared with
# every to_thread call of the program) and abandons the thread on cancellation. The
# abandoned thread keeps its token until libc returns, which with a silent name server is
# resolv.conf's timeout x attempts x queries later: a burst of lookups of unanswered
# names then starved every later to_thread call, services-database lookups and
# /etc/hosts names included. So the lookups here use limiters of their own:
#
# * local files (the services database, /etc/hosts names, resolv.conf): one thread at a
#   time, which also serialises getservbyname, whose result lives in a static buffer
#   that CPython does not guard;
# * lookups that may ask DNS: MAX_SYSTEM_LOOKUPS threads, with a count of the abandoned
#   ones, so that a full house of stuck threads is an immediate, named error.
#
# Which names need no DNS cannot be told from the name: it takes reading /etc/hosts.
# When nsswitch.conf consults "files" first for hosts, a name listed in /etc/hosts is
# answered from it and libc sends no query, so such a name is looked up in the
# local-files thread. The file is only used to route the lookup; getaddrinfo still gives
# the answer, with its ordering and flags.

_NSSWITCH = "/etc/nsswitch.conf"
_HOSTS = "/etc/hosts"


class _SystemLookups:
    """The per-run limiters of system lookups, and the count of abandoned threads."""

    def __init__(self) -> None:
        self.local_files = trio.CapacityLimiter(1)
        self.dns = trio.CapacityLimiter(MAX_SYSTEM_LOOKUPS)
        self.abandoned = 0
        self.token = trio.lowlevel.current_trio_token()

    def thread_returned(self) -> None:
        self.abandoned -= 1


_LOOKUPS: trio.lowlevel.RunVar[_SystemLookups] = trio.lowlevel.RunVar("trio_sockets lookups")


def _system_lookups() -> _SystemLookups:
    try:
        return _LOOKUPS.get()
    except LookupError:
        lookups = _SystemLookups()
        _LOOKUPS.set(lookups)
        return lookups


def _local_files_limiter() -> trio.CapacityLimiter:
    return _system_lookups().local_files


def abandoned_lookups() -> int:
    """How many system lookups of this trio run gave up while libc still runs them."""
    return _system_lookups().abandoned


class _HostsFile:
    """The names of /etc/hosts, when nsswitch.conf asks "files" first for hosts; read
    again whenever either file changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[object, ...] | None = None
        self._names: frozenset[str] = frozenset()

    def lists(self, name: str) -> bool:
        stamp = (_stat(_NSSWITCH), _stat(_HOSTS))
        with self._lock:
            if stamp != self._stamp:
                self._names = _hosts_names() if _files_first() else frozenset()
                self._stamp = stamp
            return name in self._names


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _files_first() -> bool:
    """Whether nsswitch.conf's hosts line starts with "files" (without the file, glibc
    asks DNS first)."""
    try:
        with open(_NSSWITCH, encoding="utf-8", errors="replace") as file:
            for line in file:
                database, _, sources = line.partition("#")[0].partition(":")
                if database.strip() == "hosts":
                    words = sources.split()
                    return bool(words) and words[0] == "files"
    except OSError:
        pass
    return False


def _hosts_names() -> frozenset[str]:
    names: set[str] = set()
    try:
        with open(_HOSTS, encoding="utf-8", errors="replace") as file:
            for line in file:
                fields = line.partition("#")[0].split()
                names.update(field.rstrip(".").lower() for field in fields[1:])
    except OSError:
        pass
    return frozenset(names)


_hosts_file = _HostsFile()


def _from_hosts_file(host: str, port: int, kind: int, flags: int) -> list[Any] | None:
    """getaddrinfo for a name listed in /etc/hosts (no DNS query), else None."""
    if not _hosts_file.lists(host):
        return None
    return socket.getaddrinfo(host, port, 0, kind, 0, flags)


class _Abandonable:
    """One getaddrinfo in a worker thread, which the caller may stop waiting for."""

    def __init__(self, lookups: _SystemLookups) -> None:
        self._lookups = lookups
        self._lock = threading.Lock()
        self._started = self._finished = self._abandoned = False

    def run(self, host: str, port: int, kind: int, flags: int) -> list[Any] | None:
        with self._lock:
            if self._abandoned:  # given up before the thread began: skip the query
                return None
            self._started = True
        try:
            return socket.getaddrinfo(host, port, 0, kind, 0, flags)
        finally:
            if self._finish():
                # The run may have ended meanwhile; then nobody is counting.
                with contextlib.suppress(trio.RunFinishedError):
                    self._lookups.token.run_sync_soon(self._lookups.thread_returned)

    def _finish(self) -> bool:
        """Mark the query done; True if it was counted as abandoned."""
        with self._lock:
            self._finished = True
            return self._abandoned

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            counted = self._started and not self._finished
        if counted:
            self._lookups.abandoned += 1


async def _system_getaddrinfo(host: str, port: int, kind: int, flags: int, what: str) -> list[Any]:
    """``getaddrinfo`` in a worker thread, on the limiters above.

    Raises what getaddrinfo raises, or ``NON_AUTHORITATIVE_HOST_NOT_FOUND`` at once when
    every DNS lookup thread is held by a lookup that was given up.

    Cancellation: the thread is abandoned (and counted until it returns).
    """
    lookups = _system_lookups()
    local = await trio.to_thread.run_sync(
        _from_hosts_file, host, port, kind, flags,
        abandon_on_cancel=True, limiter=lookups.local_files,
    )  # fmt: skip
    if local is not None:
        return local
    if lookups.abandoned >= MAX_SYSTEM_LOOKUPS:
        raise socket_error(
            _S.NON_AUTHORITATIVE_HOST_NOT_FOUND,
            f"{what}: the system resolver is not answering: all {MAX_SYSTEM_LOOKUPS} "
            "lookup threads are still waiting for earlier lookups that timed out or were "
            "cancelled",
        )
    lookup = _Abandonable(lookups)
    done = False
    try:
        infos = await trio.to_thread.run_sync(
            lookup.run, host, port, kind, flags, abandon_on_cancel=True, limiter=lookups.dns
        )
        done = True
    finally:
        if not done:
            lookup.abandon()
    assert infos is not None
    return infos


def _dns_error(exc: dns.exception.DNSException, what: str, lifetime: float) -> SocketStatusError:
    """The exception for a failed DNS lookup, classified as ``SocketError.get_status``
    classifies *exc* (a name server that never answered: ``CONNECTION_TIMED_OUT``)."""
    status = SocketError.get_status(exc)
    if status is _S.UNKNOWN:
        # NoResolverConfiguration, YXDOMAIN, a malformed answer...: no usable answer.
        status = _S.NON_AUTHORITATIVE_HOST_NOT_FOUND
    if isinstance(exc, dns.exception.Timeout):
        detail = f"no DNS answer within {lifetime:g} s"
    elif isinstance(exc, dns.resolver.NXDOMAIN):
        detail = "no such DNS name"
    elif isinstance(exc, dns.resolver.NoAnswer):
        detail = "no record of the requested type"
    else:
        detail = str(exc) or type(exc).__name__
    return socket_error(status, f"{what}: {detail}")


def _scope_id(host: HostName) -> int:
    if "%" not in host.canonical_name:
        return 0
    scope = host.canonical_name.split("%", 1)[1]
    if scope.isdigit():
        return int(scope)
    try:
        return socket.if_nametoindex(scope)
    except OSError as exc:
        raise socket_error(
            SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS,
            f"{host.raw_name!r}: no network interface named {scope!r}",
        ) from exc
