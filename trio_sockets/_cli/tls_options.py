"""The TLS options of ``echo-server`` and ``send``: reading certificates, setting a
client's TLS control from the options (a StreamSocket's or a MessageWebSocket's), and
the server's report of the handshakes that failed."""

from __future__ import annotations

import argparse
import ssl
from typing import Any

import trio

from .._core.certificate import IGNORABLE, Certificate
from .._core.checks import shown
from .._core.enums import ChainValidationResult, SocketProtectionLevel
from .._core.errors import SocketError, SocketErrorStatus
from .._sockets.listener import StreamSocketListener
from .._sockets.stream_control import (
    DEFAULT_MAX_TLS_HANDSHAKES_PER_ADDRESS,
    MAX_PENDING_HANDSHAKES,
    StreamSocketControl,
)
from .._tls.context import server_context
from .._websockets.control import MessageWebSocketControl
from .lines import warn

__all__ = [
    "add_handshakes_option",
    "add_level_option",
    "add_tls_client_options",
    "certificate",
    "file_name",
    "level_of",
    "report_handshake_failures",
    "use_tls_options",
    "wants_tls",
]

LEVELS = ("SSL", "TLS10", "TLS11", "TLS12", "TLS13")


def add_level_option(group: Any) -> None:
    group.add_argument(
        "--tls-level",
        choices=LEVELS,
        default=None,
        help="SocketProtectionLevel: SSL (the best both sides have, the default) or a "
        "pinned version; it asks for TLS",
    )


def level_of(args: argparse.Namespace) -> SocketProtectionLevel:
    """The TLS level ``--tls-level`` names (SSL, the best both sides have, if not given)."""
    return SocketProtectionLevel[args.tls_level or "SSL"]


def add_handshakes_option(group: Any) -> None:
    group.add_argument(
        "--tls-handshakes-per-address",
        metavar="N",
        type=_handshakes,
        default=None,
        help=f"TLS handshakes one client address may run at once, 1 to "
        f"{MAX_PENDING_HANDSHAKES} (default {DEFAULT_MAX_TLS_HANDSHAKES_PER_ADDRESS}); its "
        "connections past that are refused at once: raise it for a client that opens "
        "many together, such as a load test",
    )


