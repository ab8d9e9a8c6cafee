"""The WinRT socket status values and the tables that classify failures into them.

:class:`SocketErrorStatus` with WinRT's values; the HRESULT of each status; and the
tables from errno, ``EAI_*``, ``h_errno``, OpenSSL verify codes and TLS alert reasons
to a status. Pure data, built from the :mod:`errno` and :mod:`socket` constants of the
running platform; :mod:`trio_sockets._core.errors` raises and classifies with them.
"""

from __future__ import annotations

import enum
import errno as _errno
import socket
import ssl

from .enums import ChainValidationResult

__all__ = [
    "EAI_STATUS",
    "ERRNO_STATUS",
    "FOREIGN_CODE_STATUSES",
    "HERRNO_STATUS",
    "HRESULT_STATUS",
    "STATUS_BUILTIN",
    "STATUS_HRESULT",
    "TLS_NOT_TLS",
    "TLS_NO_COMMON",
    "TLS_REFUSED",
    "WIN32_STATUS",
    "SocketErrorStatus",
    "chain_result_of_verify_code",
    "status_of_chain_result",
]


class SocketErrorStatus(enum.IntEnum):
    """Why a socket operation failed (WinRT ``SocketErrorStatus``), with the WinRT values."""

    UNKNOWN = 0
    """The failure could not be classified."""
    OPERATION_ABORTED = 1
    """The operation was aborted: the socket was closed or its I/O cancelled."""
    HTTP_INVALID_SERVER_RESPONSE = 2
    """An HTTP server (proxy) sent an invalid response."""
    CONNECTION_TIMED_OUT = 3
    """The connection attempt or a transfer timed out."""
    ADDRESS_FAMILY_NOT_SUPPORTED = 4
    """The address family is not supported."""
    SOCKET_TYPE_NOT_SUPPORTED = 5
    """The socket type (or protocol) is not supported."""
    HOST_NOT_FOUND = 6
    """The host name is not known."""
    NO_DATA_RECORD_OF_REQUESTED_TYPE = 7
    """The name exists but has no record of the requested type."""
    NON_AUTHORITATIVE_HOST_NOT_FOUND = 8
    """Temporary resolver failure: no authoritative answer was obtained."""
    CLASS_TYPE_NOT_FOUND = 9
    """The service (class type) is not known."""
    ADDRESS_ALREADY_IN_USE = 10
    """The local address is already in use."""
    CANNOT_ASSIGN_REQUESTED_ADDRESS = 11
    """The requested local address is not available on this machine."""
    CONNECTION_REFUSED = 12
    """The remote host refused the connection."""
    NETWORK_IS_UNREACHABLE = 13
    """The network cannot be reached."""
    UNREACHABLE_HOST = 14
    """The host cannot be reached."""
    NETWORK_IS_DOWN = 15
    """The network is down."""
    NETWORK_DROPPED_CONNECTION_ON_RESET = 16
    """The network dropped the connection on reset."""
    SOFTWARE_CAUSED_CONNECTION_ABORT = 17
    """The local network stack aborted the connection."""
    CONNECTION_RESET_BY_PEER = 18
    """The peer reset (or otherwise broke) the connection."""
    HOST_IS_DOWN = 19
    """The remote host is down."""
    NO_ADDRESSES_FOUND = 20
    """Name resolution produced no usable address."""
    TOO_MANY_OPEN_FILES = 21
    """The process or system ran out of socket descriptors."""
    MESSAGE_TOO_LONG = 22
    """A datagram was larger than a buffer or protocol limit."""
    CERTIFICATE_EXPIRED = 23
    """The server certificate is expired or not yet valid."""
    CERTIFICATE_UNTRUSTED_ROOT = 24
    """The certificate chain does not end in a trusted root."""
    CERTIFICATE_COMMON_NAME_IS_INCORRECT = 25
    """The certificate is not valid for the host name (or IP address) connected to."""
    CERTIFICATE_WRONG_USAGE = 26
    """The certificate is not valid for this usage."""
    CERTIFICATE_REVOKED = 27
    """The certificate has been revoked."""
    CERTIFICATE_NO_REVOCATION_CHECK = 28
    """The revocation status of the certificate could not be checked."""
    CERTIFICATE_REVOCATION_SERVER_OFFLINE = 29
    """The revocation server was offline."""
    CERTIFICATE_IS_INVALID = 30
    """The certificate or its chain is invalid for another reason."""


