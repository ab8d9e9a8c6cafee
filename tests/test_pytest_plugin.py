"""The trio_sockets pytest plugin, used from a separate pytest run as a user would."""

from __future__ import annotations

import socket

import pytest
import trio

from trio_sockets import DatagramSocket, StreamSocket
from trio_sockets.testing import TcpEchoServer, UdpEchoServer, WebSocketEchoServer, free_port

TRIO_INI = "[pytest]\ntrio_mode = true\nfilterwarnings = error\n"


def _run(pytester: pytest.Pytester, source: str, ini: str = TRIO_INI) -> pytest.RunResult:
    pytester.makeini(ini)
    pytester.makepyfile(source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)


def test_tcp_echo_server_fixture(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        from trio_sockets import StreamSocket

        async def test_echo(tcp_echo_server):
            async with StreamSocket() as sock:
                await sock.connect(tcp_echo_server.host, tcp_echo_server.port)
                await sock.send_all(b"hello plugin")
                received = b""
                while len(received) < 12:
                    received += await sock.receive_some()
                assert received == b"hello plugin"
            assert tcp_echo_server.connections == 1
        """,
    )
    result.assert_outcomes(passed=1)


def test_udp_echo_server_fixture(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import trio
        from trio_sockets import DatagramSocket

        async def test_echo(udp_echo_server):
            async with DatagramSocket() as sock:
                await sock.connect(udp_echo_server.host, udp_echo_server.port)
                with trio.fail_after(5):
                    await sock.output_stream.write(b"datagram")
                    message = await sock.message_received.receive()
            assert message.data == b"datagram"
            assert udp_echo_server.datagrams_echoed == 1
        """,
    )
    result.assert_outcomes(passed=1)


def test_websocket_echo_server_fixture(pytester: pytest.Pytester) -> None:
    """Each message comes back with its type; after its test the server is gone, with
    its connections (even one that never finished its handshake) and their fds."""
    result = _run(
        pytester,
        """
        import gc
        import os
        import socket

        import pytest
        import trio
        from trio_sockets import (
            MessageWebSocket, SocketMessageType, WebErrorStatus, WebSocketStatusError
        )

        SEEN = {}

        def open_fds():
            gc.collect()
            return len(os.listdir("/proc/self/fd"))

        async def test_before():
            SEEN["fds"] = open_fds()

        async def test_echo(websocket_echo_server):
            server = websocket_echo_server
            assert server.uri == f"ws://127.0.0.1:{server.port}/"
            SEEN["uri"] = server.uri
            async with MessageWebSocket() as ws:
                await ws.connect(server.uri + "any/path")
                ws.control.message_type = SocketMessageType.UTF8
                with trio.fail_after(10):
                    await ws.output_stream.write("héllo".encode())
                    text = await ws.message_received.receive()
                    ws.control.message_type = SocketMessageType.BINARY
                    await ws.output_stream.write(b"\\x00")
                    data = await ws.message_received.receive()
                await ws.aclose(1000)
            assert (text.message_type, text.data) == (SocketMessageType.UTF8, "héllo".encode())
            assert (data.message_type, data.data) == (SocketMessageType.BINARY, b"\\x00")
            assert server.messages_echoed == 2 and server.bytes_echoed == 7
            with trio.fail_after(10):
                while server.close_codes != [1000]:
                    await trio.sleep(0.01)
            # Left connected, without a handshake, when the test ends.
            SEEN["silent"] = socket.create_connection(("127.0.0.1", int(server.port)))
            with trio.fail_after(10):
                while server.connections < 2:
                    await trio.sleep(0.01)

        async def test_after():
            SEEN.pop("silent").close()
            assert open_fds() == SEEN["fds"]
            async with MessageWebSocket() as ws:
                with pytest.raises(WebSocketStatusError) as caught:
                    await ws.connect(SEEN["uri"])
            assert caught.value.status is WebErrorStatus.CANNOT_CONNECT
        """,
    )
    result.assert_outcomes(passed=3)


