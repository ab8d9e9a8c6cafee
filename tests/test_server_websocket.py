"""ServerMessageWebSocket and ServerStreamWebSocket on connections a StreamSocketListener
accepted, against the ``websockets`` library's own client (in a worker thread) and this
library's clients."""

from __future__ import annotations

import functools
import os
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import live_tasks, open_fd_count, wait_until
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as sync_connect
from ws_peers import flood, opening_request

from trio_sockets import (
    HostName,
    MessageWebSocket,
    ServerMessageWebSocket,
    ServerStreamWebSocket,
    SocketMessageType,
    SocketProtectionLevel,
    StreamSocket,
    StreamSocketListener,
    StreamWebSocket,
    WebErrorStatus,
    WebSocketError,
    WebSocketRequest,
    WebSocketStatusError,
)
from trio_sockets._core.web_errors import status_of_http
from trio_sockets.testing import TlsCertificates, WebSocketEchoServer

Handler = Callable[[StreamSocket], Awaitable[None]]


@asynccontextmanager
async def serving(
    handler: Handler, tls: TlsCertificates | None = None
) -> AsyncIterator[tuple[str, StreamSocketListener]]:
    """A listener on 127.0.0.1 whose connections go to *handler*, with TLS 1.2 and the
    server certificate of *tls* if given; yields its port."""
    async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
        level = SocketProtectionLevel.PLAIN_SOCKET
        if tls is not None:
            listener.control.server_certificate = tls.server
            level = SocketProtectionLevel.TLS12
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", level)

        async def accept_loop() -> None:
            async for args in listener.connection_received:
                nursery.start_soon(handler, args.socket)

        nursery.start_soon(accept_loop)
        yield listener.information.local_port, listener
        nursery.cancel_scope.cancel()


async def raw_answer(
    port: object, then: bytes = b"", *, head_only: bool = False, path: str = "/"
) -> bytes:
    """What a raw client that sends an opening request for *path* (and *then*) to
    127.0.0.1:*port* reads: until the server closes, or with *head_only* to the end of
    the head."""

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", int(str(port))), timeout=5) as raw:
            raw.sendall(opening_request(path) + then)
            answer = b""
            while not (head_only and b"\r\n\r\n" in answer) and (chunk := raw.recv(4096)):
                answer += chunk
            return answer

    return await trio.to_thread.run_sync(client)


async def echo_server(sock: StreamSocket, seen: list[Any]) -> None:
    async with ServerMessageWebSocket(sock) as ws:
        ws.control.max_message_size = 4 << 20  # the tests send up to 2 MiB (1 by default)
        request = await ws.receive_request()
        seen.append(request)
        if request.path == "/missing":
            await ws.reject(404, "no such endpoint")
            return
        offered = request.requested_protocols
        await ws.accept(offered[-1] if offered else None, {"X-Served-By": "trio_sockets"})
        async for args in ws.message_received:
            ws.control.message_type = args.message_type
            await ws.output_stream.write(args.data)
            if args.data == b"bye":
                await ws.aclose(4000, "as you wish")
        closed = await ws.closed.receive()
        seen.append((closed.code, closed.reason))


async def test_the_websockets_client_talks_to_a_server_message_websocket() -> None:
    seen: list[Any] = []
    async with serving(lambda sock: echo_server(sock, seen)) as (port, _):

        def client() -> tuple[Any, ...]:
            with sync_connect(
                f"ws://127.0.0.1:{port}/chat?room=1",
                subprotocols=["chat.v1", "chat.v2"],  # type: ignore[list-item]
                additional_headers={"X-Token": "s3cret"},
                open_timeout=10,
            ) as ws:
                header = ws.response.headers["X-Served-By"]
                ws.send("héllo")
                text = ws.recv(timeout=10)
                ws.send(b"\x00binary")
                data = ws.recv(timeout=10)
                ws.send(b"bye")
                last = ws.recv(timeout=10)
                try:
                    ws.recv(timeout=10)
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd else None
                return ws.subprotocol, header, text, data, last, code

        with trio.fail_after(20):
            result = await trio.to_thread.run_sync(client)
        assert result == ("chat.v2", "trio_sockets", "héllo", b"\x00binary", b"bye", 4000)
        await wait_until(lambda: len(seen) >= 2, within=5)
    request = seen[0]
    assert isinstance(request, WebSocketRequest)
    assert request.path == "/chat?room=1"
    assert request.get_header("x-token") == "s3cret"
    assert request.requested_protocols == ["chat.v1", "chat.v2"]
    assert ("X-Token", "s3cret") in request.headers
    assert seen[1] == (4000, "as you wish")


async def test_a_rejected_request_is_its_http_status_on_both_clients() -> None:
    seen: list[Any] = []
    async with serving(lambda sock: echo_server(sock, seen)) as (port, _):

        def client() -> int:
            try:
                with sync_connect(f"ws://127.0.0.1:{port}/missing", open_timeout=10):
                    pass
            except InvalidStatus as exc:
                return exc.response.status_code
            return 0

        with trio.fail_after(20):
            assert await trio.to_thread.run_sync(client) == 404
        async with MessageWebSocket() as ws:
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(f"ws://127.0.0.1:{port}/missing")
            assert caught.value.status is WebErrorStatus.NOT_FOUND


@pytest.mark.parametrize("status", [306, 420, 499, 599, 301, 503])
async def test_reject_answers_any_status_from_300_to_599(status: int) -> None:
    """Statuses http.HTTPStatus does not name (306, 420, 499, 599) are answered too,
    with no reason phrase; the client reads the number."""

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            await ws.reject(status, "not here")

    async with serving(handler) as (port, _):
        with trio.fail_after(10):
            answer = await raw_answer(port)
        assert answer.startswith(f"HTTP/1.1 {status} ".encode())
        assert answer.endswith(b"\r\n\r\nnot here")
        async with MessageWebSocket() as ws:
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.connect(f"ws://127.0.0.1:{port}/")
            assert WebSocketError.get_status(caught.value) == status_of_http(status)


