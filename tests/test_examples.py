"""The ported samples and the demo command, run for real."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from conftest import free_tcp_port
from trio_sockets.examples import batched_sends, tcp_echo
from websockets.server import ServerProtocol
from ws_peers import RawPeer, WebsocketsServer

from trio_sockets import (
    DataReader,
    InputStreamOptions,
    StreamSocketListener,
    StreamSocketListenerConnectionReceivedEventArgs,
)

ROOT = Path(__file__).resolve().parent.parent

SEED_TCP_LINES = [
    "server is listening...",
    "client is trying to connect...",
    "client connected",
    'client sent the request: "Hello, World!"',
    'server received the request: "Hello, World!"',
    'server sent back the response: "Hello, World!"',
    "server closed its socket",
    'client received the response: "Hello, World!" ',
    "client closed its socket",
]


async def test_tcp_echo_sample_flow(capsys: pytest.CaptureFixture[str]) -> None:
    assert await tcp_echo.main("0") == "Hello, World!"
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == sorted(SEED_TCP_LINES)
    # The causal order of the sample holds on each side.
    for earlier, later in [
        ("server is listening...", "client connected"),
        ("client connected", 'server received the request: "Hello, World!"'),
        ('server received the request: "Hello, World!"', "server closed its socket"),
        ('client received the response: "Hello, World!" ', "client closed its socket"),
    ]:
        assert lines.index(earlier) < lines.index(later)


async def test_the_seed_server_ported_line_by_line_answers_the_seed_client(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The C# sample's server member for member: the handler takes ``args.socket`` with
    no ``async with`` (WinRT's accepted socket is usable at once), awaits
    ``WriteLineAsync`` and ``FlushAsync``, disposes its listener while still answering
    (which leaves the socket open), and closes the socket; the seed's client talks to it."""

    async def stream_socket_listener_connection_received(
        sender: StreamSocketListener, args: StreamSocketListenerConnectionReceivedEventArgs
    ) -> None:
        # using (var streamReader = new StreamReader(args.Socket.InputStream.AsStreamForRead()))
        stream_reader = DataReader(args.socket.input_stream)
        stream_reader.input_stream_options = InputStreamOptions.PARTIAL
        request = await tcp_echo.read_line(stream_reader)
        await stream_reader.aclose()
        print(f'server received the request: "{request}"')
        # Echo the request back as the response.
        # using (Stream outputStream = args.Socket.OutputStream.AsStreamForWrite())
        output_stream = args.socket.output_stream
        await output_stream.write(f"{request}\n".encode())  # WriteLineAsync
        await output_stream.flush()  # FlushAsync
        await output_stream.aclose()
        print(f'server sent back the response: "{request}"')
        await sender.aclose()  # sender.Dispose()
        assert args.socket.socket.fileno() != -1  # handed out: the listener leaves it open
        print("server closed its socket")
        await args.socket.aclose()

    async def start_server(*, task_status: trio.TaskStatus[str]) -> None:
        async with StreamSocketListener() as stream_socket_listener:
            await stream_socket_listener.bind_service_name("0")
            print("server is listening...")
            task_status.started(stream_socket_listener.information.local_port)
            async for args in stream_socket_listener.connection_received:
                await stream_socket_listener_connection_received(stream_socket_listener, args)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(start_server)
            assert await tcp_echo.run_client(port) == "Hello, World!"
    assert sorted(capsys.readouterr().out.splitlines()) == sorted(SEED_TCP_LINES)


async def test_batched_sends_sample_delivers_every_packet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    received = await batched_sends.main("0", 5)
    assert received == ["Hello, World!" * 5] * 3
    out = capsys.readouterr().out
    for variant in ("inefficient", "gathered", "flush"):
        assert f"client sent 5 packets ({variant})" in out


def test_tcp_echo_script_runs_standalone() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tcp_echo.py"), "--service", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert 'client received the response: "Hello, World!" ' in result.stdout


def _run_example(script: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / script), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_LOCAL_URI = re.compile(r"^Connecting to ws://127\.0\.0\.1:\d+/echo\.\.\.$")
CLOSED_LINE = "Closed; Code: 1000, Reason: Closed due to user request."


def test_websocket_echo_script_runs_standalone() -> None:
    result = _run_example("websocket_echo.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "server is listening..."
    assert _LOCAL_URI.match(lines[1]), lines[1]
    assert lines[2:] == [
        "Connected",
        "Sending Message: Hello, World!",
        "Message Received; Type: UTF8",
        "Hello, World!",
        CLOSED_LINE,
    ]


def test_websocket_echo_script_round_trips_text_beyond_ascii() -> None:
    text = "héllo, wörld ✓ 😀"
    result = _run_example("websocket_echo.py", "--message", text)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-4:] == [
        f"Sending Message: {text}",
        "Message Received; Type: UTF8",
        text,
        CLOSED_LINE,
    ]