def test_websocket_echo_server_over_tls(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import trio
        from trio_sockets import MessageWebSocket
        from trio_sockets.testing import WebSocketEchoServer

        async def test_wss(tls_certificates):
            server = WebSocketEchoServer(certificate=tls_certificates.server)
            async with server:
                assert server.uri == f"wss://localhost:{server.port}/"
                async with MessageWebSocket() as ws:
                    ws.control.trusted_certificates.append(tls_certificates.authority)
                    await ws.connect(server.uri)
                    with trio.fail_after(10):
                        await ws.output_stream.write(b"secret")
                        assert (await ws.message_received.receive()).data == b"secret"
            assert server.messages_echoed == 1
        """,
    )
    result.assert_outcomes(passed=1)


def test_free_service_fixtures(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        from trio_sockets import DatagramSocket, StreamSocketListener

        async def test_ports(free_tcp_service, free_udp_service):
            assert free_tcp_service.isdigit() and free_udp_service.isdigit()
            async with StreamSocketListener() as listener:
                await listener.bind_endpoint("127.0.0.1", free_tcp_service)
                assert listener.information.local_port == free_tcp_service
            async with DatagramSocket() as sock:
                await sock.bind_endpoint("127.0.0.1", free_udp_service)
                assert sock.information.local_port == free_udp_service
        """,
    )
    result.assert_outcomes(passed=1)


def test_dns_server_fixture(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        from trio_sockets import HostName
        from trio_sockets.testing import SrvRecord

        async def test_srv(dns_server):
            server = await dns_server(
                srv=[SrvRecord("_chat._tcp.example.test", "a.example.test", 6001)],
                hosts={"a.example.test": "127.0.0.1"},
                domain="example.test",
            )
            targets = await server.resolver().resolve_targets(
                HostName("example.test"), "chat", "tcp"
            )
            assert [(t.host, t.port) for t in targets] == [(HostName("a.example.test"), 6001)]
        """,
    )
    result.assert_outcomes(passed=1)


def test_projects_without_trio_are_not_affected(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        def test_plain():
            assert 1 + 1 == 2
        """,
        ini="[pytest]\nfilterwarnings = error\n",
    )
    result.assert_outcomes(passed=1)
    assert "trio-sockets" in result.stdout.str()  # listed among the loaded plugins


