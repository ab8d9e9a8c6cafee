"""WebErrorStatus, WebSocketStatusError and WebSocketError.get_status: pure, no network."""

from __future__ import annotations

import copy
import errno
import pickle
import socket
import ssl

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from websockets import exceptions as ws_exceptions
from websockets.datastructures import Headers
from websockets.frames import Close
from websockets.http11 import Response

from trio_sockets import (
    SocketError,
    SocketErrorStatus,
    WebErrorStatus,
    WebSocketError,
    WebSocketStatusError,
)
from trio_sockets._core.errors import socket_error
from trio_sockets._core.web_errors import (
    status_of_close,
    status_of_http,
    status_of_socket_status,
    web_socket_error,
)

W = WebErrorStatus
get_status = WebSocketError.get_status

# Every value of Windows.Web.WebErrorStatus, with its WinRT number.
WINRT_VALUES = {
    "UNKNOWN": 0,
    "CERTIFICATE_COMMON_NAME_IS_INCORRECT": 1,
    "CERTIFICATE_EXPIRED": 2,
    "CERTIFICATE_CONTAINS_ERRORS": 3,
    "CERTIFICATE_REVOKED": 4,
    "CERTIFICATE_IS_INVALID": 5,
    "SERVER_UNREACHABLE": 6,
    "TIMEOUT": 7,
    "ERROR_HTTP_INVALID_SERVER_RESPONSE": 8,
    "CONNECTION_ABORTED": 9,
    "CONNECTION_RESET": 10,
    "DISCONNECTED": 11,
    "HTTP_TO_HTTPS_ON_REDIRECTION": 12,
    "HTTPS_TO_HTTP_ON_REDIRECTION": 13,
    "CANNOT_CONNECT": 14,
    "HOST_NAME_NOT_RESOLVED": 15,
    "OPERATION_CANCELED": 16,
    "REDIRECT_FAILED": 17,
    "UNEXPECTED_STATUS_CODE": 18,
    "UNEXPECTED_REDIRECTION": 19,
    "UNEXPECTED_CLIENT_ERROR": 20,
    "UNEXPECTED_SERVER_ERROR": 21,
    "INSUFFICIENT_RANGE_SUPPORT": 22,
    "MISSING_CONTENT_LENGTH_SUPPORT": 23,
    "MULTIPLE_CHOICES": 300,
    "MOVED_PERMANENTLY": 301,
    "FOUND": 302,
    "SEE_OTHER": 303,
    "NOT_MODIFIED": 304,
    "USE_PROXY": 305,
    "TEMPORARY_REDIRECT": 307,
    "BAD_REQUEST": 400,
    "UNAUTHORIZED": 401,
    "PAYMENT_REQUIRED": 402,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "NOT_ACCEPTABLE": 406,
    "PROXY_AUTHENTICATION_REQUIRED": 407,
    "REQUEST_TIMEOUT": 408,
    "CONFLICT": 409,
    "GONE": 410,
    "LENGTH_REQUIRED": 411,
    "PRECONDITION_FAILED": 412,
    "REQUEST_ENTITY_TOO_LARGE": 413,
    "REQUEST_URI_TOO_LONG": 414,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "REQUESTED_RANGE_NOT_SATISFIABLE": 416,
    "EXPECTATION_FAILED": 417,
    "INTERNAL_SERVER_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "BAD_GATEWAY": 502,
    "SERVICE_UNAVAILABLE": 503,
    "GATEWAY_TIMEOUT": 504,
    "HTTP_VERSION_NOT_SUPPORTED": 505,
}


def test_web_error_status_has_every_winrt_value() -> None:
    assert {status.name: status.value for status in WebErrorStatus} == WINRT_VALUES
    assert len(WebErrorStatus) == 55


def invalid_status(code: int) -> ws_exceptions.InvalidStatus:
    return ws_exceptions.InvalidStatus(Response(code, "Whatever", Headers(), b""))


