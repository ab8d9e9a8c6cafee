"""Certificate verification against chains broken on purpose, and certificates that
cannot be read, over real TLS handshakes.

Each chain breaks one rule. It must be refused unless the one error it carries can be
ignored and is; refused, it must report that error, and the WinRT retry (mark the
reported errors ignorable, connect again) must succeed exactly for ignorable ones. Both
verifiers are exercised: OpenSSL's during the handshake, and cryptography's after it
(when ``UNTRUSTED`` is ignorable). The servers are trio ``SSLStream`` servers presenting
chains built with ``cryptography`` (see ``chains.py``); the listener is a real TLS
``StreamSocketListener``.
"""

from __future__ import annotations

import dataclasses
import ssl
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from chains import (
    CLIENT_AUTH,
    DAY,
    NOW,
    Issued,
    ec_key,
    ed25519_key,
    issue,
    key_pem,
    pem_of,
    server_context,
    serving,
    weak_rsa_key,
    with_chain,
)
from conftest import require_tool, wait_until
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from trio_sockets import (
    Certificate,
    ChainValidationResult,
    HostName,
    SocketError,
    SocketErrorStatus,
    SocketProtectionLevel,
    SocketSslErrorSeverity,
    SocketStatusError,
    StreamSocket,
    StreamSocketListener,
)
from trio_sockets._core.certificate_checks import name_matches
from trio_sockets._pytest_plugin import DnsServerFactory

C = ChainValidationResult
S = SocketErrorStatus
L = SocketProtectionLevel
HOUR = DAY / 24


# -- the chains --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pki:
    root: Issued
    foreign_root: Issued

    @property
    def trusted(self) -> Certificate:
        return Certificate.from_der(self.root.der)


def make_pki() -> Pki:
    return Pki(
        root=issue("Chains Test Root", ec_key(0), ca=True),
        foreign_root=issue("Chains Foreign Root", ec_key(5), ca=True),
    )


PKI = make_pki()


@dataclasses.dataclass
class Shape:
    """How a chain is built: each field is one thing a defect can change."""

    depth: int = 1  # intermediates between the root and the leaf
    root: Issued = PKI.root
    path_length: int | None = None  # of the first intermediate
    key_cert_sign: bool = True  # of the last intermediate
    issuer_purposes: list[object] | None = None  # of the last intermediate
    permitted: list[str] | None = None  # name constraints of the first intermediate
    issuer_weak_key: bool = False  # the last intermediate has an RSA-1024 key
    issuer_expired: bool = False  # the last intermediate
    end_entity_issuer: bool = False  # an end entity between the intermediates and the leaf
    leaf_names: tuple[str, ...] = ("localhost",)
    leaf_purposes: list[object] | None = None
    leaf_not_before: object = NOW - 2 * DAY
    leaf_not_after: object = NOW + 30 * DAY
    leaf_critical_unknown: bool = False
    leaf_bad_signature: bool = False
    leaf_weak_key: bool = False  # the leaf has an RSA-1024 key
    send_intermediates: bool = True


def build(shape: Shape, send_root: bool) -> tuple[list[bytes], object]:
    """The DER chain a server presents (leaf first) and the leaf's key."""
    issuer = shape.root
    intermediates: list[Issued] = []
    for level in range(shape.depth):
        last = level == shape.depth - 1
        expired = last and shape.issuer_expired
        issuer = issue(
            f"Chains Intermediate {level}",
            weak_rsa_key() if last and shape.issuer_weak_key else ec_key(1 + level),
            issuer,
            ca=True,
            path_length=shape.path_length if level == 0 else None,
            key_cert_sign=shape.key_cert_sign or not last,
            purposes=shape.issuer_purposes if last else None,  # type: ignore[arg-type]
            permitted=shape.permitted if level == 0 else None,
            not_before=NOW - 60 * DAY,
            not_after=NOW - HOUR if expired else NOW + 60 * DAY,
        )
        intermediates.append(issuer)
    if shape.end_entity_issuer:
        issuer = issue("attacker.test", ec_key(4), issuer, names=("attacker.test",))
        intermediates.append(issuer)
    leaf = issue(
        "localhost",
        weak_rsa_key() if shape.leaf_weak_key else ec_key(3),
        issuer,
        names=shape.leaf_names,
        purposes=shape.leaf_purposes,  # type: ignore[arg-type]
        not_before=shape.leaf_not_before,  # type: ignore[arg-type]
        not_after=shape.leaf_not_after,  # type: ignore[arg-type]
        critical_unknown=shape.leaf_critical_unknown,
    )
    leaf_der = leaf.der
    if shape.leaf_bad_signature:
        leaf_der = leaf_der[:-1] + bytes([leaf_der[-1] ^ 0x01])
    ders = [leaf_der]
    if shape.send_intermediates:
        ders += [cert.der for cert in reversed(intermediates)]
    if send_root:
        ders.append(shape.root.der)
    return ders, leaf.key