async def test_reject_adds_headers_a_redirect_or_a_challenge_needs() -> None:
    """A Location with a redirect, a WWW-Authenticate with a 401: the client reads them;
    a header given twice goes out twice."""

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            request = await ws.receive_request()
            if request.path == "/old":
                await ws.reject(308, "moved", {"Location": "ws://127.0.0.1/new"})
            else:
                challenge = [("WWW-Authenticate", 'Basic realm="a"'), ("X-Why", "one")]
                await ws.reject(401, "who are you?", [*challenge, ("X-Why", "two")])

    async with serving(handler) as (port, _):

        def client() -> tuple[int, list[tuple[str, str]], bytes]:
            try:
                with sync_connect(f"ws://127.0.0.1:{port}/", open_timeout=10):
                    pass
            except InvalidStatus as exc:
                response = exc.response
                return response.status_code, list(response.headers.raw_items()), response.body
            raise AssertionError("the connect succeeded")

        with trio.fail_after(20):
            status, headers, body = await trio.to_thread.run_sync(client)
            assert (status, body) == (401, b"who are you?")
            assert ("WWW-Authenticate", 'Basic realm="a"') in headers
            assert [value for name, value in headers if name == "X-Why"] == ["one", "two"]
            # (websockets' client follows a redirect: read this one raw.)
            answer = await raw_answer(port, path="/old")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 308 ")
        assert b"\r\nLocation: ws://127.0.0.1/new" in head
        assert body == b"moved"
        # This library's client does not follow it: the error has the headers.
        async with MessageWebSocket() as ws:
            for path, status, header in (
                ("/old", 308, ("Location", "ws://127.0.0.1/new")),
                ("/", 401, ("WWW-Authenticate", 'Basic realm="a"')),
            ):
                with pytest.raises(WebSocketStatusError) as caught:
                    await ws.connect(f"ws://127.0.0.1:{port}{path}")
                assert WebSocketError.get_status(caught.value) == status_of_http(status)
                assert header in caught.value.response_headers
            assert caught.value.response_headers[-2:] == (("X-Why", "one"), ("X-Why", "two"))


@pytest.mark.parametrize(
    ("header", "named"),
    [
        (("content-LENGTH", "0"), "content-LENGTH cannot be set in a rejection"),
        (("Content-Type", "text/html"), "Content-Type cannot be set"),
        (("Connection", "keep-alive"), "Connection cannot be set"),
        (("Sec-WebSocket-Accept", "x"), "Sec-WebSocket-Accept cannot be set"),
        (("X-Bad", "caf\u00e9\u20ac"), "outside ISO-8859-1"),
        (("X-Bad", "a\r\nInjected: yes"), "control characters"),
        (("Bad Name", "x"), "not an HTTP token"),
        ("XY", "(name, value) pairs"),
    ],
)
async def test_reject_refuses_headers_it_sets_itself_or_cannot_send(
    header: object, named: str
) -> None:
    """Refused by name before anything is answered: the reject() that follows goes out."""

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            with pytest.raises((ValueError, TypeError), match=re.escape(named)):
                await ws.reject(503, "busy", [header])  # type: ignore[list-item]
            await ws.reject(503, "busy", {"Retry-After": "5", "Upgrade": "websocket"})

    async with serving(handler) as (port, _):
        with trio.fail_after(10):
            answer = await raw_answer(port)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"\r\nRetry-After: 5" in head
    assert b"Injected" not in head
    assert body == b"busy"


async def test_reject_refuses_text_it_cannot_send_and_304_has_no_content() -> None:
    """A lone surrogate is no text, and a 304 has no content (RFC 9110 15.4.5): both
    are refused before anything is answered; a 304 goes out with no body and no
    Content-Length or Content-Type."""
    refused: list[str] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            for text, named in (("\ud800", "surrogate"), ("not modified", "304")):
                with pytest.raises(ValueError, match=named) as caught:
                    await ws.reject(304 if named == "304" else 404, text)
                refused.append(str(caught.value))
            await ws.reject(304)

    async with serving(handler) as (port, _):
        with trio.fail_after(10):
            answer = await raw_answer(port)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 304 Not Modified\r\n")
    assert b"content-length" not in head.lower()
    assert b"content-type" not in head.lower()
    assert body == b""
    assert len(refused) == 2


async def test_message_websockets_of_this_library_on_both_sides() -> None:
    seen: list[Any] = []
    tasks = len(live_tasks())
    async with serving(lambda sock: echo_server(sock, seen)) as (port, _):
        async with MessageWebSocket() as ws:
            ws.control.supported_protocols.append("only")
            await ws.connect(f"ws://127.0.0.1:{port}/echo")
            assert ws.information.protocol == "only"
            ws.control.message_type = SocketMessageType.UTF8
            payload = "ü" * (1 << 20)
            await ws.output_stream.write(payload.encode())
            with trio.fail_after(10):
                args = await ws.message_received.receive()
            assert args.message_type is SocketMessageType.UTF8
            assert args.data == payload.encode()
            await ws.aclose(1001, "leaving")
            closed = await ws.closed.receive()
            assert (closed.code, closed.reason) == (1001, "leaving")
        await wait_until(lambda: len(seen) >= 2, within=5)
    assert seen[1] == (1001, "leaving")
    assert len(live_tasks()) == tasks


async def test_a_tls_listener_serves_wss(tmp_path: Path) -> None:
    certificates = TlsCertificates(tmp_path)
    seen: list[Any] = []
    async with serving(lambda sock: echo_server(sock, seen), certificates) as (port, _):
        async with MessageWebSocket() as ws:
            ws.control.trusted_certificates = [certificates.authority]
            await ws.connect(f"wss://localhost:{port}/secure")
            await ws.output_stream.write(b"over TLS")
            with trio.fail_after(10):
                args = await ws.message_received.receive()
            assert args.data == b"over TLS"

        def client() -> bytes:
            context = ssl.create_default_context(cafile=str(certificates.authority_file))
            with sync_connect(f"wss://localhost:{port}/", ssl=context, open_timeout=10) as c:
                c.send(b"python client")
                return c.recv(timeout=10)  # type: ignore[return-value]

        with trio.fail_after(20):
            assert await trio.to_thread.run_sync(client) == b"python client"


async def test_a_wss_server_closing_first_ends_the_client_cleanly(tmp_path: Path) -> None:
    """The server closes after the closing handshake (with TLS's close_notify, which a
    client reading on would see as a clean end): the client sees the close and no
    failure."""
    certificates = TlsCertificates(tmp_path)
    seen: list[Any] = []
    serve = serving(lambda sock: echo_server(sock, seen), certificates)
    async with serve as (port, _), MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        await ws.connect(f"wss://localhost:{port}/")
        await ws.output_stream.write(b"bye")
        with trio.fail_after(10):
            received = [args.data async for args in ws.message_received]
            closed = await ws.closed.receive()
        assert received == [b"bye"]
        assert (closed.code, closed.reason) == (4000, "as you wish")


_UPGRADE = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


