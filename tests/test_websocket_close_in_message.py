"""A close frame inside a fragmented message (RFC 6455 5.4 lets control frames come
between a message's frames): the peer's close, answered and delivered with its code and
reason, and the unfinished message reported lost as the last event, never dropped
silently. Message and stream WebSockets, client and server, and the command line's
``send`` and ``echo-server --websocket``; the peers send hand-made frames."""

from __future__ import annotations

import socket

import pytest
import trio
from conftest import run_cli
from test_cli import _finish, _start
from test_server_websocket import serving
from websockets.server import ServerProtocol
from ws_peers import PEER_TIMEOUT, RawPeer, opening_request

from trio_sockets import (
    MessageWebSocket,
    MessageWebSocketReceiveMode,
    ServerMessageWebSocket,
    StreamSocket,
    StreamWebSocket,
    WebErrorStatus,
    WebSocketStatusError,
)

LIMIT = 30


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = False) -> bytes:
    """One frame of up to 125 bytes (a client's *masked*, with the all-zero mask)."""
    assert len(payload) <= 125
    head = bytes([(0x80 if fin else 0) | opcode, (0x80 if masked else 0) | len(payload)])
    return head + (b"\0\0\0\0" if masked else b"") + payload


def close_payload(code: int, reason: str) -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


#: What the servers below send: a whole message, then half of one and a close frame.
CUT = (
    frame(1, b"whole message")
    + frame(1, b"first half", fin=False)
    + frame(8, close_payload(1000, "bye"))
)


def send_cut_message(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
    assert protocol is not None
    sock.sendall(CUT)
    peer.read_until_close(sock, protocol)


def assert_cut(error: WebSocketStatusError, code: int, reason: str) -> None:
    assert error.status == WebErrorStatus.DISCONNECTED
    assert (error.close_code, error.close_reason) == (code, reason)
    assert f"code {code} and reason {reason!r} in the middle of a message" in str(error)


@pytest.mark.parametrize(
    "mode", [MessageWebSocketReceiveMode.FULL_MESSAGE, MessageWebSocketReceiveMode.PARTIAL_MESSAGE]
)
async def test_a_message_cut_by_the_peers_close_is_reported_lost_with_the_close(
    mode: MessageWebSocketReceiveMode,
) -> None:
    with RawPeer(send_cut_message) as peer:
        async with MessageWebSocket() as ws:
            ws.control.receive_mode = mode
            await ws.connect(peer.url())
            events = []
            with trio.fail_after(LIMIT):
                async for args in ws.message_received:
                    events.append(args)
                closed = await ws.closed.receive()
    assert (closed.code, closed.reason) == (1000, "bye")
    assert events[0].get_data_reader().read_bytes(13) == b"whole message"
    if mode is MessageWebSocketReceiveMode.PARTIAL_MESSAGE:  # its piece came as it arrived
        assert events[1].data == b"first half"
        assert not events[1].is_message_complete
    with pytest.raises(WebSocketStatusError) as caught:
        events[-1].get_data_reader()
    assert_cut(caught.value, 1000, "bye")
    assert "its 10 bytes received so far" in str(caught.value)
    # The close is answered as a close (echoed), not as a protocol error (1002).
    assert peer.received_close is not None
    assert (peer.received_close.code, peer.received_close.reason) == (1000, "bye")


async def test_a_stream_cut_by_the_peers_close_raises_after_its_bytes() -> None:
    with RawPeer(send_cut_message) as peer:
        async with StreamWebSocket() as ws:
            await ws.connect(peer.url())
            with trio.fail_after(LIMIT):
                received = await ws.receive_some(13)
                received += await ws.receive_some()
                with pytest.raises(WebSocketStatusError) as caught:
                    await ws.receive_some()
                closed = await ws.closed.receive()
    assert received == b"whole messagefirst half"
    assert_cut(caught.value, 1000, "bye")
    assert (closed.code, closed.reason) == (1000, "bye")


def _client_cuts_its_message(port: object) -> bytes:
    """A raw client: a message's first frame, then a close 1001 "interrupted"; returns
    what the server sent after its 101 answer, until it closed."""
    with socket.create_connection(("127.0.0.1", int(str(port))), timeout=PEER_TIMEOUT) as raw:
        raw.sendall(opening_request())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += raw.recv(4096)
        raw.sendall(
            frame(1, b"first half of a line", fin=False, masked=True)
            + frame(8, close_payload(1001, "interrupted"), masked=True)
        )
        rest = answer.partition(b"\r\n\r\n")[2]
        while chunk := raw.recv(4096):
            rest += chunk
        return rest


async def test_a_server_reports_the_clients_close_inside_a_message() -> None:
    seen: list[object] = []
    done = trio.Event()

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            await ws.accept()
            async for args in ws.message_received:
                try:
                    seen.append(args.data)
                except WebSocketStatusError as error:
                    seen.append(error)
            async for closed in ws.closed:
                seen.append((closed.code, closed.reason))
        done.set()

    async with serving(handler) as (port, _):
        with trio.fail_after(LIMIT):
            rest = await trio.to_thread.run_sync(_client_cuts_its_message, port)
            await done.wait()
    assert rest == frame(8, close_payload(1001, "interrupted"))  # echoed, not 1002
    assert isinstance(seen[0], WebSocketStatusError)
    assert_cut(seen[0], 1001, "interrupted")
    assert seen[1:] == [(1001, "interrupted")]


async def test_echo_server_reports_the_close_and_the_lost_message() -> None:
    process, port = await _start(
        ["echo-server", "0", "--host", "127.0.0.1", "--websocket", "--count", "1"]
    )
    try:
        with trio.fail_after(LIMIT):
            rest = await trio.to_thread.run_sync(_client_cuts_its_message, port)
        assert await _finish(process) == 0
        assert process.stdout is not None
        assert process.stderr is not None
        with trio.fail_after(LIMIT):
            out = await process.stdout.receive_some()
            err = await process.stderr.receive_some()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    assert rest == frame(8, close_payload(1001, "interrupted"))
    assert out.endswith(
        b": echoed 0 messages (0 bytes), close code 1001 in the middle of a message, "
        b"which was dropped\n"
    ), out
    assert err == b""


async def test_send_fails_naming_the_close_that_cut_a_message() -> None:
    with RawPeer(send_cut_message) as peer:
        result = await run_cli(["send", peer.url(), "--wait", "5"])
    assert result.stdout == b"whole message\n"
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith("trio-sockets: DISCONNECTED: "), stderr
    assert "code 1000 and reason 'bye' in the middle of a message" in stderr
    assert stderr.count("\n") == 1
