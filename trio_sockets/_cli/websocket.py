"""The WebSocket side of the commands: ``trio-sockets send ws://…`` (or ``wss://``) and
``trio-sockets echo-server --websocket``.

``send`` sends each line of standard input as one text message (the newline left out;
a line longer than a chunk read goes in several frames as it is read, so that a line of
any length takes bounded memory) and writes each message received followed by a
newline; with ``--binary`` it sends standard input as binary messages of the chunks
read and writes the messages received as they are. When standard input ends it waits
for replies until none has come for ``--wait`` seconds, then closes with code 1000; a
line that is not UTF-8 ends the input the same way, and then the command, as bad input.
A close by the server with a code other than 1000, 1001 or 1005 is a failure,
classified by ``WebSocketError.get_status``'s close-code table, whenever it came (a
send it made fail is not reported then). No close frame goes inside a line's message:
a line under way is ended first.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import trio

from .._core.checks import shown
from .._core.enums import HostNameType, SocketMessageType
from .._core.hostname import HostName
from .._core.web_errors import WebSocketError, status_of_close, web_socket_error
from .._sockets.stream_socket import StreamSocket
from .._websockets.echo import EchoCounts, echo_messages
from .._websockets.message_socket import MessageWebSocket
from .._websockets.session import check_header
from .._websockets.uri import parse_websocket_uri, shown_uri
from .lines import say, warn
from .progress import Progress
from .stdio import StandardInput, StandardOutput
from .termination import signal_cancels_this, terminating
from .tls_options import use_tls_options, wants_tls

__all__ = [
    "MAX_RECEIVED_MESSAGE",
    "NORMAL_CLOSE_CODES",
    "add_websocket_options",
    "echo_websocket",
    "is_websocket_target",
    "joined_headers",
    "listening_uri",
    "send_messages",
    "subprotocol",
    "websocket_client",
]

#: The largest message ``send`` takes from the server (``echo-server`` echoes a little
#: less: its output bound less the room control frames need): a larger one closes the
#: WebSocket with 1009 (``REQUEST_ENTITY_TOO_LARGE``, status 1) rather than fill
#: memory, as each message is held whole until written.
MAX_RECEIVED_MESSAGE = 64 * 1024 * 1024

#: The close codes of a session that ended as it should: done (1000), the server going
#: away (1001), and a close frame without a code (1005).
NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})

# How long past control.close_timeout a send that found the connection closing waits
# for the receiving side to see it end (which the library bounds by close_timeout).
_LOST_SLACK = 1.0


def is_websocket_target(host: str, service: str | None) -> bool:
    """Whether ``send HOST [SERVICE]`` names a URI (a WebSocket) rather than a host."""
    return service is None or "://" in host


def add_websocket_options(send: Any) -> None:
    """Register the WebSocket options of ``send`` on its parser."""
    web = send.add_argument_group("WebSocket (with a ws:// or wss:// URI)")
    web.add_argument(
        "--binary",
        action="store_true",
        help="send standard input as binary messages (each chunk read is one), and write "
        "the messages received as they are, with nothing between them (default: each line "
        "is one text message, each message received is followed by a newline)",
    )
    web.add_argument(
        "--header",
        action="append",
        default=[],
        type=request_header,
        metavar="'NAME: VALUE'",
        help="add this header to the opening handshake (repeatable: the values of a name "
        "given again are joined with ', ', or '; ' for Cookie)",
    )
    web.add_argument(
        "--protocol",
        action="append",
        default=[],
        type=subprotocol,
        metavar="NAME",
        help="offer this subprotocol (repeatable)",
    )


def request_header(text: str) -> tuple[str, str]:
    """An argparse type: ``NAME: VALUE``, a header the opening handshake can carry (the
    library's check, with this command's remedies)."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a header 'NAME: VALUE'")
    name, value = name.strip(), value.strip()
    lower = name.lower()
    if lower == "sec-websocket-protocol":
        raise argparse.ArgumentTypeError(
            f"{shown(text)}: the handshake offers subprotocols itself: use --protocol NAME"
        )
    if lower == "sec-websocket-extensions":
        raise argparse.ArgumentTypeError(
            f"{shown(text)}: the handshake negotiates extensions itself, and this command "
            "offers none (no compression)"
        )
    try:
        return check_header(name, value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def subprotocol(text: str) -> str:
    """An argparse type: a subprotocol name, an HTTP token (RFC 6455 4.1)."""
    if not text or not all(33 <= ord(c) <= 126 and c not in '()<>@,;:\\"/[]?={}' for c in text):
        raise argparse.ArgumentTypeError(
            f"{shown(text)} is not a subprotocol name (an HTTP token: no spaces, "
            "separators or control characters)"
        )
    return text


def joined_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``--header`` options, one header per name (any case, the first spelling
    kept): the values given for a name joined with ``", "`` in order, as RFC 9110 5.3
    combines repeated field lines (``"; "`` for ``Cookie``, RFC 6265 5.4)."""
    values: dict[str, tuple[str, list[str]]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), (name, []))[1].append(value)
    return [
        (name, ("; " if lower == "cookie" else ", ").join(parts))
        for lower, (name, parts) in values.items()
    ]


def listening_uri(host: str | None, port: str, *, secure: bool) -> str:
    """The URI a client connects to for a server listening on *host* (every address:
    ``localhost``) and *port*."""
    address = HostName(host or "localhost")
    name = address.canonical_name  # an IPv6 address without the brackets it may have had
    if address.type == HostNameType.IPV6:
        name = f"[{name.replace('%', '%25')}]"  # RFC 6874: a zone's % is written %25
    return f"{'wss' if secure else 'ws'}://{name}:{port}/"


# -- echo-server --websocket -----------------------------------------------------------------


async def echo_websocket(sock: StreamSocket) -> None:
    """Serve one connection of ``echo-server --websocket``; report it on one line."""
    peer = f"{sock.information.remote_address}:{sock.information.remote_port}"
    counts = EchoCounts()
    try:
        code = await echo_messages(sock, counts)
    except OSError as error:
        warn(f"{peer}: {WebSocketError.get_status(error).name}: {error}")
        return
    messages = f"{counts.messages} message{'' if counts.messages == 1 else 's'}"
    ending = "" if code is None else f", close code {code}"
    if counts.cut:  # the client's close came before the last frame of a message
        ending += " in the middle of a message, which was dropped"
    say(f"{peer}: echoed {messages} ({counts.bytes} bytes){ending}")


# -- send ws://… ---------------------------------------------------------------------------


def websocket_client(args: argparse.Namespace) -> MessageWebSocket:
    if args.udp:
        raise ValueError("a WebSocket URI goes over TCP, not --udp")
    ws = MessageWebSocket()
    ws.control.max_message_size = MAX_RECEIVED_MESSAGE
    if wants_tls(args):
        if not args.host.lower().startswith("wss://"):
            raise ValueError(f"TLS options need a wss:// URI, not {shown(args.host)}")
        if args.tls_level not in (None, "SSL"):
            raise ValueError("--tls-level goes with TCP; wss:// negotiates the best version")
        use_tls_options(ws.control, args)
    return ws


async def send_messages(
    ws: MessageWebSocket,
    args: argparse.Namespace,
    stdin: StandardInput,
    stdout: StandardOutput,
    progress: Progress,
    chunk: int,
) -> None:
    """Connect *ws* to ``args.host`` (the URI) and exchange messages as the module says.

    Raises:
        ValueError / TypeError: a bad URI, header or protocol, or (text messages) a line
            that is not UTF-8, named.
        WebSocketStatusError: the connection failed, or the server closed it with a code
            that is not a normal end (its status).
    """
    if args.service is not None:
        raise ValueError(f"a WebSocket URI takes no SERVICE, not {shown(args.service)}")
    uri: str = args.host
    if args.header and parse_websocket_uri(uri).user_info is not None:
        for name, _ in args.header:
            if name.lower() == "authorization":
                raise ValueError(
                    f"--header {shown(name + ': …')} and the URI's user:password both make "
                    "the Authorization header: give one or the other"
                )
    for name, value in joined_headers(args.header):
        ws.set_request_header(name, value)
    ws.control.supported_protocols.extend(args.protocol)
    binary: bool = args.binary
    ws.control.message_type = SocketMessageType.BINARY if binary else SocketMessageType.UTF8
    async with ws:
        await ws.connect(uri)
        await _Exchange(ws, args, stdin, stdout, progress, chunk).run()


class _Exchange:
    """``send``'s messages on a connected WebSocket: standard input goes out while the
    replies are written, until the server closes or no reply came for ``--wait``
    seconds after the input ended (a WebSocket cannot half-close)."""

    def __init__(
        self,
        ws: MessageWebSocket,
        args: argparse.Namespace,
        stdin: StandardInput,
        stdout: StandardOutput,
        progress: Progress,
        chunk: int,
    ) -> None:
        self._ws = ws
        self._uri: str = args.host
        self._wait: float = args.wait
        self._binary: bool = args.binary
        self._stdin = stdin
        self._stdout = stdout
        self._progress = progress
        self._chunk = chunk
        self._receiving = trio.CancelScope()
        self._input_ended = False
        self._refused: ValueError | None = None  # a line that is not UTF-8
        self._lost: OSError | None = None  # sending failed: the close or failure is received
        # A line's frames have gone but not its last: a close frame must not go inside
        # its message (_end_line).
        self._under_way = False

    async def run(self) -> None:
        ws = self._ws
        try:
            with signal_cancels_this():
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._upload)
                    await self._receive()
                    nursery.cancel_scope.cancel()  # the server closed: stop reading stdin
        except* KeyboardInterrupt:
            # Ctrl-C: leave as a client that goes away (1001), not by dropping the
            # connection; the close is bounded by control.close_timeout.
            await self._end_line()
            await ws.aclose(1001, "interrupted")
            raise
        if terminating():  # SIGTERM or SIGHUP cancelled the exchange: as for Ctrl-C
            await self._end_line()
            await ws.aclose(1001, "interrupted")
            return
        if self._receiving.cancelled_caught:
            if self._lost is not None:
                raise self._lost
            # No reply for --wait seconds. The server may have closed already (its close
            # frame came, the connection is still open): closed then has its close.
            await ws.aclose(1000)
        await _check_server_close(ws, self._uri)
        if self._refused is not None:
            raise self._refused

    async def _receive(self) -> None:
        with self._receiving:
            async for event in self._ws.message_received:
                data = event.data  # the connection's failure, if one
                await self._stdout.send_all(data if self._binary else data + b"\n")
                self._progress.received(len(data))
                if self._input_ended and self._lost is None:
                    self._receiving.deadline = trio.current_time() + self._wait

    async def _upload(self) -> None:
        ws = self._ws
        if self._binary:
            frames = _chunks(self._stdin, self._chunk)
        else:
            frames = _line_frames(self._stdin, self._chunk)
        wait = self._wait
        try:
            async for data, final in frames:
                # A frame counts as sent once handed over: cancelled, a send has queued
                # it (unless it was still waiting for room in a full output).
                self._under_way = not final
                if final:
                    await ws.send_final_frame(data)
                else:
                    await ws.send_nonfinal_frame(data)
                self._progress.sent(len(data))
        except ValueError as error:
            # What came before it is still answered and written, and the WebSocket
            # closed as at the end of input; the line ends the command with status 2.
            self._refused = ValueError(f"standard input: {error}")
            await self._end_line()
        except OSError as error:
            # The server closed (1009 for a line too long) or the connection broke: the
            # receiving side reports it with its code as the connection ends (which
            # the library bounds by close_timeout), however short --wait is.
            self._lost = error
            wait = ws.control.close_timeout + _LOST_SLACK
        self._input_ended = True
        self._receiving.deadline = trio.current_time() + wait

    async def _end_line(self) -> None:
        """End the line under way, if any, with an empty last frame before a close: a
        close frame inside a message, which RFC 6455 allows, is a protocol error to
        many servers (websockets', for one), and a message begun cannot be withdrawn."""
        if self._under_way:
            self._under_way = False
            with (
                trio.move_on_after(self._ws.control.close_timeout),
                contextlib.suppress(OSError, ValueError, BufferError),
            ):
                await self._ws.send_final_frame(b"")


async def _check_server_close(ws: MessageWebSocket, uri: str) -> None:
    """Raise the server's close of *ws* if its code is not a normal end."""
    async for closed in ws.closed:
        if closed.code not in NORMAL_CLOSE_CODES:
            reason = f" and reason {shown(closed.reason)}" if closed.reason else ""
            raise web_socket_error(
                status_of_close(closed.code, by_peer=True),
                f"{shown(shown_uri(uri))}: the server closed the WebSocket with code "
                f"{closed.code}{reason}",
                close_code=closed.code,
                close_reason=closed.reason,
            )


async def _chunks(stdin: StandardInput, chunk: int) -> AsyncIterator[tuple[bytes, bool]]:
    """Each chunk read from *stdin*, as a whole message."""
    while data := await stdin.receive_some(chunk):
        yield data, True


async def _line_frames(stdin: StandardInput, chunk: int) -> AsyncIterator[tuple[bytes, bool]]:
    """The frames of one message per line of *stdin*, without its ``\\n`` (a last line
    without one too), each with whether it ends its message.

    A line longer than *chunk* goes as several frames, each sent as it is read, so that
    memory stays within two chunks however long a line is; its length is then the
    peer's to refuse (close code 1009). Each frame is checked as UTF-8 before it goes,
    and ends on a character boundary, so that the frames sent always make valid text
    that an empty last frame can end.

    Raises:
        ValueError: a line that is not UTF-8, with the offset of the bad byte in it.
    """
    buffer = bytearray()
    line_at = 0  # the bytes of the current line sent in earlier frames
    while data := await stdin.receive_some(chunk):
        searched = len(buffer)  # what came before has no newline
        buffer += data
        start = 0
        while (end := buffer.find(b"\n", searched)) >= 0:
            line = bytes(buffer[start:end])
            _check_text(line, line_at, final=True)
            yield line, True
            line_at = 0
            start = searched = end + 1
        del buffer[:start]
        if len(buffer) >= chunk:
            held = _check_text(buffer, line_at, final=False)  # a character's start
            frame = bytes(buffer[: len(buffer) - held])
            yield frame, False
            line_at += len(frame)
            del buffer[: len(frame)]
    if buffer or line_at:
        _check_text(buffer, line_at, final=True)
        yield bytes(buffer), True


def _check_text(data: bytes | bytearray, at: int, *, final: bool) -> int:
    """Raise :exc:`ValueError` unless *data*, which starts at byte *at* of its line, is
    UTF-8 (*final*: to its end); return how many bytes at its end begin a character
    that the next frame completes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data, final=final)
    except UnicodeDecodeError as exc:
        near = bytes(data[max(0, exc.start - 24) : exc.start + 8])
        raise ValueError(
            f"a line that is not UTF-8 ({exc.reason} at byte {at + exc.start} of the "
            f"line): {shown(near)}"
        ) from None
    return len(decoder.getstate()[0])