@pytest.mark.parametrize(
    ("request_bytes", "status", "header"),
    [
        (b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", b"426", b"upgrade: websocket"),
        (b"POST /plain HTTP/1.1\r\nHost: x\r\n" + _UPGRADE, b"405", b"allow: get"),
        (b"GET /plain HTTP/1.0\r\nHost: x\r\n" + _UPGRADE, b"505", b""),
        # RFC 6455 4.2.2 and 4.4: the versions this server speaks, for the client to retry.
        (
            b"GET /plain HTTP/1.1\r\nHost: x\r\n" + _UPGRADE.replace(b"13", b"8"),
            b"426",
            b"sec-websocket-version: 13",
        ),
        (
            b"GET /plain HTTP/1.1\r\nHost: x\r\n"
            + _UPGRADE.replace(b"Sec-WebSocket-Version: 13\r\n", b""),
            b"426",
            b"sec-websocket-version: 13",
        ),
        (b"GET /plain HTTP/1.1\r\nHost: x\r\nHost: y\r\n" + _UPGRADE, b"400", b""),
        (b"GET /plain HTTP/1.1\r\n" + _UPGRADE, b"400", b""),
    ],
    ids=["no-upgrade", "post", "http-1.0", "bad-version", "no-version", "two-hosts", "no-host"],
)
async def test_a_request_that_is_no_upgrade_is_answered_with_its_status_and_bad_request(
    request_bytes: bytes, status: bytes, header: bytes
) -> None:
    failures: list[BaseException] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            request = await ws.receive_request()
            assert request.path == "/plain"
            try:
                await ws.accept()
            except WebSocketStatusError as exc:
                failures.append(exc)

    async with serving(handler) as (port, _):

        def plain_http() -> bytes:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
                raw.sendall(request_bytes)
                answer = b""
                while chunk := raw.recv(4096):
                    answer += chunk
                return answer

        with trio.fail_after(20):
            answer = await trio.to_thread.run_sync(plain_http)
        assert answer.startswith(b"HTTP/1.1 " + status + b" ")
        if header:
            assert header in answer.split(b"\r\n\r\n")[0].lower().split(b"\r\n")[1:]
        await wait_until(lambda: bool(failures), within=5)
    assert isinstance(failures[0], WebSocketStatusError)
    assert failures[0].status is WebErrorStatus.BAD_REQUEST


async def test_server_misuse_is_refused_clearly() -> None:
    outcomes: list[Any] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            with pytest.raises(RuntimeError, match="receive_request"):
                await ws.accept()
            request = await ws.receive_request()
            with pytest.raises(RuntimeError, match="once"):
                await ws.receive_request()
            with pytest.raises(ValueError, match="'other' was not offered"):
                await ws.accept("other")
            with pytest.raises(ValueError, match="status"):
                await ws.reject(200)
            with pytest.raises(ValueError, match="Upgrade"):
                await ws.accept(None, {"Upgrade": "h2c"})
            # A string where a (name, value) pair should be: "XY" is no header X: Y.
            for headers in (["XY"], ["X-Foo"], [("X-Foo", "1", "2")], "X-Foo", 7):
                with pytest.raises(TypeError, match="headers must"):
                    await ws.accept(None, headers)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="header name must be a str, not int 1"):
                request.get_header(1)  # type: ignore[arg-type]
            await ws.accept(request.requested_protocols[0])
            with pytest.raises(RuntimeError, match="once"):
                await ws.reject(500)
            outcomes.append("checked")

    async with serving(handler) as (port, _):
        async with MessageWebSocket() as ws:
            ws.control.supported_protocols.append("mine")
            with trio.fail_after(10):
                await ws.connect(f"ws://127.0.0.1:{port}/")
            assert ws.information.protocol == "mine"
        await wait_until(lambda: bool(outcomes), within=5)
    with pytest.raises(TypeError, match="accepted StreamSocket"):
        ServerMessageWebSocket("not a socket")  # type: ignore[arg-type]


async def test_accept_refuses_every_header_the_handshake_sets_before_answering() -> None:
    refused: list[str] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            for name in (
                "Sec-WebSocket-Accept",
                "sec-websocket-accept",
                "DATE",
                "Upgrade",
                "Connection",
                "Sec-WebSocket-Version",
                "Sec-WebSocket-Extensions",
                "Sec-WebSocket-Protocol",
                "Content-Length",
            ):
                with pytest.raises(ValueError, match=name) as caught:
                    await ws.accept(None, [("X-Fine", "1"), (name, "bogus")])
                refused.append(str(caught.value))
            await ws.accept(None, {"X-Fine": "1"})

    async with serving(handler) as (port, _):
        with trio.fail_after(10):
            answer = await raw_answer(port, head_only=True)
    head = answer.split(b"\r\n\r\n")[0].decode().lower().split("\r\n")
    assert head[0] == "http/1.1 101 switching protocols"
    names = [line.split(":")[0] for line in head[1:]]
    assert sorted(names) == ["connection", "date", "sec-websocket-accept", "upgrade", "x-fine"]
    assert "pass the subprotocol to accept()" in refused[-2]


async def test_a_silent_client_times_out_the_request() -> None:
    failures: list[BaseException] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            ws.control.handshake_timeout = 0.3
            try:
                await ws.receive_request()
            except WebSocketStatusError as exc:
                failures.append(exc)

    async with serving(handler) as (port, _), StreamSocket() as client:
        await client.connect(HostName("127.0.0.1"), port)
        with trio.fail_after(5):
            assert await client.receive_some() == b""  # the server hung up
    assert failures[0].status is WebErrorStatus.TIMEOUT  # type: ignore[attr-defined]


async def test_stream_websockets_on_both_sides() -> None:
    async def handler(sock: StreamSocket) -> None:
        async with ServerStreamWebSocket(sock) as ws:
            await ws.receive_request()
            await ws.accept()
            while data := await ws.receive_some():
                await ws.send_all(data)

    async with serving(handler) as (port, _), StreamWebSocket() as ws:
        await ws.connect(f"ws://127.0.0.1:{port}/")
        for size in (1, 1000, 300_000):
            data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            await ws.send_all(data)
            got = bytearray()
            with trio.fail_after(10):
                while len(got) < size:
                    got += await ws.receive_some()
            assert bytes(got) == data


# -- hostile clients -----------------------------------------------------------------------


def masked(opcode: int, payload: bytes) -> bytes:
    """A frame as a client sends it (masked with zeros: the payload stays readable)."""
    assert len(payload) < 126
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + b"\0\0\0\0" + payload