_S = SocketErrorStatus


def _hresult_from_win32(code: int) -> int:
    return 0x80070000 | code


# The Winsock / Win32 code each status corresponds to (reference §6 "Native origin"). The
# synthesised HRESULT of a status is HRESULT_FROM_WIN32 of its code.
_STATUS_WIN32_CODE: dict[SocketErrorStatus, int] = {
    _S.OPERATION_ABORTED: 995,  # ERROR_OPERATION_ABORTED
    _S.HTTP_INVALID_SERVER_RESPONSE: 12152,  # ERROR_HTTP_INVALID_SERVER_RESPONSE
    _S.CONNECTION_TIMED_OUT: 10060,  # WSAETIMEDOUT
    _S.ADDRESS_FAMILY_NOT_SUPPORTED: 10047,  # WSAEAFNOSUPPORT = EAI_FAMILY
    _S.SOCKET_TYPE_NOT_SUPPORTED: 10044,  # WSAESOCKTNOSUPPORT = EAI_SOCKTYPE
    _S.HOST_NOT_FOUND: 11001,  # WSAHOST_NOT_FOUND = EAI_NONAME
    _S.NO_DATA_RECORD_OF_REQUESTED_TYPE: 11004,  # WSANO_DATA = EAI_NODATA
    _S.NON_AUTHORITATIVE_HOST_NOT_FOUND: 11002,  # WSATRY_AGAIN = EAI_AGAIN
    _S.CLASS_TYPE_NOT_FOUND: 10109,  # WSATYPE_NOT_FOUND = EAI_SERVICE
    _S.ADDRESS_ALREADY_IN_USE: 10048,  # WSAEADDRINUSE
    _S.CANNOT_ASSIGN_REQUESTED_ADDRESS: 10049,  # WSAEADDRNOTAVAIL
    _S.CONNECTION_REFUSED: 10061,  # WSAECONNREFUSED
    _S.NETWORK_IS_UNREACHABLE: 10051,  # WSAENETUNREACH
    _S.UNREACHABLE_HOST: 10065,  # WSAEHOSTUNREACH
    _S.NETWORK_IS_DOWN: 10050,  # WSAENETDOWN
    _S.NETWORK_DROPPED_CONNECTION_ON_RESET: 10052,  # WSAENETRESET
    _S.SOFTWARE_CAUSED_CONNECTION_ABORT: 10053,  # WSAECONNABORTED
    _S.CONNECTION_RESET_BY_PEER: 10054,  # WSAECONNRESET
    _S.HOST_IS_DOWN: 10064,  # WSAEHOSTDOWN
    # No Winsock code is documented for this one. The Microsoft page describes it with the
    # text of ERROR_NO_DATA (232, "The pipe is being closed"), so that code is used: it
    # collides with no other status, which keeps HRESULTs round-tripping.
    _S.NO_ADDRESSES_FOUND: 232,
    _S.TOO_MANY_OPEN_FILES: 10024,  # WSAEMFILE
    _S.MESSAGE_TOO_LONG: 10040,  # WSAEMSGSIZE
}

