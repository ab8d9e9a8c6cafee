"""``StreamSocket``: a TCP connection, WinRT-shaped and a trio ``HalfCloseableStream``."""

from __future__ import annotations

import socket
import ssl
from typing import overload

import trio

from .._core.checks import check_int
from .._core.endpoint import EndpointPair
from .._core.enums import HostNameSortOptions, InputStreamOptions, SocketProtectionLevel
from .._core.errors import SocketErrorStatus
from .._core.hostname import HostName
from .._core.lifecycle import STREAM_SOCKET, Action, Lifecycle
from .._data.interfaces import InputStream
from .._io import sockio as _sockio
from .._io.addresses import endpoint_pairs
from .._io.output import BaseOutputStream
from .._io.resolver import Resolver, SockAddr, check_resolver
from .._io.scoped import IO_FIELDS, SCOPE_FIELDS, AbortableIO, NurseryScoped
from .._tls.session import TlsSession
from .stream_control import CONNECT_DEFAULTS, StreamSocketControl, StreamSocketListenerControl
from .stream_information import NOT_CONNECTED, StreamSocketInformation
from .stream_open import (
    Hooks,
    NoLevel,
    Opened,
    accepted_connection,
    client_tls,
    connect_target,
    open_connection,
    refuse_upgrade,
    server_session,
    upgrade_session,
    upgrade_target,
)
from .stream_receive import DEFAULT_RECEIVE_SIZE, SocketInputStream, StreamReceiver
from .stream_send import StreamSending

__all__ = ["StreamSocket", "accepted_socket", "close_at_once", "describe_socket", "secure_accepted"]

# The class has a ``socket`` property, which hides the module in class-scope annotations.
_StdSocket = socket.socket