@pytest.mark.parametrize("code", [value for value in WINRT_VALUES.values() if value >= 300])
def test_a_listed_http_status_is_its_own_number(code: int) -> None:
    assert status_of_http(code) == code
    assert get_status(invalid_status(code)) == code
    assert get_status(0x80190000 | code) == code


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (306, W.UNEXPECTED_REDIRECTION),
        (308, W.UNEXPECTED_REDIRECTION),
        (418, W.UNEXPECTED_CLIENT_ERROR),
        (429, W.UNEXPECTED_CLIENT_ERROR),
        (506, W.UNEXPECTED_SERVER_ERROR),
        (599, W.UNEXPECTED_SERVER_ERROR),
        (200, W.UNEXPECTED_STATUS_CODE),
        (100, W.UNEXPECTED_STATUS_CODE),
        (600, W.UNEXPECTED_STATUS_CODE),
    ],
)
def test_an_unlisted_http_status_is_unexpected_by_class(code: int, status: WebErrorStatus) -> None:
    assert status_of_http(code) is status
    assert get_status(invalid_status(code)) is status


@given(st.integers(min_value=0, max_value=999))
def test_every_http_status_has_a_status_and_never_a_low_value(code: int) -> None:
    status = status_of_http(code)
    assert status in (
        W.UNEXPECTED_STATUS_CODE,
        W.UNEXPECTED_REDIRECTION,
        W.UNEXPECTED_CLIENT_ERROR,
        W.UNEXPECTED_SERVER_ERROR,
    ) or (status == code and status >= 300)


@pytest.mark.parametrize(
    ("socket_status", "status"),
    [
        (SocketErrorStatus.CONNECTION_REFUSED, W.CANNOT_CONNECT),
        (SocketErrorStatus.CONNECTION_TIMED_OUT, W.TIMEOUT),
        (SocketErrorStatus.HOST_NOT_FOUND, W.HOST_NAME_NOT_RESOLVED),
        (SocketErrorStatus.NO_ADDRESSES_FOUND, W.HOST_NAME_NOT_RESOLVED),
        (SocketErrorStatus.UNREACHABLE_HOST, W.SERVER_UNREACHABLE),
        (SocketErrorStatus.NETWORK_IS_UNREACHABLE, W.SERVER_UNREACHABLE),
        (SocketErrorStatus.CONNECTION_RESET_BY_PEER, W.CONNECTION_RESET),
        (SocketErrorStatus.SOFTWARE_CAUSED_CONNECTION_ABORT, W.CONNECTION_ABORTED),
        (SocketErrorStatus.NETWORK_IS_DOWN, W.DISCONNECTED),
        (SocketErrorStatus.TOO_MANY_OPEN_FILES, W.CANNOT_CONNECT),
        (SocketErrorStatus.OPERATION_ABORTED, W.OPERATION_CANCELED),
        (SocketErrorStatus.HTTP_INVALID_SERVER_RESPONSE, W.ERROR_HTTP_INVALID_SERVER_RESPONSE),
        (SocketErrorStatus.CERTIFICATE_EXPIRED, W.CERTIFICATE_EXPIRED),
        (SocketErrorStatus.CERTIFICATE_UNTRUSTED_ROOT, W.CERTIFICATE_CONTAINS_ERRORS),
        (
            SocketErrorStatus.CERTIFICATE_COMMON_NAME_IS_INCORRECT,
            W.CERTIFICATE_COMMON_NAME_IS_INCORRECT,
        ),
        (SocketErrorStatus.CERTIFICATE_REVOKED, W.CERTIFICATE_REVOKED),
        (SocketErrorStatus.CERTIFICATE_IS_INVALID, W.CERTIFICATE_IS_INVALID),
        (SocketErrorStatus.UNKNOWN, W.UNKNOWN),
    ],
)
def test_socket_failures_map_to_their_web_status(
    socket_status: SocketErrorStatus, status: WebErrorStatus
) -> None:
    assert status_of_socket_status(socket_status) is status
    assert get_status(socket_error(socket_status, "connect to 127.0.0.1:1")) is status