async def test_a_client_flooding_pings_without_reading_ends_no_server() -> None:
    """The echo server's pongs to a client that never reads wait unsent: the server
    stops reading from it, so TCP holds the client back, and it serves others."""
    async with WebSocketEchoServer() as server:
        port = int(server.uri.rsplit(":", 1)[1].strip("/"))
        stop = threading.Event()

        def hostile() -> int:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                raw.sendall(opening_request())
                return flood(raw, masked(0x9, b"p" * 125) * 1000, stop, 10)

        flooded: list[int] = []

        async def run_hostile() -> None:
            flooded.append(await trio.to_thread.run_sync(hostile))

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_hostile)
                await trio.sleep(2)  # the flood is held back by now
                async with MessageWebSocket() as ws:
                    await ws.connect(server.uri)
                    await ws.output_stream.write(b"still serving")
                    args = await ws.message_received.receive()
                    assert args.data == b"still serving"
                    await ws.aclose(1000)
                stop.set()
        assert flooded[0] < 32 << 20  # not the whole flood: TCP held it back
        await wait_until(lambda: 1000 in server.close_codes, within=5)
        assert server.connections == 2


async def test_a_write_refused_for_the_bound_leaves_no_trace_under_deflate() -> None:
    """A write the output has no room for raises BufferError before it is compressed:
    the messages after it reach the websockets client exactly as sent."""
    sent: list[bytes] = []
    refused: list[int] = []
    reasons: list[str] = []

    async def handler(sock: StreamSocket) -> None:
        sock.output_stream.max_pending_bytes = 4 << 20
        async with ServerMessageWebSocket(sock) as ws:
            ws.control.permessage_deflate = True
            await ws.receive_request()
            await ws.accept()
            assert ws.information.permessage_deflate
            ws.control.message_type = SocketMessageType.BINARY
            for index in range(100):
                # Random bytes, then a tail that later messages repeat: compressed, they
                # refer back to it.
                data = os.urandom(256 << 10) + b"<message %02d>" % index * 40
                try:
                    ws.output_stream.write(data)  # not awaited: the output fills up
                except BufferError as exc:
                    refused.append(index)
                    reasons.append(str(exc))
                    break
                sent.append(data)
            await ws.output_stream.flush()
            for _ in range(3):
                data = b"<message %02d>" % refused[0] * 3
                await ws.output_stream.write(data)
                sent.append(data)
            await ws.aclose(1000)

    async with serving(handler) as (port, _):
        with trio.fail_after(20):
            got, code = await trio.to_thread.run_sync(_received_messages, port, True)
    assert refused
    assert 0 < refused[0] < 100
    assert len(got) == len(sent)
    assert got == sent
    assert "write(): a frame of" in reasons[0]
    assert code == 1000


@pytest.mark.parametrize(
    ("frame", "code"),
    [(masked(0x8, struct.pack("!H", 1001) + b"bye"), 1001), (b"\x81\x02hi", 1002)],
    ids=["close-frame", "unmasked-frame"],
)
async def test_frames_in_the_packet_of_the_request_are_handled_at_once(
    frame: bytes, code: int
) -> None:
    """A close frame, or a protocol error (an unmasked frame), that came with the
    request closes the connection as it would later: the server does not wait."""
    outcomes: list[Any] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            ws.control.close_timeout = 0.5
            await ws.receive_request()
            await ws.accept()
            async for args in ws.message_received:
                try:
                    args.get_data_reader()
                except WebSocketStatusError as exc:
                    outcomes.append(exc.close_code)
            outcomes.extend([closed.code async for closed in ws.closed])

    async with serving(handler) as (port, _):
        with trio.fail_after(10):
            answer = await raw_answer(port, frame)
            await wait_until(lambda: bool(outcomes), within=5)
    assert answer.startswith(b"HTTP/1.1 101")
    assert outcomes == [code]


async def test_aclose_after_the_clients_close_came_reports_it_in_closed() -> None:
    """The client's close frame came with its request, so the closing handshake is
    under way when the server's aclose() comes right after accept(). Whether the reader
    has run by then depends on trio's scheduling order, which varies: several rounds."""
    for _ in range(6):
        await _close_with_the_request_then_aclose()


async def _close_with_the_request_then_aclose() -> None:
    outcomes: list[Any] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            await ws.accept()
            await ws.aclose(1000, "srv")
            outcomes.append([(closed.code, closed.reason) async for closed in ws.closed])

    close = b"\x88\x87abcd" + bytes(b ^ b"abcd"[i % 4] for i, b in enumerate(b"\x0f\xa3early"))
    async with serving(handler) as (port, _):
        with trio.fail_after(10):
            answer = await raw_answer(port, close)
            await wait_until(lambda: bool(outcomes), within=5)
    assert answer.startswith(b"HTTP/1.1 101")
    assert answer.endswith(b"\x88\x07\x0f\xa3early")  # the close frame echoed
    assert outcomes == [[(4003, "early")]]


async def test_send_all_waits_for_room_where_a_write_is_refused() -> None:
    """An awaited send waits for earlier writes to leave; only write() is refused."""
    data = bytes(range(256)) * 2400  # 600 KiB: two do not fit in 1 MiB at once

    async def handler(sock: StreamSocket) -> None:
        sock.output_stream.max_pending_bytes = 1 << 20
        async with ServerStreamWebSocket(sock) as ws:
            await ws.receive_request()
            await ws.accept()
            ws.output_stream.write(data)  # not awaited: it waits in the output
            with pytest.raises(BufferError):
                ws.output_stream.write(data)
            await ws.send_all(data)
            await ws.aclose(1000)

    async with serving(handler) as (port, _), StreamWebSocket() as ws:
        await ws.connect(f"ws://127.0.0.1:{port}/")
        got = bytearray()
        with trio.fail_after(10):
            while chunk := await ws.receive_some():
                got += chunk
        assert bytes(got) == data * 2


async def test_a_send_waiting_when_the_keepalive_fails_reports_timeout() -> None:
    """The peer reads nothing and answers no ping: the keepalive fails the connection.
    A send waiting for room then fails with that failure, TIMEOUT -- not as if this side
    had closed the WebSocket (OPERATION_CANCELED, a ClosedResourceError)."""
    statuses: list[tuple[WebErrorStatus, bool]] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            ws.control.close_timeout = 1
            ws.control.desired_unsolicited_pong_interval = timedelta(seconds=0.5)
            await ws.receive_request()
            await ws.accept()
            with trio.fail_after(10):
                try:
                    for _ in range(100):
                        await ws.send_final_frame(b"x" * 1_000_000)
                except WebSocketStatusError as exc:
                    statuses.append((exc.status, isinstance(exc, trio.ClosedResourceError)))

    async with serving(handler) as (port, _):
        with socket.create_connection(("127.0.0.1", int(port))) as peer:
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            peer.sendall(opening_request())
            with trio.fail_after(15):
                await wait_until(lambda: bool(statuses), within=14)
    assert statuses == [(WebErrorStatus.TIMEOUT, False)]


