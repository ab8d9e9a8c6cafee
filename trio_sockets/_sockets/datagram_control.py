"""``DatagramSocketControl``: UDP options as an object, and the multicast interface rules.

WinRT fixes ``DontFragment``, ``InboundBufferSizeInBytes``, ``MulticastOnly`` and
``QualityOfService`` at the first bind or connect and lets only
``OutboundUnicastHopLimit`` change later; the setters here enforce the same. Two
options are additions, because sending multicast safely needs them:
:attr:`~DatagramSocketControl.multicast_interface` (which interface multicast leaves
and joins on) and :attr:`~DatagramSocketControl.multicast_hop_limit` (its TTL); both may
change at any time.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
from collections.abc import Callable
from typing import Final, Protocol

import trio

from .._core.checks import check_bool, check_int, describe, shown
from .._core.enums import SocketQualityOfService
from .._core.errors import SocketErrorStatus, socket_error
from .._core.hostname import HostName
from .._core.linux import (
    IP_MTU_DISCOVER,
    IP_MULTICAST_ALL,
    IP_PKTINFO,
    IP_PMTUDISC_DO,
    IP_PMTUDISC_DONT,
    IPV6_MTU_DISCOVER,
    IPV6_MULTICAST_ALL,
    SO_RXQ_OVFL,
)
from .._core.sockaddr import unmapped
from .._io.system_lookups import interface_index
from .._io.translate import translating
from .socket_options import (
    DEFAULT_HOP_LIMIT,
    CommonOptions,
    apply_live,
    check_buffer_size,
    set_hop_limit,
)

__all__ = ["DatagramSocketControl", "DatagramSocketView", "set_membership"]

#: Linux's default multicast TTL: multicast stays on the local link.
DEFAULT_MULTICAST_HOP_LIMIT: Final = 1


class DatagramSocketView(Protocol):
    """What the control reads of its socket: the stdlib socket once it is open."""

    @property
    def sock(self) -> socket.socket | None:
        """The open socket; ``None`` before the first bind, connect or send."""
        ...

    @property
    def closed(self) -> bool:
        """Whether the socket was closed."""
        ...

    @property
    def opening(self) -> bool:
        """Whether a bind or connect is under way (it may open the socket any moment)."""
        ...

    def describe(self) -> str:
        """A short name for messages, e.g. ``DatagramSocket 127.0.0.1:5353``."""
        ...


class DatagramSocketControl(CommonOptions):
    """Options of a :class:`~trio_sockets.DatagramSocket` (WinRT ``DatagramSocketControl``).

    ``dont_fragment``, ``inbound_buffer_size_in_bytes``, ``multicast_only`` and
    ``quality_of_service`` must be set before the socket is bound, connected or given an
    output stream; setting them later raises :exc:`RuntimeError`, as WinRT does.
    ``outbound_unicast_hop_limit``, ``multicast_interface`` and ``multicast_hop_limit``
    may change at any time and apply at once (flush first if earlier datagrams must keep
    the old value).
    """

    def __init__(self, owner: DatagramSocketView) -> None:
        self._owner = owner
        self._dont_fragment = False
        self._inbound_buffer_size: int | None = None
        self._multicast_only = False
        self._hop_limit = DEFAULT_HOP_LIMIT
        self._qos = SocketQualityOfService.NORMAL
        self._multicast_interface: str | None = None
        self._interface_ipv4 = "0.0.0.0"
        self._interface_index = 0
        self._multicast_hops = DEFAULT_MULTICAST_HOP_LIMIT
        # The specific IPv4 address the socket is bound to, if any: the default
        # multicast interface.
        self._bound_ipv4: str | None = None

    def __repr__(self) -> str:
        return (
            f"<DatagramSocketControl dont_fragment={self._dont_fragment} "
            f"inbound_buffer_size_in_bytes={self._inbound_buffer_size} "
            f"multicast_only={self._multicast_only} "
            f"outbound_unicast_hop_limit={self._hop_limit} "
            f"quality_of_service={self._qos.name} "
            f"multicast_interface={self._multicast_interface!r} "
            f"multicast_hop_limit={self._multicast_hops}>"
        )

    def _refuse_late(self, name: str) -> None:
        self._before_open(name)

    def _before_open(self, name: str) -> None:
        if self._owner.closed:
            raise trio.ClosedResourceError(f"{name} cannot be set: {self._owner.describe()}")
        if self._owner.sock is not None or self._owner.opening:
            state = "being opened by another task" if self._owner.sock is None else "open"
            raise RuntimeError(
                f"{name} must be set before the socket is bound or connected (as in WinRT); "
                f"{self._owner.describe()} is already {state}"
            )

    # -- WinRT options -----------------------------------------------------------------

    @property
    def dont_fragment(self) -> bool:
        """Send with the IP don't-fragment bit (Linux ``IP_MTU_DISCOVER`` =
        ``IP_PMTUDISC_DO``); default False. A datagram larger than the path MTU then
        fails with ``MESSAGE_TOO_LONG`` instead of being fragmented. False, as in WinRT,
        allows fragmentation: IPv4 datagrams leave without the bit
        (``IP_PMTUDISC_DONT``), so routers on the way fragment them as needed."""
        return self._dont_fragment

    @dont_fragment.setter
    def dont_fragment(self, value: bool) -> None:
        value = check_bool("dont_fragment", value)
        self._before_open("dont_fragment")
        self._dont_fragment = value

    @property
    def inbound_buffer_size_in_bytes(self) -> int | None:
        """The kernel receive buffer asked for (``SO_RCVBUF``); None = the system default.

        Linux doubles the value for its bookkeeping (``getsockopt`` reads twice this).
        """
        return self._inbound_buffer_size

    @inbound_buffer_size_in_bytes.setter
    def inbound_buffer_size_in_bytes(self, value: int | None) -> None:
        size = check_buffer_size("inbound_buffer_size_in_bytes", value)
        self._before_open("inbound_buffer_size_in_bytes")
        self._inbound_buffer_size = size

    @property
    def multicast_only(self) -> bool:
        """Share the local port with other multicast sockets (``SO_REUSEADDR``); default False.

        This is the only way two sockets share a UDP port: a plain bind is exclusive,
        as in WinRT (and as Python's asyncio learned, bpo-37228, ``SO_REUSEADDR`` on
        unicast sockets lets another socket take their datagrams). A multicast-only
        socket is for groups only, as in WinRT: it refuses
        :meth:`~trio_sockets.DatagramSocket.connect` and a
        :meth:`~trio_sockets.DatagramSocket.get_output_stream` to a unicast or broadcast
        remote, and does not deliver the unicast or broadcast datagrams that arrive.
        """
        return self._multicast_only

    @multicast_only.setter
    def multicast_only(self, value: bool) -> None:
        value = check_bool("multicast_only", value)
        self._before_open("multicast_only")
        self._multicast_only = value

    # -- additions: where multicast goes -------------------------------------------------

    @property
    def multicast_interface(self) -> str | None:
        """The interface multicast datagrams leave by and groups are joined on.

        An interface name or index (``"lo"``, ``"eth0"``, ``"1"``, looked up when set),
        an IPv4 address of a local interface (``"127.0.0.1"``: ``IP_MULTICAST_IF`` by
        address), or an IPv6 address with a scope (``"fe80::1%eth0"``: the scope's
        interface). ``None`` (the default) means: the socket's own IPv4 address when it
        was bound to one, otherwise the system's routing, which on most hosts is the
        default route's interface. A WinRT socket bound to an adapter uses that adapter
        the same way.

        Set it whenever multicast must stay on one interface: the only way to keep test
        traffic on loopback is ``multicast_interface = "127.0.0.1"`` together with
        ``multicast_hop_limit = 0``. May be changed at any time.

        Raises:
            TypeError: not a str, :class:`~trio_sockets.HostName` or None.
            ValueError: no such interface, or an IPv6 address without a scope.
            SocketStatusError: the kernel refused it on an open socket (an IPv4 address
                no interface has); the setting keeps its old value.
        """
        return self._multicast_interface

    @multicast_interface.setter
    def multicast_interface(self, value: str | HostName | None) -> None:
        if isinstance(value, HostName):
            value = value.raw_name
        if value is not None and not isinstance(value, str):
            raise TypeError(
                "multicast_interface must be an interface name, an address or None, "
                f"not {describe(value)}"
            )
        ipv4, index = _parse_interface(value)
        before = self._multicast_interface, self._interface_ipv4, self._interface_index
        self._multicast_interface = value
        self._interface_ipv4, self._interface_index = ipv4, index
        sock = self._owner.sock
        if sock is not None and sock.fileno() != -1:
            try:
                self.apply_multicast(sock)
            except BaseException:  # refused: the setting keeps its value, as the socket did
                self._multicast_interface, self._interface_ipv4, self._interface_index = before
                raise

    @property
    def multicast_hop_limit(self) -> int:
        """TTL / hop limit of multicast datagrams (``IP_MULTICAST_TTL``,
        ``IPV6_MULTICAST_HOPS``); default 1, the local link. 0 keeps them on this host."""
        return self._multicast_hops

    @multicast_hop_limit.setter
    def multicast_hop_limit(self, value: int) -> None:
        self._multicast_hops = check_int("multicast_hop_limit", value, 0, 255)
        sock = self._owner.sock
        if sock is not None and sock.fileno() != -1:
            self.apply_multicast(sock)

    # -- applying --------------------------------------------------------------------------

    def _set_live(self, name: str, setter: Callable[[socket.socket], None]) -> None:
        apply_live(self._owner.sock, name, self._owner.describe, setter)

    def apply_before_bind(self, sock: socket.socket, local_ip: str | None) -> None:
        """Set every option that must precede the bind on a new socket; the multicast
        ones follow it (:meth:`apply_multicast`). *local_ip* is the address it will be
        bound to (None: the system binds it)."""
        family = sock.family
        v6 = family == socket.AF_INET6
        if self._multicast_only:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self._inbound_buffer_size is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._inbound_buffer_size)
        set_hop_limit(sock, self._hop_limit)
        # IPv4 options also work on a dual-stack IPv6 socket, for its IPv4 traffic.
        # A socket hears only the groups it joined itself, not every group any socket on
        # its port joined (Linux's default, IP_MULTICAST_ALL = 1).
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        # Each datagram then carries the kernel's count of datagrams it dropped.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        # WinRT's DontFragment false allows fragmentation: no DF bit on IPv4, so that a
        # router with a smaller MTU fragments a datagram instead of dropping it (IPv6
        # routers never fragment; its sender does, after path MTU discovery).
        mode = IP_PMTUDISC_DO if self._dont_fragment else IP_PMTUDISC_DONT
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, mode)
        if v6:
            with contextlib.suppress(OSError):  # Linux >= 4.20
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            if self._dont_fragment:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IP_PMTUDISC_DO)
        self._bound_ipv4 = None
        if local_ip is not None:
            address = ipaddress.ip_address(unmapped(local_ip).partition("%")[0])
            if isinstance(address, ipaddress.IPv4Address) and not address.is_unspecified:
                self._bound_ipv4 = str(address)

    def apply_multicast(self, sock: socket.socket) -> None:
        """Set the multicast TTL and interface. On a new socket this comes after the
        bind: the default interface is the bound address, and an address this host lacks
        must fail as the bind, not as a multicast option.

        Raises:
            SocketStatusError: the kernel refused the interface.
        """
        with translating(f"set the multicast interface of {self._owner.describe()}"):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, self._multicast_hops)
            # All zeros (no choice made) is the kernel's default: routing decides.
            ipv4, index = self.ipv4_interface()
            mreqn = struct.pack("4s4si", bytes(4), socket.inet_aton(ipv4), index)
            try:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            except OSError:
                if self._chose_interface():  # the application's choice: its error
                    raise
                # Bound to a group or broadcast address, which is no interface's: the
                # default goes back to the system's choice.
                self._bound_ipv4 = None
                mreqn = struct.pack("4s4si", bytes(4), bytes(4), 0)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            if sock.family == socket.AF_INET6:
                hops = self._multicast_hops
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
                index6 = self._interface_index
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index6)

    def _chose_interface(self) -> bool:
        """Whether ``multicast_interface`` was set, or the bound address is not used."""
        return (
            self._interface_ipv4 != "0.0.0.0"
            or bool(self._interface_index)
            or (self._bound_ipv4 is None)
        )

    def ipv4_interface(self) -> tuple[str, int]:
        """(address, interface index) for IPv4 multicast: sends and joins."""
        if self._interface_ipv4 != "0.0.0.0" or self._interface_index:
            return self._interface_ipv4, self._interface_index
        if self._bound_ipv4 is not None:
            return self._bound_ipv4, 0
        return "0.0.0.0", 0

    def ipv6_interface(self) -> int:
        """The interface index for IPv6 multicast (0: the system chooses)."""
        return self._interface_index


def _parse_interface(value: str | None) -> tuple[str, int]:
    if value is None:
        return "0.0.0.0", 0
    text, _, scope = value.partition("%")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv4Address):
        if scope:
            raise ValueError(f"multicast_interface {shown(value)}: an IPv4 address takes no scope")
        return str(address), 0
    if address is not None:
        if not scope:
            raise ValueError(
                f"multicast_interface {shown(value)}: an IPv6 address needs a scope naming its "
                "interface, like 'fe80::1%eth0'; or give the interface name"
            )
        return "0.0.0.0", _interface_index(scope, f"multicast_interface {shown(value)}")
    return "0.0.0.0", _interface_index(value, f"multicast_interface {shown(value)}")


def _interface_index(name: str, what: str) -> int:
    index = interface_index(name)
    if index is None:
        raise ValueError(f"{what}: there is no network interface named or numbered {shown(name)}")
    return index


def set_membership(
    sock: socket.socket,
    control: DatagramSocketControl,
    group: HostName,
    *,
    join: bool,
    where: str,
) -> None:
    """Join or leave the multicast *group* on *sock*, on the control's interface."""
    what = "join_multicast_group" if join else "leave_multicast_group"
    address = group.ip_address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 group, written as sockets see it
    if address is None or not address.is_multicast:
        raise ValueError(
            f"{what}: {shown(group.raw_name)} is not a multicast IP address "
            "(224.0.0.0/4 or ff00::/8)"
        )
    with translating(f"{what} {group.raw_name} on {where}"):
        if isinstance(address, ipaddress.IPv4Address):
            interface, index = control.ipv4_interface()
            mreqn = address.packed + socket.inet_aton(interface) + struct.pack("@i", index)
            option = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
            sock.setsockopt(socket.IPPROTO_IP, option, mreqn)
            return
        if sock.family != socket.AF_INET6:
            raise socket_error(
                SocketErrorStatus.ADDRESS_FAMILY_NOT_SUPPORTED,
                f"{what} {group.raw_name}: {where} is an IPv4 socket",
            )
        scope = address.scope_id
        index = (
            _interface_index(scope, f"{what} {shown(group.raw_name)}")
            if scope
            else control.ipv6_interface()
        )
        mreq = address.packed + struct.pack("@I", index)
        option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
        sock.setsockopt(socket.IPPROTO_IPV6, option, mreq)
