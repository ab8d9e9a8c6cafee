"""The receive task of a :class:`~trio_sockets.DatagramSocket`.

One task per socket, in the socket's nursery. Each time the socket is readable it takes
every datagram waiting (``recvmsg`` until ``EAGAIN``, yielding to other tasks now and
then) and puts one event per datagram into the ``message_received`` channel. The channel
is bounded: when it is full the task waits up to 10 ms for a consumer that keeps pace to
make room, and then drops the datagram and counts it; it waits again only once the
consumer has made room. A slow consumer therefore costs a counted loss, never unbounded
memory, and a consumer that keeps pace loses nothing.
"""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable
from typing import Final

import trio

from .._core.errors import SocketErrorStatus, SocketStatusError, socket_error, translate_os_error
from .._core.linux import IP_PKTINFO, SO_RXQ_OVFL
from .._core.sockaddr import ipv4_of_mapped
from .datagram_message import DatagramSocketMessageReceivedEventArgs as _Args
from .datagram_message import sender_of
from .resolver import SockAddr

__all__ = ["MessageReceiver", "sender_key"]

# Large enough for any UDP datagram (65,527 bytes over IPv6), so none is truncated.
_RECEIVE_BUFFER_SIZE: Final = 65536
_ANCILLARY_SIZE: Final = socket.CMSG_SPACE(20) + socket.CMSG_SPACE(12) + socket.CMSG_SPACE(4)
# The receive task yields to other tasks after this many datagrams in one wake-up.
_YIELD_EVERY: Final = 64
# How long the receive task waits for room in a full channel before it drops (and
# stops waiting until the consumer makes room again).
_FULL_PATIENCE: Final = 0.01
# Receive errors that each report one ICMP message: the socket goes on receiving.
_ICMP_ERRNOS: Final = frozenset(
    {
        errno.ECONNREFUSED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.EMSGSIZE,
        errno.EPROTO,
        errno.ETIMEDOUT,
        errno.ENOPROTOOPT,
    }
)


def sender_key(sockaddr: SockAddr) -> tuple[str, int]:
    """The sender identity a connected socket filters on (mapped IPv4 unmapped)."""
    host = sockaddr[0]
    return ipv4_of_mapped(host) or host.partition("%")[0], sockaddr[1]


