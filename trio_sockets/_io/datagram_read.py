"""Reading one datagram from a :class:`~trio_sockets.DatagramSocket`'s socket.

One ``recvmsg`` into a buffer large enough for any UDP datagram, with the control
messages the socket asked for (the destination address, the kernel's drop count), made
into the event args the application receives; or the receive error WinRT reports
through the event (an ICMP message answering an earlier send). Whoever holds the
socket's turn (:mod:`trio_sockets._io.datagram_receive`) calls it.
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
from collections.abc import Callable
from typing import Final

from .._core.errors import SocketErrorStatus, SocketStatusError, socket_error, translate_os_error
from .._core.linux import SO_RXQ_OVFL
from .._core.sockaddr import ipv4_of_mapped, is_multicast
from .datagram_message import Ancillary, destination_of, sender_of
from .datagram_message import DatagramSocketMessageReceivedEventArgs as _Args
from .resolver import SockAddr
from .sockio import prohibited

__all__ = ["EMPTY", "ICMP_ERRNOS", "DatagramReading", "StopReading", "sender_key"]

# Large enough for any UDP datagram (65,527 bytes over IPv6), so none is truncated.
_RECEIVE_BUFFER_SIZE: Final = 65536
_ANCILLARY_SIZE: Final = socket.CMSG_SPACE(20) + socket.CMSG_SPACE(12) + socket.CMSG_SPACE(4)
_MSG_TRUNC: Final = int(socket.MSG_TRUNC)  # an int: a flag enum costs a call per test
_SOL_SOCKET: Final = int(socket.SOL_SOCKET)
# Receive errors that each report one ICMP message: the socket goes on receiving.
ICMP_ERRNOS: Final = frozenset(
    {
        errno.ECONNREFUSED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.EMSGSIZE,
        errno.EPROTO,
        errno.ETIMEDOUT,
        errno.ENOPROTOOPT,
        errno.EACCES,  # ICMPv6 administratively prohibited (sockio.prohibited)
    }
)
#: What reading gives when the socket has nothing waiting.
EMPTY: Final = object()


class _ReceiveBuffer(threading.local):
    """The buffer every datagram socket of a thread receives into: a read copies the
    datagram out before anything else runs in that thread, so one is enough, where one
    per socket would cost 64 KiB of memory each."""

    def __init__(self) -> None:
        self.buffers = [memoryview(bytearray(_RECEIVE_BUFFER_SIZE))]


_receive_buffer: Final = _ReceiveBuffer()


def sender_key(sockaddr: SockAddr) -> tuple[str, int, int]:
    """The sender identity a connected socket filters on: address (mapped IPv4
    unmapped), port and scope, for the same link-local address on another link is
    another host."""
    host = sockaddr[0]
    scope = sockaddr[3] if len(sockaddr) == 4 else 0
    return ipv4_of_mapped(host) or host.partition("%")[0], sockaddr[1], scope


class StopReading(Exception):
    """Reading must stop until the socket is readable again: it closed, or it reported
    an odd error (*event*, to deliver first)."""

    def __init__(self, event: _Args | None = None) -> None:
        super().__init__()
        self.event = event


class DatagramReading:
    """The connect filter and the kernel's drop count of one socket."""

    def __init__(self, describe: Callable[[], str]) -> None:
        self._where = describe
        #: Datagrams the kernel dropped because its receive buffer was full, as of the
        #: latest datagram received (``SO_RXQ_OVFL``).
        self.kernel_dropped = 0
        #: After connect(): only datagrams from this sender are delivered.
        self.remote: SockAddr | None = None
        self._remote_key: tuple[str, int, int] | None = None
        # A multicast-only socket: only datagrams sent to a group are delivered.
        self._groups_only = False

    def connected_to(self, remote: SockAddr) -> tuple[str, int, int]:
        """Let only *remote*'s datagrams through from now on; its sender key."""
        self.remote = remote
        key = self._remote_key = sender_key(remote)
        return key

    def admits(self, args: _Args) -> bool:
        """Whether *args*, read before the latest ``connect()``, is from its remote."""
        key = self._remote_key
        if key is None:
            return True
        sender = sender_of(args)
        return sender is not None and sender_key(sender) == key

    def multicast_only(self) -> None:
        """Let through only datagrams sent to a multicast group from now on."""
        self._groups_only = True

    def read(self, sock: socket.socket) -> _Args | object | None:
        """The next datagram or receive error as event args; :data:`EMPTY` when nothing
        is waiting; None for a datagram the filters keep out (another sender than the
        connected one; a unicast or broadcast datagram to a multicast-only socket).

        Raises:
            StopReading: the socket closed, or an odd error was reported (reading stops until
                the socket is readable again).
        """
        buffers = _receive_buffer.buffers
        try:
            size, ancillary, flags, address = sock.recvmsg_into(buffers, _ANCILLARY_SIZE)
        except BlockingIOError:
            return EMPTY
        except OSError as exc:
            if sock.fileno() == -1:
                raise StopReading from None
            args = self.error_args(exc)
            if exc.errno not in ICMP_ERRNOS:  # pragma: no cover
                # Deliver it, then wait for readiness rather than spin on an odd error.
                raise StopReading(args) from None
            return args
        key = self._remote_key
        if key is not None and address != self.remote and sender_key(address) != key:
            # From another sender: queued before connect() (the kernel keeps those), or
            # racing it.
            return None
        if self._groups_only and not _sent_to_a_group(ancillary):
            return None
        error = None
        if flags & _MSG_TRUNC:  # pragma: no cover - the buffer fits any
            error = socket_error(
                SocketErrorStatus.MESSAGE_TOO_LONG,
                f"receive on {self._where()}: a datagram was truncated",
                errno=errno.EMSGSIZE,
            )
        for level, kind, data in ancillary:  # the kernel's drop count, if it says
            if kind == SO_RXQ_OVFL and level == _SOL_SOCKET and len(data) >= 4:
                self.kernel_dropped = int.from_bytes(data[:4], sys.byteorder)
        return _Args(bytes(buffers[0][:size]), address, ancillary, error)

    def error_args(self, exc: OSError) -> _Args:
        """The event of *exc*, an ICMP error a read met (or a send: the kernel hands a
        connected socket's pending error to whichever system call comes next)."""
        what = f"receive on {self._where()}"
        error: SocketStatusError
        if exc.errno == errno.ECONNREFUSED:
            # WinRT reports an ICMP port unreachable as a reset (WSAECONNRESET).
            error = socket_error(
                SocketErrorStatus.CONNECTION_RESET_BY_PEER,
                f"{what}: the remote port is unreachable (ICMP port unreachable)",
                errno=exc.errno,
            )
        elif exc.errno == errno.EMSGSIZE:
            # ICMP "fragmentation needed" / ICMPv6 "packet too big": about a send.
            error = socket_error(
                SocketErrorStatus.MESSAGE_TOO_LONG,
                f"{what}: a datagram sent earlier was dropped on the way, larger than the "
                "path's MTU (ICMP packet too big); later ones of its size are fragmented, "
                "or refused at write() with control.dont_fragment",
                errno=exc.errno,
            )
        elif exc.errno == errno.EACCES:
            error = translate_os_error(prohibited(errno.EACCES, "a datagram sent there"), what)
        else:
            error = translate_os_error(exc, what)
        return _Args(b"", self.remote, None, error)


def _sent_to_a_group(ancillary: Ancillary) -> bool:
    """Whether a datagram was sent to a multicast group, by the destination in its
    ``IP_PKTINFO`` / ``IPV6_PKTINFO`` (every socket asks for it); True when the kernel
    did not say, so that nothing is kept out on a guess."""
    destination = destination_of(ancillary)
    if destination is None:  # pragma: no cover - the kernel always says
        return True
    return is_multicast(destination)
