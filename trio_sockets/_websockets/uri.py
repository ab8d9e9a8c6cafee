"""The URI a WebSocket client connects to (RFC 6455 §3 over RFC 3986): parsed, checked
and made ready for the request line, with no I/O.

The host is a :class:`~trio_sockets.HostName`, so DNS, SNI and the certificate check see
the name a StreamSocket would (IDNA 2008); what a URI may not hold is percent-encoded,
what no request line may carry (control characters) is refused.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Callable

from websockets.uri import WebSocketURI

from .._core.checks import shown
from .._core.enums import HostNameType
from .._core.hostname import HostName, InvalidHostNameError

__all__ = ["WebSocketTarget", "parse_websocket_uri", "shown_uri"]

_DEFAULT_PORTS = {"ws": 80, "wss": 443}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# C0 and C1 controls and DEL, which no request line may carry (percent-encoding them
# would send what the URI's writer may not have meant: "\r\n" is rather an injection),
# and lone surrogates, which are no characters at all.
_UNSENDABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# What a path or query may not hold as written (RFC 3986 pchar, "/" and "?"): encoded
# as UTF-8 octets, as websockets and WinRT's Uri do; "%" too, unless it starts an escape.
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]+|%(?![0-9A-Fa-f]{2})")
_PORT = re.compile(r"[0-9]+")
_MAX_PORT_DIGITS = 5


@dataclasses.dataclass(frozen=True)
class WebSocketTarget:
    """Where a WebSocket connects and what its opening request says."""

    secure: bool
    #: The host to connect to (an IPv6 address keeps its zone).
    host: HostName
    port: int
    #: The path, percent-encoded ASCII, from "/". (Not in ``repr``, nor is the query:
    #: a password with an unencoded "/" may have ended up there.)
    path: str = dataclasses.field(repr=False)
    #: The query, percent-encoded ASCII, without "?"; "" when there is none.
    query: str = dataclasses.field(repr=False)
    #: The user name and password (percent-decoded) for the Authorization header.
    user_info: tuple[str, str] | None = dataclasses.field(repr=False)
    #: The URI as messages show it (:func:`shown_uri`).
    shown: str

    def protocol_uri(self) -> WebSocketURI:
        """The URI as the websockets protocol takes it: its ``host`` makes the Host
        header, which carries no IPv6 zone (RFC 6874 §4: it means nothing to the server)."""
        user, password = self.user_info or (None, None)
        host = self.host.canonical_name.partition("%")[0]
        return WebSocketURI(self.secure, host, self.port, self.path, self.query, user, password)


def shown_uri(uri: str) -> str:
    """*uri* as messages and ``repr`` show it: without the password it may carry (the
    request sends it as an Authorization header; logs must not), also when the URI is
    refused.

    A password may hold "/", "?", "#", ":" or "@" that its writer did not
    percent-encode, so where the user info ends cannot be told from the URI: everything
    from the first ":" after the scheme's "//" to the last "@" is shown as ``***``, also
    when that is no user info (``ws://host:8080/users/@me`` shows as
    ``ws://host:***@me``).
    """
    scheme = _SCHEME.match(uri)
    start = scheme.end() + 2 if scheme and uri.startswith("//", scheme.end()) else 0
    colon = uri.find(":", start)
    at = uri.rfind("@")
    if colon < 0 or at < colon:
        return uri
    return f"{uri[:colon]}:***{uri[at:]}"


def parse_websocket_uri(uri: object) -> WebSocketTarget:
    """Parse an absolute ``ws://`` or ``wss://`` URI.

    Raises:
        TypeError: *uri* is not a str.
        InvalidHostNameError: its host is refused by :class:`~trio_sockets.HostName`, or
            is in brackets but no IPv6 address (the URI named, password hidden).
        ValueError: anything else that is no WebSocket URI or that the request cannot
            send: another scheme, control characters, a fragment, a port outside 1 to
            65535, user info that is not ``user:password`` or not UTF-8 once decoded, a
            user name holding ":" (the URI named, password hidden).
    """
    if not isinstance(uri, str):
        # Its type only: the value may be a URI with a password, as bytes or in an object.
        raise TypeError(f"uri must be a str, not {type(uri).__name__}")
    text = shown_uri(uri)

    def refuse(reason: str) -> ValueError:
        return ValueError(f"uri {shown(text)} is not a valid WebSocket URI: {reason}")

    def safe(part: str) -> str:
        # A part of the URI is quoted only if the URI has no password to hide: one
        # that a password's unencoded "/" cut may be a piece of it, however it reads.
        return f", not {shown(part)}" if part and text == uri else ""

    bad = _UNSENDABLE.search(uri)
    if bad is not None:
        what = "a lone surrogate" if "\ud800" <= bad[0] <= "\udfff" else "the control character"
        raise refuse(f"it holds {what} {bad[0]!r} at index {bad.start()}")
    scheme = _SCHEME.match(uri)
    name = scheme[1].lower() if scheme else ""
    if name not in _DEFAULT_PORTS or not uri.startswith("//", len(name) + 1):
        raise ValueError(f"uri must be an absolute ws:// or wss:// URI, not {shown(text)}")
    rest = uri[len(name) + 3 :]
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, rest = rest[:end], rest[end:]
    if "#" in rest:
        raise refuse("a WebSocket URI has no fragment (write '#' as %23 if it is meant)")
    path, _, query = rest.partition("?")
    user_info, at, host_port = authority.rpartition("@")
    if at and "@" in rest:
        # RFC 3986 ends the user info at the authority's last "@", but here another
        # follows: a password holding an unencoded "/" or "?" would send part of
        # itself to a host made of the rest of it.
        raise refuse("an '@' follows the user info (write '@', '/', '?' in it as %40, %2F, %3F)")
    host, port_text = _split_host_port(host_port, refuse)
    try:
        host_name = _host_name(host)
    except InvalidHostNameError as exc:
        if host not in text:  # part of what may be a password: not repeated
            raise InvalidHostNameError(
                text, "its host is not a valid host name", what="host in uri"
            ) from None
        raise InvalidHostNameError(host, f"{exc.reason} (in uri {shown(text)})") from None
    return WebSocketTarget(
        secure=name == "wss",
        host=host_name,
        port=_port(port_text, _DEFAULT_PORTS[name], refuse, safe),
        path=_encode(path) or "/",
        query=_encode(query),
        user_info=_user_info(user_info, refuse) if at else None,
        shown=text,
    )


def _split_host_port(text: str, refuse: Callable[[str], ValueError]) -> tuple[str, str | None]:
    """The host (an IPv6 literal in its brackets) and the port text (None: no ":")."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise refuse("'[' without ']'")
        host, after = text[: close + 1], text[close + 1 :]
        if after and not after.startswith(":"):
            raise refuse("only ':' and a port may follow ']'")
        return host, after[1:] if after else None
    host, colon, port = text.partition(":")
    if ":" in port:
        raise refuse("an IPv6 address must be written in brackets")
    if not host:
        raise refuse("it names no host")
    return host, port if colon else None


def _host_name(host: str) -> HostName:
    """The HostName of a URI's host: the IPv6 zone of an RFC 6874 literal decoded
    (``%25`` is "%"; the bare ``%zone`` is taken too), a name percent-decoded."""
    if host.startswith("["):
        address, escaped, zone = host[1:-1].partition("%25")
        if escaped:
            host = f"[{address}%{_decode(zone, host)}]"
        return HostName(host)
    name = HostName(_decode(host, host))
    if name.type is HostNameType.IPV6:
        raise InvalidHostNameError(host, "an IPv6 address must be written in brackets")
    return name


def _decode(text: str, host: str) -> str:
    try:
        return urllib.parse.unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise InvalidHostNameError(host, "it is not UTF-8 once percent-decoded") from None


def _port(
    text: str | None,
    default: int,
    refuse: Callable[[str], ValueError],
    safe: Callable[[str], str],
) -> int:
    if not text:  # RFC 3986: an empty port is the scheme's
        return default
    if (
        not _PORT.fullmatch(text)
        or len(text.lstrip("0")) > _MAX_PORT_DIGITS
        or not 1 <= int(text) <= 65535
    ):
        raise refuse(f"the port must be a number from 1 to 65535{safe(text)}")
    return int(text)


def _encode(text: str) -> str:
    return _NOT_ALLOWED.sub(lambda m: urllib.parse.quote(m[0], safe=""), text)


def _user_info(text: str, refuse: Callable[[str], ValueError]) -> tuple[str, str]:
    """The user name and password of Basic authentication (RFC 7617)."""
    user, colon, password = text.partition(":")
    if not colon:
        raise refuse(
            "a user name without a password (user:password@ makes the Authorization header)"
        )
    try:
        user = urllib.parse.unquote(user, errors="strict")
        password = urllib.parse.unquote(password, errors="strict")
    except UnicodeDecodeError:
        raise refuse("its user:password is not UTF-8 once percent-decoded") from None
    if ":" in user:
        raise refuse("its user name holds ':' (%3A), which Basic authentication cannot send")
    if _UNSENDABLE.search(user + password):
        raise refuse("its user:password holds a percent-encoded control character")
    return user, password
