"""TLS: protection levels, certificate errors, client certificates, STARTTLS, listeners.

The peers are real: ``openssl s_server`` and ``openssl s_client`` processes, and
trio's own ``SSLStream`` where a test needs a server that does something OpenSSL's test
tools cannot (a STARTTLS greeting, a server that never answers). Certificates come from
trustme.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import ipaddress
import re
import select
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
from chains import ec_key
from conftest import (
    cancel_io_during,
    close_during,
    fill_stream,
    free_tcp_port,
    live_tasks,
    narrow,
    open_fd_count,
    openssl_s_server,
    receive_exactly,
    require_tool,
    wait_until,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from trio_sockets import (
    Certificate,
    ChainValidationResult,
    DataReader,
    DataWriter,
    EndpointPair,
    HostName,
    InputStreamOptions,
    OutputStream,
    SocketError,
    SocketErrorStatus,
    SocketProtectionLevel,
    SocketSslErrorSeverity,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
    WindowsOnlyError,
)
from trio_sockets._core.certificate import MAX_PEM_FILE_BYTES
from trio_sockets._core.checks import shown
from trio_sockets._sockets.listener import _peer_of
from trio_sockets.testing import TlsCertificates

L = SocketProtectionLevel
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tls_client_certificate.py"
C = ChainValidationResult
S = SocketErrorStatus


# -- certificates -----------------------------------------------------------------------


@dataclass
class Pki:
    """The certificates the tests use, also as files for openssl: two throw-away
    authorities (the plugin's :class:`~trio_sockets.testing.TlsCertificates`), one that
    the clients trust and a foreign one."""

    ca_cert: Certificate
    server: Certificate  # localhost, 127.0.0.1, ::1
    client: Certificate
    expired: Certificate  # localhost, expired yesterday
    expired_wrong_name: Certificate  # other.example, expired
    wrong_name: Certificate  # other.example
    foreign_server: Certificate  # localhost, issued by a CA nobody trusts
    foreign_client: Certificate
    files: dict[str, Path]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ours = TlsCertificates(tmp_path_factory.mktemp("pki"))
    foreign = TlsCertificates(tmp_path_factory.mktemp("foreign-pki"))
    now = datetime.datetime.now(datetime.UTC)
    past = {
        "not_before": now - datetime.timedelta(days=30),
        "not_after": now - datetime.timedelta(days=1),
    }
    certificates = {
        "server": ours.server,
        "client": ours.client,
        "expired": ours.issue("localhost", name="expired", **past),
        "expired_wrong_name": ours.issue("other.example", name="expired_wrong_name", **past),
        "wrong_name": ours.issue("other.example", name="wrong_name"),
        "foreign_server": foreign.issue("localhost", "127.0.0.1", name="foreign_server"),
        "foreign_client": foreign.issue("client.example.test", name="foreign_client"),
    }
    files = {"ca": ours.authority_file}
    for name in certificates:
        authority = foreign if name.startswith("foreign") else ours
        files[f"{name}.crt"], files[f"{name}.key"] = authority.files(name)
    return Pki(ca_cert=ours.authority, files=files, **certificates)


def trusting(pki: Pki) -> StreamSocket:
    """A client socket that trusts the test CA (and the system roots)."""
    sock = StreamSocket()
    sock.control.trusted_certificates.append(pki.ca_cert)
    sock.control.tls_handshake_timeout = 10
    return sock


# -- openssl peers ------------------------------------------------------------------------


@asynccontextmanager
async def s_server(pki: Pki, cert: str = "server", *options: str) -> AsyncIterator[int]:
    """``openssl s_server -rev`` (each line comes back reversed) on a free port."""
    files = pki.files
    async with openssl_s_server(files[f"{cert}.crt"], files[f"{cert}.key"], *options) as port:
        yield port


async def s_client(port: int, *options: str, stdin: bytes = b"hello\n") -> bytes:
    """Run ``openssl s_client`` against *port*; its output (the server's bytes)."""
    return (await run_s_client(port, *options, stdin=stdin)).stdout


async def run_s_client(
    port: int, *options: str, stdin: bytes = b"hello\n"
) -> subprocess.CompletedProcess[bytes]:
    """Run ``openssl s_client`` against *port*; its output and its diagnostics."""
    openssl = require_tool("openssl")
    with trio.fail_after(15):
        return await trio.run_process(
            [
                openssl,
                "s_client",
                "-connect",
                f"127.0.0.1:{port}",
                "-servername",
                "localhost",
                "-quiet",
                "-ign_eof",
                *options,
            ],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def reversed_line(sock: StreamSocket, line: bytes = b"hello from trio_sockets\n") -> bytes:
    await sock.send_all(line)
    reader = DataReader(sock.input_stream)
    reader.input_stream_options = InputStreamOptions.PARTIAL
    data = b""
    with trio.fail_after(10):
        while not data.endswith(b"\n"):
            assert await reader.load(256), "the server closed the connection"
            data += reader.read_bytes(reader.unconsumed_buffer_length)
    return data


# -- connecting to openssl s_server ---------------------------------------------------------


async def test_tls_connect_to_openssl_s_server(pki: Pki) -> None:
    async with s_server(pki) as port, trusting(pki) as sock:
        await sock.connect(HostName("localhost"), str(port), L.SSL)
        info = sock.information
        assert info.protection_level == L.TLS13
        assert info.server_certificate == pki.server
        assert "localhost" in info.server_certificate.dns_names
        assert info.server_certificate_errors == []
        assert info.server_certificate_error_severity == SocketSslErrorSeverity.NONE
        assert info.peer_certificate == pki.server
        assert await reversed_line(sock) == b"stekcos_oirt morf olleh\n"


async def test_batched_writes_leave_through_tls_in_order(pki: Pki) -> None:
    async with s_server(pki) as port, trusting(pki) as sock:
        await sock.connect(HostName("127.0.0.1"), str(port), L.TLS13)
        operations = [sock.output_stream.write(b"%d," % i) for i in range(1000)]
        sock.output_stream.write(b"\n")
        await sock.output_stream.flush()
        assert all(op.done for op in operations)
        expected = b",".join(b"%d" % i for i in range(1000)) + b","
        assert await reversed_line(sock, b"") == expected[::-1] + b"\n"


@pytest.mark.parametrize(
    ("level", "flag"),
    [(L.TLS10, "-tls1"), (L.TLS11, "-tls1_1"), (L.TLS12, "-tls1_2"), (L.TLS13, "-tls1_3")],
)
async def test_each_pinned_version(pki: Pki, level: SocketProtectionLevel, flag: str) -> None:
    # TLS 1.0 and 1.1 need OpenSSL security level 0 (their SHA-1 handshake signatures);
    # the server must allow them too.
    legacy = ["-cipher", "DEFAULT:@SECLEVEL=0"] if level in (L.TLS10, L.TLS11) else []
    async with s_server(pki, "server", flag, *legacy) as port, trusting(pki) as sock:
        await sock.connect(HostName("localhost"), str(port), level)
        assert sock.information.protection_level == level
        assert await reversed_line(sock, b"abc\n") == b"cba\n"


async def test_a_pinned_version_the_server_lacks_is_a_classified_failure(pki: Pki) -> None:
    async with s_server(pki, "server", "-tls1_3") as port, trusting(pki) as sock:
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("localhost"), str(port), L.TLS12)
        assert caught.value.status in (
            S.SOFTWARE_CAUSED_CONNECTION_ABORT,
            S.CONNECTION_RESET_BY_PEER,
        )
        assert "TLS" in str(caught.value)
        # The socket is still usable: the best common version works.
        await sock.connect(HostName("localhost"), str(port), L.SSL)
        assert sock.information.protection_level == L.TLS13


async def test_min_protection_level_refuses_an_older_server(pki: Pki) -> None:
    async with s_server(pki, "server", "-tls1_2") as port, trusting(pki) as sock:
        sock.control.min_protection_level = L.TLS13
        with pytest.raises(SocketStatusError):
            await sock.connect(HostName("localhost"), str(port), L.SSL)
        with pytest.raises(ValueError, match=r"below control\.min_protection_level"):
            await sock.connect(HostName("localhost"), str(port), L.TLS12)


# -- certificate errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cert", "host", "status", "errors"),
    [
        ("foreign_server", "localhost", S.CERTIFICATE_UNTRUSTED_ROOT, [C.UNTRUSTED]),
        ("expired", "localhost", S.CERTIFICATE_EXPIRED, [C.EXPIRED]),
        ("wrong_name", "localhost", S.CERTIFICATE_COMMON_NAME_IS_INCORRECT, [C.INVALID_NAME]),
        (
            "expired_wrong_name",
            "localhost",
            S.CERTIFICATE_COMMON_NAME_IS_INCORRECT,
            [C.EXPIRED, C.INVALID_NAME],
        ),
    ],
)
async def test_certificate_errors_are_classified_and_readable(
    pki: Pki, cert: str, host: str, status: SocketErrorStatus, errors: list[ChainValidationResult]
) -> None:
    fds = open_fd_count()
    async with s_server(pki, cert) as port, trusting(pki) as sock:
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName(host), str(port), L.SSL)
        assert caught.value.status == status
        assert SocketError.get_status(caught.value) == status
        info = sock.information
        assert info.server_certificate_errors == errors
        assert info.server_certificate_error_severity == SocketSslErrorSeverity.IGNORABLE
        assert info.server_certificate == getattr(pki, cert)
        assert info.protection_level == L.PLAIN_SOCKET
        assert ", ".join(e.name for e in errors) in str(caught.value)
    assert open_fd_count() == fds


async def test_an_ip_address_is_checked_against_ip_entries(pki: Pki) -> None:
    async with s_server(pki, "wrong_name") as port, trusting(pki) as sock:
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("127.0.0.1"), str(port), L.SSL)
        assert caught.value.status == S.CERTIFICATE_COMMON_NAME_IS_INCORRECT
        assert sock.information.server_certificate_errors == [C.INVALID_NAME]


async def test_the_winrt_retry_pattern_on_one_socket(pki: Pki) -> None:
    """Connect fails, inspect the errors, mark them ignorable, connect again."""
    async with s_server(pki, "expired_wrong_name") as port, trusting(pki) as sock:
        with pytest.raises(SocketStatusError):
            await sock.connect(HostName("localhost"), str(port), L.TLS12)
        info = sock.information
        assert info.server_certificate_error_severity == SocketSslErrorSeverity.IGNORABLE
        sock.control.ignorable_server_certificate_errors.update(info.server_certificate_errors)
        await sock.connect(HostName("localhost"), str(port), L.TLS12)
        assert info.protection_level == L.TLS12
        # The errors that were let through stay readable.
        assert info.server_certificate_errors == [C.EXPIRED, C.INVALID_NAME]
        assert await reversed_line(sock, b"retry\n") == b"yrter\n"