# The HRESULT a :class:`SocketStatusError` of each status reports (unsigned 32-bit).
STATUS_HRESULT: dict[SocketErrorStatus, int] = {
    _S.UNKNOWN: 0x80004005,  # E_FAIL
    **{status: _hresult_from_win32(code) for status, code in _STATUS_WIN32_CODE.items()},
    _S.CERTIFICATE_EXPIRED: 0x800B0101,  # CERT_E_EXPIRED
    _S.CERTIFICATE_UNTRUSTED_ROOT: 0x800B0109,  # CERT_E_UNTRUSTEDROOT
    _S.CERTIFICATE_COMMON_NAME_IS_INCORRECT: 0x800B010F,  # CERT_E_CN_NO_MATCH
    _S.CERTIFICATE_WRONG_USAGE: 0x800B0110,  # CERT_E_WRONG_USAGE
    _S.CERTIFICATE_REVOKED: 0x80092010,  # CRYPT_E_REVOKED
    _S.CERTIFICATE_NO_REVOCATION_CHECK: 0x80092012,  # CRYPT_E_NO_REVOCATION_CHECK
    _S.CERTIFICATE_REVOCATION_SERVER_OFFLINE: 0x80092013,  # CRYPT_E_REVOCATION_OFFLINE
    _S.CERTIFICATE_IS_INVALID: 0x800B0108,  # CERT_E_MALFORMED
}

# Win32 / Winsock codes (bare, or inside a FACILITY_WIN32 HRESULT) that WinRT code may
# report besides the primary ones above.
WIN32_STATUS: dict[int, SocketErrorStatus] = {
    **{code: status for status, code in _STATUS_WIN32_CODE.items()},
    10043: _S.SOCKET_TYPE_NOT_SUPPORTED,  # WSAEPROTONOSUPPORT
    10046: _S.ADDRESS_FAMILY_NOT_SUPPORTED,  # WSAEPFNOSUPPORT
    10103: _S.OPERATION_ABORTED,  # WSAECANCELLED
    10111: _S.OPERATION_ABORTED,  # WSA_E_CANCELLED
    64: _S.CONNECTION_RESET_BY_PEER,  # ERROR_NETNAME_DELETED
    121: _S.CONNECTION_TIMED_OUT,  # ERROR_SEM_TIMEOUT
    1223: _S.OPERATION_ABORTED,  # ERROR_CANCELLED
    1225: _S.CONNECTION_REFUSED,  # ERROR_CONNECTION_REFUSED
    1231: _S.NETWORK_IS_UNREACHABLE,  # ERROR_NETWORK_UNREACHABLE
    1232: _S.UNREACHABLE_HOST,  # ERROR_HOST_UNREACHABLE
    1236: _S.SOFTWARE_CAUSED_CONNECTION_ABORT,  # ERROR_CONNECTION_ABORTED
    1460: _S.CONNECTION_TIMED_OUT,  # ERROR_TIMEOUT
}

# HRESULTs outside FACILITY_WIN32: the synthesised ones plus the other certificate-chain
# errors that WinRT folds into the same statuses (reference §6).
HRESULT_STATUS: dict[int, SocketErrorStatus] = {
    **{hresult: status for status, hresult in STATUS_HRESULT.items()},
    0x80000013: _S.OPERATION_ABORTED,  # RO_E_CLOSED
    0x800B0102: _S.CERTIFICATE_EXPIRED,  # CERT_E_VALIDITYPERIODNESTING
    0x800B010A: _S.CERTIFICATE_UNTRUSTED_ROOT,  # CERT_E_CHAINING
    0x800B010D: _S.CERTIFICATE_UNTRUSTED_ROOT,  # CERT_E_UNTRUSTEDTESTROOT
    0x800B0112: _S.CERTIFICATE_UNTRUSTED_ROOT,  # CERT_E_UNTRUSTEDCA
    0x800B0114: _S.CERTIFICATE_COMMON_NAME_IS_INCORRECT,  # CERT_E_INVALID_NAME
    0x800B010C: _S.CERTIFICATE_REVOKED,  # CERT_E_REVOKED
    0x800B0111: _S.CERTIFICATE_REVOKED,  # TRUST_E_EXPLICIT_DISTRUST
    0x800B010E: _S.CERTIFICATE_NO_REVOCATION_CHECK,  # CERT_E_REVOCATION_FAILURE
    0x800B0103: _S.CERTIFICATE_IS_INVALID,  # CERT_E_ROLE
    0x800B0104: _S.CERTIFICATE_IS_INVALID,  # CERT_E_PATHLENCONST
    0x800B0105: _S.CERTIFICATE_IS_INVALID,  # CERT_E_CRITICAL
    0x800B0106: _S.CERTIFICATE_IS_INVALID,  # CERT_E_PURPOSE
    0x800B0107: _S.CERTIFICATE_IS_INVALID,  # CERT_E_ISSUERCHAINING
    0x800B0113: _S.CERTIFICATE_IS_INVALID,  # CERT_E_INVALID_POLICY
    0x80096004: _S.CERTIFICATE_IS_INVALID,  # TRUST_E_CERT_SIGNATURE
    0x80096019: _S.CERTIFICATE_IS_INVALID,  # TRUST_E_BASIC_CONSTRAINTS
}


