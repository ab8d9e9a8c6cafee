"""The exception that carries a socket failure's status, and the classification.

WinRT reports every socket failure as an HRESULT and offers ``SocketError.GetStatus``
to turn it into a :class:`SocketErrorStatus`. Here failures are exceptions:
:class:`SocketStatusError` (an :class:`OSError`) carries the status, the OS errno and a
synthesised HRESULT, and :meth:`SocketError.get_status` classifies any exception the
library can raise — or a raw errno, WSA code or HRESULT — into a status.

Everything in this module is pure; the status values and the tables it classifies
with are in :mod:`trio_sockets._core.status`.
"""

from __future__ import annotations

import errno as _errno
import os
import socket
import ssl
from collections.abc import Callable
from typing import Final, TypeVar

import dns.exception
import dns.resolver
import trio

from .checks import describe
from .status import (
    EAI_STATUS,
    ERRNO_STATUS,
    FOREIGN_CODE_STATUSES,
    HERRNO_STATUS,
    HRESULT_STATUS,
    STATUS_BUILTIN,
    STATUS_HRESULT,
    TLS_NO_COMMON,
    TLS_NOT_TLS,
    TLS_REFUSED,
    WIN32_STATUS,
    SocketErrorStatus,
    chain_result_of_verify_code,
    status_of_chain_result,
)

_S = SocketErrorStatus

__all__ = [
    "SocketError",
    "SocketErrorStatus",
    "SocketStatusError",
    "RESOURCE_ERRNOS",
    "WindowsOnlyError",
    "out_of_resources",
    "socket_error",
    "translate_os_error",
]


