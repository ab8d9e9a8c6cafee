"""``StreamSocket``: a TCP connection, WinRT-shaped and a trio ``HalfCloseableStream``."""

from __future__ import annotations

import socket
import ssl
from typing import overload

import trio

from .._core.checks import check_int, describe
from .._core.codec import check_count
from .._core.enums import (
    HostNameSortOptions,
    InputStreamOptions,
    SocketProtectionLevel,
)
from .._core.errors import SocketErrorStatus, SocketStatusError, socket_error, translate_os_error
from .._core.hostname import EndpointPair, HostName, split_remote
from .._core.tcp_info import (
    TCP_INFO_SIZE,
    TcpInfo,
    parse_tcp_info,
)
from .._io import sockio as _sockio
from .._io.addresses import endpoint_pairs, host_of, of_reachable_family
from .._io.connect import connect_first, format_sockaddr
from .._io.resolver import (
    Resolver,
    ServiceTarget,
    SockAddr,
    all_targets_failed,
    resolver_or_default,
)
from .._io.scoped import AbortableIO, NurseryScoped
from .._io.stream_output import StreamOutputStream
from .._tls import session as _stream_tls
from .._tls.context import (
    SocketTransport,
    TlsReport,
    check_protection_level,
    client_context,
)
from .._tls.output import TlsOutputStream
from .stream_control import StreamSocketControl, StreamSocketListenerControl
from .stream_parts import SocketInputStream, StreamSocketInformation

__all__ = ["StreamSocket"]

# The class has a ``socket`` property, which hides the module in class-scope annotations.
_StdSocket = socket.socket

#: ``receive_some()`` without a size asks the kernel for at most this many bytes.
DEFAULT_RECEIVE_SIZE = 65536
#: One receive asks the kernel (or the TLS layer) for at most this many bytes, whatever
#: size the caller gave: Python allocates the whole size up front, so
#: ``receive_some(2**45)`` would fail with an empty MemoryError.
MAX_RECEIVE_SIZE = 4 * 1024 * 1024

_NEW, _CONNECTING, _CONNECTED, _CLOSED = "new", "connecting", "connected", "closed"

# What a socket that never did a TLS handshake reports (shared, never changed).
_PLAIN = TlsReport()


