"""Out of file descriptors (EMFILE): the operation that runs out fails with
``TOO_MANY_OPEN_FILES`` and says so, nothing half-done is kept (no cached context
without the system's roots, no empty copy of /etc/hosts, no private key on disk), and
the same operations work again once descriptors are free.

Each test lowers the soft ``RLIMIT_NOFILE`` and takes every descriptor below it (or
all but a few), so that the shortage is exact and does not depend on what else is open.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from conftest import wait_until

from trio_sockets import (
    Certificate,
    DatagramSocket,
    HostName,
    MessageWebSocket,
    SocketError,
    SocketErrorStatus,
    SocketProtectionLevel,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
    WebErrorStatus,
    WebSocketError,
)
from trio_sockets._io import system_lookups
from trio_sockets._io.translate import translating
from trio_sockets._pytest_plugin import DnsServerFactory
from trio_sockets.testing import TlsCertificates

S = SocketErrorStatus
#: Room above the descriptors already open: what a test takes to run out.
_HEADROOM = 64
#: What every error of running out says (strerror of EMFILE).
FDS = "Too many open files"


@contextlib.contextmanager
def out_of_fds(leave: int = 0) -> Iterator[None]:
    """Run the block with only *leave* file descriptors free in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    held: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(highest + _HEADROOM, hard), hard))
    try:
        with contextlib.suppress(OSError):  # EMFILE: every descriptor is taken
            for _ in range(highest + _HEADROOM):
                held.append(os.open(os.devnull, os.O_RDONLY))
        for _ in range(leave):
            os.close(held.pop())
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def assert_out_of_fds(error: BaseException, *names: str) -> None:
    """*error* says that the process ran out of descriptors, naming *names*."""
    assert isinstance(error, SocketStatusError), repr(error)
    assert error.status == S.TOO_MANY_OPEN_FILES, str(error)
    for name in names:
        assert name in str(error)


# -- TLS -----------------------------------------------------------------------------