def _by_constant(
    module: object, table: dict[str, SocketErrorStatus]
) -> dict[int, SocketErrorStatus]:
    # Some constants are missing on some platforms (EAI_NODATA, EHOSTDOWN...): skip those.
    result: dict[int, SocketErrorStatus] = {}
    for name, status in table.items():
        value = getattr(module, name, None)
        if isinstance(value, int):
            result.setdefault(value, status)
    return result


# OS errno → status.
ERRNO_STATUS: dict[int, SocketErrorStatus] = _by_constant(
    _errno,
    {
        "ECONNREFUSED": _S.CONNECTION_REFUSED,
        "ETIMEDOUT": _S.CONNECTION_TIMED_OUT,
        "EAFNOSUPPORT": _S.ADDRESS_FAMILY_NOT_SUPPORTED,
        "ESOCKTNOSUPPORT": _S.SOCKET_TYPE_NOT_SUPPORTED,
        "EPROTONOSUPPORT": _S.SOCKET_TYPE_NOT_SUPPORTED,
        "EADDRINUSE": _S.ADDRESS_ALREADY_IN_USE,
        "EADDRNOTAVAIL": _S.CANNOT_ASSIGN_REQUESTED_ADDRESS,
        # No such interface: a scope or multicast interface naming none, or a multicast
        # group with no route to an interface (WSAEADDRNOTAVAIL on Windows).
        "ENODEV": _S.CANNOT_ASSIGN_REQUESTED_ADDRESS,
        "ENETUNREACH": _S.NETWORK_IS_UNREACHABLE,
        "EHOSTUNREACH": _S.UNREACHABLE_HOST,
        "ENETDOWN": _S.NETWORK_IS_DOWN,
        "ENETRESET": _S.NETWORK_DROPPED_CONNECTION_ON_RESET,
        "ECONNABORTED": _S.SOFTWARE_CAUSED_CONNECTION_ABORT,
        "ECONNRESET": _S.CONNECTION_RESET_BY_PEER,
        "EPIPE": _S.CONNECTION_RESET_BY_PEER,
        "EHOSTDOWN": _S.HOST_IS_DOWN,
        "EMFILE": _S.TOO_MANY_OPEN_FILES,
        "ENFILE": _S.TOO_MANY_OPEN_FILES,
        "EMSGSIZE": _S.MESSAGE_TOO_LONG,
        "ECANCELED": _S.OPERATION_ABORTED,
    },
)

# ``getaddrinfo`` EAI_* code (the errno of a :class:`socket.gaierror`) → status.
EAI_STATUS: dict[int, SocketErrorStatus] = _by_constant(
    socket,
    {
        "EAI_NONAME": _S.HOST_NOT_FOUND,
        "EAI_AGAIN": _S.NON_AUTHORITATIVE_HOST_NOT_FOUND,
        "EAI_NODATA": _S.NO_DATA_RECORD_OF_REQUESTED_TYPE,
        "EAI_ADDRFAMILY": _S.NO_DATA_RECORD_OF_REQUESTED_TYPE,
        "EAI_SERVICE": _S.CLASS_TYPE_NOT_FOUND,
        "EAI_FAMILY": _S.ADDRESS_FAMILY_NOT_SUPPORTED,
        "EAI_SOCKTYPE": _S.SOCKET_TYPE_NOT_SUPPORTED,
        "EAI_FAIL": _S.HOST_NOT_FOUND,
    },
)

