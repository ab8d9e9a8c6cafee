"""How a StreamSocket's connection is made: the client's connect sequence and the TLS handshakes.

Each step takes what it needs -- ``connect``'s arguments, the lifecycle, the control
object, the resolver, the socket's :class:`Hooks` -- and hands back what it made: a
connected stdlib socket with its :class:`Connection` record, a TLS session. The
StreamSocket decides what to keep; its fields stay its own.
"""

from __future__ import annotations

import enum
import functools
import socket
import ssl
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple

import trio

from .._core.checks import describe
from .._core.endpoint import EndpointPair, split_remote
from .._core.enums import SocketProtectionLevel
from .._core.errors import SocketErrorStatus, SocketStatusError, socket_error, translate_os_error
from .._core.hostname import HostName, coerce_host_name
from .._core.lifecycle import Action, Lifecycle
from .._core.linux import index_of_interface_holding
from .._io.connect import Tried
from .._io.resolver import Resolver, SockAddr, resolver_or_default
from .._io.tcp_open import open_tcp
from .._tls.context import check_protection_level, client_context
from .._tls.session import (
    TlsSession,
    client_hello_within,
    refuse_unread_plaintext,
    upgrade_level,
)
from .._tls.settings import TlsClientSettings
from .stream_control import (
    CONNECT_DEFAULTS,
    StreamSocketControl,
    apply_options,
    freeze_connect_options,
    tls_client_settings,
)
from .stream_information import Connection

__all__ = [
    "ClientTls",
    "ConnectTarget",
    "Hooks",
    "NoLevel",
    "Opened",
    "accepted_connection",
    "client_tls",
    "connect_target",
    "open_connection",
    "refuse_upgrade",
    "server_session",
    "upgrade_session",
    "upgrade_target",
]


class Hooks(NamedTuple):
    """What the steps need of their StreamSocket, and nothing more."""

    #: A scope for a wait that ``cancel_io()`` and closing the socket cancel.
    scope: Callable[[], AbstractContextManager[trio.CancelScope]]
    #: The error of an operation whose wait such a cancel ended.
    aborted: Callable[[str], Exception]
    #: Told of each TLS session before its handshake: its report is what
    #: ``information`` shows, after a failure too.
    tried: Callable[[TlsSession], None]
    #: The socket as messages name it.
    describe: Callable[[], str]
    #: Close the socket at once (a half-made TLS session cannot go on).
    close_now: Callable[[], None]


class ConnectTarget(NamedTuple):
    """``connect``'s arguments, checked."""

    host: HostName
    service: str
    local_host: HostName | None
    local_service: str
    level: SocketProtectionLevel

    @property
    def what(self) -> str:
        """The connect as messages name it (``[host]:port`` for an IPv6 address)."""
        host = self.host.display_name
        return (
            f"connect to [{host}]:{self.service}"
            if ":" in host
            else f"connect to {host}:{self.service}"
        )


class ClientTls(NamedTuple):
    """The frozen settings and the context of a client handshake."""

    settings: TlsClientSettings
    context: tuple[ssl.SSLContext, bool]


class Opened(NamedTuple):
    """A connection made by ``connect`` or accepted by a listener: the socket, its
    record, and its TLS session if any."""

    sock: socket.socket
    connection: Connection
    session: TlsSession | None


class NoLevel(enum.Enum):
    """``connect``'s *protection_level* left out, told apart from any level given (an
    explicit ``PLAIN_SOCKET`` included): the endpoint-pair form takes its level second,
    and refuses a second one rather than drop either."""

    NOT_GIVEN = "not given"


