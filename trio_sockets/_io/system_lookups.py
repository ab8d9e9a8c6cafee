"""The system's lookups: ``getaddrinfo`` and the services database in worker
threads, on limiters of their own, abandoned on timeout or cancellation and counted until
libc returns; and this host's network interfaces by name or index (a local call), for
IPv6 scopes, multicast interfaces and bind adapters, and its loopback addresses."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any

import trio

from .._core.checks import shown
from .._core.errors import RESOURCE_ERRNOS, SocketErrorStatus, out_of_resources, socket_error
from .._core.hostname import HostName, coerce_host_name
from .._core.sockaddr import MAX_INTERFACE_INDEX

__all__ = [
    "MAX_SYSTEM_LOOKUPS",
    "abandoned_lookups",
    "adapter_host",
    "interface_index",
    "scope_index",
    "local_files_limiter",
    "loopback_addresses",
    "services_database",
    "system_getaddrinfo",
]

#: At most this many system ``getaddrinfo`` calls that may ask DNS run at once, in
#: worker threads of their own (not trio's default thread limiter). A lookup that gives
#: up (timeout or cancellation) abandons its thread, which keeps its place until libc
#: returns; while every place is held by such threads, a lookup that may need DNS fails
#: at once with ``NON_AUTHORITATIVE_HOST_NOT_FOUND`` instead of queueing behind them.
MAX_SYSTEM_LOOKUPS = 32

_S = SocketErrorStatus

_SERVICES = "/etc/services"


async def services_database(name: str, protocol: str) -> int | None:
    """The port of *name* in the services database, or None if it is not there.

    Raises:
        SocketStatusError: ``TOO_MANY_OPEN_FILES`` when the database could not be read
            for want of a file descriptor (or memory).
    """
    if "." in name:
        # No services-database name has a dot; do not make the thread round trip.
        await trio.lowlevel.checkpoint()
        return None
    try:
        return await trio.to_thread.run_sync(
            _service_port, name, protocol, limiter=local_files_limiter()
        )
    except OSError as exc:
        shortage = out_of_resources(exc, f"look up service {shown(name)} in the services database")
        if shortage is None:  # pragma: no cover - _service_port raises shortages only
            raise
        raise shortage from exc


def _service_port(name: str, protocol: str) -> int | None:
    try:
        return socket.getservbyname(name, protocol)
    except OSError:
        pass
    # getservbyname says "not found" also when it could not open the database: a
    # shortage of descriptors must not pass for an unknown service.
    try:
        with open(_SERVICES, "rb"):
            pass
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:
            raise
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


def local_files_limiter() -> trio.CapacityLimiter:
    return _system_lookups().local_files


def abandoned_lookups() -> int:
    """How many system lookups of this trio run gave up while libc still runs them."""
    return _system_lookups().abandoned


class _HostsFile:
    """The names of /etc/hosts, when nsswitch.conf asks "files" first for hosts; read
    again whenever either file changes. A read that fails for want of a descriptor
    raises and is not kept: the next lookup reads the files again."""

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
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:
            raise
    return False


def _hosts_names() -> frozenset[str]:
    names: set[str] = set()
    try:
        with open(_HOSTS, encoding="utf-8", errors="replace") as file:
            for line in file:
                fields = line.partition("#")[0].split()
                names.update(field.rstrip(".").lower() for field in fields[1:])
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:
            raise
    return frozenset(names)


_hosts_file = _HostsFile()


def _from_hosts_file(host: str, port: int, kind: int, flags: int) -> list[Any] | None:
    """getaddrinfo for a name listed in /etc/hosts (no DNS query), else None.

    Raises the OSError of a shortage of descriptors met reading the files.
    """
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


async def system_getaddrinfo(host: str, port: int, kind: int, flags: int, what: str) -> list[Any]:
    """``getaddrinfo`` in a worker thread, on the limiters above.

    Raises what getaddrinfo raises (and the OSError of a shortage of descriptors met
    reading /etc/hosts), or ``NON_AUTHORITATIVE_HOST_NOT_FOUND`` at once when every DNS
    lookup thread is held by a lookup that was given up.

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


def interface_index(name: str) -> int | None:
    """The index of this host's network interface *name*: a name (``eth0``) or an index
    in ASCII digits; None if there is no such interface."""
    try:
        if name.isascii() and name.isdigit():
            index = int(name)
            if not 0 < index <= MAX_INTERFACE_INDEX:
                return None
            socket.if_indextoname(index)  # OSError if no interface has it
            return index
        return socket.if_nametoindex(name)
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return None


def scope_index(host: HostName) -> int:
    """The interface index of an IPv6 literal's scope (0 without one).

    Raises:
        SocketStatusError: ``CANNOT_ASSIGN_REQUESTED_ADDRESS`` naming a scope that no
            interface of this host has.
    """
    if "%" not in host.canonical_name:
        return 0
    scope = host.canonical_name.split("%", 1)[1]
    index = interface_index(scope)
    if index is None:
        raise socket_error(
            SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS,
            f"{shown(host.raw_name)}: no network interface named or numbered {shown(scope)}",
        )
    return index


def adapter_host(adapter: HostName | str) -> HostName:
    """*adapter* (WinRT's ``NetworkAdapter``) as the local address to bind. The name of
    a network interface (``"lo"``) is refused: resolved as a host name, it would be
    asked of the system's name servers, not of this host's interfaces.

    Raises:
        TypeError / ValueError: not a valid host name, or an interface's name.
    """
    host = coerce_host_name(adapter, "adapter")
    if host.ip_address is None and interface_index(host.raw_name) is not None:
        raise ValueError(
            f"adapter {shown(host.raw_name)} is the name of a network interface; give one "
            "of its addresses (adapter='127.0.0.1' for lo)"
        )
    return host


def loopback_addresses(port: int) -> list[tuple[socket.AddressFamily, tuple[Any, ...]]]:
    """``::1`` (where this host has it) and ``127.0.0.1``, on *port*: what ``localhost``
    is (RFC 6761), whatever a hosts file says."""
    ipv4: tuple[socket.AddressFamily, tuple[Any, ...]] = (socket.AF_INET, ("127.0.0.1", port))
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:  # no IPv6, or no ::1 on the loopback interface
        return [ipv4]
    return [(socket.AF_INET6, ("::1", port, 0, 0)), ipv4]
