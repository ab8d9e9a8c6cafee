"""Independent WebSocket peers for the WebSocket tests, on loopback, each in its own thread.

* :class:`WebsocketsServer`: the ``websockets`` library's own (threading) server, whose
  handlers are chosen by the request path and record what they saw.
* :class:`RawPeer`: one connection driven by hand over a blocking socket with the
  ``websockets`` sans-I/O ``ServerProtocol``, for peers that misbehave (stop answering,
  send invalid UTF-8, drop the connection, never answer the handshake, send frames in
  the packet of the handshake).
* :func:`opening_request` and :func:`flood`: the pieces of a hand-driven client.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import trio
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Close
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.sync.server import Server, ServerConnection, serve

from trio_sockets import MessageWebSocket, WebSocketStatusError

#: How long a peer thread waits for anything before it gives up (every wait is bounded).
PEER_TIMEOUT = 20.0


class WebsocketsServer:
    """``websockets.sync.server.serve`` in a thread. Paths:

    ``/echo`` echoes each message with its type; ``/headers`` first sends the request
    headers as a JSON text message, then echoes; ``/close`` sends three messages, then
    closes with 4001 "bye"; ``/partial`` sends the text "café crème" in three frames
    that split "é" and "è" between frames, then echoes; ``/flood`` sends 100 messages of
    1 KiB, then waits for the close; ``/big/<n>`` sends one binary message of n bytes,
    then echoes. Every handler records ``(close code, close reason, subprotocol,
    extensions)`` in :attr:`closes` under its path when the connection ends.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.closes: dict[str, tuple[int | None, str | None, str | None, list[str]]] = {}
        self.done = threading.Event()
        # The threads the server runs a connection in: closing waits for them, so that
        # no connection of this peer closes its socket during a later test.
        self._handlers: list[threading.Thread] = []
        kwargs.setdefault("max_size", None)
        kwargs.setdefault("compression", None)
        self._server: Server = serve(self._handle, "127.0.0.1", 0, **kwargs)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> WebsocketsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(PEER_TIMEOUT)
        for handler in self._handlers:
            handler.join(PEER_TIMEOUT)

    def wait_closed(self, path: str) -> tuple[int | None, str | None, str | None, list[str]]:
        deadline = time.monotonic() + PEER_TIMEOUT
        while path not in self.closes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the handler of {path} did not end")
            time.sleep(0.01)
        return self.closes[path]

    def _handle(self, ws: ServerConnection) -> None:
        self._handlers.append(threading.current_thread())
        assert ws.request is not None
        path = ws.request.path
        try:
            if path == "/headers":
                ws.send(json.dumps(dict(ws.request.headers.raw_items())))
            elif path == "/close":
                for text in ("one", "two", "three"):
                    ws.send(text)
                ws.close(4001, "bye")
            elif path == "/partial":
                ws.send([b"caf\xc3", b"\xa9 cr\xc3", b"\xa8me"], text=True)
            elif path == "/flood":
                for _ in range(100):
                    ws.send(b"x" * 1024)
            elif path.startswith("/big/"):
                ws.send(b"b" * int(path.removeprefix("/big/")))
            for message in ws:
                ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            extensions = [type(e).__name__ for e in ws.protocol.extensions]
            self.closes[path] = (ws.close_code, ws.close_reason, ws.subprotocol, extensions)


