"""TLS against other implementations, where what trio_sockets does must match what
their users expect: a CA file of several authorities, a client certificate asked for
after a TLS 1.3 handshake, a scoped IPv6 address.

The peers are real: Python ``ssl`` servers and clients in a thread, ``openssl s_server``
processes, all on loopback. Certificates come from trustme
(:class:`~trio_sockets.testing.TlsCertificates`).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import openssl_s_server, wait_until

from trio_sockets import (
    Certificate,
    ChainValidationResult,
    HostName,
    SocketErrorStatus,
    SocketProtectionLevel,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets.testing import TlsCertificates

C = ChainValidationResult
L = SocketProtectionLevel
S = SocketErrorStatus


# -- peers -------------------------------------------------------------------------------------


@dataclass
class PythonPeer:
    """A Python ``ssl`` peer running in a thread: its port, and what it saw."""

    port: int
    #: What each connection's handler returned, or the exception that ended it.
    outcomes: list[object] = field(default_factory=list)


@contextlib.contextmanager
def python_tls_server(
    context: ssl.SSLContext,
    serve: Callable[[ssl.SSLSocket], object],
    *,
    connections: int = 1,
    host: str = "127.0.0.1",
) -> Iterator[PythonPeer]:
    """A blocking Python ``ssl`` server on *host* that serves *connections* connections
    with *serve*, one after the other, in a thread; each outcome is recorded."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as listening:
        listening.bind((host, 0))
        listening.listen()
        listening.settimeout(20)
        peer = PythonPeer(listening.getsockname()[1])

        def run() -> None:
            for _ in range(connections):
                try:
                    raw, _ = listening.accept()
                except OSError as exc:  # shut down by the test, or nobody came
                    peer.outcomes.append(exc)
                    return
                with raw:
                    raw.settimeout(10)
                    try:
                        with context.wrap_socket(raw, server_side=True) as tls:
                            peer.outcomes.append(serve(tls))
                    except (ssl.SSLError, OSError) as exc:
                        peer.outcomes.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield peer
        finally:
            with contextlib.suppress(OSError):
                listening.shutdown(socket.SHUT_RDWR)  # wakes an accept() still waiting
            thread.join(20)
            assert not thread.is_alive(), "the Python TLS server did not end"


