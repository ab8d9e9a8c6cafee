"""Host names (WinRT ``Windows.Networking.HostName``): IP addresses, domain names (IDNA).

Everything here is pure validation and normalisation; resolution happens elsewhere.
Service names are in :mod:`.service_name`, endpoint pairs in :mod:`.endpoint`.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
import unicodedata
import warnings
from typing import Any, Final, overload

import idna

from .checks import MAX_SHOWN, describe, shown
from .enums import HostNameType
from .sockaddr import MAX_INTERFACE_INDEX, ipv4_mapped, ipv4_of_mapped

__all__ = [
    "MAX_LABEL_OCTETS",
    "MAX_NAME_OCTETS",
    "HostName",
    "InvalidHostNameError",
    "coerce_host_name",
]

#: The longest DNS name and label, in octets (RFC 1035): the bounds of service names too.
MAX_NAME_OCTETS = 253
MAX_LABEL_OCTETS = 63
# Longer input is refused before any parsing. IDNA mapping can only shorten a name by
# the characters it deletes (soft hyphens, joiners...), and an IPv6 address with a scope
# is under 120 characters, so no valid host name comes near this.
_MAX_INPUT_CHARS = 1024

# Underscores are not valid in host names by RFC 952, but they occur in real DNS names
# (_sip._tcp.example.com, foo_bar.example.com) and resolvers accept them.
_ASCII_LABEL = re.compile(r"[a-z0-9_-]+", re.ASCII | re.IGNORECASE)
_BLUETOOTH = re.compile(r"\((?:[0-9a-f]{2}:){5}[0-9a-f]{2}\)", re.ASCII | re.IGNORECASE)
# Linux interface names and numeric scope ids; nothing that could confuse a resolver.
_IPV6_SCOPE = re.compile(r"[a-z0-9_.:-]{1,64}", re.ASCII | re.IGNORECASE)
# What inet_aton would read as an IPv4 number (WHATWG URL "ends in a number").
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.ASCII | re.IGNORECASE)

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
        self._what = what

    def __reduce__(self) -> tuple[object, ...]:
        return (functools.partial(type(self), what=self._what), (self.host_name, self.reason))


class _Missing(enum.Enum):
    MISSING = enum.auto()


_MISSING: Final = _Missing.MISSING


def _old_keyword(name: str | _Missing, host_name: object) -> Any:
    """*name* as given by ``HostName(host_name=...)``, the keyword of 0.2."""
    if host_name is _MISSING:
        raise TypeError("HostName() missing its argument: name")
    if name is not _MISSING:
        raise TypeError("HostName() takes name or host_name (deprecated), not both")
    warnings.warn(
        "HostName(host_name=...) is deprecated: use HostName(name=...) or HostName(...)",
        DeprecationWarning,
        stacklevel=3,
    )
    return host_name


class HostName:
    """A host: domain name, IPv4 or IPv6 address (WinRT ``HostName``).

    The name is validated and normalised at construction. Two host names are equal when
    their :attr:`canonical_name`\\ s are: domain names compare case-insensitively (and
    Unicode names equal their IDNA A-label form), addresses by value
    (``HostName("::1") == HostName("0:0::1")``). Host names are hashable.

    *name* may also be given by keyword, ``HostName(name="example.com")``; the keyword
    ``host_name`` still works but is deprecated (:exc:`DeprecationWarning`).

    Raises :class:`TypeError` if *name* is not a :class:`str`, and
    :class:`InvalidHostNameError` (a :class:`ValueError`) naming the input and the reason
    if it is empty, contains characters not allowed in a host name, has an empty label,
    a label longer than 63 or a name longer than 253 octets (after IDNA encoding), a
    label that starts or ends with a hyphen, invalid IDNA, a last label that is a number
    without the whole being a dotted-quad IPv4 address (``"127.1"``, which resolvers
    would read as an address), or is a Bluetooth address (Windows-only); a string longer
    than 1024 characters is refused before it is parsed. Error messages are bounded:
    the input, a label of it and a library's reason each show at most 80 characters.

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

    @overload
    def __init__(self, name: str) -> None: ...
    @overload
    def __init__(self, *, host_name: str) -> None: ...  # deprecated spelling

    def __init__(self, name: str | _Missing = _MISSING, *, host_name: object = _MISSING) -> None:
        if host_name is not _MISSING or name is _MISSING:
            name = _old_keyword(name, host_name)
        host_name = name
        if not isinstance(host_name, str):
            raise TypeError(f"host name must be a str, not {describe(host_name)}")
        if len(host_name) > _MAX_INPUT_CHARS:
            raise InvalidHostNameError(
                host_name,
                f"it is {len(host_name)} characters long; a host name has at most "
                f"{MAX_NAME_OCTETS} octets",
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

        A scope by interface name and by index, and an IPv4-mapped address and its IPv4
        address, are different spellings to it: the library reports the index and the
        IPv4 address.

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


def _bracket_trouble(text: str) -> str:
    """What is wrong with *text*, which opens a bracket it does not close last (or the
    reverse): what follows the closing bracket of ``[address]``, if it has one."""
    inner, closed, after = text[1:].partition("]")
    if text.startswith("[") and closed and "[" not in inner and "]" not in after:
        if after.startswith(":") and after[1:].isdigit():
            return (
                "a port goes in the service name, not the host name "
                f"({shown(inner)}, {shown(after[1:])})"
            )
        if after.startswith("%"):
            scope, colon, port = after.rpartition(":")
            if colon and port.isdigit():  # "[fe80::1]%eth0:80"
                return (
                    f"the %scope goes inside the brackets ({shown(f'[{inner}{scope}]')}), "
                    f"and a port in the service name ({shown(port)})"
                )
            return f"the %scope goes inside the brackets ({shown(f'[{inner}{after}]')})"
    return "unbalanced brackets"


def _parse_ip(text: str) -> _IPAddress | None:
    """The address *text* spells, None if it is no address, or raise if it is a bad one."""
    if text.startswith("[") or text.endswith("]"):
        if not (text.startswith("[") and text.endswith("]")):
            raise InvalidHostNameError(text, _bracket_trouble(text))
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


def _cut(exc: Exception) -> str:
    """A library's reason, which may quote the whole input, cut as :func:`shown` cuts."""
    text = str(exc)
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 3]}..."