async def test_a_tls_connect_out_of_fds_fails_as_such_and_later_connects_trust_the_system_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The throw-away authority is the system's trust store here: OpenSSL takes
    # SSL_CERT_FILE for its default CA bundle.
    certs = TlsCertificates(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.authority_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-directory"))

    def client() -> StreamSocket:
        sock = StreamSocket()
        # An unrelated root: settings (and so a cached context) of this test alone.
        sock.control.trusted_certificates.append(TlsCertificates().authority)
        return sock

    with trio.fail_after(20):
        async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
            listener.control.server_certificate = certs.server
            await listener.bind_endpoint("127.0.0.1", "0", SocketProtectionLevel.TLS12)
            port = listener.information.local_port

            async def serve() -> None:
                async for args in listener.connection_received:
                    await args.socket.aclose()

            nursery.start_soon(serve)
            async with client() as sock:
                with out_of_fds(), pytest.raises(SocketStatusError, match=FDS) as caught:
                    await sock.connect(HostName("localhost"), port, SocketProtectionLevel.TLS12)
            assert_out_of_fds(caught.value, "connect to localhost", "root certificates")
            for _ in range(2):
                async with client() as sock:
                    await sock.connect(HostName("localhost"), port, SocketProtectionLevel.TLS12)
                    assert sock.information.server_certificate_errors == []
            nursery.cancel_scope.cancel()


async def _bind_tls_listener(certificate: Certificate, leave: int) -> OSError | None:
    """Bind a TLS listener with *certificate* and *leave* descriptors free: its error."""
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = certificate
        with out_of_fds(leave):
            try:
                await listener.bind_endpoint("127.0.0.1", "0", SocketProtectionLevel.TLS12)
            except OSError as exc:
                return exc
    return None


async def test_a_certificate_loaded_out_of_fds_leaves_no_key_on_disk_and_names_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    certificate = TlsCertificates().server
    with trio.fail_after(20):
        errors = [await _bind_tls_listener(certificate, leave) for leave in range(4)]
    assert errors[0] is not None
    assert errors[-1] is None  # enough descriptors: bound
    for error in errors:
        if error is not None:
            assert_out_of_fds(error)
            assert "control.server_certificate" in str(error) or "listen on" in str(error)
    assert os.listdir(tmp_path) == []  # no key (no file at all) left behind


# -- the services database, /etc/hosts and DNS ----------------------------------------------------


def _hosts_file_name() -> str:
    """A name /etc/hosts lists with an IPv4 address (not localhost, which is never
    looked up)."""
    try:
        with open("/etc/hosts", encoding="utf-8") as hosts:
            for line in hosts:
                fields = line.partition("#")[0].split()
                if fields and fields[0].count(".") == 3:
                    for name in fields[1:]:
                        if "localhost" not in name:
                            return name
    except OSError:
        pass
    pytest.skip("/etc/hosts lists no name but localhost")


async def test_a_lookup_out_of_fds_fails_as_such_and_does_not_forget_the_hosts_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = _hosts_file_name()
    if not system_lookups._files_first():
        pytest.skip("nsswitch.conf does not answer host names from /etc/hosts first")
    # A copy of /etc/hosts not read yet, as in a fresh process.
    monkeypatch.setattr(system_lookups, "_hosts_file", system_lookups._HostsFile())
    with trio.fail_after(20):
        with out_of_fds(), pytest.raises(SocketStatusError, match=FDS) as caught:
            await DatagramSocket.get_endpoint_pairs(name, "9")
        assert_out_of_fds(caught.value, repr(name))
        # Every DNS lookup thread is held by a lookup that gave up: a name listed in
        # /etc/hosts is still answered, in the local-files thread.
        lookups = system_lookups._system_lookups()
        lookups.abandoned += system_lookups.MAX_SYSTEM_LOOKUPS
        try:
            pairs = await DatagramSocket.get_endpoint_pairs(name, "9")
        finally:
            lookups.abandoned -= system_lookups.MAX_SYSTEM_LOOKUPS
    assert pairs


async def test_a_service_name_out_of_fds_is_not_called_unknown() -> None:
    with trio.fail_after(20), socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        async with StreamSocket() as sock:
            with out_of_fds(), pytest.raises(SocketStatusError, match=FDS) as caught:
                await sock.connect(HostName("127.0.0.1"), "http")
    assert_out_of_fds(caught.value, "'http'", "services database")


async def test_a_dns_lookup_out_of_fds_fails_as_such(dns_server: DnsServerFactory) -> None:
    server = await dns_server(hosts={"a.example.test": "127.0.0.1"})
    with trio.fail_after(20):
        async with StreamSocket(resolver=server.resolver()) as sock:
            with out_of_fds(), pytest.raises(SocketStatusError, match=FDS) as caught:
                await sock.connect(HostName("a.example.test"), "9")
    assert_out_of_fds(caught.value, "'a.example.test'")


async def test_an_srv_lookup_out_of_fds_does_not_call_the_system_configuration_missing() -> None:
    """A default resolver reads resolv.conf on its first SRV lookup; out of descriptors
    it cannot, and dnspython calls that no configuration. Nothing is sent: no socket can
    be made either."""
    with trio.fail_after(20):
        async with StreamSocket() as sock:
            with out_of_fds(), pytest.raises(SocketStatusError, match=FDS) as caught:
                await sock.connect(HostName("svc.example.test"), "stun.example")
    assert_out_of_fds(caught.value, "'stun.example'", "read /etc/resolv.conf")
    assert "no DNS name server" not in str(caught.value)


# -- opening sockets -------------------------------------------------------------------


async def test_a_listener_bind_out_of_fds_fails_as_such_naming_the_address() -> None:
    with trio.fail_after(20):
        async with StreamSocketListener() as listener:
            with out_of_fds(), pytest.raises(SocketStatusError, match=FDS) as caught:
                await listener.bind_endpoint("127.0.0.1", "0")
            assert_out_of_fds(caught.value, "127.0.0.1")
            await listener.bind_endpoint("127.0.0.1", "0")  # works again


@pytest.mark.parametrize("cls", [StreamSocket, DatagramSocket])
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_get_endpoint_pairs_out_of_fds_fails_as_such(
    cls: type[StreamSocket] | type[DatagramSocket], host: str
) -> None:
    """Each address's route is found with a socket: out of descriptors that failed as a
    bare OSError, with no status and nothing said of what was being done."""
    with trio.fail_after(20):
        with out_of_fds(), pytest.raises(SocketStatusError, match=FDS) as caught:
            await cls.get_endpoint_pairs(HostName(host), "80")
        assert_out_of_fds(
            caught.value, f"get_endpoint_pairs: open a socket to find the route to {host}"
        )
        assert await cls.get_endpoint_pairs(HostName(host), "80")  # works again


async def test_a_bind_to_every_address_out_of_fds_names_the_address_it_would_bind() -> None:
    """Out of descriptors, the check for IPv6 took the shortage for a host without it:
    the error named 0.0.0.0 for what binds the dual-stack [::] once descriptors are free."""
    with trio.fail_after(20):
        async with StreamSocketListener() as listener, DatagramSocket() as sock:
            for bind in (listener.bind_service_name, sock.bind_service_name):
                with out_of_fds(), pytest.raises(SocketStatusError, match=FDS) as caught:
                    await bind("0")
                assert_out_of_fds(caught.value, "::")
                assert "0.0.0.0" not in str(caught.value)
            await listener.bind_service_name("0")  # works again


async def _accept_out_of_fds(listener: StreamSocketListener) -> None:
    """Connect to *listener* out of descriptors until three accepts have failed, then
    receive the connection once they are free."""
    information = listener.information
    enough = information.accept_failures + 3
    with socket.socket() as client:
        with out_of_fds():
            client.connect(("127.0.0.1", int(information.local_port)))  # queued in the kernel
            start = trio.current_time()
            await wait_until(lambda: information.accept_failures >= enough)
            elapsed = trio.current_time() - start
        # Retried every 0.1 s, not in a busy loop.
        assert information.accept_failures <= enough + elapsed / 0.1
        args = await listener.connection_received.receive()  # accepted after all
        await args.socket.aclose()


async def test_a_listener_out_of_fds_on_accept_counts_and_logs_it_and_accepts_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The listener waited and accepted again, as now, but nothing said so: a server
    out of descriptors looked like one without clients."""

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "trio_sockets.listener"]

    with trio.fail_after(20):
        async with StreamSocketListener() as listener:
            await listener.bind_endpoint("127.0.0.1", "0")
            information = listener.information
            assert information.accept_failures == 0
            assert information.last_accept_error is None
            for shortage in (1, 2):
                await _accept_out_of_fds(listener)
                error = information.last_accept_error
                assert error is not None
                port = information.local_port
                assert_out_of_fds(error, f"accept on 127.0.0.1:{port}: the process ran out")
                # Logged once per shortage, however many accepts failed.
                assert len(logged()) == shortage
                assert str(error) in logged()[-1]
            assert information.accept_failures >= 6


async def _open_datagram_socket(sock: DatagramSocket, operation: str) -> None:
    if operation == "bind_service_name":
        await sock.bind_service_name("0")
    elif operation == "connect":
        await sock.connect(HostName("127.0.0.1"), "9")
    else:
        await sock.get_output_stream(HostName("127.0.0.1"), "9")


@pytest.mark.parametrize("operation", ["bind_service_name", "connect", "get_output_stream"])
async def test_a_datagram_socket_out_of_fds_fails_as_such(operation: str) -> None:
    with trio.fail_after(20):
        async with DatagramSocket() as sock:
            with out_of_fds(), pytest.raises(SocketStatusError, match=FDS) as caught:
                await _open_datagram_socket(sock, operation)
            assert_out_of_fds(caught.value, "open a socket")
            await sock.bind_service_name("0")  # works again


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.EMFILE, "the process ran out of file descriptors"),
        (errno.ENFILE, "the system ran out of file descriptors"),
        (errno.ENOBUFS, "the system ran out of memory"),
        (errno.ENOMEM, "the system ran out of memory"),
    ],
)
def test_every_shortage_met_while_opening_is_too_many_open_files(code: int, says: str) -> None:
    with pytest.raises(SocketStatusError, match=says) as caught, translating("open", opening=True):
        raise OSError(code, os.strerror(code))
    assert caught.value.status == S.TOO_MANY_OPEN_FILES
    assert caught.value.errno == code


async def test_a_websocket_connect_out_of_fds_cannot_connect() -> None:
    """``WebSocketError.get_status`` of a connection that could not be opened for want of
    a descriptor: ``CANNOT_CONNECT``, as for the other local failures to open one, where
    it was ``UNKNOWN`` (and the WebSocket sample printed "Unknown error")."""
    with trio.fail_after(20), socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        async with MessageWebSocket() as ws:
            with out_of_fds(), pytest.raises(OSError, match=FDS) as caught:
                await ws.connect(f"ws://127.0.0.1:{server.getsockname()[1]}/")
    assert WebSocketError.get_status(caught.value) is WebErrorStatus.CANNOT_CONNECT
    # No peer refused it: the socket status says what happened, as the error's cause.
    assert not isinstance(caught.value, ConnectionRefusedError)
    assert SocketError.get_status(caught.value) is S.TOO_MANY_OPEN_FILES
