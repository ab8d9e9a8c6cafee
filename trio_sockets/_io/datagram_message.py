"""What the receive path of a :class:`~trio_sockets.DatagramSocket` makes: one
:class:`DatagramSocketMessageReceivedEventArgs` per datagram or receive error.

The args are the receive path's record (the datagram's bytes, its sender's and its
destination's addresses, or the error) with WinRT's accessors over it. They keep the raw
addresses and build :class:`~trio_sockets.HostName` objects only when asked, so a flood
of datagrams costs no name parsing.
"""

from __future__ import annotations

import socket
import sys

from .._core.errors import SocketStatusError
from .._core.hostname import HostName
from .._core.linux import IP_PKTINFO
from .._core.sockaddr import is_multicast, with_scope
from .._data.bytes_stream import BytesInputStream
from .._data.interfaces import InputStream
from .._data.reader import DataReader, ReceivedDatagramReader
from .._data.stream_owner import is_closed
from .addresses import host_of
from .resolver import SockAddr

__all__ = [
    "Ancillary",
    "DatagramSocketMessageReceivedEventArgs",
    "answer_source",
    "destination_of",
    "sender_of",
]

#: Control messages as ``socket.recvmsg`` gives them: ``(level, type, data)``.
Ancillary = list[tuple[int, int, bytes]]


class DatagramSocketMessageReceivedEventArgs:
    """One received datagram (WinRT ``DatagramSocketMessageReceivedEventArgs``).

    The datagram is already loaded: ``args.get_data_reader()`` returns a
    :class:`~trio_sockets.DataReader` whose ``unconsumed_buffer_length`` is the
    datagram's size, so ``reader.read_string(reader.unconsumed_buffer_length)`` works
    without ``load``.

    A receive error that WinRT reports through the event -- an ICMP "port unreachable"
    answering a datagram sent on a connected socket, as ``CONNECTION_RESET_BY_PEER`` --
    arrives as args whose :meth:`get_data_reader` and :meth:`get_data_stream` raise it
    (a :class:`~trio_sockets.SocketStatusError`); :attr:`error` holds it too. The socket
    keeps receiving.
    """

    __slots__ = ("_arrived_at", "_message_reader", "_payload", "_sender", "_sender_host", "_status")

    def __init__(
        self,
        data: bytes,
        sender: SockAddr | None,
        ancillary: Ancillary | None,
        error: SocketStatusError | None = None,
    ) -> None:
        self._payload = data
        self._sender = sender
        # The datagram's control messages as received; its destination is decoded
        # from them only when asked for.
        self._arrived_at = ancillary
        self._status = error
        self._message_reader: DataReader | None = None
        self._sender_host: HostName | None = None

    def __repr__(self) -> str:
        if self._status is not None:
            return f"<MessageReceived error {self._status}>"
        return (
            f"<MessageReceived {len(self._payload)} bytes from {self.remote_address}:"
            f"{self.remote_port}>"
        )

    @property
    def remote_address(self) -> HostName | None:
        """The sender's address (for an error: the connected remote, or ``None``)."""
        if self._sender_host is None and self._sender is not None:
            self._sender_host = host_of(self._sender)
        return self._sender_host

    @property
    def remote_port(self) -> str:
        """The sender's UDP port, a ``str`` as in WinRT (``""`` when unknown)."""
        return str(self._sender[1]) if self._sender is not None else ""

    @property
    def local_address(self) -> HostName | None:
        """The address the datagram was sent to and arrived at (from ``IP_PKTINFO`` /
        ``IPV6_PKTINFO``): a local address, or the group or broadcast address it was
        sent to. ``None`` for an error event."""
        if self._arrived_at is None:
            return None
        arrived_at = destination_of(self._arrived_at)
        return host_of((arrived_at, 0)) if arrived_at is not None else None

    @property
    def error(self) -> SocketStatusError | None:
        """The receive error this event reports, or ``None`` for a datagram."""
        return self._status

    @property
    def data(self) -> bytes:
        """The datagram's bytes (raises the event's error, like :meth:`get_data_reader`)."""
        if self._status is not None:
            raise self._status
        return self._payload

    def get_data_reader(self) -> DataReader:
        """A :class:`~trio_sockets.DataReader` over the datagram (WinRT ``GetDataReader``).

        Calling it again returns the same reader, so reads go on where the previous call
        left off, as in WinRT (one reader per message); once that reader is closed, a
        new one starts from the beginning.

        Raises:
            SocketStatusError: the receive error this event reports.
        """
        if self._status is not None:
            raise self._status
        reader = self._message_reader
        if reader is None or is_closed(reader):
            reader = self._message_reader = ReceivedDatagramReader(self._payload)
        return reader

    def get_data_stream(self) -> InputStream:
        """The raw bytes of the datagram as an input stream (WinRT ``GetDataStream``).

        Each call returns a new stream from the start of the datagram.

        Raises:
            SocketStatusError: the receive error this event reports.
        """
        if self._status is not None:
            raise self._status
        return BytesInputStream(self._payload, "datagram")


def sender_of(args: DatagramSocketMessageReceivedEventArgs) -> SockAddr | None:
    """The sender's socket address as received (``None`` for an error without one)."""
    return args._sender


def answer_source(args: DatagramSocketMessageReceivedEventArgs) -> HostName | None:
    """The local address to answer *args*'s datagram from, on a socket bound to every
    address: the address it was sent to, but for a group or broadcast address, which
    no datagram can leave from. Over IPv4 the kernel names it (``IP_PKTINFO``'s
    ``ipi_spec_dst``: the destination, or for a group or broadcast an address of the
    interface the datagram came by); over IPv6, which has no broadcast, it is the
    destination unless that is a group. ``None``: no address known (an error event),
    or a group's over IPv6, where routing picks."""
    ancillary = args._arrived_at
    if ancillary is None:
        return None
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
            return host_of((socket.inet_ntop(socket.AF_INET, data[4:8]), 0))
    arrived_at = destination_of(ancillary)
    if arrived_at is None or is_multicast(arrived_at):
        return None
    return host_of((arrived_at, 0))


def destination_of(ancillary: Ancillary) -> str | None:
    """The address a datagram was sent to, from its ``IP_PKTINFO`` / ``IPV6_PKTINFO``;
    one that needs a scope (link-local, ``fe80::1%2``, or an interface- or link-local
    multicast group, ``ff02::1%2``) with that of the interface it arrived by, so that an
    answer sent to it leaves by that interface."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
            return socket.inet_ntop(socket.AF_INET, data[8:12])
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 20:
            address = socket.inet_ntop(socket.AF_INET6, data[:16])
            # fe80::/10, or ffx1::/16 and ffx2::/16 (needs_scope, without parsing).
            if (data[0] == 0xFE and data[1] & 0xC0 == 0x80) or (
                data[0] == 0xFF and data[1] & 0x0F in (1, 2)
            ):
                # struct in6_pktinfo: the address, then the interface index.
                return with_scope(address, int.from_bytes(data[16:20], sys.byteorder))
            return address
    return None