#: Each defect: how the chain is changed, and the results it may be reported as (one
#: ignorable result, or the fatal results OpenSSL's and cryptography's words map to).
DEFECTS: dict[str, tuple[Callable[[Shape], None], frozenset[ChainValidationResult]]] = {
    "sound": (lambda shape: None, frozenset()),
    "end entity as issuer": (
        lambda shape: setattr(shape, "end_entity_issuer", True),
        frozenset({C.BASIC_CONSTRAINTS_ERROR}),
    ),
    "path length exceeded": (
        lambda shape: (setattr(shape, "path_length", 0), setattr(shape, "depth", 2)),
        frozenset({C.BASIC_CONSTRAINTS_ERROR}),
    ),
    "issuer without keyCertSign": (
        lambda shape: setattr(shape, "key_cert_sign", False),
        frozenset({C.BASIC_CONSTRAINTS_ERROR}),
    ),
    "leaf for clients only": (
        lambda shape: setattr(shape, "leaf_purposes", [CLIENT_AUTH]),
        frozenset({C.WRONG_USAGE}),
    ),
    "issuer for clients only": (
        lambda shape: setattr(shape, "issuer_purposes", [CLIENT_AUTH]),
        frozenset({C.WRONG_USAGE}),
    ),
    "name constraints violated": (
        lambda shape: setattr(shape, "permitted", ["example.test"]),
        frozenset({C.OTHER_ERRORS}),
    ),
    "unknown critical extension": (
        lambda shape: setattr(shape, "leaf_critical_unknown", True),
        frozenset({C.UNKNOWN_CRITICAL_EXTENSION}),
    ),
    "weak issuer key": (
        lambda shape: setattr(shape, "issuer_weak_key", True),
        frozenset({C.INVALID_SIGNATURE}),
    ),
    "weak leaf key": (
        lambda shape: setattr(shape, "leaf_weak_key", True),
        frozenset({C.INVALID_SIGNATURE}),
    ),
    "name with a trailing dot": (  # OpenSSL matches a SAN as written: no host has the dot
        lambda shape: setattr(shape, "leaf_names", ("localhost.",)),
        frozenset({C.INVALID_NAME}),
    ),
    "bad signature": (
        lambda shape: setattr(shape, "leaf_bad_signature", True),
        frozenset({C.INVALID_SIGNATURE}),
    ),
    "expired intermediate": (
        lambda shape: setattr(shape, "issuer_expired", True),
        frozenset({C.EXPIRED}),
    ),
    "expired leaf": (
        lambda shape: setattr(shape, "leaf_not_after", NOW - HOUR),
        frozenset({C.EXPIRED}),
    ),
    "leaf not yet valid": (
        lambda shape: setattr(shape, "leaf_not_before", NOW + DAY),
        frozenset({C.EXPIRED}),
    ),
    "wrong name": (
        lambda shape: setattr(shape, "leaf_names", ("other.test",)),
        frozenset({C.INVALID_NAME}),
    ),
    "name only in the common name": (
        lambda shape: setattr(shape, "leaf_names", ()),
        frozenset({C.INVALID_NAME}),
    ),
    "untrusted root": (
        lambda shape: setattr(shape, "root", PKI.foreign_root),
        frozenset({C.UNTRUSTED}),
    ),
    "missing intermediate": (
        lambda shape: setattr(shape, "send_intermediates", False),
        frozenset({C.UNTRUSTED}),
    ),
}
IGNORABLE = [C.UNTRUSTED, C.INCOMPLETE_CHAIN, C.EXPIRED, C.INVALID_NAME]


def trusting(pki: Pki, ignorable: set[ChainValidationResult]) -> StreamSocket:
    """A socket that trusts *pki*'s root and may ignore *ignorable*."""
    sock = StreamSocket()
    sock.control.trusted_certificates.append(pki.trusted)
    sock.control.ignorable_server_certificate_errors = ignorable
    sock.control.tls_handshake_timeout = 10
    return sock


async def outcome_of(sock: StreamSocket, port: int) -> OSError | None:
    try:
        with trio.fail_after(15):
            await sock.connect(HostName("localhost"), str(port), L.SSL)
    except OSError as exc:
        return exc
    return None


# -- a chain through an end entity -----------------------------------------------------------


def test_a_certificate_without_names_or_with_a_bad_version_is_handled() -> None:
    der = issue("no names", ec_key(3)).der
    nameless = Certificate.from_der(der)
    assert nameless.dns_names == []
    assert nameless.ip_addresses == []
    with pytest.raises(ValueError, match=r"not a DER-encoded X\.509 certificate"):
        Certificate.from_der(_with_version(der, 3))
    with pytest.raises(ValueError, match="cannot be read"):
        Certificate.from_pem(pem_of(_with_version(der, 3)))