# h_errno values of socket.herror (netdb.h; the socket module does not export them).
HERRNO_STATUS: dict[int, SocketErrorStatus] = {
    1: _S.HOST_NOT_FOUND,  # HOST_NOT_FOUND
    2: _S.NON_AUTHORITATIVE_HOST_NOT_FOUND,  # TRY_AGAIN
    3: _S.HOST_NOT_FOUND,  # NO_RECOVERY
    4: _S.NO_DATA_RECORD_OF_REQUESTED_TYPE,  # NO_DATA
}

_C = ChainValidationResult

# OpenSSL ``X509_V_ERR_*`` code (``SSLCertVerificationError.verify_code``; the ssl module
# does not export the names) → WinRT chain result. Codes not listed are OTHER_ERRORS.
# The numbers are OpenSSL 3's (1.1 numbered INVALID_CA 24; 3 has it at 79).
_VERIFY_CODE_RESULT: dict[int, ChainValidationResult] = {
    2: _C.UNTRUSTED,  # UNABLE_TO_GET_ISSUER_CERT
    18: _C.UNTRUSTED,  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: _C.UNTRUSTED,  # SELF_SIGNED_CERT_IN_CHAIN
    20: _C.UNTRUSTED,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: _C.UNTRUSTED,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    27: _C.UNTRUSTED,  # CERT_UNTRUSTED
    28: _C.UNTRUSTED,  # CERT_REJECTED
    9: _C.EXPIRED,  # CERT_NOT_YET_VALID
    10: _C.EXPIRED,  # CERT_HAS_EXPIRED
    62: _C.INVALID_NAME,  # HOSTNAME_MISMATCH
    64: _C.INVALID_NAME,  # IP_ADDRESS_MISMATCH
    26: _C.WRONG_USAGE,  # INVALID_PURPOSE
    23: _C.REVOKED,  # CERT_REVOKED
    3: _C.REVOCATION_INFORMATION_MISSING,  # UNABLE_TO_GET_CRL
    4: _C.INVALID_SIGNATURE,  # UNABLE_TO_DECRYPT_CERT_SIGNATURE
    6: _C.INVALID_SIGNATURE,  # UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY
    7: _C.INVALID_SIGNATURE,  # CERT_SIGNATURE_FAILURE
    24: _C.INVALID_SIGNATURE,  # NO_ISSUER_PUBLIC_KEY (INVALID_CA before OpenSSL 3)
    79: _C.BASIC_CONSTRAINTS_ERROR,  # INVALID_CA
    37: _C.BASIC_CONSTRAINTS_ERROR,  # INVALID_NON_CA
    25: _C.BASIC_CONSTRAINTS_ERROR,  # PATH_LENGTH_EXCEEDED
    80: _C.BASIC_CONSTRAINTS_ERROR,  # PATHLEN_INVALID_FOR_NON_CA
    32: _C.BASIC_CONSTRAINTS_ERROR,  # KEYUSAGE_NO_CERTSIGN: the issuer is no valid CA
    39: _C.WRONG_USAGE,  # KEYUSAGE_NO_DIGITAL_SIGNATURE
    66: _C.INVALID_SIGNATURE,  # EE_KEY_TOO_SMALL
    67: _C.INVALID_SIGNATURE,  # CA_KEY_TOO_SMALL
    68: _C.INVALID_SIGNATURE,  # CA_MD_TOO_WEAK
    76: _C.INVALID_SIGNATURE,  # UNSUPPORTED_SIGNATURE_ALGORITHM
    34: _C.UNKNOWN_CRITICAL_EXTENSION,  # UNHANDLED_CRITICAL_EXTENSION
    42: _C.INVALID_CERTIFICATE_AUTHORITY_POLICY,  # INVALID_POLICY_EXTENSION
    43: _C.INVALID_CERTIFICATE_AUTHORITY_POLICY,  # NO_EXPLICIT_POLICY
}