def read_line(tls: ssl.SSLSocket) -> bytes:
    """A line from *tls* (b"" if the peer closed first)."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = tls.recv(1000)
        if not chunk:
            break
        line += chunk
    return line


def reverse_a_line(tls: ssl.SSLSocket) -> bytes:
    """Answer one line with the line reversed (as ``openssl s_server -rev``)."""
    line = read_line(tls)
    tls.sendall(line.rstrip(b"\n")[::-1] + b"\n")
    read_line(tls)  # until the client closes: nothing it reads is cut off by a reset
    return line


def python_server_context(certificates: TlsCertificates) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificates.files("server"))
    return context


@contextlib.asynccontextmanager
async def openssl_server(certificates: TlsCertificates) -> AsyncIterator[int]:
    """``openssl s_server -rev`` (each line comes back reversed) on 127.0.0.1."""
    async with openssl_s_server(*certificates.files("server")) as port:
        yield port


async def reversed_line(sock: StreamSocket, line: bytes = b"hello\n") -> bytes:
    """Send *line*; the answer, up to its end of line."""
    await sock.send_all(line)
    return await read_until_end_of_line(sock)


# -- a CA file of several authorities -----------------------------------------------------------


@dataclass
class TwoAuthorities:
    """Two authorities, each with its server and client certificates, and one PEM file
    (``bundle.pem``) holding both authorities, as a CA file during a root rotation."""

    first: TlsCertificates
    second: TlsCertificates
    bundle_file: Path

    @property
    def bundle(self) -> Certificate:
        return Certificate.from_pem_file(self.bundle_file)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> TwoAuthorities:
    first = TlsCertificates(tmp_path_factory.mktemp("first-authority"))
    second = TlsCertificates(tmp_path_factory.mktemp("second-authority"))
    bundle = tmp_path_factory.mktemp("bundle") / "bundle.pem"
    bundle.write_bytes(first.authority_file.read_bytes() + second.authority_file.read_bytes())
    return TwoAuthorities(first, second, bundle)


def trusting_the_bundle(two: TwoAuthorities, *ignorable: ChainValidationResult) -> StreamSocket:
    sock = StreamSocket()
    sock.control.trusted_certificates.append(two.bundle)
    sock.control.ignorable_server_certificate_errors.update(ignorable)
    sock.control.tls_handshake_timeout = 10
    return sock


@pytest.mark.parametrize("peer", ["python-ssl", "openssl-s_server"])
@pytest.mark.parametrize("which", ["first", "second"])
@pytest.mark.parametrize(
    "ignorable", [(), (C.UNTRUSTED,)], ids=["openssl-verifies", "verified-here"]
)
async def test_a_trusted_ca_bundle_trusts_each_of_its_authorities(
    two: TwoAuthorities, peer: str, which: str, ignorable: tuple[ChainValidationResult, ...]
) -> None:
    """A Certificate read from a PEM file of two authorities, put in
    ``trusted_certificates``, trusts servers of either: OpenSSL (nothing ignorable) and
    trio_sockets' own verifier (``UNTRUSTED`` ignorable) alike find nothing wrong."""
    authority = getattr(two, which)
    assert len(two.bundle.chain) == 1
    async with contextlib.AsyncExitStack() as stack:
        if peer == "python-ssl":
            context = python_server_context(authority)
            server = stack.enter_context(python_tls_server(context, reverse_a_line))
            port = server.port
        else:
            port = await stack.enter_async_context(openssl_server(authority))
        async with trusting_the_bundle(two, *ignorable) as sock:
            await sock.connect(HostName("localhost"), str(port), L.SSL)
            assert sock.information.server_certificate_errors == []
            assert await reversed_line(sock) == b"olleh\n"


async def test_a_bundle_trusts_no_more_than_its_own_certificates(two: TwoAuthorities) -> None:
    """The first authority alone (a Certificate equal to the bundle's, which compares by
    its first certificate) still refuses the second's server, also after a connection
    that trusted the bundle: the two trust lists never share a TLS context."""
    context = python_server_context(two.second)
    with python_tls_server(context, reverse_a_line, connections=2) as server:
        async with trusting_the_bundle(two) as sock:
            await sock.connect(HostName("localhost"), str(server.port), L.SSL)
            assert await reversed_line(sock) == b"olleh\n"
        alone = two.first.authority
        assert alone == two.bundle
        async with StreamSocket() as sock:
            sock.control.trusted_certificates.append(alone)
            with pytest.raises(SocketStatusError) as caught:
                await sock.connect(HostName("localhost"), str(server.port), L.SSL)
            assert caught.value.status == S.CERTIFICATE_UNTRUSTED_ROOT


async def test_a_listener_trusting_a_ca_bundle_takes_clients_of_each_authority(
    two: TwoAuthorities, tmp_path: Path
) -> None:
    """A TLS listener that requires client certificates and trusts the bundle accepts
    clients of both authorities, and still refuses one of another authority."""
    third = TlsCertificates(tmp_path)
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = two.first.server
        listener.control.client_certificate_required = True
        listener.control.trusted_certificates = [two.bundle]
        listener.control.tls_handshake_timeout = 10
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        port = int(listener.information.local_port)

        async def serve() -> None:
            async for args in listener.connection_received:
                async with args.socket as conn:
                    line = await conn.receive_some()
                    peer = conn.information.peer_certificate
                    assert peer is not None
                    await conn.send_all(peer.issuer.encode() + b" " + line)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            for authority in (two.first, two.second):
                # The client trusts the listener's (first) authority and offers its own.
                client = authority.client
                answer = await trio.to_thread.run_sync(
                    python_client_offering, port, two.first, authority
                )
                assert answer == client.issuer.encode() + b" hello\n"
            refused = await trio.to_thread.run_sync(python_client_offering, port, two.first, third)
            assert refused.startswith(b"refused: "), refused
            nursery.cancel_scope.cancel()


