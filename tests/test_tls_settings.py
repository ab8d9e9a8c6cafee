"""The frozen TLS settings of a client handshake: what makes two equal, and the
handshake deadline they give; the trust list, which takes Certificates only, and sealed
once a listener is bound. Pure: no sockets, a fake clock."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from cryptography.hazmat.primitives import serialization

from trio_sockets import (
    Certificate,
    ChainValidationResult,
    IgnorableErrors,
    MessageWebSocket,
    SocketProtectionLevel,
    StreamSocket,
    StreamSocketListener,
    StreamWebSocket,
)
from trio_sockets._core.certificate import _from_chain_pem
from trio_sockets._core.checks import MAX_SHOWN, SealedList
from trio_sockets._sockets.stream_control import tls_client_settings
from trio_sockets._tls.settings import TlsClientSettings

L = SocketProtectionLevel
C = ChainValidationResult


def test_settings_are_frozen_and_compare_without_their_timeouts() -> None:
    settings = TlsClientSettings(L.TLS12, handshake_timeout=1.0, connect_timeout=2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.level = L.TLS13  # type: ignore[misc]
    same = TlsClientSettings(L.TLS12, handshake_timeout=60.0, connect_timeout=None)
    assert settings == same
    assert hash(settings) == hash(same)
    assert settings != TlsClientSettings(L.TLS12, ignorable=frozenset({C.EXPIRED}))
    assert settings != TlsClientSettings(L.TLS13)


def test_the_client_key_is_part_of_the_settings() -> None:
    """A Certificate compares by its DER alone: the same certificate with its key stored
    another way (here: encrypted) must still make other settings, as the context loads
    the key as given."""
    leaf = trustme.CA().issue_cert("client.test")
    cert_pem = leaf.cert_chain_pems[0].bytes()
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    plain = Certificate.from_pem(cert_pem, leaf.private_key_pem.bytes())
    locked = Certificate.from_pem(cert_pem, encrypted, password=b"secret")
    assert plain == locked  # the certificates themselves are equal
    assert TlsClientSettings(L.SSL, certificate=plain) != TlsClientSettings(
        L.SSL, certificate=locked
    )
    assert TlsClientSettings(L.SSL, certificate=plain) == TlsClientSettings(
        L.SSL, certificate=Certificate.from_pem(cert_pem, leaf.private_key_pem.bytes())
    )


def test_the_client_certificates_chain_is_part_of_the_settings() -> None:
    """The same certificate and key with another chain (or none) sends another chain in
    the handshake: it must not share a context with the first."""
    root = trustme.CA()
    leaf = root.create_child_ca().issue_cert("client.test")
    cert_pem, intermediate_pem = (pem.bytes() for pem in leaf.cert_chain_pems[:2])
    key = leaf.private_key_pem.bytes()
    chained = Certificate.from_pem(cert_pem + intermediate_pem, key)
    alone = Certificate.from_pem(cert_pem, key)
    assert chained == alone  # the certificates themselves are equal
    assert TlsClientSettings(L.SSL, certificate=chained) != TlsClientSettings(
        L.SSL, certificate=alone
    )


def test_a_certificate_pickles_with_its_chain_but_not_with_a_key() -> None:
    """pickle failed with cryptography's own TypeError; a key is refused on purpose."""
    leaf = trustme.CA().create_child_ca().issue_cert("client.test")
    chain_pem = b"".join(pem.bytes() for pem in leaf.cert_chain_pems)
    public = Certificate.from_pem(chain_pem)
    loaded = pickle.loads(pickle.dumps(public))
    assert loaded == public
    assert loaded.chain == public.chain
    assert len(loaded.chain) == 1  # the intermediate
    assert not loaded.has_private_key
    keyed = Certificate.from_pem(chain_pem, leaf.private_key_pem.bytes())
    with pytest.raises(TypeError, match=r"private key cannot be pickled.*from_pem_file\(\)"):
        pickle.dumps(keyed)
    for copied in (copy.copy(keyed), copy.deepcopy(keyed)):
        assert copied == keyed
        assert copied.has_private_key
        assert copied.chain == keyed.chain


class _PickledBy020:
    """Pickles as version 0.2.0 pickled a Certificate: through a private helper."""

    def __init__(self, chain_pem: bytes) -> None:
        self.chain_pem = chain_pem

    def __reduce__(self) -> tuple[Callable[[bytes], Certificate], tuple[bytes]]:
        return _from_chain_pem, (self.chain_pem,)


