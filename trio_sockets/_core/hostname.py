"""Host names, endpoint pairs and service names (WinRT ``Windows.Networking``).

Everything here is pure validation and normalisation; resolution happens elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import idna

from .checks import describe, shown
from .enums import HostNameType
from .sockaddr import ipv4_mapped, ipv4_of_mapped

__all__ = [
    "EndpointPair",
    "HostName",
    "InvalidHostNameError",
    "coerce_host_name",
    "parse_service_name",
    "split_remote",
]

_MAX_NAME_OCTETS = 253
# Longer input is refused before any parsing. IDNA mapping can only shorten a name by
# the characters it deletes (soft hyphens, joiners...), and an IPv6 address with a scope
# is under 120 characters, so no valid host name comes near this.
_MAX_INPUT_CHARS = 1024
_MAX_LABEL_OCTETS = 63
_MAX_PORT = 65535

# Underscores are not valid in host names by RFC 952, but they occur in real DNS names
# (_sip._tcp.example.com, foo_bar.example.com) and resolvers accept them.
_ASCII_LABEL = re.compile(r"[a-z0-9_-]+", re.ASCII | re.IGNORECASE)
_BLUETOOTH = re.compile(r"\((?:[0-9a-f]{2}:){5}[0-9a-f]{2}\)", re.ASCII | re.IGNORECASE)
# Linux interface names and numeric scope ids; nothing that could confuse a resolver.
_IPV6_SCOPE = re.compile(r"[a-z0-9_.:-]{1,64}", re.ASCII | re.IGNORECASE)
# What inet_aton would read as an IPv4 number (WHATWG URL "ends in a number").
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.ASCII | re.IGNORECASE)
_PORT = re.compile(r"[0-9]+", re.ASCII)
_SIGNED_OR_SPACED_PORT = re.compile(r"\s*[+-]?\s*[0-9]+\s*", re.ASCII)
_SERVICE_LABEL = re.compile(r"[a-z0-9_-]{1,63}", re.ASCII | re.IGNORECASE)

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidHostNameError(ValueError):
    """A string that is not a valid host name was given where one is required.

    Attributes:
        host_name: the rejected string.
        reason: why it was rejected.
    """

    host_name: str
    reason: str

    def __init__(self, host_name: str, reason: str, *, what: str = "host name") -> None:
        super().__init__(f"invalid {what} {shown(host_name)}: {reason}")
        self.host_name = host_name
        self.reason = reason


class HostName:
    """A host: domain name, IPv4 or IPv6 address (WinRT ``HostName``).

    The name is validated and normalised at construction. Two host names are equal when
    their :attr:`canonical_name`\\ s are: domain names compare case-insensitively (and
    Unicode names equal their IDNA A-label form), addresses by value
    (``HostName("::1") == HostName("0:0::1")``). Host names are hashable.

    Raises :class:`TypeError` if *host_name* is not a :class:`str`, and
    :class:`InvalidHostNameError` (a :class:`ValueError`) naming the input and the reason
    if it is empty, contains characters not allowed in a host name, has an empty label,
    a label longer than 63 or a name longer than 253 octets (after IDNA encoding), a
    label that starts or ends with a hyphen, invalid IDNA, a last label that is a number
    without the whole being a dotted-quad IPv4 address (``"127.1"``, which resolvers
    would read as an address), or is a Bluetooth address (Windows-only); a string longer
    than 1024 characters is refused before it is parsed. Error messages show at most 80
    characters of the input.

    A dotted quad with one trailing dot (``"127.0.0.1."``, the absolute form, as a domain
    name may end in a dot) is that IPv4 address: its :attr:`canonical_name` is
    ``"127.0.0.1"`` and it is never sent to a resolver.
    """

    __slots__ = ("_canonical", "_display", "_ip", "_raw", "_type")

    _raw: str
    _canonical: str
    _display: str
    _type: HostNameType
    _ip: _IPAddress | None

    def __init__(self, host_name: str) -> None:
        if not isinstance(host_name, str):
            raise TypeError(f"host name must be a str, not {describe(host_name)}")
        if len(host_name) > _MAX_INPUT_CHARS:
            raise InvalidHostNameError(
                host_name,
                f"it is {len(host_name)} characters long; a host name has at most "
                f"{_MAX_NAME_OCTETS} octets",
            )
        self._raw = host_name
        self._ip = _parse_ip(host_name)
        if self._ip is not None:
            self._type = HostNameType.IPV4 if self._ip.version == 4 else HostNameType.IPV6
            self._canonical = self._display = _ip_text(self._ip)
        else:
            self._type = HostNameType.DOMAIN_NAME
            self._canonical, self._display = _parse_domain(host_name)

    @property
    def raw_name(self) -> str:
        """The string exactly as given to the constructor."""
        return self._raw

    @property
    def canonical_name(self) -> str:
        """The normalised form on which equality is based.

        IPv4: dotted quad. IPv6: compressed form with any ``%scope``, without brackets.
        Domain name: lower-case ASCII (IDNA A-labels), without a trailing dot.
        """
        return self._canonical

    @property
    def display_name(self) -> str:
        """The form to show to people: Unicode (U-label) lower-case domain names."""
        return self._display

    @property
    def type(self) -> HostNameType:
        """Whether this is a domain name, an IPv4 or an IPv6 address."""
        return self._type

    @property
    def ip_information(self) -> None:
        """Always ``None``.

        On Windows this is set only for local addresses obtained from
        ``NetworkInformation.GetHostNames`` and gives the network adapter; that API does
        not exist here.
        """
        return None

    @property
    def ip_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The address for an IPv4/IPv6 host name (IPv6 with its scope), else ``None``."""
        return self._ip

    def is_equal(self, host_name: HostName) -> bool:
        """Whether *host_name* names the same host (WinRT ``IsEqual``): canonical names match.

        Raises :class:`TypeError` if *host_name* is not a :class:`HostName`.
        """
        if not isinstance(host_name, HostName):
            raise TypeError(f"is_equal() needs a HostName, not {describe(host_name)}")
        return self._canonical == host_name._canonical

    @staticmethod
    def compare(value1: str | HostName, value2: str | HostName) -> int:
        """Compare two host names by canonical form (WinRT ``Compare``).

        Returns 0 if they name the same host, a negative or positive number for the
        lexical order of the canonical names. Strings are parsed as by the constructor
        and raise its errors.
        """
        a = coerce_host_name(value1, "value1").canonical_name
        b = coerce_host_name(value2, "value2").canonical_name
        return (a > b) - (a < b)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HostName):
            return NotImplemented
        return self._canonical == other._canonical

    def __hash__(self) -> int:
        return hash(self._canonical)

    def __str__(self) -> str:
        return self._display

    def __repr__(self) -> str:
        return f"HostName({self._raw!r})"


