"""``Certificate``, and which ``ChainValidationResult`` errors may be ignored.

OpenSSL (through the standard :mod:`ssl` module) verifies server certificates; it stops
at the first problem and reports one ``X509_V_ERR_*`` code. WinRT reports every problem
it finds, so that an application can decide which to ignore. The checks of what OpenSSL
can be told to skip (validity dates, the host name) are in
:mod:`~trio_sockets._core.certificate_checks`; :mod:`trio_sockets._tls.chain` verifies
whole chains. :mod:`cryptography` parses the certificates.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import ssl
import sys
from collections.abc import Callable, Iterable, Iterator, MutableSet, Sequence
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .certificate_checks import san_values
from .checks import describe, shown
from .enums import ChainValidationResult, SocketSslErrorSeverity
from .errors import out_of_resources

__all__ = [
    "Certificate",
    "IgnorableErrors",
    "certificate_list",
    "severity_of",
]

_C = ChainValidationResult

#: The most bytes :meth:`Certificate.from_pem_file` reads from one file: far more than a
#: PEM bundle of every public root (about 200 KiB), far less than a device or a wrong
#: file that never ends would fill memory with.
MAX_PEM_FILE_BYTES: Final = 4 * 1024 * 1024

#: Errors that may be ignored: each is either switched off in OpenSSL or checked here.
#: The revocation ones can always be ignored, as revocation is not checked.
IGNORABLE: Final = frozenset(
    {
        _C.UNTRUSTED,
        _C.INCOMPLETE_CHAIN,
        _C.EXPIRED,
        _C.INVALID_NAME,
        _C.REVOCATION_INFORMATION_MISSING,
        _C.REVOCATION_FAILURE,
    }
)


def severity_of(errors: Iterable[ChainValidationResult]) -> SocketSslErrorSeverity:
    """WinRT's ``ServerCertificateErrorSeverity`` of a list of errors."""
    found = set(errors) - {_C.SUCCESS}
    if not found:
        return SocketSslErrorSeverity.NONE
    if found <= IGNORABLE:
        return SocketSslErrorSeverity.IGNORABLE
    return SocketSslErrorSeverity.FATAL


