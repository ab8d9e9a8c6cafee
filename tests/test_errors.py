"""SocketErrorStatus, SocketStatusError and SocketError.get_status: pure, no network."""

from __future__ import annotations

import copy
import datetime
import errno
import os
import pickle
import socket
import ssl
from collections.abc import Callable

import dns.exception
import dns.resolver
import pytest
import trio
import trustme

from trio_sockets._core.errors import (
    SocketError,
    SocketErrorStatus,
    SocketStatusError,
    WindowsOnlyError,
    socket_error,
    translate_os_error,
)
from trio_sockets._core.web_errors import WebErrorStatus, WebSocketError

S = SocketErrorStatus
get_status = SocketError.get_status

WINRT_VALUES = {
    "UNKNOWN": 0,
    "OPERATION_ABORTED": 1,
    "HTTP_INVALID_SERVER_RESPONSE": 2,
    "CONNECTION_TIMED_OUT": 3,
    "ADDRESS_FAMILY_NOT_SUPPORTED": 4,
    "SOCKET_TYPE_NOT_SUPPORTED": 5,
    "HOST_NOT_FOUND": 6,
    "NO_DATA_RECORD_OF_REQUESTED_TYPE": 7,
    "NON_AUTHORITATIVE_HOST_NOT_FOUND": 8,
    "CLASS_TYPE_NOT_FOUND": 9,
    "ADDRESS_ALREADY_IN_USE": 10,
    "CANNOT_ASSIGN_REQUESTED_ADDRESS": 11,
    "CONNECTION_REFUSED": 12,
    "NETWORK_IS_UNREACHABLE": 13,
    "UNREACHABLE_HOST": 14,
    "NETWORK_IS_DOWN": 15,
    "NETWORK_DROPPED_CONNECTION_ON_RESET": 16,
    "SOFTWARE_CAUSED_CONNECTION_ABORT": 17,
    "CONNECTION_RESET_BY_PEER": 18,
    "HOST_IS_DOWN": 19,
    "NO_ADDRESSES_FOUND": 20,
    "TOO_MANY_OPEN_FILES": 21,
    "MESSAGE_TOO_LONG": 22,
    "CERTIFICATE_EXPIRED": 23,
    "CERTIFICATE_UNTRUSTED_ROOT": 24,
    "CERTIFICATE_COMMON_NAME_IS_INCORRECT": 25,
    "CERTIFICATE_WRONG_USAGE": 26,
    "CERTIFICATE_REVOKED": 27,
    "CERTIFICATE_NO_REVOCATION_CHECK": 28,
    "CERTIFICATE_REVOCATION_SERVER_OFFLINE": 29,
    "CERTIFICATE_IS_INVALID": 30,
}

EXPECTED_HRESULTS = {
    S.UNKNOWN: 0x80004005,
    S.OPERATION_ABORTED: 0x800703E3,
    S.HTTP_INVALID_SERVER_RESPONSE: 0x80072F78,
    S.CONNECTION_TIMED_OUT: 0x8007274C,
    S.ADDRESS_FAMILY_NOT_SUPPORTED: 0x8007273F,
    S.SOCKET_TYPE_NOT_SUPPORTED: 0x8007273C,
    S.HOST_NOT_FOUND: 0x80072AF9,
    S.NO_DATA_RECORD_OF_REQUESTED_TYPE: 0x80072AFC,
    S.NON_AUTHORITATIVE_HOST_NOT_FOUND: 0x80072AFA,
    S.CLASS_TYPE_NOT_FOUND: 0x8007277D,
    S.ADDRESS_ALREADY_IN_USE: 0x80072740,
    S.CANNOT_ASSIGN_REQUESTED_ADDRESS: 0x80072741,
    S.CONNECTION_REFUSED: 0x8007274D,
    S.NETWORK_IS_UNREACHABLE: 0x80072743,
    S.UNREACHABLE_HOST: 0x80072751,
    S.NETWORK_IS_DOWN: 0x80072742,
    S.NETWORK_DROPPED_CONNECTION_ON_RESET: 0x80072744,
    S.SOFTWARE_CAUSED_CONNECTION_ABORT: 0x80072745,
    S.CONNECTION_RESET_BY_PEER: 0x80072746,
    S.HOST_IS_DOWN: 0x80072750,
    S.NO_ADDRESSES_FOUND: 0x800700E8,
    S.TOO_MANY_OPEN_FILES: 0x80072728,
    S.MESSAGE_TOO_LONG: 0x80072738,
    S.CERTIFICATE_EXPIRED: 0x800B0101,
    S.CERTIFICATE_UNTRUSTED_ROOT: 0x800B0109,
    S.CERTIFICATE_COMMON_NAME_IS_INCORRECT: 0x800B010F,
    S.CERTIFICATE_WRONG_USAGE: 0x800B0110,
    S.CERTIFICATE_REVOKED: 0x80092010,
    S.CERTIFICATE_NO_REVOCATION_CHECK: 0x80092012,
    S.CERTIFICATE_REVOCATION_SERVER_OFFLINE: 0x80092013,
    S.CERTIFICATE_IS_INVALID: 0x800B0108,
}

