"""``DatagramSocket``: UDP, WinRT-shaped, with its MessageReceived event as a channel.

One non-blocking UDP socket per ``DatagramSocket``, created by the first bind, connect
or ``get_output_stream``; its receive task (``_datagram_receive``) runs in the socket's
nursery and feeds ``message_received``.

A socket bound to every address, or created for sending only, is one dual-stack IPv6
socket (``IPV6_V6ONLY`` off), so it talks to IPv4 and IPv6 remotes through one port, as
a WinRT socket does; IPv4 remotes are addressed as IPv4-mapped IPv6 addresses inside.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Final, overload

import trio

from .._core.checks import check_int
from .._core.enums import HostNameSortOptions
from .._core.errors import (
    SocketErrorStatus,
    SocketStatusError,
    socket_error,
    translate_os_error,
)
from .._core.hostname import EndpointPair, HostName, coerce_host_name, split_remote
from .._io import sockio as _sockio
from .._io.addresses import BOTH_FAMILIES, endpoint_pairs, families_reached, of_reachable_family
from .._io.connect import format_sockaddr
from .._io.datagram_output import (
    DatagramOutputStream,
    StreamCache,
    families_of,
    resolve_destination,
    to_socket_address,
)
from .._io.datagram_receive import MessageReceiver
from .._io.resolver import Resolver, SockAddr, resolver_or_default
from .._io.scoped import AbortableIO, NurseryScoped
from .datagram_control import DatagramSocketControl, set_membership
from .datagram_events import (
    DatagramSocketInformation,
    DatagramSocketMessageReceivedEventArgs,
)

__all__ = ["DEFAULT_MESSAGE_QUEUE_SIZE", "DatagramSocket"]

_StdSocket = socket.socket

#: Received datagrams ``message_received`` holds before it drops new ones.
DEFAULT_MESSAGE_QUEUE_SIZE: Final = 1024
_NEW, _OPEN, _CONNECTED, _CLOSED = "new", "open", "connected", "closed"


def local_port(sock: _StdSocket) -> int:
    """The port *sock* is bound to; 0 before the system binds it on first use."""
    port: int = sock.getsockname()[1]
    return port


@functools.cache
def _dual_stack(local: SockAddr | None) -> bool:
    """Whether an IPv6 socket bound to *local* (None: not bound) also reaches IPv4."""
    return local is None or local[0] == "::"


def _has_ipv6() -> bool:
    if not socket.has_ipv6:  # pragma: no cover - every test machine has IPv6
        return False
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
    except OSError:  # pragma: no cover
        return False
    return True


class DatagramSocket(NurseryScoped, AbortableIO):
    """A UDP socket (WinRT ``DatagramSocket``).

    Use it as ``async with DatagramSocket() as sock:``; the block owns the socket's
    receive task and its writes, and closes the socket when it ends, after sending what
    was written. Then either:

    * ``await sock.bind_service_name("1337")`` to receive from anyone (and answer
      through ``await sock.get_output_stream(args.remote_address, port)``), or
    * ``await sock.connect(HostName("example.com"), "53")`` to talk to one remote
      through :attr:`output_stream`, hearing only from it.

    Received datagrams arrive in :attr:`message_received`, which exists from
    construction: nothing that arrives after a bind or connect can be missed, so
    WinRT's rule to attach the handler first has no counterpart here. It holds
    *message_queue_size* datagrams (default :data:`DEFAULT_MESSAGE_QUEUE_SIZE`, 1024);
    datagrams that arrive while it is full are dropped and counted in
    :attr:`DatagramSocketInformation.dropped_message_count`. ``async for`` over it ends
    when the socket closes.
    """

    message_received: trio.MemoryReceiveChannel[DatagramSocketMessageReceivedEventArgs]
    """The MessageReceived event: one args object per datagram (or receive error)."""

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        message_queue_size: int = DEFAULT_MESSAGE_QUEUE_SIZE,
    ) -> None:
        check_int("message_queue_size", message_queue_size, 1)
        self._resolver = resolver_or_default(resolver)
        self._init_scope()
        self._receiver = MessageReceiver(message_queue_size, self._describe)
        self.message_received = self._receiver.channel
        self._sock: _StdSocket | None = None
        self._state = _NEW
        self._opening = False
        self._local: SockAddr | None = None
        self._remote: SockAddr | None = None
        self._last_destination: SockAddr | None = None
        self._output: DatagramOutputStream | None = None
        self._streams = StreamCache()
        self._broadcast = False
        self._init_io()
        self._control = DatagramSocketControl(self)
        self._information = DatagramSocketInformation(self)

    # -- properties ----------------------------------------------------------------------

    @property
    def control(self) -> DatagramSocketControl:
        """Socket options (WinRT ``DatagramSocketControl``); most are set before binding."""
        return self._control

    @property
    def information(self) -> DatagramSocketInformation:
        """Addresses and receive counters, readable at any time."""
        return self._information

    @property
    def output_stream(self) -> DatagramOutputStream:
        """The stream to the connected remote; each write is one datagram.

        Raises:
            RuntimeError: the socket is not connected (use :meth:`get_output_stream`
                to send without connecting).
        """
        if self._output is None:
            raise RuntimeError(
                f"{self._describe()} is not connected: await connect() first, or use "
                "await get_output_stream(remote_host_name, remote_service_name)"
            )
        return self._output

    @property
    def socket(self) -> _StdSocket:
        """The underlying non-blocking stdlib socket, for options this API lacks.

        Raises:
            RuntimeError: not bound or connected yet.
            trio.ClosedResourceError: closed.
        """
        if self._state == _CLOSED:
            raise trio.ClosedResourceError(f"{self._describe()} is closed")
        if self._sock is None:
            raise RuntimeError(f"{self._describe()} is not bound or connected yet")
        return self._sock

    def __repr__(self) -> str:
        return f"<{self._describe()}>"

    def _describe(self) -> str:
        local = self._local_sockaddr()
        if local is None:
            return f"DatagramSocket ({self._state})"
        text = f"DatagramSocket {format_sockaddr(local)}"
        if self._remote is not None:
            text += f" -> {format_sockaddr(self._remote)}"
        return text + (" closed" if self._state == _CLOSED else "")

    def _is_closed(self) -> bool:
        return self._state == _CLOSED

    def _local_sockaddr(self) -> SockAddr | None:
        sock = self._sock
        if sock is not None and sock.fileno() != -1:
            self._local = sock.getsockname()
        return self._local

    # -- binding ---------------------------------------------------------------------------

    async def bind_service_name(
        self, local_service_name: str, adapter: HostName | str | None = None
    ) -> None:
        """Bind every local address, IPv4 and IPv6, on one port (WinRT
        ``BindServiceNameAsync``).

        *local_service_name* is a port (``""`` or ``"0"``: any free port, then read
        ``information.local_port``) or a name from the services database. *adapter*
        stands in for a Windows ``NetworkAdapter``: a local interface address to bind
        instead of all of them (IPv4 multicast then also leaves by that interface).

        Raises:
            TypeError / ValueError: a bad service name or adapter.
            RuntimeError: already bound, connected or sending, or not entered with
                ``async with``.
            SocketStatusError: ``ADDRESS_ALREADY_IN_USE`` (only ``multicast_only``
                sockets share a port) and other bind failures.
        """
        host = None if adapter is None else coerce_host_name(adapter, "adapter")
        await self._bind(host, local_service_name)

    async def bind_endpoint(
        self, local_host_name: HostName | str | None, local_service_name: str
    ) -> None:
        """Bind one local address and port (WinRT ``BindEndpointAsync``).

        ``None`` as the host binds every local address, like :meth:`bind_service_name`.
        A host name with several addresses (``"localhost"``) binds the first one the
        resolver gives.

        Raises:
            TypeError / ValueError: a bad host or service name.
            RuntimeError: already bound, connected or sending, or not entered.
            SocketStatusError: ``ADDRESS_ALREADY_IN_USE``,
                ``CANNOT_ASSIGN_REQUESTED_ADDRESS`` and other bind failures.
        """
        host = (
            None
            if local_host_name is None
            else coerce_host_name(local_host_name, "local_host_name")
        )
        await self._bind(host, local_service_name)

    async def _bind(self, host: HostName | None, service: str) -> None:
        self._check_can_open("bind")
        self._opening = True
        try:
            with self._io_scope():
                family, local = await self._resolve_local(host, service)
                self._open(family, local)
                return
            raise self._aborted("bind")
        finally:
            self._opening = False

    async def _resolve_local(self, host: HostName | None, service: str) -> tuple[int, SockAddr]:
        port = await self._resolver.resolve_port(service, "udp", local=True)
        if host is None:
            if _has_ipv6():
                return socket.AF_INET6, ("::", port, 0, 0)
            return socket.AF_INET, ("0.0.0.0", port)  # pragma: no cover
        addresses = await self._resolver.resolve_addresses(host, port, "udp", passive=True)
        return addresses[0]

    def _check_can_open(self, what: str) -> trio.Nursery:
        if self._state == _CLOSED:
            raise trio.ClosedResourceError(f"{what}: this DatagramSocket was closed")
        if self._opening:
            raise trio.BusyResourceError(f"{what}: another task is opening this DatagramSocket")
        if self._sock is not None:
            raise RuntimeError(
                f"{what}: {self._describe()} is already bound (WinRT binds a socket once; "
                "a connect or get_output_stream also binds it)"
            )
        return self._require_nursery(f"{what}()")

    def _open(self, family: int, local: SockAddr | None) -> _StdSocket:
        """Create the socket, set its options, bind it, and start the receive task."""
        nursery = self._require_nursery("opening the socket")
        if self._state == _CLOSED:  # closed while a bind or connect was resolving
            raise trio.ClosedResourceError("this DatagramSocket was closed")
        if self._sock is not None:  # pragma: no cover - callers check before awaiting
            raise RuntimeError(f"{self._describe()} is already bound")
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, not _dual_stack(local))
            self._control._apply(sock, local[0] if local is not None else None)
            if local is not None:
                try:
                    sock.bind(local)
                except OSError as exc:
                    raise translate_os_error(
                        exc, f"bind a DatagramSocket to {format_sockaddr(local)}"
                    ) from exc
            self._control._apply_multicast(sock)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._state = _OPEN
        nursery.start_soon(self._receiver.run, sock, name=f"receive loop of {self._describe()}")
        return sock

    # -- remotes ---------------------------------------------------------------------------

    async def _local_side(
        self, local_host: HostName | None, local_service: str, what: str
    ) -> tuple[frozenset[int], tuple[int, SockAddr] | None]:
        """Where datagrams to a remote will leave from: the address families that side
        reaches, and the local address to bind (None: the socket is open already, or
        the system binds it on first use).

        Raises:
            RuntimeError: the pair has a local side and the socket is already bound.
        """
        has_local = local_host is not None or bool(local_service)
        if self._sock is not None:
            if has_local:
                raise RuntimeError(
                    f"{what}: {self._describe()} is already bound, so the endpoint pair's "
                    "local side cannot apply"
                )
            await trio.lowlevel.checkpoint()
            return families_of(self._sock), None
        if has_local:
            family, local = await self._resolve_local(local_host, local_service)
            return families_reached(family, dual_stack=_dual_stack(local)), (family, local)
        await trio.lowlevel.checkpoint()
        if _has_ipv6():
            return BOTH_FAMILIES, None
        return frozenset({socket.AF_INET}), None  # pragma: no cover

    def _open_for_remote(
        self, bind_to: tuple[int, SockAddr] | None, target: tuple[int, SockAddr], what: str
    ) -> tuple[_StdSocket, SockAddr]:
        """The socket to reach *target* (family, address) with, and the address as it
        takes it: the open one, or a new one bound to *bind_to* (or left for the kernel
        to bind on first use: dual-stack, so later streams may go to either family)."""
        sock = self._sock
        if sock is None:
            if bind_to is not None:
                sock = self._open(*bind_to)
            elif _has_ipv6():
                sock = self._open(socket.AF_INET6, None)
            else:  # pragma: no cover
                sock = self._open(socket.AF_INET, None)
        elif bind_to is not None:
            # Another task opened the socket while this one resolved.
            raise RuntimeError(
                f"{what}: {self._describe()} is already bound, so the endpoint pair's "
                "local side cannot apply"
            )
        family, sockaddr = target
        entry = (socket.AddressFamily(family), sockaddr)
        of_reachable_family([entry], families_of(sock), what, self._describe())
        return sock, to_socket_address(sock, sockaddr)

    def _local_text(self, bind_to: tuple[int, SockAddr] | None) -> str:
        """The local side, for an error message."""
        if bind_to is None:
            return self._describe()
        return f"the endpoint pair's local side {format_sockaddr(bind_to[1])}"

    def _enable_broadcast(self) -> bool:
        """Turn ``SO_BROADCAST`` on after the kernel said EACCES; False if it was on."""
        sock = self._sock
        if self._broadcast or sock is None or sock.fileno() == -1:
            return False
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self._broadcast = True
        return True

    # -- connecting ------------------------------------------------------------------------

    @overload
    async def connect(self, remote_host_name: HostName | str, remote_service_name: str) -> None: ...

    @overload
    async def connect(self, endpoint_pair: EndpointPair, /) -> None: ...

    async def connect(
        self,
        remote_host_name: HostName | str | EndpointPair,
        remote_service_name: str | None = None,
    ) -> None:
        """Talk to one remote (WinRT ``ConnectAsync``): the default destination of
        :attr:`output_stream`, and the only sender ``message_received`` hears from.

        Either ``connect(HostName("127.0.0.1"), "1337")`` or ``connect(EndpointPair(...))``,
        whose local side, when given, is bound first. A socket not yet bound is bound by
        the system. Datagrams from other senders are dropped, including any that had
        arrived before the connect. A broadcast remote works (``SO_BROADCAST`` is turned
        on when the kernel asks for it).

        Raises:
            TypeError / ValueError: a bad host name, service or endpoint pair (named).
            RuntimeError: already connected, ``control.multicast_only`` is set, or the
                socket was not entered with ``async with``.
            SocketStatusError: ``HOST_NOT_FOUND`` for a multicast remote (as in WinRT),
                resolution failures, ``ADDRESS_FAMILY_NOT_SUPPORTED`` when the remote has
                no address of a family the local side reaches (an endpoint pair bound
                to an IPv4 address and an IPv6 remote, or the reverse; the socket is
                then left unbound), ``OPERATION_ABORTED`` from ``cancel_io()``.

        Cancellation: the socket is not connected, but may have been bound.
        """
        if self._state == _CLOSED:
            raise trio.ClosedResourceError("connect: this DatagramSocket was closed")
        if self._state == _CONNECTED:
            raise RuntimeError(f"{self._describe()} is already connected")
        if self._control.multicast_only:
            raise RuntimeError(
                "connect: control.multicast_only is set, and a multicast-only socket cannot "
                "be used for unicast; send to a group with get_output_stream() instead"
            )
        if self._opening:
            raise trio.BusyResourceError("connect: another task is opening this DatagramSocket")
        self._require_nursery("connect()")
        self._opening = True
        try:
            with self._io_scope():
                host, service, local_host, local_service = split_remote(
                    remote_host_name, remote_service_name, "connect"
                )
                families, bind_to = await self._local_side(local_host, local_service, "connect")
                sockaddr, family = await resolve_destination(
                    self._resolver, host, service, families, self._local_text(bind_to), "connect"
                )
                if ipaddress.ip_address(sockaddr[0].split("%")[0]).is_multicast:
                    raise socket_error(
                        SocketErrorStatus.HOST_NOT_FOUND,
                        f"connect to {host.display_name}: {sockaddr[0]} is a multicast "
                        "address; connect takes a unicast or broadcast remote (join the "
                        "group and use get_output_stream to send to it)",
                    )
                if self._state == _CLOSED:
                    raise trio.ClosedResourceError(
                        "this DatagramSocket was closed while connecting"
                    )
                sock, target = self._open_for_remote(bind_to, (family, sockaddr), "connect")
                self._kernel_connect(sock, target)
                return
            raise self._aborted("connect")
        finally:
            self._opening = False

    def _kernel_connect(self, sock: _StdSocket, target: SockAddr) -> None:
        for _ in range(2):
            try:
                sock.connect(target)
                break
            except PermissionError as exc:
                if not self._enable_broadcast():
                    raise translate_os_error(exc, f"connect to {format_sockaddr(target)}") from exc
            except OSError as exc:
                raise translate_os_error(exc, f"connect to {format_sockaddr(target)}") from exc
        remote: SockAddr = sock.getpeername()
        self._remote = remote
        self._receiver.connected_to(remote)
        self._state = _CONNECTED
        self._output = DatagramOutputStream(
            sock,
            self._get_nursery,
            self._describe(),
            None,
            self._enable_broadcast,
            connected_to=self._remote,
        )

    # -- output streams --------------------------------------------------------------------

    @overload
    async def get_output_stream(
        self, remote_host_name: HostName | str, remote_service_name: str
    ) -> DatagramOutputStream: ...

    @overload
    async def get_output_stream(self, endpoint_pair: EndpointPair, /) -> DatagramOutputStream: ...

    async def get_output_stream(
        self,
        remote_host_name: HostName | str | EndpointPair,
        remote_service_name: str | None = None,
    ) -> DatagramOutputStream:
        """A stream that sends datagrams to one remote (WinRT ``GetOutputStreamAsync``).

        The socket keeps receiving from anyone. Call it for as many remotes as you like
        -- unicast, multicast (leaving by ``control.multicast_interface``) or broadcast
        (``SO_BROADCAST`` is turned on when the kernel asks for it); asking twice for
        one remote returns the same stream while it is open, so its writes stay in
        order. A socket not yet bound is bound by the system on first use, or to the
        local side of an :class:`~trio_sockets.EndpointPair`.

        The stream is an :class:`~trio_sockets.OutputStream` whose every write is one
        datagram. ``write()`` raises ``MESSAGE_TOO_LONG`` at once for a datagram over
        the family's limit (65,507 bytes over IPv4, 65,527 over IPv6); a datagram the
        kernel refuses fails only its own :class:`~trio_sockets.WriteOperation`. Writes
        of equal size pending together leave in one ``sendmsg`` (UDP segmentation
        offload), each still its own datagram. :attr:`output_stream` behaves the same.

        Raises:
            TypeError / ValueError: a bad host name, service or endpoint pair (named).
            RuntimeError: the socket was not entered with ``async with``, or the pair
                has a local side and the socket is already bound.
            SocketStatusError: resolution failures, ``ADDRESS_FAMILY_NOT_SUPPORTED``
                when the remote has no address of a family the local side reaches (an
                IPv6 remote on a socket or endpoint pair bound to an IPv4 address, or the
                reverse); no stream is made.
        """
        if self._state == _CLOSED:
            raise trio.ClosedResourceError("get_output_stream: this DatagramSocket was closed")
        self._require_nursery("get_output_stream()")
        stream = self._streams.by_name(remote_host_name, remote_service_name)
        if stream is not None:
            await trio.lowlevel.checkpoint()
            self._last_destination = stream.remote
            return stream
        with self._io_scope():
            host, service, local_host, local_service = split_remote(
                remote_host_name, remote_service_name, "get_output_stream"
            )
            families, bind_to = await self._local_side(
                local_host, local_service, "get_output_stream"
            )
            sockaddr, family = await resolve_destination(
                self._resolver,
                host,
                service,
                families,
                self._local_text(bind_to),
                "get_output_stream",
            )
            if self._opening:
                raise trio.BusyResourceError(
                    "get_output_stream: another task is opening this DatagramSocket"
                )
            sock, target = self._open_for_remote(bind_to, (family, sockaddr), "get_output_stream")
            self._last_destination = sockaddr
            stream = self._streams.get(target)
            if stream is None:
                stream = DatagramOutputStream(
                    sock,
                    self._get_nursery,
                    f"{self._describe() if local_port(sock) else 'DatagramSocket'} -> "
                    f"{format_sockaddr(sockaddr)}",
                    target,
                    self._enable_broadcast,
                )
            stream.remote = sockaddr
            self._streams.add(stream, remote_host_name, remote_service_name)
            return stream
        raise self._aborted("get_output_stream")

    def _all_streams(self) -> list[DatagramOutputStream]:
        streams = self._streams.all()
        if self._output is not None:
            streams.insert(0, self._output)
        return streams

    # -- multicast -------------------------------------------------------------------------

    def join_multicast_group(self, host: HostName | str) -> None:
        """Receive the datagrams sent to a multicast group (WinRT ``JoinMulticastGroup``).

        *host* is the group's IP address (``"239.255.0.1"``, ``"ff02::1%eth0"``). IPv4
        groups are joined on ``control.multicast_interface`` (or the address the socket
        is bound to); IPv6 groups on the interface of the group's scope, else on
        ``control.multicast_interface``. A socket hears only the groups it joined
        itself. Bind first, to the group's port: share it between several sockets with
        ``control.multicast_only``.

        Raises:
            TypeError / ValueError: *host* is not an IP address, or not a multicast one.
            RuntimeError: the socket is not bound yet.
            SocketStatusError: the kernel refused (``ADDRESS_ALREADY_IN_USE`` when
                already joined, ``ADDRESS_FAMILY_NOT_SUPPORTED`` for an IPv6 group on an
                IPv4 socket...).
        """
        set_membership(
            self.socket,
            self._control,
            coerce_host_name(host, "host"),
            join=True,
            where=self._describe(),
        )

    def leave_multicast_group(self, host: HostName | str) -> None:
        """Stop receiving a group joined with :meth:`join_multicast_group`.

        An addition: WinRT can only leave a group by closing the socket.

        Raises:
            TypeError / ValueError: *host* is not a multicast IP address.
            RuntimeError: the socket is not bound yet.
            SocketStatusError: ``CANNOT_ASSIGN_REQUESTED_ADDRESS`` when not joined.
        """
        set_membership(
            self.socket,
            self._control,
            coerce_host_name(host, "host"),
            join=False,
            where=self._describe(),
        )

    # -- closing ---------------------------------------------------------------------------

    async def cancel_io(self) -> None:
        """Abort pending writes, binds and connects (WinRT ``CancelIOAsync``).

        They fail with ``OPERATION_ABORTED``; the socket stays open and keeps receiving.
        Returns once every aborted operation has ended.
        """
        for stream in self._all_streams():
            stream.abort(SocketErrorStatus.OPERATION_ABORTED, "cancel_io()")
        self._cancel_io_scopes()
        await trio.lowlevel.checkpoint()
        for stream in self._all_streams():
            await stream.wait_idle()
        await self._wait_io_idle()

    async def aclose(self) -> None:
        """Send what was written, then close the socket (WinRT ``Close``). Idempotent.

        Closes ``message_received``: ``async for`` ends after the datagrams already in
        it. Raises a write failure nobody has seen yet (after closing).

        Cancellation: the socket is closed at once, unsent writes fail with
        ``OPERATION_ABORTED``.
        """
        if self._state == _CLOSED:
            await trio.lowlevel.checkpoint()
            return
        streams = self._all_streams()
        first: OSError | None = None
        try:
            for stream in streams:
                if not stream.closed:
                    try:
                        await stream.flush()
                    except OSError as error:  # raised below, once the socket is closed
                        first = first or error
            await trio.lowlevel.checkpoint()
        finally:
            self._close_now()
        if first is not None:
            raise first
        for stream in streams:
            stream.raise_unobserved()

    def _close_now(self) -> None:
        if self._state == _CLOSED:
            return
        self._local_sockaddr()  # remember the address for information and messages
        self._state = _CLOSED
        for stream in self._all_streams():
            stream.abort(SocketErrorStatus.OPERATION_ABORTED, "the socket closed")
        if self._sock is not None:
            _sockio.close_socket(self._sock)
        self._receiver.close()

    # -- helpers ---------------------------------------------------------------------------

    def _aborted(self, what: str) -> SocketStatusError:
        # Raised only when cancel_io() cancelled the scope.
        return socket_error(
            SocketErrorStatus.OPERATION_ABORTED, f"{what} on {self._describe()}: cancel_io()"
        )

    def _get_nursery(self) -> trio.Nursery | None:
        return self._nursery

    @staticmethod
    async def get_endpoint_pairs(
        remote_host_name: HostName | str,
        remote_service_name: str,
        sort_options: HostNameSortOptions = HostNameSortOptions.NONE,
        *,
        resolver: Resolver | None = None,
    ) -> list[EndpointPair]:
        """Resolve a remote host and UDP service into endpoint pairs, best first (WinRT
        ``GetEndpointPairsAsync``), as :meth:`StreamSocket.get_endpoint_pairs
        <trio_sockets.StreamSocket.get_endpoint_pairs>` does for TCP."""
        return await endpoint_pairs(
            remote_host_name, remote_service_name, sort_options, resolver, "udp"
        )