async def test_ignoring_one_error_does_not_ignore_another(pki: Pki) -> None:
    async with s_server(pki, "expired_wrong_name") as port:
        async with trusting(pki) as sock:
            sock.control.ignorable_server_certificate_errors.add(C.INVALID_NAME)
            with pytest.raises(SocketStatusError) as caught:
                await sock.connect(HostName("localhost"), str(port), L.SSL)
            assert caught.value.status == S.CERTIFICATE_EXPIRED
        async with trusting(pki) as sock:
            sock.control.ignorable_server_certificate_errors.add(C.EXPIRED)
            with pytest.raises(SocketStatusError) as caught:
                await sock.connect(HostName("localhost"), str(port), L.SSL)
            assert caught.value.status == S.CERTIFICATE_COMMON_NAME_IS_INCORRECT


async def test_ignoring_untrusted_still_checks_name_and_dates(pki: Pki) -> None:
    async with s_server(pki, "foreign_server") as port, StreamSocket() as sock:
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("localhost"), str(port), L.SSL)
        assert caught.value.status == S.CERTIFICATE_UNTRUSTED_ROOT
        sock.control.ignorable_server_certificate_errors.add(C.UNTRUSTED)
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("other.example.invalid"), str(port), L.SSL)
        assert caught.value.status == S.HOST_NOT_FOUND  # a name that does not resolve
        await sock.connect(HostName("localhost"), str(port), L.SSL)
        assert sock.information.server_certificate_errors == [C.UNTRUSTED]
        assert await reversed_line(sock, b"ok\n") == b"ko\n"

    async with s_server(pki, "expired") as port, StreamSocket() as sock:
        sock.control.ignorable_server_certificate_errors.add(C.UNTRUSTED)
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("localhost"), str(port), L.SSL)
        # The test CA is not trusted here, and the certificate has expired.
        assert caught.value.status == S.CERTIFICATE_EXPIRED
        assert sock.information.server_certificate_errors == [C.UNTRUSTED, C.EXPIRED]

    async with s_server(pki, "wrong_name") as port, StreamSocket() as sock:
        sock.control.ignorable_server_certificate_errors.add(C.UNTRUSTED)
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("localhost"), str(port), L.SSL)
        assert caught.value.status == S.CERTIFICATE_COMMON_NAME_IS_INCORRECT


def test_only_ignorable_errors_can_be_ignored() -> None:
    sock = StreamSocket()
    ignorable = sock.control.ignorable_server_certificate_errors
    for fatal in (C.REVOKED, C.INVALID_SIGNATURE, C.WRONG_USAGE, C.SUCCESS, C.OTHER_ERRORS):
        with pytest.raises(ValueError, match=fatal.name):
            ignorable.add(fatal)
    with pytest.raises(TypeError, match="ChainValidationResult"):
        ignorable.add(7)  # type: ignore[arg-type]
    ignorable |= {C.EXPIRED}
    assert list(ignorable) == [C.EXPIRED]
    sock.control.ignorable_server_certificate_errors = {C.INVALID_NAME, C.UNTRUSTED}
    assert list(sock.control.ignorable_server_certificate_errors) == [C.UNTRUSTED, C.INVALID_NAME]


# -- client certificates -------------------------------------------------------------------


async def test_a_required_client_certificate_is_presented_and_accepted(pki: Pki) -> None:
    options = ("-CAfile", str(pki.files["ca"]), "-Verify", "1", "-verify_return_error")
    async with s_server(pki, "server", *options) as port, trusting(pki) as sock:
        sock.control.client_certificate = pki.client
        await sock.connect(HostName("localhost"), str(port), L.TLS13)
        assert await reversed_line(sock, b"with a client certificate\n") == (
            b"etacifitrec tneilc a htiw\n"
        )


async def test_a_refused_client_certificate_reaches_the_caller_tls13(pki: Pki) -> None:
    """TLS 1.3 reports the refusal after the handshake: on the first read."""
    options = ("-CAfile", str(pki.files["ca"]), "-Verify", "1", "-verify_return_error")
    async with s_server(pki, "server", *options) as port:
        for client in (None, pki.foreign_client):
            async with trusting(pki) as sock:
                sock.control.client_certificate = client
                await sock.connect(HostName("localhost"), str(port), L.TLS13)
                with pytest.raises(SocketStatusError) as caught, trio.fail_after(10):
                    await reversed_line(sock, b"hello\n")
                assert caught.value.status == S.CERTIFICATE_IS_INVALID
                assert isinstance(caught.value, trio.BrokenResourceError)
                expected = "requires a client certificate" if client is None else "trust"
                assert expected in str(caught.value)