def _handshakes(text: str) -> int:
    """An argparse type: a number of TLS handshakes at once, 1 to 64."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a whole number") from None
    if not 1 <= value <= MAX_PENDING_HANDSHAKES:
        raise argparse.ArgumentTypeError(
            f"{shown(text)} must be from 1 to {MAX_PENDING_HANDSHAKES}"
        )
    return value


def file_name(text: str) -> str:
    """An argparse type: a file name, which may not be empty.

    An empty one (an unset shell variable, ``--ca "$CA"``) is refused rather than taken as
    the option not given: for ``send`` that would mean no TLS at all.
    """
    if not text:
        raise argparse.ArgumentTypeError("an empty file name")
    return text


def certificate(
    cert: str,
    key: str | None,
    cert_option: str,
    key_option: str = "",
    *,
    presented_at: SocketProtectionLevel | None = None,
) -> Certificate:
    """The certificate of the files *cert* and *key* (given as *cert_option* and
    *key_option*). With *presented_at*, it is this side's own, presented at that
    level: it needs its private key, and one OpenSSL takes at that level.

    Raises:
        ValueError: naming the option and its file: a file cannot be read, holds no
            certificate, holds a key that cannot be read or does not belong to the
            certificate, no key is given for a certificate to present, or OpenSSL
            refuses the certificate and key (a key too small, say).
    """
    try:
        loaded = Certificate.from_pem_file(cert, key)
    except OSError as error:
        blamed = (
            key_option if key is not None and error.filename not in (cert, None) else cert_option
        )
        raise ValueError(
            f"{blamed}: cannot read {shown(error.filename)}: {error.strerror}"
        ) from None
    except ValueError as error:
        # The message begins with the name of the file at fault.
        blamed = (
            key_option if key is not None and str(error).startswith(shown(key)) else cert_option
        )
        raise ValueError(f"{blamed}: {error}") from None
    if presented_at is not None:
        _check_presentable(loaded, cert, key, cert_option, key_option, presented_at)
    return loaded


def _check_presentable(
    loaded: Certificate,
    cert: str,
    key: str | None,
    cert_option: str,
    key_option: str,
    level: SocketProtectionLevel,
) -> None:
    """Refuse a certificate to present without its key, or one OpenSSL will not load.

    Raises:
        ValueError: naming the option and the file.
    """
    if not loaded.has_private_key:
        raise ValueError(
            f"{cert_option}: {shown(cert)} holds no private key: give {key_option} FILE, "
            "or put the key in the same PEM file"
        )
    # OpenSSL checks a certificate and key (the key sizes of the level's security level)
    # alike in a server's context and a client's; a server's is the one made here.
    try:
        server_context(level, loaded, None)
    except ValueError as error:
        refusal = error.__cause__
        if not isinstance(refusal, ssl.SSLError):
            return  # not about the certificate: the command reports it where it meets it
        files = shown(cert) if key is None else f"{shown(cert)} with {key_option} {shown(key)}"
        why = refusal.reason or refusal.strerror or refusal
        raise ValueError(f"{cert_option}: {files} cannot be used: OpenSSL says {why}") from None


def add_tls_client_options(send: Any) -> None:
    """Register the TLS options of ``send`` on its parser."""
    tls = send.add_argument_group(
        "TLS (TCP, and WebSocket with a wss:// URI; TLS cannot half-close, so replies are "
        "awaited as for UDP)"
    )
    tls.add_argument("--tls", action="store_true", help="connect with TLS")
    tls.add_argument(
        "--ca",
        metavar="FILE",
        type=file_name,
        help="trust the authorities of this PEM file besides the system's roots",
    )
    tls.add_argument(
        "--cert", metavar="FILE", type=file_name, help="offer this client certificate (PEM)"
    )
    tls.add_argument(
        "--key", metavar="FILE", type=file_name, help="the client certificate's private key"
    )
    tls.add_argument(
        "--ignore",
        action="append",
        default=[],
        choices=sorted(result.name for result in IGNORABLE),
        metavar="ERROR",
        help="accept a server certificate with this error (repeatable): "
        + ", ".join(sorted(result.name for result in IGNORABLE)),
    )
    add_level_option(tls)


def wants_tls(args: argparse.Namespace) -> bool:
    """Whether any option of ``send`` asks for TLS."""
    given = (args.ca, args.cert, args.key, args.tls_level)
    return args.tls or bool(args.ignore) or any(name is not None for name in given)


def use_tls_options(
    control: StreamSocketControl | MessageWebSocketControl, args: argparse.Namespace
) -> None:
    """Set a client's trusted authority, certificate and ignored errors from the options.

    Raises:
        ValueError: ``--key`` without ``--cert``, or a certificate or key file that
            cannot be used (named with its option).
    """
    if args.key is not None and args.cert is None:
        raise ValueError("--key needs --cert")
    if args.ca is not None:
        control.trusted_certificates.append(certificate(args.ca, None, "--ca"))
    if args.cert is not None:
        control.client_certificate = certificate(
            args.cert,
            args.key,
            "--cert",
            "--key",
            presented_at=level_of(args),
        )
    control.ignorable_server_certificate_errors.update(
        ChainValidationResult[name] for name in args.ignore
    )


#: Seconds between two reports of the TLS handshakes that failed.
REPORT_EVERY = 1.0


async def report_handshake_failures(
    listener: StreamSocketListener,
    *,
    task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Say on standard error how many TLS handshakes of *listener* failed, and the last
    one's cause, at most once every :data:`REPORT_EVERY` seconds, until the cancel
    scope it starts with is cancelled (and once more then): a burst of refused
    connections makes one line, not one each."""
    reported = 0
    with trio.CancelScope() as scope:
        task_status.started(scope)
        try:
            while True:
                await trio.sleep(REPORT_EVERY)
                reported = _report(listener, reported)
        finally:
            _report(listener, reported)


def _report(listener: StreamSocketListener, reported: int) -> int:
    """Report the failures past the first *reported*; return how many are reported."""
    information = listener.information
    failures, error = information.tls_handshake_failures, information.last_tls_handshake_error
    if failures == reported or error is None:
        return reported
    status = SocketError.get_status(error)
    new = failures - reported
    line = "TLS handshake failed" if new == 1 else f"{new} TLS handshakes failed; the last"
    line += f": {status.name}: {error}"
    if status == SocketErrorStatus.CONNECTION_REFUSED:
        limit = listener.control.max_tls_handshakes_per_address
        line += (
            f" -- raise --tls-handshakes-per-address (now {limit}) for a client that opens "
            "more connections at once"
        )
    warn(line)
    return failures
