"""One place where an :class:`OSError` becomes the error a socket method raises.

``with translating(action, sock):`` around system calls replaces the
``try: … except OSError as exc: raise translate_os_error(exc, …) from exc`` that each
call site would otherwise write, as trio's ``_translate_socket_errors_to_stream_errors``
does for its streams:

* an error on a socket another task closed meanwhile is :exc:`trio.ClosedResourceError`
  (trio's rule for an object closed under a running operation), not the ``EBADF``
  the system call saw;
* any other :class:`OSError` (except a :class:`~trio_sockets.SocketStatusError`, which
  is raised as it is) becomes a :class:`~trio_sockets.SocketStatusError` with its
  WinRT status, the message ``"{action}: {error}"``, and, with ``broken=True``, also a
  :class:`trio.BrokenResourceError` (the stream cannot be used any more);
* with ``opening=True`` (around calls that make a socket or open a file), a shortage of
  descriptors or kernel memory is ``TOO_MANY_OPEN_FILES`` and says so
  (:func:`~trio_sockets._core.errors.out_of_resources`).

A class rather than a ``@contextmanager`` generator: it sits on send and receive paths,
where a generator per call costs more than the system call's own Python overhead.
"""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Literal

import trio

from .._core.errors import SocketStatusError, out_of_resources, translate_os_error

__all__ = ["translating"]


class translating:
    """Translate :class:`OSError` raised in the block; see the module docstring."""

    __slots__ = ("_action", "_broken", "_opening", "_sock")

    def __init__(
        self,
        action: str,
        sock: socket.socket | None = None,
        *,
        broken: bool = False,
        opening: bool = False,
    ) -> None:
        self._action = action
        self._sock = sock
        self._broken = broken
        self._opening = opening

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        # A SocketStatusError is already what the caller meant to raise.
        if isinstance(exc, OSError) and not isinstance(exc, SocketStatusError):
            if self._sock is not None and self._sock.fileno() == -1:
                raise trio.ClosedResourceError(f"{self._action}: the socket was closed") from None
            shortage = out_of_resources(exc, self._action) if self._opening else None
            if shortage is not None:
                raise shortage from exc
            raise translate_os_error(exc, self._action, broken=self._broken) from exc
        return False
