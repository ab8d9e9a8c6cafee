"""``StreamSocketListener``: a TCP server whose ConnectionReceived event is a channel."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import weakref
from typing import Final

import trio

from .._core.enums import SocketProtectionLevel
from .._core.errors import SocketErrorStatus, out_of_resources, socket_error
from .._core.hostname import HostName, coerce_host_name
from .._core.lifecycle import LISTENER, Action, Lifecycle, Phase
from .._core.sockaddr import unmapped
from .._io import sockio as _sockio
from .._io.connect import format_sockaddr
from .._io.resolver import Resolver, resolver_or_default
from .._io.scoped import AbortableIO, NurseryScoped
from .._io.system_lookups import adapter_host
from .._tls.context import check_protection_level
from .listener_binding import bound_address, listening_sockets, wildcard_addresses
from .listener_information import (
    ListenerRecord,
    StreamSocketListenerConnectionReceivedEventArgs,
    StreamSocketListenerInformation,
)
from .stream_control import (
    MAX_PENDING_HANDSHAKES,
    StreamSocketListenerControl,
    freeze_listener_options,
    tls_server_context,
)
from .stream_socket import (
    StreamSocket,
    accepted_socket,
    close_at_once,
    describe_socket,
    secure_accepted,
)

__all__ = [
    "StreamSocketListener",
    "StreamSocketListenerConnectionReceivedEventArgs",
    "StreamSocketListenerInformation",
]

#: Accepted connections that may wait in ``connection_received`` before the listener
#: stops accepting (the kernel's backlog holds the rest).
CONNECTION_QUEUE_SIZE: Final = 64
# After EMFILE/ENFILE/ENOBUFS/ENOMEM the accept loop waits this long before retrying,
# as trio.serve_listeners does, instead of spinning.
_RESOURCE_RETRY_DELAY: Final = 0.1
# An accept loop that runs out of descriptors says so here, once per shortage.
_LOGGER = logging.getLogger("trio_sockets.listener")


class StreamSocketListener(NurseryScoped, AbortableIO, trio.abc.Listener[StreamSocket]):
    """A TCP listener (WinRT ``StreamSocketListener``), also a :class:`trio.abc.Listener`.

    ``async with StreamSocketListener() as listener:`` then
    ``await listener.bind_service_name("1337")`` and take connections from
    ``async for args in listener.connection_received:`` (or ``await listener.accept()``,
    so ``trio.serve_listeners(handler, [listener])`` works). The channel exists from
    construction, so no connection can arrive before there is somewhere to put it. When
    :data:`CONNECTION_QUEUE_SIZE` connections wait unreceived, the listener stops
    accepting until the consumer catches up.

    Closing the listener stops accepting; sockets already received keep working.
    Connections accepted but never received are reset with it (their clients learn that
    they were never served, as from the kernel's backlog). So does closing every
    handle of ``connection_received`` (clones included: nobody can receive a
    connection any more): the listener then closes and logs a warning, so that clients
    are refused rather than left waiting in the backlog.

    Out of file descriptors, the listener accepts again every 0.1 s until some are free;
    each failed accept is counted in ``information.accept_failures`` (its error in
    ``last_accept_error``), and the first of each shortage is logged as an error to the
    ``"trio_sockets.listener"`` logger.
    """

    def __init__(self, *, resolver: Resolver | None = None) -> None:
        self._resolver = resolver_or_default(resolver)
        self._init_scope()
        self._init_io()
        self._socks: list[socket.socket] = []
        self._where: str | None = None  # the addresses listened on, for messages
        self._lifecycle = Lifecycle(LISTENER)
        self._record = ListenerRecord()
        self._send_channel, self.connection_received = trio.open_memory_channel[
            StreamSocketListenerConnectionReceivedEventArgs
        ](CONNECTION_QUEUE_SIZE)
        self._accept_loops = 0
        self._tls_context: ssl.SSLContext | None = None
        # Slots of handshakes running or handshaken connections not yet delivered: a
        # consumer that falls behind holds the accept loop back, with TLS as without.
        self._handshakes = trio.Semaphore(MAX_PENDING_HANDSHAKES)
        self._in_handshake: set[StreamSocket] = set()  # closed with the listener
        # Handshakes running per peer (see _peer_of), for max_tls_handshakes_per_address.
        self._handshakes_by_peer: dict[str, int] = {}
        self._control = StreamSocketListenerControl(self._describe)
        self._information = StreamSocketListenerInformation(self._record)
        listener = weakref.ref(self)  # the args hold it; no reference cycle

        def untaken(accepted: StreamSocket) -> None:
            close_at_once(accepted)
            this = listener()
            if (
                this is not None
                and not this._lifecycle.closed
                and this._send_channel.statistics().open_receive_channels == 0
                and trio.lowlevel.in_trio_run()  # not a collection in another thread
            ):
                this._nobody_receives()

        # Closes a connection whose args were dropped before anyone took its socket:
        # trio's channel drops what it holds when its last handle closes.
        self._untaken = untaken

    connection_received: trio.MemoryReceiveChannel[StreamSocketListenerConnectionReceivedEventArgs]
    """The ConnectionReceived event: one args object per accepted connection."""

    @property
    def control(self) -> StreamSocketListenerControl:
        return self._control

    @property
    def information(self) -> StreamSocketListenerInformation:
        return self._information

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening stdlib sockets (one per address family bound)."""
        return list(self._socks)

    def _is_closed(self) -> bool:
        return self._lifecycle.closed

    def _describe(self) -> str:
        closed = " (closed)" if self._lifecycle.closed else ""
        if self._where is None:
            return f"StreamSocketListener{closed}"
        return f"StreamSocketListener on {self._where}{closed}"

    def __repr__(self) -> str:
        return f"<{self._describe()}>"

    # -- binding -------------------------------------------------------------------------

    async def bind_service_name(
        self,
        local_service_name: str,
        protection_level: SocketProtectionLevel = SocketProtectionLevel.PLAIN_SOCKET,
        adapter: HostName | str | None = None,
    ) -> None:
        """Listen on every local address, IPv4 and IPv6, on one port (WinRT
        ``BindServiceNameAsync``).

        *local_service_name* is a port (``""`` or ``"0"``: any free port, then read
        ``information.local_port``) or a name from the services database. *adapter*
        stands in for a Windows ``NetworkAdapter``: a local interface address to listen
        on instead of all of them.

        A TLS *protection_level* (``SSL``, ``UNSPECIFIED`` or ``TLS10`` ... ``TLS13``;
        WinRT listeners have no server-side TLS) makes a TLS server: set
        ``control.server_certificate`` first (and ``client_certificate_required`` to
        demand client certificates). Each accepted connection completes its handshake
        (within ``control.tls_handshake_timeout``) before it is delivered; one that
        fails is closed and counted in ``information.tls_handshake_failures``, and so
        is one silent past ``control.tls_hello_timeout`` (for its ClientHello, or for
        its answer to the server's handshake messages) or from a peer already running
        ``control.max_tls_handshakes_per_address`` handshakes.

        Raises:
            TypeError / ValueError: a bad service name, protection level or adapter, or a
                TLS level without ``control.server_certificate``.
            RuntimeError: already bound, or not entered with ``async with``.
            SocketStatusError: ``ADDRESS_ALREADY_IN_USE`` and other bind failures.
        """
        if adapter is not None:
            await self.bind_endpoint(adapter_host(adapter), local_service_name, protection_level)
            return
        self._set_protection(protection_level)
        await self._bind(None, local_service_name)

    def _set_protection(self, protection_level: SocketProtectionLevel) -> None:
        level = check_protection_level(protection_level)
        lifecycle = self._lifecycle
        if lifecycle.phase is not Phase.NEW or lifecycle.changing is not None:
            return  # _bind says what is wrong
        self._tls_context = (
            None
            if level == SocketProtectionLevel.PLAIN_SOCKET
            else tls_server_context(self._control, level)
        )
        self._record.protection_level = level

    async def bind_endpoint(
        self,
        local_host_name: HostName | str | None,
        local_service_name: str,
        protection_level: SocketProtectionLevel = SocketProtectionLevel.PLAIN_SOCKET,
    ) -> None:
        """Listen on one local address (WinRT ``BindEndpointAsync``).

        ``None`` as the host means every local address, like :meth:`bind_service_name`.
        A host name that resolves to several addresses (``"localhost"``) is listened on
        at each of them, on one port. For ``"0"`` that is a port free at each: when the
        port the system chose for the first address is in use at another, the bind
        starts again with a new one, up to 16 times.

        Raises:
            TypeError / ValueError: a bad host or service name; a link-local IPv6
                address without a ``%scope`` (``fe80::1%eth0``).
            RuntimeError: already bound, or not entered with ``async with``.
            SocketStatusError: ``ADDRESS_ALREADY_IN_USE`` (for ``"0"``: each port
                tried was in use at one of the addresses, and the message says so),
                ``CANNOT_ASSIGN_REQUESTED_ADDRESS`` and other bind failures.
        """
        host = (
            None
            if local_host_name is None
            else coerce_host_name(local_host_name, "local_host_name")
        )
        self._set_protection(protection_level)
        await self._bind(host, local_service_name)

    async def _bind(self, host: HostName | None, service: str) -> None:
        lifecycle = self._lifecycle
        if lifecycle.phase is Phase.BOUND or lifecycle.changing is Action.BIND:
            # A RuntimeError also while the first bind runs (not trio.BusyResourceError):
            # a second bind is wrong whether or not the first one has finished.
            raise RuntimeError(
                f"{self._describe()} is already bound; WinRT fixes a listener's port at its "
                "first bind"
            )
        lifecycle.check(Action.BIND)
        nursery = self._require_nursery("bind_service_name() / bind_endpoint()")
        lifecycle.begin(Action.BIND)
        try:
            port = await self._resolver.resolve_port(service, "tcp", local=True)
            if host is None:
                targets = wildcard_addresses(port)
            else:
                targets = await self._resolver.resolve_addresses(host, port, "tcp", passive=True)
            socks = listening_sockets(targets, port, self._control)
        except BaseException:
            lifecycle.abandon(Action.BIND)
            raise
        try:
            lifecycle.finish(Action.BIND)
        except trio.ClosedResourceError:  # closed while resolving
            for sock in socks:
                sock.close()
            raise
        self._socks = socks
        addresses = [format_sockaddr(bound_address(sock)) for sock in socks]
        self._where = ", ".join(addresses)
        self._record.port = socks[0].getsockname()[1]
        freeze_listener_options(self._control)
        for sock, address in zip(socks, addresses, strict=True):
            self._accept_loops += 1
            nursery.start_soon(
                self._accept_loop, sock, address, name=f"accept loop of {self._describe()}"
            )

    # -- accepting ---------------------------------------------------------------------

    @trio.lowlevel.enable_ki_protection
    async def _accept_loop(self, sock: socket.socket, local: str) -> None:
        where = f"accept on {local}"
        short = False  # the last accept ran out of descriptors
        try:
            while True:
                try:
                    conn, address = await _sockio.accept(sock)
                except trio.ClosedResourceError:
                    return
                except OSError as exc:
                    if exc.errno in _sockio.ACCEPT_TRANSIENT_ERRNOS:
                        continue
                    shortage = out_of_resources(exc, where)
                    if shortage is None:
                        raise  # pragma: no cover - an accept() failure no listener survives
                    self._accept_failed(shortage, first=not short)
                    short = True
                    await trio.sleep(_RESOURCE_RETRY_DELAY)
                    continue
                short = False
                try:
                    accepted = accepted_socket(conn, address, self._control)
                except OSError:  # pragma: no cover - getsockname() of a socket just accepted
                    conn.close()
                    continue
                if self._tls_context is not None:
                    if not await self._start_handshake(accepted, self._tls_context, address):
                        return
                    continue
                if not await self._deliver(accepted):
                    return
        finally:
            self._done_delivering()

    def _accept_failed(self, shortage: OSError, *, first: bool) -> None:
        """Count an accept that ran out of descriptors; log the *first* of a shortage."""
        self._record.accept_failed(shortage)
        if first:
            _LOGGER.error(
                "%s; accepting again every %g s, connections wait in the kernel's backlog",
                shortage,
                _RESOURCE_RETRY_DELAY,
            )

    def _done_delivering(self) -> None:
        self._accept_loops -= 1
        if self._accept_loops == 0:
            self._send_channel.close()

    async def _deliver(self, accepted: StreamSocket) -> bool:
        """Hand *accepted* to ``connection_received``; False once the listener closed.

        Not a checkpoint while the channel has room: the accept before it was one, and
        a second would make every connection cost the loop another scheduler pass.
        """
        args = StreamSocketListenerConnectionReceivedEventArgs(accepted, self._untaken)
        try:
            try:
                self._send_channel.send_nowait(args)
            except trio.WouldBlock:
                await self._send_channel.send(args)
        except trio.ClosedResourceError:
            close_at_once(accepted)
            return False
        except trio.BrokenResourceError:
            close_at_once(accepted)
            self._nobody_receives()
            return False
        except BaseException:
            close_at_once(accepted)
            raise
        return True

    def _nobody_receives(self) -> None:
        """Every handle of ``connection_received`` is closed: close, so that clients are
        refused rather than left waiting in the backlog."""
        _LOGGER.warning(
            "%s: every handle of connection_received was closed; the listener closes",
            self._describe(),
        )
        self._close_now()

    async def _start_handshake(
        self, accepted: StreamSocket, context: ssl.SSLContext, address: tuple[object, ...]
    ) -> bool:
        """Give *accepted* a handshake slot and a task; False once the listener closed.

        A peer that already runs (or waits to run) its ``max_tls_handshakes_per_address``
        is refused at once: one address must not take every slot. *accepted* is closed
        unless the handshake task took it.
        """
        peer = _peer_of(address)
        running = self._handshakes_by_peer.get(peer, 0)
        limit = self._control.max_tls_handshakes_per_address
        if running >= limit:
            self._record.handshake_failed(
                socket_error(
                    SocketErrorStatus.CONNECTION_REFUSED,
                    f"TLS handshake of {describe_socket(accepted)}: refused, {peer} already "
                    f"runs {running} (control.max_tls_handshakes_per_address={limit})",
                )
            )
            close_at_once(accepted)
            return True
        # Counted before the wait for a slot, so that two accept loops (one per bound
        # address) cannot both let a peer past its limit.
        self._handshakes_by_peer[peer] = running + 1
        try:
            await self._handshakes.acquire()
        except BaseException:  # the listener closed while every slot was taken
            self._peer_done(peer)
            close_at_once(accepted)
            raise
        nursery = self._nursery
        if self._lifecycle.closed or not isinstance(nursery, trio.Nursery):
            self._peer_done(peer)
            close_at_once(accepted)
            self._handshakes.release()
            return False
        self._accept_loops += 1  # the handshake task delivers, then counts down
        self._in_handshake.add(accepted)
        nursery.start_soon(self._handshake_then_deliver, accepted, context, peer)
        return True

    @trio.lowlevel.enable_ki_protection
    async def _handshake_then_deliver(
        self, accepted: StreamSocket, context: ssl.SSLContext, peer: str
    ) -> None:
        """Handshake, then deliver; the slot is held until the connection is delivered
        (or dropped), so that undelivered connections stay bounded."""
        try:
            try:
                await secure_accepted(accepted, context, self._control.tls_hello_timeout)
            except (OSError, trio.ClosedResourceError) as exc:
                if isinstance(exc, OSError) and not self._lifecycle.closed:  # else the
                    self._record.handshake_failed(exc)  # listener's close ended it
                close_at_once(accepted, graceful=True)
                return
            except BaseException:
                close_at_once(accepted, graceful=True)
                raise
            finally:
                self._in_handshake.discard(accepted)
                self._peer_done(peer)
            await self._deliver(accepted)
        finally:
            self._handshakes.release()
            self._done_delivering()

    def _peer_done(self, peer: str) -> None:
        left = self._handshakes_by_peer.pop(peer) - 1
        if left:
            self._handshakes_by_peer[peer] = left

    async def accept(self) -> StreamSocket:
        """Wait for the next connection (``trio.abc.Listener.accept``).

        Raises:
            trio.ClosedResourceError: the listener is closed (or was never bound and
                then closed).

        Cancellation: no connection is taken from the queue.
        """
        if self._lifecycle.closed:
            raise trio.ClosedResourceError("this StreamSocketListener is closed")
        try:
            args = await self.connection_received.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            if self._lifecycle.closed:
                raise trio.ClosedResourceError("this StreamSocketListener is closed") from None
            raise trio.ClosedResourceError(
                "this StreamSocketListener's connection_received was closed, "
                "which accept() receives from"
            ) from None
        return args.socket

    # -- closing -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop listening (WinRT ``Close``); idempotent. Received sockets stay open."""
        self._close_now()
        await trio.lowlevel.checkpoint()

    def _close_now(self) -> None:
        if not self._lifecycle.close():
            return
        for sock in self._socks:
            _sockio.close_socket(sock)
        # Handshakes under way end at once (their tasks then see a closed socket).
        for accepted in list(self._in_handshake):
            close_at_once(accepted)
        # A loop blocked on a full channel then gets ClosedResourceError and closes the
        # connection it holds.
        self._send_channel.close()
        # Connections accepted but never received have no owner: reset them.
        while True:
            try:
                args = self.connection_received.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            close_at_once(args.socket)


def _peer_of(sockaddr: tuple[object, ...]) -> str:
    """Who a connection comes from, for the handshake limit per peer: the IPv4
    address (also when IPv4-mapped), or the IPv6 /64, which one host usually has whole."""
    address = ipaddress.ip_address(unmapped(str(sockaddr[0])).partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