def python_client_offering(
    port: int, server_authority: TlsCertificates, own: TlsCertificates
) -> bytes:
    """A blocking Python ``ssl`` client that trusts *server_authority* and offers the
    client certificate of *own*: the server's answer to ``hello``, or why TLS failed."""
    context = ssl.create_default_context(cafile=server_authority.authority_file)
    context.load_cert_chain(*own.files("client"))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"hello\n")
            return read_line(tls)
    except (ssl.SSLError, ConnectionResetError) as exc:
        return f"refused: {exc}".encode()


# -- a client certificate asked for after the handshake (TLS 1.3) ---------------------------------


def asking_after_the_handshake(tls: ssl.SSLSocket) -> str:
    """A TLS 1.3 server that asks for the client certificate only once a request has
    come (as a web server does for one path): ``200 hello <common name>`` once it came,
    ``403 <reason>`` when it cannot be asked for. The common name is the outcome."""
    read_line(tls)  # the request
    try:
        tls.verify_client_post_handshake()
    except ssl.SSLError as exc:
        tls.sendall(f"403 {exc.reason}\n".encode())
        read_line(tls)
        return f"cannot ask: {exc.reason}"
    tls.sendall(b"send your certificate\n")  # goes out with the CertificateRequest
    read_line(tls)  # the client's certificate comes before this line
    subject = dict(pair[0] for pair in tls.getpeercert()["subject"])
    common_name = str(subject["commonName"])
    tls.sendall(f"200 hello {common_name}\n".encode())
    read_line(tls)  # until the client closes
    return common_name


def post_handshake_server_context(certificates: TlsCertificates) -> ssl.SSLContext:
    context = python_server_context(certificates)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cafile=certificates.authority_file)
    context.verify_mode = ssl.CERT_REQUIRED
    context.post_handshake_auth = True  # CERT_REQUIRED then asks after the handshake only
    return context


async def read_until_end_of_line(sock: StreamSocket) -> bytes:
    line = b""
    with trio.fail_after(10):
        while not line.endswith(b"\n"):
            chunk = await sock.receive_some()
            assert chunk, f"the server closed the connection after {line!r}"
            line += chunk
    return line


async def test_the_client_certificate_is_offered_when_asked_for_after_the_handshake(
    tls_certificates: TlsCertificates,
) -> None:
    """A TLS 1.3 server may ask for the client certificate after the handshake (RFC 8446
    post-handshake authentication), if the client announced that it would answer: a
    socket with ``control.client_certificate`` announces it, and answers in its read."""
    context = post_handshake_server_context(tls_certificates)
    with python_tls_server(context, asking_after_the_handshake) as server:
        async with StreamSocket() as sock:
            sock.control.trusted_certificates.append(tls_certificates.authority)
            sock.control.client_certificate = tls_certificates.client
            sock.control.tls_handshake_timeout = 10
            await sock.connect(HostName("localhost"), str(server.port), L.SSL)
            assert sock.information.protection_level == L.TLS13
            await sock.send_all(b"GET /private\n")
            assert await read_until_end_of_line(sock) == b"send your certificate\n"
            await sock.send_all(b"here it is\n")
            assert await read_until_end_of_line(sock) == b"200 hello test-client\n"
    assert server.outcomes == ["test-client"]


# -- a scoped IPv6 address -----------------------------------------------------------------------