@asynccontextmanager
async def abrupt_tls_server(pki: Pki) -> AsyncIterator[int]:
    """A Python ``ssl`` server, in a thread, that requires a client certificate and on
    a failed handshake closes at once with a reset (``SO_LINGER`` 0), as a server that
    leaves the client's last bytes unread does. Yields the port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.files["server.crt"], pki.files["server.key"])
    context.load_verify_locations(pki.files["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    listen = socket.create_server(("127.0.0.1", 0))
    listen.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listen.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            try:
                with context.wrap_socket(conn, server_side=True) as secure:
                    secure.recv(1)
            except OSError:  # the refused handshake (ssl.SSLError) and its aftermath
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listen.getsockname()[1]
    finally:
        stop.set()
        await trio.to_thread.run_sync(thread.join, 10)
        listen.close()


async def test_a_tls13_refusal_with_a_reset_is_still_reported_on_the_first_read(
    pki: Pki,
) -> None:
    """The server resets the connection right after refusing the (missing) client
    certificate, often before connect() has returned. connect() must not ask the kernel
    for an address the reset took away (getpeername: ENOTCONN); the first read reports
    the refusal from the alert the server sent before the reset, and so does a first
    write that meets the reset."""

    async def busy_neighbour() -> None:
        # A task that holds the event loop for a few milliseconds per turn widens the
        # window in which the reset arrives while connect() is finishing.
        while True:
            time.sleep(0.003)  # noqa: ASYNC251 - blocking the loop is the point
            await trio.lowlevel.checkpoint()

    async def write_then_read(sock: StreamSocket) -> None:
        await sock.send_all(b"hello\n")
        await sock.receive_some()

    async with abrupt_tls_server(pki) as port, trio.open_nursery() as nursery:
        nursery.start_soon(busy_neighbour)
        with trio.fail_after(60):
            for attempt in range(40):
                async with trusting(pki) as sock:
                    await sock.connect(HostName("localhost"), str(port), L.TLS13)
                    assert sock.information.remote_port == str(port)
                    first_use = write_then_read if attempt % 2 else StreamSocket.receive_some
                    with pytest.raises(SocketStatusError) as caught:
                        await first_use(sock)
                    assert caught.value.status == S.CERTIFICATE_IS_INVALID
                    assert "requires a client certificate" in str(caught.value)
        nursery.cancel_scope.cancel()


async def test_a_refused_client_certificate_fails_the_tls12_handshake(pki: Pki) -> None:
    """TLS 1.2 has no certificate_required alert: the refusal is a handshake_failure
    alert after the server's certificate, which is CERTIFICATE_IS_INVALID (the same
    alert before it, "no shared cipher", is not)."""
    options = ("-CAfile", str(pki.files["ca"]), "-Verify", "1", "-verify_return_error")
    async with s_server(pki, "server", *options) as port, trusting(pki) as sock:
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("localhost"), str(port), L.TLS12)
        assert caught.value.status == S.CERTIFICATE_IS_INVALID
        assert "refused our client certificate, or its absence" in str(caught.value)
        sock.control.client_certificate = pki.client
        await sock.connect(HostName("localhost"), str(port), L.TLS12)
        assert await reversed_line(sock, b"12\n") == b"21\n"


# -- the TLS listener, against openssl s_client ----------------------------------------------


@asynccontextmanager
async def tls_listener(
    pki: Pki, *, require_client: bool = False, level: SocketProtectionLevel = L.SSL
) -> AsyncIterator[StreamSocketListener]:
    """A TLS listener on 127.0.0.1 answering each line with ``echo: <line>``, then closing."""
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        listener.control.tls_handshake_timeout = 5
        if require_client:
            listener.control.client_certificate_required = True
            listener.control.trusted_certificates = [pki.ca_cert]
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", level)

        async def serve() -> None:
            async for args in listener.connection_received:
                async with args.socket as conn:
                    line = await reversed_line_server(conn)
                    peer = conn.information.peer_certificate
                    who = peer.subject.encode() if peer is not None else b"anonymous"
                    await conn.send_all(b"echo from " + who + b": " + line)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            yield listener
            nursery.cancel_scope.cancel()


async def reversed_line_server(conn: StreamSocket) -> bytes:
    data = b""
    with trio.fail_after(10):
        while not data.endswith(b"\n"):
            chunk = await conn.receive_some()
            if not chunk:
                break
            data += chunk
    return data


async def test_openssl_s_client_talks_to_a_tls_listener(pki: Pki) -> None:
    async with tls_listener(pki) as listener:
        port = int(listener.information.local_port)
        assert listener.information.protection_level == L.SSL
        out = await s_client(port, "-CAfile", str(pki.files["ca"]), "-verify_return_error")
        assert out == b"echo from anonymous: hello\n"


async def test_a_tls_listener_requiring_client_certificates(pki: Pki) -> None:
    async with tls_listener(pki, require_client=True) as listener:
        port = int(listener.information.local_port)
        ca = ("-CAfile", str(pki.files["ca"]))
        client = ("-cert", str(pki.files["client.crt"]), "-key", str(pki.files["client.key"]))
        out = await s_client(port, *ca, *client)
        assert out.startswith(b"echo from ")
        assert b"test-client" in out
        assert listener.information.tls_handshake_failures == 0

        # No certificate, and one from a CA the listener does not trust: never delivered.
        await s_client(port, *ca)
        foreign = (
            "-cert",
            str(pki.files["foreign_client.crt"]),
            "-key",
            str(pki.files["foreign_client.key"]),
        )
        await s_client(port, *ca, *foreign)
        await wait_until(lambda: not (listener.information.tls_handshake_failures < 2))
        error = listener.information.last_tls_handshake_error
        assert error is not None
        assert SocketError.get_status(error) == S.CERTIFICATE_UNTRUSTED_ROOT
        assert "client certificate failed verification" in str(error)
        # Trust is fixed once bound: a change is refused, never silently ignored.
        trusted = listener.control.trusted_certificates
        for change in (
            lambda: trusted.append(pki.ca_cert),
            lambda: trusted.extend([pki.ca_cert]),
            lambda: trusted.clear(),
            lambda: trusted.__setitem__(0, pki.ca_cert),
            lambda: trusted.__iadd__([pki.ca_cert]),
            lambda: setattr(listener.control, "trusted_certificates", [pki.ca_cert]),
        ):
            with pytest.raises(RuntimeError, match=r"^trusted_certificates must be set before"):
                change()
        assert trusted == [pki.ca_cert]
        # It goes on serving.
        assert b"test-client" in await s_client(port, *ca, *client)


async def test_a_refused_renegotiation_is_the_peer_ending_the_connection(pki: Pki) -> None:
    """``openssl s_client``'s ``R`` command renegotiates; the listener's OpenSSL refuses
    client-initiated renegotiation, and the client then ends the connection with a
    handshake_failure alert. After the handshake that alert is not "no shared cipher"
    but the peer ending an established connection."""
    openssl = require_tool("openssl")
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.TLS12)
        port = listener.information.local_port
        command = [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2"]
        command += ["-CAfile", str(pki.files["ca"])]
        with trio.fail_after(15):
            client = await trio.lowlevel.open_process(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
            )
            assert client.stdin is not None
            try:
                args = await listener.connection_received.receive()
                async with args.socket as conn:
                    await client.stdin.send_all(b"hi\n")
                    assert await conn.input_stream.read(3) == b"hi\n"
                    await client.stdin.send_all(b"R\n")  # a line of its own: the command
                    with pytest.raises(SocketStatusError) as caught:
                        await conn.input_stream.read(1)
            finally:
                client.kill()
                await client.wait()
                await client.stdin.aclose()
    assert caught.value.status == S.CONNECTION_RESET_BY_PEER
    message = str(caught.value)
    assert "the peer ended the established connection over a failed new handshake" in message
    assert "share no TLS version or cipher" not in message


@pytest.mark.parametrize(
    "checked_here", [False, True], ids=["openssl-verifies", "untrusted-ignored"]
)
async def test_a_server_cannot_renegotiate_to_a_certificate_nobody_checks(
    pki: Pki, checked_here: bool
) -> None:
    """``openssl s_server``'s ``r`` command renegotiates (TLS 1.2): a new handshake that
    could bring another certificate, one no check would see when trio_sockets verifies
    the chain itself (``UNTRUSTED`` ignorable). The client refuses it, so nothing the
    server sends after it is read as if the first certificate still vouched for it."""
    openssl = require_tool("openssl")
    port = free_tcp_port()
    command = [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-tls1_2"]
    command += ["-cert", str(pki.files["server.crt"]), "-key", str(pki.files["server.key"])]
    server = await trio.lowlevel.open_process(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert server.stdin is not None
    assert server.stdout is not None
    sock = trusting(pki)
    if checked_here:
        sock.control.ignorable_server_certificate_errors.add(C.UNTRUSTED)
    caught: SocketStatusError | None = None
    try:
        with trio.fail_after(15):
            output = b""
            while b"ACCEPT" not in output:
                chunk = await server.stdout.receive_some()
                assert chunk, f"openssl s_server ended: {output.decode(errors='replace')}"
                output += chunk
            async with sock, trio.open_nursery() as nursery:
                await sock.connect(HostName("localhost"), str(port), L.TLS12)
                await server.stdin.send_all(b"first\n")
                assert await receive_exactly(sock, 6) == b"first\n"
                await server.stdin.send_all(b"r\n")  # a line of its own: the command

                async def send_after_renegotiating() -> None:
                    await trio.sleep(1)  # only a client that went along still reads then
                    await server.stdin.send_all(b"after\n")  # type: ignore[union-attr]

                nursery.start_soon(send_after_renegotiating)
                try:
                    got = await sock.input_stream.read(6)
                except SocketStatusError as exc:
                    caught = exc
                else:
                    pytest.fail(f"read {got!r} after the server renegotiated")
                nursery.cancel_scope.cancel()
    finally:
        server.kill()
        await server.wait()
        await server.stdin.aclose()
        await server.stdout.aclose()
    assert caught is not None
    assert caught.status == S.CONNECTION_RESET_BY_PEER
    assert "a renegotiation, which trio_sockets refuses" in str(caught)


async def test_tls_listener_and_client_in_one_process(pki: Pki) -> None:
    async with (
        tls_listener(pki, require_client=True, level=L.TLS12) as listener,
        trusting(pki) as sock,
    ):
        if True:
            sock.control.client_certificate = pki.client
            await sock.connect(HostName("localhost"), listener.information.local_port, L.SSL)
            assert sock.information.protection_level == L.TLS12
            await sock.send_all(b"hi\n")
            reply = await reversed_line_server(sock)
            assert reply.startswith(b"echo from ")
            assert reply.endswith(b": hi\n")
            assert b"test-client" in reply


def python_ssl_client(pki: Pki, port: int, version: ssl.TLSVersion) -> str:
    """A blocking Python ``ssl`` client without a certificate: the reason of the
    SSLError that ends its handshake or its first read ("" at a plain end of stream)."""
    context = ssl.create_default_context(cafile=pki.files["ca"])
    context.maximum_version = version
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.recv(100)
    except ssl.SSLError as exc:
        return str(exc.reason)
    return ""


async def test_a_tls_listener_tells_the_client_why_it_refuses(pki: Pki) -> None:
    """The alert OpenSSL writes when the listener refuses a handshake reaches the
    client: "certificate required" (116) under TLS 1.3, handshake_failure (40) under
    TLS 1.2, "unknown CA" (48) for a certificate from a foreign authority."""
    ca = ("-CAfile", str(pki.files["ca"]))
    foreign = (
        "-cert",
        str(pki.files["foreign_client.crt"]),
        "-key",
        str(pki.files["foreign_client.key"]),
    )
    async with tls_listener(pki, require_client=True) as listener:
        port = int(listener.information.local_port)
        for options, alert in (
            (("-tls1_3",), "alert number 116"),
            (("-tls1_2",), "alert number 40"),
            (("-tls1_3", *foreign), "alert number 48"),
        ):
            result = await run_s_client(port, *ca, *options)
            assert alert in result.stderr.decode(errors="replace"), options

        for version, reason in (
            (ssl.TLSVersion.TLSv1_3, "TLSV13_ALERT_CERTIFICATE_REQUIRED"),
            (ssl.TLSVersion.TLSv1_2, "SSLV3_ALERT_HANDSHAKE_FAILURE"),
        ):
            with trio.fail_after(15):
                got = await trio.to_thread.run_sync(python_ssl_client, pki, port, version)
            assert got == reason

        # And this library's client classifies both as a refusal of its certificate.
        async with trusting(pki) as sock:
            await sock.connect(HostName("localhost"), str(port), L.TLS13)
            with pytest.raises(SocketStatusError) as caught, trio.fail_after(10):
                await sock.receive_some()
            assert caught.value.status == S.CERTIFICATE_IS_INVALID
            assert "requires a client certificate" in str(caught.value)
        async with trusting(pki) as sock:
            with pytest.raises(SocketStatusError) as caught:
                await sock.connect(HostName("localhost"), str(port), L.TLS12)
            assert caught.value.status == S.CERTIFICATE_IS_INVALID
        await wait_until(lambda: not (listener.information.tls_handshake_failures < 7))


async def test_a_client_that_refuses_the_server_certificate_says_why(pki: Pki) -> None:
    """The client's alert reaches the server too: "unknown CA" for a certificate from
    an authority the client does not trust, instead of a silent end of stream."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.files["foreign_server.crt"], pki.files["foreign_server.key"])
    reasons: list[str] = []

    async def handle(stream: trio.SocketStream) -> None:
        secure = trio.SSLStream(stream, context, server_side=True)
        with trio.fail_after(10):
            try:
                await secure.do_handshake()
            except trio.BrokenResourceError as exc:
                reasons.append(str(getattr(exc.__cause__, "reason", exc.__cause__)))

    async with raw_server(handle) as port, trusting(pki) as sock:
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("localhost"), str(port), L.TLS13)
        assert caught.value.status == S.CERTIFICATE_UNTRUSTED_ROOT
        await wait_until(lambda: bool(reasons))
    assert reasons == ["TLSV1_ALERT_UNKNOWN_CA"]


async def test_trio_serve_listeners_with_a_tls_listener(pki: Pki) -> None:
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.TLS13)

        async def handler(conn: StreamSocket) -> None:
            async with conn:
                await conn.send_all(await conn.receive_some())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, handler, [listener])
            async with trusting(pki) as sock:
                await sock.connect(HostName("localhost"), listener.information.local_port, L.SSL)
                await sock.send_all(b"served")
                assert await sock.receive_some() == b"served"
            nursery.cancel_scope.cancel()


async def test_a_tls_listener_needs_a_server_certificate_with_its_key(pki: Pki) -> None:
    async with StreamSocketListener() as listener:
        with pytest.raises(ValueError, match="server_certificate"):
            await listener.bind_service_name("0", L.TLS12)
        with pytest.raises(ValueError, match="no private key"):
            listener.control.server_certificate = pki.ca_cert
        listener.control.server_certificate = pki.server
        await listener.bind_service_name("0", L.TLS12)
        with pytest.raises(RuntimeError, match="before the listener is bound"):
            listener.control.client_certificate_required = True