def _parse_ip(text: str) -> _IPAddress | None:
    """The address *text* spells, None if it is no address, or raise if it is a bad one."""
    if text.startswith("[") or text.endswith("]"):
        if not (text.startswith("[") and text.endswith("]")):
            raise InvalidHostNameError(text, "unbalanced brackets")
        inner = text[1:-1]
        if ":" not in inner:
            raise InvalidHostNameError(text, "only an IPv6 address may be written in brackets")
        return _parse_ipv6(inner, text)
    if ":" in text:
        if _BLUETOOTH.fullmatch(text):
            raise InvalidHostNameError(
                text,
                "Bluetooth host names are Windows-only (Bluetooth RFCOMM sockets are not "
                "available here)",
            )
        if text.count(":") == 1:
            raise InvalidHostNameError(
                text, "':' is not allowed in a host name (a port goes in the service name)"
            )
        return _parse_ipv6(text, text)
    if "%" in text:
        raise InvalidHostNameError(text, "only IPv6 addresses may carry a %scope")
    # "127.0.0.1." is the absolute form of the dotted quad, as a domain name may end in
    # a dot: the same address (as WHATWG URL hosts read it), not a name to resolve.
    quad = text[:-1] if text.endswith(".") else text
    try:
        return ipaddress.IPv4Address(quad)
    except ValueError:
        return None


def _parse_ipv6(text: str, raw: str) -> ipaddress.IPv6Address:
    _, percent, scope = text.partition("%")
    if percent and not _IPV6_SCOPE.fullmatch(scope):
        raise InvalidHostNameError(
            raw, f"the IPv6 scope {shown(scope)} must be 1-64 letters, digits, '.', '_', '-', ':'"
        )
    try:
        return ipaddress.IPv6Address(text)
    except ValueError as exc:
        raise InvalidHostNameError(raw, f"not a valid IPv6 address ({exc})") from None


def _ip_text(ip: _IPAddress) -> str:
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    text = ipaddress.IPv6Address(int(ip)).compressed
    # Spelled out because str() of an IPv4-mapped address changed in Python 3.13.
    mapped = ipv4_of_mapped(text)
    if mapped is not None:
        text = ipv4_mapped(mapped)
    return text if ip.scope_id is None else f"{text}%{ip.scope_id}"