class Certificate:
    """An X.509 certificate, optionally with its private key and issuer chain.

    The WinRT ``Certificate`` as far as sockets use it: a server presents one (see
    ``StreamSocketInformation.server_certificate``), a client offers one
    (``StreamSocketControl.client_certificate``), a listener serves with one, and a
    socket can trust one as a root (and each of its :attr:`chain`: a CA file of several
    authorities). Make one with :meth:`from_pem`, :meth:`from_pem_file` or :meth:`from_der`.
    Certificates compare equal when their (first) DER encodings are equal. They are
    immutable values: a copy is the same object, and one without a private key pickles
    (with its chain); pickling one with a key raises :exc:`TypeError`.
    """

    __slots__ = ("_cert", "_chain", "_der", "_key_pem", "_password")

    _cert: x509.Certificate
    _chain: tuple[x509.Certificate, ...]
    _der: bytes
    _key_pem: bytes | None
    _password: bytes | None

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "make a Certificate with Certificate.from_pem(), .from_pem_file() or .from_der()"
        )

    @classmethod
    def _make(
        cls,
        certs: Sequence[x509.Certificate],
        key_pem: bytes | None = None,
        password: bytes | None = None,
    ) -> Certificate:
        self = object.__new__(cls)
        self._cert = certs[0]
        self._chain = tuple(certs[1:])
        self._der = certs[0].public_bytes(serialization.Encoding.DER)
        self._key_pem = key_pem
        self._password = password
        return self

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_der(cls, der: bytes | bytearray | memoryview) -> Certificate:
        """A certificate (no key) from its DER encoding.

        Raises:
            TypeError: *der* is not bytes-like.
            ValueError: *der* is not a DER-encoded X.509 certificate.
        """
        if not isinstance(der, (bytes, bytearray, memoryview)):
            raise TypeError(f"der must be bytes, not {type(der).__name__}")
        try:
            cert = x509.load_der_x509_certificate(bytes(der))
        except (ValueError, x509.InvalidVersion) as exc:
            raise ValueError(f"not a DER-encoded X.509 certificate: {exc}") from None
        return cls._make([cert])

    @classmethod
    def from_pem(
        cls,
        cert_pem: bytes | str,
        key_pem: bytes | str | None = None,
        *,
        password: bytes | str | None = None,
    ) -> Certificate:
        """A certificate from PEM text: the certificate first, then its issuer chain.

        The private key (needed to present the certificate as a client or a server) is
        taken from *key_pem*, or else from *cert_pem* if that holds one too. An encrypted
        key needs its *password*.

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: no certificate in *cert_pem*, a key that cannot be read (wrong
                password, not PEM), or a key that does not belong to the certificate.
        """
        cert_bytes = _pem_bytes(cert_pem, "cert_pem")
        key_bytes = _pem_bytes(key_pem, "key_pem") if key_pem is not None else None
        return cls._from_pem_bytes(cert_bytes, key_bytes, _secret(password), "cert_pem", None)

    @classmethod
    def _from_pem_bytes(
        cls,
        cert_bytes: bytes,
        key_bytes: bytes | None,
        secret: bytes | None,
        cert_name: str,
        key_name: str | None,
    ) -> Certificate:
        """:meth:`from_pem` of bytes. The messages call the certificate's PEM text
        *cert_name*, and put *key_name* (if given) before those about the key."""
        try:
            certs = x509.load_pem_x509_certificates(cert_bytes)
        except x509.InvalidVersion as exc:
            raise ValueError(
                f"{cert_name} holds a certificate that cannot be read: {exc}"
            ) from None
        except ValueError:
            raise ValueError(
                f"{cert_name} holds no PEM certificate ('-----BEGIN CERTIFICATE-----')"
            ) from None
        if key_bytes is None and b"PRIVATE KEY-----" in cert_bytes:
            key_bytes = cert_bytes
        if key_bytes is not None:
            try:
                key_bytes = _check_key(certs[0], key_bytes, secret)
            except ValueError as exc:
                if key_name is None:
                    raise
                raise ValueError(f"{key_name}: {exc}") from None
        return cls._make(certs, key_bytes, secret)

    @classmethod
    def from_pem_file(
        cls,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str] | None = None,
        *,
        password: bytes | str | None = None,
    ) -> Certificate:
        """:meth:`from_pem` with the PEM text read from files.

        Each file is read up to :data:`MAX_PEM_FILE_BYTES` (4 MiB): an endless one, such
        as ``/dev/zero``, is refused rather than read into memory.

        Raises:
            TypeError: an argument has the wrong type.
            OSError: a file cannot be read.
            ValueError: as :meth:`from_pem`, or a file over 4 MiB; the message begins
                with the name of the file at fault (``'ca.pem' holds no PEM
                certificate ...``, ``'client.key': cannot read the private key ...``).
        """
        secret = _secret(password)
        cert_pem = _read_pem_file(cert_path)
        key_pem = None if key_path is None else _read_pem_file(key_path)
        cert_name = shown(os.fspath(cert_path))
        key_name = cert_name if key_path is None else shown(os.fspath(key_path))
        return cls._from_pem_bytes(cert_pem, key_pem, secret, cert_name, key_name)

    # -- what it is --------------------------------------------------------------------

    @property
    def subject(self) -> str:
        """The subject name, RFC 4514 (``"CN=example.com,O=Example"``)."""
        return self._cert.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        """The issuer name, RFC 4514."""
        return self._cert.issuer.rfc4514_string()

    @property
    def serial_number(self) -> bytes:
        """The serial number, big-endian bytes (WinRT ``SerialNumber``)."""
        number = self._cert.serial_number
        return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")

    @property
    def valid_from(self) -> datetime.datetime:
        """Start of the validity period (aware, UTC)."""
        return self._cert.not_valid_before_utc

    @property
    def valid_to(self) -> datetime.datetime:
        """End of the validity period (aware, UTC)."""
        return self._cert.not_valid_after_utc

    @property
    def dns_names(self) -> list[str]:
        """The DNS names of the subject alternative name extension."""
        names: list[str] = san_values(self._cert, x509.DNSName)
        return names

    @property
    def ip_addresses(self) -> list[str]:
        """The IP addresses of the subject alternative name extension, as text."""
        return [str(ip) for ip in san_values(self._cert, x509.IPAddress)]

    @property
    def has_private_key(self) -> bool:
        return self._key_pem is not None

    @property
    def der(self) -> bytes:
        """The DER encoding of the certificate (without its chain)."""
        return self._der

    @property
    def pem(self) -> str:
        """The PEM text of the certificate (without its chain or key)."""
        return self._cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def chain(self) -> list[Certificate]:
        """The certificates that came after this one (its issuers, nearest first)."""
        return [Certificate._make([cert]) for cert in self._chain]

    def get_hash_value(self, algorithm: str = "SHA1") -> bytes:
        """The fingerprint: a hash of the DER encoding (WinRT ``GetHashValue``).

        *algorithm* is a :mod:`hashlib` name (``"SHA1"``, the WinRT default, or
        ``"SHA256"``...). Raises :class:`ValueError` for an unknown algorithm.
        """
        try:
            digest = hashlib.new(algorithm.lower().replace("-", ""))
        except (ValueError, TypeError):
            raise ValueError(f"unknown hash algorithm {shown(algorithm)}") from None
        digest.update(self._der)
        return digest.digest()

    def to_cryptography(self) -> x509.Certificate:
        """The certificate as a :class:`cryptography.x509.Certificate`, for anything else."""
        return self._cert

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Certificate):
            return NotImplemented
        return self._der == other._der

    def __hash__(self) -> int:
        return hash(self._der)

    def __repr__(self) -> str:
        key = ", with key" if self._key_pem is not None else ""
        return f"<Certificate {self.subject!r} issued by {self.issuer!r}{key}>"

    def __copy__(self) -> Certificate:
        return self  # immutable: a copy is the same value, key included

    def __deepcopy__(self, memo: object) -> Certificate:
        return self

    def __reduce__(self) -> tuple[Callable[[bytes], Certificate], tuple[bytes]]:
        """Pickled as its PEM chain; one with a private key is refused (a pickle is no
        place for a key, nor for its password)."""
        if self._key_pem is not None:
            raise TypeError(
                "a Certificate with a private key cannot be pickled (a pickle is no place "
                "for a key and its password): send the paths of its PEM files, or the PEM "
                "text, and load it where it is needed with Certificate.from_pem_file() or "
                "Certificate.from_pem()"
            )
        # Through the public class (a bound classmethod pickles as getattr on it): its
        # loading loads the package's public names, whose classes report their home.
        return Certificate.from_pem, (self._chain_pem(),)

    # -- for the TLS layer -------------------------------------------------------------

    def _chain_pem(self) -> bytes:
        encoding = serialization.Encoding.PEM
        return b"".join(cert.public_bytes(encoding) for cert in (self._cert, *self._chain))

    def _load_into(self, context: ssl.SSLContext, what: str) -> None:
        """Load certificate, chain and key into *context* (``load_cert_chain``).

        Raises:
            ValueError: the certificate has no private key, or OpenSSL refuses it (a key
                too weak for its security level, say), named with OpenSSL's reason.
            SocketStatusError: ``TOO_MANY_OPEN_FILES``: no file descriptor (or memory)
                to load it with.
        """
        if self._key_pem is None:
            raise ValueError(
                f"{what} {self.subject!r} has no private key: make it with "
                "Certificate.from_pem(cert_pem, key_pem) or .from_pem_file(cert, key)"
            )
        # load_cert_chain reads files only. An anonymous file in memory (memfd), which
        # OpenSSL opens again through /proc, holds chain and key: the key never goes to
        # a disk, and closing the descriptor frees it, whatever failed.
        try:
            fd = os.memfd_create("trio-sockets-certificate", os.MFD_CLOEXEC)
            try:
                content = memoryview(self._chain_pem() + self._key_pem)
                while content:
                    content = content[os.write(fd, content) :]
                context.load_cert_chain(f"/proc/self/fd/{fd}", password=self._password)
            finally:
                os.close(fd)
        except ssl.SSLError as exc:
            why = f"OpenSSL says {exc.reason or exc.strerror or exc}"
            raise ValueError(f"{what} {self.subject!r} cannot be used: {why}") from exc
        except OSError as exc:
            shortage = out_of_resources(exc, f"load {what} {self.subject!r}")
            if shortage is None:
                raise
            raise shortage from exc


