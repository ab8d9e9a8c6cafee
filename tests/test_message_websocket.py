"""MessageWebSocket against independent peers: the ``websockets`` library's server in its
own thread, and hand-driven connections (tests/ws_peers.py) for misbehaving peers."""

from __future__ import annotations

import base64
import contextlib
import datetime
import enum
import functools
import http.server
import json
import logging
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio
from conftest import (
    assert_load_says_it_holds_the_whole,
    counting_steps,
    free_tcp_port,
    live_tasks,
    open_fd_count,
    wait_until,
)
from websockets.frames import Close
from websockets.http11 import Response
from websockets.server import ServerProtocol
from websockets.sync.server import ServerConnection
from ws_peers import (
    RawPeer,
    WebsocketsServer,
    flood,
    longest_stall,
    next_failure,
    read_request,
)

from trio_sockets import (
    ByteOrder,
    ChainValidationResult,
    DataWriter,
    MessageWebSocket,
    MessageWebSocketControl,
    MessageWebSocketReceiveMode,
    OutputStream,
    ServerMessageWebSocketControl,
    SocketMessageType,
    SocketOutputStream,
    SocketQualityOfService,
    StreamSocket,
    StreamWebSocket,
    WebErrorStatus,
    WebSocketError,
    WebSocketStatusError,
    WriteOperation,
)
from trio_sockets.testing import TlsCertificates

TEXT = SocketMessageType.UTF8
BINARY = SocketMessageType.BINARY
W = WebErrorStatus


@pytest.fixture
def server() -> Iterator[WebsocketsServer]:
    with WebsocketsServer() as peer:
        yield peer


async def receive(ws: MessageWebSocket) -> tuple[SocketMessageType, bytes]:
    with trio.fail_after(10):
        args = await ws.message_received.receive()
    reader = args.get_data_reader()
    return args.message_type, reader.read_bytes(reader.unconsumed_buffer_length)


async def test_text_and_binary_messages_echo(server: WebsocketsServer) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        assert await ws.output_stream.write(b"\x00\x01binary") == 8
        assert await receive(ws) == (BINARY, b"\x00\x01binary")
        ws.control.message_type = TEXT
        assert await ws.output_stream.write("héllo".encode()) == 6
        args = await ws.message_received.receive()
        assert args.message_type is TEXT
        assert args.is_message_complete
        reader = args.get_data_reader()
        assert reader.read_string(reader.unconsumed_buffer_length) == "héllo"
        stream = args.get_data_stream()
        with pytest.raises(TypeError, match=r"^options must be an InputStreamOptions, not"):
            await stream.read(100, None)  # type: ignore[arg-type]
        assert await stream.read(100) == "héllo".encode()
        assert ws.information.protocol == ""
        assert ws.information.local_address is not None
        assert ws.information.local_address.raw_name == "127.0.0.1"


async def test_a_message_write_is_a_write_operation(server: WebsocketsServer) -> None:
    # It was a private class of its own, with no nbytes: code written against
    # OutputStream.write() -> WriteOperation did not hold for WebSockets.
    async with MessageWebSocket() as ws, StreamWebSocket() as sw:
        await ws.connect(server.url("/echo"))
        await sw.connect(server.url("/echo"))
        for operation in (ws.output_stream.write(b"four"), sw.output_stream.write(b"four")):
            assert isinstance(operation, WriteOperation)
            assert operation.nbytes == 4
            assert await operation == 4
            assert operation.done
        assert isinstance(ws.output_stream, OutputStream)
        assert not isinstance(ws.output_stream, SocketOutputStream)


async def test_a_message_reader_asked_to_load_says_it_holds_the_whole_message(
    server: WebsocketsServer,
) -> None:
    """The reader of a received message has no stream: ``load()`` (``LoadAsync`` code
    ported as is) says that it holds the message and what to do instead, not that it was
    made by ``from_buffer()``, which the caller never called."""
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        await ws.output_stream.write(b"hello")
        with trio.fail_after(10):
            args = await ws.message_received.receive()
        reader = args.get_data_reader()
        await assert_load_says_it_holds_the_whole(reader, "message")
        assert reader.read_bytes(reader.unconsumed_buffer_length) == b"hello"
    code, _, _, _ = server.wait_closed("/echo")
    assert code == 1005  # aclose() with no code sends an empty close frame


