"""nothing_to_read: the kernel's FIONREAD answer, asked before a read likely to find
nothing. Real sockets on loopback: it says True only when a read would find no bytes,
or where the socket is readable all the same (an empty datagram first in line, the
end of a stream), so that a wait for readability returns at once."""

from __future__ import annotations

import select
import socket

from trio_sockets._io.sockio import nothing_to_read


def readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def test_udp_nothing_waiting_and_an_empty_datagram_first_in_line() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        address = receiver.getsockname()
        assert nothing_to_read(receiver)
        assert not readable(receiver)
        sender.sendto(b"", address)
        sender.sendto(b"data", address)
        # The kernel answers the size of the first datagram: 0, though two are waiting,
        # and the socket is readable, so a wait returns at once.
        assert nothing_to_read(receiver)
        assert readable(receiver)
        assert receiver.recv(10) == b""
        assert not nothing_to_read(receiver)
        assert receiver.recv(10) == b"data"
        assert nothing_to_read(receiver)


def test_tcp_bytes_waiting_and_the_end_of_the_stream() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()) as client,
    ):
        accepted, _ = server.accept()
        with accepted:
            accepted.setblocking(False)
            assert nothing_to_read(accepted)
            client.sendall(b"abc")
            assert select.select([accepted], [], [], 5)[0]
            assert not nothing_to_read(accepted)
            assert accepted.recv(10) == b"abc"
            assert nothing_to_read(accepted)
            client.shutdown(socket.SHUT_WR)
            assert select.select([accepted], [], [], 5)[0]
            assert nothing_to_read(accepted)  # the end of the stream: readable all the same
            assert accepted.recv(10) == b""


def test_a_closed_socket_is_not_said_to_hold_nothing() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.close()
    assert not nothing_to_read(sock)  # the read that follows says it is closed
