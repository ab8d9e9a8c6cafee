"""The request target of a WebSocket opening request, as a server takes it.

RFC 6455 4.1 has a client send the resource name -- the path and query -- in
origin-form (``/chat?room=1``); RFC 9112 3.2.2 has a server accept the absolute-form
too (``ws://host/chat?room=1``), whose authority a client must also send as ``Host``.
``websockets`` checks neither the target's form nor its characters, so a target with
control characters (NUL, escape sequences for the operator's terminal) or in another
form (``*``) would reach the application as its path. Such a target is refused here
(RFC 9112 3.2: a 400), before the application sees the request.
"""

from __future__ import annotations

from .._core.checks import shown

__all__ = ["resource_name"]

# What a target may hold: visible ASCII, undecoded, but ``#`` (a fragment is never
# sent). Stricter than RFC 3986's characters would refuse ``|`` or ``^``, which
# browsers leave unencoded in a path.
_ALLOWED = frozenset(chr(c) for c in range(0x21, 0x7F)) - {"#"}
_SCHEMES = ("ws://", "wss://", "http://", "https://")


def resource_name(target: str, hosts: list[str]) -> str:
    """The path and query *target* names: itself in origin-form, or the part after the
    authority in absolute-form (``/`` if it is empty), the authority being *hosts*'
    only value (any case) and without user information.

    Raises:
        ValueError: why a server answers the target with 400 Bad Request.
    """
    bad = next((c for c in target if c not in _ALLOWED), None)
    if bad is not None:
        raise ValueError(f"the request target {shown(target)} holds the character {bad!r}")
    if target.startswith("/"):
        return target
    scheme = next((s for s in _SCHEMES if target[: len(s)].lower() == s), None)
    if scheme is None:
        raise ValueError(
            f"the request target {shown(target)} is not a path and query (origin-form) "
            "nor a ws://, wss://, http:// or https:// URI"
        )
    after = target[len(scheme) :]
    end = min((i for i in (after.find("/"), after.find("?")) if i >= 0), default=len(after))
    authority, rest = after[:end], after[end:]
    if "@" in authority:  # RFC 9110 4.2.4: user information is an error
        raise ValueError(f"the request target {shown(target)} holds user information")
    if len(hosts) == 1 and authority.lower() != hosts[0].lower():
        raise ValueError(
            f"the request target {shown(target)} names another authority than the "
            f"Host header {shown(hosts[0])}"
        )
    return rest if rest.startswith("/") else "/" + rest