def _parse_domain(raw: str) -> tuple[str, str]:
    """Validate a domain name; return its (canonical A-label, display U-label) forms."""
    if not raw or raw.isspace():
        raise InvalidHostNameError(raw, "a host name cannot be empty")
    for char in raw:
        if char.isspace() or unicodedata.category(char) == "Cc":
            raise InvalidHostNameError(raw, f"character {char!r} is not allowed in a host name")
    name = raw
    if not name.isascii():
        try:
            # UTS #46 mapping: case folding, full-width forms, ideographic full stops...
            name = idna.uts46_remap(name, std3_rules=False)
        except idna.IDNAError as exc:
            raise InvalidHostNameError(raw, f"invalid internationalised name ({exc})") from None
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise InvalidHostNameError(raw, "a host name needs at least one label")
    a_labels: list[str] = []
    u_labels: list[str] = []
    for label in name.split("."):
        a_label, u_label = _parse_label(label, raw)
        a_labels.append(a_label)
        u_labels.append(u_label)
    if _NUMERIC_LABEL.fullmatch(a_labels[-1]):
        raise InvalidHostNameError(
            raw, "a name ending in a number must be a valid dotted-quad IPv4 address"
        )
    canonical = ".".join(a_labels)
    if len(canonical) > _MAX_NAME_OCTETS:
        raise InvalidHostNameError(
            raw, f"the name is {len(canonical)} octets long, at most {_MAX_NAME_OCTETS} allowed"
        )
    return canonical, ".".join(u_labels)


def _parse_label(label: str, raw: str) -> tuple[str, str]:
    """Validate one label; return its (A-label, U-label) forms."""
    if not label:
        raise InvalidHostNameError(raw, "empty label (two dots in a row, or a leading dot)")
    if label.isascii():
        if not _ASCII_LABEL.fullmatch(label):
            bad = next(c for c in label if not _ASCII_LABEL.fullmatch(c))
            raise InvalidHostNameError(raw, f"character {bad!r} is not allowed in a host name")
        a_label = label.lower()
        if a_label.startswith("xn--"):
            try:
                u_label = idna.ulabel(a_label).lower()
            except (idna.IDNAError, UnicodeError) as exc:
                raise InvalidHostNameError(
                    raw, f"label {shown(label)} is not a valid IDNA A-label ({exc})"
                ) from None
        else:
            u_label = a_label
    else:
        try:
            a_label = idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidHostNameError(
                raw, f"label {shown(label)} is not a valid internationalised label ({exc})"
            ) from None
        u_label = label
    if len(a_label) > _MAX_LABEL_OCTETS:
        raise InvalidHostNameError(
            raw,
            f"label {shown(label)} is {len(a_label)} octets long, "
            f"at most {_MAX_LABEL_OCTETS} allowed",
        )
    if a_label.startswith("-") or a_label.endswith("-"):
        raise InvalidHostNameError(raw, f"label {shown(label)} starts or ends with a hyphen")
    return a_label, u_label


def coerce_host_name(value: HostName | str, what: str) -> HostName:
    """Return *value* as a :class:`HostName`, parsing a :class:`str`.

    *what* names the parameter in error messages (``"remote_host_name"``). Raises
    :class:`TypeError` for ``None`` or any other type, and :class:`InvalidHostNameError`
    for a string that is not a valid host name.
    """
    if isinstance(value, HostName):
        return value
    if isinstance(value, str):
        try:
            return HostName(value)
        except InvalidHostNameError as exc:
            raise InvalidHostNameError(value, exc.reason, what=what) from None
    raise TypeError(f"{what} must be a HostName or a str, not {describe(value)}")


def split_remote(
    remote_host_name: HostName | str | EndpointPair,
    remote_service_name: object,
    what: str,
) -> tuple[HostName, str, HostName | None, str]:
    """The two forms of a remote that WinRT methods take -- a host name and a service, or
    an :class:`EndpointPair` -- as ``(host, service, local_host, local_service)``.

    *what* names the method in error messages (``"connect"``). Raises
    :class:`TypeError` for a missing or non-str service, or a service given with an
    endpoint pair, and what :func:`coerce_host_name` raises for the host.
    """
    if isinstance(remote_host_name, EndpointPair):
        if remote_service_name is not None:
            raise TypeError(
                f"{what}(endpoint_pair) takes no remote_service_name, got "
                f"{shown(remote_service_name)}"
            )
        host, service = remote_host_name.require_remote()
        return host, service, remote_host_name.local_host_name, remote_host_name.local_service_name
    host = coerce_host_name(remote_host_name, "remote_host_name")
    if remote_service_name is None:
        raise TypeError(f"{what}() needs a remote_service_name such as '1337'")
    return host, _check_service_type(remote_service_name, "remote_service_name"), None, ""


