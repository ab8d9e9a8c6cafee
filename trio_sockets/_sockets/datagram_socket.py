"""``DatagramSocket``: UDP, WinRT-shaped, with its MessageReceived event as a channel.

The facade: what may run when (the socket's :class:`~trio_sockets._core.lifecycle.Lifecycle`),
the output streams it hands out, multicast membership and closing. The stdlib socket and
its addresses belong to its :class:`~trio_sockets._sockets.datagram_binding.DatagramBinding`,
created by the first bind, connect or ``get_output_stream``; the receive task
(:mod:`trio_sockets._io.datagram_receive`) runs in the socket's nursery and feeds
``message_received``.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Final, overload

import trio

from .._core.checks import check_int
from .._core.endpoint import EndpointPair, split_remote
from .._core.enums import HostNameSortOptions
from .._core.errors import SocketErrorStatus, socket_error
from .._core.hostname import HostName, coerce_host_name
from .._core.lifecycle import DATAGRAM_SOCKET, Action, Lifecycle, Phase
from .._core.sockaddr import is_multicast
from .._data.interfaces import SocketOutputStream
from .._io.addresses import endpoint_pairs
from .._io.datagram_addresses import resolve_destination
from .._io.datagram_channel import DatagramMessageChannel
from .._io.datagram_output import DatagramOutputStream, StreamCache
from .._io.datagram_receive import MessageReceiver
from .._io.resolver import Resolver, resolver_or_default
from .._io.scoped import AbortableIO, NurseryScoped
from .._io.system_lookups import adapter_host
from .datagram_binding import DatagramBinding
from .datagram_control import DatagramSocketControl, set_membership
from .datagram_information import DatagramSocketInformation

__all__ = ["DEFAULT_MESSAGE_QUEUE_SIZE", "DatagramSocket"]

_StdSocket = socket.socket

#: Received datagrams ``message_received`` holds before it drops new ones.
DEFAULT_MESSAGE_QUEUE_SIZE: Final = 1024


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

    message_received: DatagramMessageChannel
    """The MessageReceived event: one args object per datagram (or receive error), in a
    :class:`trio.abc.ReceiveChannel` that behaves as a bounded memory channel's receive
    side does."""

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
        self.message_received = DatagramMessageChannel(self._receiver)
        self._lifecycle = Lifecycle(DATAGRAM_SOCKET, self._describe)
        self._binding = DatagramBinding(
            self._resolver, self._receiver, self._lifecycle, self._require_nursery
        )
        self._output: DatagramOutputStream | None = None
        self._streams = StreamCache()
        self._init_io()
        self._information = DatagramSocketInformation(self._binding, self._receiver)

    # -- properties ----------------------------------------------------------------------

    @property
    def control(self) -> DatagramSocketControl:
        """Socket options (WinRT ``DatagramSocketControl``); most are set before binding."""
        return self._binding.control

    @property
    def information(self) -> DatagramSocketInformation:
        """Addresses and receive counters, readable at any time."""
        return self._information

    @property
    def output_stream(self) -> SocketOutputStream:
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
        if self._lifecycle.closed:
            raise trio.ClosedResourceError(f"{self._describe()} is closed")
        sock = self._binding.sock
        if sock is None:
            raise RuntimeError(f"{self._describe()} is not bound or connected yet")
        return sock

    def __repr__(self) -> str:
        return f"<{self._describe()}>"

    def _describe(self) -> str:
        return self._binding.describe()

    def _is_closed(self) -> bool:
        return self._lifecycle.closed

    @contextlib.contextmanager
    def _changing_phase(self, action: Action, what: str) -> Iterator[None]:
        """Run *action* as the lifecycle allows: it moves the phase on when the block
        ends normally, and leaves it when the block raises."""
        self._lifecycle.check(action)
        self._require_nursery(f"{what}()")
        self._lifecycle.begin(action)
        try:
            yield
            self._lifecycle.finish(action)
        finally:
            self._lifecycle.abandon(action)
            if self._binding.sock is not None and self._lifecycle.phase is Phase.NEW:
                # The socket was opened, then the action failed: it is bound now (by
                # the system, on the socket's first use), as a send leaves it.
                self._lifecycle.begin(Action.SEND_TO)
                self._lifecycle.finish(Action.SEND_TO)

    # -- binding ---------------------------------------------------------------------------

    async def bind_service_name(
        self, local_service_name: str, adapter: HostName | str | None = None
    ) -> None:
        """Bind every local address, IPv4 and IPv6, on one port (WinRT
        ``BindServiceNameAsync``).

        *local_service_name* is a port (``""`` or ``"0"``: any free port, then read
        ``information.local_port``) or a name from the services database. *adapter*
        stands in for a Windows ``NetworkAdapter``: a local interface address to bind
        instead of all of them (IPv4 multicast then also leaves by that interface; the
        socket cannot join a group, see :meth:`join_multicast_group`).

        Raises:
            TypeError / ValueError: a bad service name or adapter.
            RuntimeError: already bound, connected or sending, or not entered with
                ``async with``.
            SocketStatusError: ``ADDRESS_ALREADY_IN_USE`` (only ``multicast_only``
                sockets share a port) and other bind failures.
        """
        host = None if adapter is None else adapter_host(adapter)
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
        with self._changing_phase(Action.BIND, "bind"):
            with self._io_scope():
                family, local = await self._binding.resolve_local(host, service)
                self._binding.open(family, local)
                return
            raise self._aborted("bind")

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
            TypeError / ValueError: a bad host name, service or endpoint pair (named); a
                link-local IPv6 literal: a local side without a ``%scope``, a remote without one
                (unless the local side has one) or with another scope than the local side's.
            RuntimeError: already connected, ``control.multicast_only`` is set, or the
                socket was not entered with ``async with``.
            SocketStatusError: ``HOST_NOT_FOUND`` for a multicast remote (as in WinRT),
                resolution failures, ``ADDRESS_FAMILY_NOT_SUPPORTED`` when the remote has
                no address of a family the local side reaches (an endpoint pair bound
                to an IPv4 address and an IPv6 remote, or the reverse; the socket is
                then left unbound), ``OPERATION_ABORTED`` from ``cancel_io()``.

        Cancellation: the socket is not connected, but may have been bound.
        """
        self._lifecycle.check(Action.CONNECT)
        if self._binding.control.multicast_only:
            raise RuntimeError(
                "connect: control.multicast_only is set, and a multicast-only socket cannot "
                "be used for unicast; send to a group with get_output_stream() instead"
            )
        with self._changing_phase(Action.CONNECT, "connect"):
            with self._io_scope():
                await self._connect(remote_host_name, remote_service_name)
                return
            raise self._aborted("connect")

    async def _connect(
        self, remote_host_name: HostName | str | EndpointPair, remote_service_name: str | None
    ) -> None:
        binding = self._binding
        host, service, local_host, local_service = split_remote(
            remote_host_name, remote_service_name, "connect"
        )
        side = await binding.local_side(local_host, local_service, "connect")
        sockaddr, family = await resolve_destination(
            self._resolver, host, service, side.families, binding.local_of(side), "connect"
        )
        side = side.for_family(family)
        if is_multicast(sockaddr[0]):
            raise socket_error(
                SocketErrorStatus.HOST_NOT_FOUND,
                f"connect to {host.display_name}: {sockaddr[0]} is a multicast "
                "address; connect takes a unicast or broadcast remote (join the "
                "group and use get_output_stream to send to it)",
            )
        if self._lifecycle.closed:
            raise trio.ClosedResourceError("this DatagramSocket was closed while connecting")
        sock, target = binding.open_for_remote(side, (family, sockaddr), "connect")
        remote = binding.connect(sock, target)
        self._output = DatagramOutputStream(
            sock,
            self._get_nursery,
            self._describe(),
            None,
            binding,
            connected_to=remote,
        )

    # -- output streams --------------------------------------------------------------------

    @overload
    async def get_output_stream(
        self, remote_host_name: HostName | str, remote_service_name: str
    ) -> SocketOutputStream: ...

    @overload
    async def get_output_stream(self, endpoint_pair: EndpointPair, /) -> SocketOutputStream: ...

    async def get_output_stream(
        self,
        remote_host_name: HostName | str | EndpointPair,
        remote_service_name: str | None = None,
    ) -> SocketOutputStream:
        """A stream that sends datagrams to one remote (WinRT ``GetOutputStreamAsync``).

        The socket keeps receiving from anyone. Call it for as many remotes as you like
        -- unicast, multicast (leaving by ``control.multicast_interface``) or broadcast
        (``SO_BROADCAST`` is turned on when the kernel asks for it); asking twice for
        one remote returns the same stream while it is open, so its writes stay in
        order. A socket not yet bound is bound by the system on first use, or to the
        local side of an :class:`~trio_sockets.EndpointPair`. On a socket bound to every
        address, a pair's local address (its port empty or the socket's) is where the
        datagrams leave from, as the source a remote sees: a server answers from the
        address a datagram was sent to, ``EndpointPair(args.local_address, "",
        args.remote_address, args.remote_port)``, which a connected client requires. It
        must be a unicast address of this host (a group's is refused, and a broadcast
        address fails each write).

        The stream is an :class:`~trio_sockets.OutputStream` whose every write is one
        datagram. ``write()`` raises ``MESSAGE_TOO_LONG`` at once for a datagram over
        the family's limit (65,507 bytes over IPv4, 65,527 over IPv6); a datagram the
        kernel refuses fails only its own :class:`~trio_sockets.WriteOperation` (a
        ``prohibit`` or ``blackhole`` route: ``UNREACHABLE_HOST``, saying so). Pending
        writes of one size, the last of a run maybe shorter, leave together in one
        ``sendmsg`` (UDP segmentation offload, up to 128 datagrams; 64 on Linux before
        6.9), each still its own datagram; any other write takes a system call of its
        own. :attr:`output_stream` behaves the same.

        Raises:
            TypeError / ValueError: a bad host name, service or endpoint pair (named); a
                link-local IPv6 literal: a local side without a ``%scope``, a remote without one
                (unless the local side has one) or with another scope than the local side's.
            RuntimeError: the socket was not entered with ``async with``, the pair has a
                local side and the socket is already bound elsewhere (to one address, or
                to another port), or ``control.multicast_only`` is set and the remote is
                not a multicast group.
            SocketStatusError: resolution failures, ``ADDRESS_FAMILY_NOT_SUPPORTED``
                when the remote has no address of a family the local side reaches (an
                IPv6 remote on a socket or endpoint pair bound to an IPv4 address, or the
                reverse), ``CANNOT_ASSIGN_REQUESTED_ADDRESS`` for a local address to send
                from that is no address of this host or a group's, or that routing
                refuses toward the remote (a loopback address toward another
                interface; the message names both); no stream is made.
        """
        self._lifecycle.check(Action.SEND_TO)
        self._require_nursery("get_output_stream()")
        stream = self._streams.by_name(remote_host_name, remote_service_name)
        if stream is not None:
            await trio.lowlevel.checkpoint()
            self._binding.last_destination = stream.destination
            return stream
        binding = self._binding
        what = "get_output_stream"
        with self._io_scope():
            host, service, local_host, local_service = split_remote(
                remote_host_name, remote_service_name, what
            )
            side = await binding.local_side(local_host, local_service, what, sending=True)
            sockaddr, family = await resolve_destination(
                self._resolver, host, service, side.families, binding.local_of(side), what
            )
            side = side.for_family(family)
            binding.check_may_send_to(sockaddr)
            with self._changing_phase(Action.SEND_TO, what):
                sock, target = binding.open_for_remote(side, (family, sockaddr), what)
            binding.last_destination = target
            stream = self._streams.get(target, side.source)
            if stream is None:
                stream = binding.new_stream(sock, target, side.source, self._get_nursery, what)
            self._streams.add(stream, remote_host_name, remote_service_name)
            return stream
        raise self._aborted(what)

    def _all_streams(self) -> list[DatagramOutputStream]:
        streams = self._streams.all()
        if self._output is not None:
            streams.insert(0, self._output)
        return streams

    # -- multicast -------------------------------------------------------------------------

    def join_multicast_group(self, host: HostName | str) -> None:
        """Receive the datagrams sent to a multicast group (WinRT ``JoinMulticastGroup``).

        *host* is the group's IP address (``"239.255.0.1"``, ``"ff02::1%eth0"``). IPv4
        groups are joined on ``control.multicast_interface``; IPv6 groups on the
        interface of the group's scope, else on ``control.multicast_interface``. A
        socket hears only the groups it joined itself. Bind first, to every address
        (:meth:`bind_service_name` without an adapter) or to the group's address, on
        the group's port: share it between several sockets with
        ``control.multicast_only``.

        Raises:
            TypeError / ValueError: *host* is not an IP address, or not a multicast one.
            RuntimeError: the socket is not bound yet, or is bound to another address
                than the group's (an adapter's): Linux delivers nothing of the group to
                it, unlike Windows.
            SocketStatusError: the kernel refused (``ADDRESS_ALREADY_IN_USE`` when
                already joined, ``ADDRESS_FAMILY_NOT_SUPPORTED`` for an IPv6 group on an
                IPv4 socket, ``CANNOT_ASSIGN_REQUESTED_ADDRESS`` when no interface is
                named and no route leads to the group...).
        """
        group = coerce_host_name(host, "host")
        sock = self.socket  # closed: ClosedResourceError before any advice on binding
        self._binding.check_hears_groups(group)
        set_membership(sock, self._binding.control, group, join=True, where=self._describe())

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
            self._binding.control,
            coerce_host_name(host, "host"),
            join=False,
            where=self._describe(),
        )

    # -- closing ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Send what was written, then close the socket (WinRT ``Close``). Idempotent.

        Closes ``message_received``: ``async for`` ends after the datagrams already in
        it. Raises the first write failure nobody saw (after closing), noting the others.

        Cancellation: the socket is closed at once, unsent writes fail with
        ``OPERATION_ABORTED``.
        """
        if self._lifecycle.closed:
            await trio.lowlevel.checkpoint()
            return
        streams = self._all_streams()
        failures = self._streams.take_lost()  # the earliest failure, if any
        try:
            for stream in streams:
                if not stream.closed:
                    try:
                        await stream.flush()
                    except OSError as error:  # raised below, once the socket is closed
                        failures.append(error)
            await trio.lowlevel.checkpoint()
        finally:
            self._close_now()
        if failures:
            raise self._streams.first_noting_the_others(failures)
        for stream in streams:
            stream.raise_unobserved()

    def _close_now(self) -> None:
        if not self._lifecycle.close():
            return
        for stream in self._all_streams():
            stream.abort(SocketErrorStatus.OPERATION_ABORTED, "the socket closed")
        self._cancel_io_scopes()  # a bind, connect or lookup under way ends now
        self._binding.close()
        self._receiver.close()

    # -- helpers ---------------------------------------------------------------------------

    def _pending_writes(self) -> list[DatagramOutputStream]:
        return self._all_streams()

    @staticmethod
    async def get_endpoint_pairs(
        remote_host_name: HostName | str,
        remote_service_name: str,
        sort_options: HostNameSortOptions = HostNameSortOptions.NONE,
        *,
        resolver: Resolver | None = None,
    ) -> list[EndpointPair]:
        """Resolve a remote host and UDP service into endpoint pairs, best first, as
        :meth:`StreamSocket.get_endpoint_pairs <trio_sockets.StreamSocket.get_endpoint_pairs>`
        does for TCP (static, as that one: pass *resolver*, a socket's is not used)."""
        return await endpoint_pairs(
            remote_host_name, remote_service_name, sort_options, resolver, "udp"
        )