def _from_chain_pem(chain_pem: bytes) -> Certificate:
    """A certificate pickled by 0.2.0, through the package, whose first public name
    gives its classes their home (later versions pickle through ``from_pem``)."""
    certificate: type[Certificate] = sys.modules[__name__.partition(".")[0]].Certificate
    return certificate.from_pem(chain_pem)


def certificate_list(value: object, name: str) -> list[Certificate]:
    """*value*, an iterable of :class:`Certificate` (a setting named *name*), as a list."""
    if isinstance(value, (str, bytes, Certificate)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of Certificate, not {shown(value)}")
    certificates = list(value)
    for item in certificates:
        if not isinstance(item, Certificate):
            raise TypeError(f"{name} must hold Certificate objects, not {shown(item)}")
    return certificates


def _secret(password: object) -> bytes | None:
    """The password of an encrypted key, as bytes (None: none given)."""
    if password is not None and not isinstance(password, (bytes, str)):
        raise TypeError(f"password must be bytes or str, not {type(password).__name__}")
    return password.encode() if isinstance(password, str) else password


def _pem_bytes(value: object, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("ascii", "replace")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be PEM text (str or bytes), not {type(value).__name__}")


def _check_key(cert: x509.Certificate, key_pem: bytes, password: bytes | None) -> bytes:
    try:
        key = serialization.load_pem_private_key(key_pem, password)
    except TypeError as exc:  # a password for a plain key, or none for an encrypted one
        raise ValueError(f"cannot read the private key: {exc}") from None
    except ValueError as exc:
        raise ValueError(
            f"cannot read the private key (wrong password or not PEM): {exc}"
        ) from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise ValueError(
            f"the private key does not belong to the certificate {cert.subject.rfc4514_string()!r}"
        )
    # Only the key block itself goes to OpenSSL, as it was given (with its password):
    # encoded again by cryptography, an RSA-PSS key would become a plain RSA key, which
    # OpenSSL does not match to its certificate.
    block = _KEY_BLOCK.search(key_pem)
    if block is None:  # pragma: no cover - cryptography has just read a key from it
        raise ValueError("cannot find the private key's PEM block")
    return block.group(0) + b"\n"


# A PEM private key block: PKCS#8 (plain or encrypted) or a traditional one (RSA, EC...).
_KEY_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----\r?\n.*?-----END \1-----", re.DOTALL
)


class IgnorableErrors(MutableSet[ChainValidationResult]):
    """The mutable set behind ``control.ignorable_server_certificate_errors``.

    It takes only the :class:`ChainValidationResult` values that can be ignored:
    ``UNTRUSTED``, ``INCOMPLETE_CHAIN``, ``EXPIRED``, ``INVALID_NAME`` and the two
    revocation results (revocation is not checked). Adding anything else raises, so a
    wish that cannot be honoured fails where it is made.
    """

    def __init__(self, values: Iterable[ChainValidationResult] = ()) -> None:
        self._values: set[ChainValidationResult] = set()
        if isinstance(values, (str, bytes, ChainValidationResult)) or not isinstance(
            values, Iterable
        ):
            raise TypeError(
                f"ignorable errors must be a collection of ChainValidationResult values, "
                f"not {describe(values)}"
            )
        for value in values:
            self.add(value)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __iter__(self) -> Iterator[ChainValidationResult]:
        return iter(sorted(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: ChainValidationResult) -> None:
        """Add *value*; :exc:`TypeError` or :exc:`ValueError` if it cannot be ignored."""
        if not isinstance(value, ChainValidationResult):
            raise TypeError(
                f"ignorable errors are ChainValidationResult values, not {describe(value)}"
            )
        if value not in IGNORABLE:
            raise ValueError(
                f"ChainValidationResult.{value.name} cannot be ignored: only "
                f"{', '.join(sorted(v.name for v in IGNORABLE))} can (a certificate with "
                "a bad signature, a wrong usage or a broken chain structure is never accepted)"
            )
        self._values.add(value)

    def discard(self, value: ChainValidationResult) -> None:
        """Remove *value* if present."""
        self._values.discard(value)

    def copy(self) -> IgnorableErrors:
        """An independent set of the same values (as :meth:`set.copy`): changing it does
        not change this one, nor the socket this one belongs to."""
        return IgnorableErrors(self._values)

    __copy__ = copy

    def __reduce__(self) -> tuple[type[IgnorableErrors], tuple[list[ChainValidationResult]]]:
        return IgnorableErrors, (list(self),)

    def update(self, *values: Iterable[ChainValidationResult]) -> None:
        """Add every value of each iterable (as :meth:`set.update`)."""
        for iterable in values:
            for value in iterable:
                self.add(value)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"ChainValidationResult.{v.name}" for v in self) + "}"


def _read_pem_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of *path*, refused past :data:`MAX_PEM_FILE_BYTES`."""
    with open(path, "rb") as file:
        data = file.read(MAX_PEM_FILE_BYTES + 1)
    if len(data) > MAX_PEM_FILE_BYTES:
        raise ValueError(
            f"{shown(os.fspath(path))}: over {MAX_PEM_FILE_BYTES} bytes, too large for a "
            "PEM file of certificates and keys"
        )
    return data