class SocketStatusError(OSError):
    """The one exception type the library raises for network failures.

    It is an :class:`OSError`, and the instances the library raises (made by
    :func:`socket_error`) also derive from the matching builtin subclass
    (:class:`ConnectionRefusedError`, :class:`TimeoutError`...); for failures of an
    established stream, from :class:`trio.BrokenResourceError`; and for an operation
    that another task ended by closing the socket (``OPERATION_ABORTED``), from
    :class:`trio.ClosedResourceError`.

    Attributes:
        status: the :class:`SocketErrorStatus` of the failure.
        errno: the OS error number (or the ``EAI_*`` / SSL code of a resolver or TLS
            failure) if there was one, else ``None``.
        strerror: the text that goes with ``errno``, or a description of ``status``.
        message: what failed, as given when raised.
        hresult: the HRESULT WinRT would report, as an unsigned 32-bit int.
    """

    status: SocketErrorStatus
    message: str
    strerror: str | None  # always a str here; declared as OSError declares it

    def __init__(
        self,
        status: SocketErrorStatus,
        message: str,
        *,
        errno: int | None = None,
        strerror: str | None = None,
    ) -> None:
        status = SocketErrorStatus(status)
        if strerror is None:
            strerror = _default_strerror(status, errno)
        # OSError sets .errno and .strerror only from a two-argument call.
        if errno is not None:
            super().__init__(errno, strerror)
        else:
            super().__init__(message)
            self.strerror = strerror
        self.status = status
        self.message = message

    @property
    def hresult(self) -> int:
        """The HRESULT WinRT would report for this failure (unsigned 32-bit)."""
        return STATUS_HRESULT[self.status]

    def __str__(self) -> str:
        return f"{self.message} ({self.status.name})"

    def __repr__(self) -> str:
        return (
            f"SocketStatusError(SocketErrorStatus.{self.status.name}, {self.message!r}, "
            f"errno={self.errno!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # The classes socket_error() combines are not importable by name: copy and
        # pickle combine them again.
        kind = type(self).__dict__.get("_made_of", type(self))
        made = (kind, self.status, self.message, self.errno, self.strerror)
        return (_remade, made, self.__dict__)


def _remade(
    kind: tuple[type[OSError], bool, bool] | type[SocketStatusError],
    status: SocketErrorStatus,
    message: str,
    errno: int | None,
    strerror: str | None,
) -> SocketStatusError:
    cls = _combined_class(*kind) if isinstance(kind, tuple) else kind
    return cls(status, message, errno=errno, strerror=strerror)


def _default_strerror(status: SocketErrorStatus, errno: int | None) -> str:
    if errno is not None and errno > 0 and status not in FOREIGN_CODE_STATUSES:
        return os.strerror(errno)
    return status.name.replace("_", " ").capitalize()


_class_cache: dict[tuple[type[OSError], bool, bool], type[SocketStatusError]] = {}


def _combined_class(
    base: type[OSError], broken: bool, closed: bool = False
) -> type[SocketStatusError]:
    """The SocketStatusError subclass that also derives from *base* (and Broken... or
    Closed...)."""
    key = (base, broken, closed)
    cls = _class_cache.get(key)
    if cls is not None:
        return cls
    if base is OSError and not broken and not closed:
        cls = SocketStatusError
    else:
        # The name lists the extra bases: ConnectionResetBrokenResourceSocketStatusError.
        bases: tuple[type[BaseException], ...] = (SocketStatusError,)
        name = "SocketStatusError"
        if broken:
            bases += (trio.BrokenResourceError,)
            name = "BrokenResource" + name
        if closed:
            bases += (trio.ClosedResourceError,)
            name = "ClosedResource" + name
        if base is not OSError:
            bases = (SocketStatusError, base, *bases[1:])
            name = base.__name__.removesuffix("Error") + name
        namespace = {"__module__": "trio_sockets", "__qualname__": name, "_made_of": key}
        cls = type(name, bases, namespace)
    _class_cache[key] = cls
    return cls


def _status_builtin(status: SocketErrorStatus, errno: int | None) -> type[OSError] | None:
    if status is _S.CONNECTION_RESET_BY_PEER and errno in (_errno.EPIPE, _errno.ESHUTDOWN):
        return BrokenPipeError
    return STATUS_BUILTIN.get(status)


def _builtin_of(cls: type[BaseException]) -> type[OSError]:
    for klass in cls.__mro__:
        if klass.__module__ == "builtins" and issubclass(klass, OSError):
            return klass
    return OSError


def socket_error(
    status: SocketErrorStatus,
    message: str,
    *,
    errno: int | None = None,
    broken: bool = False,
    closed: bool = False,
) -> SocketStatusError:
    """Make the exception to raise for a network failure of *status*.

    *message* says what failed (``"connect to 127.0.0.1:1"``); *errno* is the OS error
    number, if there was one. The instance also derives from the builtin :class:`OSError`
    subclass matching the status or errno (:class:`ConnectionRefusedError`,
    :class:`BrokenPipeError` for ``EPIPE``, :class:`PermissionError` for ``EACCES``...),
    and from :class:`trio.BrokenResourceError` when *broken* is true — use that for
    failures of send/receive on an established stream, as trio's ``Stream`` contract
    requires; and from :class:`trio.ClosedResourceError` when *closed* is true, for an
    operation that failed because another task closed the socket (the contract's
    requirement too).
    """
    status = SocketErrorStatus(status)
    os_errno = errno if status not in FOREIGN_CODE_STATUSES else None
    base = _status_builtin(status, os_errno)
    if base is None:
        # Whatever Python itself raises for this errno (PermissionError for EACCES...).
        base = type(OSError(os_errno, "")) if os_errno is not None and os_errno > 0 else OSError
    return _combined_class(base, broken, closed)(status, message, errno=errno)


def translate_os_error(exc: OSError, action: str, *, broken: bool = False) -> SocketStatusError:
    """Turn an :class:`OSError` caught while doing *action* into a :class:`SocketStatusError`.

    The message reads ``"{action}: {exc}"``; status, errno and strerror come from *exc*,
    and the result keeps the builtin class of *exc* (or the one matching the status).
    Use as ``raise translate_os_error(e, "connect to 127.0.0.1:1") from e``.
    """
    status = SocketError.get_status(exc)
    if isinstance(exc, SocketStatusError):
        message = f"{action}: {exc.message}"
        broken = broken or isinstance(exc, trio.BrokenResourceError)
    else:
        message = f"{action}: {exc}"
    foreign = isinstance(exc, (socket.gaierror, socket.herror, ssl.SSLError))
    base = _status_builtin(status, None if foreign else exc.errno) or _builtin_of(type(exc))
    return _combined_class(base, broken)(status, message, errno=exc.errno, strerror=exc.strerror)


#: errno values of a shortage: no descriptor left in the process (EMFILE) or the system
#: (ENFILE), or no kernel memory for a new socket or file (ENOBUFS, ENOMEM).
RESOURCE_ERRNOS: Final = frozenset({_errno.EMFILE, _errno.ENFILE, _errno.ENOBUFS, _errno.ENOMEM})

_SHORTAGES: Final = {
    _errno.EMFILE: "the process ran out of file descriptors",
    _errno.ENFILE: "the system ran out of file descriptors",
    _errno.ENOBUFS: "the system ran out of memory for sockets and files",
    _errno.ENOMEM: "the system ran out of memory for sockets and files",
}


def out_of_resources(exc: OSError, action: str) -> SocketStatusError | None:
    """``TOO_MANY_OPEN_FILES`` for *exc*, raised while making a socket or opening a file
    for *action*, when it is a shortage (:data:`RESOURCE_ERRNOS`); else None.

    The message says so in words: a lookup or a TLS setup that cannot open a file
    would otherwise read as an unknown name or an untrusted server. ENOBUFS and ENOMEM
    are a shortage only where a descriptor is being made (a full send queue also says
    ENOBUFS), so :func:`SocketError.get_status` does not classify them.
    """
    foreign = isinstance(exc, (socket.gaierror, socket.herror, ssl.SSLError))  # not errnos
    shortage = None if foreign or not isinstance(exc.errno, int) else _SHORTAGES.get(exc.errno)
    if shortage is None:
        return None
    return socket_error(_S.TOO_MANY_OPEN_FILES, f"{action}: {shortage} ({exc})", errno=exc.errno)


# How deep get_status follows __cause__ chains and nests into exception groups.
_MAX_DEPTH = 16
# Exceptions one classification looks at, at most (a few milliseconds' work).
_MAX_VISITS = 10_000


class ClassifyPath(set[int]):
    """The exceptions being classified further up, so that a ``__cause__`` cycle ends,
    and how many were looked at in all: a group that holds one group several times over,
    level after level, has paths exponential in its depth, so the walk has a budget."""

    __slots__ = ("visits",)

    def __init__(self) -> None:
        super().__init__()
        self.visits = 0


class SocketError:
    """Classification of socket failures (WinRT ``SocketError``); static members only."""

    def __init__(self) -> None:
        raise TypeError("SocketError has only static members; call SocketError.get_status()")

    @staticmethod
    def get_status(error: BaseException | int) -> SocketErrorStatus:
        """Classify *error* (an exception, or an errno, WSA code or HRESULT) into a status.

        Exceptions: a :class:`SocketStatusError` gives its ``status``; resolver, TLS, trio
        and dnspython exceptions and plain :class:`OSError`\\ s are classified by type and
        errno; an exception group by its leaves (their common status, else the first that
        is not ``UNKNOWN``); anything else by its ``__cause__``. TLS errors: certificate
        failures by their verify code (``CERTIFICATE_*``), the peer's alerts about our
        certificate ``CERTIFICATE_IS_INVALID``, a peer that does not speak TLS
        ``HTTP_INVALID_SERVER_RESPONSE``, no shared version or cipher
        ``SOFTWARE_CAUSED_CONNECTION_ABORT``, EOF and other alerts
        ``CONNECTION_RESET_BY_PEER``; the rest ``UNKNOWN``.

        Integers: an HRESULT (``>= 0x80000000``, or negative as C#'s ``HResult`` gives it),
        a Windows WSA code (10000-11999), a positive OS errno, or a negative ``EAI_*`` code;
        ``UNKNOWN`` for an int wider than 32 bits.

        Returns ``UNKNOWN`` where nothing fits. Raises :class:`TypeError` for a ``bool`` or
        anything that is neither an exception nor an int.
        """
        if isinstance(error, bool) or not isinstance(error, (BaseException, int)):
            raise TypeError(
                f"get_status() needs an exception or an int error code, not {describe(error)}"
            )
        if isinstance(error, int):
            return _classify_int(error)
        return _classify(error, ClassifyPath(), 0)


def _classify_int(code: int) -> SocketErrorStatus:
    if not -(2**31) <= code <= 0xFFFFFFFF:  # no code is wider than 32 bits
        return _S.UNKNOWN
    if code < 0:
        if code > -0x10000:
            return EAI_STATUS.get(code, _S.UNKNOWN)
        code &= 0xFFFFFFFF
    if code >= 0x80000000:
        return _classify_hresult(code)
    if 10000 <= code <= 11999:
        return WIN32_STATUS.get(code, _S.UNKNOWN)
    return ERRNO_STATUS.get(code, _S.UNKNOWN)


def _classify_hresult(hresult: int) -> SocketErrorStatus:
    status = HRESULT_STATUS.get(hresult)
    if status is not None:
        return status
    if hresult & 0xFFFF0000 == 0x80070000:
        return WIN32_STATUS.get(hresult & 0xFFFF, _S.UNKNOWN)
    return _S.UNKNOWN


def _ssl_status(exc: ssl.SSLError) -> SocketErrorStatus | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", None)
        if isinstance(code, int):
            return status_of_chain_result(chain_result_of_verify_code(code))
        return _S.CERTIFICATE_IS_INVALID
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)):
        return _S.CONNECTION_RESET_BY_PEER
    reason = getattr(exc, "reason", None)
    reason = reason if isinstance(reason, str) else ""  # anyone may make an SSLError
    if reason in TLS_NOT_TLS or reason in TLS_REFUSED:
        return _S.HTTP_INVALID_SERVER_RESPONSE
    if reason in TLS_NO_COMMON:
        return _S.SOFTWARE_CAUSED_CONNECTION_ABORT
    # The peer's alerts about our certificate: BAD_CERTIFICATE, CERTIFICATE_REQUIRED,
    # UNKNOWN_CA...; on a server, a client that sent none.
    if "CERTIFICATE" in reason or "UNKNOWN_CA" in reason:
        return _S.CERTIFICATE_IS_INVALID
    if "ALERT" in reason:  # any other alert: the peer ended the connection
        return _S.CONNECTION_RESET_BY_PEER
    return None


