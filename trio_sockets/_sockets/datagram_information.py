"""``DatagramSocketInformation``: the addresses and receive counters of a DatagramSocket.

It reads the socket's :class:`~trio_sockets._sockets.datagram_binding.DatagramBinding`
(the addresses) and its :class:`~trio_sockets._io.datagram_receive.MessageReceiver` (the
counters), never the socket object itself.
"""

from __future__ import annotations

from .._core.hostname import HostName
from .._io.addresses import host_of
from .._io.datagram_receive import MessageReceiver
from .datagram_binding import DatagramBinding

__all__ = ["DatagramSocketInformation"]


class DatagramSocketInformation:
    """Addresses and counters of a :class:`~trio_sockets.DatagramSocket`
    (WinRT ``DatagramSocketInformation``).

    Readable at any time: before the socket is bound or connected the addresses are
    ``None`` and the ports ``""``, WinRT's values.
    """

    def __init__(self, binding: DatagramBinding, receiver: MessageReceiver) -> None:
        self._binding = binding
        self._receiver = receiver

    @property
    def local_address(self) -> HostName | None:
        """The local address bound (``::`` or ``0.0.0.0`` when bound to every address)."""
        local = self._binding.local_sockaddr()
        return host_of(local) if local is not None else None

    @property
    def local_port(self) -> str:
        """The local UDP port as a string; ``""`` before the socket has one."""
        local = self._binding.local_sockaddr()
        return str(local[1]) if local is not None and local[1] else ""

    @property
    def remote_address(self) -> HostName | None:
        """The connected remote; on a socket that is not connected, the remote of the
        latest ``get_output_stream``; else ``None``."""
        remote = self._binding.peer_or_destination()
        return host_of(remote) if remote is not None else None

    @property
    def remote_port(self) -> str:
        """The port of :attr:`remote_address` as a string, or ``""``."""
        remote = self._binding.peer_or_destination()
        return str(remote[1]) if remote is not None else ""

    @property
    def received_message_count(self) -> int:
        """Datagrams the socket took from the kernel for ``message_received``: those
        delivered into the channel plus those dropped because it was full. Datagrams a
        connected socket filters out (from other senders) are not counted."""
        return self._receiver.queue.received

    @property
    def kernel_dropped_message_count(self) -> int:
        """Datagrams the kernel itself dropped because the socket's receive buffer was
        full (see ``control.inbound_buffer_size_in_bytes``), before this socket could
        take them: Linux's count (``SO_RXQ_OVFL``) as of the latest datagram received.
        They are not part of :attr:`received_message_count`."""
        return self._receiver.kernel_dropped

    @property
    def dropped_message_count(self) -> int:
        """Datagrams dropped because ``message_received`` was full (its bound is the
        ``message_queue_size`` given to the constructor)."""
        return self._receiver.queue.dropped
