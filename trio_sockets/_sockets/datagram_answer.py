"""Answering a received datagram from the address it was sent to: what ``trio-sockets
echo-server --udp`` and :class:`trio_sockets.testing.UdpEchoServer` do."""

from __future__ import annotations

from .._core.endpoint import EndpointPair
from .._core.hostname import HostName
from .._data.interfaces import SocketOutputStream
from .._io.datagram_message import DatagramSocketMessageReceivedEventArgs, answer_source
from .datagram_socket import DatagramSocket

__all__ = ["answer_stream"]

#: What ``information.local_address`` is for a socket bound to every address.
_EVERY_ADDRESS = frozenset({HostName("::"), HostName("0.0.0.0")})


async def answer_stream(
    sock: DatagramSocket, args: DatagramSocketMessageReceivedEventArgs
) -> SocketOutputStream:
    """The output stream of *sock* that answers *args*'s sender.

    On a socket bound to every address the answer leaves from the address the datagram
    was sent to (for a group or broadcast address: over IPv4 an address of the
    interface it came by, over IPv6 the one routing picks), so that a client that sent
    to a secondary address, and accepts only its peer's datagrams (a connected socket),
    gets it; routing alone would pick the interface's first address. On a socket bound
    to one address, that address is the source anyway.

    Raises:
        ValueError: the sender's port is 0, to which nothing can be sent.
        SocketStatusError: the stream could not be made (see
            :meth:`DatagramSocket.get_output_stream`).
    """
    remote = args.remote_address
    assert remote is not None
    source = answer_source(args)
    if source is None or sock.information.local_address not in _EVERY_ADDRESS:
        return await sock.get_output_stream(remote, args.remote_port)
    return await sock.get_output_stream(EndpointPair(source, "", remote, args.remote_port))