def self_signed_builder(key: Any, common_name: str) -> x509.CertificateBuilder:
    """A certificate for *key*, issued by itself to *common_name*, valid for a day."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )


async def test_an_rsa_pss_certificate_is_served_and_presented(tmp_path: Path) -> None:
    """A certificate with an RSA-PSS key (id-RSASSA-PSS, as ``openssl genpkey
    -algorithm RSA-PSS`` makes) serves a TLS listener and is presented as a client
    certificate: its key goes to OpenSSL as it was given (encoded again by cryptography
    it became a plain RSA key, which OpenSSL did not match to the certificate)."""
    openssl = require_tool("openssl")
    for command in (
        ["genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "k.pem"],
        ["req", "-x509", "-new", "-key", "k.pem", "-subj", "/CN=localhost", "-days", "2",
         "-addext", "subjectAltName=DNS:localhost", "-out", "c.pem"],
    ):  # fmt: skip
        await trio.run_process(
            [openssl, *command], cwd=tmp_path, capture_stdout=True, capture_stderr=True
        )
    certificate = Certificate.from_pem_file(tmp_path / "c.pem", tmp_path / "k.pem")
    with trio.fail_after(20):
        async with StreamSocketListener() as listener:
            listener.control.server_certificate = certificate
            listener.control.trusted_certificates.append(certificate)
            listener.control.client_certificate_required = True
            await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.TLS13)
            async with StreamSocket() as client:
                client.control.trusted_certificates.append(certificate)
                client.control.client_certificate = certificate
                port = listener.information.local_port
                await client.connect(HostName("localhost"), port, L.TLS13)
                accepted = (await listener.connection_received.receive()).socket
                async with accepted:
                    await client.output_stream.write(b"pss")
                    assert await receive_exactly(accepted, 3) == b"pss"


async def test_an_own_certificate_openssl_refuses_is_a_value_error_naming_it() -> None:
    """A server or client certificate whose key OpenSSL's security level refuses
    (RSA-1024): ``ValueError`` naming the setting and OpenSSL's reason, not a bare
    ``ssl.SSLError`` with status ``UNKNOWN``."""
    key = rsa.generate_private_key(65537, 1024)
    weak = self_signed_builder(key, "localhost").sign(key, hashes.SHA256())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certificate = Certificate.from_pem(weak.public_bytes(serialization.Encoding.PEM), pem)
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = certificate
        with pytest.raises(ValueError, match=r"server_certificate .*CN=localhost.*KEY_TOO_SMALL"):
            await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.TLS12)
        async with StreamSocketListener() as plain, StreamSocket() as client:
            await plain.bind_endpoint(HostName("127.0.0.1"), "0")
            client.control.client_certificate = certificate
            with pytest.raises(ValueError, match=r"client_certificate .*KEY_TOO_SMALL"):
                await client.connect(HostName("127.0.0.1"), plain.information.local_port, L.TLS12)


async def test_garbage_instead_of_a_handshake_is_classified(pki: Pki) -> None:
    async with tls_listener(pki) as listener:
        port = int(listener.information.local_port)
        # A client that speaks HTTP to a TLS listener: a counted failure, not a hang.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
            await wait_until(lambda: not (listener.information.tls_handshake_failures < 1))
        error = listener.information.last_tls_handshake_error
        assert error is not None
        assert SocketError.get_status(error) == S.HTTP_INVALID_SERVER_RESPONSE

    # A server that answers a ClientHello with plain text.
    async with plain_server(b"HTTP/1.1 400 Bad Request\r\n\r\n") as port, trusting(pki) as sock:
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("localhost"), str(port), L.SSL)
        assert caught.value.status == S.HTTP_INVALID_SERVER_RESPONSE
        assert "does not speak TLS" in str(caught.value)


def oversized_server(pki: Pki) -> ssl.SSLContext:
    """A TLS server whose Certificate message is over OpenSSL's 100 KiB limit: its
    certificate, then an unrelated one with 110 kB of extension."""
    key = ec_key(9)
    filler = (
        self_signed_builder(key, "filler")
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.55555.2"), b"F" * 110_000
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with_chain_files(context, pki.files["server.crt"], pki.files["server.key"], [filler])
    return context


def with_chain_files(
    context: ssl.SSLContext, cert: Path, key: Path, extra: list[x509.Certificate]
) -> None:
    with tempfile.TemporaryDirectory(prefix="oversized-") as directory:
        chain = Path(directory, "chain.pem")
        pems = [c.public_bytes(serialization.Encoding.PEM) for c in extra]
        chain.write_bytes(cert.read_bytes() + b"".join(pems))
        context.load_cert_chain(chain, key)


async def test_an_oversized_handshake_message_is_our_refusal_not_the_peer_ending(
    pki: Pki,
) -> None:
    """Our OpenSSL refuses a server Certificate message over its limit (and tells the
    server so); the server did not end the connection, and the failure says what it was."""
    context = oversized_server(pki)

    async def handle(stream: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            await trio.SSLStream(stream, context, server_side=True).do_handshake()
        await trio.sleep(5)  # still connected

    async with raw_server(handle) as port, trusting(pki) as sock:
        with trio.fail_after(10), pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("127.0.0.1"), str(port), L.TLS13)
    assert caught.value.status == S.HTTP_INVALID_SERVER_RESPONSE
    assert "over OpenSSL's size limit" in str(caught.value)
    assert "EXCESSIVE_MESSAGE_SIZE" in str(caught.value)
    assert "ended the connection" not in str(caught.value)


async def test_a_corrupted_record_is_an_integrity_failure(pki: Pki) -> None:
    """A record that fails its integrity check on an established session was corrupted
    or tampered with: not a peer that "does not speak TLS"."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.files["server.crt"], pki.files["server.key"])

    async def handle(stream: trio.SocketStream) -> None:
        await trio.SSLStream(stream, context, server_side=True).do_handshake()
        await stream.send_all(b"\x17\x03\x03\x00\x40" + bytes(64))  # not what was encrypted
        await trio.sleep(5)

    async with raw_server(handle) as port, trusting(pki) as sock:
        with trio.fail_after(10):
            await sock.connect(HostName("127.0.0.1"), str(port), L.TLS13)
            with pytest.raises(SocketStatusError) as caught:
                await sock.receive_some()
    assert caught.value.status == S.HTTP_INVALID_SERVER_RESPONSE
    assert "failed its integrity check (corrupted or tampered with" in str(caught.value)
    assert "does not speak TLS" not in str(caught.value)


async def test_a_plain_connect_does_not_report_an_earlier_servers_certificate(
    pki: Pki,
) -> None:
    """After a failed TLS connect, a plain connect on the same socket reports no
    server certificate, errors or level of the earlier server."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.files["foreign_server.crt"], pki.files["foreign_server.key"])

    async def handle(stream: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            await trio.SSLStream(stream, context, server_side=True).do_handshake()

    async with raw_server(handle) as tls_port, plain_server(b"plain\n") as plain_port:
        sock = trusting(pki)
        async with sock:
            with trio.fail_after(10):
                with pytest.raises(SocketStatusError):
                    await sock.connect(HostName("localhost"), str(tls_port), L.SSL)
                assert sock.information.server_certificate_errors == [C.UNTRUSTED]
                await sock.connect(HostName("127.0.0.1"), str(plain_port))
                assert await sock.receive_some() == b"plain\n"
            info = sock.information
            assert info.server_certificate is None
            assert info.server_intermediate_certificates == []
            assert info.server_certificate_errors == []
            assert info.server_certificate_error_severity == SocketSslErrorSeverity.NONE
            assert info.peer_certificate is None
            assert info.protection_level == L.PLAIN_SOCKET


@asynccontextmanager
async def raw_server(
    handle: Callable[[trio.SocketStream], Awaitable[None]],
) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 written with trio alone: *handle* serves each client
    in turn (then it is closed). Yields the port."""
    listen = trio.socket.socket()
    await listen.bind(("127.0.0.1", 0))
    listen.listen()

    async def serve() -> None:
        while True:
            raw, _ = await listen.accept()
            async with trio.SocketStream(raw) as stream:
                await handle(stream)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        try:
            yield listen.getsockname()[1]
        finally:
            nursery.cancel_scope.cancel()
            listen.close()


def plain_server(greeting: bytes | None) -> AbstractAsyncContextManager[int]:
    """A plain TCP server that sends *greeting* to each client (None: says nothing)."""

    async def handle(stream: trio.SocketStream) -> None:
        if greeting is not None:
            await stream.send_all(greeting)
        await trio.sleep_forever()

    return raw_server(handle)


# -- handshake timeout, cancellation, leaks -------------------------------------------------


async def test_a_handshake_timeout_stops_a_silent_peer(pki: Pki) -> None:
    fds = open_fd_count()
    async with plain_server(None) as port, trusting(pki) as sock:
        sock.control.tls_handshake_timeout = 0.3
        start = trio.current_time()
        with pytest.raises(SocketStatusError) as caught:
            await sock.connect(HostName("localhost"), str(port), L.SSL)
        elapsed = trio.current_time() - start
        assert caught.value.status == S.CONNECTION_TIMED_OUT
        assert isinstance(caught.value, TimeoutError)
        assert "tls_handshake_timeout=0.3" in str(caught.value)
        assert 0.25 <= elapsed < 2
    async with plain_server(None) as port, trusting(pki) as sock:
        # connect_timeout bounds the handshake too, and names itself when it is shorter.
        sock.control.tls_handshake_timeout = None
        sock.control.connect_timeout = 0.2
        with pytest.raises(SocketStatusError, match=r"connect_timeout=0\.2"):
            await sock.connect(HostName("localhost"), str(port), L.SSL)
    assert open_fd_count() == fds


async def test_a_tls_listener_drops_a_client_that_never_handshakes(pki: Pki) -> None:
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        listener.control.tls_handshake_timeout = 0.2
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        port = int(listener.information.local_port)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            await wait_until(lambda: not (listener.information.tls_handshake_failures < 1))
        error = listener.information.last_tls_handshake_error
        assert error is not None
        assert SocketError.get_status(error) == S.CONNECTION_TIMED_OUT


def idle_connections(port: int, sources: list[str], each: int) -> list[socket.socket]:
    """*each* TCP connections to *port* from every source address, that never speak."""
    return [
        socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
        for source in sources
        for _ in range(each)
    ]


async def connect_from(pki: Pki, source: str, port: int) -> float:
    """A TLS connect to 127.0.0.1 from *source* that exchanges a line; its seconds."""
    start = trio.current_time()
    async with trusting(pki) as sock:
        await sock.connect(EndpointPair(source, "", "127.0.0.1", str(port)), L.SSL)
        await sock.send_all(b"real\n")
        assert (await reversed_line_server(sock)).endswith(b": real\n")
    return trio.current_time() - start


async def test_one_address_cannot_take_every_handshake_slot(pki: Pki) -> None:
    """100 idle connections from one address hold at most 8 of the 64 handshake
    slots (the rest are refused at once): a client from another address completes its
    handshake at once, not when the idle ones time out (no hello timeout here, and a
    60 s handshake timeout)."""
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        listener.control.tls_hello_timeout = None
        assert listener.control.tls_handshake_timeout == 60
        assert listener.control.max_tls_handshakes_per_address == 8
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        port = int(listener.information.local_port)
        attacker = idle_connections(port, ["127.0.0.1"], 100)
        try:
            await wait_until(lambda: not (listener.information.tls_handshake_failures < 92))
            error = listener.information.last_tls_handshake_error
            assert error is not None
            assert SocketError.get_status(error) == S.CONNECTION_REFUSED
            assert "max_tls_handshakes_per_address=8" in str(error)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve_one, listener)
                with trio.fail_after(10):
                    assert await connect_from(pki, "127.0.0.2", port) < 5
            assert listener.information.tls_handshake_failures == 92
        finally:
            for raw in attacker:
                raw.close()
        # Once its connections are gone, the address has its slots back.
        await wait_until(lambda: not listener._handshakes_by_peer)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_one, listener)
            with trio.fail_after(10):
                await connect_from(pki, "127.0.0.1", port)


async def serve_one(listener: StreamSocketListener) -> None:
    """Answer one line of one connection with ``echo: <line>``."""
    async with await listener.accept() as conn:
        await conn.send_all(b"echo: " + await reversed_line_server(conn))


