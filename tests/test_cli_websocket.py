"""``trio-sockets echo-server --websocket`` and ``trio-sockets send ws://…``, run as
subprocesses against independent peers: the ``websockets`` library's client and server,
``wsdump`` (websocket-client, Debian package python3-websocket) and curl."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from conftest import free_tcp_port, require_tool, run_cli
from test_cli import COMMAND, _finish, _start
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.sync.client import connect as sync_connect
from websockets.sync.server import ServerConnection
from ws_peers import RawPeer, WebsocketsServer, opening_request

from trio_sockets._cli.websocket import listening_uri
from trio_sockets.testing import TlsCertificates

#: Bounds every subprocess and peer exchange of these tests.
LIMIT = 60


@asynccontextmanager
async def _echo_server(*options: str) -> AsyncIterator[tuple[trio.Process, str]]:
    """``echo-server --websocket`` on 127.0.0.1; yields it and its port. Killed after."""
    async with _echo_server_on("127.0.0.1", *options) as started:
        yield started


@asynccontextmanager
async def _echo_server_on(host: str, *options: str) -> AsyncIterator[tuple[trio.Process, str]]:
    """``echo-server --websocket`` on *host*; yields it and its port. Killed after."""
    process, port = await _start(["echo-server", "0", "--host", host, "--websocket", *options])
    try:
        yield process, port
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


# -- echo-server --websocket -------------------------------------------------------------


async def test_echo_server_sends_each_message_back_with_its_type() -> None:
    """The websockets library's client: text, binary, empty and 1 MiB messages, then a
    close with 1000, which the server reports."""
    async with _echo_server("--count", "1") as (process, port):
        big = bytes(range(256)) * 4096

        def client() -> list[str | bytes]:
            with sync_connect(
                f"ws://127.0.0.1:{port}/any/path", open_timeout=LIMIT, max_size=None
            ) as ws:
                replies = []
                for message in ("héllo", b"\x00\xffbinary", "", big):
                    ws.send(message)
                    replies.append(ws.recv(timeout=LIMIT))
                ws.close(1000)
                return replies

        with trio.fail_after(LIMIT):
            replies = await trio.to_thread.run_sync(client)
        assert replies == ["héllo", b"\x00\xffbinary", "", big]
        assert await _finish(process) == 0
        assert process.stdout is not None
        with trio.fail_after(LIMIT):
            rest = b""
            while chunk := await process.stdout.receive_some():
                rest += chunk
        expected = f": echoed 4 messages ({6 + 8 + len(big)} bytes), close code 1000\n"
        assert rest.decode().endswith(expected), rest


async def test_a_client_that_closes_before_its_echoes_is_no_failure() -> None:
    """Messages still queued when the client's close came cannot go back: the server
    drops them and reports the close, nothing on standard error."""
    async with _echo_server("--count", "1") as (process, port):

        def client() -> None:
            with sync_connect(f"ws://127.0.0.1:{port}/", open_timeout=LIMIT) as ws:
                for _ in range(200):
                    ws.send("x" * 1000)

        with trio.fail_after(LIMIT):
            await trio.to_thread.run_sync(client)
        assert await _finish(process) == 0
        assert process.stdout is not None
        assert process.stderr is not None
        with trio.fail_after(LIMIT):
            out = await process.stdout.receive_some()
            err = await process.stderr.receive_some()
    assert out.endswith(b"close code 1000\n"), out
    assert err == b""


async def test_echo_server_prints_its_uri() -> None:
    process = await trio.lowlevel.open_process(
        [*COMMAND, "echo-server", "0", "--host", "127.0.0.1", "--websocket"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(LIMIT):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                assert chunk, "echo-server exited before reporting its port"
                line += chunk
        port = line.split()[3].decode()
        assert line.decode() == f"listening on port {port} (WebSocket, ws://127.0.0.1:{port}/)\n"
    finally:
        process.kill()
        await process.wait()


@pytest.mark.parametrize("host", ["::1", "[::1]"])
async def test_echo_server_prints_a_uri_that_send_connects_to_over_ipv6(host: str) -> None:
    """An IPv6 address given with or without brackets: the URI has one pair."""
    async with _echo_server_on(host, "--count", "1") as (_, port):
        uri = f"ws://[::1]:{port}/"
        result = await run_cli(["send", uri, "--wait", "0.5"], b"over ipv6\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"over ipv6\n"


@pytest.mark.parametrize(
    ("host", "uri"),
    [
        (None, "ws://localhost:80/"),
        ("127.0.0.1", "ws://127.0.0.1:80/"),
        ("::1", "ws://[::1]:80/"),
        ("[::1]", "ws://[::1]:80/"),
        ("fe80::1%2", "ws://[fe80::1%252]:80/"),
        ("[fe80::1%2]", "ws://[fe80::1%252]:80/"),
    ],
)
def test_listening_uri_brackets_an_ipv6_address_once(host: str | None, uri: str) -> None:
    assert listening_uri(host, "80", secure=False) == uri


async def test_echo_server_answers_wsdump() -> None:
    """wsdump (websocket-client) sends each line of its input as a text message and
    prints what comes back with its opcode; it leaves without a closing handshake,
    which the server reports on standard error."""
    wsdump = require_tool("wsdump")
    async with _echo_server("--count", "1") as (process, port):
        with trio.fail_after(LIMIT):
            result = await trio.run_process(
                [wsdump, "-r", "-v", "--eof-wait", "1", f"ws://127.0.0.1:{port}/"],
                stdin="one\ntwö\n".encode(),
                capture_stdout=True,
                capture_stderr=True,
            )
        assert result.stdout.decode().splitlines() == ["text: one", "text: twö"]
        assert await _finish(process) == 0
        assert process.stderr is not None
        with trio.fail_after(LIMIT):
            stderr = await process.stderr.receive_some()
        assert b": CONNECTION_ABORTED: " in stderr


async def test_echo_server_completes_the_handshake_curl_starts() -> None:
    """curl sends an HTTP/1.1 upgrade request by hand; the answer is the RFC 6455 one
    (the accept value of the RFC's example key)."""
    curl = require_tool("curl")
    async with _echo_server() as (_, port):
        with trio.fail_after(LIMIT):
            result = await trio.run_process(
                [
                    curl,
                    "--silent",
                    "--include",
                    "--http1.1",
                    "--max-time",
                    "2",
                    "-H",
                    "Connection: Upgrade",
                    "-H",
                    "Upgrade: websocket",
                    "-H",
                    "Sec-WebSocket-Version: 13",
                    "-H",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                    f"http://127.0.0.1:{port}/chat",
                ],
                capture_stdout=True,
                check=False,
            )
    head = result.stdout.decode().split("\r\n")
    assert head[0] == "HTTP/1.1 101 Switching Protocols", result.stdout
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head


async def test_echo_server_and_send_over_wss(tls_certificates: TlsCertificates) -> None:
    cert, key = tls_certificates.files("server")
    ca = str(tls_certificates.authority_file)
    async with _echo_server("--tls-cert", str(cert), "--tls-key", str(key)) as (_, port):
        uri = f"wss://localhost:{port}/"
        trusted = await run_cli(["send", uri, "--ca", ca, "--wait", "0.5"], b"secret\nlines\n")
        assert trusted.returncode == 0, trusted.stderr
        assert trusted.stdout == b"secret\nlines\n"
        untrusted = await run_cli(["send", uri], b"x\n")
        assert untrusted.returncode == 1
        assert untrusted.stderr.decode().startswith("trio-sockets: CERTIFICATE_CONTAINS_ERRORS: ")
        assert untrusted.stderr.count(b"\n") == 1
        ignored = await run_cli(
            ["send", uri, "--ignore", "UNTRUSTED", "--wait", "0.5"], b"anyway\n"
        )
        assert ignored.stdout == b"anyway\n", ignored.stderr


# -- send ws://… -------------------------------------------------------------------------


async def test_send_sends_lines_as_text_messages_and_closes_with_1000() -> None:
    lines = "first line\nsecond, with é and 🎉\n\nlast without a newline"
    with WebsocketsServer() as server:
        result = await run_cli(["send", server.url("/echo"), "--wait", "1"], lines.encode())
        assert result.returncode == 0, result.stderr
        assert result.stderr == b""
        assert result.stdout.decode() == lines + "\n"
        with trio.fail_after(LIMIT):
            closed = await trio.to_thread.run_sync(server.wait_closed, "/echo")
    assert closed == (1000, "", None, [])


async def test_send_binary_streams_standard_input_as_binary_messages() -> None:
    payload = bytes(range(256)) * 4096 + b"\n\x00 no lines here"
    received: list[Frame] = []

    def echo_frames(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        while protocol.close_rcvd is None and (data := sock.recv(65536)):
            protocol.receive_data(data)
            for frame in protocol.events_received():
                if isinstance(frame, Frame) and frame.opcode in (Opcode.BINARY, Opcode.TEXT):
                    received.append(frame)
                    protocol.send_binary(frame.data)
            sock.sendall(b"".join(protocol.data_to_send()))
        peer.received_close = protocol.close_rcvd

    with RawPeer(echo_frames) as peer:
        result = await run_cli(["send", peer.url(), "--binary", "--wait", "1"], payload)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload
    assert {frame.opcode for frame in received} == {Opcode.BINARY}
    assert b"".join(frame.data for frame in received) == payload
    assert peer.received_close is not None
    assert peer.received_close.code == 1000


async def test_send_shows_message_progress() -> None:
    with WebsocketsServer() as server:
        result = await run_cli(
            ["send", server.url("/echo"), "--progress", "--wait", "0.5"], b"ab\nc\n"
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ab\nc\n"
    assert b"sent: 3.00B [" in result.stderr
    assert b"received: 3.00B [" in result.stderr


async def test_send_ends_quietly_when_its_output_is_closed() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        with WebsocketsServer() as server, trio.fail_after(LIMIT):
            result = await trio.run_process(
                [*COMMAND, "send", server.url("/echo")],
                stdin=b"line\n" * 100_000,
                stdout=write_end,
                capture_stderr=True,
                check=False,
            )
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert result.stderr == b""


@pytest.mark.parametrize(
    ("signo", "status"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
async def test_send_interrupted_closes_the_websocket_as_going_away(
    signo: signal.Signals, status: int
) -> None:
    """Ctrl-C (SIGINT) ends ``send`` with 130, SIGTERM (``kill``, ``timeout``) with 143
    and SIGHUP (a closed terminal) with 129, without a word, and the server sees the
    client leave with 1001 ("going away"), not a dropped connection."""
    with WebsocketsServer() as server:
        process = await trio.lowlevel.open_process(
            [*COMMAND, "send", server.url("/echo")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            with trio.fail_after(LIMIT):
                await process.stdin.send_all(b"still typing\n")
                echoed = b""
                while not echoed.endswith(b"\n"):  # connected, and the echo came back
                    chunk = await process.stdout.receive_some()
                    assert chunk, "send exited before its echo"
                    echoed += chunk
                assert echoed == b"still typing\n"
                process.send_signal(signo)
                assert await process.wait() == status
                closed = await trio.to_thread.run_sync(server.wait_closed, "/echo")
                assert process.stderr is not None
                assert await process.stderr.receive_some() == b""
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
    assert closed[:2] == (1001, "interrupted")


async def test_send_offers_headers_and_subprotocols() -> None:
    with WebsocketsServer(subprotocols=["chat.v2"]) as server:
        result = await run_cli(
            [
                "send",
                server.url("/headers"),
                "--header",
                "X-Token: s3cret",
                "--protocol",
                "chat.v1",
                "--protocol",
                "chat.v2",
                "--wait",
                "0.5",
            ]
        )
        assert result.returncode == 0, result.stderr
        headers = json.loads(result.stdout.decode().splitlines()[0])
        assert headers["X-Token"] == "s3cret"
        assert headers["Sec-WebSocket-Protocol"] == "chat.v1, chat.v2"
        with trio.fail_after(LIMIT):
            closed = await trio.to_thread.run_sync(server.wait_closed, "/headers")
    assert closed[:3] == (1000, "", "chat.v2")


async def test_send_reports_a_close_by_the_server_with_its_code() -> None:
    """The messages that came before the close are written; the close code 4001 is a
    failure, DISCONNECTED."""
    with WebsocketsServer() as server:
        result = await run_cli(["send", server.url("/close"), "--wait", "5"])
    assert result.stdout == b"one\ntwo\nthree\n"
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith("trio-sockets: DISCONNECTED: "), stderr
    assert "code 4001 and reason 'bye'" in stderr
    assert stderr.count("\n") == 1


async def test_send_does_not_show_the_password_of_the_uri() -> None:
    with WebsocketsServer() as server:
        uri = server.url("/close").replace("ws://", "ws://alice:s3cret@")
        result = await run_cli(["send", uri, "--wait", "5"])
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "code 4001" in stderr
    assert "alice:***@" in stderr
    assert "s3cret" not in stderr


async def test_send_reports_a_refused_port() -> None:
    uri = f"ws://127.0.0.1:{free_tcp_port()}/"
    result = await run_cli(["send", uri])
    assert result.returncode == 1
    assert result.stderr.decode().startswith("trio-sockets: CANNOT_CONNECT: ")
    assert uri.encode() in result.stderr
    assert result.stderr.count(b"\n") == 1


async def test_send_reports_a_handshake_answered_with_404() -> None:
    def not_found(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(404, "no such endpoint\n")

    with WebsocketsServer(process_request=not_found) as server:
        result = await run_cli(["send", server.url("/missing")], b"x\n")
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith("trio-sockets: NOT_FOUND: "), stderr
    assert stderr.count("\n") == 1
    assert result.stdout == b""


async def test_send_reports_a_connection_lost_without_a_close() -> None:
    def drop(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        sock.close()

    with RawPeer(drop) as peer:
        result = await run_cli(["send", peer.url(), "--wait", "5"])
    assert result.returncode == 1
    assert result.stderr.decode().startswith("trio-sockets: CONNECTION_ABORTED: ")


async def test_a_line_that_is_not_utf8_is_bad_input_named() -> None:
    """The line ends the input: the echo of the line before it is still written, the
    WebSocket is closed with 1000 (not dropped), and then the command fails with 2."""
    with WebsocketsServer() as server:
        result = await run_cli(
            ["send", server.url("/echo"), "--wait", "1"], b"fine\n\xff\xfe bad\nnever sent\n"
        )
        with trio.fail_after(LIMIT):
            closed = await trio.to_thread.run_sync(server.wait_closed, "/echo")
    assert result.returncode == 2
    assert result.stderr.decode().startswith("trio-sockets: standard input: ")
    assert b"\\xff\\xfe bad" in result.stderr
    assert result.stderr.count(b"\n") == 1
    assert result.stdout == b"fine\n"
    assert closed[:2] == (1000, "")


def _limit_memory() -> None:
    # Should a line be kept whole again, fail in this process, not the machine.
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


async def test_an_endless_line_goes_in_frames_until_the_server_refuses_it() -> None:
    """Standard input without a newline (``/dev/zero``) is sent as it is read, frame by
    frame of one text message, in bounded memory, until the server's bound on a message
    (64 MiB for echo-server) closes the WebSocket with 1009."""
    zeros = os.open("/dev/zero", os.O_RDONLY)
    try:
        async with _echo_server() as (_, port):
            with trio.fail_after(LIMIT):
                result = await trio.run_process(
                    [*COMMAND, "send", f"ws://127.0.0.1:{port}/"],
                    stdin=zeros,
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                    preexec_fn=_limit_memory,
                )
    finally:
        os.close(zeros)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr[-2000:]
    assert stderr.startswith("trio-sockets: REQUEST_ENTITY_TOO_LARGE: "), stderr[-2000:]
    assert "code 1009" in stderr
    assert stderr.count("\n") == 1


async def test_a_long_line_is_one_message_of_several_frames() -> None:
    line = bytes(range(32, 127)) * 3000  # 285,000 bytes: five chunks read
    frames: list[Frame] = []

    def echo_messages(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        message = b""
        while protocol.close_rcvd is None and (data := sock.recv(65536)):
            protocol.receive_data(data)
            for frame in protocol.events_received():
                if isinstance(frame, Frame) and frame.opcode in (
                    Opcode.TEXT,
                    Opcode.CONT,
                ):
                    frames.append(frame)
                    message += frame.data
                    if frame.fin:
                        protocol.send_text(message)
                        message = b""
            sock.sendall(b"".join(protocol.data_to_send()))

    with RawPeer(echo_messages) as peer:
        result = await run_cli(["send", peer.url(), "--wait", "1"], line + b"\nshort\n" + line)
    assert result.returncode == 0, result.stderr
    assert result.stdout == line + b"\nshort\n" + line + b"\n"
    assert len(frames) > 4
    assert frames[0].opcode == Opcode.TEXT
    assert [frame.fin for frame in frames].count(True) == 3


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["send", "ws://[127.0.0.1/"], "'ws://[127.0.0.1/'"),
        (["send", "ws://127.0.0.1:99999/"], "'ws://127.0.0.1:99999/'"),
        (["send", "http://127.0.0.1/"], "'http://127.0.0.1/'"),
        (["send", "ws://127.0.0.1:9/", "80"], "'80'"),
        (["send", "ws://127.0.0.1:9/", "--udp"], "--udp"),
        (["send", "ws://127.0.0.1:9/", "--tls"], "wss://"),
        (["send", "wss://127.0.0.1:9/", "--tls-level", "TLS12"], "--tls-level"),
        (["send", "127.0.0.1", "9", "--binary"], "--binary"),
        (["send", "ws://127.0.0.1:9/", "--header", "no colon"], "'no colon'"),
        (["send", "ws://127.0.0.1:9/", "--header", "Bad Name: x"], "'Bad Name'"),
        (["send", "ws://127.0.0.1:9/", "--protocol", "not a token"], "'not a token'"),
        (["echo-server", "0", "--websocket", "--udp"], "--websocket"),
        (["send", "ws://[" + "x" * 5000 + "/"], "'ws://[xxx"),
    ],
)
async def test_bad_websocket_input_is_exit_status_2_naming_it(
    arguments: list[str], named: str
) -> None:
    result = await run_cli(arguments)
    assert result.returncode == 2, result
    stderr = result.stderr.decode()
    assert named in stderr, stderr
    assert len(stderr) < 1000, "the message must stay bounded"
    assert result.stdout == b""


async def test_a_message_over_64_mib_from_the_server_is_refused_in_bounded_memory() -> None:
    """A server that announces a text message of 64 MiB + 1 bytes: ``send`` refuses it
    at its frame header with 1009 rather than hold it, and fails with its status."""

    def announce_a_huge_message(
        peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None
    ) -> None:
        assert protocol is not None
        length = 64 * 1024 * 1024 + 1
        sock.sendall(b"\x81\x7f" + length.to_bytes(8, "big") + b"x" * 1000)
        peer.read_until_close(sock, protocol)

    with RawPeer(announce_a_huge_message) as peer, trio.fail_after(LIMIT):
        result = await trio.run_process(
            [*COMMAND, "send", peer.url(), "--wait", "5"],
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            preexec_fn=_limit_memory,
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(b"trio-sockets: REQUEST_ENTITY_TOO_LARGE: "), result.stderr
    assert result.stdout == b""
    assert peer.received_close is not None
    assert peer.received_close.code == 1009


# -- a server's close while send sends; a close inside a line's message -----------------


def _close_then_hold(code: int, reason: str) -> RawPeer:
    """A server whose close frame (*code*, *reason*) goes with its 101 answer, so every
    send finds the connection closing; it keeps TCP open 2 s after the client's reply,
    longer than ``--wait``."""

    def hold(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        peer.read_until_close(sock, protocol)
        peer.stop.wait(2)

    close = b"\x88" + bytes([2 + len(reason)]) + code.to_bytes(2, "big") + reason.encode()
    return RawPeer(hold, with_response=close)


@pytest.mark.parametrize("stdin", [b"hello\n", b""], ids=["a line sent", "nothing sent"])
@pytest.mark.parametrize("wait", ["0", "0.2"])
async def test_a_server_close_while_sending_is_judged_by_its_code(stdin: bytes, wait: str) -> None:
    """The server's close is the end of the conversation, not a failed send: 1000 is
    status 0, 4000 a failure naming the server's code and reason, whatever --wait."""
    with _close_then_hold(1000, "bye") as peer:
        result = await run_cli(["send", peer.url(), "--wait", wait], stdin)
    assert (result.returncode, result.stderr) == (0, b"")
    with _close_then_hold(4000, "custom") as peer:
        result = await run_cli(["send", peer.url(), "--wait", wait], stdin)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith("trio-sockets: DISCONNECTED: "), stderr
    assert "the server closed the WebSocket with code 4000 and reason 'custom'" in stderr
    assert stderr.count("\n") == 1


class _Recorder:
    """A server that reads text frames until the client's close: the sizes of the
    messages it got whole, the close frame, and the protocol error the close was to
    ``websockets`` (a close frame inside a message)."""

    def __init__(self) -> None:
        self.messages: list[int] = []
        self.first_frame = threading.Event()
        self.close: Close | None = None
        self.error: Exception | None = None

    def __call__(self, peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        size = 0
        while protocol.close_rcvd is None and (data := sock.recv(65536)):
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.CONT):
                    self.first_frame.set()
                    size += len(event.data)
                    if event.fin:
                        self.messages.append(size)
                        size = 0
            sock.sendall(b"".join(protocol.data_to_send()))
        self.close = protocol.close_rcvd
        self.error = protocol.parser_exc


async def test_a_line_not_utf8_past_its_first_frame_is_named_at_its_offset() -> None:
    """The bad byte is named by its offset in the line, and the frame of the line that
    went before it is ended as a message before the close (1000), never cut by it."""
    recorder = _Recorder()
    with RawPeer(recorder) as peer:
        result = await run_cli(["send", peer.url(), "--wait", "0.5"], b"a" * 70_000 + b"\xff\n")
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert stderr.startswith("trio-sockets: standard input: "), stderr
    assert "at byte 70000 of the line" in stderr
    assert stderr.count("\n") == 1
    assert recorder.error is None
    assert recorder.close is not None
    assert recorder.close.code == 1000
    assert len(recorder.messages) == 1  # the first frame (a chunk or more) as a message
    assert 65_507 <= recorder.messages[0] < 70_000


async def test_a_line_split_inside_a_character_still_ends_as_text() -> None:
    """A frame ends on a character boundary: a 65,507-byte chunk ends inside an "é"."""
    line = "é".encode() * 40_000
    recorder = _Recorder()
    with RawPeer(recorder) as peer:
        result = await run_cli(["send", peer.url(), "--wait", "0.5"], line + b"\n")
    assert result.returncode == 0, result.stderr
    assert recorder.error is None
    assert recorder.messages == [len(line)]


async def test_a_signal_during_a_long_line_ends_its_message_before_the_close() -> None:
    recorder = _Recorder()
    with RawPeer(recorder) as peer:
        process = await trio.lowlevel.open_process(
            [*COMMAND, "send", peer.url()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdin is not None
        try:
            with trio.fail_after(LIMIT):
                await process.stdin.send_all(b"a" * 100_000)  # no newline: the line goes on
                assert await trio.to_thread.run_sync(recorder.first_frame.wait, LIMIT)
                process.send_signal(signal.SIGTERM)
                assert await process.wait() == 143
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
    assert recorder.error is None, recorder.error
    assert recorder.close is not None
    assert (recorder.close.code, recorder.close.reason) == (1001, "interrupted")
    assert len(recorder.messages) == 1  # the frames sent, as a message
    assert 65_507 <= recorder.messages[0] <= 100_000


# -- text the peer chose, in the one-line cause ------------------------------------------


def _answer_raw(answer: bytes) -> RawPeer:
    def script(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        request = b""
        while b"\r\n\r\n" not in request and (data := sock.recv(4096)):
            request += data
        sock.sendall(answer)
        peer.stop.wait(1)

    return RawPeer(script, answer=False)


def _assert_bounded_and_escaped(line: str) -> None:
    assert line.count("\n") == 1, line
    assert line.endswith("\n"), line
    assert len(line) < 400, line
    assert all(c.isprintable() for c in line[:-1]), ascii(line)


@pytest.mark.parametrize(
    "header",
    [b"Upgrade: " + b"x" * 5000, b"Upgrade: \x9b2J\x9b31mpwned", b"Sec-WebSocket-Accept: \x85" * 2],
    ids=["5000 characters", "C1 controls", "NEL"],
)
async def test_a_servers_header_values_are_bounded_and_escaped_in_the_cause(header: bytes) -> None:
    answer = b"HTTP/1.1 101 Switching Protocols\r\n" + header + b"\r\nConnection: Upgrade\r\n\r\n"
    with _answer_raw(answer) as peer:
        result = await run_cli(["send", peer.url()])
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith("trio-sockets: ERROR_HTTP_INVALID_SERVER_RESPONSE: "), stderr
    _assert_bounded_and_escaped(stderr)
    if b"\x9b" in header:
        assert "\\x9b2J\\x9b31mpwned" in stderr


async def test_a_clients_header_values_are_bounded_and_escaped_in_echo_servers_log() -> None:
    requests = [  # a Connection header without "Upgrade", an Upgrade that is not one
        (b"Connection: Upgrade", b"Connection: " + b"x" * 5000),
        (b"Upgrade: websocket", b"Upgrade: \x9b2J\x9b31mpwned"),
    ]
    async with _echo_server("--count", str(len(requests))) as (process, port):

        def client(header: tuple[bytes, bytes]) -> None:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=LIMIT) as raw:
                raw.sendall(opening_request().replace(*header))
                while raw.recv(4096):
                    pass

        with trio.fail_after(LIMIT):
            for header in requests:
                await trio.to_thread.run_sync(client, header)
        assert await _finish(process) == 0
        assert process.stderr is not None
        err = b""
        with trio.fail_after(LIMIT):
            while chunk := await process.stderr.receive_some():
                err += chunk
    lines = err.decode().splitlines(keepends=True)
    assert len(lines) == 2, lines
    for line in lines:
        assert ": BAD_REQUEST: accept(): not a valid WebSocket request: " in line, line
        _assert_bounded_and_escaped(line)
    assert "\\x9b" in lines[1]


# -- --header and --protocol -----------------------------------------------------------


async def test_a_header_given_again_sends_every_value() -> None:
    with WebsocketsServer() as server:
        result = await run_cli(
            [
                "send",
                server.url("/headers"),
                "--header",
                "X-A: 1",
                "--header",
                "x-a: 2",
                "--header",
                "Cookie: a=1",
                "--header",
                "cookie: b=2",
                "--wait",
                "0.5",
            ]
        )
        with trio.fail_after(LIMIT):
            await trio.to_thread.run_sync(server.wait_closed, "/headers")
    assert result.returncode == 0, result.stderr
    headers = json.loads(result.stdout.decode().splitlines()[0])
    assert headers["X-A"] == "1, 2"
    assert headers["Cookie"] == "a=1; b=2"


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--header", "Sec-WebSocket-Protocol: chat"], "use --protocol NAME"),
        (["--header", "Sec-WebSocket-Extensions: permessage-deflate"], "argument --header: "),
        (["--protocol", ""], "argument --protocol: ''"),
        (["--protocol", "a b"], "argument --protocol: 'a b'"),
        (["--header", "Upgrade: h2c"], "argument --header: "),
    ],
)
async def test_bad_header_and_protocol_options_are_named_not_the_python_api(
    arguments: list[str], named: str
) -> None:
    result = await run_cli(["send", "ws://127.0.0.1:9/", *arguments])
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert named in stderr, stderr
    for api in ("control.", "supported_protocols", "set_request_header", "permessage_deflate"):
        assert api not in stderr, stderr


async def test_an_authorization_header_and_a_uri_password_name_the_option() -> None:
    result = await run_cli(["send", "ws://u:p@127.0.0.1:9/", "--header", "Authorization: Bearer x"])
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert "--header 'Authorization: …'" in stderr, stderr
    assert "set_request_header" not in stderr
