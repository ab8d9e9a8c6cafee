"""DNS SRV (RFC 2782): where a service name leads, the order to try the targets in, and
the error once every target failed. The query itself is the :class:`Resolver`'s."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable

import dns.name
import dns.rdtypes.IN.SRV

from .._core.enums import HostNameType
from .._core.errors import SocketError, SocketErrorStatus, SocketStatusError, socket_error
from .._core.hostname import HostName, InvalidHostNameError

__all__ = [
    "MAX_SRV_TARGETS",
    "ServiceTarget",
    "all_targets_failed",
    "is_localhost",
    "rfc2782_order",
    "srv_name",
    "srv_targets",
]

#: At most this many SRV targets are kept, the first in RFC 2782 order: a connect tries
#: each in turn, so the list must stay short enough to finish.
MAX_SRV_TARGETS = 16


@dataclasses.dataclass(frozen=True)
class ServiceTarget:
    """Where a service name leads: a host and a port, from a port number, the services
    database or one DNS SRV record.

    For a port or a services-database name there is one target, the host that was asked
    about, with priority and weight 0. For SRV the targets come in the order to try them.
    Targets are immutable, hashable and compare field by field; ``str()`` gives
    ``host:port``.

    Attributes:
        host: the host to connect to (the SRV record's target, or the host asked about).
        port: the port on that host.
        priority: the SRV record's priority (lower is tried first), kept for display.
        weight: the SRV record's weight among targets of equal priority, kept for display.
    """

    host: HostName
    port: int
    priority: int = 0
    weight: int = 0

    def __str__(self) -> str:
        name = self.host.display_name
        return f"[{name}]:{self.port}" if ":" in name else f"{name}:{self.port}"


def all_targets_failed(
    what: str, failures: list[tuple[ServiceTarget, OSError]]
) -> SocketStatusError:
    """The exception to raise once every SRV target of a connect failed.

    The message names the targets with each one's status, at most 8 of them (each
    target's own message names up to 8 addresses: a hostile answer must not make one
    message of them all); the status is that of the group of errors
    (``SocketError.get_status``: the shared one when they agree, else the first
    classified one), as for the addresses of one host; the group, the ``__cause__``,
    keeps every error in full.
    """
    group = ExceptionGroup(f"{what}: every SRV target failed", [exc for _, exc in failures])
    if len(failures) == 1:
        detail = f"{failures[0][0]}: {failures[0][1]}"
    else:
        detail = _some(
            [f"{target} ({SocketError.get_status(exc).name})" for target, exc in failures]
        )
    error = socket_error(
        SocketError.get_status(group),
        f"{what} failed for every SRV target: {detail}",
        errno=failures[0][1].errno,
    )
    error.__cause__ = group
    return error


#: The weight dnspython's ``processing_order`` gives an SRV record of weight 0: such
#: records are chosen rarely, but they are chosen.
_ZERO_WEIGHT = 0.1


def rfc2782_order(records: list[dns.rdtypes.IN.SRV.SRV]) -> list[dns.rdtypes.IN.SRV.SRV]:
    """*records* in RFC 2782 order: by priority, weighted-random within a priority.

    The odds are those of dnspython's ``processing_order`` (pick by weight, remove,
    repeat), which takes time quadratic in the records of one priority: a hostile 64 KiB
    answer (2,000 records) then costs more than parsing it. Sorting on the key
    ``log(u) / weight``, u uniform in (0, 1], draws the same order (Efraimidis and
    Spirakis, "Weighted random sampling with a reservoir", 2006) in O(n log n).
    """

    def key(rr: dns.rdtypes.IN.SRV.SRV) -> tuple[int, float]:
        draw = math.log(1.0 - random.random()) / (rr.weight or _ZERO_WEIGHT)
        return rr.priority, -draw

    return sorted(records, key=key)


def _some(items: list[str], shown: int = 8) -> str:
    """*items* for a message, at most *shown* of them: a hostile answer may have 1000s."""
    text = ", ".join(items[:shown])
    return text if len(items) <= shown else f"{text} and {len(items) - shown} more"


def srv_targets(records: Iterable[object], what: str) -> list[ServiceTarget]:
    """The targets of an SRV answer's *records*, in RFC 2782 order, at most
    :data:`MAX_SRV_TARGETS`; a target at port 0 or that is no valid host name is skipped.
    A target is a domain name whose addresses are looked up (RFC 2782): one that reads
    as an IP literal (``127.0.0.1.``, a label ``::1``, ``[::1]`` or ``fe80::1%eth0``)
    is no valid host name, and is skipped too, so that no answer picks an address, or
    an interface, without an address lookup.

    Raises:
        SocketStatusError: ``CLASS_TYPE_NOT_FOUND`` when the records say the service is
            decidedly not available (a lone ``"."`` target); ``NO_ADDRESSES_FOUND`` when
            no target is usable. Both messages start with *what*.
    """
    usable = [
        rr
        for rr in records
        if isinstance(rr, dns.rdtypes.IN.SRV.SRV) and rr.target != dns.name.root
    ]
    if not usable:
        # RFC 2782: a single record whose target is "." means the service is
        # decidedly not available at this domain.
        raise socket_error(
            SocketErrorStatus.CLASS_TYPE_NOT_FOUND,
            f"{what}: the service is decidedly not available (SRV target '.')",
        )
    targets: list[ServiceTarget] = []
    invalid: list[str] = []
    for rr in rfc2782_order(usable):
        text = rr.target.to_text(omit_final_dot=True)
        if rr.port == 0:
            # Port 0 cannot be connected to or sent to.
            invalid.append(f"{text}:0")
            continue
        try:
            target = HostName(text)
        except InvalidHostNameError:
            invalid.append(text)
            continue
        if target.type != HostNameType.DOMAIN_NAME:
            invalid.append(text)
            continue
        targets.append(ServiceTarget(target, rr.port, rr.priority, rr.weight))
        if len(targets) == MAX_SRV_TARGETS:
            break
    if not targets:
        raise socket_error(
            SocketErrorStatus.NO_ADDRESSES_FOUND,
            f"{what}: no SRV target is a valid host name and port ({_some(invalid)})",
        )
    return targets


def srv_name(service: str, protocol: str, host: HostName) -> str:
    """The DNS SRV name asked for *service* of *host* over *protocol*: each label of a
    dotted service gets a ``_`` unless it starts with one (``"stun._service01"`` over
    ``"udp"`` is ``_stun._service01._udp.host``)."""
    labels = [label if label.startswith("_") else f"_{label}" for label in service.split(".")]
    return ".".join([*labels, f"_{protocol}", host.canonical_name])


def is_localhost(host: HostName) -> bool:
    """Whether *host* is ``localhost`` or under it, which RFC 6761 (section 6.3) answers
    without a query, and which so has no SRV records."""
    name = host.canonical_name
    return name == "localhost" or name.endswith(".localhost")