async def test_accept_raises_when_its_answer_does_not_fit_the_output() -> None:
    """A 101 the output refuses (a bound below its size) is accept()'s failure, not a
    connection that seems open and a later error blaming the peer."""
    outcomes: list[WebErrorStatus] = []

    async def handler(sock: StreamSocket) -> None:
        sock.output_stream.max_pending_bytes = 100
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            with pytest.raises(WebSocketStatusError) as caught:
                await ws.accept()
            assert "does not fit in the connection's output" in str(caught.value)
            outcomes.append(caught.value.status)

    async with serving(handler) as (port, _), MessageWebSocket() as ws:
        with trio.fail_after(10), pytest.raises(WebSocketStatusError):
            await ws.connect(f"ws://127.0.0.1:{port}/")
        await wait_until(lambda: bool(outcomes), within=5)
    assert outcomes == [WebErrorStatus.CONNECTION_ABORTED]


async def test_answers_the_output_cannot_take_fail_the_connection_with_a_status() -> None:
    """With an output bound too small for the answers to one read, the connection fails
    with CONNECTION_ABORTED, never a BufferError, and the block ends cleanly."""
    failures: list[WebSocketStatusError] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            await ws.accept()
            sock.output_stream.max_pending_bytes = 1000
            with trio.fail_after(10):
                async for args in ws.message_received:
                    try:
                        args.get_data_reader()
                    except WebSocketStatusError as exc:
                        failures.append(exc)

    async with serving(handler) as (port, _):
        stop = threading.Event()

        def hostile() -> int:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                raw.sendall(opening_request())
                return flood(raw, masked(0x9, b"p" * 125) * 1000, stop, 10)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, hostile)
            try:
                await wait_until(lambda: bool(failures), within=10)
            finally:
                stop.set()
    assert failures[0].status is WebErrorStatus.CONNECTION_ABORTED
    assert "does not fit in the connection's output" in str(failures[0])


_MASKED_500 = b"\x82\xfe" + struct.pack("!H", 500) + b"mask" + b"x" * 500


@pytest.mark.parametrize(
    ("refused", "more", "code"),
    [
        # A frame of 64 MiB, masked, whose payload keeps coming for a while.
        (b"\x82\xff" + struct.pack("!Q", 64 << 20) + b"mask", b"x" * 65536, 1009),
        # Invalid UTF-8 (the library's own check), then more messages keep coming.
        (
            b"\x81\x83mask" + bytes(b ^ b"mask"[i % 4] for i, b in enumerate(b"ok\xff")),
            _MASKED_500 * 128,
            1007,
        ),
    ],
    ids=["too-big", "invalid-utf8"],
)
async def test_aclose_while_draining_after_a_failure_lets_the_client_read_the_close(
    refused: bytes, more: bytes, code: int
) -> None:
    """The client is still sending after what the server refused: an aclose() then
    waits while the server drains the connection, so the client reads the close frame
    and the end of the connection instead of a reset."""
    failures: list[BaseException] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            ws.control.max_message_size = 1000
            await ws.receive_request()
            await ws.accept()
            async for args in ws.message_received:
                try:
                    args.get_data_reader()
                except WebSocketStatusError as exc:
                    failures.append(exc)
                await ws.aclose()

    async with serving(handler) as (port, _):

        def slow_sender() -> bytes:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as raw:
                raw.sendall(opening_request())
                answer = b""
                while b"\r\n\r\n" not in answer:
                    answer += raw.recv(4096)
                raw.sendall(refused)
                for _ in range(20):
                    raw.sendall(more)
                    time.sleep(0.02)
                while chunk := raw.recv(4096):  # ConnectionResetError on a reset
                    answer += chunk
                return answer.split(b"\r\n\r\n", 1)[1]

        with trio.fail_after(20):
            after_101 = await trio.to_thread.run_sync(slow_sender)
    assert after_101[:4] == b"\x88" + bytes([len(after_101) - 2]) + struct.pack("!H", code)
    assert [getattr(exc, "close_code", None) for exc in failures] == [code]


async def test_a_message_too_big_to_echo_closes_with_1009_and_the_server_serves_on() -> None:
    async with WebSocketEchoServer() as server:

        def too_big() -> int | None:
            with sync_connect(server.uri, max_size=None, open_timeout=10) as ws:
                try:
                    # More than the echo's output takes at once: refused as it arrives.
                    ws.send(b"x" * (65 << 20))
                    ws.recv(timeout=10)
                except ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else None
            return None

        with trio.fail_after(20):
            assert await trio.to_thread.run_sync(too_big) == 1009
            async with MessageWebSocket() as ws:
                await ws.connect(server.uri)
                await ws.output_stream.write(b"still serving")
                assert (await ws.message_received.receive()).data == b"still serving"


@pytest.mark.parametrize("kind", [ServerMessageWebSocket, ServerStreamWebSocket])
@pytest.mark.parametrize("how", ["block ends", "block raises", "aclose unentered"])
async def test_a_server_websocket_closed_before_the_request_closes_the_connection(
    kind: type[ServerMessageWebSocket] | type[ServerStreamWebSocket], how: str
) -> None:
    """A handler that drops a connection, or fails, before receive_request(): the
    connection it took over closes with it (the client reads the end), holding no
    descriptor (a leak is a ResourceWarning, an error under -W error)."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint(HostName("127.0.0.1"), "0")
        port = int(listener.information.local_port)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            with trio.fail_after(10):
                accepted = (await listener.connection_received.receive()).socket
                before = open_fd_count()
                if how == "aclose unentered":
                    await kind(accepted).aclose()
                else:
                    with (
                        pytest.raises(ValueError, match="the handler failed")
                        if how == "block raises"
                        else nullcontext()
                    ):
                        async with kind(accepted):
                            if how == "block raises":
                                raise ValueError("the handler failed")
                assert open_fd_count() == before - 1
                assert await trio.to_thread.run_sync(client.recv, 10) == b""


def _reads_late_and_never_answers_the_close(port: object) -> None:
    """A raw client that reads nothing for 0.5 s, then reads everything up to the
    server's close frame without answering it, and closes 0.5 s later."""
    with socket.socket() as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel holds little
        raw.settimeout(10)
        raw.connect(("127.0.0.1", int(str(port))))
        raw.sendall(opening_request())
        time.sleep(0.5)
        seen = b""
        while b"\x88\x02\x03\xe8" not in seen[-(1 << 16) :] and (chunk := raw.recv(1 << 16)):
            seen += chunk[-16:]
        time.sleep(0.5)