@pytest.mark.parametrize(
    "socket_status",
    [
        SocketErrorStatus.ADDRESS_ALREADY_IN_USE,
        SocketErrorStatus.TOO_MANY_OPEN_FILES,
        SocketErrorStatus.CONNECTION_REFUSED,
    ],
)
def test_a_websocket_error_keeps_the_socket_status_it_wraps(
    socket_status: SocketErrorStatus,
) -> None:
    """``SocketError.get_status`` of a WebSocket error is the socket failure it wraps,
    not what its builtin class suggests: every ``CANNOT_CONNECT`` read as a refusal."""
    cause = socket_error(socket_status, "connect to 127.0.0.1:1")
    refused = socket_status is SocketErrorStatus.CONNECTION_REFUSED
    error = web_socket_error(W.CANNOT_CONNECT, f"connect: {cause}", builtin=refused)
    error.__cause__ = cause
    assert get_status(error) is W.CANNOT_CONNECT
    assert SocketError.get_status(error) is socket_status
    assert isinstance(error, ConnectionRefusedError) is refused


def test_every_socket_status_has_a_web_status() -> None:
    for socket_status in SocketErrorStatus:
        assert isinstance(status_of_socket_status(socket_status), WebErrorStatus)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), W.CANNOT_CONNECT),
        (TimeoutError(errno.ETIMEDOUT, "timed out"), W.TIMEOUT),
        (trio.TooSlowError(), W.TIMEOUT),
        (socket.gaierror(socket.EAI_NONAME, "no such name"), W.HOST_NAME_NOT_RESOLVED),
        (ConnectionResetError(errno.ECONNRESET, "reset"), W.CONNECTION_RESET),
        (trio.ClosedResourceError(), W.OPERATION_CANCELED),
        (trio.BrokenResourceError(), W.CONNECTION_RESET),
        (ValueError("bad"), W.UNKNOWN),
    ],
)
def test_plain_failures_are_classified(error: BaseException, status: WebErrorStatus) -> None:
    assert get_status(error) is status