def test_websocket_echo_script_against_the_websockets_library_server() -> None:
    """The port talks to an independent echo server as the sample talks to a public one,
    and closes with the sample's code and reason."""
    with WebsocketsServer() as server:
        result = _run_example("websocket_echo.py", "--uri", server.url("/echo"))
        assert result.returncode == 0, result.stderr
        assert server.wait_closed("/echo")[:2] == (1000, "Closed due to user request.")
    assert result.stdout.splitlines() == [
        f"Connecting to {server.url('/echo')}...",
        "Connected",
        "Sending Message: Hello, World!",
        "Message Received; Type: UTF8",
        "Hello, World!",
        CLOSED_LINE,
    ]


@pytest.mark.parametrize("script", ["websocket_echo.py", "websocket_stream.py"])
def test_websocket_script_reports_a_refused_connect(script: str) -> None:
    uri = f"ws://127.0.0.1:{free_tcp_port()}/echo"
    result = _run_example(script, "--uri", uri)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"Connecting to {uri}...",
        "Cannot connect to the server. Please make sure the server is running.",
    ]
    assert "CANNOT_CONNECT" in lines[2]
    assert "Traceback" not in result.stderr


def _drop_after_the_first_message(
    peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None
) -> None:
    """Read the client's first frame, then end the connection without a closing
    handshake."""
    sock.recv(65536)


def test_websocket_echo_script_reports_a_lost_connection() -> None:
    with RawPeer(_drop_after_the_first_message) as peer:
        result = _run_example("websocket_echo.py", "--uri", peer.url("/echo"))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[-3:-1] == ["Message Received; Type: BINARY", "Error: CONNECTION_ABORTED"]
    assert "without a closing handshake" in lines[-1]
    assert "Closed;" not in result.stdout  # no closing handshake, no closed event
    assert "Traceback" not in result.stderr


def test_websocket_stream_script_reports_a_lost_connection() -> None:
    with RawPeer(_drop_after_the_first_message) as peer:
        result = _run_example("websocket_stream.py", "--uri", peer.url("/echo"))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "Error: CONNECTION_ABORTED" in lines
    assert lines[-1] == "Bytes sent: 10, bytes received: 0"
    assert "Closed;" not in result.stdout
    assert "Traceback" not in result.stderr


def _check_stream_lines(lines: list[str], sent: int) -> None:
    # The two background tasks start together: their first lines come in either order.
    assert sorted(lines[:2]) == [
        "Background read starting.",
        "Background sending data in 10 byte chunks every 0.01 s.",
    ]
    assert lines[2:] == [
        "Stopping",
        "Background read canceled.",
        CLOSED_LINE,
        f"Bytes sent: {sent}, bytes received: {sent}",
    ]


def test_websocket_stream_script_runs_standalone() -> None:
    result = _run_example("websocket_stream.py", "--chunks", "5", "--interval", "0.01")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "server is listening..."
    assert _LOCAL_URI.match(lines[1]), lines[1]
    assert lines[2] == "Connected"
    _check_stream_lines(lines[3:], 50)


def test_websocket_stream_script_against_the_websockets_library_server() -> None:
    with WebsocketsServer() as server:
        uri = server.url("/echo")
        result = _run_example("websocket_stream.py", "--uri", uri, "--interval", "0.01")
        assert result.returncode == 0, result.stderr
        assert server.wait_closed("/echo")[:2] == (1000, "Closed due to user request.")
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"Connecting to {uri}...", "Connected"]
    _check_stream_lines(lines[2:], 30)


def test_demo_command_runs_the_samples() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trio_sockets", "demo", "--service", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "== TCP echo" in result.stdout
    assert "== Batched sends ==" in result.stdout
    assert 'server received the request: "Hello, World!"' in result.stdout
    websocket = result.stdout.split("== WebSocket echo (MessageWebSocket) ==\n")[1]
    assert "Message Received; Type: UTF8\nHello, World!\n" in websocket
    assert "Closed; Code: 1000, Reason: Closed due to user request." in websocket