@pytest.mark.parametrize("kind", [ServerStreamWebSocket, ServerMessageWebSocket])
async def test_sends_during_this_sides_closing_handshake_raise_closed_resource_error(
    kind: type[ServerStreamWebSocket] | type[ServerMessageWebSocket],
) -> None:
    """Another task's aclose() sent the close frame and waits for the peer's answer: a
    send begun then, and one that was already waiting for room, raise
    trio.ClosedResourceError (OPERATION_CANCELED), as trio.abc.SendStream asks of a
    stream another task closes -- not trio.BrokenResourceError."""
    data = bytes(600 << 10)  # two do not fit in the 1 MiB bound at once
    errors: dict[str, BaseException] = {}

    async def attempt(name: str, call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        except Exception as exc:  # every attempt must fail: recorded and checked below
            errors[name] = exc

    async def handler(sock: StreamSocket) -> None:
        sock.output_stream.max_pending_bytes = 1 << 20
        sock.control.outbound_buffer_size_in_bytes = 4096
        async with kind(sock) as ws:
            ws.control.close_timeout = 5
            await ws.receive_request()
            await ws.accept()
            send: Callable[[], Awaitable[object]] = (
                functools.partial(ws.send_all, data)
                if isinstance(ws, ServerStreamWebSocket)
                else functools.partial(ws.send_final_frame, data)
            )
            ws.output_stream.write(data)  # waits in the output: the client reads nothing yet
            async with trio.open_nursery() as nursery:
                nursery.start_soon(attempt, "waiting send", send)
                await trio.sleep(0.1)
                nursery.start_soon(ws.aclose, 1000)
                await trio.sleep(0.1)
                if isinstance(ws, ServerMessageWebSocket):  # a stream's send_all is busy
                    await attempt("send", send)
                await attempt("write", lambda: ws.output_stream.write(b"late"))
                await attempt("flush", ws.output_stream.flush)

    with trio.fail_after(15):
        async with serving(handler) as (port, _):
            await trio.to_thread.run_sync(_reads_late_and_never_answers_the_close, port)
    late = ["send"] if kind is ServerMessageWebSocket else []
    assert sorted(errors) == sorted(["flush", "waiting send", "write", *late])
    for name, exc in errors.items():
        assert isinstance(exc, trio.ClosedResourceError), (name, exc)
        assert not isinstance(exc, trio.BrokenResourceError), (name, exc)
        assert WebSocketError.get_status(exc) is WebErrorStatus.OPERATION_CANCELED, (name, exc)


def _received_messages(
    port: object, compressed: bool, delay: float = 0
) -> tuple[list[bytes], int | None]:
    """The messages the ``websockets`` client receives from 127.0.0.1:*port* until the
    server closes (reading from *delay* seconds after the handshake on), and the
    server's close code."""
    got: list[bytes] = []
    with sync_connect(
        f"ws://127.0.0.1:{port}/",
        compression="deflate" if compressed else None,
        max_size=None,
        open_timeout=10,
    ) as ws:
        time.sleep(delay)
        try:
            while True:
                message = ws.recv(timeout=10)
                assert isinstance(message, bytes)
                got.append(message)
        except ConnectionClosed as closed:
            return got, closed.rcvd.code if closed.rcvd else None


@pytest.mark.parametrize("compressed", [False, True])
async def test_send_all_sends_data_larger_than_the_output_bound_in_pieces(
    compressed: bool,
) -> None:
    """send_all() is trio.abc.SendStream's: data more than the connection's output
    could ever hold (6 MiB through a 1 MiB bound) goes in pieces that each fit, waiting
    for room between them, and the peer (the websockets client) receives it whole, as
    the one binary message a send_all() is."""
    data = os.urandom(1 << 20) * 6

    async def handler(sock: StreamSocket) -> None:
        sock.output_stream.max_pending_bytes = 1 << 20
        async with ServerStreamWebSocket(sock) as ws:
            ws.control.permessage_deflate = compressed
            await ws.receive_request()
            await ws.accept()
            assert ws.information.permessage_deflate is compressed
            await ws.send_all(data)
            await ws.send_all(b"end")
            await ws.aclose(1000)

    with trio.fail_after(20):
        async with serving(handler) as (port, _):
            got, code = await trio.to_thread.run_sync(_received_messages, port, compressed)
    assert [len(message) for message in got] == [len(data), 3]
    assert got == [data, b"end"]
    assert code == 1000


async def test_a_send_all_cancelled_between_its_pieces_leaves_the_stream_whole() -> None:
    """A send_all() of data sent in pieces, cancelled while it waits for room, has
    sent a prefix of it; the next send_all() goes on with the same message, so the
    peer reads that prefix, then the next data, and nothing else."""
    data = os.urandom(1 << 20) * 8

    async def handler(sock: StreamSocket) -> None:
        sock.output_stream.max_pending_bytes = 1 << 20
        sock.control.outbound_buffer_size_in_bytes = 4096
        async with ServerStreamWebSocket(sock) as ws:
            await ws.receive_request()
            await ws.accept()
            with trio.move_on_after(0.1) as cancelled:
                await ws.send_all(data)  # the client reads nothing for 0.5 s
            assert cancelled.cancelled_caught
            await ws.send_all(b"end")
            await ws.aclose(1000)

    with trio.fail_after(20):
        async with serving(handler) as (port, _):
            got, code = await trio.to_thread.run_sync(_received_messages, port, False, 0.5)
    assert len(got) == 1
    sent = len(got[0]) - 3
    assert 0 < sent < len(data)
    assert got[0] == data[:sent] + b"end"
    assert code == 1000


async def test_a_frame_too_big_ever_to_fit_says_so_and_how_to_send_it() -> None:
    """A frame that can never fit in the connection's output (2 MiB through a 1 MiB
    bound) is refused with a BufferError that says so and what to do -- split it, or
    raise the bound -- not to wait, which cannot help; the connection goes on."""
    reasons: list[str] = []

    async def handler(sock: StreamSocket) -> None:
        sock.output_stream.max_pending_bytes = 1 << 20
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            await ws.accept()
            ws.control.message_type = SocketMessageType.BINARY
            for send in (ws.send_final_frame, ws.send_nonfinal_frame, ws.output_stream.write):
                with pytest.raises(BufferError) as caught:
                    await send(bytes(2 << 20))
                reasons.append(str(caught.value))
            await ws.send_final_frame(b"after")
            await ws.aclose(1000)

    with trio.fail_after(20):
        async with serving(handler) as (port, _):
            got, code = await trio.to_thread.run_sync(_received_messages, port, False)
    assert got == [b"after"]
    assert code == 1000
    assert len(reasons) == 3
    for reason in reasons:
        assert "never fit" in reason, reason
        assert "max_pending_bytes=1048576" in reason, reason
        assert re.search(r"split it into .*of at most \d+ bytes", reason), reason
        assert "raise" in reason, reason
        assert "await" not in reason, reason
        assert "flush" not in reason, reason


@pytest.mark.parametrize("how", ["request timed out", "aclose", "after the block"])
@pytest.mark.parametrize("kind", [ServerMessageWebSocket, ServerStreamWebSocket])
async def test_accept_and_reject_on_a_closed_server_websocket_say_it_was_closed(
    kind: type[ServerMessageWebSocket] | type[ServerStreamWebSocket], how: str
) -> None:
    """As the client's connect(): a closed WebSocket raises trio.ClosedResourceError
    saying so, not that receive_request() was not called or 'async with' not used."""
    errors: list[BaseException] = []

    async def answer_both(ws: ServerMessageWebSocket | ServerStreamWebSocket) -> None:
        with pytest.raises(trio.ClosedResourceError) as caught:
            await ws.accept()
        errors.append(caught.value)
        with pytest.raises(trio.ClosedResourceError) as caught:
            await ws.reject(400)
        errors.append(caught.value)

    async def handler(sock: StreamSocket) -> None:
        ws = kind(sock)
        async with ws:
            ws.control.handshake_timeout = 0.3
            if how == "request timed out":
                with pytest.raises(WebSocketStatusError):
                    await ws.receive_request()
            else:
                await ws.receive_request()
            if how == "aclose":
                await ws.aclose()
                with pytest.raises(trio.ClosedResourceError, match="receive_request"):
                    await ws.receive_request()
            if how != "after the block":
                await answer_both(ws)
        if how == "after the block":
            await answer_both(ws)

    async with serving(handler) as (port, _):
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
            if how != "request timed out":
                raw.sendall(opening_request())
            with trio.fail_after(10):
                await wait_until(lambda: len(errors) == 2, within=9)
    for error in errors:
        assert re.fullmatch(r"(accept|reject)\(\): this WebSocket was closed", error.message), error
        assert isinstance(error, WebSocketStatusError)
        assert error.status is WebErrorStatus.OPERATION_CANCELED


async def test_reject_refuses_an_answer_the_output_cannot_take_and_may_be_retried() -> None:
    """A rejection larger than the connection's output takes is refused before anything
    is answered (ValueError naming the bound), as accept() raises for an answer that
    does not fit, never sent as nothing: a shorter reject() then goes out whole."""
    refusals: list[str] = []

    async def handler(sock: StreamSocket) -> None:
        sock.output_stream.max_pending_bytes = 4096
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            with pytest.raises(ValueError, match="max_pending_bytes=4096") as caught:
                await ws.reject(413, "x" * 5000)
            refusals.append(str(caught.value))
            await ws.reject(413, "too big")

    async with serving(handler) as (port, _):
        with trio.fail_after(10):
            answer = await raw_answer(port)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(b"\r\n\r\ntoo big")
    assert "nothing was answered" in refusals[0]


def _send_with_deflate_offered(port: object, path: str, payload: bytes) -> tuple[str, Any]:
    """The websockets client offering permessage-deflate: the extensions the server
    accepted, and what it answered *payload* with (or its close, as a ConnectionClosed)."""
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    offer = ClientPerMessageDeflateFactory(client_max_window_bits=True)
    url = f"ws://127.0.0.1:{port}{path}"
    with sync_connect(url, max_size=None, extensions=[offer], compression=None) as client:
        accepted = client.response.headers.get("Sec-WebSocket-Extensions", "")
        client.send(payload)
        try:
            return accepted, client.recv(timeout=10)
        except ConnectionClosed as exc:
            return accepted, exc


@pytest.mark.parametrize("kind", [ServerMessageWebSocket, ServerStreamWebSocket])
async def test_settings_changed_after_the_request_take_effect_at_accept(
    kind: type[ServerMessageWebSocket] | type[ServerStreamWebSocket],
) -> None:
    """The endpoint decides: after reading the request, /upload raises the bound and
    turns compression on with a 10-bit window, /small lowers the bound. accept() uses
    the settings as they are then (the control says what is in force)."""
    stream = kind is ServerStreamWebSocket
    bound = "max_frame_size" if stream else "max_message_size"
    statuses: list[WebErrorStatus] = []

    async def handler(sock: StreamSocket) -> None:
        async with kind(sock) as ws:
            request = await ws.receive_request()
            if request.path == "/upload":
                setattr(ws.control, bound, 4 << 20)
                ws.control.permessage_deflate = True
                ws.control.deflate_max_window_bits = 10
            else:
                setattr(ws.control, bound, 1000)
            await ws.accept()
            try:
                if isinstance(ws, ServerStreamWebSocket):
                    got = b""
                    while len(got) < (2 << 20):
                        got += await ws.receive_some()
                    await ws.send_all(b"%d" % len(got))
                else:
                    args = await ws.message_received.receive()
                    await ws.output_stream.write(b"%d" % len(args.data))
            except WebSocketStatusError as exc:
                statuses.append(exc.status)

    async with serving(handler) as (port, _):
        with trio.fail_after(20):
            accepted, answer = await trio.to_thread.run_sync(
                _send_with_deflate_offered, port, "/upload", os.urandom(1 << 20) * 2
            )
            assert answer == b"%d" % (2 << 20)
            assert accepted.startswith("permessage-deflate")
            assert "server_max_window_bits=10" in accepted
            assert "client_max_window_bits=10" in accepted
            accepted, answer = await trio.to_thread.run_sync(
                _send_with_deflate_offered, port, "/small", b"x" * 2000
            )
        assert accepted == ""
        assert isinstance(answer, ConnectionClosed)
        assert answer.rcvd is not None
        assert answer.rcvd.code == 1009
        await wait_until(lambda: bool(statuses), within=5)
    assert statuses == [WebErrorStatus.REQUEST_ENTITY_TOO_LARGE]


async def test_an_unfinished_request_head_is_held_once_not_twice() -> None:
    """Clients that send a long head (127 headers of 8,000 bytes, within the parser's
    limits) and never end it: while the server waits, it holds what the parser keeps
    of each head, not a second copy made to find the head's end."""
    import tracemalloc

    head = b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 8000) for i in range(127))
    clients = 4
    waiting: list[None] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            ws.control.handshake_timeout = 10
            waiting.append(None)
            with pytest.raises(WebSocketStatusError):
                await ws.receive_request()

    tracemalloc.start()
    try:
        async with serving(handler) as (port, _):
            with trio.fail_after(20):
                before = tracemalloc.get_traced_memory()[0]
                raws = [trio.socket.socket() for _ in range(clients)]
                for raw in raws:
                    await raw.connect(("127.0.0.1", int(port)))
                    view = memoryview(head)
                    while view:
                        view = view[await raw.send(view) :]
                await wait_until(lambda: len(waiting) == clients, within=5)
                await trio.sleep(1)  # the server has read every head by now
                held = (tracemalloc.get_traced_memory()[0] - before) / clients
                for raw in raws:
                    raw.close()
    finally:
        tracemalloc.stop()
    # The parser keeps about the head's size (its headers); a copy doubled it.
    assert held < 1.5 * len(head), f"{held:.0f} bytes held per head of {len(head)}"


