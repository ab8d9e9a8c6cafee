"""TLS with a client certificate, and the WinRT certificate-error retry, in trio_sockets.

The WinRT snippet this ports::

    socket.Control.ClientCertificate = certificate;
    await socket.ConnectAsync(destination, SocketProtectionLevel.Tls12);

Run as a demo (the default), it makes its own certificate authority, server and client
certificates with trustme, starts a TLS listener that requires client certificates,
and then:

1. connects without trusting that authority: the connect fails, and the socket's
   ``information`` says why (``UNTRUSTED``, severity ``IGNORABLE``);
2. trusts the authority (``control.trusted_certificates``), offers the client
   certificate and connects again on the same socket, pinned to TLS 1.2.

With ``--connect HOST SERVICE`` it connects to a real server instead, offering the
client certificate from ``--cert``/``--key`` and trusting ``--ca`` besides the system's
roots::

    python examples/tls_client_certificate.py
    python examples/tls_client_certificate.py --connect example.test 8443 \\
        --cert client.pem --key client.key --ca ca.pem
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from trio_sockets import (
    Certificate,
    HostName,
    SocketError,
    SocketProtectionLevel,
    SocketSslErrorSeverity,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)


@dataclass
class DemoCertificates:
    authority: Certificate
    server: Certificate
    client: Certificate


def make_demo_certificates() -> DemoCertificates:
    """A fresh authority with a server ("localhost") and a client certificate."""
    try:
        import trustme
    except ImportError:  # pragma: no cover - trustme comes with the test extra
        raise SystemExit(
            "the demo makes its certificates with trustme: pip install trustme"
        ) from None
    authority = trustme.CA()
    server = authority.issue_cert("localhost", "127.0.0.1", "::1")
    client = authority.issue_cert("client.example.test", common_name="demo client")

    def certificate(leaf: trustme.LeafCert) -> Certificate:
        return Certificate.from_pem(leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes())

    return DemoCertificates(
        authority=Certificate.from_pem(authority.cert_pem.bytes()),
        server=certificate(server),
        client=certificate(client),
    )


async def run_server(
    certificates: DemoCertificates,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A TLS listener that requires client certificates; echoes one line per client."""
    async with StreamSocketListener() as listener:
        listener.control.server_certificate = certificates.server
        listener.control.client_certificate_required = True
        listener.control.trusted_certificates = [certificates.authority]
        await listener.bind_endpoint(HostName("localhost"), "0", SocketProtectionLevel.SSL)
        print(f"server is listening on port {listener.information.local_port} (TLS)")
        task_status.started(listener.information.local_port)
        async for args in listener.connection_received:
            async with args.socket as sock:
                client = sock.information.peer_certificate
                name = client.subject if client is not None else "nobody"
                level = sock.information.protection_level.name
                print(f"server accepted {name} over {level}")
                request = await sock.receive_some()
                await sock.send_all(b"echo: " + request)


async def connect_with_retry(
    sock: StreamSocket, host: HostName, service: str, certificates: DemoCertificates
) -> None:
    """The first connect fails on the untrusted authority; inspect, fix, connect again."""
    try:
        await sock.connect(host, service, SocketProtectionLevel.TLS12)
    except SocketStatusError as error:
        info = sock.information
        print(f"client connect failed: {SocketError.get_status(error).name}")
        print(f"  server certificate: {info.server_certificate!r}")
        errors = ", ".join(e.name for e in info.server_certificate_errors)
        print(f"  errors: {errors}; severity {info.server_certificate_error_severity.name}")
        if info.server_certificate_error_severity != SocketSslErrorSeverity.IGNORABLE:
            raise
        # WinRT's sample would mark the errors ignorable. Trusting the authority that
        # issued the certificate is the safer way to accept it.
        sock.control.trusted_certificates.append(certificates.authority)
    sock.control.client_certificate = certificates.client
    await sock.connect(host, service, SocketProtectionLevel.TLS12)


async def demo() -> bytes:
    """The server and the client in one process; returns the echoed reply."""
    certificates = make_demo_certificates()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(run_server, certificates)
        async with StreamSocket() as sock:
            await connect_with_retry(sock, HostName("localhost"), port, certificates)
            level = sock.information.protection_level.name
            print(f"client connected over {level}, offering {certificates.client.subject}")
            await sock.send_all(b"hello over TLS\n")
            reply = await sock.receive_some()
            print(f"client received: {reply.decode().strip()}")
        nursery.cancel_scope.cancel()
    return reply


async def connect_to(host: str, service: str, cert: str, key: str, ca: str | None) -> None:
    """Connect to a real server with a client certificate; print what it sends first."""
    async with StreamSocket() as sock:
        sock.control.client_certificate = Certificate.from_pem_file(cert, key)
        if ca is not None:
            sock.control.trusted_certificates.append(Certificate.from_pem_file(ca))
        sock.control.tls_handshake_timeout = 10
        await sock.connect(HostName(host), service, SocketProtectionLevel.TLS12)
        print(f"connected over {sock.information.protection_level.name}")
        with trio.move_on_after(5):
            print((await sock.receive_some()).decode(errors="replace"))


if __name__ == "__main__":
    import command_line  # beside this script: its parser and its end on failure

    parser = command_line.parser(__doc__)
    parser.add_argument("--connect", nargs=2, metavar=("HOST", "SERVICE"))
    parser.add_argument("--cert", help="client certificate (PEM)")
    parser.add_argument("--key", help="its private key (PEM)")
    parser.add_argument("--ca", help="an extra root to trust (PEM)")
    arguments = parser.parse_args()
    if arguments.connect is None:
        if arguments.cert or arguments.key or arguments.ca:
            parser.error("--cert, --key and --ca go with --connect")
        command_line.run(demo)
    else:
        if arguments.cert is None or arguments.key is None:
            parser.error("--connect needs --cert and --key")
        host, service = arguments.connect
        command_line.run(connect_to, host, service, arguments.cert, arguments.key, arguments.ca)
