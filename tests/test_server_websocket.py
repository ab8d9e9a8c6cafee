"""ServerMessageWebSocket and ServerStreamWebSocket on connections a StreamSocketListener
accepted, against the ``websockets`` library's own client (in a worker thread) and this
library's clients."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import live_tasks, wait_until
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as sync_connect

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
    WebSocketRequest,
    WebSocketStatusError,
)
from trio_sockets.testing import TlsCertificates

Handler = Callable[[StreamSocket], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[str, StreamSocketListener]]:
    """A listener on 127.0.0.1 whose connections go to *handler*; yields its port."""
    async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
        await listener.bind_endpoint(HostName("127.0.0.1"), "0")

        async def accept_loop() -> None:
            async for args in listener.connection_received:
                nursery.start_soon(handler, args.socket)

        nursery.start_soon(accept_loop)
        yield listener.information.local_port, listener
        nursery.cancel_scope.cancel()


async def echo_server(sock: StreamSocket, seen: list[Any]) -> None:
    async with ServerMessageWebSocket(sock) as ws:
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
    async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
        listener.control.server_certificate = certificates.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", SocketProtectionLevel.TLS12)

        async def accept_loop() -> None:
            async for args in listener.connection_received:
                nursery.start_soon(echo_server, args.socket, seen)

        nursery.start_soon(accept_loop)
        port = listener.information.local_port
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
        nursery.cancel_scope.cancel()


async def test_an_invalid_request_is_answered_400_and_raises_bad_request() -> None:
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
                raw.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = b""
                while chunk := raw.recv(4096):
                    answer += chunk
                return answer

        with trio.fail_after(20):
            answer = await trio.to_thread.run_sync(plain_http)
        assert answer.startswith(b"HTTP/1.1 4")
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