@pytest.mark.parametrize(
    "target",
    [
        b"/chat\x00.txt",
        b"/\x1b]0;pwned\x07\x1b[2J",
        b"/a\tb",
        b"/a\x7f",
        b"/a#fragment",
        b"*",
        b"chat",
        b"ws://other.example/chat?room=1",
        b"ws://user@127.0.0.1/chat",
        b"ftp://127.0.0.1/chat",
    ],
    ids=[
        "nul",
        "escapes",
        "tab",
        "del",
        "fragment",
        "asterisk",
        "relative",
        "other-authority",
        "userinfo",
        "other-scheme",
    ],
)
async def test_a_request_target_that_is_no_resource_name_gets_400_unseen(target: bytes) -> None:
    """RFC 9112 3.2 and RFC 6455 4.1: a target that is not origin-form (or absolute-form
    naming the Host) of visible ASCII is answered 400 by receive_request(), which raises
    BAD_REQUEST: the application never sees it (nor logs its escape sequences)."""
    seen: list[Any] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            try:
                seen.append(await ws.receive_request())
            except WebSocketStatusError as exc:
                seen.append(exc)

    async with serving(handler) as (port, _):
        with trio.fail_after(10):
            answer = await raw_answer(port, path=target.decode("latin-1"))
            await wait_until(lambda: bool(seen), within=5)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert isinstance(seen[0], WebSocketStatusError), seen
    assert seen[0].status is WebErrorStatus.BAD_REQUEST


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/chat?room=1&x=%00%ff", "/chat?room=1&x=%00%ff"),
        ("//a/b|c", "//a/b|c"),
        ("ws://127.0.0.1/chat?room=1", "/chat?room=1"),
        ("WSS://127.0.0.1?q", "/?q"),
        ("http://127.0.0.1", "/"),
    ],
)
async def test_the_path_of_a_request_is_its_path_and_query(target: str, path: str) -> None:
    """Origin-form is passed as is (undecoded); absolute-form naming the Host's
    authority (RFC 9112 3.2.2: a server must accept it) is reduced to its path and query."""
    seen: list[WebSocketRequest] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            seen.append(await ws.receive_request())
            await ws.accept()

    async with serving(handler) as (port, _):
        with trio.fail_after(10):
            answer = await raw_answer(port, path=target, head_only=True)
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert seen[0].path == path


