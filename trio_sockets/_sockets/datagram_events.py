"""What a :class:`~trio_sockets.DatagramSocket` hands out: received messages, information.

The receive loop makes one :class:`DatagramSocketMessageReceivedEventArgs` per datagram.
It keeps the raw addresses and builds :class:`~trio_sockets.HostName` objects only when
they are asked for, so a flood of datagrams costs no name parsing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .._core.enums import InputStreamOptions
from .._core.errors import SocketStatusError
from .._core.hostname import HostName
from .._data.interfaces import InputStream
from .._data.reader import DataReader
from .._io.addresses import host_of
from .._io.resolver import SockAddr

if TYPE_CHECKING:
    from .datagram_socket import DatagramSocket

__all__ = ["DatagramSocketInformation", "DatagramSocketMessageReceivedEventArgs"]


def host_of_text(address: str) -> HostName:
    """The :class:`HostName` of an address as the kernel writes it (mapped IPv4 unmapped)."""
    return host_of((address, 0))


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

    __slots__ = ("_data", "_error", "_local", "_reader", "_remote", "_remote_host")

    def __init__(
        self,
        data: bytes,
        remote: SockAddr | None,
        local: str | None,
        error: SocketStatusError | None = None,
    ) -> None:
        self._data = data
        self._remote = remote
        self._local = local
        self._error = error
        self._reader: DataReader | None = None
        self._remote_host: HostName | None = None

    def __repr__(self) -> str:
        if self._error is not None:
            return f"<MessageReceived error {self._error}>"
        return (
            f"<MessageReceived {len(self._data)} bytes from {self.remote_address}:"
            f"{self.remote_port}>"
        )

    @property
    def remote_address(self) -> HostName | None:
        """The sender's address (for an error: the connected remote, or ``None``)."""
        if self._remote_host is None and self._remote is not None:
            self._remote_host = host_of(self._remote)
        return self._remote_host

    @property
    def remote_port(self) -> str:
        """The sender's UDP port, a ``str`` as in WinRT (``""`` when unknown)."""
        return str(self._remote[1]) if self._remote is not None else ""

    @property
    def local_address(self) -> HostName | None:
        """The address the datagram was sent to and arrived at (from ``IP_PKTINFO`` /
        ``IPV6_PKTINFO``): a local address, or the group or broadcast address it was
        sent to. ``None`` for an error event."""
        return host_of_text(self._local) if self._local is not None else None

    @property
    def error(self) -> SocketStatusError | None:
        """The receive error this event reports, or ``None`` for a datagram."""
        return self._error

    @property
    def data(self) -> bytes:
        """The datagram's bytes (raises the event's error, like :meth:`get_data_reader`)."""
        if self._error is not None:
            raise self._error
        return self._data

    def get_data_reader(self) -> DataReader:
        """A :class:`~trio_sockets.DataReader` over the datagram (WinRT ``GetDataReader``).

        Calling it again returns the same reader, so reads go on where the previous call
        left off, as in WinRT (one reader per message); once that reader is closed, a
        new one starts from the beginning.

        Raises:
            SocketStatusError: the receive error this event reports.
        """
        if self._error is not None:
            raise self._error
        reader = self._reader
        if reader is None or reader._closed:
            reader = self._reader = DataReader.from_buffer(self._data)
        return reader

    def get_data_stream(self) -> InputStream:
        """The raw bytes of the datagram as an input stream (WinRT ``GetDataStream``).

        Each call returns a new stream from the start of the datagram.

        Raises:
            SocketStatusError: the receive error this event reports.
        """
        if self._error is not None:
            raise self._error
        return DatagramInputStream(self._data)


class DatagramInputStream(InputStream):
    """An input stream over one datagram's bytes; ``read`` returns ``b""`` at its end."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._position = 0
        self._closed = False

    async def read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        """Read up to *count* bytes of the datagram; fewer (or ``b""``) at its end.

        Raises:
            TypeError / ValueError: a bad *count*.
            trio.ClosedResourceError: the stream was closed.
        """
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"count must be an int, not {type(count).__name__}")
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        if self._closed:
            raise trio.ClosedResourceError("this datagram stream was closed")
        await trio.lowlevel.checkpoint()
        start = self._position
        self._position = min(len(self._view), start + count)
        return bytes(self._view[start : self._position])

    async def aclose(self) -> None:
        """Close the stream; the socket is not affected."""
        self._closed = True
        await trio.lowlevel.checkpoint()


class DatagramSocketInformation:
    """Addresses and counters of a :class:`~trio_sockets.DatagramSocket`
    (WinRT ``DatagramSocketInformation``).

    Readable at any time: before the socket is bound or connected the addresses are
    ``None`` and the ports ``""``, WinRT's values.
    """

    def __init__(self, owner: DatagramSocket) -> None:
        self._owner = owner

    @property
    def local_address(self) -> HostName | None:
        """The local address bound (``::`` or ``0.0.0.0`` when bound to every address)."""
        local = self._owner._local_sockaddr()
        return host_of(local) if local is not None else None

    @property
    def local_port(self) -> str:
        """The local UDP port as a string; ``""`` before the socket has one."""
        local = self._owner._local_sockaddr()
        return str(local[1]) if local is not None and local[1] else ""

    @property
    def remote_address(self) -> HostName | None:
        """The connected remote; on a socket that is not connected, the remote of the
        latest ``get_output_stream``; else ``None``."""
        remote = self._owner._remote or self._owner._last_destination
        return host_of(remote) if remote is not None else None

    @property
    def remote_port(self) -> str:
        """The port of :attr:`remote_address` as a string, or ``""``."""
        remote = self._owner._remote or self._owner._last_destination
        return str(remote[1]) if remote is not None else ""

    @property
    def received_message_count(self) -> int:
        """Datagrams the socket took from the kernel for ``message_received``: those
        delivered into the channel plus those dropped because it was full. Datagrams a
        connected socket filters out (from other senders) are not counted."""
        return self._owner._receiver.received

    @property
    def kernel_dropped_message_count(self) -> int:
        """Datagrams the kernel itself dropped because the socket's receive buffer was
        full (see ``control.inbound_buffer_size_in_bytes``), before this socket could
        take them: Linux's count (``SO_RXQ_OVFL``) as of the latest datagram received.
        They are not part of :attr:`received_message_count`."""
        return self._owner._receiver.kernel_dropped

    @property
    def dropped_message_count(self) -> int:
        """Datagrams dropped because ``message_received`` was full (its bound is the
        ``message_queue_size`` given to the constructor)."""
        return self._owner._receiver.dropped
