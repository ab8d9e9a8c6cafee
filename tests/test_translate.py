"""The one OSError translation of the socket paths, on real sockets."""

from __future__ import annotations

import socket
import struct

import pytest
import trio

from trio_sockets import SocketError, SocketErrorStatus, SocketStatusError
from trio_sockets._core.errors import socket_error
from trio_sockets._io.translate import translating


def connect_translated(sock: socket.socket, port: int) -> None:
    with translating(f"connect to 127.0.0.1:{port}", sock):
        sock.connect(("127.0.0.1", port))


def test_a_refused_connect_becomes_its_status_with_the_action_named() -> None:
    with socket.socket() as probe, socket.socket() as sock:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connects are refused
        with pytest.raises(SocketStatusError) as caught:
            connect_translated(sock, port)
    assert SocketError.get_status(caught.value) == SocketErrorStatus.CONNECTION_REFUSED
    assert str(caught.value).startswith(f"connect to 127.0.0.1:{port}: ")
    assert isinstance(caught.value, ConnectionRefusedError)
    assert not isinstance(caught.value, trio.BrokenResourceError)


def send_until_it_fails(sock: socket.socket) -> None:
    with translating("send", sock, broken=True):
        for _ in range(3):
            sock.send(b"x" * 65536)


def test_a_broken_stream_is_also_a_broken_resource_error() -> None:
    left, right = socket.socketpair()
    with left, right:
        right.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        right.close()  # the peer is gone: the next send meets a broken pipe
        with pytest.raises(SocketStatusError) as caught:
            send_until_it_fails(left)
    assert isinstance(caught.value, trio.BrokenResourceError)
    assert isinstance(caught.value.__cause__, OSError)


def receive_after_a_close(sock: socket.socket) -> None:
    with translating("receive", sock):
        sock.close()  # as another task's close would
        sock.recv(1)  # EBADF


def test_an_error_on_a_socket_closed_meanwhile_is_closed_resource_error() -> None:
    with pytest.raises(trio.ClosedResourceError, match="receive: the socket was closed"):
        receive_after_a_close(socket.socket())


def raise_in_translating(error: BaseException) -> None:
    with translating("receive"):
        raise error


def test_what_is_already_classified_or_no_os_error_passes_unchanged() -> None:
    error = socket_error(SocketErrorStatus.OPERATION_ABORTED, "receive: aborted by cancel_io()")
    with pytest.raises(SocketStatusError) as caught:
        raise_in_translating(error)
    assert caught.value is error
    with pytest.raises(ValueError, match="not an OSError"):
        raise_in_translating(ValueError("not an OSError"))