def client_hello() -> bytes:
    """A whole TLS 1.3 ClientHello, as Python's ssl sends it first."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    outgoing = ssl.MemoryBIO()
    client = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


#: What an idle connection sends before it stalls, and the failure the listener counts.
IDLE_SENDS: dict[str, tuple[Callable[[], bytes], str]] = {
    "silent": (lambda: b"", "no complete ClientHello within control.tls_hello_timeout=0.5 s"),
    "record header": (
        lambda: b"\x16\x03\x01\x00\xf8",
        "no complete ClientHello within control.tls_hello_timeout=0.5 s",
    ),
    "ClientHello": (
        client_hello,
        "the client did not go on with its handshake within control.tls_hello_timeout=0.5 s "
        "of the server's answer",
    ),
}


@pytest.mark.parametrize("sent", sorted(IDLE_SENDS))
async def test_idle_connections_lose_their_slot_after_the_hello_timeout(
    pki: Pki, sent: str
) -> None:
    """64 idle connections from 8 addresses take every handshake slot; each is
    closed when tls_hello_timeout passes without a whole ClientHello (no byte of it,
    or only the header of its record), or, after a whole ClientHello, without the rest
    of the client's handshake, so a real client waits that long, not the 60 s
    handshake timeout."""
    make, message = IDLE_SENDS[sent]
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        listener.control.tls_hello_timeout = 0.5
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        port = int(listener.information.local_port)
        sources = [f"127.0.0.{n}" for n in range(2, 10)]
        attacker = idle_connections(port, sources, 8)
        for raw in attacker:
            raw.sendall(make())
        try:
            await wait_until(lambda: listener._handshakes.value == 0)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve_one, listener)
                with trio.fail_after(5):
                    await connect_from(pki, "127.0.0.10", port)
            assert listener.information.tls_handshake_failures >= 1
            error = listener.information.last_tls_handshake_error
            assert error is not None
            assert SocketError.get_status(error) == S.CONNECTION_TIMED_OUT
            assert message in str(error)
        finally:
            for raw in attacker:
                raw.close()


async def test_a_tls_listener_stops_accepting_while_connections_wait_unreceived(
    pki: Pki,
) -> None:
    """Handshaken connections that nobody receives hold the accept loop back, as plain
    ones do: at most the channel's 64 and the 64 handshake slots are taken, and the
    clients past them are not served (their handshakes time out), whatever their number."""
    fds = open_fd_count()
    async with StreamSocketListener() as listener, AsyncExitStack() as clients:
        listener.control.server_certificate = pki.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        port = int(listener.information.local_port)
        served = 0

        async def client(number: int) -> None:
            nonlocal served
            sock = await clients.enter_async_context(trusting(pki))
            sock.control.tls_handshake_timeout = 3
            source = f"127.0.1.{number % 200 + 1}"  # under each address's handshake cap
            with contextlib.suppress(OSError):
                await sock.connect(EndpointPair(source, "", "127.0.0.1", str(port)), L.SSL)
                served += 1

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for number in range(160):
                    nursery.start_soon(client, number)
        assert served <= 128
        assert listener.connection_received.statistics().current_buffer_used == 64
        assert listener._handshakes.value == 0  # every slot: handshaken, undelivered
        assert open_fd_count() - fds <= 2 * 160  # both ends of the clients' connections
    assert open_fd_count() == fds


async def test_closing_a_tls_listener_in_its_block_ends_its_handshakes(pki: Pki) -> None:
    """``aclose()`` inside the block closes the connections whose handshake is under
    way at once (here each sent one byte of a ClientHello and stalled), not when the
    handshake timeout ends them."""
    fds, tasks = open_fd_count(), len(live_tasks())
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        port = int(listener.information.local_port)
        stalled = idle_connections(port, ["127.0.0.2"], 4)
        try:
            for raw in stalled:
                raw.sendall(b"\x16")
            await wait_until(lambda: listener._handshakes.value == 60)
            await listener.aclose()
            await trio.testing.wait_all_tasks_blocked()
            assert open_fd_count() - fds == len(stalled)  # the clients' ends only
            assert len(live_tasks()) == tasks
            assert listener.information.tls_handshake_failures == 0  # a close, no failure
            assert repr(listener).endswith("(closed)>")
            with pytest.raises(RuntimeError, match="before the listener is bound"):
                listener.control.no_delay = True
        finally:
            for raw in stalled:
                raw.close()
    assert open_fd_count() == fds


def test_the_handshake_bounds_are_checked_and_fixed_at_bind() -> None:
    control = StreamSocketListener().control
    assert control.tls_hello_timeout == 10
    bad_timeouts = [(0, ValueError), (-1, ValueError), (float("nan"), ValueError)]
    bad_timeouts += [(True, TypeError), ("1", TypeError)]
    for bad, error in bad_timeouts:
        with pytest.raises(error, match="tls_hello_timeout"):
            control.tls_hello_timeout = bad  # type: ignore[assignment]
    bad_counts = [(0, ValueError), (65, ValueError)]
    bad_counts += [(wrong, TypeError) for wrong in (1.5, True, None, "x" * 1000)]
    for bad_count, error in bad_counts:
        with pytest.raises(error, match="max_tls_handshakes_per_address") as caught:
            control.max_tls_handshakes_per_address = bad_count  # type: ignore[assignment]
        assert len(str(caught.value)) < 200
    control.tls_hello_timeout = None
    control.max_tls_handshakes_per_address = 64
    assert (control.tls_hello_timeout, control.max_tls_handshakes_per_address) == (None, 64)


async def test_the_handshake_bounds_cannot_change_once_bound(pki: Pki) -> None:
    async with tls_listener(pki) as listener:
        with pytest.raises(RuntimeError, match="before the listener is bound"):
            listener.control.tls_hello_timeout = 1
        with pytest.raises(RuntimeError, match="before the listener is bound"):
            listener.control.max_tls_handshakes_per_address = 2


@pytest.mark.parametrize(
    ("address", "peer"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.2", "127.0.0.2"),
        ("fd12:3456:789a:2:aaaa::1", "fd12:3456:789a:2::/64"),
        ("fd12:3456:789a:2:bbbb::9", "fd12:3456:789a:2::/64"),
        ("fd12:3456:789a:3::1", "fd12:3456:789a:3::/64"),
        ("fe80::1%lo", "fe80::/64"),
    ],
)
def test_the_peer_of_an_address(address: str, peer: str) -> None:
    # Pure: no traffic to these addresses.
    assert _peer_of((address, 443)) == peer


@given(st.ip_addresses(v=6), st.ip_addresses(v=6))
def test_ipv6_peers_are_their_64(
    first: ipaddress.IPv6Address, second: ipaddress.IPv6Address
) -> None:
    """Two IPv6 addresses are one peer exactly when they share their first 64 bits
    (an IPv4-mapped one is its IPv4 address)."""
    if first.ipv4_mapped is not None or second.ipv4_mapped is not None:
        return
    same = int(first) >> 64 == int(second) >> 64
    assert (_peer_of((str(first), 1, 0, 0)) == _peer_of((str(second), 1, 0, 0))) == same


@given(st.ip_addresses(v=4))
def test_ipv4_peers_are_their_address_also_when_mapped(address: ipaddress.IPv4Address) -> None:
    assert _peer_of((str(address), 1)) == str(address)
    assert _peer_of((f"::ffff:{address}", 1, 0, 0)) == str(address)


async def test_cancelling_a_tls_connect_at_any_point_leaks_nothing(pki: Pki) -> None:
    async with s_server(pki) as port:
        fds = open_fd_count()
        tasks = len(live_tasks())
        async with trusting(pki) as sock:
            completed = False
            # Cancel after 0, 1, 2, ... scheduler passes until the connect completes.
            for passes in range(400):
                with trio.CancelScope() as scope:

                    async def cancel_later(
                        scope: trio.CancelScope = scope, n: int = passes
                    ) -> None:
                        for _ in range(n):
                            await trio.lowlevel.checkpoint()
                        scope.cancel()

                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(cancel_later)
                        await sock.connect(HostName("localhost"), str(port), L.SSL)
                        nursery.cancel_scope.cancel()
                if not scope.cancelled_caught:
                    completed = True
                    break
            assert completed, "the connect never completed within 400 scheduler passes"
            assert passes > 0
            assert await reversed_line(sock, b"abc\n") == b"cba\n"
        assert open_fd_count() == fds
        assert len(live_tasks()) == tasks


async def test_cancel_io_aborts_a_tls_receive_and_the_socket_stays_usable(pki: Pki) -> None:
    async with s_server(pki) as port, trusting(pki) as sock:
        await sock.connect(HostName("localhost"), str(port), L.SSL)
        failure = await cancel_io_during(sock, sock.receive_some)
        assert [SocketError.get_status(error) for error in failure] == [S.OPERATION_ABORTED]
        assert await reversed_line(sock, b"after\n") == b"retfa\n"


async def test_a_cancelled_write_wait_does_not_break_an_entered_tls_socket(pki: Pki) -> None:
    async with s_server(pki) as port, trusting(pki) as sock:
        await sock.connect(HostName("localhost"), str(port), L.SSL)
        operation = sock.output_stream.write(b"first ")
        with trio.CancelScope() as scope:
            scope.cancel()
            await operation
        sock.output_stream.write(b"second\n")
        await sock.output_stream.flush()
        assert operation.done
        assert await reversed_line(sock, b"") == b"dnoces tsrif\n"


@pytest.mark.parametrize("how", ["unawaited write", "awaited write", "flush"])
async def test_tls_writes_take_turns_with_a_wait_for_room_in_another_task(
    pki: Pki, how: str
) -> None:
    """As over plain TCP: a task waits in ``wait_send_all_might_not_block`` for room in
    the send buffer while another writes, and the SSLStream's sends wait for room in
    turn with it. Before, the writer's send met trio's bare ``BusyResourceError``."""
    payload = b"w" * 100_000
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.TLS13)
        async with trusting(pki) as sock:
            sock.control.outbound_buffer_size_in_bytes = 16 * 1024
            await sock.connect(HostName("localhost"), listener.information.local_port, L.SSL)
            server = await listener.accept()  # reads nothing until the writes are made
            async with server:
                with trio.fail_after(10):
                    # Everything written is in the kernel, whose buffer has no room.
                    for _ in range(10_000):
                        await sock.output_stream.write(b"f" * 1024)
                        if not select.select([], [sock.socket], [], 0)[1]:
                            break
                    else:
                        raise AssertionError("the kernel's send buffer never filled")
                room = trio.Event()

                async def wait_for_room() -> None:
                    await sock.wait_send_all_might_not_block()
                    room.set()

                async def write() -> None:
                    operation = sock.output_stream.write(payload)
                    if how == "awaited write":
                        assert await operation == len(payload)
                    elif how == "flush":
                        assert await sock.output_stream.flush()

                with trio.fail_after(10):
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(wait_for_room)
                        await trio.testing.wait_all_tasks_blocked()
                        assert not room.is_set()
                        nursery.start_soon(write)
                        await trio.testing.wait_all_tasks_blocked()
                        assert sock.output_stream.pending_bytes
                        received = bytearray()
                        while not received.endswith(payload):
                            received += await server.receive_some(1 << 20)
                    await sock.output_stream.flush()
                assert room.is_set()
                assert received.count(b"w") == len(payload)


async def test_cancel_io_during_a_tls_write_breaks_only_that_stream(pki: Pki) -> None:
    """A TLS record cut in the middle cannot be resumed: the stream is broken for good,
    with OPERATION_ABORTED, and says so; nothing hangs."""
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.TLS13)
        async with trusting(pki) as sock:
            sock.control.outbound_buffer_size_in_bytes = 8192
            await sock.connect(HostName("localhost"), listener.information.local_port, L.SSL)
            server = await listener.accept()  # never reads: the write stalls
            async with server:
                operation = sock.output_stream.write(b"x" * (16 * 1024 * 1024))
                await trio.testing.wait_all_tasks_blocked()
                assert not operation.done
                with trio.fail_after(10):
                    await sock.cancel_io()
                with pytest.raises(SocketStatusError) as caught:
                    await operation
                assert caught.value.status == S.OPERATION_ABORTED
                with pytest.raises(SocketStatusError, match=r"unusable|broken"):
                    await sock.output_stream.write(b"more")


async def test_a_tls_socket_works_without_async_with(pki: Pki) -> None:
    """The trio stream methods need no nursery, over TLS as over plain TCP."""
    async with s_server(pki) as port:
        sock = trusting(pki)
        try:
            await sock.connect(HostName("localhost"), str(port), L.SSL)
            await sock.send_all(b"no nursery\n")
            assert await reversed_line_server(sock) == b"yresrun on\n"
        finally:
            await sock.aclose()


async def test_a_peer_that_vanishes_without_close_notify_is_a_broken_stream(pki: Pki) -> None:
    """As trio.SSLStream's default: a TCP close without TLS's close_notify may be a
    truncation attack, so it is a failure (what came before it is delivered), and stays
    so; only close_notify reads as the end of the stream."""
    async with s_server(pki) as port:
        sock = trusting(pki)
        await sock.connect(HostName("localhost"), str(port), L.SSL)
        assert await reversed_line(sock, b"ab\n") == b"ba\n"
    # The server process is gone: its kernel closed the connection, without TLS's
    # close_notify.
    try:
        with trio.fail_after(10):
            with pytest.raises(trio.BrokenResourceError, match="without TLS's close_notify"):
                await sock.receive_some()
            with pytest.raises(trio.BrokenResourceError) as caught:
                await sock.receive_some()
            assert SocketError.get_status(caught.value) == S.CONNECTION_RESET_BY_PEER
            with pytest.raises(trio.BrokenResourceError):
                await sock.input_stream.read(10, InputStreamOptions.PARTIAL)
    finally:
        await sock.aclose()


@pytest.mark.parametrize("close_notify", [True, False], ids=["close_notify", "truncated"])
async def test_only_close_notify_ends_a_tls_stream_from_a_python_ssl_peer(
    pki: Pki, close_notify: bool
) -> None:
    """A peer of Python's ssl module sends a message, then ends the connection with
    close_notify (a clean end of stream) or without it (truncation: a failure)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        port = str(listening.getsockname()[1])

        def serve() -> None:
            conn, _ = listening.accept()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(pki.files["server.crt"], pki.files["server.key"])
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"Content: partial")
                if close_notify:
                    tls.unwrap().close()

        async with trio.open_nursery() as nursery, trusting(pki) as sock:
            nursery.start_soon(trio.to_thread.run_sync, serve)
            with trio.fail_after(10):
                await sock.connect(HostName("localhost"), port, L.TLS12)
                received = b""
                while len(received) < len(b"Content: partial"):
                    received += await sock.receive_some()
                assert received == b"Content: partial"
                if close_notify:
                    assert await sock.receive_some() == b""
                else:
                    with pytest.raises(trio.BrokenResourceError, match="close_notify"):
                        await sock.receive_some()


