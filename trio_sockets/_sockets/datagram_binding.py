"""Where a :class:`~trio_sockets.DatagramSocket` is: its stdlib socket and addresses.

A :class:`DatagramBinding` owns the one non-blocking UDP socket of a ``DatagramSocket``
from the moment a bind, connect or ``get_output_stream`` opens it: it resolves the local
side, creates and binds the socket with the control's options, starts the receive task,
connects it in the kernel, and remembers the addresses that ``information`` reports.
The facade decides *whether* an operation may run (its lifecycle); this module does the
opening once it may.

A socket bound to every address, or created for sending only, is one dual-stack IPv6
socket (``IPV6_V6ONLY`` off), so it talks to IPv4 and IPv6 remotes through one port, as
a WinRT socket does; IPv4 remotes are addressed as IPv4-mapped IPv6 addresses inside.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
from collections.abc import Callable
from typing import NamedTuple

import trio

from .._core.checks import shown
from .._core.errors import SocketErrorStatus, socket_error, translate_os_error
from .._core.hostname import HostName
from .._core.lifecycle import Lifecycle
from .._core.sockaddr import is_multicast, unmapped
from .._io import sockio as _sockio
from .._io.addresses import (
    BOTH_FAMILIES,
    LocalSide,
    families_reached,
    has_ipv6,
    of_reachable_family,
    require_local_scope,
    with_link_scopes,
)
from .._io.connect import format_sockaddr
from .._io.datagram_addresses import (
    EVERY_ADDRESS,
    families_of,
    is_bound_to,
    over_ipv4,
    route_probe_target,
    source_for,
    source_reaches,
    to_socket_address,
)
from .._io.datagram_output import DatagramOutputStream
from .._io.datagram_receive import MessageReceiver
from .._io.output import NurseryGetter
from .._io.resolver import Resolver, SockAddr
from .._io.translate import translating
from .datagram_control import DatagramSocketControl

__all__ = ["DatagramBinding", "LocalChoice", "local_port"]

_StdSocket = socket.socket


class LocalChoice(NamedTuple):
    """Where datagrams to a remote leave from (:meth:`DatagramBinding.local_side`)."""

    #: The address families that side reaches.
    families: frozenset[int]
    #: The local address to bind; None: the socket is open already, or the system binds
    #: it on first use.
    bind_to: tuple[int, SockAddr] | None = None
    #: For an output stream of a socket bound to every address, the one of them its
    #: datagrams leave from (with the socket's port); None: the one routing picks.
    source: SockAddr | None = None
    #: For a local host of both families (``localhost``), a choice for each family:
    #: :meth:`for_family` picks the one that reaches the remote.
    alternatives: tuple[LocalChoice, ...] = ()

    def for_family(self, family: int) -> LocalChoice:
        """The choice for a remote of *family*."""
        for choice in self.alternatives:
            if family in choice.families:
                return choice
        return self


def _one_of(choices: list[LocalChoice]) -> LocalChoice:
    """*choices* (one at least) as one choice, the first first."""
    if len(choices) == 1:
        return choices[0]
    families = frozenset[int]().union(*(choice.families for choice in choices))
    return choices[0]._replace(families=families, alternatives=tuple(choices))


def local_port(sock: _StdSocket) -> int:
    """The port *sock* is bound to; 0 before the system binds it on first use."""
    port: int = sock.getsockname()[1]
    return port


@functools.cache
def _dual_stack(local: SockAddr | None) -> bool:
    """Whether an IPv6 socket bound to *local* (None: not bound) also reaches IPv4."""
    return local is None or local[0] == "::"


class DatagramBinding:
    """The stdlib socket of one ``DatagramSocket``, opened once, and its addresses.

    The socket's control reads it as its ``DatagramSocketView``; its information reads
    the addresses.
    """

    def __init__(
        self,
        resolver: Resolver,
        receiver: MessageReceiver,
        lifecycle: Lifecycle,
        nursery: Callable[[str], trio.Nursery],
    ) -> None:
        self._resolver = resolver
        self._receiver = receiver
        self._lifecycle = lifecycle
        self._nursery = nursery
        #: The open socket; None before the first bind, connect or send.
        self.sock: _StdSocket | None = None
        #: The connected remote, as the kernel reports it.
        self.remote: SockAddr | None = None
        #: Where the latest ``get_output_stream`` sends, for ``information``.
        self.last_destination: SockAddr | None = None
        self._local_address: SockAddr | None = None
        self._broadcast = False
        self.control: DatagramSocketControl = DatagramSocketControl(self)

    @property
    def closed(self) -> bool:
        """Whether the socket was closed."""
        return self._lifecycle.closed

    @property
    def opening(self) -> bool:
        """Whether a bind or connect is under way (it may open the socket any moment)."""
        return self._lifecycle.changing is not None

    def describe(self) -> str:
        """A short name for messages: ``DatagramSocket 127.0.0.1:5353 -> ...``."""
        local = self.local_sockaddr()
        if local is None:
            return f"DatagramSocket ({self._lifecycle.phase.value})"
        text = f"DatagramSocket {format_sockaddr(local)}"
        if self.remote is not None:
            text += f" -> {format_sockaddr(self.remote)}"
        return text + (" closed" if self._lifecycle.closed else "")

    def local_sockaddr(self) -> SockAddr | None:
        """The local address, also after closing (remembered by :meth:`close`)."""
        sock = self.sock
        if sock is not None and sock.fileno() != -1:
            self._local_address = sock.getsockname()
        return self._local_address

    def peer_or_destination(self) -> SockAddr | None:
        """The connected remote; else where the latest output stream sends; else None."""
        return self.remote or self.last_destination

    # -- opening -----------------------------------------------------------------------

    async def resolve_local(self, host: HostName | None, service: str) -> tuple[int, SockAddr]:
        """The (family, address) to bind for a local *host* (None: every address).

        Raises:
            ValueError: a link-local IPv6 address without a ``%scope``.
        """
        port = await self._resolver.resolve_port(service, "udp", local=True)
        if host is None:
            if has_ipv6():
                return socket.AF_INET6, ("::", port, 0, 0)
            return socket.AF_INET, ("0.0.0.0", port)  # pragma: no cover
        return (await self._resolve_locals(host, port))[0]

    async def _locals(self, host: HostName | None, service: str) -> list[tuple[int, SockAddr]]:
        """What :meth:`resolve_local` gives, and for a *host* of both families the
        first address of the other family after it."""
        if host is None:
            return [await self.resolve_local(host, service)]
        port = await self._resolver.resolve_port(service, "udp", local=True)
        return await self._resolve_locals(host, port)

    async def _resolve_locals(self, host: HostName, port: int) -> list[tuple[int, SockAddr]]:
        addresses = await self._resolver.resolve_addresses(host, port, "udp", passive=True)
        firsts: dict[int, SockAddr] = {}
        for family, local in addresses:
            firsts.setdefault(family, local)
        for local in firsts.values():
            require_local_scope(local, f"bind a DatagramSocket to {format_sockaddr(local)}")
        return list(firsts.items())

    def open(
        self, family: int, local: SockAddr | None, remote: SockAddr | None = None
    ) -> _StdSocket:
        """Create the socket, set its options, bind it, and start the receive task.
        *remote*: where the socket is opened to send (for an error message).

        Raises:
            trio.ClosedResourceError: closed while the caller was resolving.
            SocketStatusError: no socket could be made (``TOO_MANY_OPEN_FILES``...), or
                the bind failed (the new socket is closed again).
        """
        nursery = self._nursery("opening the socket")
        if self._lifecycle.closed:  # closed while a bind or connect was resolving
            raise trio.ClosedResourceError("this DatagramSocket was closed")
        if self.sock is not None:  # pragma: no cover - callers check before awaiting
            raise RuntimeError(f"{self.describe()} is already bound")
        where = (
            f" to reach {format_sockaddr(remote)}"
            if remote is not None and (local is None or local[1] == 0)
            else f" to bind to {format_sockaddr(local)}"
            if local is not None
            else ""
        )
        with translating(f"open a socket for {self.describe()}{where}", opening=True):
            sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, not _dual_stack(local))
            self.control.apply_before_bind(sock, local[0] if local is not None else None)
            if local is not None:
                with translating(f"bind a DatagramSocket to {format_sockaddr(local)}"):
                    sock.bind(local)
            self.control.apply_multicast(sock)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        if self.control.multicast_only:
            self._receiver.multicast_only()
        nursery.start_soon(self._receiver.run, sock, name=f"receive loop of {self.describe()}")
        return sock

    # -- remotes -----------------------------------------------------------------------

    async def local_side(
        self, local_host: HostName | None, local_service: str, what: str, *, sending: bool = False
    ) -> LocalChoice:
        """Where datagrams to a remote will leave from, for a bind, a connect or (with
        *sending*) an output stream: see :class:`LocalChoice`.

        Raises:
            RuntimeError: the pair has a local side other than where the socket is
                already bound (for an output stream: unless the socket is bound to every
                address, and the pair names one of them and no other port).
            SocketStatusError: ``CANNOT_ASSIGN_REQUESTED_ADDRESS``: that address is a
                multicast group, which datagrams cannot leave from.
        """
        has_local = local_host is not None or bool(local_service)
        sock = self.sock
        if sock is not None:
            if has_local:
                locals_ = await self._locals(local_host, local_service)
                if self.sock is not sock:
                    raise self._local_side_refused(what)
                if not any(is_bound_to(sock, local) for _, local in locals_):
                    sources = [
                        LocalChoice(frozenset({family}), source=source)
                        for family, local in locals_
                        if sending and (source := source_for(sock, family, local, what))
                    ]
                    if not sources:
                        raise self._local_side_refused(what)
                    return _one_of(sources)
            else:
                await trio.lowlevel.checkpoint()
            return LocalChoice(families_of(sock))
        if has_local:
            # For a host of both families the remote decides which address is bound.
            return _one_of(
                [
                    LocalChoice(
                        families_reached(family, dual_stack=_dual_stack(local)), (family, local)
                    )
                    for family, local in await self._locals(local_host, local_service)
                ]
            )
        await trio.lowlevel.checkpoint()
        if has_ipv6():
            return LocalChoice(BOTH_FAMILIES)
        return LocalChoice(frozenset({socket.AF_INET}))  # pragma: no cover

    def _local_side_refused(self, what: str) -> RuntimeError:
        return RuntimeError(
            f"{what}: {self.describe()} is already bound, so the endpoint pair's "
            "local side cannot apply"
        )

    def open_for_remote(
        self, side: LocalChoice, target: tuple[int, SockAddr], what: str
    ) -> tuple[_StdSocket, SockAddr]:
        """The socket to reach *target* (family, address) with from *side*, and the
        address as it takes it: the open one, or a new one bound to ``side.bind_to``, or
        else to every address on a port the system chooses (dual-stack, so that later
        streams may go to either family; a connect then takes the route's source
        address, as the kernel's own bind at a first send would). A link-local remote
        takes the scope of its link (see
        :func:`~trio_sockets._io.addresses.with_link_scopes`).

        Raises:
            ValueError: a link-local remote without a scope on a local side without one,
                or with another scope than the local side's (nothing is opened).
            RuntimeError: ``side.bind_to`` is given but another task opened the socket.
            SocketStatusError: ``ADDRESS_FAMILY_NOT_SUPPORTED``: the socket does not
                reach *target*'s family; failures to open the socket.
        """
        bind_to = side.bind_to
        local = self.local_of(side).sockaddr
        entry = with_link_scopes([(socket.AddressFamily(target[0]), target[1])], local, what)[0]
        sock = self.sock
        if sock is None:
            if bind_to is not None:
                sock = self.open(*bind_to)
            elif has_ipv6():
                sock = self.open(socket.AF_INET6, ("::", 0, 0, 0), target[1])
            else:  # pragma: no cover
                sock = self.open(socket.AF_INET, ("0.0.0.0", 0), target[1])
        elif bind_to is not None:
            # Another task opened the socket while this one resolved.
            raise self._local_side_refused(what)
        of_reachable_family([entry], families_of(sock), what, self.describe())
        return sock, to_socket_address(sock, entry[1])

    def local_of(self, side: LocalChoice) -> LocalSide:
        """The local side datagrams to a remote will leave from: *side*'s address to
        bind or send from, or where the socket is bound (if it is)."""
        local = side.source or (side.bind_to[1] if side.bind_to is not None else None)
        if local is None:
            return LocalSide(self.describe(), self.local_sockaddr())
        return LocalSide(f"the endpoint pair's local side {format_sockaddr(local)}", local)

    def check_may_send_to(self, sockaddr: SockAddr) -> None:
        """Refuse an output stream to *sockaddr* when ``control.multicast_only`` is set
        and it is no multicast group.

        Raises:
            RuntimeError: naming the remote.
        """
        if self.control.multicast_only and not is_multicast(sockaddr[0]):
            raise RuntimeError(
                f"get_output_stream to {format_sockaddr(sockaddr)}: control.multicast_only "
                "is set, and a multicast-only socket sends only to multicast groups"
            )

    def new_stream(
        self,
        sock: _StdSocket,
        target: SockAddr,
        source: SockAddr | None,
        nursery_getter: NurseryGetter,
        what: str,
    ) -> DatagramOutputStream:
        """A new output stream of *sock* to *target*, its datagrams leaving from
        *source* (refused first if they cannot: :meth:`check_source`), or from the
        address routing picks (None)."""
        if source is not None:
            self.check_source(source, target, what)
            name = f"DatagramSocket {format_sockaddr(source)}"
        else:
            name = self.describe() if local_port(sock) else "DatagramSocket"
        where = f"{name} -> {format_sockaddr(target)}"
        return DatagramOutputStream(sock, nursery_getter, where, target, self, source=source)

    def check_source(self, source: SockAddr, target: SockAddr, what: str) -> None:
        """Refuse to send from *source* (of :meth:`local_side`) to *target* when it is
        no address of this host, or cannot reach *target*, before a stream is made:
        probed by binding a socket to it and connecting that socket to *target*, which
        routes with that source and sends nothing.

        Raises:
            SocketStatusError: ``CANNOT_ASSIGN_REQUESTED_ADDRESS``, naming the address
                (and *target*, when routing refuses that source there).
        """
        family = socket.AF_INET if len(source) == 2 else socket.AF_INET6
        with translating(f"{what}: open a socket to check {source[0]}", opening=True):
            probe = socket.socket(family, socket.SOCK_DGRAM)
        with probe:
            try:
                probe.bind((source[0], 0, *source[2:]))
            except OSError as exc:
                raise socket_error(
                    SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS,
                    f"{what}: datagrams cannot leave from {format_sockaddr(source)}: "
                    f"{exc.strerror}",
                    errno=errno.EADDRNOTAVAIL,
                ) from exc
            remote = route_probe_target(target, family)
            if remote is not None and not source_reaches(probe, remote, source):
                raise socket_error(
                    SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS,
                    f"{what}: datagrams cannot leave from {format_sockaddr(source)} "
                    f"toward {format_sockaddr(target)}: routing refuses that source there "
                    f"(a loopback address toward another interface) [Errno "
                    f"{errno.EINVAL}] {os.strerror(errno.EINVAL)}",
                    errno=errno.EADDRNOTAVAIL,
                )

    def enable_broadcast(self) -> bool:
        """Turn ``SO_BROADCAST`` on after the kernel said EACCES; False if it was on."""
        sock = self.sock
        if self._broadcast or sock is None or sock.fileno() == -1:
            return False
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self._broadcast = True
        return True

    def report_earlier_failure(self, exc: OSError) -> None:
        """A send met *exc*, an ICMP error about an earlier datagram: a receive event."""
        self._receiver.report_send_error(exc)

    def connect(self, sock: _StdSocket, target: SockAddr) -> SockAddr:
        """Connect *sock* to *target* in the kernel, turning ``SO_BROADCAST`` on if a
        broadcast remote needs it, and let only the remote's datagrams through.

        Raises:
            SocketStatusError: the kernel refused.
        """
        action = f"connect to {format_sockaddr(target)}"
        with translating(action, sock):
            try:
                try:
                    sock.connect(target)
                except PermissionError:
                    # A broadcast remote without SO_BROADCAST (IPv4 has broadcast only).
                    if not over_ipv4(target, sock.family) or not self.enable_broadcast():
                        raise
                    sock.connect(target)
            except PermissionError as exc:  # a prohibit route
                refused = _sockio.prohibited(errno.EACCES, "the connection")
                raise translate_os_error(refused, action) from exc
        remote: SockAddr = sock.getpeername()
        self.remote = remote
        self._receiver.connected_to(remote)
        return remote

    def check_hears_groups(self, group: HostName) -> None:
        """Refuse to join *group* on a socket bound to a specific address other than
        the group's: Linux delivers a group's datagrams only to sockets bound to every
        address or to the group itself, so the join would succeed and the socket hear
        nothing. (Windows delivers them to a socket bound to an interface's address too,
        which WinRT's bind to an adapter relies on.)

        Raises:
            RuntimeError: naming the bound address, and what to do instead.
        """
        local = self.local_sockaddr()
        if local is None or group.ip_address is None:
            return  # not bound, or no IP address: joining says why
        bound = unmapped(str(local[0]))
        if bound in EVERY_ADDRESS or bound == unmapped(group.canonical_name).split("%")[0]:
            return
        if ":" not in bound:
            interface = f"control.multicast_interface = {bound!r}"
        elif len(local) == 4 and local[3]:
            interface = f"control.multicast_interface = '{local[3]}'"
        else:
            interface = "control.multicast_interface to the name of its interface"
        raise RuntimeError(
            f"join_multicast_group {shown(group.raw_name)}: {self.describe()} is bound to "
            f"{bound}, and Linux delivers a group's datagrams only to sockets bound to every "
            f"address or to the group; set {interface}, then bind with "
            "bind_service_name(port) (or bind to the group's address)"
        )

    def close(self) -> None:
        """Close the socket (if open); its address stays for ``information``."""
        self.local_sockaddr()
        if self.sock is not None:
            _sockio.close_socket(self.sock)
