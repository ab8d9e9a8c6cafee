"""WebSocket failure statuses (WinRT ``Windows.Web.WebErrorStatus``), the exception that
carries them, and their classification (WinRT ``WebSocketError.GetStatus``).

WinRT reports a WebSocket failure as an HRESULT, mostly the WinINet ones of its HTTP
client, and ``WebSocketError.GetStatus`` turns it into a :class:`WebErrorStatus`. Here
failures are exceptions: :class:`WebSocketStatusError` (an :class:`OSError`) carries the
status, and :meth:`WebSocketError.get_status` classifies any exception the WebSocket
classes can raise -- socket and TLS failures, the handshake's HTTP answer, the protocol
library's errors, close frames -- or a raw HRESULT.

Everything in this module is pure.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import trio
from websockets import exceptions as ws_exceptions
from websockets.frames import CloseCode

from .checks import describe
from .errors import ClassifyPath, SocketError, SocketErrorStatus, classify_chain

__all__ = [
    "WebErrorStatus",
    "WebSocketError",
    "WebSocketStatusError",
    "status_of_close",
    "status_of_http",
    "status_of_socket_status",
    "web_socket_error",
]


class WebErrorStatus(enum.IntEnum):
    """Why a WebSocket operation failed (WinRT ``Windows.Web.WebErrorStatus``), with the
    WinRT values. Values from 300 on are the HTTP status the opening handshake got
    instead of 101."""

    UNKNOWN = 0
    """The failure could not be classified."""
    CERTIFICATE_COMMON_NAME_IS_INCORRECT = 1
    """The server certificate is not valid for the host name (or address) connected to."""
    CERTIFICATE_EXPIRED = 2
    """The server certificate is expired or not yet valid."""
    CERTIFICATE_CONTAINS_ERRORS = 3
    """The server certificate failed validation (an untrusted chain, a wrong usage...)."""
    CERTIFICATE_REVOKED = 4
    """The server certificate has been revoked."""
    CERTIFICATE_IS_INVALID = 5
    """The certificate is invalid (malformed, a bad signature, or refused by the peer)."""
    SERVER_UNREACHABLE = 6
    """The server cannot be reached (network or host unreachable)."""
    TIMEOUT = 7
    """The connection attempt, the handshake or a keepalive timed out."""
    ERROR_HTTP_INVALID_SERVER_RESPONSE = 8
    """The server's answer was not a valid WebSocket handshake or protocol data."""
    CONNECTION_ABORTED = 9
    """The connection ended without a closing handshake."""
    CONNECTION_RESET = 10
    """The connection was reset."""
    DISCONNECTED = 11
    """The connection ended: the peer closed it, or the network went down."""
    HTTP_TO_HTTPS_ON_REDIRECTION = 12
    """The handshake was redirected from ``ws://`` to a secure location."""
    HTTPS_TO_HTTP_ON_REDIRECTION = 13
    """The handshake was redirected from ``wss://`` to an insecure location."""
    CANNOT_CONNECT = 14
    """No connection could be made (refused, or every address failed)."""
    HOST_NAME_NOT_RESOLVED = 15
    """The host name could not be resolved."""
    OPERATION_CANCELED = 16
    """The operation was cancelled: the WebSocket was closed while it ran."""
    REDIRECT_FAILED = 17
    """A redirection could not be followed."""
    UNEXPECTED_STATUS_CODE = 18
    """The handshake got an HTTP status that is neither 101 nor one listed here."""
    UNEXPECTED_REDIRECTION = 19
    """The handshake got an unlisted 3xx status."""
    UNEXPECTED_CLIENT_ERROR = 20
    """The handshake got an unlisted 4xx status."""
    UNEXPECTED_SERVER_ERROR = 21
    """The handshake got an unlisted 5xx status."""
    INSUFFICIENT_RANGE_SUPPORT = 22
    """The request does not support the range (HTTP downloads; never for WebSockets)."""
    MISSING_CONTENT_LENGTH_SUPPORT = 23
    """The request lacks the file size (HTTP downloads; never for WebSockets)."""
    MULTIPLE_CHOICES = 300
    MOVED_PERMANENTLY = 301
    FOUND = 302
    SEE_OTHER = 303
    NOT_MODIFIED = 304
    USE_PROXY = 305
    TEMPORARY_REDIRECT = 307
    BAD_REQUEST = 400
    UNAUTHORIZED = 401
    PAYMENT_REQUIRED = 402
    FORBIDDEN = 403
    NOT_FOUND = 404
    METHOD_NOT_ALLOWED = 405
    NOT_ACCEPTABLE = 406
    PROXY_AUTHENTICATION_REQUIRED = 407
    REQUEST_TIMEOUT = 408
    CONFLICT = 409
    GONE = 410
    LENGTH_REQUIRED = 411
    PRECONDITION_FAILED = 412
    REQUEST_ENTITY_TOO_LARGE = 413
    REQUEST_URI_TOO_LONG = 414
    UNSUPPORTED_MEDIA_TYPE = 415
    REQUESTED_RANGE_NOT_SATISFIABLE = 416
    EXPECTATION_FAILED = 417
    INTERNAL_SERVER_ERROR = 500
    NOT_IMPLEMENTED = 501
    BAD_GATEWAY = 502
    SERVICE_UNAVAILABLE = 503
    GATEWAY_TIMEOUT = 504
    HTTP_VERSION_NOT_SUPPORTED = 505