class StreamSocket(NurseryScoped, AbortableIO, trio.abc.HalfCloseableStream):
    """A TCP client or accepted connection (WinRT ``StreamSocket``).

    Use it as ``async with StreamSocket() as sock:``; the block owns the socket's
    background work (the writer that drives un-awaited writes) and closes the socket
    when it ends, after flushing what was written. It is also a
    :class:`trio.abc.HalfCloseableStream` whose ``send_all`` / ``receive_some`` /
    ``send_eof`` / ``aclose`` work whether or not the socket was entered, and so do
    awaited writes and ``flush()`` on its ``output_stream``: the awaiting task sends.
    """

    def __init__(self, *, resolver: Resolver | None = None) -> None:
        self._resolver = resolver_or_default(resolver)
        self._init_scope()
        self._sock: _StdSocket | None = None
        self._state = _NEW
        self._family: socket.AddressFamily | None = None
        self._local: SockAddr | None = None
        self._remote: SockAddr | None = None
        self._remote_host_name: HostName | None = None
        self._remote_service_name = ""
        # The streams and the information object are made on first use: an idle
        # connection holds only what it needs (see the memory figures in the docs).
        self._output: StreamOutputStream | None = None
        self._input: SocketInputStream | None = None
        self._information: StreamSocketInformation | None = None
        self._recv_buffer = bytearray()
        self._receiving = False
        self._sending = False
        self._tls: trio.SSLStream[SocketTransport] | None = None
        self._tls_report = _PLAIN  # replaced by a fresh report for each handshake
        self._tls_eof = False
        self._init_io()
        # Made on first use too; for an accepted socket, from its listener's options
        # (fixed once the listener is bound).
        self._control: StreamSocketControl | None = None
        self._control_from: StreamSocketListenerControl | None = None

    @classmethod
    def _from_accepted(
        cls, sock: _StdSocket, resolver: Resolver, control: StreamSocketListenerControl
    ) -> StreamSocket:
        self = cls(resolver=resolver)
        self._control_from = control
        self._attach(sock)
        assert self._remote is not None
        self._remote_host_name = host_of(self._remote)
        self._remote_service_name = str(self._remote[1])
        return self

    @property
    def _accepted(self) -> bool:
        """Whether a listener handed this socket out (it then copies its options)."""
        return self._control_from is not None

    # -- properties --------------------------------------------------------------------

    @property
    def control(self) -> StreamSocketControl:
        """Socket options (WinRT ``StreamSocketControl``); set them before ``connect``."""
        control = self._control
        if control is None:
            source = self._control_from
            control = StreamSocketControl(self) if source is None else source._for_accepted(self)
            self._control = control
        return control

    @property
    def information(self) -> StreamSocketInformation:
        information = self._information
        if information is None:
            information = self._information = StreamSocketInformation(self)
        return information

    @property
    def input_stream(self) -> SocketInputStream:
        stream = self._input
        if stream is None:
            stream = self._input = SocketInputStream(self)
        return stream

    @property
    def output_stream(self) -> StreamOutputStream:
        """The output stream; exists once the socket is connected.

        Raises:
            RuntimeError: the socket was never connected.
        """
        if self._sock is None:
            raise RuntimeError(f"{self._describe()} is not connected: await connect() first")
        output = self._output
        return output if output is not None else self._make_output(self._sock)

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
        if self._local is None or self._remote is None:
            return f"StreamSocket ({self._state})"
        closed = " closed" if self._state == _CLOSED else ""
        return (
            f"StreamSocket {format_sockaddr(self._local)} -> "
            f"{format_sockaddr(self._remote)}{closed}"
        )

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
        protection_level: SocketProtectionLevel = SocketProtectionLevel.PLAIN_SOCKET,
    ) -> None:
        """Connect to a remote host and service (WinRT ``ConnectAsync``).

        Either ``connect(HostName("example.com"), "443")`` or ``connect(EndpointPair(...))``,
        whose local side, when given, is bound first. The service is a port, a name in
        the services database, or else a DNS SRV service (``_service._tcp.host``) whose
        targets are tried in RFC 2782 order, each only when the one before failed. Host
        names are resolved by the socket's resolver and every address of a target is
        tried with happy eyeballs (RFC 8305). ``control.connect_timeout`` bounds the whole
        attempt, resolution and TLS handshake included.

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
            TypeError / ValueError: a bad host name, service or endpoint pair (named).
            RuntimeError: the socket is already connected.
            trio.BusyResourceError: another task is connecting this socket.
            trio.ClosedResourceError: the socket was closed before the call.
            SocketStatusError: the connection failed (``CONNECTION_REFUSED``,
                ``HOST_NOT_FOUND``, ``CONNECTION_TIMED_OUT``, …), the server certificate
                was not accepted (``CERTIFICATE_*``), or ``cancel_io()`` or closing the
                socket aborted it (``OPERATION_ABORTED``; after a close it is also a
                :class:`trio.ClosedResourceError`).
            WindowsOnlyError: a Bluetooth protection level.

        Cancellation: no connection is left half made; the socket can connect again.
        """
        service_name: str | SocketProtectionLevel | None = remote_service_name
        if isinstance(remote_host_name, EndpointPair) and isinstance(
            service_name, SocketProtectionLevel
        ):
            # connect(endpoint_pair, protection_level): the level comes second.
            protection_level, service_name = service_name, None
        host, service, local_host, local_service = split_remote(
            remote_host_name, service_name, "connect"
        )
        level = check_protection_level(protection_level)
        if self._state == _CONNECTED:
            raise RuntimeError(f"{self._describe()} is already connected")
        if self._state == _CONNECTING:
            raise trio.BusyResourceError("another task is already connecting this StreamSocket")
        if self._state == _CLOSED:
            raise trio.ClosedResourceError("this StreamSocket was closed")
        tls = None
        if level != SocketProtectionLevel.PLAIN_SOCKET:
            tls = client_context(level, self.control)  # bad TLS settings fail here
        self._state = _CONNECTING
        self.control._connect_started()
        start = trio.current_time()
        stream: trio.SSLStream[SocketTransport] | None = None
        try:
            sock, remote = await self._open(host, service, local_host, local_service)
            try:
                if tls is not None:
                    self._tls_report = TlsReport()
                    deadline, reason = _stream_tls.handshake_deadline(self, start)
                    what = f"connect to {host.display_name}:{service}"
                    stream = await _stream_tls.secure(self, sock, tls, host, deadline, reason, what)
            except BaseException:
                sock.close()
                raise
        except BaseException:
            if self._state == _CONNECTING:
                self._state = _NEW
            raise
        if self._state != _CONNECTING:  # closed while connecting
            sock.close()
            raise self._aborted(f"connect to {host.display_name}:{service}")
        self._remote_host_name = host
        self._remote_service_name = service
        self._attach(sock, remote)
        if stream is not None:
            self._use_tls(stream)

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
            trio.BusyResourceError: another task is receiving or sending.
            SocketStatusError: the handshake failed (classified as for ``connect``);
                the socket is then closed, as a half-made TLS session cannot go on.
        """
        await _stream_tls.upgrade(self, protection_level, validation_host_name)

    async def _accept_tls(
        self, context: ssl.SSLContext, what: str, hello_timeout: float | None
    ) -> None:
        """The server side of a TLS listener: handshake, then become a TLS socket."""
        await _stream_tls.accept_tls(self, context, what, hello_timeout)

    def _use_tls(self, stream: trio.SSLStream[SocketTransport]) -> None:
        assert self._sock is not None
        self._tls = stream
        self._output = None  # the next use makes a TLS output stream

    async def _open(
        self, host: HostName, service: str, local_host: HostName | None, local_service: str
    ) -> tuple[_StdSocket, SockAddr]:
        what = f"connect to {host.display_name}:{service}"
        timeout = self.control.connect_timeout
        resolver = self._resolver
        try:
            with self._io_scope(), trio.fail_after(timeout if timeout else float("inf")):
                targets = await resolver.resolve_targets(host, service, "tcp")
                local: dict[socket.AddressFamily, SockAddr] = {}
                if local_host is not None or local_service:
                    local_port = await resolver.resolve_port(local_service, "tcp", local=True)
                    if local_host is not None:
                        for family, sockaddr in await resolver.resolve_addresses(
                            local_host, local_port, "tcp", passive=True
                        ):
                            local.setdefault(family, sockaddr)
                    else:
                        local = {
                            socket.AF_INET: ("0.0.0.0", local_port),
                            socket.AF_INET6: ("::", local_port, 0, 0),
                        }

                def make_socket(family: socket.AddressFamily) -> _StdSocket:
                    sock = socket.socket(family, socket.SOCK_STREAM)
                    try:
                        sock.setblocking(False)
                        self.control._apply(sock, family)
                        if family in local:
                            sock.bind(local[family])
                    except BaseException:
                        sock.close()
                        raise
                    return sock

                async def connect_target(
                    target: ServiceTarget, what: str
                ) -> tuple[_StdSocket, SockAddr]:
                    addresses = await resolver.resolve_addresses(target.host, target.port, "tcp")
                    if local:
                        addresses = of_reachable_family(
                            addresses, local, what, f"local host {local_host}"
                        )
                    return await connect_first(
                        addresses,
                        make_socket,
                        what=what,
                        serialize=self.control.serialize_connection_attempts,
                    )

                if len(targets) == 1:
                    return await connect_target(targets[0], what)
                # DNS SRV: the targets in RFC 2782 order, each with happy eyeballs over
                # its addresses; the next one only when the previous one failed.
                failures: list[tuple[ServiceTarget, OSError]] = []
                for target in targets:
                    try:
                        return await connect_target(target, f"{what} (SRV target {target})")
                    except OSError as exc:
                        failures.append((target, exc))
                raise all_targets_failed(what, failures)
        except trio.TooSlowError:
            raise socket_error(
                SocketErrorStatus.CONNECTION_TIMED_OUT,
                f"{what}: no connection within control.connect_timeout={timeout} s",
            ) from None
        # Reached only when cancel_io() or a close cancelled the scope.
        raise self._aborted(what)

    def _attach(self, sock: _StdSocket, remote: SockAddr | None = None) -> None:
        """Take *sock* as this socket's connection; *remote*: the address connected to.

        Raises the ``OSError`` of ``getpeername`` when *remote* is not given and the
        peer is already gone.
        """
        self._sock = sock
        self._family = socket.AddressFamily(sock.family)
        self._local = sock.getsockname()
        self._remote = remote if remote is not None else sock.getpeername()
        self._state = _CONNECTED
        self._output = None  # made on first use, by _make_output

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
        """
        return await endpoint_pairs(
            remote_host_name, remote_service_name, sort_options, resolver, "tcp"
        )

    # -- trio Stream methods ---------------------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of *data*, after any writes already pending on ``output_stream``.

        Raises:
            trio.BusyResourceError: another task is in ``send_all``.
            trio.ClosedResourceError: the socket, or its sending side, was closed,
                before the call or by another task during it (then it is a
                ``SocketStatusError`` with ``OPERATION_ABORTED`` too).
            SocketStatusError: the connection failed; it is also a
                :class:`trio.BrokenResourceError`.

        Cancellation: as with trio's streams, some of the data may have been sent. When
        the socket was entered, the rest is sent in the background; otherwise it is sent
        first by the next send, awaited write, ``flush()`` or ``aclose()`` (on a TLS
        connection, a cancelled send breaks the sending side).
        """
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this StreamSocket")
        output = self._require_output("send_all()")
        self._sending = True
        try:
            await output.send_all(data)
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        """Wait until pending writes are sent and the kernel buffer has room.

        Raises:
            trio.BusyResourceError: another task is sending.
            trio.ClosedResourceError: the socket is closed, or another task closed it
                meanwhile.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this StreamSocket")
        output = self._require_output("wait_send_all_might_not_block()")
        self._sending = True
        try:
            await output.wait_send_all_might_not_block()
        finally:
            self._sending = False

    async def send_eof(self) -> None:
        """Send the pending writes, then close the sending side (TCP FIN).

        Idempotent. Afterwards writes raise :class:`trio.ClosedResourceError`; receiving
        goes on.

        Raises:
            trio.BusyResourceError: another task is sending.
            trio.ClosedResourceError: the socket is closed, or another task closed it
                while the pending writes were being sent.
            RuntimeError: a TLS connection, which cannot close one direction.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this StreamSocket")
        output = self._require_output("send_eof()")
        if self._tls is not None:
            raise RuntimeError(
                "send_eof() needs a plain TCP connection: a TLS connection (trio.SSLStream) "
                "cannot close one direction; use aclose()"
            )
        self._sending = True
        try:
            await output.drain()
            if output.eof_sent:
                return
            self._require_socket("send_eof()")  # another task may have closed it meanwhile
            try:
                output.shutdown_write()
            except OSError as exc:
                raise translate_os_error(
                    exc, f"send_eof on {self._describe()}", broken=True
                ) from exc
        finally:
            self._sending = False

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
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this StreamSocket")
        sock = self._require_socket("receive_some()")
        self._receiving = True
        try:
            buffered = self._recv_buffer
            if buffered:
                # Bytes taken out of the buffer must be returned: a cancellation may
                # come only before they are taken (trio's checkpoint rule).
                await trio.lowlevel.checkpoint_if_cancelled()
                data = bytes(buffered[:max_bytes])
                del buffered[:max_bytes]
                await trio.lowlevel.cancel_shielded_checkpoint()
                return data
            return await self._recv(sock, max_bytes)
        finally:
            self._receiving = False

    async def _recv(self, sock: _StdSocket, max_bytes: int) -> bytes:
        # The receive hot path: try at once, and only around an actual wait set up the
        # cancel scope that cancel_io() needs (written out, as _io_scope would cost a
        # generator-based context manager per call).
        max_bytes = min(max_bytes, MAX_RECEIVE_SIZE)
        if self._tls is not None:
            return await _stream_tls.tls_receive(self, self._tls, max_bytes)
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            try:
                data = sock.recv(max_bytes)
            except BlockingIOError:
                pass
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return data
            scope = trio.CancelScope()
            self._io_scopes.append(scope)
            try:
                with scope:
                    while True:
                        await trio.lowlevel.wait_readable(sock)
                        try:
                            return sock.recv(max_bytes)
                        except BlockingIOError:
                            pass
            finally:
                self._io_scope_done(scope)
        except OSError as exc:
            if sock.fileno() == -1:
                raise trio.ClosedResourceError(f"{self._describe()} was closed") from None
            raise translate_os_error(exc, f"receive on {self._describe()}", broken=True) from exc
        # Reached only when cancel_io() or a close cancelled the scope.
        raise self._aborted(f"receive on {self._describe()}")

    async def _read(self, count: int, options: InputStreamOptions) -> bytes:
        check_count(count, "input_stream.read")
        if not isinstance(options, InputStreamOptions):
            raise TypeError(f"options must be an InputStreamOptions, not {describe(options)}")
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this StreamSocket")
        sock = self._require_socket("input_stream.read()")
        if count == 0:
            await trio.lowlevel.checkpoint()
            return b""
        partial = InputStreamOptions.PARTIAL in options
        chunk = max(count, DEFAULT_RECEIVE_SIZE) if InputStreamOptions.READ_AHEAD in options else 0
        buffered = self._recv_buffer
        out = bytearray()
        self._receiving = True
        try:
            if buffered:
                out += buffered[:count]
                del buffered[:count]
                await trio.lowlevel.checkpoint()
            while len(out) < count and not (partial and out):
                need = count - len(out)
                data = await self._recv(sock, max(need, chunk))
                if not data:
                    break
                if len(data) > need:
                    buffered += memoryview(data)[need:]
                    data = data[:need]
                out += data
        except BaseException:
            # Whatever arrived before the failure or cancellation stays readable.
            buffered[:0] = out
            raise
        finally:
            self._receiving = False
        return bytes(out)

    # -- closing ---------------------------------------------------------------------------

    async def cancel_io(self) -> None:
        """Abort pending reads, writes and connects; the socket stays open.

        The aborted operations fail with ``OPERATION_ABORTED``. Writes not yet handed to
        the kernel are dropped; if one was partly sent, the sending side is broken (the
        peer would otherwise see a torn message). Returns once every aborted operation
        has ended.
        """
        if self._output is not None:
            self._output.abort(SocketErrorStatus.OPERATION_ABORTED, "cancel_io()")
        self._cancel_io_scopes()
        await trio.lowlevel.checkpoint()
        # Each lot is woken by the end of what it waits for: the output stream's sender
        # unparks _progress when it stops, the reads and connects unpark _io_idle.
        if self._output is not None:
            await self._output.wait_idle()
        await self._wait_io_idle()

    async def aclose(self) -> None:
        """Send what was written, then close the socket (WinRT ``Close``). Idempotent.

        Operations other tasks have under way on the socket -- a ``connect`` included
        -- fail with ``OPERATION_ABORTED`` (a :class:`trio.ClosedResourceError` too),
        and have ended, releasing what they held, when this returns.

        Raises a write failure nobody has seen yet (after closing). Cancellation: the
        socket is closed at once, unsent writes fail with ``OPERATION_ABORTED``.
        """
        if self._state == _CLOSED:
            await trio.lowlevel.checkpoint()
            return
        output = self._output
        try:
            if output is not None:
                await output.finish()
            else:
                await trio.lowlevel.checkpoint()
            if self._tls is not None and not self._receiving:
                await _stream_tls.close_notify(self._tls)
        finally:
            self._close_now()
        # A connect or receive in another task that the close aborted ends at its next
        # step: once it has, everything it held is released too.
        await self._wait_io_idle()
        if output is not None:
            output.raise_unobserved()

    def _close_now(self) -> None:
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        if self._output is not None:
            self._output.abort(
                SocketErrorStatus.OPERATION_ABORTED, "the socket closed", closed=True
            )
        # A connect under way has no socket here yet: its scope is how it learns.
        self._cancel_io_scopes()
        if self._sock is not None:
            _sockio.close_socket(self._sock)
        self._recv_buffer.clear()

    def _aborted(self, what: str) -> SocketStatusError:
        """The failure of an operation whose wait ``cancel_io()`` or a close ended.

        After a close it is also a :class:`trio.ClosedResourceError`, as trio's streams
        require of an operation another task ended by closing the stream.
        """
        if self._state == _CLOSED:
            return socket_error(
                SocketErrorStatus.OPERATION_ABORTED, f"{what}: the socket was closed", closed=True
            )
        return socket_error(SocketErrorStatus.OPERATION_ABORTED, f"{what}: aborted by cancel_io()")

    # -- helpers ---------------------------------------------------------------------------

    def _require_socket(self, what: str) -> _StdSocket:
        if self._state == _CLOSED:
            raise trio.ClosedResourceError(f"{what}: {self._describe()} is closed")
        if self._sock is None:
            raise RuntimeError(f"{what}: {self._describe()} is not connected")
        return self._sock

    def _require_output(self, what: str) -> StreamOutputStream:
        sock = self._require_socket(what)
        output = self._output
        return output if output is not None else self._make_output(sock)

    def _make_output(self, sock: _StdSocket) -> StreamOutputStream:
        if self._tls is not None:
            output: StreamOutputStream = TlsOutputStream(
                self._tls, sock, self._get_nursery, self._describe()
            )
        else:
            output = StreamOutputStream(sock, self._get_nursery, self._describe())
        self._output = output
        return output

    def _get_nursery(self) -> trio.Nursery | None:
        return self._nursery

    def _tcp_info(self) -> TcpInfo:
        sock = self._sock
        if sock is None or sock.fileno() == -1 or not hasattr(socket, "TCP_INFO"):
            return parse_tcp_info(b"")
        try:
            raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
        except OSError:
            return parse_tcp_info(b"")
        return parse_tcp_info(raw)