def _check_service_type(value: object, what: str) -> str:
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
    value = _check_service_type(value, what)
    if len(value) > _MAX_NAME_OCTETS:
        raise ValueError(
            f"{what} {shown(value)} is {len(value)} characters long: a port or service name "
            f"has at most {_MAX_NAME_OCTETS}"
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
            elif len(label) > _MAX_LABEL_OCTETS:
                reason = f"label longer than {_MAX_LABEL_OCTETS} characters"
            else:
                bad = next(c for c in label if not _SERVICE_LABEL.fullmatch(c))
                reason = f"character {bad!r} is not allowed"
            raise ValueError(f"{what} {shown(value)} is not a valid service name: {reason}")
    if not any(c.isalpha() for c in value):
        raise ValueError(
            f"{what} {shown(value)} is not a valid service name: it needs at least one letter"
        )
    return value


def _validate_service(value: str, what: str, *, local: bool) -> str:
    value = _check_service_type(value, what)
    if value or local:
        parse_service_name(value, what, local=local)
    return value


def _optional_host(value: HostName | str | None, what: str) -> HostName | None:
    return None if value is None else coerce_host_name(value, what)


class EndpointPair:
    """A local and a remote endpoint (WinRT ``EndpointPair``).

    Host names accept a :class:`HostName` or a str (parsed, raising its errors); service
    names must be str: a port such as ``"1337"`` or a service name such as ``"http"``
    (see :func:`parse_service_name`). A local host of ``None`` lets the system choose the
    local address, and a local service of ``None`` or ``""`` lets it choose the port. The
    remote side may be left ``None``/``""`` here and filled in later — the properties are
    writable — but operations that need it call :meth:`require_remote`. A ``None``
    service name reads back as ``""``.

    Raises :class:`TypeError` for a value of the wrong type (an int port) and
    :class:`ValueError` naming the value for a malformed one, both at construction and when a
    property is set. Pairs compare equal field by field; being
    mutable, they are not hashable.
    """

    __slots__ = ("_local_host", "_local_service", "_remote_host", "_remote_service")

    _local_host: HostName | None
    _local_service: str
    _remote_host: HostName | None
    _remote_service: str

    def __init__(
        self,
        local_host_name: HostName | str | None,
        local_service_name: str | None,
        remote_host_name: HostName | str | None,
        remote_service_name: str | None,
    ) -> None:
        self.local_host_name = local_host_name
        self.local_service_name = local_service_name
        self.remote_host_name = remote_host_name
        self.remote_service_name = remote_service_name

    @property
    def local_host_name(self) -> HostName | None:
        """The local address to use; ``None`` lets the system choose."""
        return self._local_host

    @local_host_name.setter
    def local_host_name(self, value: HostName | str | None) -> None:
        self._local_host = _optional_host(value, "local_host_name")

    @property
    def local_service_name(self) -> str:
        """The local port (or service name); ``""`` lets the system choose a port."""
        return self._local_service

    @local_service_name.setter
    def local_service_name(self, value: str | None) -> None:
        self._local_service = _validate_service(
            "" if value is None else value, "local_service_name", local=True
        )

    @property
    def remote_host_name(self) -> HostName | None:
        """The remote host; required before connecting."""
        return self._remote_host

    @remote_host_name.setter
    def remote_host_name(self, value: HostName | str | None) -> None:
        self._remote_host = _optional_host(value, "remote_host_name")

    @property
    def remote_service_name(self) -> str:
        """The remote port or service name; required before connecting."""
        return self._remote_service

    @remote_service_name.setter
    def remote_service_name(self, value: str | None) -> None:
        self._remote_service = _validate_service(
            "" if value is None else value, "remote_service_name", local=False
        )

    def require_remote(self) -> tuple[HostName, str]:
        """Return the remote ``(host, service)``.

        Raises :class:`ValueError` naming the pair if the remote host is ``None`` or the
        remote service is ``""``.
        """
        if self._remote_host is None:
            raise ValueError(f"{self!r} has no remote_host_name; a remote host is required")
        if not self._remote_service:
            raise ValueError(f"{self!r} has no remote_service_name; a remote service is required")
        return self._remote_host, self._remote_service

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EndpointPair):
            return NotImplemented
        return (
            self._local_host == other._local_host
            and self._local_service == other._local_service
            and self._remote_host == other._remote_host
            and self._remote_service == other._remote_service
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"EndpointPair({self._local_host!r}, {self._local_service!r}, "
            f"{self._remote_host!r}, {self._remote_service!r})"
        )