_W = WebErrorStatus
_S = SocketErrorStatus

#: The statuses that are HTTP status numbers.
_HTTP_STATUSES = frozenset(status for status in WebErrorStatus if status >= 300)


def status_of_http(code: int) -> WebErrorStatus:
    """The status of an opening handshake answered with HTTP status *code* (not 101)."""
    if code >= 300 and code in _W._value2member_map_:
        return _W(code)
    if 300 <= code <= 399:
        return _W.UNEXPECTED_REDIRECTION
    if 400 <= code <= 499:
        return _W.UNEXPECTED_CLIENT_ERROR
    if 500 <= code <= 599:
        return _W.UNEXPECTED_SERVER_ERROR
    return _W.UNEXPECTED_STATUS_CODE


# A socket-level status → the WebSocket status of the same failure.
_SOCKET_STATUS: dict[SocketErrorStatus, WebErrorStatus] = {
    _S.OPERATION_ABORTED: _W.OPERATION_CANCELED,
    _S.HTTP_INVALID_SERVER_RESPONSE: _W.ERROR_HTTP_INVALID_SERVER_RESPONSE,
    _S.CONNECTION_TIMED_OUT: _W.TIMEOUT,
    _S.ADDRESS_FAMILY_NOT_SUPPORTED: _W.CANNOT_CONNECT,
    _S.SOCKET_TYPE_NOT_SUPPORTED: _W.CANNOT_CONNECT,
    _S.HOST_NOT_FOUND: _W.HOST_NAME_NOT_RESOLVED,
    _S.NO_DATA_RECORD_OF_REQUESTED_TYPE: _W.HOST_NAME_NOT_RESOLVED,
    _S.NON_AUTHORITATIVE_HOST_NOT_FOUND: _W.HOST_NAME_NOT_RESOLVED,
    _S.CLASS_TYPE_NOT_FOUND: _W.HOST_NAME_NOT_RESOLVED,
    _S.NO_ADDRESSES_FOUND: _W.HOST_NAME_NOT_RESOLVED,
    _S.ADDRESS_ALREADY_IN_USE: _W.CANNOT_CONNECT,
    _S.CANNOT_ASSIGN_REQUESTED_ADDRESS: _W.CANNOT_CONNECT,
    _S.TOO_MANY_OPEN_FILES: _W.CANNOT_CONNECT,  # no socket or file for the connection
    _S.CONNECTION_REFUSED: _W.CANNOT_CONNECT,
    _S.NETWORK_IS_UNREACHABLE: _W.SERVER_UNREACHABLE,
    _S.UNREACHABLE_HOST: _W.SERVER_UNREACHABLE,
    _S.HOST_IS_DOWN: _W.SERVER_UNREACHABLE,
    _S.NETWORK_IS_DOWN: _W.DISCONNECTED,
    _S.NETWORK_DROPPED_CONNECTION_ON_RESET: _W.CONNECTION_RESET,
    _S.SOFTWARE_CAUSED_CONNECTION_ABORT: _W.CONNECTION_ABORTED,
    _S.CONNECTION_RESET_BY_PEER: _W.CONNECTION_RESET,
    _S.CERTIFICATE_EXPIRED: _W.CERTIFICATE_EXPIRED,
    _S.CERTIFICATE_UNTRUSTED_ROOT: _W.CERTIFICATE_CONTAINS_ERRORS,
    _S.CERTIFICATE_COMMON_NAME_IS_INCORRECT: _W.CERTIFICATE_COMMON_NAME_IS_INCORRECT,
    _S.CERTIFICATE_WRONG_USAGE: _W.CERTIFICATE_CONTAINS_ERRORS,
    _S.CERTIFICATE_REVOKED: _W.CERTIFICATE_REVOKED,
    _S.CERTIFICATE_NO_REVOCATION_CHECK: _W.CERTIFICATE_CONTAINS_ERRORS,
    _S.CERTIFICATE_REVOCATION_SERVER_OFFLINE: _W.CERTIFICATE_CONTAINS_ERRORS,
    _S.CERTIFICATE_IS_INVALID: _W.CERTIFICATE_IS_INVALID,
}


