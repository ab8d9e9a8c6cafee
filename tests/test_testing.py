"""``trio_sockets.testing`` used directly: the echo servers, ``free_port`` and
``DnsServer``, with clients that are not the library's own (raw sockets, other
processes), as the code under test of a user's suite often is."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from typing import Any

import pytest
import trio
from conftest import require_tool
from ws_peers import opening_request

from trio_sockets import HostName, MessageWebSocket
from trio_sockets.testing import (
    DnsServer,
    TcpEchoServer,
    TlsCertificates,
    UdpEchoServer,
    WebSocketEchoServer,
    free_port,
)

#: Round trips per check: before, a counter trailed its echo about every other time.
ROUND_TRIPS = 30


async def _receive_exactly(sock: trio.socket.SocketType, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await sock.recv(size - len(data))
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


async def test_the_tcp_echo_counts_are_true_when_the_echo_arrives() -> None:
    """A raw socket client that has its echo finds the connection and its bytes counted,
    with no waiting: before, ``bytes_echoed`` grew only after the send returned, and the
    client often ran first."""
    with trio.fail_after(20):
        async with TcpEchoServer() as server:
            for round_trip in range(1, ROUND_TRIPS + 1):
                with trio.socket.socket() as sock:
                    await sock.connect(("127.0.0.1", int(server.port)))
                    await sock.send(b"ping")
                    assert await _receive_exactly(sock, 4) == b"ping"
                    assert (server.connections, server.bytes_echoed) == (round_trip, 4 * round_trip)


async def test_the_udp_echo_count_is_true_when_the_echo_arrives() -> None:
    with trio.fail_after(20):
        async with UdpEchoServer() as server:
            for round_trip in range(1, ROUND_TRIPS + 1):
                with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    await sock.connect(("127.0.0.1", int(server.port)))
                    await sock.send(b"ping")
                    assert await sock.recv(10) == b"ping"
                    assert server.datagrams_echoed == round_trip


async def test_the_websocket_echo_counts_are_true_when_the_echo_arrives() -> None:
    """A hand-driven client (one masked binary frame) reads its echo and finds the
    message and its bytes counted."""
    with trio.fail_after(20):
        async with WebSocketEchoServer() as server:
            for round_trip in range(1, ROUND_TRIPS + 1):
                with trio.socket.socket() as sock:
                    await sock.connect(("127.0.0.1", int(server.port)))
                    await sock.send(opening_request())
                    answer = b""
                    while not answer.endswith(b"\r\n\r\n"):
                        answer += await _receive_exactly(sock, 1)
                    assert answer.startswith(b"HTTP/1.1 101 ")
                    mask = b"\x01\x02\x03\x04"
                    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(b"ping"))
                    await sock.send(b"\x82\x84" + mask + masked)
                    assert await _receive_exactly(sock, 6) == b"\x82\x04ping"
                    assert (server.messages_echoed, server.bytes_echoed) == (
                        round_trip,
                        4 * round_trip,
                    )


@pytest.mark.parametrize("kind", [TcpEchoServer, UdpEchoServer, WebSocketEchoServer])
def test_an_echo_server_takes_no_port_and_no_counts(kind: type[TcpEchoServer]) -> None:
    """The servers pick a free port, and count from zero: a port or a count given to
    the constructor is refused, naming it (it was taken and ignored: the server listened
    on another port)."""
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'port'"):
        kind(port="8080")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"takes from 1 to 2 positional arguments"):
        kind(HostName("127.0.0.1"), "8080")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'connections'"):
        kind(connections=5)  # type: ignore[call-arg]


def test_the_echo_counts_are_not_arguments() -> None:
    """Nor are the counts, and the certificate is given by name."""
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'bytes_echoed'"):
        TcpEchoServer(bytes_echoed=100)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'datagrams_echoed'"):
        UdpEchoServer(datagrams_echoed=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'close_codes'"):
        WebSocketEchoServer(close_codes=[1000])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"takes from 1 to 2 positional arguments"):
        WebSocketEchoServer(HostName("127.0.0.1"), None)  # type: ignore[misc]


async def _websocket_echo(uri: str, certificates: TlsCertificates | None) -> bytes:
    async with MessageWebSocket() as ws:
        if certificates is not None:
            ws.control.trusted_certificates.append(certificates.authority)
        with trio.fail_after(10):
            await ws.connect(uri)
            await ws.output_stream.write(b"where")
            args = await ws.message_received.receive()
        await ws.aclose(1000)
    return args.data


async def test_the_websocket_echo_uri_reaches_the_server_on_any_host() -> None:
    """``uri`` is where a client reaches the server, on whatever host it serves: a
    server on every address is reached over loopback (its uri was ``ws://[::]:PORT/``,
    which no client connects to), one with a certificate on another address at that
    address (it was always ``localhost``, where nothing listened), and a str host is
    taken as ``TcpEchoServer("::1")`` takes it (``uri`` raised AttributeError)."""
    certificates = TlsCertificates()
    for host, certificate, uri in [
        (HostName("127.0.0.1"), None, "ws://127.0.0.1:{}/"),
        (HostName("::"), None, "ws://[::1]:{}/"),
        (HostName("0.0.0.0"), None, "ws://127.0.0.1:{}/"),
        ("::1", None, "ws://[::1]:{}/"),
        (HostName("127.0.0.2"), certificates.issue("127.0.0.2"), "wss://127.0.0.2:{}/"),
        (HostName("::1"), certificates.server, "wss://localhost:{}/"),
        (HostName("0.0.0.0"), certificates.server, "wss://localhost:{}/"),
    ]:
        async with WebSocketEchoServer(host, certificate=certificate) as server:
            assert server.uri == uri.format(server.port)
            assert await _websocket_echo(server.uri, certificates) == b"where", host
            assert server.messages_echoed == 1


def test_an_echo_server_host_is_a_host_name_or_a_str() -> None:
    """A str host reads back as its HostName; anything else is refused at once, naming
    the value."""
    assert TcpEchoServer("::1").host == HostName("::1")
    assert isinstance(UdpEchoServer("127.0.0.1").host, HostName)
    with pytest.raises(
        TypeError, match=r"^TcpEchoServer host must be a HostName or a str, not int 1$"
    ):
        TcpEchoServer(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^WebSocketEchoServer host .*, not bytes b'::1'$"):
        WebSocketEchoServer(b"::1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^invalid UdpEchoServer host 'no host!'"):
        UdpEchoServer("no host!")


def test_free_port_refuses_a_bad_host_or_kind_naming_it() -> None:
    """A host that is no IP address is refused naming it, and never looked up (``bind``
    asked the system resolver, and raised ``gaierror`` naming nothing); an address
    this host does not have says so with the address; a float kind is no socket type
    (``1.0 == SOCK_STREAM`` passed the check)."""
    for kind in (1.0, 2.0):
        with pytest.raises(TypeError, match=r"SOCK_DGRAM, not float"):
            free_port(kind)  # type: ignore[arg-type]
    assert free_port(socket.SOCK_STREAM, "localhost").isdigit()
    assert free_port(socket.SOCK_DGRAM, "::1").isdigit()
    for bad in ("[::1]", "127.0.0.1:8080", "999.0.0.1", ""):
        expected = f"free_port: host must be an IP address or 'localhost', not str {bad!r}"
        with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
            free_port(socket.SOCK_STREAM, bad)
    with pytest.raises(OSError, match=r"^\[Errno \d+\] free_port: cannot bind 'fe80::1': "):
        free_port(socket.SOCK_DGRAM, "fe80::1")
    with pytest.raises(OSError, match=r"free_port: cannot bind '192\.0\.2\.1': "):
        free_port(socket.SOCK_STREAM, "192.0.2.1")


#: The start of the messages for a bad value of hosts={"a.test": ...}.
MANY = "host 'a.test': addresses must be a str or a sequence of str, not "
ONE = "host 'a.test': an address must be a str, not "


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        # bytes were read as ints, each published as an IPv4 address: 0.0.0.46, ...
        (
            {"hosts": {"a.test": b"127.0.0.1"}},
            TypeError,
            MANY + "bytes b'127.0.0.1'",
        ),
        (
            {"hosts": {"a.test": [b"::1"]}},
            TypeError,
            ONE + "bytes b'::1'",
        ),
        (
            {"hosts": {"a.test": 2130706433}},
            TypeError,
            MANY + "int 2130706433",
        ),
        (
            {"hosts": {"a.test": [2130706433]}},
            TypeError,
            ONE + "int 2130706433",
        ),
        (
            {"hosts": {"a.test": None}},
            TypeError,
            MANY + "NoneType None",
        ),
        (
            {"hosts": {"a.test": "a.example"}},
            ValueError,
            "host 'a.test': address 'a.example' is not an IPv4 or IPv6 address",
        ),
        (
            {"hosts": [("a.test", "127.0.0.1")]},
            TypeError,
            "DnsServer hosts must be a mapping, not list [('a.test', '127.0.0.1')]",
        ),
        ({"txt": {"a.test": 5}}, TypeError, "TXT text of 'a.test' must be a str, not int 5"),
        ({"port": "5353"}, TypeError, "DnsServer port must be an int, not str '5353'"),
        ({"port": True}, TypeError, "DnsServer port must be an int, not bool True"),
        ({"port": -1}, ValueError, "DnsServer port must be an int from 0 to 65535, not -1"),
    ],
)
def test_a_dns_server_refuses_bad_records_naming_them(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Checked when the server is made, before dnsmasq starts, each with a message that
    names the argument and the value (they were raw Python errors, naming neither, or
    no error at all and wrong records)."""
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        DnsServer(**arguments)