def ipv6_loopback_name() -> str:
    """The name of the loopback interface, for ``::1%<name>``; skips the test without
    IPv6 on loopback."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback address: {exc}")
    names = [name for _, name in socket.if_nameindex() if name == "lo"]
    if not names:
        pytest.skip("no loopback interface named lo")
    return names[0]


@pytest.mark.parametrize("how", ["connect", "upgrade_to_ssl"])
@pytest.mark.parametrize(
    "ignorable", [(), (C.UNTRUSTED,)], ids=["openssl-verifies", "verified-here"]
)
@pytest.mark.parametrize("scoped", [False, True], ids=["::1", "::1%lo"])
async def test_an_ipv6_address_with_a_scope_is_checked_without_it_and_sent_as_no_sni(
    tls_certificates: TlsCertificates,
    how: str,
    ignorable: tuple[ChainValidationResult, ...],
    scoped: bool,
) -> None:
    """``::1%lo`` (as ``fe80::1%eth0``, the only way to reach a link-local address)
    matches the certificate's IP entry for ``::1``, and like ``::1`` it is sent as no
    SNI name: RFC 6066 allows no IP address there."""
    host = f"::1%{ipv6_loopback_name()}" if scoped else "::1"
    names: list[str | None] = []
    context = python_server_context(tls_certificates)
    context.sni_callback = lambda tls, name, context: names.append(name)
    with python_tls_server(context, reverse_a_line, host="::1") as server:
        async with StreamSocket() as sock:
            sock.control.trusted_certificates.append(tls_certificates.authority)
            sock.control.ignorable_server_certificate_errors.update(ignorable)
            sock.control.tls_handshake_timeout = 10
            if how == "connect":
                await sock.connect(HostName(host), str(server.port), L.SSL)
            else:
                await sock.connect(HostName(host), str(server.port))
                await sock.upgrade_to_ssl(L.SSL)
            assert sock.information.server_certificate_errors == []
            assert await reversed_line(sock) == b"olleh\n"
    assert names == [None]
    assert server.outcomes == [b"hello\n"]


@contextlib.asynccontextmanager
async def trusting_client(
    certificates: TlsCertificates, port: int, level: SocketProtectionLevel = L.SSL
) -> AsyncIterator[StreamSocket]:
    """A socket that trusts *certificates*' authority, connected with TLS to
    localhost:*port*, for the block."""
    async with StreamSocket() as sock:
        sock.control.trusted_certificates.append(certificates.authority)
        await sock.connect(HostName("localhost"), str(port), level)
        yield sock


# -- closing ----------------------------------------------------------------------------------

#: Enough that the kernel still holds some of it when the socket closes, the server asleep.
_UPLOAD = 16 << 20


def _read_all_after_a_pause(tls: ssl.SSLSocket) -> int:
    """A busy server: what was sent waits in the kernel's buffers for a moment."""
    time.sleep(0.5)
    got = 0
    for _ in range(_UPLOAD):  # bounded: each read takes at least a byte
        data = tls.recv(1 << 20)
        if not data:
            break
        got += len(data)
    return got


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
async def test_a_client_that_only_sends_loses_nothing_when_it_closes(
    tls_certificates: TlsCertificates, version: ssl.TLSVersion
) -> None:
    """A TLS 1.3 server sends session tickets after the handshake, which a client that
    only sends never reads: closing with them unread made the kernel reset the
    connection, dropping the end of what was sent, while the close reported success
    (the server got 5 to 8 MB of 8)."""
    context = python_server_context(tls_certificates)
    context.maximum_version = version
    with python_tls_server(context, _read_all_after_a_pause) as server:
        with trio.fail_after(20):
            async with trusting_client(tls_certificates, server.port) as sock:
                await sock.send_all(bytes(_UPLOAD))
    assert server.outcomes == [_UPLOAD]