def connect_target(
    remote_host_name: HostName | str | EndpointPair,
    remote_service_name: str | SocketProtectionLevel | None,
    protection_level: SocketProtectionLevel | NoLevel,
) -> ConnectTarget:
    """Check ``connect``'s arguments, in either of its two forms.

    Raises:
        TypeError / ValueError: a bad host name, service, endpoint pair or level (named);
            an endpoint pair with two levels (both named).
        WindowsOnlyError: a Bluetooth protection level.
    """
    service_name = remote_service_name
    if isinstance(remote_host_name, EndpointPair) and isinstance(
        service_name, SocketProtectionLevel
    ):
        # connect(endpoint_pair, protection_level): the level comes second.
        if protection_level is not NoLevel.NOT_GIVEN:
            other = protection_level
            named = other.name if isinstance(other, SocketProtectionLevel) else describe(other)
            raise TypeError(
                "connect(endpoint_pair, protection_level) got two protection levels: "
                f"{service_name.name} and {named}"
            )
        protection_level, service_name = service_name, None
    host, service, local_host, local_service = split_remote(
        remote_host_name, service_name, "connect"
    )
    if protection_level is NoLevel.NOT_GIVEN:
        protection_level = SocketProtectionLevel.PLAIN_SOCKET
    level = check_protection_level(protection_level)
    return ConnectTarget(host, service, local_host, local_service, level)


def client_tls(control: StreamSocketControl, level: SocketProtectionLevel) -> ClientTls:
    """The TLS a client handshake at *level* under *control* needs.

    Raises what bad TLS settings in *control* raise (before anything is sent), and
    ``TOO_MANY_OPEN_FILES`` when certificates cannot be loaded for want of a descriptor.
    """
    settings = tls_client_settings(control, level)
    return ClientTls(settings, client_context(settings))


async def open_connection(
    target: ConnectTarget,
    lifecycle: Lifecycle,
    socket_control: Callable[[], StreamSocketControl | None],
    resolver: Resolver | None,
    hooks: Hooks,
) -> Opened:
    """``connect`` to *target*: the CONNECT transition of the socket's *lifecycle*,
    with resolution, happy eyeballs and the TLS handshake its level asks for, all within
    the control's ``connect_timeout``.

    *socket_control* gives the socket's control as it is at each step: a socket makes
    its control on first use, which may be while it connects, and until then the
    defaults (:data:`CONNECT_DEFAULTS`) apply. *resolver* None: a ``Resolver()``.

    Raises:
        RuntimeError: *lifecycle* refuses a connect (already connected).
        trio.BusyResourceError / trio.ClosedResourceError: as *lifecycle* says.
        SocketStatusError: ``CONNECTION_TIMED_OUT`` when the timeout passes,
            ``OPERATION_ABORTED`` (*hooks*' error) when ``cancel_io()`` or a close ended
            it, and what connecting or the handshake raises otherwise.

    Cancellation and failures leave no socket open and the lifecycle as it was.
    """
    try:
        lifecycle.check(Action.CONNECT)
    except RuntimeError as exc:  # the table's reason, and which socket
        raise RuntimeError(f"{exc}: {hooks.describe()}") from None

    def control() -> StreamSocketControl:
        options = socket_control()
        return CONNECT_DEFAULTS if options is None else options

    tls = None
    if target.level != SocketProtectionLevel.PLAIN_SOCKET:
        try:
            tls = client_tls(control(), target.level)  # bad TLS settings fail here
        except SocketStatusError as exc:  # out of descriptors to load certificates with
            raise translate_os_error(exc, target.what) from exc
    lifecycle.begin(Action.CONNECT)
    try:
        opened = await _connect(target, tls, control, resolver_or_default(resolver), hooks)
    except BaseException:
        lifecycle.abandon(Action.CONNECT)
        raise
    try:
        lifecycle.finish(Action.CONNECT)
    except trio.ClosedResourceError:  # closed while connecting
        opened.sock.close()
        raise hooks.aborted(target.what) from None
    return opened


