"""The TLS options of ``echo-server`` and ``send``: reading certificates, and setting a
client's TLS control from the options (a StreamSocket's or a MessageWebSocket's)."""

from __future__ import annotations

import argparse
from typing import Any

from .._core.certificate import IGNORABLE, Certificate
from .._core.enums import ChainValidationResult
from .._sockets.stream_control import StreamSocketControl
from .._websockets.control import MessageWebSocketControl

__all__ = [
    "add_level_option",
    "add_tls_client_options",
    "certificate",
    "use_tls_options",
    "wants_tls",
]

LEVELS = ("SSL", "TLS10", "TLS11", "TLS12", "TLS13")


def add_level_option(group: Any) -> None:
    group.add_argument(
        "--tls-level",
        choices=LEVELS,
        default="SSL",
        help="SocketProtectionLevel: SSL (the best both sides have, the default) or a "
        "pinned version",
    )


def certificate(cert: str, key: str | None, what: str) -> Certificate:
    try:
        return Certificate.from_pem_file(cert, key)
    except OSError as error:
        raise ValueError(f"{what}: cannot read {error.filename}: {error.strerror}") from None


def add_tls_client_options(send: Any) -> None:
    """Register the TLS options of ``send`` on its parser."""
    tls = send.add_argument_group(
        "TLS (TCP, and WebSocket with a wss:// URI; TLS cannot half-close, so replies are "
        "awaited as for UDP)"
    )
    tls.add_argument("--tls", action="store_true", help="connect with TLS")
    tls.add_argument(
        "--ca", metavar="FILE", help="trust this authority besides the system's roots (PEM)"
    )
    tls.add_argument("--cert", metavar="FILE", help="offer this client certificate (PEM)")
    tls.add_argument("--key", metavar="FILE", help="the client certificate's private key")
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
    return bool(args.tls or args.ca or args.cert or args.key or args.ignore)


def use_tls_options(
    control: StreamSocketControl | MessageWebSocketControl, args: argparse.Namespace
) -> None:
    """Set a client's trusted authority, certificate and ignored errors from the options.

    Raises:
        ValueError: ``--key`` without ``--cert``, or a file that cannot be read (named).
    """
    if args.key is not None and args.cert is None:
        raise ValueError("--key needs --cert")
    if args.ca is not None:
        control.trusted_certificates.append(certificate(args.ca, None, "--ca"))
    if args.cert is not None:
        control.client_certificate = certificate(args.cert, args.key, "--cert")
    control.ignorable_server_certificate_errors.update(
        ChainValidationResult[name] for name in args.ignore
    )