ERRNO_CASES = [
    ("ECONNREFUSED", S.CONNECTION_REFUSED),
    ("ETIMEDOUT", S.CONNECTION_TIMED_OUT),
    ("EAFNOSUPPORT", S.ADDRESS_FAMILY_NOT_SUPPORTED),
    ("ESOCKTNOSUPPORT", S.SOCKET_TYPE_NOT_SUPPORTED),
    ("EPROTONOSUPPORT", S.SOCKET_TYPE_NOT_SUPPORTED),
    ("EADDRINUSE", S.ADDRESS_ALREADY_IN_USE),
    ("EADDRNOTAVAIL", S.CANNOT_ASSIGN_REQUESTED_ADDRESS),
    ("ENETUNREACH", S.NETWORK_IS_UNREACHABLE),
    ("EHOSTUNREACH", S.UNREACHABLE_HOST),
    ("ENETDOWN", S.NETWORK_IS_DOWN),
    ("ENETRESET", S.NETWORK_DROPPED_CONNECTION_ON_RESET),
    ("ECONNABORTED", S.SOFTWARE_CAUSED_CONNECTION_ABORT),
    ("ECONNRESET", S.CONNECTION_RESET_BY_PEER),
    ("EPIPE", S.CONNECTION_RESET_BY_PEER),
    ("EHOSTDOWN", S.HOST_IS_DOWN),
    ("EMFILE", S.TOO_MANY_OPEN_FILES),
    ("ENFILE", S.TOO_MANY_OPEN_FILES),
    ("EMSGSIZE", S.MESSAGE_TOO_LONG),
    ("ECANCELED", S.OPERATION_ABORTED),
]

EAI_CASES = [
    ("EAI_NONAME", S.HOST_NOT_FOUND),
    ("EAI_AGAIN", S.NON_AUTHORITATIVE_HOST_NOT_FOUND),
    ("EAI_NODATA", S.NO_DATA_RECORD_OF_REQUESTED_TYPE),
    ("EAI_ADDRFAMILY", S.NO_DATA_RECORD_OF_REQUESTED_TYPE),
    ("EAI_SERVICE", S.CLASS_TYPE_NOT_FOUND),
    ("EAI_FAMILY", S.ADDRESS_FAMILY_NOT_SUPPORTED),
    ("EAI_SOCKTYPE", S.SOCKET_TYPE_NOT_SUPPORTED),
    ("EAI_FAIL", S.HOST_NOT_FOUND),
]

VERIFY_CODE_CASES = [
    (9, S.CERTIFICATE_EXPIRED),  # X509_V_ERR_CERT_NOT_YET_VALID
    (10, S.CERTIFICATE_EXPIRED),  # X509_V_ERR_CERT_HAS_EXPIRED
    (2, S.CERTIFICATE_UNTRUSTED_ROOT),  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
    (18, S.CERTIFICATE_UNTRUSTED_ROOT),  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    (19, S.CERTIFICATE_UNTRUSTED_ROOT),  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    (20, S.CERTIFICATE_UNTRUSTED_ROOT),  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    (21, S.CERTIFICATE_UNTRUSTED_ROOT),  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    (27, S.CERTIFICATE_UNTRUSTED_ROOT),  # X509_V_ERR_CERT_UNTRUSTED
    (62, S.CERTIFICATE_COMMON_NAME_IS_INCORRECT),  # X509_V_ERR_HOSTNAME_MISMATCH
    (64, S.CERTIFICATE_COMMON_NAME_IS_INCORRECT),  # X509_V_ERR_IP_ADDRESS_MISMATCH
    (26, S.CERTIFICATE_WRONG_USAGE),  # X509_V_ERR_INVALID_PURPOSE
    (23, S.CERTIFICATE_REVOKED),  # X509_V_ERR_CERT_REVOKED
    (3, S.CERTIFICATE_NO_REVOCATION_CHECK),  # X509_V_ERR_UNABLE_TO_GET_CRL
    (7, S.CERTIFICATE_IS_INVALID),  # X509_V_ERR_CERT_SIGNATURE_FAILURE
    (24, S.CERTIFICATE_IS_INVALID),  # X509_V_ERR_INVALID_CA
    (25, S.CERTIFICATE_IS_INVALID),  # X509_V_ERR_PATH_LENGTH_EXCEEDED
    (0, S.CERTIFICATE_IS_INVALID),
]


def _os_error(name: str) -> OSError:
    code = getattr(errno, name, None)
    if code is None:
        pytest.skip(f"errno.{name} does not exist on this platform")
    return OSError(code, os.strerror(code))


