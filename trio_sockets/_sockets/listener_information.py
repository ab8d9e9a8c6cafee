"""What a ``StreamSocketListener`` hands out: its information and the connection event.

``StreamSocketListenerInformation`` reads a :class:`ListenerRecord`, the small mutable
record the listener keeps its bound port, handshake and accept failure counts in.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

from .._core.enums import SocketProtectionLevel
from .stream_socket import StreamSocket

__all__ = [
    "ListenerRecord",
    "StreamSocketListenerConnectionReceivedEventArgs",
    "StreamSocketListenerInformation",
]


@dataclass(slots=True)
class ListenerRecord:
    """What a listener tells about itself; only the listener writes it."""

    port: int | None = None
    protection_level: SocketProtectionLevel = SocketProtectionLevel.PLAIN_SOCKET
    handshake_failures: int = 0
    last_handshake_error: OSError | None = None
    accept_failures: int = 0
    last_accept_error: OSError | None = None

    def handshake_failed(self, error: OSError) -> None:
        self.handshake_failures += 1
        self.last_handshake_error = error

    def accept_failed(self, error: OSError) -> None:
        self.accept_failures += 1
        self.last_accept_error = error


class StreamSocketListenerConnectionReceivedEventArgs:
    """One accepted connection (WinRT ``StreamSocketListenerConnectionReceivedEventArgs``).

    The :attr:`socket` belongs to whoever receives these args, not to the listener:
    scope it with ``async with args.socket:`` (or close it). Args dropped before anyone
    read their :attr:`socket` (still queued when every handle of
    ``connection_received`` closed, or received and let go) reset it at once. A copy
    (:func:`copy.copy`, :func:`copy.deepcopy`) is these same args: one connection.
    """

    __slots__ = ("__weakref__", "_socket", "_untaken")

    def __init__(
        self, socket: StreamSocket, untaken: Callable[[StreamSocket], None] | None = None
    ) -> None:
        self._socket = socket
        # Calls *untaken* with the socket if these args die before anyone took it: a
        # finalizer that holds the socket, so that the socket outlives a reference cycle
        # the args die in.
        self._untaken = None if untaken is None else weakref.finalize(self, untaken, socket)

    def __copy__(self) -> StreamSocketListenerConnectionReceivedEventArgs:
        return self  # a copy whose original died would hand out a socket reset with it

    def __deepcopy__(
        self, memo: dict[int, object]
    ) -> StreamSocketListenerConnectionReceivedEventArgs:
        return self

    @property
    def socket(self) -> StreamSocket:
        untaken = self._untaken
        if untaken is not None:
            self._untaken = None
            untaken.detach()
        return self._socket

    def __repr__(self) -> str:
        return f"<ConnectionReceived {self._socket!r}>"


class StreamSocketListenerInformation:
    """WinRT ``StreamSocketListenerInformation``: the bound port; and, additions, the
    TLS level served and what failed in the background (handshakes, accepts)."""

    def __init__(self, record: ListenerRecord) -> None:
        self._record = record

    @property
    def local_port(self) -> str:
        """The bound TCP port as a string; ``""`` before the listener is bound."""
        port = self._record.port
        return str(port) if port is not None else ""

    @property
    def protection_level(self) -> SocketProtectionLevel:
        """The level given to bind: ``PLAIN_SOCKET``, or the TLS level it serves."""
        return self._record.protection_level

    @property
    def tls_handshake_failures(self) -> int:
        """How many accepted connections failed their TLS handshake (and were closed)."""
        return self._record.handshake_failures

    @property
    def last_tls_handshake_error(self) -> OSError | None:
        """The classified failure of the last TLS handshake that failed, if any."""
        return self._record.last_handshake_error

    @property
    def accept_failures(self) -> int:
        """How many accepts failed for want of file descriptors (or of the kernel memory
        a socket needs): one every 0.1 s while the shortage lasts, since the listener
        tries again that often. Connections wait in the kernel's backlog meanwhile."""
        return self._record.accept_failures

    @property
    def last_accept_error(self) -> OSError | None:
        """The classified failure of the last accept that failed, if any:
        ``TOO_MANY_OPEN_FILES``, saying what ran out."""
        return self._record.last_accept_error