@dataclass
class _BioTls:
    """TLS over memory BIOs, driven over a blocking socket by hand (to do what an
    ``ssl.SSLSocket`` cannot: hold records back, send close_notify and read on)."""

    tls: ssl.SSLObject
    incoming: ssl.MemoryBIO
    outgoing: ssl.MemoryBIO

    @classmethod
    def wrap(cls, context: ssl.SSLContext, **kwargs: Any) -> _BioTls:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        return cls(context.wrap_bio(incoming, outgoing, **kwargs), incoming, outgoing)

    def handshake(self, raw: socket.socket) -> None:
        for _ in range(100):  # a few flights
            try:
                self.tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                raw.sendall(self.outgoing.read())
                self.incoming.write(raw.recv(65536))
        raise AssertionError("no handshake in 100 flights")

    def read_until_the_end(self, raw: socket.socket, most: int) -> tuple[str, int]:
        """Read until the stream ends: how it ended, and the plain text's size (at most
        *most* bytes are expected)."""
        got = 0
        for _ in range(most + 1):  # bounded: each round reads at least a byte
            try:
                data = raw.recv(1 << 20)
            except OSError as exc:
                return type(exc).__name__, got
            if not data:
                return "end of stream without close_notify", got
            self.incoming.write(data)
            try:
                for _ in range(len(data) + 1):
                    plain = self.tls.read(1 << 20)
                    if not plain:
                        return "close_notify", got
                    got += len(plain)
            except ssl.SSLWantReadError:
                continue
            except ssl.SSLZeroReturnError:  # after this side's own close_notify
                return "close_notify", got
        return "unfinished", got