def status_of_socket_status(status: SocketErrorStatus) -> WebErrorStatus:
    """The WebSocket status of a failure the socket layer classified as *status*."""
    return _SOCKET_STATUS.get(status, _W.UNKNOWN)


def status_of_close(code: int | None, *, by_peer: bool) -> WebErrorStatus:
    """The status of an operation that failed because the connection closed.

    *code* is the close code (``None``: the connection ended with no closing handshake,
    1006); *by_peer* says whether the peer sent it or this side did. A closing handshake
    this side started is ``OPERATION_CANCELED``; an orderly close by the peer
    ``DISCONNECTED``; no closing handshake ``CONNECTION_ABORTED``; a message too big
    (1009) ``REQUEST_ENTITY_TOO_LARGE``, the HTTP status of the same condition; the
    peer's protocol or data errors (1002, 1003, 1007) ``ERROR_HTTP_INVALID_SERVER_RESPONSE``
    when this side detected them, and ``DISCONNECTED`` when the peer reports them; a
    keepalive that went unanswered (1011 sent by this side) ``TIMEOUT``.
    """
    if code is None or code == CloseCode.ABNORMAL_CLOSURE:
        return _W.CONNECTION_ABORTED
    if code == CloseCode.MESSAGE_TOO_BIG:
        return _W.REQUEST_ENTITY_TOO_LARGE
    if by_peer:
        return _W.DISCONNECTED
    if code in (CloseCode.PROTOCOL_ERROR, CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_DATA):
        return _W.ERROR_HTTP_INVALID_SERVER_RESPONSE
    if code == CloseCode.INTERNAL_ERROR:
        return _W.TIMEOUT
    return _W.OPERATION_CANCELED


# Builtin OSError subclasses a WebSocketStatusError of a status also derives from, so
# ``except ConnectionRefusedError`` and friends keep working.
_STATUS_BUILTIN: dict[WebErrorStatus, type[OSError]] = {
    _W.CANNOT_CONNECT: ConnectionRefusedError,
    _W.TIMEOUT: TimeoutError,
    _W.CONNECTION_RESET: ConnectionResetError,
    _W.CONNECTION_ABORTED: ConnectionAbortedError,
}


