"""The trio-sockets command line, run as a subprocess against real sockets."""

from __future__ import annotations

import collections
import contextlib
import datetime
import errno
import fcntl
import functools
import os
import pty
import re
import resource
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio
from conftest import (
    free_tcp_port,
    receive_all,
    receive_exactly,
    run_cli,
    send_from_port_zero,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from trio_sockets import (
    DatagramSocket,
    HostName,
    SocketProtectionLevel,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets._cli.stdio import blocking_modes_kept
from trio_sockets._core.checks import shown
from trio_sockets._pytest_plugin import DnsServerFactory
from trio_sockets.testing import SrvRecord, TcpEchoServer, TlsCertificates, UdpEchoServer

COMMAND = [sys.executable, "-m", "trio_sockets"]


async def _start(arguments: list[str]) -> tuple[trio.Process, str]:
    """Start an echo server; return it and the port from its first line."""
    process = await trio.lowlevel.open_process(
        COMMAND + arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    line = b""
    with trio.fail_after(20):
        while not line.endswith(b"\n"):
            chunk = await process.stdout.receive_some(1)
            assert chunk, "echo-server exited before reporting its port"
            line += chunk
    words = line.decode().split()
    assert words[:3] == ["listening", "on", "port"], line
    return process, words[3]


async def _finish(process: trio.Process) -> int:
    with trio.move_on_after(20):
        return await process.wait()
    process.kill()
    return await process.wait()


async def test_echo_server_over_tcp() -> None:
    process, port = await _start(["echo-server", "0", "--host", "127.0.0.1", "--count", "1"])
    async with StreamSocket() as client:
        await client.connect("127.0.0.1", port)
        await client.send_all(b"ping over tcp")
        assert await receive_exactly(client, 13) == b"ping over tcp"
        await client.send_eof()
        assert await receive_all(client) == b""
    assert await _finish(process) == 0


async def test_echo_server_over_udp() -> None:
    process, port = await _start(
        ["echo-server", "0", "--udp", "--host", "127.0.0.1", "--count", "2"]
    )
    async with DatagramSocket() as client:
        await client.connect("127.0.0.1", port)
        with trio.fail_after(10):
            for word in (b"one", b"two"):
                await client.output_stream.write(word)
                message = await client.message_received.receive()
                assert message.data == word
    assert await _finish(process) == 0


async def test_udp_echo_servers_go_on_after_a_datagram_from_port_zero() -> None:
    """UDP allows source port 0 ("no answer wanted"), and nothing can be sent to it: one
    such datagram stopped both echo servers (the command's with exit status 2). They
    leave it unanswered -- the command says so -- and answer the next sender."""
    process, port = await _start(
        ["echo-server", "0", "--udp", "--host", "127.0.0.1", "--count", "1"]
    )
    async with UdpEchoServer() as server:
        for target in (int(port), int(server.port)):
            send_from_port_zero(target, b"no answer wanted")
            async with DatagramSocket() as client:
                await client.connect("127.0.0.1", str(target))
                with trio.fail_after(10):
                    await client.output_stream.write(b"answer me")
                    assert (await client.message_received.receive()).data == b"answer me"
        assert server.datagrams_echoed == 1
    assert await _finish(process) == 0
    assert process.stderr is not None
    errors = (await process.stderr.receive_some()).decode()
    assert "port 0: not answered: a datagram from port 0 cannot be answered" in errors


async def _stopped(process: trio.Process) -> None:
    """Kill *process* if it still runs (a test failed before it ended), and close it."""
    process.kill()
    with trio.move_on_after(10):
        await process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            await pipe.aclose()


def _echo_to(
    address: str, port: int, payload: bytes, *, connected: bool = True
) -> tuple[bytes, str]:
    """Send *payload* from a plain UDP socket (connected to *address*, as ``send --udp``
    and ``socat UDP4:`` are, unless not *connected*); its echo and where it came from."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if connected:
            client.connect((address, port))
            client.send(payload)
            return client.recvfrom(100)[0], client.getpeername()[0]
        client.sendto(payload, (address, port))
        data, source = client.recvfrom(100)
        return data, source[0]


@pytest.mark.parametrize("server", ["command", "UdpEchoServer"])
async def test_udp_echo_servers_on_every_address_answer_from_the_address_sent_to(
    server: str,
) -> None:
    """Listening on every address, both echo servers answered from the address routing
    picks (127.0.0.1 for every loopback address): a connected client that sent to
    127.0.0.2 dropped its echo, and ``send --udp`` ended with status 0 and no output.
    They answer from the address each datagram was sent to; a broadcast, from an
    address of the interface it came by."""
    checks = [
        ("127.0.0.2", True, "127.0.0.2"),
        ("127.0.0.1", True, "127.0.0.1"),
        ("::1", True, "::1"),
        ("127.255.255.255", False, "127.0.0.1"),
    ]
    async with contextlib.AsyncExitStack() as stack:
        if server == "command":
            process, port = await _start(["echo-server", "0", "--udp", "--count", "4"])
            stack.push_async_callback(_stopped, process)
        else:
            echo = await stack.enter_async_context(UdpEchoServer(HostName("::")))
            port = echo.port
        for address, connected, source in checks:
            payload = f"to {address}".encode()
            echoed = await trio.to_thread.run_sync(
                functools.partial(_echo_to, address, int(port), payload, connected=connected)
            )
            assert echoed == (payload, source)
        if server == "command":
            assert await _finish(process) == 0
        else:
            assert echo.datagrams_echoed == 4


async def test_echo_server_reports_a_busy_port() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        result = await trio.run_process(
            [*COMMAND, "echo-server", listener.information.local_port, "--host", "127.0.0.1"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 1
    assert b"ADDRESS_ALREADY_IN_USE" in result.stderr
    assert b"Traceback" not in result.stderr


async def test_send_over_tcp_round_trips_standard_input() -> None:
    payload = b"".join(b"line %d\n" % i for i in range(2000))
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        async with trio.open_nursery() as nursery:

            async def echo_once() -> None:
                async with await listener.accept() as server:
                    data = await receive_all(server)
                    await server.send_all(data.upper())

            nursery.start_soon(echo_once)
            result = await trio.run_process(
                [*COMMAND, "send", "127.0.0.1", listener.information.local_port],
                stdin=payload,
                capture_stdout=True,
                capture_stderr=True,
            )
    assert result.stdout == payload.upper()


async def test_send_over_udp_prints_the_replies(udp_echo_server: UdpEchoServer) -> None:
    result = await trio.run_process(
        [
            *COMMAND,
            "send",
            str(udp_echo_server.host),
            udp_echo_server.port,
            "--udp",
            "--wait",
            "0.5",
        ],
        stdin=b"datagram",
        capture_stdout=True,
        capture_stderr=True,
    )
    assert result.stdout == b"datagram"
    assert udp_echo_server.datagrams_echoed == 1


async def test_send_reports_a_refused_connection() -> None:
    result = await run_cli(["send", "127.0.0.1", str(free_tcp_port())])
    assert result.returncode == 1
    assert result.stderr.decode().startswith("trio-sockets: CONNECTION_REFUSED: ")
    assert result.stderr.count(b"\n") == 1


async def _run_with_stdout(
    stdout: int, command: list[str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """Run *command* with standard output to the file descriptor *stdout* (closed here
    afterwards) and standard error captured, within 60 s."""
    try:
        with trio.fail_after(60):
            return await trio.run_process(
                command, stdin=stdin, stdout=stdout, capture_stderr=True, check=False
            )
    finally:
        os.close(stdout)


def _reader_gone() -> int:
    """The write end of a pipe whose reader went away, as after ``| head``."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


async def test_send_ends_quietly_when_its_output_is_closed(
    tcp_echo_server: TcpEchoServer,
) -> None:
    """As with ``| head``: the reader of standard output went away. The command ends
    with status 141, as a shell reports a program SIGPIPE ended, without a traceback."""
    result = await _run_with_stdout(_reader_gone(), _send_arguments(tcp_echo_server), BIG)
    assert result.returncode == 141, result.stderr
    assert result.stderr == b""


@pytest.mark.parametrize(
    ("signo", "status"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
async def test_send_ended_by_a_signal_leaves_its_input_and_output_blocking(
    tcp_echo_server: TcpEchoServer, signo: signal.Signals, status: int
) -> None:
    """While ``send`` runs, its standard input and output are non-blocking: trio sets
    ``O_NONBLOCK`` on their open file descriptions, which the shell and the rest of a
    pipeline share. Ended by Ctrl-C, by SIGTERM (``kill``, ``timeout``) or by SIGHUP (a
    closed terminal), it puts them back, so that the next program to read them does not
    fail with EAGAIN, and exits with 128 + the signal's number without a word."""
    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    try:
        process = await trio.lowlevel.open_process(
            _send_arguments(tcp_echo_server),
            stdin=stdin_read,
            stdout=stdout_write,
            stderr=subprocess.PIPE,
        )
        try:
            with trio.fail_after(60):
                # Bounded by fail_after: until send has both streams open.
                while os.get_blocking(stdin_read) or os.get_blocking(stdout_write):
                    assert process.poll() is None, "send ended before it was signalled"
                    await trio.sleep(0.02)
                process.send_signal(signo)
                await process.wait()
                assert process.stderr is not None
                said = await process.stderr.receive_some()
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
        assert (os.get_blocking(stdin_read), os.get_blocking(stdout_write)) == (True, True)
        os.write(stdin_write, b"next")  # what the next reader of that input does
        assert os.read(stdin_read, 4) == b"next"
        assert (process.returncode, said) == (status, b"")
    finally:
        for descriptor in (stdin_read, stdin_write, stdout_read, stdout_write):
            os.close(descriptor)


def test_standard_descriptors_are_left_blocking_as_found_whatever_the_way_out() -> None:
    """The net under every command: a descriptor left non-blocking (FdStreams on one
    terminal closed out of order, a failure on the way) is put back as it was, and one
    that was non-blocking stays so."""
    blocking_end, non_blocking_end = os.pipe()

    def fail_with_modes_changed() -> None:
        with blocking_modes_kept([blocking_end, non_blocking_end]):
            os.set_blocking(blocking_end, False)
            os.set_blocking(non_blocking_end, True)
            raise RuntimeError("a way out")

    try:
        os.set_blocking(non_blocking_end, False)
        with pytest.raises(RuntimeError):
            fail_with_modes_changed()
        assert os.get_blocking(blocking_end)
        assert not os.get_blocking(non_blocking_end)
    finally:
        os.close(blocking_end)
        os.close(non_blocking_end)


async def test_bad_input_is_exit_status_2_naming_the_value() -> None:
    result = await run_cli(["send", "bad host!", "80"])
    assert result.returncode == 2
    assert b"'bad host!'" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["send", "127.0.0.1"], "give the SERVICE"),
        (["send", "--udp", "localhost"], "give the SERVICE"),
        (["send", "--tls", "localhost"], "give the SERVICE"),
        (["echo-server", "0", "--tls-level", "TLS13"], "--tls-level need --tls-cert"),
        (["send", "--udp", "127.0.0.1", "9", "--tls-level", "TLS12"], "not --udp"),
    ],
)
async def test_options_that_cannot_be_honoured_are_refused_not_ignored(
    arguments: list[str], says: str
) -> None:
    """A host without a service was taken for a WebSocket URI (its errors spoke of URIs),
    and ``--tls-level`` alone was ignored: the echo server served plain TCP."""
    result = await run_cli(arguments, within=20)
    assert result.returncode == 2, result
    assert says in result.stderr.decode()


async def test_tls_level_alone_asks_send_for_tls() -> None:
    """``send HOST PORT --tls-level TLS13`` connected in plain text and sent standard
    input in the clear (the docs say ``--tls-level`` implies ``--tls``)."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        listening.settimeout(20)

        def first_bytes() -> bytes:
            conn, _ = listening.accept()
            with conn:
                conn.settimeout(20)
                return conn.recv(5)

        async with trio.open_nursery() as nursery:
            got: list[bytes] = []

            async def accept() -> None:
                got.append(await trio.to_thread.run_sync(first_bytes))

            nursery.start_soon(accept)
            await run_cli(
                ["send", "127.0.0.1", str(port), "--tls-level", "TLS13"],
                stdin=b"password=hunter2\n",
                within=20,
            )
    assert got[0][:1] == b"\x16", got  # a TLS handshake record, not the text


async def test_resolve_shows_the_services_database_step() -> None:
    result = await trio.run_process(
        [*COMMAND, "resolve", "localhost", "http"], capture_stdout=True, capture_stderr=True
    )
    out = result.stdout.decode()
    assert "'http' is port 80 in the services database" in out
    assert "address 127.0.0.1 port 80" in out


async def test_resolve_lists_srv_targets_in_order(dns_server: DnsServerFactory) -> None:
    server = await dns_server(
        srv=[
            SrvRecord("_chat._tcp.example.test", "b.example.test", 6002, priority=20),
            SrvRecord("_chat._tcp.example.test", "a.example.test", 6001, priority=10),
        ],
        hosts={"a.example.test": ["127.0.0.1"], "b.example.test": ["127.0.0.2"]},
        domain="example.test",
    )
    result = await trio.run_process(
        [
            *COMMAND,
            "resolve",
            "example.test",
            "chat",
            "--nameserver",
            server.host,
            "--port",
            str(server.port),
        ],
        capture_stdout=True,
        capture_stderr=True,
    )
    lines = result.stdout.decode().splitlines()
    assert any("DNS SRV _chat._tcp.example.test" in line for line in lines)
    first = next(i for i, line in enumerate(lines) if line.startswith("target 1: "))
    assert "a.example.test:6001" in lines[first]
    assert lines[first + 1].strip() == "address 127.0.0.1 port 6001"
    assert "b.example.test:6002" in lines[first + 2]


async def test_resolve_reports_an_unknown_name(dns_server: DnsServerFactory) -> None:
    server = await dns_server(domain="example.test")
    result = await trio.run_process(
        [
            *COMMAND,
            "resolve",
            "nowhere.example.test",
            "chat",
            "--nameserver",
            server.host,
            "--port",
            str(server.port),
        ],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 1
    assert b"HOST_NOT_FOUND" in result.stderr


async def _resolve(
    server_host: str, server_port: int, *arguments: str
) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(
        [*COMMAND, "resolve", *arguments, "--nameserver", server_host, "--port", str(server_port)],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )


async def test_resolve_fails_with_status_1_on_stderr_when_the_host_is_unknown(
    dns_server: DnsServerFactory,
) -> None:
    server = await dns_server(domain="example.test")
    result = await _resolve(server.host, server.port, "no-such-host.example.test", "80")
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith("trio-sockets: HOST_NOT_FOUND: ")
    assert "no-such-host.example.test" in stderr
    assert stderr.count("\n") == 1
    assert b"HOST_NOT_FOUND" not in result.stdout
    assert result.stdout.decode().splitlines()[-1] == "target 1: no-such-host.example.test:80"


async def test_resolve_reports_unresolved_srv_targets_and_fails_only_when_all_do(
    dns_server: DnsServerFactory,
) -> None:
    server = await dns_server(
        srv=[
            SrvRecord("_chat._tcp.example.test", "a.example.test", 6001, priority=10),
            SrvRecord("_chat._tcp.example.test", "gone.example.test", 6002, priority=20),
            SrvRecord("_lost._tcp.example.test", "gone.example.test", 6003, priority=10),
            SrvRecord("_lost._tcp.example.test", "away.example.test", 6004, priority=20),
        ],
        hosts={"a.example.test": ["127.0.0.1"]},
        domain="example.test",
    )
    partly = await _resolve(server.host, server.port, "example.test", "chat")
    assert partly.returncode == 0, partly.stderr
    assert "address 127.0.0.1 port 6001" in partly.stdout.decode()
    assert b"HOST_NOT_FOUND" not in partly.stdout
    assert partly.stderr.decode().startswith("trio-sockets: HOST_NOT_FOUND: target 2 ")
    assert partly.stderr.count(b"\n") == 1
    none = await _resolve(server.host, server.port, "example.test", "lost")
    assert none.returncode == 1
    assert b"HOST_NOT_FOUND" not in none.stdout
    last = none.stderr.decode().splitlines()[-1]
    assert last.startswith("trio-sockets: HOST_NOT_FOUND: ")
    assert "gone.example.test" in last
    assert "away.example.test" in last


@pytest.mark.parametrize("udp", [[], ["--udp"]])
async def test_a_link_local_host_without_a_scope_is_bad_input(udp: list[str]) -> None:
    """The kernel's bare "Invalid argument" was a network failure (status 1, UNKNOWN)."""
    result = await run_cli(["echo-server", "0", "--host", "fe80::1", *udp], within=20)
    assert result.returncode == 2, result
    assert b"'fe80::1' needs a %scope" in result.stderr
    assert result.stdout == b""


@pytest.mark.parametrize(
    "arguments",
    [
        ["echo-server", "0", "--count", "0"],
        ["echo-server", "0", "--count", "-1"],
        ["echo-server", "0", "--tls-handshakes-per-address", "0"],
        ["echo-server", "0", "--tls-handshakes-per-address", "65"],
        ["echo-server", "0", "--tls-handshakes-per-address", "many"],
        ["send", "127.0.0.1", "9", "--udp", "--wait", "-1"],
        ["send", "127.0.0.1", "9", "--udp", "--wait", "nan"],
        ["send", "127.0.0.1", "9", "--udp", "--wait", "inf"],
        ["resolve", "localhost", "80", "--nameserver", "127.0.0.1", "--port", "0"],
    ],
)
async def test_bad_numbers_are_exit_status_2_naming_the_value(arguments: list[str]) -> None:
    result = await run_cli(arguments, within=20)
    assert result.returncode == 2, result
    assert arguments[-1].encode() in result.stderr
    assert result.stdout == b""


@pytest.mark.parametrize("command", ["echo-server", "send", "resolve"])
def test_every_command_has_help(command: str) -> None:
    result = subprocess.run(
        [*COMMAND, command, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith("usage: trio-sockets " + command)


# -- progress of send ----------------------------------------------------------------------

#: 4,000,000 bytes, which tqdm shows as 4.00MB.
BIG = bytes(range(250)) * 16_000


def _send_arguments(server: TcpEchoServer | UdpEchoServer, *options: str) -> list[str]:
    udp = ["--udp", "--wait", "0.5"] if isinstance(server, UdpEchoServer) else []
    return [*COMMAND, "send", str(server.host), server.port, *udp, *options]


async def _run_on_a_terminal(
    arguments: list[str], payload: bytes, *, stdout_too: bool = False
) -> tuple[int, bytes, bytes]:
    """Run *arguments* with standard error on a new pseudo-terminal (standard output too,
    if *stdout_too*; else a pipe). Return the exit status, standard output, and all that
    was written to the terminal."""
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    screen = bytearray()
    with trio.fail_after(60):
        async with trio.lowlevel.FdStream(main) as terminal, trio.open_nursery() as nursery:

            async def read_terminal() -> None:
                try:
                    while chunk := await terminal.receive_some():
                        screen.extend(chunk)
                except trio.BrokenResourceError:  # EIO: every writer has closed it
                    pass

            nursery.start_soon(read_terminal)
            try:
                if stdout_too:
                    result = await trio.run_process(
                        arguments, stdin=payload, stdout=secondary, stderr=secondary, check=False
                    )
                else:
                    result = await trio.run_process(
                        arguments, stdin=payload, capture_stdout=True, stderr=secondary, check=False
                    )
            finally:
                os.close(secondary)
    return result.returncode, result.stdout or b"", bytes(screen)


async def test_send_shows_progress_on_a_terminal(tcp_echo_server: TcpEchoServer) -> None:
    status, out, screen = await _run_on_a_terminal(_send_arguments(tcp_echo_server), BIG)
    assert status == 0, screen
    assert out == BIG
    assert b"sent: 4.00MB [" in screen, screen
    assert b"received: 4.00MB [" in screen, screen
    assert b"B/s]" in screen


async def test_send_shows_udp_progress_on_a_terminal(udp_echo_server: UdpEchoServer) -> None:
    status, out, screen = await _run_on_a_terminal(_send_arguments(udp_echo_server), b"datagram")
    assert status == 0, screen
    assert out == b"datagram"
    assert b"sent: 8.00B [" in screen, screen
    assert b"received: 8.00B [" in screen, screen


async def test_send_shows_no_progress_through_pipes(tcp_echo_server: TcpEchoServer) -> None:
    result = await trio.run_process(
        _send_arguments(tcp_echo_server), stdin=BIG, capture_stdout=True, capture_stderr=True
    )
    assert result.stdout == BIG
    assert result.stderr == b""


async def test_send_shows_no_udp_progress_through_pipes(udp_echo_server: UdpEchoServer) -> None:
    result = await trio.run_process(
        _send_arguments(udp_echo_server),
        stdin=b"datagram",
        capture_stdout=True,
        capture_stderr=True,
    )
    assert result.stdout == b"datagram"
    assert result.stderr == b""


async def test_no_progress_option_keeps_the_terminal_clean(tcp_echo_server: TcpEchoServer) -> None:
    arguments = _send_arguments(tcp_echo_server, "--no-progress")
    status, out, screen = await _run_on_a_terminal(arguments, BIG)
    assert status == 0, screen
    assert out == BIG
    assert screen == b""


async def test_progress_option_shows_it_through_a_pipe(tcp_echo_server: TcpEchoServer) -> None:
    result = await trio.run_process(
        _send_arguments(tcp_echo_server, "--progress"),
        stdin=BIG,
        capture_stdout=True,
        capture_stderr=True,
    )
    assert result.stdout == BIG
    assert b"sent: 4.00MB [" in result.stderr
    assert b"received: 4.00MB [" in result.stderr


async def test_no_progress_over_replies_shown_on_the_terminal(
    tcp_echo_server: TcpEchoServer,
) -> None:
    # As with curl: replies going to the terminal are not drawn over.
    arguments = _send_arguments(tcp_echo_server)
    status, _, screen = await _run_on_a_terminal(arguments, b"hello\n", stdout_too=True)
    assert status == 0, screen
    assert screen == b"hello\r\n"  # the terminal turns "\n" into "\r\n"


async def test_udp_errors_are_reported_beside_the_progress(free_udp_service: str) -> None:
    result = await run_cli(
        ["send", "127.0.0.1", free_udp_service, "--udp", "--wait", "0.5", "--progress"], b"a\n"
    )
    assert result.returncode == 1
    assert result.stdout == b""
    # The whole message, not cut by a redraw of the progress lines.
    assert re.search(
        rb"trio-sockets: CONNECTION_RESET_BY_PEER: [^\r\n]*\(CONNECTION_RESET_BY_PEER\)\n",
        result.stderr,
    )
    assert b"sent: 2.00B [" in result.stderr


#: The command with tqdm (the ``cli`` extra) hidden: ``import tqdm`` raises ImportError.
WITHOUT_TQDM = [
    sys.executable,
    "-c",
    "import sys; sys.modules['tqdm'] = None; "
    "from trio_sockets.__main__ import main; sys.exit(main())",
]


async def test_send_without_tqdm_shows_plain_progress_lines(
    tcp_echo_server: TcpEchoServer,
) -> None:
    """Without the cli extra, the counts come as plain lines, the last with the totals."""
    arguments = [*WITHOUT_TQDM, *_send_arguments(tcp_echo_server, "--progress")[len(COMMAND) :]]
    result = await trio.run_process(
        arguments, stdin=BIG, capture_stdout=True, capture_stderr=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == BIG
    lines = result.stderr.decode().splitlines()
    assert lines, "no progress lines"
    assert all(re.fullmatch(r"(sent|received): \d+ bytes in \d+\.\d s", line) for line in lines)
    assert [line for line in lines if line.startswith("sent: 4000000 bytes")], lines
    assert lines[-1].startswith("received: 4000000 bytes"), lines
    assert "\r" not in result.stderr.decode()


async def test_send_without_tqdm_reports_udp_errors_between_the_lines(
    free_udp_service: str,
) -> None:
    result = await trio.run_process(
        [
            *WITHOUT_TQDM,
            "send",
            "127.0.0.1",
            free_udp_service,
            "--udp",
            "--wait",
            "0.5",
            "--progress",
        ],
        stdin=b"a\n",
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert re.search(
        rb"(?m)^trio-sockets: CONNECTION_RESET_BY_PEER: [^\r\n]*\(CONNECTION_RESET_BY_PEER\)$",
        result.stderr,
    )
    assert re.search(rb"(?m)^sent: 2 bytes in \d+\.\d s$", result.stderr), result.stderr


async def test_send_without_tqdm_on_a_terminal(tcp_echo_server: TcpEchoServer) -> None:
    arguments = [*WITHOUT_TQDM, *_send_arguments(tcp_echo_server)[len(COMMAND) :]]
    status, out, screen = await _run_on_a_terminal(arguments, BIG)
    assert status == 0, screen
    assert out == BIG
    assert b"sent: 4000000 bytes in " in screen, screen
    assert screen.endswith(b" s\r\n"), screen
    assert b"received: 4000000 bytes in " in screen, screen


# -- TLS ---------------------------------------------------------------------------------


async def test_tls_echo_server_and_send_with_client_certificates(
    tls_certificates: TlsCertificates,
) -> None:
    certs = tls_certificates
    server_cert, server_key = certs.files("server")
    client_cert, client_key = certs.files("client")
    ca = str(certs.authority_file)
    process, port = await _start(
        [
            "echo-server",
            "0",
            "--host",
            "127.0.0.1",
            "--count",
            "1",
            "--tls-cert",
            str(server_cert),
            "--tls-key",
            str(server_key),
            "--tls-client-ca",
            ca,
        ]
    )
    try:
        payload = b"".join(b"secret line %d\n" % i for i in range(1000))
        result = await trio.run_process(
            [
                *COMMAND,
                "send",
                "localhost",
                port,
                "--ca",
                ca,
                "--cert",
                str(client_cert),
                "--key",
                str(client_key),
                "--tls-level",
                "TLS13",
                "--wait",
                "0.5",
            ],
            stdin=payload,
            capture_stdout=True,
            capture_stderr=True,
        )
        assert result.stdout == payload
        assert await _finish(process) == 0
    finally:
        if process.returncode is None:
            process.kill()


async def test_tls_options_trust_every_authority_of_a_ca_file(tmp_path: Path) -> None:
    """``--ca`` and ``--tls-client-ca`` given a PEM file of two authorities trust both:
    a server of the second is trusted, and clients of either are accepted."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = TlsCertificates(tmp_path / "first")
    second = TlsCertificates(tmp_path / "second")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(first.authority_file.read_bytes() + second.authority_file.read_bytes())
    server_cert, server_key = second.files("server")
    serving = ["--tls-cert", str(server_cert), "--tls-key", str(server_key)]
    serving += ["--tls-client-ca", str(bundle)]
    process, port = await _start(
        ["echo-server", "0", "--host", "127.0.0.1", "--count", "2", *serving]
    )
    try:
        for authority in (first, second):
            client_cert, client_key = authority.files("client")
            offering = ["--cert", str(client_cert), "--key", str(client_key)]
            result = await run_cli(
                ["send", "localhost", port, "--ca", str(bundle), "--wait", "0.5", *offering],
                b"from a client of either authority\n",
                within=20,
            )
            assert result.returncode == 0, result.stderr
            assert result.stdout == b"from a client of either authority\n"
        assert await _finish(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _tls_burst(port: str, count: int, authority: Path) -> collections.Counter[str]:
    """*count* TLS clients from 127.0.0.1 (Python ssl, one thread each) that connect
    together, all before any sends its ClientHello, then each echo one message: how
    many got it back ("ok"), and how the others failed."""
    context = ssl.create_default_context(cafile=str(authority))
    connected = threading.Barrier(count)
    results: list[str] = ["not finished"] * count

    def client(index: int) -> None:
        message = b"message %d" % index
        try:
            # A refused connection is reset at once, maybe before its connect returns.
            raw = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
        except OSError as error:
            results[index] = type(error).__name__
            with contextlib.suppress(threading.BrokenBarrierError):
                connected.wait(30)
            return
        try:
            with raw:
                connected.wait(30)
                time.sleep(0.5)  # every connection accepted before any handshake moves
                if reset := raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    # Refused: ssl would leak its socket on a connection reset already.
                    results[index] = errno.errorcode.get(reset, str(reset))
                    return
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(message)
                    echoed = b""
                    while len(echoed) < len(message) and (data := tls.recv(100)):
                        echoed += data
                    tls.unwrap()
            results[index] = "ok" if echoed == message else f"echoed {echoed!r}"
        except (OSError, threading.BrokenBarrierError) as error:
            results[index] = type(error).__name__

    threads = [threading.Thread(target=client, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return collections.Counter(results)


async def _tls_echo_server(
    tls_certificates: TlsCertificates, *options: str
) -> tuple[trio.Process, str]:
    cert, key = tls_certificates.files("server")
    files = ["--tls-cert", str(cert), "--tls-key", str(key)]
    return await _start(["echo-server", "0", "--host", "127.0.0.1", *files, *options])


async def test_tls_handshakes_per_address_serves_a_burst_of_connections_from_one_client(
    tls_certificates: TlsCertificates,
) -> None:
    """40 connections from one address, opened together: the listener's cap of 8
    handshakes at once per address reset 32 of them, and the command had no option to
    raise it. ``--tls-handshakes-per-address 64`` serves them all."""
    process, port = await _tls_echo_server(tls_certificates, "--tls-handshakes-per-address", "64")
    try:
        results = await trio.to_thread.run_sync(
            _tls_burst, port, 40, tls_certificates.authority_file
        )
        assert results == {"ok": 40}
        process.terminate()
        assert process.stderr is not None
        errors = b""
        with trio.fail_after(20):
            while data := await process.stderr.receive_some():
                errors += data
        assert b"TLS handshake" not in errors, errors
    finally:
        await _stopped(process)


async def test_tls_handshakes_refused_past_the_limit_are_counted_on_one_line(
    tls_certificates: TlsCertificates,
) -> None:
    """The refused connections were reset without a word on the server's side. At
    most one line a second says how many handshakes failed, the last one's cause, and
    which option raises the limit."""
    process, port = await _tls_echo_server(tls_certificates)
    try:
        results = await trio.to_thread.run_sync(
            _tls_burst, port, 40, tls_certificates.authority_file
        )
        failed = 40 - results["ok"]
        assert results["ok"] >= 8
        assert failed > 0, results
        assert process.stderr is not None
        lines = b""
        reported = 0
        with trio.fail_after(20):
            while reported < failed:
                lines += await process.stderr.receive_some()
                counts = re.findall(
                    rb"^(\d+) TLS handshakes failed|^TLS handshake failed", lines, re.M
                )
                reported = sum(int(count) if count else 1 for count in counts)
    finally:
        await _stopped(process)
    assert reported == failed
    text = lines.decode()
    assert "CONNECTION_REFUSED" in text
    assert "raise --tls-handshakes-per-address (now 8)" in text
    assert text.count("\n") <= 3, text  # one a second, not one per connection


async def test_tls_send_reports_an_untrusted_server_and_can_ignore_it(
    tls_certificates: TlsCertificates,
) -> None:
    server_cert, server_key = tls_certificates.files("server")
    process, port = await _start(
        ["echo-server", "0", "--tls-cert", str(server_cert), "--tls-key", str(server_key)]
    )
    try:
        refused = await run_cli(["send", "localhost", port, "--tls"], b"x")
        assert refused.returncode == 1
        assert refused.stderr.decode().startswith("trio-sockets: CERTIFICATE_UNTRUSTED_ROOT: ")
        assert b"UNTRUSTED" in refused.stderr
        accepted = await trio.run_process(
            [*COMMAND, "send", "localhost", port, "--ignore", "UNTRUSTED", "--wait", "0.5"],
            stdin=b"anyway",
            capture_stdout=True,
            capture_stderr=True,
        )
        assert accepted.stdout == b"anyway"
    finally:
        process.kill()
        await process.wait()


async def test_resolve_refuses_a_port_without_a_name_server() -> None:
    """--port is the port of --nameserver: alone it would be ignored, and the system
    resolver asked instead of the server the user meant."""
    result = await run_cli(["resolve", "localhost", "80", "--port", "5353"], within=20)
    assert result.returncode == 2, result
    assert b"--port needs --nameserver" in result.stderr
    assert result.stdout == b""


async def test_tls_options_are_checked(tls_certificates: TlsCertificates) -> None:
    cert, _ = tls_certificates.files("server")
    for arguments, message in [
        (["echo-server", "0", "--udp", "--tls-cert", str(cert)], "cannot go with --udp"),
        (["echo-server", "0", "--tls-key", str(cert)], "need --tls-cert"),
        (["echo-server", "0", "--tls-handshakes-per-address", "9"], "need --tls-cert"),
        (["echo-server", "0", "--tls-cert", "/nonexistent.pem"], "/nonexistent.pem"),
        (["send", "localhost", "1", "--udp", "--tls"], "not --udp"),
        (["send", "localhost", "1", "--key", str(cert)], "--key needs --cert"),
        (["send", "localhost", "1", "--cert", str(cert)], "no private key"),
    ]:
        result = await trio.run_process(
            [*COMMAND, *arguments], stdin=b"", capture_stdout=True, capture_stderr=True, check=False
        )
        assert result.returncode == 2, (arguments, result.stderr)
        assert message in result.stderr.decode(), (arguments, result.stderr)
        assert result.stderr.count(b"\n") == 1


@pytest.mark.parametrize(
    "option",
    [["--ca", ""], ["--cert", ""], ["--key", ""], ["--tls", "--cert", "c.pem", "--key", ""]],
)
async def test_an_empty_file_name_is_refused_and_nothing_is_sent(option: list[str]) -> None:
    """``--ca "$CA"`` with CA unset: the empty name is a usage error, never the option
    left out, which would send standard input in plaintext."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        received: list[bytes] = []
        async with trio.open_nursery() as nursery:

            async def record() -> None:
                async with await listener.accept() as server:
                    received.append(await receive_all(server))

            nursery.start_soon(record)
            result = await run_cli(
                ["send", "127.0.0.1", listener.information.local_port, *option],
                b"secret\n",
                within=20,
            )
            nursery.cancel_scope.cancel()
    assert result.returncode == 2, result.stderr
    assert f"argument {option[-2]}: an empty file name".encode() in result.stderr
    assert result.stdout == b""
    assert received == []


@pytest.mark.parametrize("option", ["--tls-cert", "--tls-key", "--tls-client-ca"])
async def test_echo_server_refuses_an_empty_file_name(option: str) -> None:
    result = await run_cli(["echo-server", "0", "--host", "127.0.0.1", option, ""], within=20)
    assert result.returncode == 2, result.stderr
    assert f"argument {option}: an empty file name".encode() in result.stderr
    assert result.stdout == b""


async def test_an_unreadable_key_is_blamed_on_the_key_option(
    tls_certificates: TlsCertificates,
) -> None:
    cert, _ = tls_certificates.files("server")
    for arguments, message in [
        (
            ["echo-server", "0", "--tls-cert", str(cert), "--tls-key", "/nonexistent.key"],
            "trio-sockets: --tls-key: cannot read '/nonexistent.key'",
        ),
        (
            ["send", "localhost", "1", "--cert", str(cert), "--key", "/nonexistent.key"],
            "trio-sockets: --key: cannot read '/nonexistent.key'",
        ),
        (
            ["send", "localhost", "1", "--cert", "/nonexistent.pem", "--key", str(cert)],
            "trio-sockets: --cert: cannot read '/nonexistent.pem'",
        ),
    ]:
        result = await run_cli(arguments, within=20)
        assert result.returncode == 2, (arguments, result.stderr)
        assert result.stderr.decode().startswith(message), (arguments, result.stderr)
        assert result.stderr.count(b"\n") == 1


def _weak_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate with a 1024-bit RSA key, which OpenSSL's default
    security level refuses (TLS 1.0 and 1.1, at level 0, take it); its files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "weak")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert, key_file = directory / "weak.crt", directory / "weak.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


async def test_every_certificate_problem_names_its_option_and_file(
    tls_certificates: TlsCertificates, tmp_path: Path
) -> None:
    """A certificate without its key, a key file given as an authority, a key that
    does not belong, one that cannot be read, one OpenSSL refuses: each is bad input
    (status 2) in one line that names the option to fix and its file. Before, a
    missing key said "make it with Certificate.from_pem(cert_pem, key_pem)", a key as
    --ca "cert_pem holds no PEM certificate", and a weak key named
    "control.server_certificate", none naming the option."""
    server, server_key = tls_certificates.files("server")
    client, client_key = tls_certificates.files("client")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not PEM\n")
    locked = tmp_path / "locked.key"
    locked.write_bytes(
        serialization.load_pem_private_key(client_key.read_bytes(), None).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    weak, weak_key = _weak_certificate(tmp_path)
    echo = ["echo-server", "0", "--host", "127.0.0.1"]
    serving = [*echo, "--tls-cert", str(server), "--tls-key", str(server_key)]
    send = ["send", "127.0.0.1", "9"]

    def named(path: Path) -> str:
        return shown(str(path))

    no_key = "holds no private key: give"
    no_certificate = "holds no PEM certificate ('-----BEGIN CERTIFICATE-----')"
    not_its_key = ": the private key does not belong to the certificate"
    unreadable_key = ": cannot read the private key"
    too_small = "cannot be used: OpenSSL says EE_KEY_TOO_SMALL"
    cases = [
        ([*send, "--cert", str(client)], f"--cert: {named(client)} {no_key} --key FILE"),
        ([*echo, "--tls-cert", str(server)], f"--tls-cert: {named(server)} {no_key} --tls-key"),
        ([*send, "--ca", str(client_key)], f"--ca: {named(client_key)} {no_certificate}"),
        ([*send, "--ca", str(garbage)], f"--ca: {named(garbage)} {no_certificate}"),
        (
            [*serving, "--tls-client-ca", str(server_key)],
            f"--tls-client-ca: {named(server_key)} {no_certificate}",
        ),
        (
            [*send, "--cert", str(garbage), "--key", str(client_key)],
            f"--cert: {named(garbage)} {no_certificate}",
        ),
        (
            [*send, "--cert", str(client), "--key", str(server_key)],
            f"--key: {named(server_key)}{not_its_key}",
        ),
        (
            [*echo, "--tls-cert", str(server), "--tls-key", str(client_key)],
            f"--tls-key: {named(client_key)}{not_its_key}",
        ),
        (
            [*send, "--cert", str(client), "--key", str(garbage)],
            f"--key: {named(garbage)}{unreadable_key}",
        ),
        (
            [*send, "--cert", str(client), "--key", str(locked)],
            f"--key: {named(locked)}{unreadable_key}",
        ),
        (
            [*send, "--cert", str(weak), "--key", str(weak_key)],
            f"--cert: {named(weak)} with --key {named(weak_key)} {too_small}",
        ),
        (
            [*echo, "--tls-cert", str(weak), "--tls-key", str(weak_key)],
            f"--tls-cert: {named(weak)} with --tls-key {named(weak_key)} {too_small}",
        ),
        (
            ["send", "wss://127.0.0.1:9/", "--cert", str(client)],
            f"--cert: {named(client)} {no_key} --key FILE",
        ),
    ]
    results = [None] * len(cases)

    async def run(index: int, arguments: list[str]) -> None:
        results[index] = await run_cli(arguments, b"x\n", within=60)

    async with trio.open_nursery() as nursery:
        for index, (arguments, _) in enumerate(cases):
            nursery.start_soon(run, index, arguments)
    for (arguments, message), result in zip(cases, results, strict=True):
        assert result is not None
        stderr = result.stderr.decode()
        assert result.returncode == 2, (arguments, stderr)
        assert stderr.startswith(f"trio-sockets: {message}"), (arguments, stderr)
        assert stderr.count("\n") == 1, (arguments, stderr)
        for api_word in ("cert_pem", "key_pem", "Certificate.", "control."):
            assert api_word not in stderr, (arguments, stderr)


async def test_a_weak_key_is_refused_only_where_openssl_refuses_it(tmp_path: Path) -> None:
    """OpenSSL takes a 1024-bit key at TLS 1.0 (security level 0): --tls-level TLS10
    serves with it, so the certificate check follows the level."""
    if not ssl.HAS_TLSv1:
        pytest.skip("this OpenSSL has no TLS 1.0")
    weak, weak_key = _weak_certificate(tmp_path)
    files = ["--tls-cert", str(weak), "--tls-key", str(weak_key)]
    process, _ = await _start(
        ["echo-server", "0", "--host", "127.0.0.1", *files, "--tls-level", "TLS10"]
    )
    await _stopped(process)


def _limit_memory() -> None:
    # If the whole of an endless file is read again, fail in this process, not the machine.
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


async def test_an_endless_certificate_file_is_refused_by_name() -> None:
    with trio.fail_after(30):
        result = await trio.run_process(
            [*COMMAND, "send", "127.0.0.1", "9", "--ca", "/dev/zero"],
            stdin=b"x",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            preexec_fn=_limit_memory,
        )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith(b"trio-sockets: --ca: '/dev/zero': over 4194304 bytes")
    assert result.stderr.count(b"\n") == 1


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_send_ends_with_the_remotes_end_of_stream_while_input_stays_open(
    tls: bool, tls_certificates: TlsCertificates
) -> None:
    """The server says "bye" and closes; standard input is a pipe nobody writes to or
    closes. The command ends there, as documented, instead of waiting for input."""
    options: list[str] = []
    level = SocketProtectionLevel.PLAIN_SOCKET
    async with StreamSocketListener() as listener:
        if tls:
            listener.control.server_certificate = tls_certificates.server
            options = ["--ca", str(tls_certificates.authority_file)]
            level = SocketProtectionLevel.SSL
        await listener.bind_endpoint("localhost", "0", level)
        async with trio.open_nursery() as nursery:

            async def say_bye() -> None:
                async with await listener.accept() as server:
                    await server.send_all(b"bye\n")

            nursery.start_soon(say_bye)
            process = await trio.lowlevel.open_process(
                [*COMMAND, "send", "localhost", listener.information.local_port, *options],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert process.stdin is not None
            assert process.stdout is not None
            try:
                out = b""
                with trio.fail_after(20):
                    while chunk := await process.stdout.receive_some():
                        out += chunk
                    status = await process.wait()
            finally:
                process.kill()
                await process.wait()
                await process.stdin.aclose()
                await process.stdout.aclose()
                if process.stderr is not None:
                    await process.stderr.aclose()
    assert (status, out) == (0, b"bye\n")


@pytest.mark.parametrize(
    "arguments",
    [
        ["resolve", "127.0.0.1", "80"],
        ["echo-server", "0", "--host", "127.0.0.1"],
        ["demo", "--service", "0"],
    ],
    ids=["resolve", "echo-server", "demo"],
)
async def test_every_command_ends_quietly_when_its_output_is_closed(
    arguments: list[str],
) -> None:
    """``| head`` for the commands that print lines: 141 without a word, as for send;
    a broken pipe is no network failure."""
    result = await _run_with_stdout(_reader_gone(), [*COMMAND, *arguments])
    assert (result.returncode, result.stderr) == (141, b"")


async def test_a_progress_display_that_cannot_be_written_does_not_stop_the_transfer(
    tcp_echo_server: TcpEchoServer,
) -> None:
    """``--progress`` with standard error full (or its reader gone): the display is
    only decoration, so it stops and the transfer goes on, status 0."""
    for stderr in ("/dev/full", None):
        if stderr is None:
            read_end, descriptor = os.pipe()
            os.close(read_end)
        else:
            descriptor = os.open(stderr, os.O_WRONLY)
        try:
            with trio.fail_after(60):
                result = await trio.run_process(
                    _send_arguments(tcp_echo_server, "--progress"),
                    stdin=b"hello\n",
                    capture_stdout=True,
                    stderr=descriptor,
                    check=False,
                )
        finally:
            os.close(descriptor)
        assert (result.returncode, result.stdout) == (0, b"hello\n"), stderr


@pytest.mark.parametrize("which", ["stdin", "stdout"])
async def test_standard_input_or_output_open_the_wrong_way_is_status_74(
    tcp_echo_server: TcpEchoServer, which: str
) -> None:
    """``0>/dev/null`` (standard input open for writing only) or ``1</dev/null``: the
    stream fails as a full one does, with status 74, not a traceback."""
    wrong = os.open(os.devnull, os.O_WRONLY if which == "stdin" else os.O_RDONLY)
    try:
        with trio.fail_after(60):
            result = await trio.run_process(
                _send_arguments(tcp_echo_server),
                stdin=wrong if which == "stdin" else b"hello\n",
                stdout=wrong if which == "stdout" else subprocess.DEVNULL,
                capture_stderr=True,
                check=False,
            )
    finally:
        os.close(wrong)
    stream = "input" if which == "stdin" else "output"
    direction = "reading" if which == "stdin" else "writing"
    assert result.returncode == 74, result.stderr
    assert result.stderr == f"trio-sockets: standard {stream}: not open for {direction}\n".encode()


async def test_a_full_standard_output_is_no_network_failure(
    tcp_echo_server: TcpEchoServer,
) -> None:
    """``> /dev/full``: one line naming standard output and status 74 (EX_IOERR), not
    a traceback or an UNKNOWN network status."""
    for arguments in [
        ["send", str(tcp_echo_server.host), tcp_echo_server.port],
        ["resolve", "127.0.0.1", "80"],
        ["echo-server", "0", "--host", "127.0.0.1"],
    ]:
        full = os.open("/dev/full", os.O_WRONLY)
        result = await _run_with_stdout(full, [*COMMAND, *arguments], b"hello\n")
        assert result.returncode == 74, (arguments, result.stderr)
        assert result.stderr == b"trio-sockets: standard output: No space left on device\n"


def _close_stdin() -> None:
    os.close(0)


def _close_stdout() -> None:
    os.close(1)


@pytest.mark.parametrize(
    ("close", "message"),
    [
        (_close_stdin, b"trio-sockets: standard input is closed; give one"),
        (_close_stdout, b"trio-sockets: standard output is closed; give one"),
    ],
    ids=["stdin", "stdout"],
)
async def test_send_started_with_standard_input_or_output_closed_is_bad_input(
    tcp_echo_server: TcpEchoServer, close: Callable[[], None], message: bytes
) -> None:
    with trio.fail_after(60):
        result = await trio.run_process(
            [*COMMAND, "send", str(tcp_echo_server.host), tcp_echo_server.port],
            stdin=b"hello\n",
            stdout=subprocess.DEVNULL,
            capture_stderr=True,
            check=False,
            preexec_fn=close,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count(b"\n") == 1


@pytest.mark.parametrize(
    ("host", "service", "step"),
    [
        ("example.test", "_a", "DNS SRV _a._tcp.example.test"),
        ("example.test", "a.b", "DNS SRV _a._b._tcp.example.test"),
        ("example.test", "x._y", "DNS SRV _x._y._tcp.example.test"),
        ("127.0.0.1", "no-such-svc", "no DNS SRV lookup: an IP address has no SRV records"),
        ("localhost", "no-such-svc", "no DNS SRV lookup: localhost names have no SRV records"),
    ],
)
async def test_resolve_shows_the_srv_name_it_asks_for(
    dns_server: DnsServerFactory, host: str, service: str, step: str
) -> None:
    """The line names the SRV query the resolver makes (the one its error names), or
    says that none is made."""
    server = await dns_server(domain="example.test")
    with trio.fail_after(30):
        result = await _resolve(server.host, server.port, host, service)
    assert result.returncode == 1
    line = result.stdout.decode().splitlines()[1]
    assert line == f"service: {service!r} is not in the services database; {step}"
    if step.startswith("DNS SRV"):
        assert f"({step})" in result.stderr.decode()


LONG = "a" * 5000


@pytest.mark.parametrize(
    "arguments",
    [
        ["resolve", "127.0.0.1", "80", "--nameserver", "127.0.0.1", "--port", LONG],
        ["send", "127.0.0.1", "80", "--tls-level", LONG],
        ["send", "127.0.0.1", "80", "--ignore", LONG],
        ["echo-server", "0", "--tls-level", LONG],
        [LONG],
        ["resolve", "127.0.0.1", "80", LONG],
        ["send", "127.0.0.1", "80", "--wait", LONG],
        # Joined to its option: argparse quotes the value alone.
        ["send", "127.0.0.1", "80", f"--tls-level={LONG}"],
        ["send", "127.0.0.1", "80", f"--ignore={LONG}"],
    ],
    ids=[
        *("port", "tls-level", "ignore", "echo-tls-level", "command", "extra", "wait"),
        *("tls-level=", "ignore="),
    ],
)
def test_usage_errors_show_at_most_80_characters_of_a_value(arguments: list[str]) -> None:
    result = subprocess.run(
        [*COMMAND, *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    message = result.stderr.splitlines()[-1]
    assert "'aaaaaaaaaa" in message
    assert message.count("a") < 150, message
    assert len(result.stderr) < 1000


async def test_send_udp_to_a_closed_port_fails_with_its_status(free_udp_service: str) -> None:
    """The ICMP port unreachable ends the command as a failure, in the form of every
    other (status name and cause; status 1), with addresses as ``information`` shows
    them (127.0.0.1, not ::ffff:127.0.0.1)."""
    result = await run_cli(
        ["send", "127.0.0.1", free_udp_service, "--udp", "--wait", "0.5"], b"x\n", within=30
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert stderr.startswith("trio-sockets: CONNECTION_RESET_BY_PEER: receive on "), stderr
    assert f"-> 127.0.0.1:{free_udp_service}: the remote port is unreachable" in stderr
    assert "ffff" not in stderr
    assert stderr.count("\n") == 1


# -- lines nobody reads ---------------------------------------------------------------------

#: The lines that wait for a reader of standard output or error beyond what the pipe
#: holds (``MAX_WAITING_LINES`` in trio_sockets/_cli/lines.py; docs/cli.rst gives it).
WAITING_LINES = 1000

#: The line a stream gets where lines were dropped.
DROPPED = re.compile(
    r"trio-sockets: (\d+) lines? dropped: standard (?:output|error) was not being read"
)

#: What fills a 4 KiB pipe.
FILLING = b"#" * 4095 + b"\n"


def _read_until(descriptor: int, done: Callable[[bytes], bool], within: float = 20) -> bytes:
    """Read *descriptor* until what was read is *done* or it ends; fail after *within*
    seconds."""
    data = b""
    deadline = time.monotonic() + within
    while not done(data):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"not done after {within} s: {data[-300:]!r}"
        if select.select([descriptor], [], [], remaining)[0]:
            chunk = os.read(descriptor, 65536)
            if not chunk:
                break
            data += chunk
    return data


def _line_read(data: bytes) -> bool:
    return b"\n" in data


def _dropped_read(data: bytes) -> bool:
    return DROPPED.search(data.decode()) is not None


def _to_the_end(data: bytes) -> bool:
    return False


def _small_pipe() -> tuple[int, int]:
    """A pipe that holds 4 KiB (one page): fewer lines fill it."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, len(FILLING))
    return read_end, write_end


def _receive_blocking(client: socket.socket, count: int) -> bytes:
    """*count* bytes from *client*, fewer only at its end (TimeoutError after 5 s)."""
    data = b""
    while len(data) < count and (chunk := client.recv(count - len(data))):
        data += chunk
    return data


def _echoed(port: str, payload: bytes, *, reset: bool = False) -> bytes:
    """What ``echo-server`` sends back for *payload*, up to its end; with *reset*, only
    *payload*'s length, after which the client resets the connection (a line for the
    server's standard error)."""
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as client:
        client.sendall(payload)
        if reset:
            echoed = _receive_blocking(client, len(payload))
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return echoed
        client.shutdown(socket.SHUT_WR)
        return _receive_blocking(client, len(payload) + 1)


@contextlib.contextmanager
def _echo_server(arguments: list[str], **streams: int) -> Iterator[subprocess.Popen[bytes]]:
    """``echo-server`` with *arguments* and standard *streams*, killed if still running
    on the way out."""
    command = [*COMMAND, "echo-server", "0", "--host", "127.0.0.1", *arguments]
    with subprocess.Popen(command, **streams) as process:  # type: ignore[call-overload]
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_echo_server_goes_on_while_its_lines_are_not_read(stream: str) -> None:
    """Its line per connection was a blocking write made in the event loop: once the
    pipe was full (standard output read by nobody, by ``less``, by a stalled log
    shipper; standard error the same, with a line per connection that fails), the
    server stopped accepting and echoing. Now 1,000 lines wait for the reader, the
    next are dropped and counted, and the server goes on. Read at last, the stream has
    the lines kept, in order, the count of those dropped where they were, and what
    comes next."""
    connections = 4000 if stream == "stdout" else 2000
    read_end, write_end = _small_pipe()
    try:
        streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, stream: write_end}
        with _echo_server(["--count", str(connections + 1)], **streams) as process:
            other = process.stderr if stream == "stdout" else process.stdout
            assert other is not None
            first = read_end if stream == "stdout" else other.fileno()
            port = _read_until(first, _line_read).split()[3].decode()
            # Filled, as by lines nobody read: the next line waits, and those after it.
            assert os.write(write_end, FILLING) == len(FILLING)
            os.close(write_end)
            write_end = -1
            for _ in range(connections):
                assert _echoed(port, b"ping", reset=stream == "stderr") == b"ping"
            kept = _read_until(read_end, _dropped_read)
            assert _echoed(port, b"final") == b"final"
            kept += _read_until(read_end, _to_the_end)
            assert process.wait(timeout=20) == 0
            rest = other.read()
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)
    assert kept.startswith(FILLING)
    lines = kept[len(FILLING) :].decode().splitlines()
    dropped = [int(match[1]) for line in lines if (match := DROPPED.fullmatch(line))]
    said = [line for line in lines if not DROPPED.fullmatch(line)]
    assert dropped, lines[-3:]
    if stream == "stdout":
        assert rest == b""
        assert said[-1].endswith(": echoed 5 bytes"), said[-3:]
        pings = said[:-1]
        assert all(line.endswith(": echoed 4 bytes") for line in pings), pings
        assert lines[:WAITING_LINES] == pings[:WAITING_LINES]  # the first lines, whole
    else:
        assert rest.endswith(b": echoed 5 bytes\n"), rest[-300:]
        pings = said
        assert all(": CONNECTION_RESET_BY_PEER: " in line for line in pings), pings[:3]
    assert len(pings) + sum(dropped) == connections


@pytest.mark.parametrize(
    ("signo", "status"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["SIGINT", "SIGTERM"],
)
def test_echo_server_ends_on_a_signal_while_a_line_waits_for_its_reader(
    signo: signal.Signals, status: int
) -> None:
    """A line that standard output cannot take now (a full pipe) does not hold up the
    end: Ctrl-C or SIGTERM ends the server at once, quietly, with its status."""
    read_end, write_end = _small_pipe()
    try:
        with _echo_server([], stdout=write_end, stderr=subprocess.PIPE) as process:
            port = _read_until(read_end, _line_read).split()[3].decode()
            assert os.write(write_end, FILLING) == len(FILLING)
            assert _echoed(port, b"ping") == b"ping"  # its line waits
            time.sleep(0.2)
            process.send_signal(signo)
            assert process.wait(timeout=10) == status
            assert process.stderr is not None
            assert process.stderr.read() == b""
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_short_command_writes_every_line_to_a_slow_reader() -> None:
    """The lines of a command that ends are written before it exits, however long the
    reader takes to come back."""
    read_end, write_end = _small_pipe()
    try:
        assert os.write(write_end, FILLING) == len(FILLING)
        with subprocess.Popen(
            [*COMMAND, "resolve", "127.0.0.1", "80"], stdout=write_end, stderr=subprocess.PIPE
        ) as process:
            try:
                os.close(write_end)
                write_end = -1
                time.sleep(0.5)  # the reader is away
                assert process.poll() is None, "it exited before its lines were written"
                out = _read_until(read_end, _to_the_end)
                assert process.wait(timeout=20) == 0
                assert process.stderr is not None
                assert process.stderr.read() == b""
            finally:
                if process.poll() is None:
                    process.kill()
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)
    assert out[len(FILLING) :].decode().splitlines() == [
        "resolving 127.0.0.1 '80' for TCP with Resolver()",
        "service: port 80",
        "target 1: 127.0.0.1:80",
        "  address 127.0.0.1 port 80",
    ]


async def test_a_progress_display_nobody_reads_does_not_stop_the_transfer(
    tcp_echo_server: TcpEchoServer,
) -> None:
    """``--progress`` with standard error a pipe nobody reads (a terminal paused with
    Ctrl-S): the display's writes, made in the event loop, stopped the transfer once
    the pipe was full. Now the drawings it cannot take are skipped and the transfer
    goes on; the final totals wait for the reader, who gets them at last."""
    read_end, write_end = _small_pipe()
    try:
        assert os.write(write_end, FILLING) == len(FILLING)
        process = await trio.lowlevel.open_process(
            _send_arguments(tcp_echo_server, "--progress"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=write_end,
        )
        os.close(write_end)
        write_end = -1
        assert process.stdin is not None
        assert process.stdout is not None
        received = bytearray()
        try:
            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:

                    async def upload() -> None:
                        assert process.stdin is not None
                        async with process.stdin:
                            await process.stdin.send_all(BIG)

                    nursery.start_soon(upload)
                    while len(received) < len(BIG):
                        chunk = await process.stdout.receive_some()
                        assert chunk, "send ended before the transfer"
                        received.extend(chunk)
                assert process.poll() is None, "it exited before its totals were written"
                screen = await trio.to_thread.run_sync(_read_until, read_end, _to_the_end)
                assert await process.wait() == 0
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
            await process.stdout.aclose()
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)
    assert received == BIG
    assert screen.startswith(FILLING)
    assert b"sent: 4.00MB [" in screen, screen[-300:]
    assert b"received: 4.00MB [" in screen, screen[-300:]