async def test_get_data_reader_after_its_reader_was_closed_starts_a_new_one(
    server: WebsocketsServer,
) -> None:
    # As a datagram's: the same reader while it is open, a new one from the start (with
    # a new reader's settings) once it is closed.
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        await ws.output_stream.write(b"\x00\x02hello")
        with trio.fail_after(10):
            args = await ws.message_received.receive()
    with args.get_data_reader() as reader:
        reader.byte_order = ByteOrder.LITTLE_ENDIAN
        assert reader.read_uint16() == 0x200
        again = args.get_data_reader()
        assert again is reader
        assert again.read_string(2) == "he"
    fresh = args.get_data_reader()
    assert fresh is not reader
    assert fresh.unconsumed_buffer_length == 7
    assert fresh.byte_order is ByteOrder.BIG_ENDIAN
    assert fresh.read_uint16() == 2
    assert fresh.read_string(5) == "hello"
    assert args.get_data_reader() is fresh


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20])
async def test_messages_from_0_bytes_to_16_mib_echo(server: WebsocketsServer, size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        write = ws.output_stream.write(payload)
        assert await write == size
        with trio.fail_after(30):
            assert await receive(ws) == (BINARY, payload)


async def test_many_writes_are_sent_in_order_and_flush_waits_for_all(
    server: WebsocketsServer,
) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        for i in range(200):
            ws.output_stream.write(b"%d" % i)
        assert await ws.output_stream.flush() is True
        for i in range(200):
            assert await receive(ws) == (BINARY, b"%d" % i)


async def test_frames_make_one_fragmented_message(server: WebsocketsServer) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        ws.control.message_type = TEXT
        assert await ws.send_nonfinal_frame(b"caf\xc3") == 4
        ws.control.message_type = BINARY  # a message under way keeps its type
        assert await ws.send_nonfinal_frame(b"\xa9 ") == 2
        with pytest.raises(RuntimeError, match="send_final_frame"):
            ws.output_stream.write(b"interleaved")
        assert await ws.send_final_frame(b"au lait") == 7
        assert await receive(ws) == (TEXT, "café au lait".encode())
        assert await ws.send_final_frame(b"alone") == 5
        assert await receive(ws) == (BINARY, b"alone")


async def test_a_frame_refused_as_invalid_utf8_leaves_the_message_as_it_was(
    server: WebsocketsServer,
) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        ws.control.message_type = TEXT
        assert await ws.send_nonfinal_frame(b"a\xc3") == 2
        for refused in (b"(", b"\xa9\xff"):
            with pytest.raises(ValueError, match="valid UTF-8"):
                await ws.send_final_frame(refused)
        # The message still ends in the start of a character: an end now is refused too.
        with pytest.raises(ValueError, match="valid UTF-8"):
            await ws.send_final_frame(b"")
        assert await ws.send_final_frame(b"\xa9!") == 2
        assert await receive(ws) == (TEXT, "a\u00e9!".encode())
        # A refused first frame leaves no trace in the next message either.
        with pytest.raises(ValueError, match="valid UTF-8"):
            await ws.send_nonfinal_frame(b"\xc3(")
        assert await ws.send_final_frame(b"next") == 4
        assert await receive(ws) == (TEXT, b"next")


async def test_partial_mode_delivers_pieces_cut_at_character_boundaries(
    server: WebsocketsServer,
) -> None:
    async with MessageWebSocket() as ws:
        ws.control.receive_mode = MessageWebSocketReceiveMode.PARTIAL_MESSAGE
        await ws.connect(server.url("/partial"))
        pieces = []
        while True:
            with trio.fail_after(10):
                args = await ws.message_received.receive()
            reader = args.get_data_reader()
            # Every piece decodes on its own: no character is split between pieces.
            pieces.append(reader.read_string(reader.unconsumed_buffer_length))
            assert args.message_type is TEXT
            if args.is_message_complete:
                break
        # websockets ends a message sent from an iterable with an empty final frame.
        assert pieces == ["caf", "é cr", "ème", ""]
        # A whole message in partial mode is one complete piece.
        await ws.output_stream.write(b"whole")
        args = await ws.message_received.receive()
        assert args.is_message_complete
        assert args.get_data_reader().read_bytes(5) == b"whole"


async def test_full_mode_joins_the_fragments(server: WebsocketsServer) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/partial"))
        assert await receive(ws) == (TEXT, "café crème".encode())


async def test_request_headers_and_subprotocols_are_sent() -> None:
    with WebsocketsServer(subprotocols=["chat.v2", "chat.v1"]) as server:
        async with MessageWebSocket() as ws:
            ws.set_request_header("X-Token", "s3cret")
            ws.set_request_header("x-token", "replaced")
            ws.control.supported_protocols.extend(["chat.v1", "chat.v2"])
            await ws.connect(server.url("/headers"))
            assert ws.information.protocol == "chat.v2"
            _, body = await receive(ws)
            headers = json.loads(body)
            assert headers["x-token"] == "replaced"
            assert headers["Sec-WebSocket-Protocol"] == "chat.v1, chat.v2"
            with pytest.raises(RuntimeError, match="before connect"):
                ws.set_request_header("X-Late", "1")
            with pytest.raises(RuntimeError, match="max_message_size"):
                ws.control.max_message_size = 10
            ws.control.supported_protocols.append("ignored")  # read at connect only
            ws.control.outbound_buffer_size_in_bytes = 65536  # no effect once connected
            assert ws.control.outbound_buffer_size_in_bytes is None
            with pytest.raises(ValueError, match="outbound_buffer_size_in_bytes"):
                ws.control.outbound_buffer_size_in_bytes = 0


@pytest.mark.parametrize(
    ("name", "value", "error", "shown"),
    [
        ("Sec-WebSocket-Extensions", "permessage-deflate", ValueError, "permessage_deflate"),
        ("Upgrade", "h2c", ValueError, "Upgrade"),
        ("Host", "other.example", ValueError, "Host is set by the opening handshake"),
        ("Content-Length", "5", ValueError, "has no body"),
        ("transfer-encoding", "chunked", ValueError, "has no body"),
        ("Bad Name", "x", ValueError, "'Bad Name'"),
        ("X-Ok", "evil\r\nInjected: 1", ValueError, "control characters"),
        (b"X-Bytes", "x", TypeError, "bytes"),
        ("X-Int", 3, TypeError, "int 3"),
    ],
)
def test_bad_request_headers_are_refused_by_name(
    name: object, value: object, error: type[Exception], shown: str
) -> None:
    with pytest.raises(error, match=shown):
        MessageWebSocket().set_request_header(name, value)  # type: ignore[arg-type]


def test_control_checks_name_the_bad_value() -> None:
    control = MessageWebSocket().control
    assert control.message_type is BINARY
    assert control.max_message_size == 0xFFFFFFFF
    assert control.receive_mode is MessageWebSocketReceiveMode.FULL_MESSAGE
    assert control.desired_unsolicited_pong_interval == datetime.timedelta(0)
    assert control.actual_unsolicited_pong_interval == datetime.timedelta(0)
    assert control.outbound_buffer_size_in_bytes is None
    with pytest.raises(TypeError, match=r"message_type .*int 7"):
        control.message_type = 7  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"message_type .*str 'UTF8'"):
        control.message_type = "UTF8"  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"max_message_size .* 0"):
        control.max_message_size = 0
    with pytest.raises(TypeError, match=r"max_message_size .*bool True"):
        control.max_message_size = True
    with pytest.raises(TypeError, match=r"receive_mode .*int 2"):
        control.receive_mode = 2  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"desired_unsolicited_pong_interval .*int 5"):
        control.desired_unsolicited_pong_interval = 5  # type: ignore[assignment]
    with pytest.raises(ValueError, match="desired_unsolicited_pong_interval"):
        control.desired_unsolicited_pong_interval = datetime.timedelta(seconds=-1)
    with pytest.raises(ValueError, match=r"deflate_max_window_bits .* 8"):
        control.deflate_max_window_bits = 8
    with pytest.raises(ValueError, match="close_timeout"):
        control.close_timeout = 0
    with pytest.raises(ValueError, match="ignorable_server_certificate_errors"):
        control.ignorable_server_certificate_errors = {ChainValidationResult.REVOKED}
    with pytest.raises(ValueError, match="outbound_buffer_size_in_bytes"):
        control.outbound_buffer_size_in_bytes = -1
    control.message_type = TEXT
    control.receive_mode = MessageWebSocketReceiveMode.PARTIAL_MESSAGE
    assert control.message_type is TEXT
    with pytest.raises(NotImplementedError, match="Windows-only"):
        control.server_credential = ("user", "password")


@pytest.mark.parametrize("server", [False, True])
@pytest.mark.parametrize(
    ("setting", "member", "other"),
    [
        ("message_type", SocketMessageType.UTF8, ByteOrder.BIG_ENDIAN),
        ("message_type", SocketMessageType.BINARY, SocketQualityOfService.NORMAL),
        ("receive_mode", MessageWebSocketReceiveMode.PARTIAL_MESSAGE, SocketMessageType.UTF8),
    ],
)
def test_enum_settings_take_their_own_members_only(
    server: bool, setting: str, member: enum.IntEnum, other: enum.IntEnum
) -> None:
    """As every enum setting (``quality_of_service``, ``byte_order``...): a plain int, or
    a member of another enum with the same number, is refused with TypeError naming the
    setting and the value, and the setting keeps its value."""
    assert int(member) == int(other)
    control: MessageWebSocketControl | ServerMessageWebSocketControl = (
        ServerMessageWebSocketControl(StreamSocket().control)
        if server
        else MessageWebSocket().control
    )
    before = getattr(control, setting)
    for value in (other, int(member), str(int(member))):
        with pytest.raises(TypeError, match=rf"^{setting} must be a {type(member).__name__}, not "):
            setattr(control, setting, value)
        assert getattr(control, setting) is before
    setattr(control, setting, member)
    assert getattr(control, setting) is member


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("http://127.0.0.1/", ValueError),
        ("127.0.0.1:80", ValueError),
        ("ws://", ValueError),
        # urllib's own ValueErrors, which name neither the URI nor the argument
        ("ws://[127.0.0.1/", ValueError),
        ("ws://127.0.0.1:99999/", ValueError),
        ("ws://127.0.0.1:http/", ValueError),
        (b"ws://127.0.0.1/", TypeError),
        # control characters, which urllib would drop silently (another path)
        ("ws://127.0.0.1:1/a\r\nb", ValueError),
        ("ws://127.0.0.1:1/a\tb", ValueError),
        ("ws://127.0.0.1:1/?q=a\x00b", ValueError),
        ("ws://127.0.0.1:1/a\x7fb", ValueError),
    ],
)
async def test_bad_uris_are_refused_by_name(uri: object, error: type[Exception]) -> None:
    async with MessageWebSocket() as ws:
        with pytest.raises(error, match="uri"):
            await ws.connect(uri)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("/sp ace", "/sp%20ace"),
        ("/x HTTP/1.0", "/x%20HTTP/1.0"),
        ("/caf\u00e9?q=a b&r=\u00e8", "/caf%C3%A9?q=a%20b&r=%C3%A8"),
        ("/kept%20as%2Fis?and%zz", "/kept%20as%2Fis?and%25zz"),
        ('/"<>\\^`{|}', "/%22%3C%3E%5C%5E%60%7B%7C%7D"),
        ("/a:b@c!$&'()*+,;=/?x=1", "/a:b@c!$&'()*+,;=/?x=1"),
        # RFC 3986 allows brackets only around an IPv6 host, not in a path or query.
        ("/[x]?y=[1]", "/%5Bx%5D?y=%5B1%5D"),
    ],
    ids=["space", "http-version", "non-ascii", "escapes", "unsafe", "delimiters", "brackets"],
)
async def test_characters_a_uri_cannot_carry_are_percent_encoded(
    server: WebsocketsServer, path: str, sent: str
) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url(path))
        await ws.aclose()
    assert server.wait_closed(sent)[0] == 1005