class WebSocketStatusError(OSError):
    """The exception the WebSocket classes raise for network and protocol failures.

    It is an :class:`OSError`; the instances the library raises also derive from the
    builtin subclass matching the status (:class:`ConnectionRefusedError` for
    ``CANNOT_CONNECT``, :class:`TimeoutError` for ``TIMEOUT``...), from
    :class:`trio.BrokenResourceError` for a failure of an established connection, and
    from :class:`trio.ClosedResourceError` for an operation on a WebSocket this side
    closed. The original failure (a :class:`~trio_sockets.SocketStatusError`, the
    protocol library's exception) is its ``__cause__``.

    Attributes:
        status: the :class:`WebErrorStatus` of the failure.
        message: what failed.
        close_code: the close code of a connection that ended (1006 when it ended
            without a closing handshake), else ``None``.
        close_reason: the reason that came with *close_code* (``""`` if none).
        response_headers: the headers of the server's answer when it refused the
            opening handshake with an HTTP status, as ``(name, value)`` pairs in the
            order sent (a redirect's ``Location``, a 401's ``WWW-Authenticate``, a
            503's ``Retry-After``), else ``()``.
    """

    status: WebErrorStatus
    message: str
    close_code: int | None
    close_reason: str
    response_headers: tuple[tuple[str, str], ...]

    def __init__(
        self,
        status: WebErrorStatus,
        message: str,
        *,
        close_code: int | None = None,
        close_reason: str = "",
        response_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = WebErrorStatus(status)
        self.message = message
        self.close_code = close_code
        self.close_reason = close_reason
        self.response_headers = response_headers

    def __str__(self) -> str:
        return f"{self.message} ({self.status.name})"

    def __repr__(self) -> str:
        return f"WebSocketStatusError(WebErrorStatus.{self.status.name}, {self.message!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # The classes web_socket_error() combines are not importable by name: copy and
        # pickle combine them again.
        kind = type(self).__dict__.get("_made_of", type(self))
        made = (kind, self.status, self.message, self.close_code, self.close_reason)
        return (_remade, made, self.__dict__)


def _remade(
    kind: tuple[type[OSError], bool, bool] | type[WebSocketStatusError],
    status: WebErrorStatus,
    message: str,
    close_code: int | None,
    close_reason: str,
) -> WebSocketStatusError:
    cls = _error_class(*kind) if isinstance(kind, tuple) else kind
    return cls(status, message, close_code=close_code, close_reason=close_reason)


_class_cache: dict[tuple[type[OSError], bool, bool], type[WebSocketStatusError]] = {}


def _error_class(base: type[OSError], broken: bool, closed: bool) -> type[WebSocketStatusError]:
    key = (base, broken, closed)
    cls = _class_cache.get(key)
    if cls is None:
        bases: tuple[type[BaseException], ...] = (WebSocketStatusError,)
        name = "WebSocketStatusError"
        if base is not OSError:
            bases += (base,)
            name = base.__name__.removesuffix("Error") + name
        if broken:
            bases += (trio.BrokenResourceError,)
            name = "BrokenResource" + name
        if closed:
            bases += (trio.ClosedResourceError,)
            name = "ClosedResource" + name
        if len(bases) == 1:
            cls = WebSocketStatusError
        else:
            namespace = {"__module__": "trio_sockets", "__qualname__": name, "_made_of": key}
            cls = type(name, bases, namespace)
        _class_cache[key] = cls
    return cls


def web_socket_error(
    status: WebErrorStatus,
    message: str,
    *,
    close_code: int | None = None,
    close_reason: str = "",
    broken: bool = False,
    closed: bool = False,
    response_headers: tuple[tuple[str, str], ...] = (),
    builtin: bool = True,
) -> WebSocketStatusError:
    """Make the exception to raise for a WebSocket failure of *status*.

    *broken* for failures of an established connection (also a
    :class:`trio.BrokenResourceError`), *closed* for an operation on a WebSocket this
    side closed (also a :class:`trio.ClosedResourceError`); not *builtin* where the
    builtin subclass of the status would mislead (a ``CANNOT_CONNECT`` that no peer
    refused is no :class:`ConnectionRefusedError`). Raise it ``from`` the original
    failure so that its cause is kept.
    """
    base = _STATUS_BUILTIN.get(WebErrorStatus(status), OSError) if builtin else OSError
    return _error_class(base, broken, closed)(
        status,
        message,
        close_code=close_code,
        close_reason=close_reason,
        response_headers=response_headers,
    )


# WinINet HRESULTs (HRESULT_FROM_WIN32(ERROR_INTERNET_*)) → status: the inferred sources
# of the WinRT values.
_HRESULT_STATUS: dict[int, WebErrorStatus] = {
    0x80072F06: _W.CERTIFICATE_COMMON_NAME_IS_INCORRECT,
    0x80072F05: _W.CERTIFICATE_EXPIRED,
    0x80072F17: _W.CERTIFICATE_CONTAINS_ERRORS,
    0x80072F8A: _W.CERTIFICATE_REVOKED,
    0x80072F89: _W.CERTIFICATE_IS_INVALID,
    0x80072F84: _W.SERVER_UNREACHABLE,
    0x80072EE2: _W.TIMEOUT,
    0x80072F78: _W.ERROR_HTTP_INVALID_SERVER_RESPONSE,
    0x80072EFE: _W.CONNECTION_ABORTED,
    0x80072EFF: _W.CONNECTION_RESET,
    0x80072F83: _W.DISCONNECTED,
    0x80072F07: _W.HTTP_TO_HTTPS_ON_REDIRECTION,
    0x80072F08: _W.HTTPS_TO_HTTP_ON_REDIRECTION,
    0x80072EFD: _W.CANNOT_CONNECT,
    0x80072EE7: _W.HOST_NAME_NOT_RESOLVED,
    0x80072EF1: _W.OPERATION_CANCELED,
    0x80072F7C: _W.REDIRECT_FAILED,
    0x8000000E: _W.UNKNOWN,  # E_ILLEGAL_METHOD_CALL: misuse, not a network failure
    0x80000013: _W.OPERATION_CANCELED,  # RO_E_CLOSED
    # HTTP_E_STATUS_UNEXPECTED, _UNEXPECTED_REDIRECTION, _CLIENT_ERROR, _SERVER_ERROR
    # (winerror.h): not HTTP statuses, though in the range of HTTP_E_STATUS_*.
    0x80190001: _W.UNEXPECTED_STATUS_CODE,
    0x80190003: _W.UNEXPECTED_REDIRECTION,
    0x80190004: _W.UNEXPECTED_CLIENT_ERROR,
    0x80190005: _W.UNEXPECTED_SERVER_ERROR,
}

# HTTP_E_STATUS_*: 0x80190000 | the HTTP status.
_HTTP_E_STATUS = 0x80190000


class WebSocketError:
    """Classification of WebSocket failures (WinRT ``WebSocketError``); static members only."""

    def __init__(self) -> None:
        raise TypeError("WebSocketError has only static members; call WebSocketError.get_status()")

    @staticmethod
    def get_status(error: BaseException | int) -> WebErrorStatus:
        """Classify *error* (an exception, or an HRESULT or OS error code) into a status.

        Exceptions: a :class:`WebSocketStatusError` gives its ``status``; a handshake
        answered with an HTTP status other than 101 gives that status
        (:class:`WebErrorStatus` values 300-505, else ``UNEXPECTED_*``); an invalid
        handshake answer or a protocol violation ``ERROR_HTTP_INVALID_SERVER_RESPONSE``;
        a connection that closed by its close codes (see the reference); socket, TLS
        and name-resolution failures as :meth:`SocketError.get_status
        <trio_sockets.SocketError.get_status>` classifies them, mapped to the matching
        status (refused → ``CANNOT_CONNECT``, timed out → ``TIMEOUT``, a certificate
        failure → its ``CERTIFICATE_*`` status...); an exception group by its leaves;
        anything else by its ``__cause__``.

        Integers: a WinINet HRESULT (``0x80072xxx``), an ``HTTP_E_STATUS_*`` HRESULT
        (``0x8019xxxx``), or whatever :meth:`SocketError.get_status
        <trio_sockets.SocketError.get_status>` accepts (errno, WSA code, HRESULT);
        ``UNKNOWN`` for an int wider than 32 bits.

        Returns ``UNKNOWN`` where nothing fits. Raises :class:`TypeError` for a ``bool``
        or anything that is neither an exception nor an int.
        """
        if isinstance(error, bool) or not isinstance(error, (BaseException, int)):
            raise TypeError(
                f"get_status() needs an exception or an int error code, not {describe(error)}"
            )
        if isinstance(error, int):
            return _classify_int(error)
        return _classify(error, ClassifyPath(), 0)


def _classify_int(code: int) -> WebErrorStatus:
    if not -(2**31) <= code <= 0xFFFFFFFF:  # no code is wider than 32 bits
        return _W.UNKNOWN
    hresult = code & 0xFFFFFFFF if code < -0x10000 else code
    if hresult in _HRESULT_STATUS:
        return _HRESULT_STATUS[hresult]
    if hresult & 0xFFFF0000 == _HTTP_E_STATUS:
        return status_of_http(hresult & 0xFFFF)
    return status_of_socket_status(SocketError.get_status(code))


def _classify(exc: BaseException, path: ClassifyPath, depth: int) -> WebErrorStatus:
    return classify_chain(exc, path, depth, _direct_status, _W.UNKNOWN)


def _direct_status(exc: BaseException, path: ClassifyPath, depth: int) -> WebErrorStatus | None:
    for kind, classify in _BY_KIND:
        if isinstance(exc, kind):
            status = classify(exc, path, depth)
            if status is not None:
                return status
            break
    # Socket, TLS, resolver and trio failures: as the socket layer classifies them.
    status = status_of_socket_status(SocketError.get_status(exc))
    return None if status is _W.UNKNOWN else status


def _known_cause(exc: BaseException, path: ClassifyPath, depth: int) -> WebErrorStatus | None:
    """The status of *exc*'s ``__cause__``, or None when it has none or it is unknown."""
    if exc.__cause__ is None:
        return None
    cause = _classify(exc.__cause__, path, depth + 1)
    return None if cause is _W.UNKNOWN else cause


def _group_status(
    exc: BaseExceptionGroup[BaseException], path: ClassifyPath, depth: int
) -> WebErrorStatus:
    leaves = [_classify(leaf, path, depth + 1) for leaf in exc.exceptions]
    if all(leaf == leaves[0] for leaf in leaves):
        return leaves[0]
    return next(leaf for leaf in leaves if leaf is not _W.UNKNOWN)


def _handshake_status(
    exc: ws_exceptions.InvalidHandshake, path: ClassifyPath, depth: int
) -> WebErrorStatus:
    # A timeout during the handshake is classified by the socket layer.
    cause = _known_cause(exc, path, depth)
    return _W.ERROR_HTTP_INVALID_SERVER_RESPONSE if cause is None else cause


def _closed_status(
    exc: ws_exceptions.ConnectionClosed, _path: ClassifyPath, _depth: int
) -> WebErrorStatus:
    if exc.rcvd is not None and (exc.sent is None or exc.rcvd_then_sent):
        return status_of_close(exc.rcvd.code, by_peer=True)
    if exc.sent is not None:
        return status_of_close(exc.sent.code, by_peer=False)
    return _W.CONNECTION_ABORTED


_Classifier = Callable[[Any, ClassifyPath, int], WebErrorStatus | None]

#: Each kind of exception and how it is classified, the first that matches winning
#: (subclasses before their bases); None falls through to the socket layer's
#: classification.
_BY_KIND: tuple[tuple[type[BaseException], _Classifier], ...] = (
    (WebSocketStatusError, lambda exc, _path, _depth: exc.status),
    (BaseExceptionGroup, _group_status),
    (
        ws_exceptions.InvalidStatus,
        lambda exc, _path, _depth: status_of_http(exc.response.status_code),
    ),
    (ws_exceptions.InvalidURI, lambda _exc, _path, _depth: _W.UNKNOWN),
    (ws_exceptions.InvalidHandshake, _handshake_status),
    (ws_exceptions.PayloadTooBig, lambda _exc, _path, _depth: _W.REQUEST_ENTITY_TOO_LARGE),
    (
        ws_exceptions.ProtocolError,
        lambda _exc, _path, _depth: _W.ERROR_HTTP_INVALID_SERVER_RESPONSE,
    ),
    (ws_exceptions.ConnectionClosed, _closed_status),
    (trio.BrokenResourceError, _known_cause),
)
