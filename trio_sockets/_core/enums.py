"""The small WinRT enumerations, with their WinRT numeric values.

Every member keeps the number Windows gives it, so values round-trip with code or
logs that speak WinRT (``SocketProtectionLevel.TLS12 == 8`` as on Windows).
"""

from __future__ import annotations

import enum

__all__ = [
    "ByteOrder",
    "ChainValidationResult",
    "HostNameSortOptions",
    "HostNameType",
    "InputStreamOptions",
    "MessageWebSocketReceiveMode",
    "SocketMessageType",
    "SocketProtectionLevel",
    "SocketQualityOfService",
    "SocketSslErrorSeverity",
    "UnicodeEncoding",
]


class HostNameType(enum.IntEnum):
    """What kind of name a :class:`HostName` holds (WinRT ``HostNameType``)."""

    DOMAIN_NAME = 0
    IPV4 = 1
    IPV6 = 2
    #: A Bluetooth device address. Windows-only: :class:`HostName` rejects these.
    BLUETOOTH = 3


class HostNameSortOptions(enum.IntFlag):
    """How ``get_endpoint_pairs`` orders the pairs it returns (WinRT ``HostNameSortOptions``)."""

    NONE = 0
    OPTIMIZE_FOR_LONG_CONNECTIONS = 2


class SocketProtectionLevel(enum.IntEnum):
    """The protection (TLS) level of a stream socket (WinRT ``SocketProtectionLevel``)."""

    PLAIN_SOCKET = 0
    SSL = 1
    SSL_ALLOW_NULL_ENCRYPTION = 2
    BLUETOOTH_ENCRYPTION_ALLOW_NULL_AUTHENTICATION = 3
    BLUETOOTH_ENCRYPTION_WITH_AUTHENTICATION = 4
    SSL3_ALLOW_WEAK_ENCRYPTION = 5
    TLS10 = 6
    TLS11 = 7
    TLS12 = 8
    UNSPECIFIED = 9
    TLS13 = 10


class SocketQualityOfService(enum.IntEnum):
    """WinRT ``SocketQualityOfService``.

    ``LOW_LATENCY`` raises the priority of a Windows I/O thread. trio runs every socket on
    the one trio thread, so both values behave alike here; the value is kept so ported code
    runs, and is reported back as set.
    """

    NORMAL = 0
    LOW_LATENCY = 1


class SocketSslErrorSeverity(enum.IntEnum):
    """How serious the certificate errors of a TLS handshake were."""

    NONE = 0
    IGNORABLE = 1
    FATAL = 2


class ChainValidationResult(enum.IntEnum):
    """One reason a server certificate failed validation (WinRT ``ChainValidationResult``)."""

    SUCCESS = 0
    UNTRUSTED = 1
    REVOKED = 2
    EXPIRED = 3
    INCOMPLETE_CHAIN = 4
    INVALID_SIGNATURE = 5
    WRONG_USAGE = 6
    INVALID_NAME = 7
    INVALID_CERTIFICATE_AUTHORITY_POLICY = 8
    BASIC_CONSTRAINTS_ERROR = 9
    UNKNOWN_CRITICAL_EXTENSION = 10
    REVOCATION_INFORMATION_MISSING = 11
    REVOCATION_FAILURE = 12
    OTHER_ERRORS = 13


class InputStreamOptions(enum.IntFlag):
    """How a read or a :meth:`DataReader.load` completes (WinRT ``InputStreamOptions``).

    ``NONE`` completes when the requested count is there (or at end of stream),
    ``PARTIAL`` as soon as at least one byte is there, and ``READ_AHEAD`` may take in more
    than was asked, to save system calls on later reads.
    """

    NONE = 0
    PARTIAL = 1
    READ_AHEAD = 2


class ByteOrder(enum.IntEnum):
    """Byte order of multi-byte values in :class:`DataReader` / :class:`DataWriter`."""

    LITTLE_ENDIAN = 0
    BIG_ENDIAN = 1


class UnicodeEncoding(enum.IntEnum):
    """Text encoding of strings in :class:`DataReader` / :class:`DataWriter`."""

    UTF8 = 0
    UTF16LE = 1
    UTF16BE = 2


class SocketMessageType(enum.IntEnum):
    """The type of a WebSocket message (WinRT ``SocketMessageType``)."""

    BINARY = 0
    UTF8 = 1


class MessageWebSocketReceiveMode(enum.IntEnum):
    """Whether a :class:`MessageWebSocket` delivers whole messages or pieces as they arrive
    (WinRT ``MessageWebSocketReceiveMode``)."""

    FULL_MESSAGE = 0
    PARTIAL_MESSAGE = 1
