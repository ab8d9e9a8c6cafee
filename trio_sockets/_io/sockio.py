"""Non-blocking system calls on stdlib sockets, awaited the trio way.

The socket classes sit on plain non-blocking :mod:`socket` objects and trio's
``wait_readable`` / ``wait_writable`` rather than on :mod:`trio.socket` or
:class:`trio.SocketStream`. Owning the system calls lets the output streams gather many
writes into one ``send``/``sendmsg`` and lets datagram sockets use ``recvmsg`` with
ancillary data; it also skips the per-call wrapper layers that make ``SocketStream``
15-25 % slower than the bare socket (see ``docs/design.rst``).

Every coroutine here follows trio's checkpoint rule: it raises ``Cancelled`` only before
the system call has taken effect, and it always yields to the scheduler once, even when
the call succeeds at once. A socket that is closed, before or during the call, gives
:class:`trio.ClosedResourceError`.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import os
import socket
import struct
import termios
import weakref
from typing import TYPE_CHECKING, Final

import trio

from .._core.errors import SocketErrorStatus, SocketStatusError, socket_error
from .._core.linux import SIOCOUTQNSD

if TYPE_CHECKING:
    from .resolver import SockAddr

__all__ = [
    "abnormal_end",
    "accept",
    "close_socket",
    "connect",
    "ended_abnormally",
    "nothing_to_read",
    "prohibited",
    "refused_route",
    "unsent",
]

_FIONREAD: Final = termios.FIONREAD
# Where FIONREAD writes its answer: one for every socket and thread, for the answer is
# a hint. A wrong one (another thread's) costs a wait for readability that returns at
# once, or a read that finds nothing; never data.
_to_read = array.array("i", [0])


def nothing_to_read(sock: socket.socket) -> bool:
    """Whether the kernel says *sock* has nothing to read now (``FIONREAD`` answers 0).

    It also answers 0 at the end of a stream, with an error pending, and when an empty
    datagram is first in line; in each of those the socket is readable, so a wait for
    readability returns at once and the read that follows finds it. One system call and
    no exception, about 2,000 instructions, where a read that finds nothing raises
    ``BlockingIOError``, about 8,400: ask first where nothing is likely waiting.
    False when the kernel cannot say (a closed socket: the read tells)."""
    try:
        fcntl.ioctl(sock.fileno(), _FIONREAD, _to_read, True)
    except (OSError, ValueError):
        return False
    return _to_read[0] == 0


def unsent(sock: socket.socket) -> int:
    """The bytes *sock* has queued that it has not sent yet (``SIOCOUTQNSD``); 0 if the
    socket cannot say. What was sent reaches the peer before a reset that follows it,
    unless lost on the way; what was not is dropped with the reset."""
    answer = array.array("i", [0])  # not shared: a close decides on it
    try:
        fcntl.ioctl(sock.fileno(), SIOCOUTQNSD, answer, True)
    except (OSError, ValueError):
        return 0
    return answer[0]


#: errno values of a connection that ended without the peer's end of stream: a reset,
#: a timeout, a path that broke. ``EPIPE`` is not one: Linux gives it to a send after
#: the peer's end of stream (its FIN, then a reset for what came after).
ABNORMAL_END_ERRNOS: Final = frozenset(
    {
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
    }
)

# The first such error of each open connection, for as long as its socket lives (no
# reference to it is held). Linux reports it to one system call only, a send or a
# receive, and a receive after it finds an end of stream, as if the peer had ended it.
# A copy is kept, never the error raised: its traceback holds the frames that hold the
# socket, which would keep the socket, its key, alive for ever.
_ABNORMAL_ENDS: weakref.WeakKeyDictionary[socket.socket, OSError] = weakref.WeakKeyDictionary()


def ended_abnormally(sock: socket.socket, error: OSError) -> None:
    """A system call on connected *sock* met *error*: remember it if it ended the
    connection abnormally (:data:`ABNORMAL_END_ERRNOS`), for :func:`abnormal_end`."""
    if error.errno in ABNORMAL_END_ERRNOS and sock not in _ABNORMAL_ENDS:
        _ABNORMAL_ENDS[sock] = OSError(error.errno, error.strerror)


def abnormal_end(sock: socket.socket) -> OSError | None:
    """How the connection of *sock* ended abnormally, as a system call on it met it."""
    return _ABNORMAL_ENDS.get(sock)


def _check_open(sock: socket.socket) -> None:
    # A task started just before its socket closed must not hand fd -1 to the kernel.
    if sock.fileno() == -1:
        raise trio.ClosedResourceError("the socket was closed")


async def connect(sock: socket.socket, address: tuple[object, ...]) -> None:
    """Connect a non-blocking socket; raise the ``OSError`` of a failed attempt.

    Cancellation: the attempt may be half made; the caller must close the socket.
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    _check_open(sock)
    try:
        sock.connect(address)
    except PermissionError as exc:  # a local "prohibit" route refused it
        raise prohibited(errno.EACCES, "the connection") from exc
    except BlockingIOError:
        pass
    except InterruptedError:  # pragma: no cover - PEP 475 retries, but EINTR is documented
        pass
    else:
        await trio.lowlevel.cancel_shielded_checkpoint()
        return
    await trio.lowlevel.wait_writable(sock)
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code == errno.EACCES:
        raise prohibited(code, "the connection")
    if code != 0:
        raise OSError(code, os.strerror(code))