class MessageReceiver:
    """The channel, the counters and the receive loop of one datagram socket."""

    def __init__(self, queue_size: int, describe: Callable[[], str]) -> None:
        self.send_channel, self.channel = trio.open_memory_channel[_Args](queue_size)
        self._where = describe
        #: Datagrams put into the channel or dropped because it was full.
        self.received = 0
        #: Datagrams dropped because the channel was full.
        self.dropped = 0
        #: Datagrams the kernel dropped because its receive buffer was full, as of the
        #: latest datagram received (``SO_RXQ_OVFL``).
        self.kernel_dropped = 0
        #: After connect(): only datagrams from this sender are delivered.
        self.remote: SockAddr | None = None
        self._remote_key: tuple[str, int] | None = None
        # False after a drop, until a delivery succeeds again: while the consumer is not
        # keeping up, dropping must not cost a trip through the scheduler per datagram.
        self._room = True

    def connected_to(self, remote: SockAddr) -> None:
        """Deliver only *remote*'s datagrams from now on, and take the other senders'
        datagrams out of the channel, so that once ``connect()`` returns the application
        sees only the connected remote (the kernel's own filter spares what it had
        queued before the connect; the loop filters those)."""
        self.remote = remote
        key = self._remote_key = sender_key(remote)
        kept = []
        while True:
            try:
                args = self.channel.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            sender = sender_of(args)
            if sender is not None and sender_key(sender) == key:
                kept.append(args)
        # The channel was just emptied, so everything kept fits back in, in order.
        for args in kept:
            self.send_channel.send_nowait(args)

    def close(self) -> None:
        """Close the channel's sending side: ``async for`` ends after what it holds."""
        self.send_channel.close()

    async def run(self, sock: socket.socket) -> None:
        """Receive until the socket is closed."""
        buffers = [memoryview(bytearray(_RECEIVE_BUFFER_SIZE))]
        try:
            while sock.fileno() != -1:
                try:
                    await trio.lowlevel.wait_readable(sock)
                except (trio.ClosedResourceError, OSError, ValueError):
                    return  # closed (ValueError: closed while this task was not waiting)
                taken = 0
                while sock.fileno() != -1:
                    try:
                        size, ancillary, flags, address = sock.recvmsg_into(
                            buffers, _ANCILLARY_SIZE
                        )
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        if sock.fileno() == -1:
                            return
                        if not await self._deliver(self._error_args(exc)):
                            return
                        if exc.errno not in _ICMP_ERRNOS:  # pragma: no cover
                            break  # wait for readiness rather than spin on an odd error
                        continue
                    if self._remote_key is not None and sender_key(address) != self._remote_key:
                        # From another sender: queued before connect() (the kernel keeps
                        # those), or racing it.
                        continue
                    error = None
                    if flags & socket.MSG_TRUNC:  # pragma: no cover - the buffer fits any
                        error = socket_error(
                            SocketErrorStatus.MESSAGE_TOO_LONG,
                            f"receive on {self._where()}: a datagram was truncated",
                            errno=errno.EMSGSIZE,
                        )
                    arrived_at, kernel_dropped = _read_ancillary(ancillary)
                    if kernel_dropped is not None:
                        self.kernel_dropped = kernel_dropped
                    args = _Args(bytes(buffers[0][:size]), address, arrived_at, error)
                    self.received += 1
                    if not await self._deliver(args):
                        return
                    taken += 1
                    if taken % _YIELD_EVERY == 0:
                        await trio.lowlevel.checkpoint()
        finally:
            self.send_channel.close()

    async def _deliver(self, args: _Args) -> bool:
        """Put *args* into the channel, or drop and count it; False once it is closed."""
        send = self.send_channel
        try:
            send.send_nowait(args)
        except trio.WouldBlock:
            if self._room:
                # Full: a consumer that keeps pace takes one soon, so wait a moment for
                # it. One that does not is given no more waits until it makes room.
                with trio.move_on_after(_FULL_PATIENCE):
                    try:
                        await send.send(args)
                    except trio.ClosedResourceError:
                        return False
                    except trio.BrokenResourceError:
                        self.dropped += 1
                    return True
                # The moment is wall time: if the whole process was not running (a busy
                # machine), the consumer never had its chance. Give it two scheduler
                # passes before calling it slow.
                for _ in range(2):
                    await trio.lowlevel.checkpoint()
                    try:
                        send.send_nowait(args)
                    except trio.WouldBlock:
                        continue
                    except trio.BrokenResourceError:
                        self.dropped += 1
                        return True
                    except trio.ClosedResourceError:
                        return False
                    return True
                self._room = False
            self.dropped += 1
            return True
        except trio.BrokenResourceError:
            self.dropped += 1  # the application closed message_received
            return True
        except trio.ClosedResourceError:
            return False
        self._room = True
        return True

    def _error_args(self, exc: OSError) -> _Args:
        what = f"receive on {self._where()}"
        error: SocketStatusError
        if exc.errno == errno.ECONNREFUSED:
            # WinRT reports an ICMP port unreachable as a reset (WSAECONNRESET).
            error = socket_error(
                SocketErrorStatus.CONNECTION_RESET_BY_PEER,
                f"{what}: the remote port is unreachable (ICMP port unreachable)",
                errno=exc.errno,
            )
        else:
            error = translate_os_error(exc, what)
        return _Args(b"", self.remote, None, error)


def _read_ancillary(ancillary: list[tuple[int, int, bytes]]) -> tuple[str | None, int | None]:
    """The destination address of a datagram and the kernel's drop count
    (``SO_RXQ_OVFL``), from its ancillary data; None for what it lacks."""
    arrived_at = kernel_dropped = None
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= 4:
            kernel_dropped = int.from_bytes(data[:4], sys.byteorder)
        else:
            arrived_at = _arrived_at(level, kind, data) or arrived_at
    return arrived_at, kernel_dropped


def _arrived_at(level: int, kind: int, data: bytes) -> str | None:
    """The destination address of a datagram from its ``IP_PKTINFO`` / ``IPV6_PKTINFO``."""
    if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
        return socket.inet_ntop(socket.AF_INET, data[8:12])
    if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 16:
        return socket.inet_ntop(socket.AF_INET6, data[:16])
    return None