# Chain result → the status of a connect it fails. Others are CERTIFICATE_IS_INVALID.
_RESULT_STATUS: dict[ChainValidationResult, SocketErrorStatus] = {
    _C.EXPIRED: _S.CERTIFICATE_EXPIRED,
    _C.UNTRUSTED: _S.CERTIFICATE_UNTRUSTED_ROOT,
    _C.INCOMPLETE_CHAIN: _S.CERTIFICATE_UNTRUSTED_ROOT,
    _C.INVALID_NAME: _S.CERTIFICATE_COMMON_NAME_IS_INCORRECT,
    _C.WRONG_USAGE: _S.CERTIFICATE_WRONG_USAGE,
    _C.REVOKED: _S.CERTIFICATE_REVOKED,
    _C.REVOCATION_INFORMATION_MISSING: _S.CERTIFICATE_NO_REVOCATION_CHECK,
    _C.REVOCATION_FAILURE: _S.CERTIFICATE_REVOCATION_SERVER_OFFLINE,
}


if ssl.OPENSSL_VERSION_INFO < (3,):  # pragma: no cover - OpenSSL 1.1
    _VERIFY_CODE_RESULT[24] = _C.BASIC_CONSTRAINTS_ERROR


def chain_result_of_verify_code(code: int) -> ChainValidationResult:
    """The WinRT chain result of an OpenSSL ``X509_V_ERR_*`` code (else ``OTHER_ERRORS``)."""
    return _VERIFY_CODE_RESULT.get(code, _C.OTHER_ERRORS)


def status_of_chain_result(result: ChainValidationResult) -> SocketErrorStatus:
    """The ``CERTIFICATE_*`` status of a connect that *result* fails."""
    return _RESULT_STATUS.get(result, _S.CERTIFICATE_IS_INVALID)


# OpenSSL reasons (``SSLError.reason``) that mean the peer's bytes are not TLS at all.
TLS_NOT_TLS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
        "UNEXPECTED_MESSAGE",
        "UNEXPECTED_RECORD",
        "BAD_RECORD_TYPE",
        "LENGTH_MISMATCH",
        "RECORD_LENGTH_MISMATCH",
        "BAD_PACKET_LENGTH",
        "ENCRYPTED_LENGTH_TOO_LONG",
    }
)
# Reasons for TLS from the peer that our OpenSSL refuses: a handshake message over its
# size limit (a certificate chain over 100 KiB), a record that fails its integrity check
# (corrupted or tampered with on the way). An invalid answer, as for TLS_NOT_TLS.
TLS_REFUSED = frozenset({"EXCESSIVE_MESSAGE_SIZE", "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"})
# Reasons that mean the two sides share no TLS version or cipher.
TLS_NO_COMMON = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "NO_CIPHERS_AVAILABLE",
        "NO_SHARED_CIPHER",
        "VERSION_TOO_LOW",
        "VERSION_TOO_HIGH",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
    }
)

# Builtin OSError subclasses a SocketStatusError of a status also derives from, so
# ``except ConnectionRefusedError`` and friends keep working.
STATUS_BUILTIN: dict[SocketErrorStatus, type[OSError]] = {
    _S.CONNECTION_REFUSED: ConnectionRefusedError,
    _S.CONNECTION_RESET_BY_PEER: ConnectionResetError,
    _S.SOFTWARE_CAUSED_CONNECTION_ABORT: ConnectionAbortedError,
    _S.CONNECTION_TIMED_OUT: TimeoutError,
}

# The errno that comes with these is an EAI_*, h_errno or SSL_ERROR_* code, which may
# coincide with an unrelated OS errno: never read it as one.
FOREIGN_CODE_STATUSES = frozenset(
    {
        _S.HOST_NOT_FOUND,
        _S.NO_DATA_RECORD_OF_REQUESTED_TYPE,
        _S.NON_AUTHORITATIVE_HOST_NOT_FOUND,
        _S.CLASS_TYPE_NOT_FOUND,
        _S.NO_ADDRESSES_FOUND,
        *(status for status in SocketErrorStatus if status.name.startswith("CERTIFICATE_")),
    }
)