async def test_send_eof_is_refused_on_tls(pki: Pki) -> None:
    async with s_server(pki) as port, trusting(pki) as sock:
        await sock.connect(HostName("localhost"), str(port), L.SSL)
        with pytest.raises(RuntimeError, match="cannot close one direction"):
            await sock.send_eof()


@pytest.mark.parametrize("entered", [False, True], ids=["not entered", "entered"])
async def test_tls_sockets_pass_trios_two_way_stream_checks(pki: Pki, entered: bool) -> None:
    """trio's own checks of a two-way stream. Entered sockets are also clogged the way
    trio clogs its own streams (``send_all`` cancelled once it waits, the rest going on
    in the background); a TLS socket that was not entered cannot be clogged like that,
    since a cancelled TLS send breaks the stream (as it breaks a ``trio.SSLStream``,
    whose own checks use lockstep memory streams instead)."""
    with trio.fail_after(60):
        async with StreamSocketListener() as listener, AsyncExitStack() as blocks:
            listener.control.server_certificate = pki.server
            await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.TLS13)
            port = listener.information.local_port

            async def pair() -> tuple[StreamSocket, StreamSocket]:
                client = trusting(pki)
                if entered:
                    await blocks.enter_async_context(client)
                await client.connect(HostName("localhost"), port, L.SSL)
                server = await listener.accept()
                if entered:
                    await blocks.enter_async_context(server)
                return client, server

            async def clogged_pair() -> tuple[StreamSocket, StreamSocket]:
                left, right = await pair()
                narrow(left, right)
                narrow(right, left)
                await fill_stream(left, right)
                return left, right

            await trio.testing.check_two_way_stream(pair, clogged_pair if entered else None)


@pytest.mark.parametrize("entered", [False, True], ids=["not entered", "entered"])
async def test_a_tls_send_ended_by_a_close_in_another_task_raises_closed(
    pki: Pki, entered: bool
) -> None:
    """trio's contract, over TLS: the send waits on a peer that does not read, another
    task closes the socket, and the send raises ClosedResourceError (OPERATION_ABORTED)."""
    with trio.fail_after(20):
        async with StreamSocketListener() as listener, AsyncExitStack() as blocks:
            listener.control.server_certificate = pki.server
            await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.TLS13)
            sock = trusting(pki)
            if entered:
                await blocks.enter_async_context(sock)
            await sock.connect(HostName("localhost"), listener.information.local_port, L.SSL)

            async def close_when_blocked() -> None:
                await trio.testing.wait_all_tasks_blocked()
                with trio.fail_after(5):  # a graceful close aborts the send under way
                    await sock.aclose()

            async with await listener.accept(), trio.open_nursery() as nursery:  # never reads
                nursery.start_soon(close_when_blocked)
                with pytest.raises(trio.ClosedResourceError) as caught:
                    await sock.send_all(b"x" * (16 * 1024 * 1024))
    assert SocketError.get_status(caught.value) == S.OPERATION_ABORTED


@pytest.mark.parametrize("leave_block", [False, True], ids=["aclose", "end of block"])
async def test_closing_aborts_a_pending_tls_handshake(pki: Pki, leave_block: bool) -> None:
    """The server's kernel completes the TCP connection, and nobody ever answers the
    ClientHello: only the close ends the handshake."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        port = str(listening.getsockname()[1])
        fds = open_fd_count()
        sock = trusting(pki)
        sock.control.tls_handshake_timeout = None
        start = trio.current_time()
        with trio.fail_after(5):
            errors, fds_after = await close_during(
                sock,
                lambda: sock.connect(HostName("127.0.0.1"), port, L.SSL),
                leave_block=leave_block,
            )
        assert trio.current_time() - start < 1
        assert fds_after == fds
        assert [SocketError.get_status(error) for error in errors] == [S.OPERATION_ABORTED]
        assert isinstance(errors[0], trio.ClosedResourceError)
        assert sock.information.remote_address is None


async def test_a_large_transfer_both_ways_over_tls(pki: Pki) -> None:
    """8 MiB each way, the reader and the writer in separate tasks on both sides."""
    payload = bytes(range(256)) * (8 * 4096)
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.TLS13)

        async def echo() -> None:
            args = await listener.connection_received.receive()
            async with args.socket as conn:
                while chunk := await conn.receive_some():
                    conn.output_stream.write(chunk)
                await conn.output_stream.flush()

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery, trusting(pki) as sock:
                nursery.start_soon(echo)
                await sock.connect(HostName("localhost"), listener.information.local_port, L.SSL)
                received = bytearray()

                async def read_back() -> None:
                    while len(received) < len(payload):
                        chunk = await sock.receive_some()
                        assert chunk
                        received.extend(chunk)

                async def write_all() -> None:
                    for start in range(0, len(payload), 100_000):
                        await sock.output_stream.write(payload[start : start + 100_000])

                async with trio.open_nursery() as both:
                    both.start_soon(write_all)
                    both.start_soon(read_back)
        assert bytes(received) == payload


async def test_a_clean_tls_close_reads_as_end_of_stream(pki: Pki) -> None:
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        async with trusting(pki) as sock:
            await sock.connect(HostName("localhost"), listener.information.local_port, L.SSL)
            sock.output_stream.write(b"last words")
            server = await listener.accept()
        # The client closed: flushed, then close_notify.
        async with server:
            assert await reversed_line_server(server) == b"last words"
            assert await server.receive_some() == b""


@pytest.mark.parametrize("waiting_in", ["receive_some", "read", "load"])
async def test_a_clean_tls_close_with_a_reader_waiting_reads_as_end_of_stream(
    pki: Pki, waiting_in: str
) -> None:
    """The full-duplex shape: one task waits in a receive while another closes the
    socket. The close still sends close_notify, so the peer reads the end of the stream
    (it used to read a possible truncation, CONNECTION_RESET_BY_PEER), and the waiting
    receive ends with OPERATION_ABORTED."""
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = pki.server
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        async with trusting(pki) as sock:
            await sock.connect(HostName("localhost"), listener.information.local_port, L.SSL)
            server = await listener.accept()
            aborted: list[SocketErrorStatus] = []

            receive = {
                "receive_some": lambda: sock.receive_some(),
                "read": lambda: sock.input_stream.read(10, InputStreamOptions.PARTIAL),
                "load": lambda: DataReader(sock.input_stream).load(4),
            }[waiting_in]

            async def wait_for_data() -> None:
                with pytest.raises(trio.ClosedResourceError) as caught:
                    await receive()
                aborted.append(SocketError.get_status(caught.value))

            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(wait_for_data)
                    await trio.testing.wait_all_tasks_blocked()
                    sock.output_stream.write(b"last words")
                    await sock.aclose()
        assert aborted == [SocketErrorStatus.OPERATION_ABORTED]
        async with server:
            assert await reversed_line_server(server) == b"last words"
            assert await server.receive_some() == b""


async def test_closing_a_tls_listener_with_handshakes_pending(pki: Pki) -> None:
    fds = open_fd_count()
    tasks = len(live_tasks())
    with trio.fail_after(10):
        async with StreamSocketListener() as listener:
            listener.control.server_certificate = pki.server
            await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
            port = int(listener.information.local_port)
            silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
            await trio.testing.wait_all_tasks_blocked()
        for raw in silent:
            raw.close()
    assert open_fd_count() == fds
    assert len(live_tasks()) == tasks


async def test_closing_a_tls_listener_with_many_handshakes_queued_closes_everything(
    pki: Pki,
) -> None:
    """More silent clients than handshake slots: the accept loop waits for a slot with
    an accepted connection in hand. Closing the listener closes that one too (no
    ResourceWarning at garbage collection), and every other descriptor."""
    fds = open_fd_count()
    silent: list[socket.socket] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        try:
            with trio.fail_after(20):
                async with StreamSocketListener() as listener:
                    listener.control.server_certificate = pki.server
                    listener.control.max_tls_handshakes_per_address = 64
                    await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
                    port = int(listener.information.local_port)
                    for _ in range(100):
                        silent.append(socket.create_connection(("127.0.0.1", port)))
                    # Every slot taken, and the accept loop waiting with one more.
                    await wait_until(lambda: listener._handshakes.value == 0)
                    await trio.testing.wait_all_tasks_blocked()
        finally:
            for raw in silent:
                raw.close()
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert open_fd_count() == fds


# -- STARTTLS --------------------------------------------------------------------------------


def starttls_server(pki: Pki, *, extra: bytes = b"") -> AbstractAsyncContextManager[int]:
    """An SMTP-like server: a greeting, then TLS on "STARTTLS", then an echo."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.files["server.crt"], pki.files["server.key"])

    async def handle(stream: trio.SocketStream) -> None:
        await stream.send_all(b"220 ready\r\n" + extra)
        request = b""
        while not request.endswith(b"\r\n"):
            chunk = await stream.receive_some()
            if not chunk:
                break
            request += chunk
        if request != b"STARTTLS\r\n":
            return
        await stream.send_all(b"220 go ahead\r\n")
        secure = trio.SSLStream(stream, context, server_side=True)
        with trio.move_on_after(10):
            try:
                data = await secure.receive_some()
                await secure.send_all(b"secure echo: " + data)
                await secure.aclose()
            except trio.BrokenResourceError:
                await trio.aclose_forcefully(secure)

    return raw_server(handle)