def test_demo_command_reports_a_busy_port_and_fails() -> None:
    with socket.socket(socket.AF_INET6) as blocker:
        blocker.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        blocker.bind(("::", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "trio_sockets", "demo", "--service", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "ADDRESS_ALREADY_IN_USE" in result.stderr
    assert "Traceback" not in result.stderr


def _failed_output(kind: str) -> int:
    """A standard output that fails: ``/dev/full``, or a pipe whose reader went away."""
    if kind == "full":
        return os.open("/dev/full", os.O_WRONLY)
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


@pytest.mark.parametrize("buffering", ["buffered", "unbuffered"])
@pytest.mark.parametrize(
    ("output", "status", "said"),
    [("full", 74, ": standard output: No space left on device\n"), ("reader-gone", 141, "")],
    ids=["full", "reader-gone"],
)
@pytest.mark.parametrize(
    ("script", "arguments"),
    [
        ("tcp_echo.py", ["--service", "0"]),
        ("udp_echo.py", ["--server-service", "0"]),
        ("websocket_echo.py", []),
    ],
)
def test_example_scripts_tell_a_failed_standard_output_from_the_network(
    script: str, arguments: list[str], output: str, status: int, said: str, buffering: str
) -> None:
    """``> /dev/full`` is status 74 naming standard output, as for the command, not a
    network status (the WebSocket sample prints its own network failures, which went
    to the full output unseen); a reader gone (``| head``) is 141 without a word. So
    also where standard output is buffered, as to any pipe or file unless
    ``PYTHONUNBUFFERED`` is set, and fails only when the interpreter flushed it at exit
    (status 120 and "Exception ignored" before)."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if buffering == "unbuffered":
        environment["PYTHONUNBUFFERED"] = "1"
    descriptor = _failed_output(output)
    try:
        result = subprocess.run(
            [sys.executable, "-W", "error", str(ROOT / "examples" / script), *arguments],
            stdout=descriptor,
            stderr=subprocess.PIPE,
            env=environment,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(descriptor)
    assert (result.returncode, result.stderr) == (status, f"{script}{said}" if said else "")


#: A script whose ``main`` fails as two tasks of a sample did under ``| head``: the
#: client's send with a network failure (the library's, which is also a
#: ``BrokenPipeError``), and the server's ``print`` with a failure of standard output,
#: in the order given (``own-first`` or ``network-first``).
_BOTH_FAILED = """
import errno, sys
sys.path.insert(0, sys.argv[1])  # examples/, where a script finds command_line
import command_line
from trio_sockets._core.errors import translate_os_error

OWN = {
    "reader-gone": BrokenPipeError(errno.EPIPE, "Broken pipe"),
    "full": OSError(errno.ENOSPC, "No space left on device"),
}

async def main() -> None:
    reset = BrokenPipeError(errno.EPIPE, "Broken pipe")
    network = translate_os_error(reset, "send on StreamSocket", broken=True)
    own = OWN[sys.argv[2]]
    leaves = [own, network] if sys.argv[3] == "own-first" else [network, own]
    raise ExceptionGroup("both tasks failed", leaves)

command_line.run(main)
"""


@pytest.mark.parametrize("order", ["network-first", "own-first"])
@pytest.mark.parametrize(
    ("output", "status", "said"),
    [("reader-gone", 141, ""), ("full", 74, "-c: standard output: No space left on device\n")],
    ids=["reader-gone", "full"],
)
def test_example_scripts_report_their_output_before_a_network_failure(
    order: str, output: str, status: int, said: str
) -> None:
    """A failure of the script's own standard output ends it (141 quietly, or 74) even
    when a network failure came first in the group: the reader of standard output
    going away fails the server's ``print``, whose connection closed unread then fails
    the client's send, and which task failed first is chance."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _BOTH_FAILED, str(ROOT / "examples"), output, order],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (status, said)


def test_batched_sends_script_ends_quietly_when_its_reader_goes_away() -> None:
    """``examples/batched_sends.py`` whose standard output has no reader, a few times:
    always 141 without a word, never the client's network failure that comes with it
    (3 runs in 10 before). Unbuffered, the server's ``print`` fails while the client
    still sends, as under ``| head`` with more output than a buffer."""
    script = str(ROOT / "examples" / "batched_sends.py")
    unbuffered = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for _ in range(5):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader went away
        try:
            result = subprocess.run(
                [sys.executable, "-W", "error", script, "--service", "0"],
                stdout=write_end,
                stderr=subprocess.PIPE,
                env=unbuffered,
                timeout=60,
                check=False,
            )
        finally:
            os.close(write_end)
        assert (result.returncode, result.stderr) == (141, b"")


def test_demo_command_needs_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trio_sockets"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "demo" in result.stderr


@pytest.mark.parametrize(
    ("script", "arguments", "named"),
    [
        ("websocket_echo.py", ["--message="], "--message must not be empty"),
        ("websocket_stream.py", ["--interval", "-1"], "argument --interval"),
        ("websocket_stream.py", ["--interval", "nan"], "argument --interval"),
        ("websocket_stream.py", ["--chunks", "-1"], "argument --chunks"),
        ("batched_sends.py", ["--packets", "-3"], "argument --packets"),
        # Each variant holds its packets in a list: a count past the bound is refused,
        # not left to fill memory.
        ("batched_sends.py", ["--packets", "99999999999999999999"], "argument --packets"),
        ("multicast_chat.py", ["--hops", "256"], "argument --hops"),
        ("multicast_chat.py", ["--duration", "inf"], "argument --duration"),
        ("multicast_chat.py", ["--interval", "-0.5"], "argument --interval"),
    ],
)
def test_example_scripts_refuse_bad_arguments_by_name(
    script: str, arguments: list[str], named: str
) -> None:
    """A value the script cannot use is a usage error naming the option (status 2), not
    a traceback or a run that never ends."""
    result = _run_example(script, *arguments)
    assert result.returncode == 2, result.stderr[-2000:]
    assert named in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("script", "arguments", "status", "named"),
    [
        ("tcp_echo.py", ["--service", "70000"], 2, "tcp_echo.py: local_service_name '70000'"),
        ("batched_sends.py", ["--service", "70000"], 2, "'70000'"),
        ("udp_echo.py", ["--server-service", "0", "--client-service", "99999"], 2, "'99999'"),
        ("websocket_echo.py", ["--uri", "http://127.0.0.1:1/"], 2, "'http://127.0.0.1:1/'"),
        ("websocket_echo.py", ["--uri", "ws://127.0.0.1:99999/"], 2, "'ws://127.0.0.1:99999/'"),
        ("websocket_stream.py", ["--uri", "http://127.0.0.1:1/"], 2, "'http://127.0.0.1:1/'"),
        (
            "tls_client_certificate.py",
            ["--connect", "127.0.0.1", "1", "--cert", "/nonexistent", "--key", "/nonexistent"],
            2,
            "tls_client_certificate.py: cannot read '/nonexistent': No such file",
        ),
    ],
)
def test_example_scripts_end_a_failure_with_one_line(
    script: str, arguments: list[str], status: int, named: str
) -> None:
    """Bad input (status 2) or a network failure (status 1, with its status name): one
    line on standard error, never a traceback. (The samples that print their network
    failures themselves: test_echo_samples_print_a_network_failure_once.)"""
    result = _run_example(script, *arguments)
    assert result.returncode == status, result.stderr[-2000:]
    assert named in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr[-2000:]


@pytest.mark.parametrize(
    ("script", "option", "others", "kind"),
    [
        ("tcp_echo.py", "--service", [], socket.SOCK_STREAM),
        ("udp_echo.py", "--server-service", ["--client-service", "0"], socket.SOCK_DGRAM),
        ("udp_echo.py", "--client-service", ["--server-service", "0"], socket.SOCK_DGRAM),
    ],
    ids=["tcp", "udp-server", "udp-client"],
)
@pytest.mark.parametrize(
    ("port", "status"),
    [("held", "ADDRESS_ALREADY_IN_USE"), ("nosuchservice", "CLASS_TYPE_NOT_FOUND")],
    ids=["port-held", "unknown-service"],
)
def test_echo_samples_print_a_network_failure_once(
    script: str, option: str, others: list[str], kind: socket.SocketKind, port: str, status: str
) -> None:
    """The TCP and UDP samples print a network failure as the WinRT samples log it (its
    status), then exit with 1 without another line, as the WebSocket sample does: a
    port another socket holds on 127.0.0.1, or a service name the system does not know
    (the runner printed it again on standard error before)."""
    with socket.socket(socket.AF_INET, kind) as held:
        held.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            held.listen()
        service = str(held.getsockname()[1]) if port == "held" else port
        result = _run_example(script, option, service, *others)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr == ""
    assert result.stdout.splitlines()[-1] == status
    assert result.stdout.count(status) == 1


def test_tls_client_certificate_script_reports_a_refused_connect(tmp_path: Path) -> None:
    import trustme

    authority = trustme.CA()
    client = tmp_path / "client.pem"
    authority.issue_cert("client.example.test").private_key_and_cert_chain_pem.write_to_path(
        str(client)
    )
    port = str(free_tcp_port())
    result = _run_example(
        "tls_client_certificate.py",
        *["--connect", "127.0.0.1", port, "--cert", str(client), "--key", str(client)],
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.startswith("tls_client_certificate.py: CONNECTION_REFUSED: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("script", "arguments", "named"),
    [
        ("tls_client_certificate.py", ["--cert", "client.pem"], "go with --connect"),
        ("tls_client_certificate.py", ["--ca", "ca.pem"], "go with --connect"),
        ("service_names.py", ["--verbose"], "unrecognized arguments: --verbose"),
        ("service_names.py", ["extra"], "unrecognized arguments: extra"),
    ],
)
def test_example_scripts_refuse_arguments_they_do_not_use(
    script: str, arguments: list[str], named: str
) -> None:
    result = _run_example(script, *arguments)
    assert result.returncode == 2, result.stderr[-2000:]
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_service_names_script_has_help() -> None:
    result = _run_example("service_names.py", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: service_names.py")
    assert "DNS SRV records choose the host and port" in result.stdout