def _cert_error(verify_code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = verify_code
    return exc


@pytest.mark.parametrize(
    ("verify_code", "status"),
    [
        (10, W.CERTIFICATE_EXPIRED),  # CERT_HAS_EXPIRED
        (9, W.CERTIFICATE_EXPIRED),  # CERT_NOT_YET_VALID
        (62, W.CERTIFICATE_COMMON_NAME_IS_INCORRECT),  # HOSTNAME_MISMATCH
        (18, W.CERTIFICATE_CONTAINS_ERRORS),  # DEPTH_ZERO_SELF_SIGNED_CERT
        (20, W.CERTIFICATE_CONTAINS_ERRORS),  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        (23, W.CERTIFICATE_REVOKED),  # CERT_REVOKED
        (7, W.CERTIFICATE_IS_INVALID),  # CERT_SIGNATURE_FAILURE
    ],
)
def test_certificate_failures_get_their_certificate_status(
    verify_code: int, status: WebErrorStatus
) -> None:
    assert get_status(_cert_error(verify_code)) is status


def test_handshake_failures_that_are_not_a_status_are_an_invalid_response() -> None:
    assert get_status(ws_exceptions.InvalidUpgrade("Upgrade", "h2c")) is (
        W.ERROR_HTTP_INVALID_SERVER_RESPONSE
    )
    assert get_status(ws_exceptions.InvalidHeader("Sec-WebSocket-Accept", "x")) is (
        W.ERROR_HTTP_INVALID_SERVER_RESPONSE
    )
    assert get_status(ws_exceptions.InvalidMessage("did not receive a valid HTTP response")) is (
        W.ERROR_HTTP_INVALID_SERVER_RESPONSE
    )
    assert get_status(ws_exceptions.ProtocolError("bad frame")) is (
        W.ERROR_HTTP_INVALID_SERVER_RESPONSE
    )
    assert get_status(ws_exceptions.PayloadTooBig(2000, 1000)) is W.REQUEST_ENTITY_TOO_LARGE
    assert get_status(ws_exceptions.InvalidURI("http://x", "not a ws URI")) is W.UNKNOWN


def test_a_handshake_failure_caused_by_the_network_takes_the_network_status() -> None:
    exc = ws_exceptions.InvalidMessage("did not receive a valid HTTP response")
    exc.__cause__ = ConnectionResetError(errno.ECONNRESET, "reset")
    assert get_status(exc) is W.CONNECTION_RESET


def closed(
    rcvd: int | None, sent: int | None, *, rcvd_then_sent: bool | None = None
) -> ws_exceptions.ConnectionClosed:
    return ws_exceptions.ConnectionClosed(
        None if rcvd is None else Close(rcvd, ""),
        None if sent is None else Close(sent, ""),
        rcvd_then_sent,
    )


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (closed(None, None), W.CONNECTION_ABORTED),  # TCP lost, no close frame
        (closed(1000, 1000, rcvd_then_sent=True), W.DISCONNECTED),  # the peer closed
        (closed(1001, None), W.DISCONNECTED),
        (closed(1008, 1008, rcvd_then_sent=True), W.DISCONNECTED),
        (closed(1000, 1000, rcvd_then_sent=False), W.OPERATION_CANCELED),  # we closed
        (closed(None, 1000), W.OPERATION_CANCELED),
        (closed(1009, 1009, rcvd_then_sent=False), W.REQUEST_ENTITY_TOO_LARGE),  # our limit
        (closed(1009, 1009, rcvd_then_sent=True), W.REQUEST_ENTITY_TOO_LARGE),  # theirs
        (closed(None, 1007), W.ERROR_HTTP_INVALID_SERVER_RESPONSE),  # bad UTF-8 received
        (closed(None, 1002), W.ERROR_HTTP_INVALID_SERVER_RESPONSE),
        (closed(None, 1011), W.TIMEOUT),  # keepalive unanswered
    ],
)
def test_closed_connections_are_classified_by_close_code(
    error: ws_exceptions.ConnectionClosed, status: WebErrorStatus
) -> None:
    assert get_status(error) is status


@given(st.integers(min_value=1000, max_value=4999), st.booleans())
def test_every_close_code_has_a_status(code: int, by_peer: bool) -> None:
    status = status_of_close(code, by_peer=by_peer)
    assert status is not W.UNKNOWN
    if by_peer and code not in (1006, 1009):
        assert status is W.DISCONNECTED


def test_web_socket_status_error_is_an_os_error_with_the_matching_builtin() -> None:
    refused = web_socket_error(W.CANNOT_CONNECT, "connect to ws://127.0.0.1:1/")
    assert isinstance(refused, WebSocketStatusError)
    assert isinstance(refused, ConnectionRefusedError)
    assert str(refused) == "connect to ws://127.0.0.1:1/ (CANNOT_CONNECT)"
    assert get_status(refused) is W.CANNOT_CONNECT
    timeout = web_socket_error(W.TIMEOUT, "keepalive", close_code=1011, broken=True)
    assert isinstance(timeout, TimeoutError)
    assert isinstance(timeout, trio.BrokenResourceError)
    assert timeout.close_code == 1011
    closed_error = web_socket_error(W.OPERATION_CANCELED, "receive", closed=True)
    assert isinstance(closed_error, trio.ClosedResourceError)
    assert type(web_socket_error(W.NOT_FOUND, "x")) is WebSocketStatusError
    assert repr(web_socket_error(W.NOT_FOUND, "x")) == (
        "WebSocketStatusError(WebErrorStatus.NOT_FOUND, 'x')"
    )