def _cert_error(verify_code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = verify_code
    return exc


def _ssl_error(reason: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] alert")
    exc.reason = reason
    return exc


# --- SocketErrorStatus -----------------------------------------------------------------


def test_status_enum_has_exactly_the_31_winrt_values() -> None:
    assert {member.name: member.value for member in S} == WINRT_VALUES
    assert len(S) == 31


@pytest.mark.parametrize(("name", "value"), WINRT_VALUES.items())
def test_status_value(name: str, value: int) -> None:
    assert SocketErrorStatus[name] == value
    assert SocketErrorStatus(value).name == name


# --- get_status on exceptions ----------------------------------------------------------


@pytest.mark.parametrize(("name", "status"), ERRNO_CASES)
def test_os_error_by_errno(name: str, status: SocketErrorStatus) -> None:
    assert get_status(_os_error(name)) is status


@pytest.mark.parametrize(("name", "status"), ERRNO_CASES)
def test_bare_errno_int(name: str, status: SocketErrorStatus) -> None:
    assert get_status(_os_error(name).errno) is status  # type: ignore[arg-type]


def test_os_error_of_an_unmapped_errno_is_unknown() -> None:
    assert get_status(FileNotFoundError(errno.ENOENT, "No such file")) is S.UNKNOWN
    assert get_status(OSError("no errno at all")) is S.UNKNOWN


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (TimeoutError(), S.CONNECTION_TIMED_OUT),
        (TimeoutError("timed out"), S.CONNECTION_TIMED_OUT),
        (ConnectionRefusedError(), S.CONNECTION_REFUSED),
        (ConnectionResetError(), S.CONNECTION_RESET_BY_PEER),
        (ConnectionAbortedError(), S.SOFTWARE_CAUSED_CONNECTION_ABORT),
        (BrokenPipeError(), S.CONNECTION_RESET_BY_PEER),
    ],
)
def test_builtin_subclass_without_errno(exc: OSError, status: SocketErrorStatus) -> None:
    assert get_status(exc) is status


@pytest.mark.parametrize(("name", "status"), EAI_CASES)
def test_gaierror_by_eai_code(name: str, status: SocketErrorStatus) -> None:
    code = getattr(socket, name, None)
    if code is None:
        pytest.skip(f"socket.{name} does not exist on this platform")
    assert get_status(socket.gaierror(code, "resolver failure")) is status


@pytest.mark.parametrize(("name", "status"), EAI_CASES)
def test_bare_negative_eai_code(name: str, status: SocketErrorStatus) -> None:
    code = getattr(socket, name, None)
    if code is None or code >= 0:
        pytest.skip(f"socket.{name} is not a negative code on this platform")
    assert get_status(code) is status


def test_gaierror_is_classified_before_its_errno_is_read_as_an_os_errno() -> None:
    assert get_status(socket.gaierror(errno.ECONNREFUSED, "x")) is S.UNKNOWN
    assert get_status(socket.gaierror(socket.EAI_MEMORY, "Memory allocation failure")) is (
        S.UNKNOWN
    )
    assert get_status(socket.gaierror("no code")) is S.UNKNOWN


@pytest.mark.parametrize(
    ("h_errno", "status"),
    [
        (1, S.HOST_NOT_FOUND),
        (2, S.NON_AUTHORITATIVE_HOST_NOT_FOUND),
        (3, S.HOST_NOT_FOUND),
        (4, S.NO_DATA_RECORD_OF_REQUESTED_TYPE),
        (99, S.UNKNOWN),
    ],
)
def test_herror_by_h_errno(h_errno: int, status: SocketErrorStatus) -> None:
    assert get_status(socket.herror(h_errno, "resolver failure")) is status


@pytest.mark.parametrize(("verify_code", "status"), VERIFY_CODE_CASES)
def test_certificate_verification_error_by_verify_code(
    verify_code: int, status: SocketErrorStatus
) -> None:
    assert get_status(_cert_error(verify_code)) is status


def test_certificate_verification_error_without_verify_code_is_invalid() -> None:
    assert get_status(ssl.SSLCertVerificationError(1, "x")) is S.CERTIFICATE_IS_INVALID


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), S.CONNECTION_RESET_BY_PEER),
        (
            ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"),
            S.CONNECTION_RESET_BY_PEER,
        ),
        (_ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED"), S.CERTIFICATE_IS_INVALID),
        (_ssl_error("SSLV3_ALERT_BAD_CERTIFICATE"), S.CERTIFICATE_IS_INVALID),
        (_ssl_error("SSLV3_ALERT_CERTIFICATE_EXPIRED"), S.CERTIFICATE_IS_INVALID),
        (_ssl_error("TLSV1_ALERT_UNKNOWN_CA"), S.CERTIFICATE_IS_INVALID),
        (_ssl_error("PEER_DID_NOT_RETURN_A_CERTIFICATE"), S.CERTIFICATE_IS_INVALID),
        # The peer does not speak TLS; no common version or cipher; another alert.
        (_ssl_error("WRONG_VERSION_NUMBER"), S.HTTP_INVALID_SERVER_RESPONSE),
        (_ssl_error("HTTP_REQUEST"), S.HTTP_INVALID_SERVER_RESPONSE),
        (_ssl_error("TLSV1_ALERT_PROTOCOL_VERSION"), S.SOFTWARE_CAUSED_CONNECTION_ABORT),
        (_ssl_error("NO_SHARED_CIPHER"), S.SOFTWARE_CAUSED_CONNECTION_ABORT),
        (_ssl_error("TLSV1_ALERT_INTERNAL_ERROR"), S.CONNECTION_RESET_BY_PEER),
        (ssl.SSLError(1, "no reason"), S.UNKNOWN),
        (ssl.SSLError(errno.ECONNREFUSED, "not an errno"), S.UNKNOWN),
    ],
)
def test_other_ssl_errors(exc: ssl.SSLError, status: SocketErrorStatus) -> None:
    assert get_status(exc) is status


