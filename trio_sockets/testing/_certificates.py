"""``TlsCertificates``: a throw-away certificate authority for TLS tests (trustme)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._core.certificate import Certificate

if TYPE_CHECKING:
    import trustme

__all__ = ["TlsCertificates"]


class TlsCertificates:
    """A fresh certificate authority with a server and a client certificate.

    Made with `trustme <https://trustme.readthedocs.io>`_ (a test dependency, imported
    when this class is used). :attr:`server` is valid for ``localhost``, ``127.0.0.1``
    and ``::1``; :attr:`client` for ``client.example.test`` (common name
    ``test-client``); both carry their private keys. Give :attr:`authority` to
    ``control.trusted_certificates`` to trust them; :meth:`issue` makes more.

    With a *directory*, everything is also written there as PEM files for programs
    such as ``openssl s_server`` (see :meth:`files`).
    """

    #: The authority's own certificate: trust it with ``control.trusted_certificates``.
    authority: Certificate
    #: A server certificate (with key) for ``localhost``, ``127.0.0.1`` and ``::1``.
    server: Certificate
    #: A client certificate (with key) for ``client.example.test``, CN ``test-client``.
    client: Certificate

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        try:
            import trustme
        except ImportError:  # pragma: no cover - trustme is in the test extra
            raise RuntimeError(
                "TlsCertificates needs trustme: pip install 'trio-sockets[test]' or trustme"
            ) from None
        self._ca = trustme.CA()
        self._directory = Path(directory) if directory is not None else None
        self.authority = Certificate.from_pem(self._ca.cert_pem.bytes())
        self.server = self.issue("localhost", "127.0.0.1", "::1", name="server")
        self.client = self.issue("client.example.test", common_name="test-client", name="client")
        if self._directory is not None:
            self._ca.cert_pem.write_to_path(str(self._directory / "authority.pem"))

    def issue(
        self,
        *identities: str,
        common_name: str | None = None,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        name: str | None = None,
    ) -> Certificate:
        """A new certificate (with its key) for *identities*: DNS names or IP addresses.

        *not_before* / *not_after* set the validity period (an expired certificate for a
        test). With *name* and a directory, it is written to ``<name>.crt`` and
        ``<name>.key`` there too.
        """
        leaf: trustme.LeafCert = self._ca.issue_cert(
            *identities, common_name=common_name, not_before=not_before, not_after=not_after
        )
        if name is not None and self._directory is not None:
            leaf.cert_chain_pems[0].write_to_path(str(self._directory / f"{name}.crt"))
            leaf.private_key_pem.write_to_path(str(self._directory / f"{name}.key"))
        return Certificate.from_pem(
            b"".join(blob.bytes() for blob in leaf.cert_chain_pems),
            leaf.private_key_pem.bytes(),
        )

    def files(self, name: str = "server") -> tuple[Path, Path]:
        """The ``(certificate, key)`` PEM files of a certificate issued with *name*.

        ``authority.pem`` in the same directory holds the authority. Raises
        :class:`RuntimeError` without a directory, :class:`FileNotFoundError` for a
        name never issued.
        """
        if self._directory is None:
            raise RuntimeError("TlsCertificates(directory=...) is needed to write files")
        cert, key = self._directory / f"{name}.crt", self._directory / f"{name}.key"
        if not cert.exists():
            raise FileNotFoundError(f"no certificate was issued with name={name!r}: {cert}")
        return cert, key

    @property
    def authority_file(self) -> Path:
        """The PEM file of the authority (needs a directory)."""
        if self._directory is None:
            raise RuntimeError("TlsCertificates(directory=...) is needed to write files")
        return self._directory / "authority.pem"

    def __repr__(self) -> str:
        return f"<TlsCertificates authority={self.authority.subject!r}>"