async def _connect(
    target: ConnectTarget,
    tls: ClientTls | None,
    control: Callable[[], StreamSocketControl],
    resolver: Resolver,
    hooks: Hooks,
) -> Opened:
    freeze_connect_options(control())
    start = trio.current_time()
    what = target.what
    sock, remote = await _open(target, control, resolver, hooks, what)
    try:
        connection = Connection(_own_address(sock), remote, target.host, target.service)
        session = None
        if tls is not None:
            session = await _client_session(sock, tls, target.host, start, what, hooks)
    except BaseException:
        sock.close()
        raise
    return Opened(sock, connection, session)


async def _open(
    target: ConnectTarget,
    control: Callable[[], StreamSocketControl],
    resolver: Resolver,
    hooks: Hooks,
    what: str,
) -> tuple[socket.socket, SockAddr]:
    options = control()
    timeout = options.connect_timeout
    # No second cancel scope when there is no timeout (the default): a connect to an
    # address is cheap enough for one to show.
    limit = trio.fail_after(timeout) if timeout else nullcontext()
    tried = Tried(named=target.host.ip_address is None)
    try:
        with hooks.scope(), limit:
            return await open_tcp(
                resolver,
                target.host,
                target.service,
                target.local_host,
                target.local_service,
                prepare=lambda sock, family: apply_options(control(), sock, family),
                serialize=options.serialize_connection_attempts,
                what=what,
                tried=tried,
            )
    except trio.TooSlowError:
        raise socket_error(
            SocketErrorStatus.CONNECTION_TIMED_OUT,
            f"{what}: no connection within control.connect_timeout={timeout} s; {tried.describe()}",
        ) from None
    # Reached only when cancel_io() or a close cancelled the scope.
    raise hooks.aborted(what)


async def _client_session(
    sock: socket.socket,
    tls: ClientTls,
    host: HostName | None,
    start: float,
    what: str,
    hooks: Hooks,
) -> TlsSession:
    """The client side of a TLS handshake with *host* on *sock*, done.

    *start* is when the connect began (``control.connect_timeout`` counts from there);
    *hooks* learn of the session before the handshake starts. Raises the handshake's
    failures and, when ``cancel_io()`` or a close ends it, *hooks*' error.
    """
    session = TlsSession(sock, tls.context, what, host=host, ignorable=tls.settings.ignorable)
    hooks.tried(session)
    await _handshake(session, tls.settings.deadline(start), what, hooks)
    return session


async def _handshake(
    session: TlsSession, deadline: tuple[float, str], what: str, hooks: Hooks
) -> None:
    """Run *session*'s handshake in a scope ``cancel_io()`` and closing can end."""
    with hooks.scope():
        await session.handshake(*deadline, what)
        return
    # Reached only when cancel_io() or a close cancelled the scope.
    raise hooks.aborted(what)


def upgrade_target(
    protection_level: object,
    validation_host_name: HostName | str | None,
    connected: HostName | None,
) -> tuple[SocketProtectionLevel, HostName | None]:
    """``upgrade_to_ssl``'s arguments, checked: the level, and the host to verify
    (*connected*, the host given to ``connect``, unless *validation_host_name* is given).

    Raises:
        TypeError / ValueError: a bad level (``PLAIN_SOCKET`` included) or host name.
    """
    level = upgrade_level(protection_level)
    if validation_host_name is None:
        return level, connected
    return level, coerce_host_name(validation_host_name, "validation_host_name")


def refuse_upgrade(
    name: str,
    sock: socket.socket,
    tls: TlsSession | None,
    accepted: bool,
    busy: bool,
    unread: int,
) -> None:
    """Raise why the socket *name* (over *sock*) cannot ``upgrade_to_ssl()`` now, if
    it cannot.

    Raises:
        RuntimeError: it already speaks TLS (*tls*), a listener *accepted* it, or
            received plain text waits unread (*unread* bytes read ahead, or in the kernel).
        trio.BusyResourceError: another task is receiving or sending (*busy*).
    """
    if tls is not None:
        raise RuntimeError(
            f"{name} is already protected ({tls.level.name}); upgrade_to_ssl() upgrades a plain one"
        )
    if accepted:
        raise RuntimeError(
            "upgrade_to_ssl() is for client sockets: as in WinRT, a socket accepted by a "
            "listener cannot be upgraded (use a TLS listener instead)"
        )
    if busy:
        raise trio.BusyResourceError("another task is using this StreamSocket")
    refuse_unread_plaintext(unread, sock, name)


