"""Certificates built with ``cryptography`` directly, sound or broken on purpose, and TLS
peers that present any chain of DER bytes.

trustme makes only sound certificates; the verification tests need chains that break
one rule each (an end entity that issues, a path length exceeded, a client-only usage
...) and bytes that OpenSSL reads but cryptography does not. Keys are elliptic-curve
(P-256) and made once per process: key generation is the slow part.
"""

from __future__ import annotations

import base64
import datetime
import functools
import ipaddress
import ssl
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


@functools.cache
def ec_key(index: int) -> ec.EllipticCurvePrivateKey:
    """The P-256 key number *index* (the same one every time in a process)."""
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def weak_rsa_key() -> rsa.RSAPrivateKey:
    """An RSA key of 1024 bits, below what OpenSSL's default security level accepts."""
    return rsa.generate_private_key(65537, 1024)


@functools.cache
def ed25519_key() -> ed25519.Ed25519PrivateKey:
    """An Ed25519 key: OpenSSL takes it, the Web PKI (and cryptography's verifier) not."""
    return ed25519.Ed25519PrivateKey.generate()


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def issue(
    subject: str,
    key: PrivateKey,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    path_length: int | None = None,
    basic_constraints: bool = True,
    key_cert_sign: bool | None = None,
    purposes: Sequence[x509.ObjectIdentifier] | None = None,
    names: Sequence[str] = (),
    permitted: Sequence[str] | None = None,
    not_before: datetime.datetime = NOW - DAY,
    not_after: datetime.datetime = NOW + 30 * DAY,
    critical_unknown: bool = False,
) -> Issued:
    """A certificate for *subject* (CN) signed by *issuer* (self-signed without one).

    *names* become the subject alternative names (DNS names or IP addresses);
    *permitted* a critical name-constraints extension; *critical_unknown* adds a critical
    extension nobody knows.
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), True
        )
    sign = ca if key_cert_sign is None else key_cert_sign
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=sign,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        ),
        True,
    )
    if purposes is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(purposes)), False)
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in names]), False
        )
    if permitted is not None:
        subtrees: list[x509.GeneralName] = [x509.DNSName(name) for name in permitted]
        builder = builder.add_extension(x509.NameConstraints(subtrees, None), True)
    if critical_unknown:
        unknown = x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"
        )
        builder = builder.add_extension(unknown, True)
    signer = issuer.key if issuer is not None else key
    digest = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, digest), key)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def pem_of(der: bytes) -> bytes:
    """PEM text of DER bytes, without parsing them (they may be broken on purpose)."""
    body = base64.encodebytes(der)
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def with_chain(context: ssl.SSLContext, ders: Sequence[bytes], key: PrivateKey) -> None:
    """Load *ders* (leaf first) and *key* into *context*, as a TLS peer presents them.

    Raises :class:`ssl.SSLError` when OpenSSL itself cannot read the certificates.
    """
    with tempfile.TemporaryDirectory(prefix="chains-") as directory:
        cert_file, key_file = Path(directory, "chain.pem"), Path(directory, "key.pem")
        cert_file.write_bytes(b"".join(pem_of(der) for der in ders))
        key_file.write_bytes(key_pem(key))
        context.load_cert_chain(cert_file, key_file)


def server_context(ders: Sequence[bytes], key: PrivateKey) -> ssl.SSLContext:
    """A TLS server context presenting *ders*; raises :class:`ssl.SSLError` as
    :func:`with_chain`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Security level 0: a hostile server presents weak keys too; the client judges.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with_chain(context, ders, key)
    return context


@asynccontextmanager
async def serving(context: ssl.SSLContext) -> AsyncIterator[int]:
    """A TLS server on 127.0.0.1 (trio's ``SSLStream``): after its handshake each
    connection gets ``b"hello"`` and is closed. Yields the port."""

    async def handler(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, context, server_side=True)
        # A refused handshake is the client's business here.
        with trio.move_on_after(10):
            try:
                await tls.do_handshake()
                await tls.send_all(b"hello")
                await tls.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"), handler, 0
        )
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()
