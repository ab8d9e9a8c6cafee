"""The options every socket control has, and the checks and setters they share.

WinRT's ``StreamSocketControl``, ``StreamSocketListenerControl`` and
``DatagramSocketControl`` each have an unicast hop limit and a quality of service;
:class:`CommonOptions` holds both, and the functions here check and apply the values
the controls share.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

from .._core.checks import Uncopyable, check_enum, check_int
from .._core.enums import SocketQualityOfService
from .._io.translate import translating

__all__ = [
    "DEFAULT_HOP_LIMIT",
    "CommonOptions",
    "apply_live",
    "check_buffer_size",
    "check_hop_limit",
    "check_qos",
    "set_hop_limit",
]

#: WinRT's default hop limit (Linux would use 64).
DEFAULT_HOP_LIMIT = 128


def check_hop_limit(value: object) -> int:
    return check_int("outbound_unicast_hop_limit", value, 1, 255)


def check_buffer_size(name: str, value: object) -> int | None:
    if value is None:
        return None
    return check_int(name, value, 1, 2**31 - 1)


def check_qos(value: object) -> SocketQualityOfService:
    return check_enum("quality_of_service", value, SocketQualityOfService)


def set_hop_limit(sock: socket.socket, hops: int) -> None:
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
        # A dual-stack socket talking to an IPv4-mapped peer sends IPv4 packets.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)


def apply_live(
    sock: socket.socket | None,
    name: str,
    describe: Callable[[], str],
    setter: Callable[[socket.socket], None],
) -> None:
    """Change option *name* on an open socket now; nothing to do before it exists."""
    if sock is None or sock.fileno() == -1:
        return
    with translating(f"set {name} on {describe()}"):
        setter(sock)


class CommonOptions(Uncopyable):
    """The options every socket control has: the unicast hop limit, which applies live,
    and the quality of service, which a control may refuse to change late."""

    _hop_limit: int
    _qos: SocketQualityOfService

    def _set_live(self, name: str, setter: Callable[[socket.socket], None]) -> None:
        """Apply *setter* to the open socket, if there is one; may refuse the change."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    def _refuse_late(self, name: str) -> None:
        """Raise if option *name* can no longer change."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    @property
    def outbound_unicast_hop_limit(self) -> int:
        """IPv4 TTL / IPv6 hop limit of unicast packets; default 128, as in WinRT."""
        return self._hop_limit

    @outbound_unicast_hop_limit.setter
    def outbound_unicast_hop_limit(self, value: int) -> None:
        hops = check_hop_limit(value)
        self._set_live("outbound_unicast_hop_limit", lambda sock: set_hop_limit(sock, hops))
        self._hop_limit = hops

    @property
    def quality_of_service(self) -> SocketQualityOfService:
        """Kept for WinRT parity; trio runs all I/O on one thread, so it changes nothing."""
        return self._qos

    @quality_of_service.setter
    def quality_of_service(self, value: SocketQualityOfService) -> None:
        qos = check_qos(value)
        self._refuse_late("quality_of_service")
        self._qos = qos