@pytest.mark.parametrize(
    "ignorable",
    [set(), {C.INCOMPLETE_CHAIN}, {C.UNTRUSTED}, set(IGNORABLE)],
    ids=["nothing", "INCOMPLETE_CHAIN", "UNTRUSTED", "everything"],
)
async def test_a_chain_through_an_end_entity_is_refused_whatever_is_ignorable(
    ignorable: set[ChainValidationResult],
) -> None:
    """A leaf for ``attacker.test`` (issued by the trusted root) signs one for localhost."""
    shape = Shape(depth=0, end_entity_issuer=True)
    ders, key = build(shape, send_root=False)
    async with serving(server_context(ders, key)) as port, trusting(PKI, ignorable) as sock:
        failure = await outcome_of(sock, port)
        assert isinstance(failure, SocketStatusError), failure
        assert failure.status == S.CERTIFICATE_IS_INVALID
        info = sock.information
        assert info.server_certificate_errors == [C.BASIC_CONSTRAINTS_ERROR]
        assert info.server_certificate_error_severity == SocketSslErrorSeverity.FATAL
        assert info.protection_level == L.PLAIN_SOCKET


# -- the family of broken chains ----------------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    defect=st.sampled_from(sorted(DEFECTS)),
    depth=st.integers(1, 2),
    send_root=st.booleans(),
    ignorable=st.sets(st.sampled_from(IGNORABLE)),
)
@example(defect="end entity as issuer", depth=1, send_root=False, ignorable={C.INCOMPLETE_CHAIN})
@example(defect="end entity as issuer", depth=1, send_root=True, ignorable={C.UNTRUSTED})
@example(defect="expired intermediate", depth=2, send_root=False, ignorable={C.UNTRUSTED})
@example(defect="path length exceeded", depth=1, send_root=False, ignorable=set(IGNORABLE))
async def test_a_broken_chain_is_refused_unless_its_one_ignorable_error_is_ignored(
    defect: str, depth: int, send_root: bool, ignorable: set[ChainValidationResult]
) -> None:
    change, results = DEFECTS[defect]
    shape = Shape(depth=depth)
    change(shape)
    ders, key = build(shape, send_root)
    [carried] = results if len(results) == 1 and next(iter(results)) in IGNORABLE else [None]
    accepted = not results or (carried is not None and carried in ignorable)
    async with serving(server_context(ders, key)) as port, trusting(PKI, ignorable) as sock:
        failure = await outcome_of(sock, port)
        info = sock.information
        if accepted:
            assert failure is None, failure
            assert info.server_certificate_errors == sorted(results)
            assert await sock.receive_some() == b"hello"
            return
        assert isinstance(failure, SocketStatusError), failure
        assert failure.status != S.UNKNOWN
        errors = info.server_certificate_errors
        if carried is None:  # fatal: never accepted, so the retry is not for it
            assert len(errors) == 1, errors
            assert errors[0] in results, errors
            assert info.server_certificate_error_severity == SocketSslErrorSeverity.FATAL
            return
        assert errors == [carried]
        assert info.server_certificate_error_severity == SocketSslErrorSeverity.IGNORABLE
        # The WinRT retry on the same socket: ignore what was reported, connect again.
        sock.control.ignorable_server_certificate_errors.update(errors)
        assert await outcome_of(sock, port) is None
        assert info.server_certificate_errors == [carried]
        assert await sock.receive_some() == b"hello"


