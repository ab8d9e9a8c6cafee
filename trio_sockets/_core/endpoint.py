"""Endpoint pairs (WinRT ``Windows.Networking.EndpointPair``), and the two forms of a
remote that WinRT methods take. Pure validation."""

from __future__ import annotations

from typing import ClassVar

from .checks import shown
from .hostname import HostName, coerce_host_name
from .service_name import check_service_type, parse_service_name

__all__ = ["EndpointPair", "split_remote"]


def _validate_service(value: str, what: str, *, local: bool) -> str:
    value = check_service_type(value, what)
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
    writable — but an operation that needs it (``connect``, ``get_output_stream``) raises
    :class:`ValueError` naming the pair while it is missing. A ``None`` service name reads
    back as ``""``.

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
            raise ValueError(f"{shown(self)} has no remote_host_name; a remote host is required")
        if not self._remote_service:
            raise ValueError(
                f"{shown(self)} has no remote_service_name; a remote service is required"
            )
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

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # mutable: unhashable

    def __repr__(self) -> str:
        return (
            f"EndpointPair({self._local_host!r}, {self._local_service!r}, "
            f"{self._remote_host!r}, {self._remote_service!r})"
        )


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
    return host, check_service_type(remote_service_name, "remote_service_name"), None, ""