_CLIENT_CLOSE = bytes([0x88, 0x82, 0, 0, 0, 0]) + struct.pack("!H", 1000)


@pytest.mark.parametrize("how", ["reject", "closing handshake"])
async def test_a_wss_server_websocket_ends_with_close_notify(tmp_path: Path, how: str) -> None:
    """After reject()'s answer, and after a completed closing handshake, the server ends
    TLS with close_notify: a strict TLS client (trio's SSLStream) reads a clean end,
    not a truncation (a "ragged EOF")."""
    certificates = TlsCertificates(tmp_path)

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            await ws.receive_request()
            if how == "reject":
                await ws.reject(503, "busy", {"Retry-After": "5"})
                return
            await ws.accept()
            async for _ in ws.message_received:
                pass

    async with serving(handler, certificates) as (port, _):
        context = ssl.create_default_context(cafile=str(certificates.authority_file))
        tcp = await trio.open_tcp_stream("127.0.0.1", int(port))
        client = trio.SSLStream(tcp, context, server_hostname="localhost")
        try:
            with trio.fail_after(10):
                then = _CLIENT_CLOSE if how != "reject" else b""
                await client.send_all(opening_request() + then)
                got = b""
                while data := await client.receive_some(65536):  # BrokenResourceError
                    got += data
        finally:
            await trio.aclose_forcefully(client)
    status, end = (b"503", b"busy") if how == "reject" else (b"101", b"\x88\x02\x03\xe8")
    assert got.startswith(b"HTTP/1.1 " + status + b" ")
    assert got.endswith(end)


async def test_a_wss_server_whose_client_never_answers_closes_within_close_timeout(
    tmp_path: Path,
) -> None:
    """A TLS client that neither answers the close frame nor reads: aclose() returns at
    close_timeout, the close_notify it cannot take at once left out."""
    certificates = TlsCertificates(tmp_path)
    took: list[float] = []

    async def handler(sock: StreamSocket) -> None:
        async with ServerMessageWebSocket(sock) as ws:
            ws.control.close_timeout = 0.5
            await ws.receive_request()
            await ws.accept()
            start = trio.current_time()
            await ws.aclose(1000)
            took.append(trio.current_time() - start)

    async with serving(handler, certificates) as (port, _):
        context = ssl.create_default_context(cafile=str(certificates.authority_file))
        tcp = await trio.open_tcp_stream("127.0.0.1", int(port))
        client = trio.SSLStream(tcp, context, server_hostname="localhost")
        try:
            with trio.fail_after(10):
                await client.send_all(opening_request())
                await wait_until(lambda: bool(took), within=5)
        finally:
            await trio.aclose_forcefully(client)
    assert 0.4 < took[0] < 2