def test_causes_and_groups_are_followed() -> None:
    outer = RuntimeError("wrapped")
    outer.__cause__ = invalid_status(404)
    assert get_status(outer) is W.NOT_FOUND
    broken = trio.BrokenResourceError("lost")
    broken.__cause__ = closed(None, 1009)
    assert get_status(broken) is W.REQUEST_ENTITY_TOO_LARGE
    group = ExceptionGroup("many", [ValueError("x"), invalid_status(403)])
    assert get_status(group) is W.FORBIDDEN
    same = ExceptionGroup("many", [trio.TooSlowError(), trio.TooSlowError()])
    assert get_status(same) is W.TIMEOUT
    # A cause cycle ends.
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__cause__, b.__cause__ = b, a
    assert get_status(a) is W.UNKNOWN


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0x80072EFD, W.CANNOT_CONNECT),
        (0x80072EE2, W.TIMEOUT),
        (0x80072EFE, W.CONNECTION_ABORTED),
        (0x80072F06, W.CERTIFICATE_COMMON_NAME_IS_INCORRECT),
        (0x80072EE7, W.HOST_NAME_NOT_RESOLVED),
        (0x80072EFE - 0x100000000, W.CONNECTION_ABORTED),  # as C#'s HResult gives it
        (0x801901F4, W.INTERNAL_SERVER_ERROR),
        (0x801901AD, W.UNEXPECTED_CLIENT_ERROR),  # 429
        (errno.ECONNREFUSED, W.CANNOT_CONNECT),
        (10060, W.TIMEOUT),  # WSAETIMEDOUT
        (0x80070057, W.UNKNOWN),  # E_INVALIDARG
        # HTTP_E_STATUS_UNEXPECTED*: named codes, not HTTP statuses 1, 3, 4 and 5.
        (0x80190001, W.UNEXPECTED_STATUS_CODE),
        (0x80190003, W.UNEXPECTED_REDIRECTION),
        (0x80190004, W.UNEXPECTED_CLIENT_ERROR),
        (0x80190005, W.UNEXPECTED_SERVER_ERROR),
        (0x80190003 - 0x100000000, W.UNEXPECTED_REDIRECTION),
        # Nothing wider than 32 bits is a code, whatever its low bits say.
        (2**32 + 0x8007274D, W.UNKNOWN),
        (2**64 + 0x80190194, W.UNKNOWN),
        (2**200 + 0x80190194, W.UNKNOWN),
        (-(2**31) - 0x80072EFE, W.UNKNOWN),
    ],
)
def test_integer_codes_are_classified(code: int, status: WebErrorStatus) -> None:
    assert get_status(code) is status


@pytest.mark.parametrize("bad", [True, "404", None, 4.0])
def test_get_status_rejects_what_is_not_an_error(bad: object) -> None:
    with pytest.raises(TypeError, match="get_status"):
        get_status(bad)  # type: ignore[arg-type]


def test_web_socket_error_has_only_static_members() -> None:
    with pytest.raises(TypeError, match="static"):
        WebSocketError()


@pytest.mark.parametrize(
    "error",
    [
        web_socket_error(WebErrorStatus.CANNOT_CONNECT, "connect to ws://127.0.0.1:1/"),
        web_socket_error(
            WebErrorStatus.REQUEST_ENTITY_TOO_LARGE,
            "receive",
            close_code=1009,
            close_reason="too big",
            broken=True,
        ),
        web_socket_error(WebErrorStatus.OPERATION_CANCELED, "send", closed=True),
        WebSocketStatusError(WebErrorStatus.UNKNOWN, "made by hand"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_web_socket_errors_survive_copy_and_pickle(error: WebSocketStatusError) -> None:
    for copied in (copy.copy(error), copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
        assert type(copied) is type(error)
        assert str(copied) == str(error)
        assert (copied.status, copied.close_code, copied.close_reason) == (
            error.status,
            error.close_code,
            error.close_reason,
        )