class StreamSocket(NurseryScoped, AbortableIO, StreamSending, trio.abc.HalfCloseableStream):
    """A TCP client or accepted connection (WinRT ``StreamSocket``).

    Use it as ``async with StreamSocket() as sock:``; the block owns the socket's
    background work (the writer that drives un-awaited writes) and closes the socket
    when it ends, after flushing what was written. It is also a
    :class:`trio.abc.HalfCloseableStream` whose ``send_all`` / ``receive_some`` /
    ``send_eof`` / ``aclose`` work whether or not the socket was entered, and so do
    awaited writes and ``flush()`` on its ``output_stream``: the awaiting task sends.
    """

    # Slots, not a dict: a server holds one per connection (see the memory figures in
    # the performance docs).
    __slots__ = (
        *SCOPE_FIELDS,
        *IO_FIELDS,
        "_connection",
        "_control",
        "_control_from",
        "_information",
        "_input",
        "_lifecycle",
        "_output",
        "_receiver",
        "_resolver",
        "_send_conflict",
        "_sock",
        "_tls",
        "_tls_tried",
    )
    # Its one background task, the writer, is needed only when the kernel does not take
    # an unawaited write at once: the block starts it then, and opens no nursery.
    _tasks_on_demand = True

    def __init__(self, *, resolver: Resolver | None = None) -> None:
        # None: a Resolver() made by each connect that needs one (an accepted socket,
        # or one connected to an address, needs none).
        self._resolver = check_resolver(resolver)
        self._init_scope()
        self._sock: _StdSocket | None = None
        self._lifecycle = Lifecycle(STREAM_SOCKET)
        self._connection = NOT_CONNECTED  # replaced by a record when connected
        # Everything else is made on first use: the streams, the information object,
        # the receiving side (once connected), the send-conflict detector.
        self._output = None
        self._input: SocketInputStream | None = None
        self._information: StreamSocketInformation | None = None
        self._receiver: StreamReceiver | None = None
        self._send_conflict = None
        # The TLS session in force (the receiver has it too), and the last one tried
        # (whose report information shows, also after a failed handshake).
        self._tls = None
        self._tls_tried: TlsSession | None = None
        self._init_io()
        # The control too; it starts with the values of _control_from when set: for an
        # accepted socket its listener's options (fixed once the listener is bound), for
        # a client that connected without one the defaults that connect used.
        self._control: StreamSocketControl | None = None
        self._control_from: StreamSocketListenerControl | StreamSocketControl | None = None

    # -- properties --------------------------------------------------------------------

    @property
    def control(self) -> StreamSocketControl:
        """Socket options (WinRT ``StreamSocketControl``); set them before ``connect``."""
        control = self._control
        if control is None:
            control = StreamSocketControl(self._describe, self._live_socket, self._control_from)
            self._control = control
        return control

    @property
    def information(self) -> StreamSocketInformation:
        information = self._information
        if information is None:
            information = self._information = StreamSocketInformation(
                lambda: self._connection, lambda: self._tls_tried, self._live_socket
            )
        return information

    @property
    def input_stream(self) -> InputStream:
        stream = self._input
        if stream is None:
            stream = SocketInputStream(self._read, self._current_receiver)
            self._input = stream
        return stream

    @property
    def socket(self) -> _StdSocket:
        """The underlying non-blocking stdlib socket, for options this API lacks.

        Raises:
            RuntimeError: not connected.
            trio.ClosedResourceError: closed.
        """
        return self._require_socket("socket")

    def __repr__(self) -> str:
        return f"<{self._describe()}>"

    def _describe(self) -> str:
        return self._connection.describe(self._lifecycle)

    def _live_socket(self) -> _StdSocket | None:
        return self._sock

    # -- connecting ----------------------------------------------------------------------

    @overload
    async def connect(
        self,
        remote_host_name: HostName | str,
        remote_service_name: str,
        protection_level: SocketProtectionLevel = SocketProtectionLevel.PLAIN_SOCKET,
    ) -> None: ...

    @overload
    async def connect(
        self,
        endpoint_pair: EndpointPair,
        protection_level: SocketProtectionLevel = SocketProtectionLevel.PLAIN_SOCKET,
        /,
    ) -> None: ...

    async def connect(
        self,
        remote_host_name: HostName | str | EndpointPair,
        remote_service_name: str | SocketProtectionLevel | None = None,
        protection_level: SocketProtectionLevel | NoLevel = NoLevel.NOT_GIVEN,
    ) -> None:
        """Connect to a remote host and service (WinRT ``ConnectAsync``).

        Either ``connect(HostName("example.com"), "443")`` or ``connect(EndpointPair(...))``,
        whose local side, when given, is bound first; *protection_level* follows either, after a
        pair only positionally. The service is a port, a name in the services database, or else a
        DNS SRV service (``_service._tcp.host``) whose targets are tried in RFC 2782 order, each
        only when the one before failed. Host names are resolved by the socket's resolver and every
        address of a target is tried with happy eyeballs (RFC 8305). ``control.connect_timeout``
        bounds the whole attempt, resolution and TLS handshake included.

        *protection_level* other than ``PLAIN_SOCKET`` makes it a TLS connection: ``SSL``
        or ``UNSPECIFIED`` negotiate the best version both sides have, ``TLS10`` ...
        ``TLS13`` pin one. The server certificate is verified against the system's roots
        (plus ``control.trusted_certificates``) and the host name, except for the errors
        in ``control.ignorable_server_certificate_errors``; ``control.client_certificate``
        is offered when the server asks; ``control.tls_handshake_timeout`` bounds the
        handshake. Afterwards ``information`` tells the version in force, the server
        certificate and every error found with it -- after a failure too.

        A failed connect leaves the socket usable for another ``connect``.

        Raises:
            TypeError / ValueError: a bad host name, service, endpoint pair or level (named); a
                pair with two levels (both named); a link-local IPv6 literal (local or remote)
                without a ``%scope`` (a remote takes the local side's) or on another link.
            RuntimeError: the socket is already connected.
            trio.BusyResourceError: another task is connecting this socket.
            trio.ClosedResourceError: the socket was closed before the call.
            SocketStatusError: the connection failed (``CONNECTION_REFUSED``,
                ``HOST_NOT_FOUND``, ``NO_ADDRESSES_FOUND``, …), the server certificate
                was not accepted (``CERTIFICATE_*``), or ``cancel_io()`` or closing the
                socket aborted it (``OPERATION_ABORTED``; after a close it is also a
                :class:`trio.ClosedResourceError`).
            WindowsOnlyError: a Bluetooth protection level.

        Cancellation: no connection is left half made; the socket can connect again.
        """
        target = connect_target(remote_host_name, remote_service_name, protection_level)
        if self._control is None:
            # A control made from now on starts with the defaults this connect uses, and
            # with its connect options fixed.
            self._control_from = CONNECT_DEFAULTS
        opened = await open_connection(
            target, self._lifecycle, lambda: self._control, self._resolver, self._hooks()
        )
        self._attach(opened)

    async def upgrade_to_ssl(
        self,
        protection_level: SocketProtectionLevel,
        validation_host_name: HostName | str | None = None,
    ) -> None:
        """Start TLS on a connected plain socket (WinRT ``UpgradeToSslAsync``, STARTTLS).

        Writes already started are sent first, in plain text. The server certificate is
        verified for *validation_host_name* (default: the host given to ``connect``),
        with the same ``control`` settings as a TLS ``connect``.

        Raises:
            TypeError / ValueError: a bad level (``PLAIN_SOCKET`` included) or host name.
            RuntimeError: not connected, already TLS, a socket accepted by a listener
                (as in WinRT, only the client side upgrades), or received plain text is
                still waiting unread -- the handshake would swallow it, so read it
                first (the data-loss trap of CPython issue 142352).
            trio.BusyResourceError: another task is receiving or sending. Meanwhile
                writes from other tasks raise it too (they would go out in plain text).
            SocketStatusError: the handshake failed (classified as for ``connect``);
                the socket is then closed, as a half-made TLS session cannot go on.
        """
        level, host = upgrade_target(
            protection_level, validation_host_name, self._connection.remote_host_name
        )
        self._lifecycle.check(Action.UPGRADE)
        sock = self._require_socket("upgrade_to_ssl()")
        receiver = self._receiving("upgrade_to_ssl()")
        sending = self._sending()
        busy = receiver.conflict.held or sending.held
        unread = receiver.unread()
        refuse_upgrade(self._describe(), sock, self._tls, self._connection.accepted, busy, unread)
        tls = client_tls(self.control, level)
        output = self._require_output("upgrade_to_ssl()")
        output.refuse_writes(
            "upgrade_to_ssl() is under way in another task, and a write now would go out "
            "in plain text; write once it has returned"
        )
        # A closed stream object (the socket open) refuses flush(), but may still hold
        # a cancelled send_all's rest: drain sends that.
        flush = output.drain if output.closed else output.flush
        try:
            with sending, receiver.conflict:
                session = await upgrade_session(
                    sock, tls, host, flush, receiver.unread, self._hooks()
                )
        finally:
            output.refuse_writes(None)
        self._use_tls(session)

    def _hooks(self) -> Hooks:
        return Hooks(self._io_scope, self._aborted, self._tried, self._describe, self._close_now)

    def _tried(self, session: TlsSession) -> None:
        self._tls_tried = session  # its report is what information shows

    def _use_tls(self, session: TlsSession) -> None:
        self._tls = session
        if self._receiver is not None:
            self._receiver.session = session
        plain, self._output = self._output, None  # the next use makes a TLS output stream
        if plain is not None and self._sock is not None:
            # Whoever holds the plain-text stream (a DataWriter made before a STARTTLS)
            # writes through TLS from now on, as WinRT's one OutputStream does.
            plain.hand_over(self._make_output(self._sock))

    def _attach(self, opened: Opened) -> None:
        """Take *opened* as this socket's connection."""
        self._sock = opened.sock
        self._connection = opened.connection
        # The receiving side and the output stream are made on first use (_receiving, _make_output).
        self._output = None
        if opened.session is not None:
            self._use_tls(opened.session)
        else:
            # A plain connection reports no earlier server's certificate or errors.
            self._tls_tried = None

    @staticmethod
    async def get_endpoint_pairs(
        remote_host_name: HostName | str,
        remote_service_name: str,
        sort_options: HostNameSortOptions = HostNameSortOptions.NONE,
        *,
        resolver: Resolver | None = None,
    ) -> list[EndpointPair]:
        """Resolve a remote host and service into endpoint pairs, best first.

        One pair per address of each target (for a DNS SRV service, the targets in RFC
        2782 order; a target that does not resolve is left out), in the resolver's order;
        the local side is the address the system would send from, found with a connected
        UDP socket (no packet is sent), and local service ``""``. With one route per family there is
        nothing for ``OPTIMIZE_FOR_LONG_CONNECTIONS`` to reorder.

        Static, as WinRT's ``GetEndpointPairsAsync``: called on a socket, it does not use
        that socket's ``resolver=``; pass *resolver* (a :class:`~trio_sockets.Resolver`).
        """
        return await endpoint_pairs(
            remote_host_name, remote_service_name, sort_options, resolver, "tcp"
        )

    # -- trio Stream methods ---------------------------------------------------------------

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Receive at most *max_bytes* (default 64 KiB); ``b""`` at end of stream.

        Any size of 1 or more is valid; one call returns at most 4 MiB
        (``MAX_RECEIVE_SIZE``) however large *max_bytes* is.

        Raises:
            TypeError / ValueError: *max_bytes* is not an int (a bool included), or is
                less than 1; the message names the value.
            trio.BusyResourceError: another task is receiving.
            trio.ClosedResourceError: the socket was closed, before the call or by
                another task during it.
            SocketStatusError: the connection failed (also a
                :class:`trio.BrokenResourceError`), or ``cancel_io()`` aborted the
                receive (``OPERATION_ABORTED``).

        Cancellation: nothing is received (bytes it returns are never lost to a
        cancellation); the socket stays usable.
        """
        if max_bytes is None:
            max_bytes = DEFAULT_RECEIVE_SIZE
        else:
            check_int("max_bytes", max_bytes, 1)
        receiver = self._receiver
        if receiver is None:
            receiver = self._receiving("receive_some()")
        return await receiver.receive_some(max_bytes)

    async def _read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        receiver = self._receiver
        if receiver is None:
            receiver = self._receiving("input_stream.read()")
        return await receiver.read(count, options)

    def _current_receiver(self) -> StreamReceiver | None:
        return self._receiver

    def _receiving(self, what: str) -> StreamReceiver:
        """The receiving side, made on first use (*what*: the operation, for errors)."""
        receiver = self._receiver
        if receiver is None:
            sock = self._require_socket(what)
            receiver = StreamReceiver(
                sock, self._io_scope_list(), self._io_scope_done, self._aborted, self._describe
            )
            receiver.session = self._tls
            self._receiver = receiver
            if self._input is not None:
                self._input.bind(receiver)
        return receiver

    # -- closing ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Send what was written, then close the socket (WinRT ``Close``). Idempotent.

        Operations other tasks have under way on the socket -- a ``connect`` included
        -- fail with ``OPERATION_ABORTED`` (a :class:`trio.ClosedResourceError` too),
        and have ended, releasing what they held, when this returns. A send under way
        (another task in ``send_all``, an awaited write or ``flush``) is one of them:
        then the socket closes at once and what was pending fails with it, as with
        trio's streams. Otherwise the unawaited writes are sent first, for as long as
        the peer takes them; a peer that reads nothing holds this until it is cancelled.

        Raises a write failure nobody has seen yet (after closing), unless it aborted a
        send under way, or waited for another task's close under way, which raises it.
        Cancellation: the socket is closed at once (``trio.aclose_forcefully``); unsent writes
        fail as ``OPERATION_ABORTED``, which a close that waited for this one raises.
        """
        if self._lifecycle.closed:
            await trio.lowlevel.checkpoint()
            return
        output = self._output
        flushed = True
        try:
            if output is not None:
                flushed = await output.finish()
            else:
                await trio.lowlevel.checkpoint()
            if self._tls is not None and flushed:
                await self._tls.close_notify()
        finally:
            self._close_now()
        # A connect or receive in another task that the close aborted ends at its next
        # step: once it has, everything it held is released too.
        await self._wait_io_idle()
        if output is not None:
            output.raise_after_close(flushed)

    def _close_now(self) -> None:
        if not self._lifecycle.close():
            return
        if self._output is not None:
            output = self._output
            if (output.pending_bytes or output.broken) and self._sock is not None:
                # Writes the peer will never get, or one it got part of: reset the
                # connection, as WinRT does, so that it sees an error, not an end of
                # stream that looks complete.
                _sockio.reset_on_close(self._sock)
            self._output.abort(
                SocketErrorStatus.OPERATION_ABORTED, "the socket closed", closed=True
            )
        # A connect under way has no socket here yet: its scope is how it learns.
        self._cancel_io_scopes()
        if self._sock is not None:
            _sockio.close_socket(self._sock)
        if self._receiver is not None:
            self._receiver.discard()
            self._receiver = None  # receiving now says the socket is closed
            if self._input is not None:
                self._input.bind(None)

    def _is_closed(self) -> bool:
        return self._lifecycle.closed

    def _pending_writes(self) -> list[BaseOutputStream]:
        return [] if self._output is None else [self._output]

    def _require_socket(self, what: str) -> _StdSocket:
        if self._lifecycle.closed or self._sock is None:
            raise self._not_connected(what)
        return self._sock

    def _not_connected(self, what: str) -> Exception:
        """What *what* raises on a socket that is closed or was never connected."""
        if self._lifecycle.closed:
            return trio.ClosedResourceError(f"{what}: {self._describe()} is closed")
        return RuntimeError(f"{what}: {self._describe()} is not connected")