class RawPeer:
    """One WebSocket connection accepted on a blocking socket in a thread and driven by
    *script(sock, protocol)* after the handshake (``answer=False``: no handshake at all,
    the script gets the raw socket and ``None``; ``deflate=True``: permessage-deflate
    is accepted; *ssl_context*: the connection is TLS). :attr:`received_close` is the close
    frame the script read, if it reads one with :meth:`read_until_close`."""

    def __init__(
        self,
        script: Callable[[RawPeer, socket.socket, ServerProtocol | None], None],
        *,
        answer: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        with_response: bytes = b"",
        deflate: bool = False,
    ) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(PEER_TIMEOUT)
        self.port = self._listener.getsockname()[1]
        self._script = script
        self._answer = answer
        self._ssl = ssl_context
        # Bytes sent in the same packet as the 101 response.
        self._with_response = with_response
        self._extensions = [ServerPerMessageDeflateFactory()] if deflate else None
        self.stop = threading.Event()
        self.received_close: Close | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, path: str = "/") -> str:
        if self._ssl is not None:  # the name the test certificates carry
            return f"wss://localhost:{self.port}{path}"
        return f"ws://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> RawPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(PEER_TIMEOUT)
        self._listener.close()
        if self.error is not None and exc[0] is None:
            raise self.error

    def _run(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        try:
            sock.settimeout(PEER_TIMEOUT)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_side=True)
            protocol = None
            if self._answer:
                protocol = ServerProtocol(max_size=None, extensions=self._extensions)
                while True:
                    protocol.receive_data(sock.recv(65536))
                    events = protocol.events_received()
                    if events:
                        break
                request = events[0]
                assert isinstance(request, Request)
                protocol.send_response(protocol.accept(request))
                sock.sendall(b"".join(protocol.data_to_send()) + self._with_response)
            self._script(self, sock, protocol)
        except BaseException as exc:  # reported by __exit__
            self.error = exc
        finally:
            sock.close()

    def read_until_close(self, sock: socket.socket, protocol: ServerProtocol) -> None:
        """Read frames until the peer's close frame (or EOF), answering it."""
        while protocol.close_rcvd is None:
            data = sock.recv(65536)
            if not data:
                break
            protocol.receive_data(data)
            protocol.events_received()
            sock.sendall(b"".join(protocol.data_to_send()))
        self.received_close = protocol.close_rcvd


def opening_request(path: str = "/") -> bytes:
    """A valid WebSocket opening request for 127.0.0.1."""
    key = base64.b64encode(os.urandom(16))
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: ".encode()
        + key
        + b"\r\n\r\n"
    )


def flood(sock: socket.socket, burst: bytes, stop: threading.Event, seconds: float) -> int:
    """Send *burst* again and again for *seconds* (or until *stop*) without reading,
    never cutting a burst short; returns the bytes the other side's kernel took. A send
    that cannot go on (the other side does not read) is retried until the end."""
    sock.settimeout(0.05)
    sent = 0
    rest = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop.is_set():
        if not rest:
            rest = burst
        try:
            n = sock.send(rest)
        except TimeoutError:
            continue
        except OSError:  # the other side closed the connection
            break
        sent += n
        rest = rest[n:]
    return sent


async def next_failure(ws: MessageWebSocket, *, within: float = 5) -> WebSocketStatusError:
    """The failure the next ``message_received`` event of *ws* carries (within
    *within* seconds): the test fails if the event is a message."""
    with trio.fail_after(within):
        args = await ws.message_received.receive()
    with pytest.raises(WebSocketStatusError) as caught:
        args.get_data_reader()
    return caught.value


@contextlib.asynccontextmanager
async def longest_stall() -> AsyncIterator[list[float]]:
    """Run a task that wakes every 5 ms during the block: the list yielded holds the
    longest gap between its wake-ups (seconds) once the block ends, how long the event
    loop was held."""
    longest = [0.0]

    async def heartbeat() -> None:
        last = time.monotonic()
        while True:  # until the block ends
            await trio.sleep(0.005)
            now = time.monotonic()
            longest[0] = max(longest[0], now - last)
            last = now

    async with trio.open_nursery() as nursery:
        nursery.start_soon(heartbeat)
        yield longest
        nursery.cancel_scope.cancel()


def read_request(sock: socket.socket) -> bytes:
    """Read an opening request (up to the end of its head) from *sock*."""
    request = b""
    while b"\r\n\r\n" not in request:
        data = sock.recv(65536)
        assert data, "the request did not come whole"
        request += data
    return request