def _os_error_status(exc: OSError) -> SocketErrorStatus | None:
    # errno is whatever the maker of the exception put there: only an int is a code.
    code = exc.errno if isinstance(exc.errno, int) else None
    if isinstance(exc, socket.gaierror):
        return EAI_STATUS.get(code) if code is not None else None
    if isinstance(exc, socket.herror):
        return HERRNO_STATUS.get(code) if code is not None else None
    if isinstance(exc, ssl.SSLError):
        return _ssl_status(exc)
    if code is not None and code in ERRNO_STATUS:
        return ERRNO_STATUS[code]
    if isinstance(exc, BrokenPipeError):
        return _S.CONNECTION_RESET_BY_PEER
    for builtin_status, builtin in STATUS_BUILTIN.items():
        if isinstance(exc, builtin):
            return builtin_status
    return None


_Status = TypeVar("_Status")


def classify_chain(
    exc: BaseException,
    path: ClassifyPath,
    depth: int,
    direct: Callable[[BaseException, ClassifyPath, int], _Status | None],
    unknown: _Status,
) -> _Status:
    """The status *direct* finds for *exc*, else for its ``__cause__`` chain; *unknown*
    when none does. *direct* classifies nested exceptions by calling back here with
    ``depth + 1``. Shared by ``SocketError.get_status`` and ``WebSocketError.get_status``.
    """
    # *path* holds the exceptions being classified further up, so that a __cause__ cycle
    # ends, while the same exception reached twice through a group still counts twice.
    path.visits += 1
    if depth > _MAX_DEPTH or id(exc) in path or path.visits > _MAX_VISITS:
        return unknown
    path.add(id(exc))
    try:
        status = direct(exc, path, depth)
        if status is None and exc.__cause__ is not None:
            status = classify_chain(exc.__cause__, path, depth + 1, direct, unknown)
    finally:
        path.discard(id(exc))
    return unknown if status is None else status


