"""TLS on a ``StreamSocket``: the handshake of a connect, an upgrade or an accepted
connection, receiving, and close_notify.

Functions of the socket rather than methods, to keep ``_stream_socket`` to the plain
TCP connection; they use its private state, as the rest of the package does.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import TYPE_CHECKING

import trio

from .._core.enums import SocketProtectionLevel
from .._core.errors import SocketErrorStatus, socket_error, translate_os_error
from .._core.hostname import HostName, coerce_host_name
from .context import (
    SocketTransport,
    TlsReport,
    check_protection_level,
    client_context,
    handshake,
    tls_error,
)

if TYPE_CHECKING:
    from .._sockets.stream_socket import StreamSocket

__all__ = [
    "accept_tls",
    "close_notify",
    "handshake_deadline",
    "refuse_unread_plaintext",
    "secure",
    "tls_receive",
    "upgrade",
]


def handshake_deadline(owner: StreamSocket, start: float) -> tuple[float, str]:
    deadline, reason = float("inf"), "no limit"
    handshake_timeout = owner.control.tls_handshake_timeout
    if handshake_timeout is not None:
        deadline = trio.current_time() + handshake_timeout
        reason = f"control.tls_handshake_timeout={handshake_timeout} s"
    connect_timeout = owner.control.connect_timeout
    if connect_timeout is not None and start + connect_timeout < deadline:
        deadline = start + connect_timeout
        reason = f"control.connect_timeout={connect_timeout} s"
    return deadline, reason


async def secure(
    owner: StreamSocket,
    sock: socket.socket,
    tls: tuple[ssl.SSLContext, bool],
    host: HostName | None,
    deadline: float,
    reason: str,
    what: str,
    *,
    server_side: bool = False,
) -> trio.SSLStream[SocketTransport]:
    """Run a TLS handshake on *sock*; fills in ``owner._tls_report``."""
    context, checks_here = tls
    server_hostname = None if server_side or host is None else host.canonical_name
    stream = trio.SSLStream(
        SocketTransport(sock, what),
        context,
        server_side=server_side,
        server_hostname=server_hostname,
    )
    with owner._io_scope():
        await handshake(
            stream,
            owner._tls_report,
            host=host,
            checks_here=checks_here,
            ignorable=frozenset(owner.control.ignorable_server_certificate_errors),
            deadline=deadline,
            deadline_reason=reason,
            what=what,
        )
        return stream
    # Reached only when cancel_io() or a close cancelled the scope.
    raise owner._aborted(what)


async def upgrade(
    owner: StreamSocket,
    protection_level: SocketProtectionLevel,
    validation_host_name: HostName | str | None = None,
) -> None:
    """The body of ``StreamSocket.upgrade_to_ssl`` (documented there)."""
    level = check_protection_level(protection_level)
    if level == SocketProtectionLevel.PLAIN_SOCKET:
        raise ValueError("upgrade_to_ssl() needs a TLS protection level, not PLAIN_SOCKET")
    host = (
        coerce_host_name(validation_host_name, "validation_host_name")
        if validation_host_name is not None
        else owner._remote_host_name
    )
    sock = owner._require_socket("upgrade_to_ssl()")
    if owner._tls is not None:
        raise RuntimeError(
            f"{owner._describe()} is already protected "
            f"({owner._tls_report.level.name}); upgrade_to_ssl() upgrades a plain one"
        )
    if owner._accepted:
        raise RuntimeError(
            "upgrade_to_ssl() is for client sockets: as in WinRT, a socket accepted by a "
            "listener cannot be upgraded (use a TLS listener instead)"
        )
    if owner._receiving or owner._sending:
        raise trio.BusyResourceError("another task is using this StreamSocket")
    refuse_unread_plaintext(owner, sock)
    tls = client_context(level, owner.control)
    output = owner._require_output("upgrade_to_ssl()")
    owner._sending = owner._receiving = True
    try:
        await output.flush()
        refuse_unread_plaintext(owner, sock)
        owner._tls_report = TlsReport()
        deadline, reason = handshake_deadline(owner, trio.current_time())
        what = f"upgrade_to_ssl on {owner._describe()}"
        try:
            stream = await secure(owner, sock, tls, host, deadline, reason, what)
        except BaseException:
            owner._close_now()
            raise
    finally:
        owner._sending = owner._receiving = False
    owner._use_tls(stream)


def refuse_unread_plaintext(owner: StreamSocket, sock: socket.socket) -> None:
    """Raise if received plain text waits unread, in *owner*'s buffer or the kernel's."""
    unread = len(owner._recv_buffer)
    if not unread:
        try:
            unread = len(sock.recv(65536, socket.MSG_PEEK))
        except OSError:  # nothing waiting (BlockingIOError) or a failure the handshake meets
            unread = 0
    if unread:
        raise RuntimeError(
            f"upgrade_to_ssl(): {unread} bytes of received plain text are still unread "
            f"on {owner._describe()}; read them first (the TLS handshake would take "
            "them for TLS and they would be lost)"
        )


async def accept_tls(
    owner: StreamSocket, context: ssl.SSLContext, what: str, hello_timeout: float | None
) -> None:
    """The server side of a TLS listener: handshake, then become a TLS socket.

    The first byte of the ClientHello must come within *hello_timeout* (the listener's
    ``control.tls_hello_timeout``), the whole handshake within the
    ``tls_handshake_timeout``, both counted from now. Raises ``CONNECTION_TIMED_OUT``
    when either passes, and the handshake's failures otherwise.
    """
    sock = owner._require_socket(what)
    start = trio.current_time()
    timeout = owner.control.tls_handshake_timeout
    deadline = start + timeout if timeout is not None else float("inf")
    reason = f"control.tls_handshake_timeout={timeout} s"
    if hello_timeout is not None and start + hello_timeout < deadline:
        with trio.move_on_at(start + hello_timeout) as silent:
            await trio.lowlevel.wait_readable(sock)
        if silent.cancelled_caught:
            raise socket_error(
                SocketErrorStatus.CONNECTION_TIMED_OUT,
                f"{what}: no ClientHello within control.tls_hello_timeout={hello_timeout} s",
            )
    owner._tls_report = TlsReport()
    stream = await secure(
        owner, sock, (context, False), None, deadline, reason, what, server_side=True
    )
    owner._use_tls(stream)


async def tls_receive(
    owner: StreamSocket, stream: trio.SSLStream[SocketTransport], max_bytes: int
) -> bytes:
    """``receive_some`` of a TLS socket: a ragged EOF reads as the end of the stream."""
    if owner._tls_eof:
        await trio.lowlevel.checkpoint()
        return b""
    with owner._io_scope():
        try:
            data = await stream.receive_some(max_bytes)
        except trio.BrokenResourceError as exc:
            if isinstance(exc.__cause__, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                # The peer closed without close_notify: an end of stream, as the ssl
                # module's suppress_ragged_eofs default has it.
                owner._tls_eof = True
                return b""
            raise tls_error(exc, f"receive on {owner._describe()}") from exc
        except OSError as exc:
            what = f"receive on {owner._describe()}"
            raise translate_os_error(exc, what, broken=True) from exc
        if not data:
            owner._tls_eof = True
        return bytes(data)
    # Reached only when cancel_io() or a close cancelled the scope.
    raise owner._aborted("receive")


async def close_notify(stream: trio.SSLStream[SocketTransport]) -> None:
    """Send TLS close_notify if the socket takes it at once; never wait on the peer."""
    transport = stream.transport_stream
    transport.closing = True
    # The peer may be gone or not reading: the connection then closes without it.
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        await stream.aclose()