async def test_starttls_after_a_plaintext_greeting(pki: Pki) -> None:
    async with starttls_server(pki) as port, trusting(pki) as sock:
        await sock.connect(HostName("127.0.0.1"), str(port))
        assert sock.information.protection_level == L.PLAIN_SOCKET
        assert await sock.input_stream.read(11) == b"220 ready\r\n"
        sock.output_stream.write(b"STARTTLS\r\n")
        assert await sock.input_stream.read(14) == b"220 go ahead\r\n"
        await sock.upgrade_to_ssl(L.SSL, HostName("localhost"))
        assert sock.information.protection_level == L.TLS13
        assert sock.information.server_certificate is not None
        await sock.send_all(b"over TLS")
        assert await sock.receive_some() == b"secure echo: over TLS"
        with pytest.raises(RuntimeError, match="already protected"):
            await sock.upgrade_to_ssl(L.SSL, HostName("localhost"))


@asynccontextmanager
async def asked_for_starttls(
    pki: Pki, *, entered: bool
) -> AsyncIterator[tuple[StreamSocket, DataWriter]]:
    """(socket, writer): a client of a :func:`starttls_server` (entered with
    ``async with`` or not) that asked it for TLS through the ``DataWriter``, made before
    the upgrade; the server said go. The socket is closed afterwards."""
    async with starttls_server(pki) as port, AsyncExitStack() as blocks:
        sock = trusting(pki)
        if entered:
            await blocks.enter_async_context(sock)
        with trio.fail_after(10):
            await sock.connect(HostName("127.0.0.1"), str(port))
            writer = DataWriter(sock.output_stream)
            assert await sock.input_stream.read(11) == b"220 ready\r\n"
            writer.write_string("STARTTLS\r\n")
            await writer.store()
            assert await sock.input_stream.read(14) == b"220 go ahead\r\n"
        try:
            yield sock, writer
        finally:
            await sock.aclose()


@pytest.mark.parametrize("via", ["store", "send_all"])
@pytest.mark.parametrize("entered", [False, True], ids=["not entered", "entered"])
async def test_a_writer_made_before_starttls_writes_through_tls(
    pki: Pki, entered: bool, via: str
) -> None:
    """WinRT's socket has one OutputStream, encrypted after UpgradeToSslAsync: a
    DataWriter (or a stream reference) made before the upgrade must never send plain
    text after it. The server reads TLS records only: plain text would break it."""
    async with asked_for_starttls(pki, entered=entered) as (sock, writer):
        with trio.fail_after(10):
            held = sock.output_stream
            await sock.upgrade_to_ssl(L.SSL, HostName("localhost"))
            held.max_pending_bytes = 1024
            assert sock.output_stream.max_pending_bytes == 1024
            writer.write_string("over TLS")
            if via == "store":
                await writer.store()
            else:  # the stream's own send_all, which bypasses write()'s checks
                await held.wait_send_all_might_not_block()
                await held.send_all(writer.detach_buffer())
            assert await writer.flush()
            assert held.pending_bytes == 0
            assert await sock.receive_some() == b"secure echo: over TLS"
            writer.detach_stream()
            await held.aclose()
            assert held.closed
            assert sock.output_stream.closed
            with pytest.raises(trio.ClosedResourceError):
                held.write(b"after close")


async def test_starttls_after_the_output_stream_object_was_closed(pki: Pki) -> None:
    """Closing ``output_stream`` leaves the socket open: STARTTLS still works, and the
    socket sends through TLS afterwards."""
    async with asked_for_starttls(pki, entered=True) as (sock, _):
        with trio.fail_after(10):
            await sock.output_stream.aclose()
            await sock.upgrade_to_ssl(L.SSL, HostName("localhost"))
            await sock.send_all(b"over TLS")
            assert await sock.receive_some() == b"secure echo: over TLS"


@pytest.mark.parametrize("entered", [False, True], ids=["not entered", "entered"])
async def test_writes_from_another_task_are_refused_while_starttls_runs(
    pki: Pki, entered: bool
) -> None:
    """A write started while ``upgrade_to_ssl`` runs would go out in plain text, in the
    middle of the handshake: it is refused, as ``send_all`` is, and nothing of it is
    sent. The server reads TLS records only, so plain text would break the session."""
    async with asked_for_starttls(pki, entered=entered) as (sock, writer):
        with trio.fail_after(10):
            output = sock.output_stream
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sock.upgrade_to_ssl, L.SSL, HostName("localhost"))
                while not _refuses_writes(output):  # until the upgrade has started
                    assert sock.information.protection_level == L.PLAIN_SOCKET
                    await trio.lowlevel.checkpoint()
                with pytest.raises(trio.BusyResourceError, match="plain text"):
                    output.write(b"SECRET")
                with pytest.raises(trio.BusyResourceError, match="plain text"):
                    await output.write(b"SECRET")
                writer.write_bytes(b"SECRET")
                with pytest.raises(trio.BusyResourceError, match="plain text"):
                    await writer.store()
                assert sock.information.protection_level == L.PLAIN_SOCKET  # still under way
            assert sock.information.protection_level == L.TLS13
            assert writer.unstored_buffer_length == 6  # kept, not sent
            writer.detach_buffer()
            await output.write(b"over TLS")
            assert await sock.receive_some() == b"secure echo: over TLS"


def _refuses_writes(output: OutputStream) -> bool:
    """Whether *output* refuses a write now (an empty one, which sends nothing)."""
    try:
        output.write(b"")
    except trio.BusyResourceError:
        return True
    return False


async def test_starttls_is_refused_while_plaintext_is_buffered(pki: Pki) -> None:
    async with starttls_server(pki, extra=b"250 more\r\n") as port, trusting(pki) as sock:
        await sock.connect(HostName("127.0.0.1"), str(port))
        # READ_AHEAD pulls the extra line into the socket's buffer.
        first = await sock.input_stream.read(11, InputStreamOptions.READ_AHEAD)
        assert first == b"220 ready\r\n"
        with pytest.raises(RuntimeError, match=r"10 bytes of received plain text"):
            await sock.upgrade_to_ssl(L.SSL, HostName("localhost"))
        assert await sock.input_stream.read(10) == b"250 more\r\n"
        await sock.output_stream.write(b"writes go on after a refused upgrade")

    async with starttls_server(pki) as port, trusting(pki) as sock:
        await sock.connect(HostName("127.0.0.1"), str(port))
        # The greeting is still in the kernel's buffer, unread.
        await wait_until(lambda: _readable(sock.socket))
        with pytest.raises(RuntimeError, match="still unread"):
            await sock.upgrade_to_ssl(L.SSL, HostName("localhost"))
        # Nothing was lost, and the socket is still plain and usable.
        assert await sock.input_stream.read(11) == b"220 ready\r\n"
        assert sock.information.protection_level == L.PLAIN_SOCKET