def _classify(exc: BaseException, path: ClassifyPath, depth: int) -> SocketErrorStatus:
    return classify_chain(exc, path, depth, _direct_status, _S.UNKNOWN)


def _direct_status(exc: BaseException, path: ClassifyPath, depth: int) -> SocketErrorStatus | None:
    if isinstance(exc, SocketStatusError):
        return exc.status
    if isinstance(exc, BaseExceptionGroup):
        leaves = [_classify(leaf, path, depth + 1) for leaf in exc.exceptions]
        if all(leaf == leaves[0] for leaf in leaves):
            return leaves[0]
        return next(leaf for leaf in leaves if leaf is not _S.UNKNOWN)
    if isinstance(exc, OSError):
        if exc.__cause__ is not None and exc.errno is None:
            # A wrapper (a WebSocket error): what it wraps says more than its class.
            cause = _classify(exc.__cause__, path, depth + 1)
            if cause is not _S.UNKNOWN:
                return cause
        return _os_error_status(exc)
    if isinstance(exc, trio.BrokenResourceError):
        if exc.__cause__ is not None:
            cause = _classify(exc.__cause__, path, depth + 1)
            if cause is not _S.UNKNOWN:
                return cause
        return _S.CONNECTION_RESET_BY_PEER
    if isinstance(exc, (trio.ClosedResourceError, trio.Cancelled)):
        return _S.OPERATION_ABORTED
    if isinstance(exc, (trio.TooSlowError, dns.exception.Timeout)):
        # dns.resolver.LifetimeTimeout is a dns.exception.Timeout.
        return _S.CONNECTION_TIMED_OUT
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return _S.HOST_NOT_FOUND
    if isinstance(exc, dns.resolver.NoAnswer):
        return _S.NO_DATA_RECORD_OF_REQUESTED_TYPE
    if isinstance(exc, dns.resolver.NoNameservers):
        return _S.NON_AUTHORITATIVE_HOST_NOT_FOUND
    return None


class WindowsOnlyError(NotImplementedError):
    """Raised by WinRT members that exist only on Windows (socket broker, Bluetooth...).

    The members are kept so that ported code fails loudly with an explanation rather than
    with an :class:`AttributeError`. *member* names the member
    (``"StreamSocket.transfer_ownership"``); *reason* is one line saying what it does on
    Windows and why it cannot apply here.
    """

    member: str
    reason: str

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"{member} is Windows-only and not available in trio_sockets: {reason}")
        self.member = member
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.member, self.reason), self.__dict__)