def _parse_ipv6(text: str, raw: str) -> ipaddress.IPv6Address:
    _, percent, scope = text.partition("%")
    if percent and not _IPV6_SCOPE.fullmatch(scope):
        raise InvalidHostNameError(
            raw, f"the IPv6 scope {shown(scope)} must be 1-64 letters, digits, '.', '_', '-', ':'"
        )
    if scope.isdigit():
        if int(scope) > MAX_INTERFACE_INDEX:
            raise InvalidHostNameError(
                raw,
                f"the IPv6 scope {shown(scope)} is over {MAX_INTERFACE_INDEX}, the largest index",
            )
        # An index by its value: "%01" is interface 1, and equal to "%1".
        text = f"{text.partition('%')[0]}%{int(scope)}"
    try:
        return ipaddress.IPv6Address(text)
    except ValueError as exc:
        raise InvalidHostNameError(raw, f"not a valid IPv6 address ({_cut(exc)})") from None


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
            reason = f"invalid internationalised name ({_cut(exc)})"
            raise InvalidHostNameError(raw, reason) from None
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
        try:
            mapped = ipaddress.IPv4Address(name)
        except ValueError:
            raise InvalidHostNameError(
                raw, "a name ending in a number must be a valid dotted-quad IPv4 address"
            ) from None
        # Full-width digits or ideographic full stops, which a name's mapping reads as
        # ASCII: taken as an address, they would hide one in text that looks like none.
        raise InvalidHostNameError(
            raw, f"an IPv4 address must be written in ASCII digits and dots (this is {mapped})"
        )
    canonical = ".".join(a_labels)
    if len(canonical) > MAX_NAME_OCTETS:
        raise InvalidHostNameError(
            raw, f"the name is {len(canonical)} octets long, at most {MAX_NAME_OCTETS} allowed"
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
                    raw, f"label {shown(label)} is not a valid IDNA A-label ({_cut(exc)})"
                ) from None
        else:
            u_label = a_label
    else:
        try:
            a_label = idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidHostNameError(
                raw, f"label {shown(label)} is not a valid internationalised label ({_cut(exc)})"
            ) from None
        u_label = label
    if len(a_label) > MAX_LABEL_OCTETS:
        raise InvalidHostNameError(
            raw,
            f"label {shown(label)} is {len(a_label)} octets long, "
            f"at most {MAX_LABEL_OCTETS} allowed",
        )
    if a_label.startswith("-") or a_label.endswith("-"):
        raise InvalidHostNameError(raw, f"label {shown(label)} starts or ends with a hyphen")
    return a_label, u_label


# A program connects to the same few hosts over and over: parsing (an IPv4 or IPv6
# address, IDNA for a name) was a measurable share of a connect to an address, and
# every connected socket kept its own copy. HostName is immutable, so sharing is safe.
@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> HostName:
    return HostName(text)


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
            return _parsed(value)
        except InvalidHostNameError as exc:
            raise InvalidHostNameError(value, exc.reason, what=what) from None
    raise TypeError(f"{what} must be a HostName or a str, not {describe(value)}")