def _request_close_notify_then_read(port: int, authority: str) -> tuple[str, int]:
    """A TLS 1.3 client that sends its request and its close_notify (it sends nothing
    more), then reads the whole answer, slowly: how the answer ended, and its size."""
    context = ssl.create_default_context(cafile=authority)
    bio = _BioTls.wrap(context, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        bio.handshake(raw)
        bio.tls.write(b"GET /big\n")
        raw.sendall(bio.outgoing.read())
        time.sleep(0.2)  # the server has read the request
        with contextlib.suppress(ssl.SSLWantReadError):
            bio.tls.unwrap()  # close_notify, then nothing more from this side
        raw.sendall(bio.outgoing.read())
        time.sleep(0.5)  # a slow reader: the answer waits in the kernels' buffers
        return bio.read_until_the_end(raw, _UPLOAD)


async def test_a_server_answering_a_client_that_sent_close_notify_loses_nothing(
    tls_certificates: TlsCertificates,
) -> None:
    """The client's close_notify waits unread while the server writes its answer:
    closing with it unread made the kernel reset, cutting the answer short."""
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = tls_certificates.server
        await listener.bind_endpoint("127.0.0.1", "0", L.TLS13)
        port = int(listener.information.local_port)
        authority = str(tls_certificates.authority_file)
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                ended: list[tuple[str, int]] = []

                async def client() -> None:
                    run = _request_close_notify_then_read
                    ended.append(await trio.to_thread.run_sync(run, port, authority))

                nursery.start_soon(client)
                async with await listener.accept() as sock:
                    assert await sock.receive_some() == b"GET /big\n"
                    await trio.sleep(0.4)  # the close_notify has come, unread
                    await sock.send_all(bytes(_UPLOAD))
    assert ended == [("close_notify", _UPLOAD)]


@pytest.mark.parametrize("reply", [0, 60_000])
async def test_only_application_data_nobody_read_makes_the_close_a_reset(
    tls_certificates: TlsCertificates, reply: int
) -> None:
    """What TLS itself sent (session tickets) is read off, and the connection ends with
    a FIN: a send of the server's after it goes out. What the peer sent and nobody read
    still makes the close a reset, as on a plain socket: the send fails."""

    def reply_then_send_after_the_close(tls: ssl.SSLSocket) -> tuple[bytes, object]:
        tls.sendall(bytes(reply))
        line = read_line(tls)
        time.sleep(0.3)  # the client has closed
        try:
            tls.sendall(b"more")
        except OSError as exc:
            return line, type(exc)
        return line, "sent"

    context = python_server_context(tls_certificates)
    with python_tls_server(context, reply_then_send_after_the_close) as server:
        with trio.fail_after(20):
            async with trusting_client(tls_certificates, server.port) as sock:
                assert sock.information.protection_level == L.TLS13
                await sock.send_all(b"request\n")
                await wait_until(lambda: _unread_in_the_kernel(sock) > reply)
    [(line, ended)] = server.outcomes
    assert line == b"request\n"
    if reply:
        # The reset, in ssl's words: EPIPE as SSLEOFError before Python 3.13,
        # ECONNRESET from 3.13 on.
        assert ended in (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError)
    else:
        assert ended == "sent"


def _unread_in_the_kernel(sock: StreamSocket) -> int:
    try:
        return len(sock.socket.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return 0


_REFUSAL = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _refuse_the_upload(tls: ssl.SSLSocket) -> bytes:
    """Answer at once and close with the body unread: the kernel resets."""
    request = tls.recv(100)
    tls.sendall(_REFUSAL)
    time.sleep(0.2)
    return request


@pytest.mark.parametrize("entered", [False, True], ids=["not entered", "entered"])
async def test_an_answer_that_came_before_the_reset_a_send_met_is_still_read(
    tls_certificates: TlsCertificates, entered: bool
) -> None:
    """A server that refuses an upload answers and resets the connection. The send fails
    with the reset; the answer, which came whole before it, is still read, as on a plain
    socket: it was read and dropped with the search for the peer's alert."""
    context = python_server_context(tls_certificates)
    with python_tls_server(context, _refuse_the_upload) as server:
        with trio.fail_after(20):
            sock = StreamSocket()
            sock.control.trusted_certificates.append(tls_certificates.authority)
            async with contextlib.AsyncExitStack() as stack:
                if entered:
                    await stack.enter_async_context(sock)
                else:
                    stack.push_async_callback(sock.aclose)
                await sock.connect(HostName("localhost"), str(server.port), L.SSL)
                with pytest.raises(SocketStatusError) as caught:
                    await sock.send_all(b"PUT /upload HTTP/1.1\r\n\r\n" + bytes(50 << 20))
                assert caught.value.status == S.CONNECTION_RESET_BY_PEER
                answer = b""
                for _ in range(len(_REFUSAL)):
                    chunk = await sock.receive_some(7)
                    answer += chunk
                    if answer == _REFUSAL:
                        break
                assert answer == _REFUSAL
                with pytest.raises(trio.BrokenResourceError):
                    await sock.receive_some()
    assert len(server.outcomes) == 1


async def test_all_the_plain_text_that_came_before_the_reset_is_read_not_256_kib(
    tls_certificates: TlsCertificates,
) -> None:
    """More than the first look after the failed send takes: the receives decrypt the
    rest of what arrived as they go (the first 16 records were kept, the rest lost)."""
    tail = 800_000
    sent = threading.Event()

    def send_then_reset(tls: ssl.SSLSocket) -> None:
        assert tls.recv(2) == b"GO"
        tls.sendall(b"b" * tail)  # not read yet: the client's buffer holds it
        sent.set()
        time.sleep(0.3)
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    context = python_server_context(tls_certificates)
    with python_tls_server(context, send_then_reset) as server:
        with trio.fail_after(20):
            async with trusting_client(tls_certificates, server.port) as sock:
                sock.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                await sock.send_all(b"GO")
                assert await trio.to_thread.run_sync(sent.wait, 10)
                await trio.sleep(0.6)  # the reset has come
                with pytest.raises(SocketStatusError) as caught:
                    await sock.send_all(bytes(8 << 20))
                assert caught.value.status == S.CONNECTION_RESET_BY_PEER
                received = await _receive_until_broken(sock, tail)
                assert len(received) == tail
                assert received == b"b" * tail


async def _receive_until_broken(sock: StreamSocket, most: int) -> bytearray:
    """What *sock* receives until a receive fails as broken (at most *most* bytes)."""
    received = bytearray()
    for _ in range(most + 1):  # bounded: each receive brings a byte at least
        try:
            received += await sock.receive_some(65536)
        except trio.BrokenResourceError:
            return received
    raise AssertionError(f"no failure after {len(received)} bytes")


#: Sent at once, before tickets 20 ms late: the kernel still holds some when they come.
_SMALL_UPLOAD = 1_000_000


def _late_tickets_then_read(
    listening: socket.socket, context: ssl.SSLContext, result: list[tuple[str, int]]
) -> None:
    """A TLS 1.3 server whose session tickets leave 20 ms after its handshake (one round
    trip on a real network), and which then reads slowly: how the stream ended, and
    what it read."""
    raw, _ = listening.accept()
    with raw:
        raw.settimeout(10)
        bio = _BioTls.wrap(context, server_side=True)
        bio.handshake(raw)
        tickets = bio.outgoing.read()
        time.sleep(0.02)
        raw.sendall(tickets)
        time.sleep(0.5)
        result.append(bio.read_until_the_end(raw, _SMALL_UPLOAD))


async def test_session_tickets_that_come_after_the_last_read_lose_nothing_either(
    tls_certificates: TlsCertificates,
) -> None:
    """Tickets that come while the kernel still holds what was written, after the close
    read off what had arrived: the close waits until all of it is sent, reading off
    what comes meanwhile (the server got 114,688 bytes of a million, and an error)."""
    context = python_server_context(tls_certificates)
    result: list[tuple[str, int]] = []
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        server = threading.Thread(target=_late_tickets_then_read, args=(listening, context, result))
        server.start()
        try:
            with trio.fail_after(20):
                async with trusting_client(tls_certificates, port, L.TLS13) as sock:
                    await sock.send_all(bytes(_SMALL_UPLOAD))
        finally:
            await trio.to_thread.run_sync(server.join, 20)
    assert result == [("close_notify", _SMALL_UPLOAD)]


@pytest.mark.parametrize("when", ["before the close", "while the close waits"])
async def test_application_data_that_comes_while_the_close_waits_makes_it_a_reset_too(
    tls_certificates: TlsCertificates, when: str
) -> None:
    """A request nobody read makes the close a reset, whether it came before the close
    or while the close waits for the kernel to send what was written; the second was
    read off and dropped, and the peer told of a clean end."""

    def request_then_read_all(tls: ssl.SSLSocket) -> object:
        if when == "before the close":
            tls.sendall(b"a request")
        time.sleep(0.4)  # the client is closing, its writes queued behind a full window
        if when == "while the close waits":
            tls.sendall(b"a request")
        time.sleep(0.3)
        got = 0
        for _ in range(_UPLOAD):  # bounded: each read takes a byte at least
            try:
                data = tls.recv(1 << 20)
            except OSError as exc:
                return type(exc)
            if not data:  # the close's end, or (ragged EOFs suppressed) a reset's
                return got
            got += len(data)
        return "unfinished"

    context = python_server_context(tls_certificates)
    with python_tls_server(context, request_then_read_all) as server:
        with trio.fail_after(20):
            async with trusting_client(tls_certificates, server.port, L.TLS13) as sock:
                await sock.send_all(bytes(3_000_000))
                await trio.sleep(0.2 if when == "before the close" else 0)
    # A reset drops what the kernel had not sent; a clean end would bring all of it.
    assert server.outcomes != [3_000_000], server.outcomes


async def test_a_receive_while_a_tls_close_waits_says_the_socket_is_closing(
    tls_certificates: TlsCertificates,
) -> None:
    """As a send does: OPERATION_ABORTED with a message, not trio's bare error."""

    def stall(tls: ssl.SSLSocket) -> None:
        time.sleep(1.5)

    context = python_server_context(tls_certificates)
    with python_tls_server(context, stall) as server:
        with trio.fail_after(20):
            async with trusting_client(tls_certificates, server.port, L.TLS13) as sock:
                await sock.send_all(bytes(3_000_000))  # queued behind a full window
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(sock.aclose)
                    await trio.sleep(0.1)  # the close waits for the kernel to send
                    with pytest.raises(SocketStatusError, match="the socket is closing"):
                        await sock.receive_some()