def prohibited(code: int, what: str) -> SocketStatusError:
    """The failure for an ``EACCES`` that answered *what* sent: a ``prohibit`` route of
    this host (the kernel refuses at once, over IPv4 and IPv6) or a router's ICMPv6
    "administratively prohibited" (also "source address failed policy", "reject
    route"; Linux's ``icmpv6_err_convert``). ICMP's IPv4 equivalent reaches the
    application as ``EHOSTUNREACH``, ``UNREACHABLE_HOST``: so is this."""
    return socket_error(
        SocketErrorStatus.UNREACHABLE_HOST,
        f"[Errno {code}] {os.strerror(code)}: the network refused {what} "
        "(administratively prohibited: a prohibit route, or a router's ICMPv6 answer)",
        errno=code,
    )


def refused_route(code: int, what: str) -> SocketStatusError:
    """The failure for an ``EINVAL`` that answered *what* sent alone (no segmentation):
    routing refused it -- a ``blackhole`` route to the remote, or a source address
    that cannot reach it (a loopback address toward another interface). A route that
    leads nowhere, as an ``unreachable`` one: ``UNREACHABLE_HOST``."""
    return socket_error(
        SocketErrorStatus.UNREACHABLE_HOST,
        f"[Errno {code}] {os.strerror(code)}: routing refused {what} (a blackhole route "
        "to the remote, or a source address that cannot reach it, such as a loopback "
        "address toward another interface)",
        errno=code,
    )


# accept() errors that concern only the one connection being accepted (it was reset or
# timed out while queued), after the table in trio's _highlevel_socket.py: the listener
# skips them and accepts the next connection.
ACCEPT_TRANSIENT_ERRNOS = frozenset(
    code
    for code in (
        errno.ECONNABORTED,
        errno.EPERM,
        errno.EPROTO,
        errno.ENETDOWN,
        errno.ENOPROTOOPT,
        errno.EHOSTDOWN,
        errno.ENONET,
        errno.EHOSTUNREACH,
        errno.EOPNOTSUPP,
        errno.ENETUNREACH,
        errno.ECONNRESET,
        errno.ETIMEDOUT,
    )
)


async def accept(sock: socket.socket) -> tuple[socket.socket, SockAddr]:
    """Accept one connection; the new socket is already non-blocking."""
    await trio.lowlevel.checkpoint_if_cancelled()
    _check_open(sock)
    try:
        conn, address = sock.accept()
    except BlockingIOError:
        pass
    else:
        await trio.lowlevel.cancel_shielded_checkpoint()
        conn.setblocking(False)
        return conn, address
    while True:
        await trio.lowlevel.wait_readable(sock)
        # Woken as readable, the socket may have been closed since in the same pass:
        # notify_closing() then had no wait left to end.
        _check_open(sock)
        try:
            conn, address = sock.accept()
        except BlockingIOError:
            continue
        conn.setblocking(False)
        return conn, address


def reset_on_close(sock: socket.socket) -> None:
    """Make closing *sock* reset the connection (``SO_LINGER`` 0: RST), dropping what the
    kernel still holds to send, instead of ending the stream with a FIN."""
    if sock.fileno() != -1:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def close_socket(sock: socket.socket) -> None:
    """Close *sock*, waking every task blocked on it with ``ClosedResourceError``
    (outside a trio run, from a finalizer, no task of one can be)."""
    if sock.fileno() != -1:
        with contextlib.suppress(RuntimeError):
            trio.lowlevel.notify_closing(sock)
    sock.close()
