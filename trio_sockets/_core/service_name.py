"""Service names (WinRT's ``serviceName`` strings): a decimal port, or a name to resolve
through the services database or DNS SRV. Pure validation."""

from __future__ import annotations

import re

from .checks import describe, shown
from .hostname import MAX_LABEL_OCTETS, MAX_NAME_OCTETS

__all__ = ["check_service_type", "parse_service_name"]

_MAX_PORT = 65535
_PORT = re.compile(r"[0-9]+", re.ASCII)
_SIGNED_OR_SPACED_PORT = re.compile(r"\s*[+-]?\s*[0-9]+\s*", re.ASCII)
_SERVICE_LABEL = re.compile(r"[a-z0-9_-]{1,63}", re.ASCII | re.IGNORECASE)


def check_service_type(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(
            f'{what} must be a str (service names are strings like "1337" or "http"), '
            f"not {describe(value)}"
        )
    return value


def parse_service_name(value: str, what: str, *, local: bool) -> int | str:
    """Parse a WinRT service name: a decimal port, or a name to resolve.

    A port number is returned as an int: 0-65535 on the *local* side, where ``""`` and
    ``"0"`` (both returned as 0) let the system choose; 1-65535 on the remote side. Any
    other string must look like a service name — dot-separated labels of 1-63 letters,
    digits, hyphens and underscores, with at least one letter (``"http"``,
    ``"stun._service01"``) — and is returned unchanged for resolution through the
    services database or DNS SRV. *what* names the parameter in error messages.

    Raises :class:`TypeError` if *value* is not a str and :class:`ValueError` naming the
    value otherwise: a remote ``""``/``"0"``, a port out of range, a port with a sign,
    whitespace or non-ASCII digits, or a malformed service name.
    """
    value = check_service_type(value, what)
    if len(value) > MAX_NAME_OCTETS:
        raise ValueError(
            f"{what} {shown(value)} is {len(value)} characters long: a port or service name "
            f"has at most {MAX_NAME_OCTETS}"
        )
    if value == "":
        if local:
            return 0
        raise ValueError(f"{what} is empty: a remote service (port or service name) is required")
    if _PORT.fullmatch(value):
        port = int(value)
        if port == 0 and not local:
            raise ValueError(
                f"{what} {shown(value)} is port 0: "
                "a remote service (port or service name) is required"
            )
        if port > _MAX_PORT:
            low = 0 if local else 1
            raise ValueError(
                f"{what} {shown(value)} is out of range: a port number must be {low}..{_MAX_PORT}"
            )
        return port
    if _SIGNED_OR_SPACED_PORT.fullmatch(value):
        raise ValueError(
            f"{what} {shown(value)} is not a valid port number: "
            "use plain decimal digits, without sign or whitespace"
        )
    if value.isdecimal():
        raise ValueError(f"{what} {shown(value)} is not a valid port number: use ASCII digits 0-9")
    for label in value.split("."):
        if not _SERVICE_LABEL.fullmatch(label):
            if not label:
                reason = "empty label"
            elif len(label) > MAX_LABEL_OCTETS:
                reason = f"label longer than {MAX_LABEL_OCTETS} characters"
            else:
                bad = next(c for c in label if not _SERVICE_LABEL.fullmatch(c))
                reason = f"character {bad!r} is not allowed"
            raise ValueError(f"{what} {shown(value)} is not a valid service name: {reason}")
    if not any(c.isalpha() for c in value):
        raise ValueError(
            f"{what} {shown(value)} is not a valid service name: it needs at least one letter"
        )
    return value