_SERVING_UNTIL_KILLED = """
import trio
from trio_sockets.testing import DnsServer

async def main():
    async with DnsServer(hosts={"a.test": "127.0.0.1"}):
        print("serving", flush=True)
        await trio.sleep(60)

trio.run(main)
"""


async def test_a_killed_test_process_leaves_no_dns_server_files() -> None:
    """The configuration directory of a DnsServer is gone once dnsmasq runs, so a test
    process killed before it stops the server leaves no file behind (each left its
    ``trio-sockets-dns-*`` directory, with dnsmasq.conf and dnsmasq.log, for good)."""
    require_tool("dnsmasq")
    # The child's temporary directory: one of this test's own, readable by dnsmasq
    # when it runs as nobody (pytest's tmp_path is not).
    directory = tempfile.mkdtemp(prefix="trio-sockets-test-")
    os.chmod(directory, 0o755)
    try:
        child = await trio.lowlevel.open_process(
            [sys.executable, "-c", _SERVING_UNTIL_KILLED],
            stdout=subprocess.PIPE,
            env={**os.environ, "TMPDIR": directory},
        )
        try:
            assert child.stdout is not None
            output = b""
            with trio.fail_after(20):
                while not output.endswith(b"\n"):
                    chunk = await child.stdout.receive_some()
                    assert chunk, f"the child ended: {output!r}"
                    output += chunk
            assert output == b"serving\n"
        finally:
            child.kill()
            with trio.fail_after(10):
                await child.wait()
            await child.stdout.aclose()
        assert child.returncode == -signal.SIGKILL
        assert os.listdir(directory) == []
    finally:
        shutil.rmtree(directory)