# -- what a listener does with the sockets it accepts ------------------------------------


def accepted_socket(
    conn: _StdSocket, remote: SockAddr, control: StreamSocketListenerControl
) -> StreamSocket:
    """A connected StreamSocket for *conn*, which a listener with *control* accepted from
    *remote* (no resolver: it never connects). Raises what :func:`accepted_connection` does."""
    opened = accepted_connection(conn, remote)
    sock = StreamSocket()
    sock._control_from = control
    sock._lifecycle.begin(Action.CONNECT)
    sock._lifecycle.finish(Action.CONNECT)
    sock._attach(opened)
    return sock


async def secure_accepted(
    sock: StreamSocket, context: ssl.SSLContext, hello_timeout: float | None
) -> None:
    """The server side of a TLS listener: the handshake (:func:`server_session`; *hello_timeout*
    is the listener's ``control.tls_hello_timeout``), then *sock* speaks TLS."""
    raw = sock._require_socket(f"TLS handshake of {sock._describe()}")
    timeouts = (hello_timeout, sock.control.tls_handshake_timeout)
    sock._use_tls(await server_session(raw, context, timeouts, sock._hooks()))


def close_at_once(sock: StreamSocket, *, graceful: bool = False) -> None:
    """Close *sock*, which a listener accepted and drops, now, failing what is pending: with
    a reset, so that its peer learns it was never served (an end of stream reads as an empty
    answer); *graceful* after a failed TLS handshake, for its alert to reach the peer."""
    if not graceful and sock._sock is not None:
        _sockio.reset_on_close(sock._sock)
    sock._close_now()


def describe_socket(sock: StreamSocket) -> str:
    """*sock* as messages name it."""
    return sock._describe()