async def test_debug_logs_of_the_handshake_hide_credentials(
    server: WebsocketsServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The protocol logs each handshake header at DEBUG; the Authorization header of
    user:password (Basic, base64: no secret) and cookies are logged as ``***``."""
    caplog.set_level(logging.DEBUG, logger="trio_sockets.websocket")
    uri = server.url("/echo").replace("ws://", "ws://alice:S3cret-pw@")
    async with MessageWebSocket() as ws:
        ws.set_request_header("Cookie", "session=abcdef")
        with trio.fail_after(10):
            await ws.connect(uri)
    lines = [record.getMessage() for record in caplog.records]
    assert "> Authorization: ***" in lines
    assert "> Cookie: ***" in lines
    logged = "\n".join(lines)
    assert base64.b64encode(b"alice:S3cret-pw").decode() not in logged
    assert "abcdef" not in logged
    assert "> Host: " in logged  # the other headers are logged as they are


async def test_an_output_stream_refuses_settings_it_does_not_have() -> None:
    """A WebSocket's output has no max_pending_bytes of its own (its bound is the
    connection's): setting one is an AttributeError, never silently kept unused."""
    async with MessageWebSocket() as message_ws, StreamWebSocket() as stream_ws:
        for ws in (message_ws, stream_ws):
            with pytest.raises(AttributeError, match="max_pending_bytes"):
                ws.output_stream.max_pending_bytes = 4 << 20  # type: ignore[attr-defined]
        with pytest.raises(AttributeError, match="read_ahead_limit"):
            stream_ws.input_stream.read_ahead_limit = 1  # type: ignore[attr-defined]


async def test_connect_needs_async_with_and_write_needs_connect() -> None:
    ws = MessageWebSocket()
    with pytest.raises(RuntimeError, match="async with"):
        await ws.connect("ws://127.0.0.1:1/")
    async with MessageWebSocket() as ws:
        with pytest.raises(RuntimeError, match="connect"):
            ws.output_stream.write(b"x")
        with pytest.raises(RuntimeError, match="connect"):
            await ws.output_stream.flush()


async def test_entering_again_while_open_closes_on_exit_like_every_socket(
    server: WebsocketsServer,
) -> None:
    # As for every socket class (trio's AsyncResource): a nested ``async with`` closes
    # the WebSocket when it ends; entering once it has closed is refused.
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        async with ws as again:
            assert again is ws
            assert await ws.output_stream.write(b"x") == 1
        with pytest.raises(WebSocketStatusError) as caught:
            await ws.output_stream.write(b"y")
        assert caught.value.status is WebErrorStatus.OPERATION_CANCELED
        assert await ws.closed.receive() is not None
    with pytest.raises(RuntimeError, match="only once"):
        async with ws:
            pass


async def test_a_password_in_the_uri_is_not_shown_and_not_doubled() -> None:
    """``ws://user:password@host`` sends the password as an Authorization header: it
    never appears in messages or ``repr``, and a second Authorization header set by
    hand is refused, not sent alongside."""
    async with MessageWebSocket() as ws:
        uri = f"ws://alice:s3cret@127.0.0.1:{free_tcp_port()}/"
        with pytest.raises(WebSocketStatusError) as caught:
            await ws.connect(uri)
        assert "s3cret" not in str(caught.value)
        assert "alice:***@127.0.0.1" in str(caught.value)
        assert "s3cret" not in repr(ws)
        ws.set_request_header("Authorization", "Bearer token")
        with pytest.raises(ValueError, match="Authorization"):
            await ws.connect(uri)


async def test_a_refused_port_is_cannot_connect_and_the_socket_can_retry(
    server: WebsocketsServer,
) -> None:
    async with MessageWebSocket() as ws:
        with pytest.raises(WebSocketStatusError) as caught:
            await ws.connect(f"ws://127.0.0.1:{free_tcp_port()}/")
        assert caught.value.status is W.CANNOT_CONNECT
        assert isinstance(caught.value, ConnectionRefusedError)
        assert WebSocketError.get_status(caught.value) is W.CANNOT_CONNECT
        await ws.connect(server.url("/echo"))
        await ws.output_stream.write(b"after retry")
        assert await receive(ws) == (BINARY, b"after retry")


async def test_a_404_handshake_is_not_found_and_the_socket_can_retry() -> None:
    def refuse(connection: ServerConnection, request: object) -> Response | None:
        assert hasattr(request, "path")
        if request.path == "/missing":
            return connection.respond(404, "no such endpoint\n")
        return None

    with WebsocketsServer(process_request=refuse) as server:
        async with MessageWebSocket() as ws:
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(server.url("/missing"))
            assert caught.value.status is W.NOT_FOUND
            assert WebSocketError.get_status(caught.value) == 404
            await ws.connect(server.url("/echo"))
            await ws.output_stream.write(b"found")
            assert await receive(ws) == (BINARY, b"found")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _http_server(directory: Path) -> Iterator[int]:
    """Python's own ``http.server`` (it answers HTTP/1.0) serving *directory* in a
    thread on 127.0.0.1; yields its port."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield httpd.server_address[1]
        finally:
            httpd.shutdown()
            thread.join(10)


async def test_an_http_1_0_answer_from_pythons_http_server_is_its_status(
    tmp_path: Path,
) -> None:
    (tmp_path / "index.html").write_text("an HTTP server, not a WebSocket one\n")
    with _http_server(tmp_path) as port:
        async with MessageWebSocket() as ws:
            ws.control.handshake_timeout = 10
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(f"ws://127.0.0.1:{port}/missing")
            assert caught.value.status is W.NOT_FOUND
            assert WebSocketError.get_status(caught.value) == 404
            assert "server rejected WebSocket connection: HTTP 404" in str(caught.value)
            # An answer of 200 is no upgrade either: as for HTTP/1.1.
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(f"ws://127.0.0.1:{port}/")
            assert caught.value.status is W.UNEXPECTED_STATUS_CODE


def _answer_with(*parts: bytes) -> Callable[[RawPeer, socket.socket, ServerProtocol | None], None]:
    """A peer that reads the request, sends *parts* (a pause between them), and closes."""

    def answer(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        read_request(sock)
        for index, part in enumerate(parts):
            if index:
                time.sleep(0.05)
            sock.sendall(part)
        with contextlib.suppress(OSError):  # the client may have closed already
            sock.shutdown(socket.SHUT_WR)

    return answer


_ACCEPT_101 = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


@pytest.mark.parametrize(
    ("parts", "status"),
    [
        ((b"HTTP/1.0 404 Not Found\r\n\r\n",), W.NOT_FOUND),
        ((b"HTTP/1.0 403 Forbidden\r\nContent-Length: 0\r\n\r\n",), W.FORBIDDEN),
        ((b"HTTP/1.0 503 \r\n\r\n",), W.SERVICE_UNAVAILABLE),  # an empty reason
        ((b"HTTP/1.0 418 I'm a teapot\r\n\r\n",), W.UNEXPECTED_CLIENT_ERROR),
        ((b"HTTP/1.0 599 Odd\r\n\r\n",), W.UNEXPECTED_SERVER_ERROR),
        ((b"HTTP/1.0 100 Continue\r\n\r\n",), W.UNEXPECTED_STATUS_CODE),
        ((b"HTTP/1.0 40", b"4 Not Found\r", b"\n\r\n"), W.NOT_FOUND),  # in pieces
        ((b"HTTP/1.0 404 N\xf6t F\tound\r\n\r\n",), W.NOT_FOUND),  # obs-text, a tab
        ((b"HTTP/1.0 404 " + b"x" * 8100 + b"\r\n\r\n",), W.NOT_FOUND),  # a long reason
        # The status line is whole: what follows it does not hide the refusal.
        ((b"HTTP/1.1 404 Not Found\r\nno colon\r\n\r\n",), W.NOT_FOUND),
        ((b"HTTP/1.0 404 Not Found\r\nContent-Le",), W.NOT_FOUND),
        # Anything else stays an invalid answer.
        ((b"HTTP/1.0 101 Switching Protocols\r\n" + _ACCEPT_101,), None),
        ((b"HTTP/1.0 99 Low\r\n\r\n",), None),
        ((b"HTTP/1.0 600 High\r\n\r\n",), None),
        ((b"HTTP/1.0 0404 Not Found\r\n\r\n",), None),
        ((b"HTTP/1.0 4040 Not Found\r\n\r\n",), None),
        ((b"HTTP/1.0 +40 Not Found\r\n\r\n",), None),
        ((b"HTTP/1.0 404\r\n\r\n",), None),  # no space before the (empty) reason
        ((b"HTTP/1.0  404 Not Found\r\n\r\n",), None),
        ((b"HTTP/1.0 404 Not\x00Found\r\n\r\n",), None),
        ((b"HTTP/1.0 404 Not Found\n\n",), None),  # no CR
        ((b"HTTP/1.0 404 Not Found",), None),  # the line never ends
        ((b"http/1.0 404 Not Found\r\n\r\n",), None),
        ((b"HTTP/1.2 404 Not Found\r\n\r\n",), None),
        ((b"HTTP/2 404 Not Found\r\n\r\n",), None),
        ((b"\r\nHTTP/1.0 404 Not Found\r\n\r\n",), None),
        ((b"HTTP/1.0 404 " + b"x" * 8200 + b"\r\n\r\n",), None),  # past 8 KiB
    ],
)
async def test_a_non_101_http_1_0_or_1_1_status_line_is_that_status_anything_else_invalid(
    parts: tuple[bytes, ...], status: WebErrorStatus | None
) -> None:
    with RawPeer(_answer_with(*parts), answer=False) as peer:
        async with MessageWebSocket() as ws:
            ws.control.handshake_timeout = 10
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(peer.url())
            if status is None:
                assert caught.value.status is W.ERROR_HTTP_INVALID_SERVER_RESPONSE
            else:
                assert caught.value.status is status
                assert WebSocketError.get_status(caught.value) is status
                assert "server rejected WebSocket connection: HTTP " in str(caught.value)


def _refuse_then_hold(
    head: bytes, body: Callable[[socket.socket, threading.Event], None]
) -> Callable[[RawPeer, socket.socket, ServerProtocol | None], None]:
    """A peer that reads the request, answers with *head*, then runs *body* (it keeps
    the connection open until the test ends)."""

    def answer(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        read_request(sock)
        sock.sendall(head)
        with contextlib.suppress(OSError):  # the client closed
            body(sock, peer.stop)

    return answer


def _hold(sock: socket.socket, stop: threading.Event) -> None:
    stop.wait(10)


def _one_byte_chunks(sock: socket.socket, stop: threading.Event) -> None:
    chunks = b"1\r\na\r\n" * 10_000
    for _ in range(1_000):  # as fast as the client reads: 60 MB at most
        if stop.is_set():
            return
        sock.sendall(chunks)


@pytest.mark.parametrize(
    ("head", "body", "status", "header"),
    [
        # The body falls short of its length; the connection stays open.
        (
            b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="chat"\r\n'
            b"Content-Length: 200\r\n\r\n" + b"x" * 20,
            _hold,
            W.UNAUTHORIZED,
            ("WWW-Authenticate", 'Basic realm="chat"'),
        ),
        # No length: the body runs to the end of the connection, which does not come.
        (
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n\r\nbusy",
            _hold,
            W.SERVICE_UNAVAILABLE,
            ("Retry-After", "30"),
        ),
        # 1-byte chunks: websockets' parser copies the body so far for each one.
        (
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n",
            _one_byte_chunks,
            W.NOT_FOUND,
            ("Transfer-Encoding", "chunked"),
        ),
        # A redirect is not followed: its Location is the application's to use.
        (
            b"HTTP/1.0 301 Moved Permanently\r\nLocation: ws://127.0.0.1:9/new\r\n\r\n",
            _hold,
            W.MOVED_PERMANENTLY,
            ("Location", "ws://127.0.0.1:9/new"),
        ),
        # A head longer than what is kept (64 KiB): the headers within it are there.
        (
            b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n"
            + b"".join(b"X-%d: %s\r\n" % (n, b"v" * 1000) for n in range(100))
            + b"\r\n",
            _hold,
            W.FOUND,
            ("Location", "/elsewhere"),
        ),
    ],
    ids=["short body", "no length", "one-byte chunks", "redirect", "huge head"],
)
async def test_a_refusal_is_its_status_and_headers_at_once_whatever_its_body(
    head: bytes,
    body: Callable[[socket.socket, threading.Event], None],
    status: WebErrorStatus,
    header: tuple[str, str],
) -> None:
    """A refusal's body is of no use to a client and is not read. Waiting for it held
    a refusal whose body was slow or never ended for the whole handshake timeout, then
    reported TIMEOUT; a body of 1-byte chunks took the parser a minute of work on the
    event loop (quadratic), stalling the program for seconds at a time."""
    with RawPeer(_refuse_then_hold(head, body), answer=False) as peer:
        async with MessageWebSocket() as ws, longest_stall() as stall:
            ws.control.handshake_timeout = 10
            with trio.fail_after(5), pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(peer.url())
    assert caught.value.status is status
    assert header in caught.value.response_headers
    assert stall[0] < 0.25


async def test_a_handshake_that_never_comes_times_out() -> None:
    def wait(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        peer.stop.wait(10)

    with RawPeer(wait, answer=False) as peer:
        async with MessageWebSocket() as ws:
            ws.control.handshake_timeout = 0.3
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(peer.url())
            assert caught.value.status is W.TIMEOUT


async def test_a_tls_handshake_that_never_comes_times_out_within_the_handshake_timeout() -> None:
    # A wss:// server that accepts TCP and never answers the ClientHello: the TLS
    # handshake is part of the opening handshake, bounded by control.handshake_timeout.
    def wait(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        peer.stop.wait(10)

    with RawPeer(wait, answer=False) as peer:
        async with MessageWebSocket() as ws:
            ws.control.handshake_timeout = 0.3
            start = trio.current_time()
            with trio.fail_after(5), pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(f"wss://127.0.0.1:{peer.port}/")
            assert caught.value.status is W.TIMEOUT
            assert trio.current_time() - start < 3
            assert "0.3 s" in str(caught.value)


async def test_closing_during_connect_fails_the_connect_and_leaks_nothing() -> None:
    def wait(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        peer.stop.wait(10)

    fds = open_socket_count()
    with RawPeer(wait, answer=False) as peer:
        async with MessageWebSocket() as ws, trio.open_nursery() as nursery:
            failures: list[BaseException] = []

            async def connect() -> None:
                try:
                    await ws.connect(peer.url())
                except WebSocketStatusError as exc:
                    failures.append(exc)

            nursery.start_soon(connect)
            await trio.sleep(0.1)  # the handshake is under way, unanswered
            with trio.fail_after(5):
                await ws.aclose()
        assert len(failures) == 1
        assert WebSocketError.get_status(failures[0]) is W.OPERATION_CANCELED
        assert isinstance(failures[0], trio.ClosedResourceError)
    await wait_until(lambda: open_socket_count() == fds, within=5)


async def test_wss_uses_the_socket_tls_settings_and_the_retry_pattern(tmp_path: Path) -> None:
    certificates = TlsCertificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificates.files("server"))
    with WebsocketsServer(ssl=context) as server:
        url = server.url("/echo", "wss")
        async with MessageWebSocket() as ws:
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(url)
            assert caught.value.status is W.CERTIFICATE_CONTAINS_ERRORS
            assert ws.information.server_certificate_errors == [ChainValidationResult.UNTRUSTED]
            ws.control.ignorable_server_certificate_errors.update(
                ws.information.server_certificate_errors
            )
            await ws.connect(url)
            assert ws.information.server_certificate == certificates.server
            await ws.output_stream.write(b"secure")
            assert await receive(ws) == (BINARY, b"secure")
        async with MessageWebSocket() as ws:
            ws.control.trusted_certificates = [certificates.authority]
            await ws.connect(url)
            assert ws.information.server_certificate_errors == []
            await ws.output_stream.write(b"trusted")
            assert await receive(ws) == (BINARY, b"trusted")


async def test_local_close_sends_code_and_reason_and_reports_the_answer(
    server: WebsocketsServer,
) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        await ws.aclose(4000, "done here")
        with trio.fail_after(5):
            closed = await ws.closed.receive()
        assert (closed.code, closed.reason) == (4000, "done here")
        with pytest.raises(WebSocketStatusError) as caught:
            ws.output_stream.write(b"late")
        assert caught.value.status is W.OPERATION_CANCELED
        assert isinstance(caught.value, trio.ClosedResourceError)
        await ws.aclose()  # idempotent
    assert server.wait_closed("/echo")[:2] == (4000, "done here")


async def test_aclose_after_the_peers_close_came_reports_it_in_closed() -> None:
    # The peer's close frame comes in the packet of the 101: the handshake is under way
    # before the application's aclose(). Whether the reader has run by then depends on
    # trio's scheduling order, which varies: several rounds.
    close = b"\x88\x05" + struct.pack("!H", 4002) + b"srv"

    def read_answer(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        peer.read_until_close(sock, protocol)

    for _ in range(8):
        with RawPeer(read_answer, with_response=close) as peer:
            async with MessageWebSocket() as ws:
                await ws.connect(peer.url())
                await ws.aclose(3001, "cli")
                with trio.fail_after(5):
                    closed = [(event.code, event.reason) async for event in ws.closed]
            assert closed == [(4002, "srv")]
        assert peer.received_close is not None
        assert (peer.received_close.code, peer.received_close.reason) == (4002, "srv")


async def test_a_second_aclose_waits_for_the_answer_the_first_waits_for() -> None:
    ended: list[bytes] = []

    def answer_late(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        while protocol.close_rcvd is None and (data := sock.recv(65536)):
            protocol.receive_data(data)
        time.sleep(0.5)
        sock.sendall(b"\x88\x08" + struct.pack("!H", 1000) + b"answer")
        sock.shutdown(socket.SHUT_WR)  # the server ends TCP first (RFC 6455 7.1.1)
        ended.append(sock.recv(64))  # b"" once this side closes, not a reset

    with RawPeer(answer_late) as peer:
        async with MessageWebSocket() as ws:
            ws.control.close_timeout = 5
            await ws.connect(peer.url())
            start = trio.current_time()
            returned: list[float] = []

            async def close(code: int, delay: float) -> None:
                await trio.sleep(delay)
                await ws.aclose(code, "bye")
                returned.append(trio.current_time() - start)

            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(close, 1000, 0)
                    nursery.start_soon(close, 1001, 0.1)
                closed = [(event.code, event.reason) async for event in ws.closed]
        assert closed == [(1000, "answer")]
        assert len(returned) == 2
        assert min(returned) > 0.4  # neither cut the handshake short
    assert ended == [b""]


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (999, "", ValueError),
        (1004, "", ValueError),
        (1006, "", ValueError),
        (1015, "", ValueError),
        (1016, "", ValueError),
        (2999, "", ValueError),
        (5000, "", ValueError),
        (1000, "x" * 124, ValueError),
        (1000, "lone \ud800", ValueError),
        (None, "reason without code", ValueError),
        ("1000", "", TypeError),
        (1000, b"bytes", TypeError),
    ],
)
async def test_bad_close_arguments_are_refused(code: object, reason: object, error: type) -> None:
    ws = MessageWebSocket()
    with pytest.raises(error):
        await ws.aclose(code, reason)  # type: ignore[arg-type]


async def test_a_reserved_close_code_is_refused_and_the_connection_goes_on(
    server: WebsocketsServer,
) -> None:
    """Codes the protocol reserves (1016-2999 among them) are refused before anything is
    sent: the connection stays open, and a sendable code then closes it."""
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        for code, reason in ((2999, ""), (1016, ""), (1000, "\udc80")):
            with pytest.raises(ValueError, match=r"reserved|not valid text"):
                await ws.aclose(code, reason)
        await ws.output_stream.write(b"still open")
        with trio.fail_after(5):
            assert (await ws.message_received.receive()).data == b"still open"
        await ws.aclose(3000, "fine")
        with trio.fail_after(5):
            closed = await ws.closed.receive()
        assert (closed.code, closed.reason) == (3000, "fine")
    assert server.wait_closed("/echo")[:2] == (3000, "fine")


async def test_remote_close_keeps_earlier_messages_readable(server: WebsocketsServer) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/close"))
        with trio.fail_after(5):
            closed = await ws.closed.receive()
        assert (closed.code, closed.reason) == (4001, "bye")
        texts = []
        with trio.fail_after(5):
            async for args in ws.message_received:
                texts.append(args.get_data_reader().read_string(3 if len(texts) < 2 else 5))
        assert texts == ["one", "two", "three"]
        with pytest.raises(WebSocketStatusError) as caught:
            ws.output_stream.write(b"after")
        assert caught.value.status is W.DISCONNECTED
        assert caught.value.close_code == 4001


async def test_abrupt_tcp_loss_fires_no_closed_event_and_fails_with_a_status() -> None:
    def drop(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        protocol.send_text(b"before the drop")
        sock.sendall(b"".join(protocol.data_to_send()))

    with RawPeer(drop) as peer:
        async with MessageWebSocket() as ws:
            await ws.connect(peer.url())
            assert await receive(ws) == (TEXT, b"before the drop")
            with trio.fail_after(5):
                args = await ws.message_received.receive()
            with pytest.raises(WebSocketStatusError) as caught:
                args.get_data_reader()
            assert caught.value.status is W.CONNECTION_ABORTED
            assert WebSocketError.get_status(caught.value) is W.CONNECTION_ABORTED
            with trio.fail_after(5):
                async for event in ws.closed:
                    pytest.fail(f"a closed event after a TCP loss: {event}")
                async for args in ws.message_received:
                    pytest.fail(f"an event after the failure: {args}")
            with pytest.raises(WebSocketStatusError) as caught:
                ws.output_stream.write(b"x")
            assert caught.value.status is W.CONNECTION_ABORTED


async def test_a_reset_connection_fails_with_connection_reset() -> None:
    def reset(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with RawPeer(reset) as peer:
        async with MessageWebSocket() as ws:
            await ws.connect(peer.url())
            with trio.fail_after(5):
                args = await ws.message_received.receive()
            with pytest.raises(WebSocketStatusError) as caught:
                args.get_data_reader()
            assert caught.value.status is W.CONNECTION_RESET
            assert isinstance(caught.value.__cause__, ConnectionResetError)
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.output_stream.write(b"into the void")
            assert caught.value.status is W.CONNECTION_RESET
            assert isinstance(caught.value, trio.BrokenResourceError)
            with trio.fail_after(5):
                async for event in ws.closed:
                    pytest.fail(f"a closed event after a reset: {event}")


async def test_an_oversized_message_closes_with_1009(server: WebsocketsServer) -> None:
    async with MessageWebSocket() as ws:
        ws.control.max_message_size = 1000
        await ws.connect(server.url("/big/1001"))
        failure = await next_failure(ws)
        assert failure.status is W.REQUEST_ENTITY_TOO_LARGE
        assert failure.close_code == 1009
    assert server.wait_closed("/big/1001")[0] == 1009


@pytest.mark.parametrize(
    ("frame", "status", "code"),
    [
        (b"\x81\x82abcd\x09\x0b", W.ERROR_HTTP_INVALID_SERVER_RESPONSE, 1002),  # masked
        (b"\x88\x01\x03", W.ERROR_HTTP_INVALID_SERVER_RESPONSE, 1002),  # a 1-byte close
        (b"\x82\x7e\x03\xe9" + b"b" * 1001, W.REQUEST_ENTITY_TOO_LARGE, 1009),
    ],
    ids=["masked", "short-close", "too-big"],
)
async def test_a_failure_this_side_found_wins_over_the_reset_after_it(
    frame: bytes, status: WebErrorStatus, code: int
) -> None:
    # The peer reads this side's close frame, then resets the connection.
    def reset(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        sock.sendall(frame)
        received = b""
        while len(received) < 8 and (data := sock.recv(64)):
            received += data
        assert received[0] == 0x88  # this side's close frame: 2 bytes of code, masked
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with RawPeer(reset) as peer:
        async with MessageWebSocket() as ws:
            ws.control.max_message_size = 1000
            await ws.connect(peer.url())
            failure = await next_failure(ws)
            assert (failure.status, failure.close_code) == (status, code)


async def test_a_1009_over_wss_is_not_hidden_by_the_close_without_close_notify(
    tmp_path: Path,
) -> None:
    # The websockets server answers the close frame and closes TCP without TLS's
    # close_notify, which this side's receive reports as an error.
    certificates = TlsCertificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificates.files("server"))
    with WebsocketsServer(ssl=context) as server:
        async with MessageWebSocket() as ws:
            ws.control.trusted_certificates = [certificates.authority]
            ws.control.max_message_size = 1000
            await ws.connect(server.url("/big/1001", "wss"))
            failure = await next_failure(ws)
            assert failure.status is W.REQUEST_ENTITY_TOO_LARGE
            assert failure.close_code == 1009
        assert server.wait_closed("/big/1001")[0] == 1009


async def test_a_message_at_the_size_limit_is_accepted(server: WebsocketsServer) -> None:
    async with MessageWebSocket() as ws:
        ws.control.max_message_size = 1000
        await ws.connect(server.url("/big/1000"))
        assert await receive(ws) == (BINARY, b"b" * 1000)


async def test_invalid_utf8_closes_with_1007() -> None:
    def bad_text(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        protocol.send_text(b"ok \xff")
        sock.sendall(b"".join(protocol.data_to_send()))
        peer.read_until_close(sock, protocol)

    with RawPeer(bad_text) as peer:
        async with MessageWebSocket() as ws:
            ws.control.close_timeout = 1
            await ws.connect(peer.url())
            failure = await next_failure(ws)
            assert failure.status is W.ERROR_HTTP_INVALID_SERVER_RESPONSE
            assert failure.close_code == 1007
    assert peer.received_close is not None
    assert peer.received_close.code == 1007


async def test_pings_are_answered_even_while_messages_wait_unread() -> None:
    pongs: list[bytes] = []

    def ping(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        for i in range(5):
            protocol.send_binary(b"unread %d" % i)
        sock.sendall(b"".join(protocol.data_to_send()))
        time.sleep(0.2)  # the client's queue is full by now
        protocol.send_ping(b"are you there")
        sock.sendall(b"".join(protocol.data_to_send()))
        deadline = time.monotonic() + 5
        while not pongs and time.monotonic() < deadline:
            protocol.receive_data(sock.recv(65536))
            pongs.extend(f.data for f in protocol.events_received() if f.opcode.name == "PONG")
        peer.read_until_close(sock, protocol)

    with RawPeer(ping) as peer:
        async with MessageWebSocket(message_queue_size=1) as ws:
            await ws.connect(peer.url())
            await trio.sleep(0.5)  # nobody reads: the queue is full
        # Leaving the block closed the WebSocket although messages were never read.
    assert pongs == [b"are you there"]
    assert peer.received_close == Close(1005, "")


async def test_close_never_hangs_with_a_full_queue_and_a_silent_peer() -> None:
    def flood_then_silence(
        peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None
    ) -> None:
        assert protocol is not None
        for _ in range(100):
            protocol.send_binary(b"x" * 1024)
        sock.sendall(b"".join(protocol.data_to_send()))
        peer.stop.wait(10)  # never answers the close

    with RawPeer(flood_then_silence) as peer:
        async with MessageWebSocket(message_queue_size=1) as ws:
            ws.control.close_timeout = 0.5
            await ws.connect(peer.url())
            await trio.sleep(0.1)
            start = trio.current_time()
            with trio.fail_after(5):
                await ws.aclose(1000, "bye")
            assert trio.current_time() - start < 2
            closed = await ws.closed.receive()
            assert (closed.code, closed.reason) == (1000, "bye")


async def test_a_wss_close_to_a_peer_that_answered_and_stopped_reading_keeps_its_timeout(
    tmp_path: Path,
) -> None:
    """The peer answered the close frame, then read nothing, with this side's writes
    still in the kernel: the closing handshake is over, but not everything was sent,
    so the socket closes at once. The TLS close waited for the kernel to send all of
    it, a second more past ``close_timeout``."""
    certificates = TlsCertificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificates.files("server"))

    def answer_the_close_then_stall(
        peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None
    ) -> None:
        assert protocol is not None
        protocol.send_close(1000)
        sock.sendall(b"".join(protocol.data_to_send()))
        peer.stop.wait(10)  # reads nothing

    with RawPeer(answer_the_close_then_stall, ssl_context=context) as peer:
        async with MessageWebSocket() as ws:
            ws.control.close_timeout = 0.5
            ws.control.trusted_certificates.append(certificates.authority)
            await ws.connect(peer.url())
            for _ in range(8):
                ws.output_stream.write(bytes(256 << 10))  # more than the peer's buffers
            await trio.sleep(0.2)
            start = trio.current_time()
            with trio.fail_after(5), contextlib.suppress(WebSocketStatusError):
                await ws.aclose(1000, "bye")
            assert trio.current_time() - start < 0.5 + 0.25


async def test_keepalive_fails_the_connection_when_the_peer_stops_answering() -> None:
    """The application learns of the timeout at once, not after ``close_timeout``
    (the peer does not close the connection either)."""

    def silent(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        peer.stop.wait(10)  # reads nothing, answers nothing

    with RawPeer(silent) as peer:
        async with MessageWebSocket() as ws:
            ws.control.desired_unsolicited_pong_interval = datetime.timedelta(milliseconds=100)
            assert ws.control.close_timeout >= 10
            await ws.connect(peer.url())
            assert ws.control.actual_unsolicited_pong_interval == datetime.timedelta(
                milliseconds=100
            )
            failure = await next_failure(ws)
            ws.control.close_timeout = 0.3  # for the close that ends the test
            assert failure.status is W.TIMEOUT
            assert failure.close_code == 1011
            assert "keepalive" in str(failure)


async def test_keepalive_keeps_an_answering_connection_open(server: WebsocketsServer) -> None:
    async with MessageWebSocket() as ws:
        ws.control.desired_unsolicited_pong_interval = datetime.timedelta(milliseconds=50)
        await ws.connect(server.url("/echo"))
        await trio.sleep(0.5)  # ten intervals, every ping answered
        await ws.output_stream.write(b"still here")
        assert await receive(ws) == (BINARY, b"still here")


@pytest.mark.parametrize("bits", [9, 12, 15])
async def test_permessage_deflate_is_negotiated_when_asked(bits: int) -> None:
    with WebsocketsServer(compression="deflate") as server:
        async with MessageWebSocket() as ws:
            ws.control.permessage_deflate = True
            ws.control.deflate_max_window_bits = bits
            await ws.connect(server.url("/echo"))
            assert ws.information.permessage_deflate
            text = b"compressible " * 10_000
            await ws.output_stream.write(text)
            assert await receive(ws) == (BINARY, text)
        assert server.wait_closed("/echo")[3] == ["PerMessageDeflate"]


async def test_permessage_deflate_is_off_by_default() -> None:
    with WebsocketsServer(compression="deflate") as server:
        async with MessageWebSocket() as ws:
            await ws.connect(server.url("/echo"))
            assert not ws.information.permessage_deflate
            await ws.output_stream.write(b"plain")
            assert await receive(ws) == (BINARY, b"plain")
        assert server.wait_closed("/echo")[3] == []


async def test_cancelling_a_connect_leaks_nothing() -> None:
    def wait(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        peer.stop.wait(10)

    fds, tasks = open_fd_count(), len(live_tasks())
    with RawPeer(wait, answer=False) as peer:
        async with MessageWebSocket() as ws:
            with trio.move_on_after(0.2) as scope:
                await ws.connect(peer.url())
            assert scope.cancelled_caught
        assert len(live_tasks()) == tasks
    # The peer's thread has ended and closed its sockets: only ours could be left.
    assert open_fd_count() == fds


@pytest.mark.parametrize("cancelled_after", [0, 1, 2])
async def test_a_connect_cancelled_as_it_starts_leaves_the_socket_able_to_connect(
    server: WebsocketsServer, cancelled_after: int
) -> None:
    # A deadline already passed (a retry loop's), or one that strikes in its first
    # steps: the next connect works, as after any failed one.
    async with MessageWebSocket() as ws:
        with trio.CancelScope() as scope:
            if cancelled_after:
                scope.deadline = trio.current_time()  # at the next checkpoint
                for _ in range(cancelled_after - 1):
                    await trio.lowlevel.cancel_shielded_checkpoint()
            else:
                scope.cancel()
            await ws.connect(server.url("/echo"))
        assert scope.cancelled_caught
        await ws.connect(server.url("/echo"))
        await ws.output_stream.write(b"again")
        with trio.fail_after(5):
            assert (await ws.message_received.receive()).data == b"again"


class _ApplicationError(Exception):
    pass


@pytest.mark.parametrize("ending", ["normally", "by the peer", "with an exception"])
async def test_closing_the_closed_channel_leaves_the_close_undisturbed(
    server: WebsocketsServer, ending: str
) -> None:
    # Not interested in the Closed event: the close that follows, from either side,
    # drops it, and the block ends as it would have.
    body_ended = False
    try:
        async with MessageWebSocket() as ws:
            await ws.connect(server.url("/close" if ending == "by the peer" else "/echo"))
            ws.closed.close()
            if ending == "by the peer":  # three messages, then its close frame
                with trio.fail_after(5):
                    async for _ in ws.message_received:
                        pass
            elif ending == "with an exception":
                raise _ApplicationError
            await trio.sleep(0.05)
            body_ended = True
    except _ApplicationError:
        assert ending == "with an exception"
    else:
        assert body_ended


@pytest.mark.parametrize("forcefully", [False, True])
async def test_a_close_waiting_in_another_task_ends_when_the_block_ends_with_an_exception(
    server: WebsocketsServer, forcefully: bool
) -> None:
    took: list[float] = []

    async def close(ws: MessageWebSocket) -> None:
        start = trio.current_time()
        await ws.aclose(1000, "done")
        took.append(trio.current_time() - start)

    for steps in range(3):
        async with trio.open_nursery() as nursery:
            try:
                async with MessageWebSocket() as ws:
                    ws.control.close_timeout = 5
                    await ws.connect(server.url("/echo"))
                    nursery.start_soon(close, ws)
                    for _ in range(steps):
                        await trio.lowlevel.checkpoint()  # its close frame may be out
                    if forcefully:
                        await trio.aclose_forcefully(ws)
                    raise _ApplicationError
            except _ApplicationError:
                pass
    assert len(took) == 3
    assert max(took) < 1, took


async def test_closing_a_writer_over_the_output_stream_leaves_the_websocket_open(
    server: WebsocketsServer,
) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        async with DataWriter(ws.output_stream) as writer:
            writer.write_bytes(b"first")
            await writer.store()
        with pytest.raises(trio.ClosedResourceError, match="output stream was closed"):
            ws.output_stream.write(b"refused")
        await ws.send_final_frame(b"second")
        with trio.fail_after(5):
            assert (await ws.message_received.receive()).data == b"first"
            assert (await ws.message_received.receive()).data == b"second"


def open_socket_count() -> int:
    """The open socket descriptors of the process (the peer's selector, an epoll
    descriptor that the threading server leaves to the garbage collector, is not one)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


@pytest.mark.parametrize("where", ["connected", "receiving", "writing"])
async def test_cancelling_the_block_leaks_nothing(where: str) -> None:
    fds, tasks = open_socket_count(), len(live_tasks())
    with WebsocketsServer() as server:
        with trio.move_on_after(0.3) as scope:
            async with MessageWebSocket() as ws:
                await ws.connect(server.url("/echo"))
                if where == "receiving":
                    await ws.message_received.receive()
                elif where == "writing":
                    while True:
                        await ws.output_stream.write(b"w" * 65536)
                else:
                    await trio.sleep_forever()
        assert scope.cancelled_caught
        assert len(live_tasks()) == tasks
        server.wait_closed("/echo")  # the server saw the connection end
    await wait_until(lambda: open_socket_count() == fds, within=5)


async def test_closing_from_another_task_ends_a_waiting_receive(server: WebsocketsServer) -> None:
    async with MessageWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        async with trio.open_nursery() as nursery:

            async def consume() -> None:
                async for args in ws.message_received:
                    pytest.fail(f"unexpected {args}")

            nursery.start_soon(consume)
            await trio.testing.wait_all_tasks_blocked()
            with trio.fail_after(5):
                await ws.aclose(1001, "going away")
    assert server.wait_closed("/echo")[:2] == (1001, "going away")


async def test_queued_messages_are_received_without_a_scheduler_step(
    server: WebsocketsServer,
) -> None:
    """message_received is a trio ReceiveChannel with a memory channel's members; what
    the reader queued is taken after a cancel point but without yielding, and a receive
    that must wait is a full checkpoint."""
    async with MessageWebSocket(message_queue_size=8) as ws:
        await ws.connect(server.url("/echo"))
        channel = ws.message_received
        assert isinstance(channel, trio.abc.ReceiveChannel)
        for index in range(8):
            ws.output_stream.write(b"%d" % index)
        await ws.output_stream.flush()
        await wait_until(lambda: channel.statistics().current_buffer_used == 8)
        assert channel.statistics().max_buffer_size == 8
        with trio.CancelScope() as scope:
            scope.cancel()
            await channel.receive()
        assert scope.cancelled_caught
        assert channel.statistics().current_buffer_used == 8  # nothing taken
        with counting_steps() as steps:
            got = [(await channel.receive()).get_data_reader().read_bytes(1) for _ in range(7)]
        assert steps.total == 0
        assert got == [b"%d" % index for index in range(7)]
        clone = channel.clone()
        reader = clone.receive_nowait().get_data_reader()
        assert reader.read_bytes(1) == b"7"
        with pytest.raises(trio.WouldBlock):
            channel.receive_nowait()
        with clone:
            pass
        with pytest.raises(trio.ClosedResourceError):
            clone.receive_nowait()
        ws.output_stream.write(b"later")
        with trio.fail_after(10):
            args = await channel.receive()  # waited for: a full checkpoint
        assert args.get_data_reader().read_bytes(5) == b"later"
        await ws.aclose(1000)
        with trio.fail_after(10), pytest.raises(trio.EndOfChannel):
            await channel.receive()


# -- a peer that floods pings and never reads ----------------------------------------------

#: 1000 pings of 125 bytes, as a server sends them (unmasked).
PING_BURST = (b"\x89\x7d" + b"p" * 125) * 1000


async def test_a_ping_flood_from_a_peer_that_never_reads_is_held_back_by_tcp() -> None:
    """The pongs it never reads wait unsent: the client stops reading past a bound, so
    the peer is held back by TCP and memory stays bounded; the keepalive still fails
    the connection, with a classified status, and nothing else escapes the block."""
    flooded: list[int] = []

    def ping_flood(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        flooded.append(flood(sock, PING_BURST, peer.stop, 4))

    most_pending = 0
    with RawPeer(ping_flood) as peer:
        async with MessageWebSocket() as ws, trio.open_nursery() as nursery:
            ws.control.desired_unsolicited_pong_interval = datetime.timedelta(seconds=1)
            ws.control.close_timeout = 0.5
            await ws.connect(peer.url())
            output = ws._session.socket.output_stream

            async def watch() -> None:
                nonlocal most_pending
                while True:
                    most_pending = max(most_pending, output.pending_bytes)
                    await trio.sleep(0.005)

            nursery.start_soon(watch)
            with trio.fail_after(10):
                args = await ws.message_received.receive()
            nursery.cancel_scope.cancel()
            with pytest.raises(WebSocketStatusError) as caught:
                args.get_data_reader()
            assert caught.value.status is W.TIMEOUT
            assert caught.value.close_code == 1011
            peer.stop.set()
    # The answers waiting unsent stop the reader at 768 KiB (and a read's worth more).
    assert 0 < most_pending < 2 << 20
    # The kernels' buffers and what the client read: far from the flood's rate.
    assert flooded[0] < 32 << 20


# -- frames in the packet of the 101 response ----------------------------------------------


async def test_a_close_frame_with_the_101_ends_within_the_close_timeout() -> None:
    close = b"\x88\x09" + struct.pack("!H", 1008) + b"go away"

    def keep_open(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        peer.stop.wait(10)  # never closes TCP

    with RawPeer(keep_open, with_response=close) as peer:
        async with MessageWebSocket() as ws:
            ws.control.close_timeout = 0.5
            await ws.connect(peer.url())
            start = trio.current_time()
            with trio.fail_after(5):
                async for args in ws.message_received:
                    pytest.fail(f"an event after the peer's close: {args}")
                closed = [(event.code, event.reason) async for event in ws.closed]
            assert trio.current_time() - start < 2
            assert closed == [(1008, "go away")]
            peer.stop.set()


async def test_a_bad_frame_with_the_101_fails_within_the_close_timeout() -> None:
    def keep_open(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        peer.stop.wait(10)  # never closes TCP

    with RawPeer(keep_open, with_response=b"\xc1\x00") as peer:  # RSV1 without an extension
        async with MessageWebSocket() as ws:
            ws.control.close_timeout = 0.5
            await ws.connect(peer.url())
            start = trio.current_time()
            with trio.fail_after(5):
                events = [args async for args in ws.message_received]
            assert trio.current_time() - start < 2
            assert len(events) == 1
            with pytest.raises(WebSocketStatusError) as caught:
                events[0].get_data_reader()
            assert caught.value.status is W.ERROR_HTTP_INVALID_SERVER_RESPONSE
            assert caught.value.close_code == 1002
            peer.stop.set()


@pytest.mark.parametrize(
    "uri",
    [
        "ws://alice:s3cret@127.0.0.1:99999/",  # a port out of range
        "ws://alice:s3cret@[::1/",  # a broken IPv6 literal
        "http://alice:s3cret@127.0.0.1/",  # not ws:// or wss://
        "ws://alice:s3c@ret@127.0.0.1:99999/",  # an "@" in the password
        "ws://alice:s3cret@127.0.0.1:1/a\r\nb",  # control characters
    ],
)
async def test_a_refused_uri_does_not_show_its_password(uri: str) -> None:
    async with MessageWebSocket() as ws:
        with pytest.raises(ValueError, match=r"alice:\*\*\*@") as caught:
            await ws.connect(uri)
        assert "s3c" not in str(caught.value)