def _tls_errors(
    client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext, server_hostname: str = "localhost"
) -> dict[str, ssl.SSLError]:
    """Run a TLS handshake (and a read) over memory BIOs; return each side's error."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    sides = [("client", client, c_out, s_in), ("server", server, s_out, c_in)]
    errors: dict[str, ssl.SSLError] = {}
    for _ in range(10):
        for name, conn, outgoing, peer_incoming in sides:
            if name not in errors:
                try:
                    conn.do_handshake()
                    conn.read(1)
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as exc:
                    errors[name] = exc
            peer_incoming.write(outgoing.read())
    return errors


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def _trusting_client(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_real_handshake_with_an_unknown_ca(ca: trustme.CA) -> None:
    errors = _tls_errors(ssl.create_default_context(), _server_context(ca.issue_cert("localhost")))
    assert get_status(errors["client"]) is S.CERTIFICATE_UNTRUSTED_ROOT
    assert get_status(errors["server"]) is S.CERTIFICATE_IS_INVALID  # alert: unknown CA


def test_real_handshake_with_the_wrong_host_name(ca: trustme.CA) -> None:
    server = _server_context(ca.issue_cert("localhost"))
    errors = _tls_errors(_trusting_client(ca), server, "example.org")
    assert get_status(errors["client"]) is S.CERTIFICATE_COMMON_NAME_IS_INCORRECT


def test_real_handshake_with_an_expired_certificate(ca: trustme.CA) -> None:
    cert = ca.issue_cert(
        "localhost",
        not_before=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
        not_after=datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC),
    )
    errors = _tls_errors(_trusting_client(ca), _server_context(cert))
    assert get_status(errors["client"]) is S.CERTIFICATE_EXPIRED


def test_real_handshake_without_a_required_client_certificate(ca: trustme.CA) -> None:
    server = _server_context(ca.issue_cert("localhost"))
    server.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server)
    errors = _tls_errors(_trusting_client(ca), server)
    assert get_status(errors["client"]) is S.CERTIFICATE_IS_INVALID
    assert get_status(errors["server"]) is S.CERTIFICATE_IS_INVALID


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (trio.TooSlowError(), S.CONNECTION_TIMED_OUT),
        (trio.ClosedResourceError(), S.OPERATION_ABORTED),
        (trio.BusyResourceError(), S.UNKNOWN),
        (trio.BrokenResourceError(), S.CONNECTION_RESET_BY_PEER),
        (dns.exception.Timeout(), S.CONNECTION_TIMED_OUT),
        (dns.resolver.LifetimeTimeout(timeout=1.0, errors=[]), S.CONNECTION_TIMED_OUT),
        (dns.resolver.NXDOMAIN(), S.HOST_NOT_FOUND),
        (dns.resolver.NoAnswer(), S.NO_DATA_RECORD_OF_REQUESTED_TYPE),
        (dns.resolver.NoNameservers(), S.NON_AUTHORITATIVE_HOST_NOT_FOUND),
        (dns.exception.DNSException(), S.UNKNOWN),
        (ValueError("bad argument"), S.UNKNOWN),
        (KeyboardInterrupt(), S.UNKNOWN),
        (WindowsOnlyError("X.y", "why"), S.UNKNOWN),
    ],
)
def test_trio_dns_and_other_exceptions(exc: BaseException, status: SocketErrorStatus) -> None:
    assert get_status(exc) is status


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("cause", "status"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), S.CONNECTION_REFUSED),
        (OSError(errno.EPIPE, "Broken pipe"), S.CONNECTION_RESET_BY_PEER),
        (OSError(errno.ENETDOWN, "Network is down"), S.NETWORK_IS_DOWN),
        (_cert_error(10), S.CERTIFICATE_EXPIRED),
        (ssl.SSLEOFError(8, "EOF"), S.CONNECTION_RESET_BY_PEER),
        (ValueError("unclassifiable"), S.CONNECTION_RESET_BY_PEER),
        (FileNotFoundError(errno.ENOENT, "x"), S.CONNECTION_RESET_BY_PEER),
    ],
)
def test_broken_resource_error_classifies_its_cause(
    cause: BaseException, status: SocketErrorStatus
) -> None:
    assert get_status(_caused(trio.BrokenResourceError("broken"), cause)) is status


async def test_cancelled_is_operation_aborted() -> None:
    caught: list[BaseException] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.lowlevel.checkpoint()
        except trio.Cancelled as exc:
            caught.append(exc)
            raise
    assert scope.cancelled_caught
    assert get_status(caught[0]) is S.OPERATION_ABORTED


def test_unknown_exception_follows_its_cause() -> None:
    exc = _caused(RuntimeError("wrapper"), OSError(errno.EADDRINUSE, "in use"))
    assert get_status(exc) is S.ADDRESS_ALREADY_IN_USE
    exc = _caused(RuntimeError("outer"), _caused(KeyError("inner"), dns.resolver.NXDOMAIN()))
    assert get_status(exc) is S.HOST_NOT_FOUND


def test_classified_exception_does_not_follow_its_cause() -> None:
    exc = _caused(OSError(errno.ECONNREFUSED, "x"), OSError(errno.EADDRINUSE, "y"))
    assert get_status(exc) is S.CONNECTION_REFUSED


def test_cause_cycles_end_as_unknown() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__cause__, b.__cause__ = b, a
    assert get_status(a) is S.UNKNOWN
    assert get_status(_caused(trio.BrokenResourceError(), a)) is S.CONNECTION_RESET_BY_PEER


def test_very_long_cause_chains_end_as_unknown() -> None:
    exc: BaseException = ConnectionRefusedError(errno.ECONNREFUSED, "deep")
    for _ in range(100):
        exc = _caused(RuntimeError("wrapper"), exc)
    assert get_status(exc) is S.UNKNOWN
    short: BaseException = ConnectionRefusedError(errno.ECONNREFUSED, "near")
    for _ in range(5):
        short = _caused(RuntimeError("wrapper"), short)
    assert get_status(short) is S.CONNECTION_REFUSED


def test_exception_group_whose_leaves_agree() -> None:
    group = ExceptionGroup(
        "all refused",
        [ConnectionRefusedError(errno.ECONNREFUSED, "a"), socket_error(S.CONNECTION_REFUSED, "b")],
    )
    assert get_status(group) is S.CONNECTION_REFUSED


def test_exception_group_takes_the_first_known_leaf() -> None:
    group = ExceptionGroup(
        "mixed",
        [ValueError("x"), TimeoutError(), ConnectionRefusedError(errno.ECONNREFUSED, "a")],
    )
    assert get_status(group) is S.CONNECTION_TIMED_OUT


def test_exception_group_of_unknown_leaves_is_unknown() -> None:
    assert get_status(ExceptionGroup("g", [ValueError("x"), KeyError("y")])) is S.UNKNOWN


def test_nested_exception_groups_classify_their_leaves() -> None:
    inner = ExceptionGroup("inner", [ValueError("x"), dns.resolver.NXDOMAIN()])
    outer = BaseExceptionGroup("outer", [KeyboardInterrupt(), inner])
    assert get_status(outer) is S.HOST_NOT_FOUND


def test_exception_group_holding_the_same_leaf_twice() -> None:
    leaf = OSError(errno.EMFILE, "Too many open files")
    assert get_status(ExceptionGroup("twice", [leaf, leaf])) is S.TOO_MANY_OPEN_FILES


class _CountedLeaf(OSError):
    """A refused connection that counts how often a classifier reads its errno."""

    reads = 0

    @property  # type: ignore[override]
    def errno(self) -> int:
        type(self).reads += 1
        return errno.ECONNREFUSED


@pytest.mark.parametrize("get", [get_status, WebSocketError.get_status])
def test_a_group_holding_one_group_many_times_is_classified_in_bounded_work(
    get: Callable[[BaseException], object],
) -> None:
    """Each level holds the level below four times: 9 exceptions, but 4**8 = 65,536
    paths to the leaf (4**16 at the depth allowed). The walk's budget (10,000
    exceptions, each of which reads errno once or twice) ends it, with the status the
    first leaves gave."""
    _CountedLeaf.reads = 0
    group: BaseException = _CountedLeaf()
    for level in range(8):
        group = ExceptionGroup(f"level {level}", [group] * 4)
    assert get(group) in (S.CONNECTION_REFUSED, WebErrorStatus.CANNOT_CONNECT)
    assert 0 < _CountedLeaf.reads <= 2 * 10_000


@pytest.mark.parametrize(
    "bad",
    [
        OSError(),  # errno set to something unhashable below
        socket.gaierror(),
        socket.herror(),
        ssl.SSLError(1, "an SSLError anyone made"),  # reason set to an int below
    ],
)
def test_exceptions_with_odd_attributes_are_unknown_not_an_error(bad: OSError) -> None:
    """Anyone can make these and set what they like: classifying them never raises."""
    bad.errno = [1]  # type: ignore[assignment]
    if isinstance(bad, ssl.SSLError):
        bad.reason = 5  # type: ignore[misc]
    assert get_status(bad) is S.UNKNOWN
    assert WebSocketError.get_status(bad) is WebErrorStatus.UNKNOWN


# --- get_status on ints ----------------------------------------------------------------


@pytest.mark.parametrize("status", list(S))
def test_hresult_round_trip(status: SocketErrorStatus) -> None:
    hresult = socket_error(status, "x").hresult
    assert hresult == EXPECTED_HRESULTS[status]
    assert get_status(hresult) is status
    assert get_status(hresult - 2**32) is status  # signed, as C#'s Exception.HResult


def test_hresults_are_distinct() -> None:
    assert len(set(EXPECTED_HRESULTS.values())) == len(S)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0x80072AF9, S.HOST_NOT_FOUND),  # HRESULT_FROM_WIN32(WSAHOST_NOT_FOUND / EAI_NONAME)
        (0x80072AFA, S.NON_AUTHORITATIVE_HOST_NOT_FOUND),  # WSATRY_AGAIN
        (0x80072AFC, S.NO_DATA_RECORD_OF_REQUESTED_TYPE),  # WSANO_DATA
        (0x8007277D, S.CLASS_TYPE_NOT_FOUND),  # WSATYPE_NOT_FOUND
        (0x8007273B, S.SOCKET_TYPE_NOT_SUPPORTED),  # WSAEPROTONOSUPPORT
        (0x8007273E, S.ADDRESS_FAMILY_NOT_SUPPORTED),  # WSAEPFNOSUPPORT
        (0x800704C7, S.OPERATION_ABORTED),  # ERROR_CANCELLED
        (0x800704C9, S.CONNECTION_REFUSED),  # ERROR_CONNECTION_REFUSED
        (0x800705B4, S.CONNECTION_TIMED_OUT),  # ERROR_TIMEOUT
        (0x80000013, S.OPERATION_ABORTED),  # RO_E_CLOSED
        (0x800B0114, S.CERTIFICATE_COMMON_NAME_IS_INCORRECT),  # CERT_E_INVALID_NAME
        (0x800B010C, S.CERTIFICATE_REVOKED),  # CERT_E_REVOKED
        (0x800B0112, S.CERTIFICATE_UNTRUSTED_ROOT),  # CERT_E_UNTRUSTEDCA
        (0x800B010A, S.CERTIFICATE_UNTRUSTED_ROOT),  # CERT_E_CHAINING
        (0x800B0102, S.CERTIFICATE_EXPIRED),  # CERT_E_VALIDITYPERIODNESTING
        (0x80096004, S.CERTIFICATE_IS_INVALID),  # TRUST_E_CERT_SIGNATURE
        (0x80070057, S.UNKNOWN),  # E_INVALIDARG: a parameter error, not a socket status
        (0x800710DD, S.UNKNOWN),  # ERROR_INVALID_OPERATION
        (0x8000FFFF, S.UNKNOWN),  # E_UNEXPECTED
        (0xFFFFFFFF, S.UNKNOWN),
        (0x80000000, S.UNKNOWN),
    ],
)
def test_other_hresults(code: int, status: SocketErrorStatus) -> None:
    assert get_status(code) is status
    assert get_status(code - 2**32) is status


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (10061, S.CONNECTION_REFUSED),  # WSAECONNREFUSED
        (10060, S.CONNECTION_TIMED_OUT),  # WSAETIMEDOUT
        (10054, S.CONNECTION_RESET_BY_PEER),  # WSAECONNRESET
        (10048, S.ADDRESS_ALREADY_IN_USE),  # WSAEADDRINUSE
        (11001, S.HOST_NOT_FOUND),  # WSAHOST_NOT_FOUND
        (11002, S.NON_AUTHORITATIVE_HOST_NOT_FOUND),  # WSATRY_AGAIN
        (11004, S.NO_DATA_RECORD_OF_REQUESTED_TYPE),  # WSANO_DATA
        (10109, S.CLASS_TYPE_NOT_FOUND),  # WSATYPE_NOT_FOUND
        (10024, S.TOO_MANY_OPEN_FILES),  # WSAEMFILE
        (10040, S.MESSAGE_TOO_LONG),  # WSAEMSGSIZE
        (10000, S.UNKNOWN),
        (11999, S.UNKNOWN),
    ],
)
def test_bare_wsa_codes(code: int, status: SocketErrorStatus) -> None:
    assert get_status(code) is status


@pytest.mark.parametrize(
    "code",
    [
        *(0, 5000, 12000, 0x7FFFFFFF, 2**32, 2**40, -(2**31) - 1, -1000),
        # Wider than 32 bits, whatever the low bits say (an HRESULT, a WSA code, an errno).
        *(2**32 + 0x8007274D, 2**64 + 0x8007274D, 2**200 + 10061, 2**32 + 111),
    ],
)
def test_unrecognised_ints_are_unknown(code: int) -> None:
    assert get_status(code) is S.UNKNOWN


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_rejected(value: bool) -> None:
    with pytest.raises(TypeError, match="not bool"):
        get_status(value)


@pytest.mark.parametrize("value", ["ECONNREFUSED", 1.0, None, S.CONNECTION_REFUSED.name])
def test_other_types_are_rejected_naming_the_type(value: object) -> None:
    with pytest.raises(TypeError, match=f"not {type(value).__name__}"):
        get_status(value)  # type: ignore[arg-type]


def test_a_status_member_is_an_int_and_is_read_as_an_errno() -> None:
    # SocketErrorStatus is an IntEnum; passing one is passing its number.
    assert get_status(S.CONNECTION_REFUSED) is S.UNKNOWN  # 12 is ENOMEM on Linux


def test_socket_error_class_is_not_instantiable() -> None:
    with pytest.raises(TypeError, match="static members"):
        SocketError()


# --- socket_error / SocketStatusError --------------------------------------------------


@pytest.mark.parametrize(
    ("status", "errno_value", "builtin"),
    [
        (S.CONNECTION_REFUSED, None, ConnectionRefusedError),
        (S.CONNECTION_REFUSED, errno.ECONNREFUSED, ConnectionRefusedError),
        (S.CONNECTION_RESET_BY_PEER, None, ConnectionResetError),
        (S.CONNECTION_RESET_BY_PEER, errno.ECONNRESET, ConnectionResetError),
        (S.CONNECTION_RESET_BY_PEER, errno.EPIPE, BrokenPipeError),
        (S.SOFTWARE_CAUSED_CONNECTION_ABORT, None, ConnectionAbortedError),
        (S.CONNECTION_TIMED_OUT, None, TimeoutError),
        (S.CONNECTION_TIMED_OUT, errno.ETIMEDOUT, TimeoutError),
        (S.UNKNOWN, errno.EACCES, PermissionError),
        (S.ADDRESS_ALREADY_IN_USE, errno.EADDRINUSE, OSError),
    ],
)
def test_socket_error_derives_from_the_matching_builtin(
    status: SocketErrorStatus, errno_value: int | None, builtin: type[OSError]
) -> None:
    exc = socket_error(status, "connect to 127.0.0.1:1", errno=errno_value)
    assert isinstance(exc, SocketStatusError)
    assert isinstance(exc, builtin)
    assert not isinstance(exc, trio.BrokenResourceError)
    assert exc.status is status
    assert exc.errno == errno_value
    with pytest.raises(builtin):
        raise exc


def test_resolver_codes_do_not_pick_an_os_error_class() -> None:
    # An EAI code must never be read as an errno (EAI_AGAIN is 2 = ENOENT on macOS).
    exc = socket_error(S.NON_AUTHORITATIVE_HOST_NOT_FOUND, "resolve x", errno=errno.ENOENT)
    assert type(exc) is SocketStatusError
    assert exc.strerror == "Non authoritative host not found"


@pytest.mark.parametrize("status", list(S))
def test_broken_socket_error_is_also_a_broken_resource_error(status: SocketErrorStatus) -> None:
    exc = socket_error(status, "receive", broken=True)
    assert isinstance(exc, trio.BrokenResourceError)
    assert isinstance(exc, SocketStatusError)
    assert isinstance(exc, OSError)
    assert get_status(exc) is status


def test_combined_classes_are_made_once_and_named_readably() -> None:
    first = socket_error(S.CONNECTION_RESET_BY_PEER, "a", broken=True)
    second = socket_error(S.CONNECTION_RESET_BY_PEER, "b", broken=True)
    assert type(first) is type(second)
    assert type(first).__name__ == "ConnectionResetBrokenResourceSocketStatusError"
    assert type(first).__qualname__ == type(first).__name__
    assert type(first).__module__ == "trio_sockets"
    plain = socket_error(S.HOST_NOT_FOUND, "resolve")
    assert type(plain) is SocketStatusError
    assert type(socket_error(S.CONNECTION_TIMED_OUT, "x")).__name__ == "TimeoutSocketStatusError"
    pipe = socket_error(S.CONNECTION_RESET_BY_PEER, "x", errno=errno.EPIPE, broken=True)
    assert type(pipe).__name__ == "BrokenPipeBrokenResourceSocketStatusError"


def test_socket_error_str_repr_and_attributes() -> None:
    exc = socket_error(S.CONNECTION_REFUSED, "connect to 127.0.0.1:1", errno=errno.ECONNREFUSED)
    assert str(exc) == "connect to 127.0.0.1:1 (CONNECTION_REFUSED)"
    assert repr(exc) == (
        "SocketStatusError(SocketErrorStatus.CONNECTION_REFUSED, "
        f"'connect to 127.0.0.1:1', errno={errno.ECONNREFUSED})"
    )
    assert exc.strerror == os.strerror(errno.ECONNREFUSED)
    assert exc.args == (errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED))
    assert exc.message == "connect to 127.0.0.1:1"
    assert exc.hresult == 0x8007274D


def test_socket_error_without_errno() -> None:
    exc = socket_error(S.NO_ADDRESSES_FOUND, "resolve 'example.com'")
    assert exc.errno is None
    assert exc.strerror == "No addresses found"
    assert str(exc) == "resolve 'example.com' (NO_ADDRESSES_FOUND)"
    assert repr(exc) == (
        "SocketStatusError(SocketErrorStatus.NO_ADDRESSES_FOUND, "
        + repr("resolve 'example.com'")
        + ", errno=None)"
    )


def test_socket_status_error_accepts_a_status_number() -> None:
    exc = SocketStatusError(12, "x")  # type: ignore[arg-type]
    assert exc.status is S.CONNECTION_REFUSED
    with pytest.raises(ValueError, match="99"):
        SocketStatusError(99, "x")  # type: ignore[arg-type]


# --- translate_os_error ----------------------------------------------------------------


def test_translate_connection_refused() -> None:
    original = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    exc = translate_os_error(original, "connect to 127.0.0.1:1")
    assert str(exc) == (
        f"connect to 127.0.0.1:1: [Errno {errno.ECONNREFUSED}] Connection refused "
        "(CONNECTION_REFUSED)"
    )
    assert isinstance(exc, ConnectionRefusedError)
    assert exc.errno == errno.ECONNREFUSED
    assert exc.strerror == "Connection refused"
    assert exc.status is S.CONNECTION_REFUSED


def test_translate_keeps_the_builtin_class_of_the_original() -> None:
    exc = translate_os_error(PermissionError(errno.EACCES, "Permission denied"), "bind to :80")
    assert isinstance(exc, PermissionError)
    assert exc.status is S.UNKNOWN
    exc = translate_os_error(BrokenPipeError(errno.EPIPE, "Broken pipe"), "send", broken=True)
    assert isinstance(exc, BrokenPipeError)
    assert isinstance(exc, trio.BrokenResourceError)
    assert exc.status is S.CONNECTION_RESET_BY_PEER


def test_translate_gaierror() -> None:
    original = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    exc = translate_os_error(original, "resolve 'nonexistent.invalid'")
    assert exc.status is S.HOST_NOT_FOUND
    assert exc.errno == socket.EAI_NONAME
    assert exc.strerror == "Name or service not known"
    assert type(exc) is SocketStatusError
    assert str(exc) == (
        f"resolve 'nonexistent.invalid': [Errno {socket.EAI_NONAME}] Name or service not known "
        "(HOST_NOT_FOUND)"
    )


def test_translate_tls_eof_is_a_connection_reset() -> None:
    exc = translate_os_error(ssl.SSLEOFError(8, "EOF occurred"), "receive", broken=True)
    assert exc.status is S.CONNECTION_RESET_BY_PEER
    assert isinstance(exc, ConnectionResetError)
    assert isinstance(exc, trio.BrokenResourceError)


def test_translate_certificate_error_keeps_ssl_code_without_picking_a_class() -> None:
    exc = translate_os_error(_cert_error(10), "TLS handshake with example.com")
    assert exc.status is S.CERTIFICATE_EXPIRED
    assert exc.errno == 1
    assert not isinstance(exc, PermissionError)  # SSL_ERROR_SSL is 1, like EPERM


def test_translate_a_socket_status_error_again() -> None:
    inner = socket_error(S.CONNECTION_RESET_BY_PEER, "receive", errno=errno.ECONNRESET, broken=True)
    exc = translate_os_error(inner, "read line")
    assert str(exc) == "read line: receive (CONNECTION_RESET_BY_PEER)"
    assert exc.errno == errno.ECONNRESET
    assert isinstance(exc, trio.BrokenResourceError)


def test_translated_error_raised_from_original_classifies() -> None:
    original = OSError(errno.EHOSTUNREACH, "No route to host")

    def connect() -> None:
        try:
            raise original
        except OSError as exc:
            raise translate_os_error(exc, "connect to 10.0.0.1:80") from exc

    with pytest.raises(SocketStatusError) as info:
        connect()
    assert info.value.__cause__ is original
    assert get_status(info.value) is S.UNREACHABLE_HOST


# --- WindowsOnlyError ------------------------------------------------------------------


def test_windows_only_error_message() -> None:
    exc = WindowsOnlyError(
        "StreamSocket.transfer_ownership",
        "on Windows it hands the socket to the system socket broker; there is none here",
    )
    assert isinstance(exc, NotImplementedError)
    assert str(exc) == (
        "StreamSocket.transfer_ownership is Windows-only and not available in trio_sockets: "
        "on Windows it hands the socket to the system socket broker; there is none here"
    )
    assert exc.member == "StreamSocket.transfer_ownership"
    assert exc.reason.startswith("on Windows")


@pytest.mark.parametrize(
    "error",
    [
        socket_error(S.CONNECTION_REFUSED, "connect to 127.0.0.1:1", errno=errno.ECONNREFUSED),
        socket_error(S.CONNECTION_RESET_BY_PEER, "receive", errno=errno.EPIPE, broken=True),
        socket_error(S.OPERATION_ABORTED, "send", closed=True),
        socket_error(S.HOST_NOT_FOUND, "resolve 'x.test'", errno=socket.EAI_NONAME),
        SocketStatusError(S.UNKNOWN, "made by hand"),
        WindowsOnlyError("StreamSocket.transfer_ownership", "Windows has a socket broker"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_survive_copy_and_pickle(error: Exception) -> None:
    """The combined classes are not importable by name; copies are made of the same
    class all the same (so ``except ConnectionRefusedError`` still catches them)."""
    error.add_note("a note")
    for copied in (copy.copy(error), copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
        assert type(copied) is type(error)
        assert str(copied) == str(error)
        assert copied.__notes__ == ["a note"]
        if isinstance(error, SocketStatusError):
            assert isinstance(copied, SocketStatusError)
            assert (copied.status, copied.message, copied.errno, copied.strerror) == (
                error.status,
                error.message,
                error.errno,
                error.strerror,
            )