def test_tls_certificates_fixture(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import subprocess
        import trio
        from trio_sockets import SocketProtectionLevel, StreamSocket, StreamSocketListener

        async def test_tls(tls_certificates):
            certs = tls_certificates
            assert certs.server.has_private_key and certs.client.has_private_key
            cert_file, key_file = certs.files("server")
            assert cert_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
            assert certs.authority_file.exists()
            async with StreamSocketListener() as listener:
                listener.control.server_certificate = certs.server
                await listener.bind_endpoint("127.0.0.1", "0", SocketProtectionLevel.TLS13)
                async with StreamSocket() as sock:
                    sock.control.trusted_certificates.append(certs.authority)
                    await sock.connect("localhost", listener.information.local_port,
                                       SocketProtectionLevel.SSL)
                    server = await listener.accept()
                    async with server:
                        await sock.send_all(b"over TLS")
                        assert await server.receive_some() == b"over TLS"
            assert sock.information.server_certificate == certs.server

        def test_issue_more(tls_certificates):
            other = tls_certificates.issue("other.example", name="other")
            assert other.dns_names == ["other.example"]
            assert tls_certificates.files("other")[0].exists()
        """,
    )
    result.assert_outcomes(passed=2)


def test_the_testing_package_keeps_its_public_names() -> None:
    """``trio_sockets.testing`` is a package; its names are still its own."""
    import trio_sockets.testing as testing

    assert sorted(testing.__all__) == [
        "DnsServer",
        "DnsServerError",
        "SrvRecord",
        "TcpEchoServer",
        "TlsCertificates",
        "UdpEchoServer",
        "WebSocketEchoServer",
        "free_port",
    ]
    for name in testing.__all__:
        value = getattr(testing, name)
        if isinstance(value, type):
            assert value.__module__ == "trio_sockets.testing", name
    assert callable(testing.free_port)


async def test_free_port_gives_a_port_that_binds_and_names_a_bad_kind() -> None:
    """A port of each kind that a socket then binds; a kind that is not a socket type
    (``"udp"``, the fixtures' word for it) is refused naming the value, bounded in
    length, not by ``socket.socket()``'s "cannot be interpreted as an integer"."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        port = free_port(kind)
        assert port.isdigit()
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", int(port)))
    async with DatagramSocket() as sock:
        await sock.bind_endpoint("::1", free_port(socket.SOCK_DGRAM, "::1"))
    for bad in ("udp", None, True, 3.0, "x" * 10_000):
        with pytest.raises(TypeError) as caught:
            free_port(bad)  # type: ignore[arg-type]
        message = str(caught.value)
        assert message.startswith(
            "free_port: kind must be socket.SOCK_STREAM or socket.SOCK_DGRAM, not "
        )
        assert type(bad).__name__ in message
        assert len(message) < 200
    with pytest.raises(TypeError, match=r"SOCK_DGRAM, not str 'udp'$"):
        free_port("udp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^free_port: kind must be .*, not .*SOCK_RAW"):
        free_port(socket.SOCK_RAW)
    with pytest.raises(TypeError, match=r"^free_port: host must be a str, not int 1"):
        free_port(socket.SOCK_STREAM, 1)  # type: ignore[arg-type]


def test_the_plugin_offers_its_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeini(TRIO_INI)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures")
    assert result.ret == 0
    listed = {line.split()[0] for line in result.outlines if line and not line[0].isspace()}
    for fixture in (
        "dns_server",
        "dnsmasq_program",
        "free_tcp_service",
        "free_udp_service",
        "tcp_echo_server",
        "tls_certificates",
        "udp_echo_server",
        "websocket_echo_server",
    ):
        assert fixture in listed, result.outlines


async def test_an_echo_server_is_entered_once_at_a_time() -> None:
    """Entering a running echo server again is a clear error (it crashed trio), the
    server goes on serving, and leaving one never entered says so."""
    for kind in (TcpEchoServer, UdpEchoServer, WebSocketEchoServer):
        server = kind()
        with pytest.raises(RuntimeError, match="is not running: enter it first"):
            await server.__aexit__(None, None, None)
        with trio.fail_after(10):
            async with server:
                port = server.port
                with pytest.raises(RuntimeError, match=f"already running \\(port {port}\\)"):
                    async with server:
                        pass  # pragma: no cover
                assert server.port == port
                if kind is TcpEchoServer:
                    async with StreamSocket() as sock:
                        await sock.connect(server.host, port)
                        await sock.send_all(b"still serving")
                        assert await sock.receive_some() == b"still serving"


def test_a_suite_that_uses_no_fixture_does_not_load_the_library(pytester: pytest.Pytester) -> None:
    """pytest imports the plugin at every start; it loads the library, and what the
    library needs (cryptography, websockets, dnspython), only for a test that asks for
    one of its fixtures. It loaded them all, for every suite in the environment."""
    result = _run(
        pytester,
        """
        import sys

        HEAVY = ("trio_sockets.", "cryptography", "websockets", "dns.")

        def test_plain():
            loaded = sorted(
                name for name in sys.modules
                if name.startswith(HEAVY) and name != "trio_sockets._pytest_plugin"
            )
            assert loaded == []
            assert "trio_sockets._pytest_plugin" in sys.modules

        def test_a_fixture_loads_them(free_tcp_service):
            assert free_tcp_service.isdigit()
            assert "trio_sockets.testing._echo" in sys.modules
        """,
        ini="[pytest]\nfilterwarnings = error\n",
    )
    result.assert_outcomes(passed=2)


def test_the_server_fixtures_under_another_event_loop_say_they_need_trio(
    pytester: pytest.Pytester,
) -> None:
    """Under anyio's asyncio backend, each server fixture fails the test naming itself
    and what to do (it failed inside trio: ``'RunContext' object has no attribute
    'runner'``); under anyio's trio backend they serve."""
    result = _run(
        pytester,
        """
        import pytest

        pytestmark = pytest.mark.anyio
        ON_ASYNCIO = pytest.mark.parametrize("anyio_backend", ["asyncio"])

        @ON_ASYNCIO
        async def test_tcp(tcp_echo_server, anyio_backend):
            pass

        @ON_ASYNCIO
        async def test_udp(udp_echo_server, anyio_backend):
            pass

        @ON_ASYNCIO
        async def test_websocket(websocket_echo_server, anyio_backend):
            pass

        @ON_ASYNCIO
        async def test_dns(dns_server, anyio_backend):
            pass

        @pytest.mark.parametrize("anyio_backend", ["trio"])
        async def test_trio(tcp_echo_server, anyio_backend):
            assert tcp_echo_server.port.isdigit()
        """,
        ini="[pytest]\nfilterwarnings = error\n",
    )
    result.assert_outcomes(passed=1, errors=4)
    for fixture in ("tcp_echo_server", "udp_echo_server", "websocket_echo_server", "dns_server"):
        result.stdout.fnmatch_lines(
            [
                f"*the {fixture} fixture runs under trio only: run the test with pytest-trio "
                '(trio_mode = true, or @pytest.mark.trio), or with anyio_backend = "trio"*'
            ]
        )
    assert "RunContext" not in result.stdout.str()