@pytest.mark.parametrize("with_name", [True, False], ids=["named", "common-name-only"])
async def test_a_self_signed_device_certificate_passes_when_untrusted_is_ignorable(
    tmp_path: Path, with_name: bool
) -> None:
    """What ``openssl req -x509`` makes (``CA:TRUE``, self-signed) is what a device
    serves: the Web PKI profile would refuse it as a server certificate, the verifier
    here takes it, as OpenSSL does."""
    cert, key = tmp_path / "device.crt", tmp_path / "device.key"
    command = [require_tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt"]
    command += ["ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", "/CN=localhost"]
    command += ["-keyout", str(key), "-out", str(cert)]
    if with_name:
        command += ["-addext", "subjectAltName=DNS:localhost"]
    await trio.run_process(command, capture_stdout=True, capture_stderr=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    expected = [C.UNTRUSTED] if with_name else [C.UNTRUSTED, C.INVALID_NAME]
    async with serving(context) as port, trusting(PKI, set(expected)) as sock:
        assert await outcome_of(sock, port) is None
        assert sock.information.server_certificate_errors == expected
        assert await sock.receive_some() == b"hello"


async def test_a_chain_expired_and_broken_is_refused_for_what_is_broken() -> None:
    shape = Shape(leaf_purposes=[CLIENT_AUTH], leaf_not_after=NOW - HOUR)
    ders, key = build(shape, send_root=False)
    async with serving(server_context(ders, key)) as port:
        for ignorable in (set(), {C.UNTRUSTED}, set(IGNORABLE)):
            async with trusting(PKI, ignorable) as sock:
                failure = await outcome_of(sock, port)
                assert isinstance(failure, SocketStatusError), failure
                assert failure.status == S.CERTIFICATE_WRONG_USAGE, (ignorable, failure)
                errors = sock.information.server_certificate_errors
                assert errors == [C.EXPIRED, C.WRONG_USAGE], (ignorable, errors)


async def test_both_verifiers_agree_on_every_defect() -> None:
    """OpenSSL (nothing ignorable) and cryptography (``UNTRUSTED`` ignorable, the root
    trusted) refuse the same chains, and report the same result class."""
    for defect, (change, results) in DEFECTS.items():
        shape = Shape()
        change(shape)
        ders, key = build(shape, send_root=False)
        found = []
        async with serving(server_context(ders, key)) as port:
            for ignorable in (set(), {C.UNTRUSTED}):
                async with trusting(PKI, ignorable) as sock:
                    failure = await outcome_of(sock, port)
                    errors = sock.information.server_certificate_errors
                    found.append((failure is None, errors))
        (openssl_ok, openssl_errors), (ours_ok, ours_errors) = found
        if C.UNTRUSTED in results:
            assert not openssl_ok, (defect, found)
            assert ours_ok, (defect, found)
            continue
        assert openssl_ok == ours_ok == (not results), (defect, found)
        assert openssl_errors == ours_errors, (defect, found)
        assert set(ours_errors) <= results, (defect, found)


async def test_a_trusted_intermediate_is_an_anchor_for_both_verifiers() -> None:
    """An intermediate put alone into ``trusted_certificates`` is trusted as it is, its
    root unknown: OpenSSL (nothing ignorable) and cryptography (``UNTRUSTED``
    ignorable) both accept a chain through it, sent with or without its issuers, and
    list no error; a chain through another issuer stays untrusted."""
    inter = issue("Chains Intermediate 0", ec_key(1), PKI.root, ca=True, not_before=NOW - 60 * DAY)
    leaf = issue("localhost", ec_key(3), inter, names=("localhost",))
    foreign = issue("localhost", ec_key(3), CLIENT_CA, names=("localhost",))
    # No authority: keyCertSign but no basicConstraints. Trusted alone, it must not
    # issue for anyone (OpenSSL took it for an anchor without VERIFY_X509_STRICT).
    no_ca = issue("No CA", ec_key(2), PKI.root, basic_constraints=False, key_cert_sign=True)
    forged = issue("localhost", ec_key(3), no_ca, names=("localhost",))
    cases = [
        (inter, [leaf.der, inter.der], leaf.key, True),
        (inter, [leaf.der, inter.der, PKI.root.der], leaf.key, True),
        (inter, [leaf.der], leaf.key, True),
        (inter, [foreign.der, CLIENT_CA.der], foreign.key, False),
        (no_ca, [forged.der, no_ca.der], forged.key, False),
    ]
    for anchor, ders, key, trusted in cases:
        async with serving(server_context(ders, key)) as port:
            for ignorable in (set(), {C.UNTRUSTED}):
                async with StreamSocket() as sock:
                    sock.control.trusted_certificates.append(Certificate.from_der(anchor.der))
                    sock.control.ignorable_server_certificate_errors = ignorable
                    failure = await outcome_of(sock, port)
                    errors = sock.information.server_certificate_errors
                    if trusted:
                        assert (failure, errors) == (None, []), (len(ders), ignorable)
                    elif anchor is no_ca:
                        assert failure is not None, ignorable
                        assert errors == [C.BASIC_CONSTRAINTS_ERROR], (ignorable, errors)
                    else:
                        assert errors == [C.UNTRUSTED], (ignorable, errors)
                        assert (failure is None) == bool(ignorable), (ignorable, failure)


async def test_a_listener_trusting_an_intermediate_alone_accepts_its_clients() -> None:
    async with tls_listener_for_clients() as listener, trio.open_nursery() as nursery:
        listener.control.trusted_certificates = [Certificate.from_der(CLIENT_CA.der)]
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        nursery.start_soon(serve_greeting, listener)
        port = int(listener.information.local_port)
        for chain in ([CLIENT.der, CLIENT_CA.der], [CLIENT.der]):
            assert await present(port, client_context(chain, CLIENT.key)) == b"hello CN=client"
        other = issue("client", ec_key(6), PKI.root, names=("client.test",))
        assert await present(port, client_context([other.der], other.key)) == b""
        nursery.cancel_scope.cancel()


async def test_an_issuer_only_openssl_takes_is_refused_when_untrusted_is_ignorable() -> None:
    """cryptography's verifier takes the Web PKI's algorithms only (RSA from 2048 bits,
    ECDSA on P-256, P-384, P-521): a root with an Ed25519 key is refused when it
    verifies, although OpenSSL, verifying, accepts the same chain."""
    root = issue("Chains Ed25519 Root", ed25519_key(), ca=True)
    leaf = issue("localhost", ec_key(3), root, names=("localhost",))
    pki = dataclasses.replace(PKI, root=root)
    async with serving(server_context([leaf.der], leaf.key)) as port:
        async with trusting(pki, set()) as sock:
            assert await outcome_of(sock, port) is None
        async with trusting(pki, {C.UNTRUSTED}) as sock:
            failure = await outcome_of(sock, port)
            assert isinstance(failure, SocketStatusError), failure
            assert sock.information.server_certificate_errors == [C.INVALID_SIGNATURE]
            assert "public key algorithm" in str(failure)


# -- key sizes and signature digests -------------------------------------------------------------

#: An RSA-1024 server key, issued by the trusted root, and self-signed (a device's).
WEAK_LEAF = issue("localhost", weak_rsa_key(), PKI.root, names=("localhost",))
WEAK_DEVICE = issue("localhost", weak_rsa_key(), names=("localhost",))


@pytest.mark.parametrize("leaf", [WEAK_LEAF, WEAK_DEVICE], ids=["issued", "self-signed"])
@pytest.mark.parametrize(
    "ignorable", [{C.UNTRUSTED}, set(IGNORABLE)], ids=["UNTRUSTED", "everything"]
)
async def test_a_weak_server_key_is_refused_when_untrusted_is_ignorable(
    leaf: Issued, ignorable: set[ChainValidationResult]
) -> None:
    """An RSA-1024 key is below OpenSSL's default security level: OpenSSL refuses it
    ("EE certificate key too weak"), and so does the check made when ``UNTRUSTED`` is
    ignorable -- also for a self-signed device certificate, the pinning case."""
    server = server_context([leaf.der], leaf.key)
    async with serving(server) as port, trusting(PKI, ignorable) as sock:
        failure = await outcome_of(sock, port)
        assert isinstance(failure, SocketStatusError), failure
        assert failure.status == S.CERTIFICATE_IS_INVALID
        info = sock.information
        assert C.INVALID_SIGNATURE in info.server_certificate_errors
        assert info.server_certificate_error_severity == SocketSslErrorSeverity.FATAL
        assert "EE certificate key too weak (RSA 1024 bits" in str(failure)


def _weak_issuer() -> tuple[list[bytes], object]:
    return build(Shape(issuer_weak_key=True), send_root=False)


def _sha1_leaf() -> tuple[list[bytes], object]:
    """A leaf the trusted root signed with ECDSA-SHA1 (by ``openssl x509``: cryptography
    no longer signs with SHA-1); it re-signs a self-signed one."""
    leaf = issue("localhost", ec_key(3), names=("localhost",))
    with tempfile.TemporaryDirectory(prefix="sha1-") as directory:
        root_pem, root_key, leaf_pem = (Path(directory, name) for name in ("r", "k", "l"))
        root_pem.write_bytes(pem_of(PKI.root.der))
        root_key.write_bytes(key_pem(PKI.root.key))
        leaf_pem.write_bytes(pem_of(leaf.der))
        command = [require_tool("openssl"), "x509", "-in", str(leaf_pem), "-outform", "DER"]
        command += ["-CA", str(root_pem), "-CAkey", str(root_key), "-sha1"]
        signed = subprocess.run(command, capture_output=True, check=True, timeout=30).stdout
    return [signed], leaf.key


#: Chains OpenSSL's default security level refuses: what each presents, and its words.
WEAK_CHAINS: dict[str, tuple[Callable[[], tuple[list[bytes], object]], str]] = {
    "weak leaf key": (lambda: ([WEAK_LEAF.der], WEAK_LEAF.key), "EE certificate key too weak"),
    "weak issuer key": (_weak_issuer, "CA certificate key too weak"),
    "SHA-1 signature": (_sha1_leaf, "signature digest algorithm too weak"),
}


def old_server_context(ders: list[bytes], key: object) -> ssl.SSLContext:
    """A server context that also speaks TLS 1.0 and 1.1."""
    context = server_context(ders, key)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    return context


@pytest.mark.parametrize("weakness", sorted(WEAK_CHAINS))
@pytest.mark.parametrize(
    ("minimum", "level"),
    [(L.TLS10, L.SSL), (L.UNSPECIFIED, L.TLS10), (L.UNSPECIFIED, L.TLS11)],
    ids=["floor TLS10", "pinned TLS10", "pinned TLS11"],
)
async def test_a_lower_version_floor_keeps_the_certificate_strength_checks(
    weakness: str, minimum: SocketProtectionLevel, level: SocketProtectionLevel
) -> None:
    """TLS 1.0 and 1.1 need OpenSSL's security level 0, which also drops its checks of
    key sizes and signature digests: they are made after the handshake instead, so the
    chain is refused as at the default level, whichever version was negotiated."""
    make, words = WEAK_CHAINS[weakness]
    ders, key = make()
    async with serving(old_server_context(ders, key)) as port, trusting(PKI, set()) as sock:
        sock.control.min_protection_level = minimum
        with trio.fail_after(15):
            with pytest.raises(SocketStatusError) as caught:
                await sock.connect(HostName("localhost"), str(port), level)
        assert caught.value.status == S.CERTIFICATE_IS_INVALID
        assert words in str(caught.value)
        assert sock.information.server_certificate_errors == [C.INVALID_SIGNATURE]
        assert sock.information.protection_level == L.PLAIN_SOCKET


@pytest.mark.parametrize("level", [L.SSL, L.TLS10], ids=["SSL", "TLS10"])
async def test_a_sound_chain_passes_with_a_lower_version_floor(
    level: SocketProtectionLevel,
) -> None:
    ders, key = build(Shape(), send_root=False)
    async with serving(old_server_context(ders, key)) as port, trusting(PKI, set()) as sock:
        sock.control.min_protection_level = L.TLS10
        with trio.fail_after(15):
            await sock.connect(HostName("localhost"), str(port), level)
        assert sock.information.server_certificate_errors == []
        assert sock.information.protection_level == (L.TLS13 if level == L.SSL else L.TLS10)
        assert await sock.receive_some() == b"hello"


@pytest.mark.parametrize(
    "ignorable", [{C.EXPIRED}, {C.EXPIRED, C.UNTRUSTED}], ids=["OpenSSL", "cryptography"]
)
async def test_an_ignored_expired_root_is_listed_in_the_errors(
    ignorable: set[ChainValidationResult],
) -> None:
    """The trusted root has expired, the leaf has not: the connect is refused as
    ``EXPIRED``, and the retry that ignores it reports the ``EXPIRED`` it let through."""
    root = issue(
        "Chains Expired Root",
        ec_key(8),
        ca=True,
        not_before=NOW - 400 * DAY,
        not_after=NOW - 30 * DAY,
    )
    leaf = issue("localhost", ec_key(3), root, names=("localhost",), not_before=NOW - 40 * DAY)
    pki = dataclasses.replace(PKI, root=root)
    server = server_context([leaf.der], leaf.key)
    async with serving(server) as port, trusting(pki, set()) as sock:
        failure = await outcome_of(sock, port)
        assert isinstance(failure, SocketStatusError), failure
        assert failure.status == S.CERTIFICATE_EXPIRED
        assert sock.information.server_certificate_errors == [C.EXPIRED]
        sock.control.ignorable_server_certificate_errors = ignorable
        assert await outcome_of(sock, port) is None
        assert sock.information.server_certificate_errors == [C.EXPIRED]
        assert await sock.receive_some() == b"hello"


# -- host names ----------------------------------------------------------------------------------


def test_a_whole_label_wildcard_stands_for_an_idn_label() -> None:
    """OpenSSL lets ``*`` as a whole label stand for an A-label (``xn--...``); only a
    partial wildcard may not, and Python's ssl allows no partial wildcards at all."""
    wildcard = issue("wildcard", ec_key(3), names=("*.example.test",)).cert
    partial = issue("partial", ec_key(3), names=("xn--*.example.test",)).cert
    assert name_matches(wildcard, HostName("bücher.example.test"))
    assert name_matches(wildcard, HostName("xn--bcher-kva.example.test"))
    assert not name_matches(wildcard, HostName("example.test"))
    assert not name_matches(wildcard, HostName("a.b.example.test"))
    assert not name_matches(partial, HostName("xn--bcher-kva.example.test"))


@pytest.mark.parametrize(
    "ignorable",
    [set(), {C.UNTRUSTED}, {C.INVALID_NAME}],
    ids=["OpenSSL", "cryptography", "INVALID_NAME ignorable"],
)
async def test_a_wildcard_certificate_serves_an_idn_host_on_both_verifiers(
    dns_server: DnsServerFactory, ignorable: set[ChainValidationResult]
) -> None:
    leaf = issue("wildcard", ec_key(3), PKI.root, names=("*.example.test",))
    dns = await dns_server(hosts={"xn--bcher-kva.example.test": "127.0.0.1"})
    server = server_context([leaf.der], leaf.key)
    async with serving(server) as port, StreamSocket(resolver=dns.resolver()) as sock:
        sock.control.trusted_certificates.append(PKI.trusted)
        sock.control.ignorable_server_certificate_errors = ignorable
        with trio.fail_after(15):
            await sock.connect(HostName("bücher.example.test"), str(port), L.SSL)
        assert sock.information.server_certificate_errors == []
        assert await sock.receive_some() == b"hello"


# -- certificates that cannot be read ------------------------------------------------------------


def _with_version(der: bytes, version: int) -> bytes:
    """*der* with its version field set to *version* (2 is v3; 3 would be "v4")."""
    marker = b"\xa0\x03\x02\x01"
    at = der.index(marker) + len(marker)
    return der[:at] + bytes([version]) + der[at + 1 :]


async def test_an_unreadable_extra_certificate_is_a_classified_failure() -> None:
    """A copy of the leaf patched to "v4" after it: OpenSSL reads it, cryptography not."""
    self_signed = issue("localhost", ec_key(3), names=("localhost",))
    ders = [self_signed.der, _with_version(self_signed.der, 3)]
    async with serving(server_context(ders, self_signed.key)) as port:
        for ignorable in (set(), {C.UNTRUSTED}):
            async with trusting(PKI, ignorable) as sock:
                failure = await outcome_of(sock, port)
                assert isinstance(failure, SocketStatusError), failure
                assert SocketError.get_status(failure) == S.CERTIFICATE_IS_INVALID
                assert "certificate 2 of 2 cannot be read" in str(failure)
                info = sock.information
                assert C.OTHER_ERRORS in info.server_certificate_errors
                assert info.server_certificate_error_severity == SocketSslErrorSeverity.FATAL
                assert info.server_certificate == Certificate.from_der(self_signed.der)


#: A client certificate, issued by an intermediate of the test root.
CLIENT_CA = issue("Chains Client CA", ec_key(1), PKI.root, ca=True)
CLIENT = issue("client", ec_key(6), CLIENT_CA, names=("client.test",))


def client_context(ders: list[bytes], key: object) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(cadata=PKI.root.der)
    with_chain(context, ders, key)  # type: ignore[arg-type]
    return context


async def present(port: int, context: ssl.SSLContext) -> bytes:
    """Handshake with the listener at *port* presenting *context*'s chain; what it sends."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    tls = trio.SSLStream(stream, context, server_hostname="localhost")
    with trio.fail_after(10):
        try:
            await tls.do_handshake()
            await tls.send_all(b"hi\n")
            return await tls.receive_some()
        except trio.BrokenResourceError:
            return b""
        finally:
            await stream.aclose()


async def serve_greeting(listener: StreamSocketListener) -> None:
    async for args in listener.connection_received:
        async with args.socket as conn:
            peer = conn.information.peer_certificate
            assert peer is not None
            await conn.send_all(b"hello " + peer.subject.encode())


def tls_listener_for_clients() -> StreamSocketListener:
    listener = StreamSocketListener()
    server = issue("localhost", ec_key(7), PKI.root, names=("localhost", "127.0.0.1"))
    listener.control.server_certificate = Certificate.from_pem(
        pem_of(server.der), key_pem(server.key)
    )
    listener.control.client_certificate_required = True
    listener.control.trusted_certificates = [PKI.trusted]
    listener.control.tls_handshake_timeout = 10
    return listener


async def test_a_client_with_an_unreadable_extra_certificate_does_not_stop_the_listener() -> None:
    intermediate, client = CLIENT_CA, CLIENT
    good = client_context([client.der, intermediate.der], client.key)
    bad = client_context([client.der, intermediate.der, _with_version(client.der, 3)], client.key)
    error = await refusal_of(L.SSL, good, bad)
    assert "cannot be read" in str(error)


async def refusal_of(level: L, good: ssl.SSLContext, bad: ssl.SSLContext) -> BaseException:
    """What a listener at *level* that greets each client by name counted as its one
    handshake failure: the client of *good* is greeted before and after the client of
    *bad*, which is refused (``CERTIFICATE_IS_INVALID``)."""
    async with tls_listener_for_clients() as listener, trio.open_nursery() as nursery:
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", level)
        nursery.start_soon(serve_greeting, listener)
        port = int(listener.information.local_port)
        assert await present(port, good) == b"hello CN=client"
        assert await present(port, bad) == b""
        await wait_until(lambda: listener.information.tls_handshake_failures == 1)
        error = listener.information.last_tls_handshake_error
        assert error is not None
        assert SocketError.get_status(error) == S.CERTIFICATE_IS_INVALID
        assert await present(port, good) == b"hello CN=client"
        nursery.cancel_scope.cancel()
    return error


def tls10_client_context(client: Issued) -> ssl.SSLContext:
    """A TLS 1.0 client presenting *client* (at security level 0, which 1.0 needs)."""
    context = ssl.create_default_context()
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1
    context.load_verify_locations(cadata=PKI.root.der)
    with_chain(context, [client.der, CLIENT_CA.der], client.key)
    return context


async def test_a_weak_client_key_is_refused_by_a_tls10_listener() -> None:
    """A TLS10 listener runs at security level 0 too: a client certificate with an
    RSA-1024 key is refused after the handshake, as at the default level."""
    weak = tls10_client_context(issue("client", weak_rsa_key(), CLIENT_CA, names=("c.test",)))
    good = tls10_client_context(CLIENT)
    error = await refusal_of(L.TLS10, good, weak)
    assert "client certificate failed verification: EE certificate key too weak" in str(error)


# -- fuzzing what the peer presents ------------------------------------------------------------


def _primitive_spans(der: bytes) -> list[tuple[int, int]]:
    """Where the contents of the primitive values of *der* are (tags and lengths kept),
    descending into constructed values and into OCTET and BIT STRINGs that hold DER."""
    spans: list[tuple[int, int]] = []

    def walk(start: int, end: int) -> bool:
        at = start
        while at < end:
            if at + 2 > end:
                return False
            tag, length, at = der[at], der[at + 1], at + 2
            if length & 0x80:
                count = length & 0x7F
                if count == 0 or count > 3 or at + count > end:
                    return False
                length, at = int.from_bytes(der[at : at + count], "big"), at + count
            if at + length > end:
                return False
            inner = (at + 1, at + length) if tag == 0x03 else (at, at + length)
            nested = tag & 0x20 or tag in (0x03, 0x04)
            if (not nested or not walk(*inner)) and length:
                spans.append((at, at + length))
            at += length
        return at == end

    walk(0, len(der))
    return spans


@st.composite
def mutated(draw: st.DrawFn, der: bytes) -> bytes:
    """*der* with a few bytes of its values changed (still OpenSSL's to read, often not
    cryptography's), or its version field set to anything."""
    if draw(st.booleans()):
        return _with_version(der, draw(st.integers(0, 255)))
    spans = _primitive_spans(der)
    data = bytearray(der)
    for _ in range(draw(st.integers(1, 3))):
        start, end = draw(st.sampled_from(spans))
        data[draw(st.integers(start, end - 1))] = draw(st.integers(0, 255))
    return bytes(data)


#: Where the changed certificate goes: in place of the leaf or of its issuer, or after
#: the chain as an extra (a peer may send anything after its leaf).
PLACES = ["leaf", "issuer", "extra"]


def changed_chain(data: st.DataObject, ders: list[bytes], which: str) -> list[bytes]:
    """*ders* (leaf, issuer) with one certificate changed by :func:`mutated`."""
    if which == "leaf":
        return [data.draw(mutated(ders[0])), *ders[1:]]
    if which == "issuer":
        return [ders[0], data.draw(mutated(ders[1]))]
    return [*ders, data.draw(mutated(ders[data.draw(st.integers(0, 1))]))]


FUZZ_LEAF = issue("localhost", ec_key(3), PKI.root, names=("localhost", "127.0.0.1"))


def _served(ders: list[bytes], key: object) -> ssl.SSLContext | None:
    try:
        return server_context(ders, key)  # type: ignore[arg-type]
    except ssl.SSLError:
        return None  # OpenSSL cannot read it either: no peer can present it


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), which=st.sampled_from(PLACES), ignorable=st.sets(st.sampled_from(IGNORABLE)))
async def test_any_certificate_a_server_presents_is_accepted_or_a_classified_failure(
    data: st.DataObject, which: str, ignorable: set[ChainValidationResult]
) -> None:
    ders = changed_chain(data, [FUZZ_LEAF.der, PKI.root.der], which)
    context = _served(ders, FUZZ_LEAF.key)
    if context is None:
        event("OpenSSL cannot read it")
        return
    async with serving(context) as port, trusting(PKI, ignorable) as sock:
        failure = await outcome_of(sock, port)
        if failure is None:
            event("accepted")
            assert await sock.receive_some() == b"hello"
            return
        assert isinstance(failure, SocketStatusError), repr(failure)
        event(f"refused: {failure.status.name}")
        assert failure.status != S.UNKNOWN, repr(failure)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), which=st.sampled_from(PLACES))
async def test_any_certificate_a_client_presents_leaves_the_listener_serving(
    data: st.DataObject, which: str
) -> None:
    good = client_context([CLIENT.der, CLIENT_CA.der], CLIENT.key)
    try:
        bad = client_context(changed_chain(data, [CLIENT.der, CLIENT_CA.der], which), CLIENT.key)
    except ssl.SSLError:
        event("OpenSSL cannot read it")
        return
    async with tls_listener_for_clients() as listener, trio.open_nursery() as nursery:
        await listener.bind_endpoint(HostName("127.0.0.1"), "0", L.SSL)
        nursery.start_soon(serve_greeting, listener)
        port = int(listener.information.local_port)
        if await present(port, bad) == b"hello CN=client":
            event("accepted")
        else:
            await wait_until(lambda: listener.information.tls_handshake_failures == 1)
            error = listener.information.last_tls_handshake_error
            assert isinstance(error, SocketStatusError), repr(error)
            event(f"refused: {error.status.name}")
            assert error.status != S.UNKNOWN, repr(error)
        assert await present(port, good) == b"hello CN=client"
        nursery.cancel_scope.cancel()