def _readable(raw: socket.socket) -> bool:
    try:
        return bool(raw.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False


async def test_upgrade_misuse_is_refused(pki: Pki, listener: StreamSocketListener) -> None:
    sock = StreamSocket()
    with pytest.raises(RuntimeError, match="not connected"):
        await sock.upgrade_to_ssl(L.SSL, HostName("localhost"))
    async with StreamSocket() as client:
        await client.connect(HostName("127.0.0.1"), listener.information.local_port)
        accepted = await listener.accept()
        async with accepted:
            with pytest.raises(RuntimeError, match="accepted by a listener"):
                await accepted.upgrade_to_ssl(L.SSL, HostName("localhost"))
        with pytest.raises(ValueError, match="PLAIN_SOCKET"):
            await client.upgrade_to_ssl(L.PLAIN_SOCKET, HostName("localhost"))


# -- protection levels and certificates as values --------------------------------------------


@pytest.mark.parametrize(
    ("level", "error", "text"),
    [
        (L.SSL_ALLOW_NULL_ENCRYPTION, ValueError, "NULL cipher"),
        (L.SSL3_ALLOW_WEAK_ENCRYPTION, ValueError, "SSL 3.0"),
        (L.BLUETOOTH_ENCRYPTION_WITH_AUTHENTICATION, WindowsOnlyError, "Bluetooth"),
        (L.BLUETOOTH_ENCRYPTION_ALLOW_NULL_AUTHENTICATION, WindowsOnlyError, "Bluetooth"),
    ],
)
async def test_levels_the_platform_cannot_provide(
    level: SocketProtectionLevel, error: type[Exception], text: str
) -> None:
    async with StreamSocket() as sock:
        with pytest.raises(error, match=text):
            await sock.connect(HostName("localhost"), "1", level)
    async with StreamSocketListener() as listener:
        with pytest.raises(error, match=text):
            await listener.bind_service_name("0", level)


async def test_a_protection_level_must_be_one() -> None:
    async with StreamSocket() as sock:
        with pytest.raises(TypeError, match="SocketProtectionLevel"):
            await sock.connect(HostName("localhost"), "1", 8)  # type: ignore[call-overload]


async def test_an_endpoint_pair_connect_with_two_levels_is_refused(pki: Pki) -> None:
    """``connect(endpoint_pair, level)`` takes its level second: one given as
    ``protection_level`` too, ``PLAIN_SOCKET`` included, is refused naming both, never
    dropped. Nothing was sent: the socket then connects with one level."""
    async with tls_listener(pki) as listener, trusting(pki) as sock:
        pair = EndpointPair(None, "", HostName("localhost"), listener.information.local_port)
        for second in (L.TLS13, L.PLAIN_SOCKET):
            with pytest.raises(TypeError, match=rf"two protection levels: TLS12 and {second.name}"):
                await sock.connect(pair, L.TLS12, second)  # type: ignore[call-overload]
        await sock.connect(pair, L.TLS12)
        assert sock.information.protection_level == L.TLS12
        await sock.send_all(b"level\n")
        assert (await reversed_line_server(sock)).endswith(b": level\n")


def test_certificate_from_pem_files_and_der(pki: Pki, tmp_path: Path) -> None:
    loaded = Certificate.from_pem_file(pki.files["server.crt"], pki.files["server.key"])
    assert loaded == pki.server
    assert loaded.has_private_key
    assert hash(loaded) == hash(pki.server)
    assert Certificate.from_der(pki.server.der) == pki.server
    assert not Certificate.from_der(pki.server.der).has_private_key
    combined = tmp_path / "combined.pem"
    combined.write_bytes(
        pki.files["client.key"].read_bytes() + pki.files["client.crt"].read_bytes()
    )
    assert Certificate.from_pem_file(combined).has_private_key
    assert pki.server.issuer == pki.ca_cert.subject
    assert pki.server.dns_names == ["localhost"]
    assert pki.server.ip_addresses == ["127.0.0.1", "::1"]
    assert pki.server.valid_from < datetime.datetime.now(datetime.UTC) < pki.server.valid_to
    assert len(pki.server.get_hash_value()) == 20
    assert len(pki.server.get_hash_value("SHA256")) == 32
    assert pki.server.pem.startswith("-----BEGIN CERTIFICATE-----")
    assert pki.server.serial_number
    assert "with key" in repr(pki.server)


def test_certificate_from_pem_file_reads_at_most_4_mib(pki: Pki, tmp_path: Path) -> None:
    """An endless file (a device, a wrong path) is refused by name, not read into memory:
    4 MiB is read and more refused, whether the certificate's file or the key's."""
    pem = pki.files["server.crt"].read_bytes()
    limit = MAX_PEM_FILE_BYTES
    assert limit == 4 * 1024 * 1024
    at_limit = tmp_path / "at-limit.pem"
    at_limit.write_bytes(pem + b"\n" * (limit - len(pem)))
    assert Certificate.from_pem_file(at_limit) == pki.server
    over = tmp_path / "over.pem"
    over.write_bytes(pem + b"\n" * (limit + 1 - len(pem)))
    with pytest.raises(ValueError, match=rf"^'{re.escape(str(over))}': over {limit} bytes"):
        Certificate.from_pem_file(over)
    with pytest.raises(ValueError, match=rf"^'/dev/zero': over {limit} bytes"):
        Certificate.from_pem_file(pki.files["server.crt"], "/dev/zero")
    with pytest.raises(ValueError, match=rf"^'/dev/zero': over {limit} bytes"):
        Certificate.from_pem_file(Path("/dev/zero"))


def test_certificate_file_errors_begin_with_the_file_at_fault(pki: Pki, tmp_path: Path) -> None:
    """``from_pem_file`` named both files and then ``from_pem``'s parameters ("c.crt,
    k.key: cert_pem holds no PEM certificate"); the message begins with the file at
    fault, and speaks of files."""
    crt, key = pki.files["server.crt"], pki.files["server.key"]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not PEM")
    cases = [
        ((key,), key, " holds no PEM certificate ('-----BEGIN CERTIFICATE-----')"),
        ((garbage, key), garbage, " holds no PEM certificate"),
        ((crt, pki.files["client.key"]), pki.files["client.key"], ": the private key does not"),
        ((crt, garbage), garbage, ": cannot read the private key (wrong password or not PEM)"),
    ]
    for paths, at_fault, reason in cases:
        with pytest.raises(
            ValueError, match="^" + re.escape(shown(str(at_fault)) + reason)
        ) as caught:
            Certificate.from_pem_file(*paths)
        assert "_pem" not in str(caught.value)
    combined = tmp_path / "combined.pem"
    combined.write_bytes(crt.read_bytes() + pki.files["client.key"].read_bytes())
    with pytest.raises(ValueError, match=rf"^{re.escape(shown(str(combined)))}: the private key"):
        Certificate.from_pem_file(combined)


def test_certificate_errors_name_the_problem(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"Certificate\.from_pem"):
        Certificate()
    with pytest.raises(ValueError, match="no PEM certificate"):
        Certificate.from_pem(b"not a certificate")
    with pytest.raises(ValueError, match="does not belong"):
        Certificate.from_pem(
            pki.files["server.crt"].read_bytes(), pki.files["client.key"].read_bytes()
        )
    with pytest.raises(ValueError, match="private key"):
        Certificate.from_pem(pki.files["server.crt"].read_bytes(), b"-----BEGIN PRIVATE KEY-----")
    with pytest.raises(ValueError, match="DER"):
        Certificate.from_der(b"\x30\x03junk")
    with pytest.raises(ValueError, match="unknown hash algorithm"):
        pki.server.get_hash_value("NOPE")
    with pytest.raises(TypeError, match="PEM text"):
        Certificate.from_pem(42)  # type: ignore[arg-type]
    bad = tmp_path / "bad.pem"
    bad.write_text("garbage")
    with pytest.raises(ValueError, match=str(bad)):
        Certificate.from_pem_file(bad)
    sock = StreamSocket()
    with pytest.raises(ValueError, match="no private key"):
        sock.control.client_certificate = pki.ca_cert
    with pytest.raises(TypeError, match="Certificate"):
        sock.control.client_certificate = "client.pem"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="trusted_certificates"):
        sock.control.trusted_certificates = "ca.pem"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="tls_handshake_timeout"):
        sock.control.tls_handshake_timeout = 0
    with pytest.raises(ValueError, match="min_protection_level"):
        sock.control.min_protection_level = L.PLAIN_SOCKET


async def test_an_encrypted_private_key(pki: Pki) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pki.files["client.key"].read_bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    cert_pem = pki.files["client.crt"].read_bytes()
    with pytest.raises(ValueError, match="private key"):
        Certificate.from_pem(cert_pem, encrypted)
    with pytest.raises(ValueError, match="private key"):
        Certificate.from_pem(cert_pem, encrypted, password="wrong")
    client = Certificate.from_pem(cert_pem, encrypted, password="secret")
    options = ("-CAfile", str(pki.files["ca"]), "-Verify", "1", "-verify_return_error")
    async with s_server(pki, "server", *options) as port, trusting(pki) as sock:
        sock.control.client_certificate = client
        await sock.connect(HostName("localhost"), str(port), L.TLS12)
        assert await reversed_line(sock, b"key\n") == b"yek\n"


# -- the example -------------------------------------------------------------------------------


async def test_the_tls_client_certificate_example(capsys: pytest.CaptureFixture[str]) -> None:
    from trio_sockets.examples import tls_client_certificate

    assert await tls_client_certificate.demo() == b"echo: hello over TLS\n"
    out = capsys.readouterr().out
    assert "client connect failed: CERTIFICATE_UNTRUSTED_ROOT" in out
    assert "errors: UNTRUSTED; severity IGNORABLE" in out
    assert "server accepted CN=demo client" in out
    assert "client connected over TLS12" in out


def test_the_tls_example_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=True
    )
    assert "client received: echo: hello over TLS" in result.stdout


async def test_the_tls_example_connects_to_a_real_server(pki: Pki) -> None:
    script = EXAMPLE
    options = ("-CAfile", str(pki.files["ca"]), "-Verify", "1", "-verify_return_error")
    async with s_server(pki, "server", *options) as port:
        files = pki.files
        with trio.fail_after(30):
            result = await trio.run_process(
                [
                    sys.executable,
                    str(script),
                    "--connect",
                    "localhost",
                    str(port),
                    "--cert",
                    str(files["client.crt"]),
                    "--key",
                    str(files["client.key"]),
                    "--ca",
                    str(files["ca"]),
                ],
                capture_stdout=True,
                capture_stderr=True,
            )
    assert b"connected over TLS12" in result.stdout


def test_client_contexts_are_reused_for_the_same_settings(pki: Pki) -> None:
    """Making a context loads the system trust store (tens of ms): equal settings share
    one; any TLS setting that differs gets its own."""
    from trio_sockets._sockets.stream_control import tls_client_settings
    from trio_sockets._tls.context import client_context

    def context_of(sock: StreamSocket, level: L) -> object:
        return client_context(tls_client_settings(sock.control, level))[0]

    first, second = trusting(pki), trusting(pki)
    context = context_of(first, L.SSL)
    assert context_of(second, L.SSL) is context
    assert context_of(second, L.TLS12) is not context
    second.control.tls_handshake_timeout = 5  # not a context setting: shared still
    assert context_of(second, L.SSL) is context
    second.control.ignorable_server_certificate_errors.add(C.EXPIRED)
    assert context_of(second, L.SSL) is not context
    first.control.client_certificate = pki.client
    with_client = context_of(first, L.SSL)
    assert with_client is not context
    first.control.trusted_certificates.clear()
    assert context_of(first, L.SSL) is not with_client