def test_an_unpickled_certificate_reports_the_package_as_its_home_at_once() -> None:
    """A fresh process that unpickles a Certificate before it uses any public name sees
    the class as trio_sockets.Certificate, as it will later: the pickle goes through the
    public class. It named a private helper, and the class reported its private module
    until a public name was first used. Every pickle protocol; a 0.2.0 pickle loads."""
    leaf = trustme.CA().issue_cert("client.test")
    public = Certificate.from_pem(leaf.cert_chain_pems[0].bytes())
    pickles = [pickle.dumps(public, protocol) for protocol in range(pickle.HIGHEST_PROTOCOL + 1)]
    assert b"_from_chain_pem" not in pickles[-1]
    program = (
        "import pickle, sys\n"
        "for data in map(bytes.fromhex, sys.argv[1:]):\n"
        "    loaded = pickle.loads(data)\n"
        "    print(type(loaded).__module__, type(loaded).__qualname__, loaded.der.hex())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, *(data.hex() for data in pickles)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [f"trio_sockets Certificate {public.der.hex()}"] * len(
        pickles
    ), done.stderr
    assert pickle.loads(pickle.dumps(_PickledBy020(public.pem.encode()))) == public
    # A 0.2.0 pickle loaded first in a process: the home too, and pickled again, the
    # public path.
    old = pickle.dumps(_PickledBy020(public.pem.encode()))
    again = (
        "import pickle, sys\n"
        "loaded = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
        "print(type(loaded).__module__, b'trio_sockets._core' in pickle.dumps(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", again, old.hex()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["trio_sockets", "False"], done.stderr


def test_every_certificate_of_a_trusted_bundle_is_part_of_the_settings() -> None:
    """A Certificate read from a PEM file of several authorities compares equal to its
    first one alone, but trusts each of them: settings that trust the bundle differ from
    settings that trust its first authority alone, and list every root once."""
    first, second = trustme.CA(), trustme.CA()
    bundle = Certificate.from_pem(first.cert_pem.bytes() + second.cert_pem.bytes())
    alone = Certificate.from_pem(first.cert_pem.bytes())
    assert bundle == alone
    assert TlsClientSettings(L.SSL, trusted=(bundle,)) != TlsClientSettings(L.SSL, trusted=(alone,))
    ders = [Certificate.from_pem(ca.cert_pem.bytes()).der for ca in (first, second)]
    assert TlsClientSettings(L.SSL, trusted=(bundle, alone)).anchors == tuple(ders)


def test_a_control_gives_the_settings_it_holds() -> None:
    ca = trustme.CA()
    root = Certificate.from_pem(ca.cert_pem.bytes())
    sock = StreamSocket()
    control = sock.control
    control.trusted_certificates.append(root)
    control.ignorable_server_certificate_errors.add(C.INVALID_NAME)
    control.min_protection_level = L.TLS12
    control.tls_handshake_timeout = 7
    control.connect_timeout = 9
    settings = tls_client_settings(control, L.SSL)
    assert settings == TlsClientSettings(L.SSL, L.TLS12, (root,), frozenset({C.INVALID_NAME}), None)
    assert (settings.handshake_timeout, settings.connect_timeout) == (7, 9)
    # A snapshot: later changes to the control do not reach it.
    control.trusted_certificates.clear()
    assert settings.trusted == (root,)


def test_a_control_refuses_a_trust_list_that_holds_something_else() -> None:
    sock = StreamSocket()
    # Past the list's own checks, by list's method: the settings check again.
    list.append(sock.control.trusted_certificates, "not a certificate")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trusted_certificates must hold Certificate"):
        tls_client_settings(sock.control, L.SSL)


#: The controls that have ``trusted_certificates``, each of a new (unentered) socket.
_TRUSTING_CONTROLS: dict[str, Callable[[], Any]] = {
    "StreamSocketControl": lambda: StreamSocket().control,
    "StreamSocketListenerControl": lambda: StreamSocketListener().control,
    "MessageWebSocketControl": lambda: MessageWebSocket().control,
    "StreamWebSocketControl": lambda: StreamWebSocket().control,
}


@pytest.mark.parametrize("kind", list(_TRUSTING_CONTROLS))
def test_the_trust_list_refuses_anything_but_a_certificate_where_it_is_given(kind: str) -> None:
    """docs/reference.rst: bad arguments are refused where they are given. Putting
    anything but a Certificate into ``trusted_certificates``, in any way a list takes
    items, raises TypeError naming the value (shown bounded) and leaves the list as it
    was; before, ``append("ca.pem")`` was taken and failed the next TLS connect."""
    root = Certificate.from_pem(trustme.CA().cert_pem.bytes())
    other = Certificate.from_pem(trustme.CA().cert_pem.bytes())
    control = _TRUSTING_CONTROLS[kind]()
    trusted = control.trusted_certificates
    assert isinstance(trusted, list)
    assert trusted == []
    trusted.append(root)
    huge = "ca.pem" * 100_000

    def augmented() -> None:
        control.trusted_certificates += [other, "ca.pem"]

    for change, shown in (
        (lambda: trusted.append("ca.pem"), "str 'ca.pem'"),
        (lambda: trusted.append(huge), "str 'ca.pem"),
        (lambda: trusted.append(None), "NoneType None"),
        (lambda: trusted.insert(0, b"ca.pem"), "bytes b'ca.pem'"),
        (lambda: trusted.extend([other, "ca.pem"]), "str 'ca.pem'"),
        (lambda: trusted.extend("ca.pem"), "str 'ca.pem'"),
        (lambda: trusted.extend(other), "Certificate"),
        (lambda: trusted.extend(5), "int 5"),
        (lambda: trusted.__iadd__([other, 5]), "int 5"),
        (augmented, "str 'ca.pem'"),
        (lambda: trusted.__setitem__(0, "ca.pem"), "str 'ca.pem'"),
        (lambda: trusted.__setitem__(slice(0, 1), [other, "ca.pem"]), "str 'ca.pem'"),
        (lambda: trusted.__setitem__(slice(None), "ca.pem"), "str 'ca.pem'"),
    ):
        with pytest.raises(TypeError, match=r"^trusted_certificates ") as caught:
            change()
        assert shown in str(caught.value)
        assert len(str(caught.value)) < 100 + MAX_SHOWN
        assert trusted == [root]
        assert control.trusted_certificates is trusted
    # Certificates go in every way a list takes them.
    trusted.insert(0, other)
    trusted.extend([root])
    trusted += (other,)
    trusted[0] = root
    trusted[1:3] = [other]
    assert trusted == [root, other, other]
    del trusted[1:]
    assert trusted == [root]
    # A list given whole is checked as before, and checks what is put into it later.
    control.trusted_certificates = [other]
    with pytest.raises(TypeError, match=r"'ca\.pem'"):
        control.trusted_certificates.append("ca.pem")
    assert control.trusted_certificates == [other]
    # A copy checks too.
    copied = copy.copy(control.trusted_certificates)
    assert isinstance(copied, list)
    assert copied == [other]
    with pytest.raises(TypeError, match=r"'ca\.pem'"):
        copied.append("ca.pem")


def test_a_copy_of_the_ignorable_errors_is_independent() -> None:
    """copy.copy() shared the set behind it: changing a saved "snapshot" changed the
    socket's TLS policy."""
    control = StreamSocket().control
    ignorable = control.ignorable_server_certificate_errors
    assert isinstance(ignorable, IgnorableErrors)
    ignorable.add(ChainValidationResult.UNTRUSTED)
    copies = [copy.copy(ignorable), copy.deepcopy(ignorable), ignorable.copy()]
    copies.append(pickle.loads(pickle.dumps(ignorable)))
    for copied in copies:
        assert isinstance(copied, IgnorableErrors)
        assert copied == {ChainValidationResult.UNTRUSTED}
        copied.add(ChainValidationResult.EXPIRED)
        with pytest.raises(ValueError, match="cannot be ignored"):
            copied.add(ChainValidationResult.WRONG_USAGE)
    assert control.ignorable_server_certificate_errors == {ChainValidationResult.UNTRUSTED}
    # The retry pattern: save, widen for one retry, restore.
    saved = ignorable.copy()
    ignorable.add(ChainValidationResult.INVALID_NAME)
    control.ignorable_server_certificate_errors = saved
    assert control.ignorable_server_certificate_errors == {ChainValidationResult.UNTRUSTED}


@pytest.mark.parametrize(
    ("handshake", "connect", "started_ago", "expected"),
    [
        (None, None, 0.0, (float("inf"), "no limit")),
        (10.0, None, 0.0, (110.0, "control.tls_handshake_timeout=10.0 s")),
        # The connect began 25 s ago: its 30 s end before the handshake's 10 s.
        (10.0, 30.0, 25.0, (105.0, "control.connect_timeout=30.0 s")),
        (10.0, 60.0, 25.0, (110.0, "control.tls_handshake_timeout=10.0 s")),
        (None, 30.0, 0.0, (130.0, "control.connect_timeout=30.0 s")),
    ],
)
def test_the_handshake_deadline_is_the_earlier_of_the_two_timeouts(
    handshake: float | None,
    connect: float | None,
    started_ago: float,
    expected: tuple[float, str],
) -> None:
    settings = TlsClientSettings(L.SSL, handshake_timeout=handshake, connect_timeout=connect)
    clock = trio.testing.MockClock()
    clock.jump(100.0 - clock.current_time())

    async def deadline() -> tuple[float, str]:
        return settings.deadline(trio.current_time() - started_ago)

    assert trio.run(deadline, clock=clock) == expected


def test_a_sealed_list_reads_as_a_list_and_copies_as_a_plain_one() -> None:
    """What a bound listener's ``trusted_certificates`` becomes: every change raises,
    reading works as on a list, and a copy is an ordinary list to change and reuse."""
    sealed = SealedList([1, 2], "sealed: set it before binding")
    assert sealed == [1, 2]
    assert sealed + [3] == [1, 2, 3]  # noqa: RUF005 - the list operator itself
    assert sealed[::-1] == [2, 1]
    for change in (
        lambda: sealed.append(3),
        lambda: sealed.insert(0, 3),
        lambda: sealed.remove(1),
        lambda: sealed.pop(),
        lambda: sealed.sort(),
        lambda: sealed.reverse(),
        lambda: sealed.__delitem__(0),
        lambda: sealed.__imul__(2),
    ):
        with pytest.raises(RuntimeError, match=r"^sealed: set it before binding$"):
            change()
    assert sealed == [1, 2]
    for copied in (copy.copy(sealed), copy.deepcopy(sealed), pickle.loads(pickle.dumps(sealed))):
        assert type(copied) is list
        assert copied == [1, 2]
        copied.append(3)
    assert sealed == [1, 2]