async def upgrade_session(
    sock: socket.socket,
    tls: ClientTls,
    host: HostName | None,
    flush: Callable[[], Awaitable[object]],
    unread: Callable[[], int],
    hooks: Hooks,
) -> TlsSession:
    """``upgrade_to_ssl``'s handshake with *host* on *sock*, once the plain side is done.

    *flush* sends the writes already started; *unread* tells how many received bytes
    wait unread. The caller holds both directions meanwhile. Raises what
    :func:`refuse_unread_plaintext` and the handshake raise; a failed handshake closes
    the socket, as a half-made TLS session cannot go on.
    """
    await flush()
    name = hooks.describe()
    refuse_unread_plaintext(unread(), sock, name)
    what = f"upgrade_to_ssl on {name}"
    try:
        return await _client_session(sock, tls, host, trio.current_time(), what, hooks)
    except BaseException:
        hooks.close_now()
        raise


# How a link-local address (fe80::/10) is written.
_LINK_LOCAL_STARTS = frozenset({"fe8", "fe9", "fea", "feb"})


# One tuple for each local address: the accepted sockets of a listener on one address
# keep one (its string and port number included), not one each.
@functools.lru_cache(maxsize=256)
def _shared_address(sockaddr: SockAddr) -> SockAddr:
    return sockaddr


# One string for each local host: a client's connections differ in their port only.
@functools.lru_cache(maxsize=256)
def _shared_host(host: str) -> str:
    return host


def _own_address(sock: socket.socket) -> SockAddr:
    """The local address of a connected client socket, its host string shared."""
    local: SockAddr = sock.getsockname()
    if len(local) == 2:
        return (_shared_host(local[0]), local[1])
    return (_shared_host(local[0]), local[1], local[2], local[3])


def accepted_connection(conn: socket.socket, remote: SockAddr) -> Opened:
    """*conn*, which a listener accepted from *remote* (the address ``accept()``
    returned: asking ``getpeername`` again would cost a system call, and fail once the
    peer has reset the connection), with its record.

    Raises the ``OSError`` of ``getsockname`` should the kernel refuse it.
    """
    local = conn.getsockname()
    if len(local) == 4 and not local[3] and local[0][:3].lower() in _LINK_LOCAL_STARTS:
        # Linux gives an accepted socket its link (the scope) only when the peer is
        # link-local too: find the link that holds the address.
        local = (local[0], local[1], local[2], index_of_interface_holding(local[0], conn))
    # A server's connections mostly share their local address: they share its tuple too.
    connection = Connection(_shared_address(local), remote, accepted=True)
    return Opened(conn, connection, None)


async def server_session(
    raw: socket.socket,
    context: ssl.SSLContext,
    timeouts: tuple[float | None, float | None],
    hooks: Hooks,
) -> TlsSession:
    """The server side of a TLS listener's handshake on *raw*, done.

    *timeouts* are the listener's ``tls_hello_timeout`` and the socket's
    ``tls_handshake_timeout``: the whole ClientHello must come within the first, the
    whole handshake within the second, both counted from now. Raises
    ``CONNECTION_TIMED_OUT`` when either passes, and the handshake's failures otherwise.
    """
    hello_timeout, timeout = timeouts
    what = f"TLS handshake of {hooks.describe()}"
    deadline = trio.current_time() + timeout if timeout is not None else float("inf")
    session = TlsSession(raw, (context, False), what, server_side=True)
    hooks.tried(session)
    with client_hello_within(session, hello_timeout, deadline, what):
        reason = f"control.tls_handshake_timeout={timeout} s"
        await _handshake(session, (deadline, reason), what, hooks)
    return session
