"""Nursery-scoped lifetime shared by every socket class.

Entering a socket opens its own nursery; the socket's background work (accept loop,
receive loop, writer tasks) runs there and so can never outlive the ``async with``
block. Leaving the block normally closes the socket gracefully (pending writes are
flushed first); leaving it with an exception, including ``Cancelled``, closes it at once.
"""

from __future__ import annotations

import abc
import contextlib
import socket
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

import trio

from .._core.errors import SocketErrorStatus, SocketStatusError, WindowsOnlyError, socket_error
from .output import BaseOutputStream

__all__ = [
    "IO_FIELDS",
    "SCOPE_FIELDS",
    "AbortableIO",
    "AbortableWait",
    "NurseryScoped",
    "SocketWait",
]

#: The fields of :class:`NurseryScoped` and :class:`AbortableIO`, which a subclass with
#: ``__slots__`` lists among its own.
SCOPE_FIELDS = ("_nursery", "_nursery_manager", "_entered", "_nested")
IO_FIELDS = ("_io_scopes", "_io_idle")

_BROKER_REASON = (
    "it hands the socket to the Windows socket broker so a suspended UWP app is woken by "
    "traffic; a trio program owns its sockets for as long as it runs"
)


class NurseryScoped(abc.ABC):
    """Base class: an async context manager that owns a nursery while entered.

    Subclasses call :meth:`_init_scope` first thing in ``__init__``.
    """

    if not TYPE_CHECKING:
        # Empty, so that such a subclass has no instance dict. Hidden from the type
        # checkers, which would take it as the list of every field assigned here.
        __slots__ = ()
    _nursery: trio.Nursery | None
    _nursery_manager: contextlib.AbstractAsyncContextManager[trio.Nursery] | None

    def _init_scope(self) -> None:
        # Every attribute is set in __init__, none later: CPython then keeps an
        # instance's attributes in its compact shared-key layout, where one added later
        # (by __aenter__, say) turns it into a full dict -- about 1.3 KiB more for every
        # entered connection of a server.
        self._nursery = None
        self._nursery_manager = None
        self._entered = False
        self._nested = 0

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close gracefully (flushing what was written); idempotent."""

    @abc.abstractmethod
    def _close_now(self) -> None:
        """Close at once, failing pending operations."""

    @abc.abstractmethod
    def _describe(self) -> str:
        """A short name for messages, e.g. ``StreamSocket 127.0.0.1:80``."""

    def _get_nursery(self) -> trio.Nursery | None:
        """The nursery while entered, else None (what the output streams call)."""
        return self._nursery

    def _require_nursery(self, what: str) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError(
                f"{what} needs the socket's own nursery: use 'async with {self._describe()}:' "
                "before calling it"
            )
        return self._nursery

    async def __aenter__(self) -> Self:
        if self._nursery is not None:
            # Entered again while open (``trio.serve_listeners`` does ``async with
            # listener``): behave like trio's AsyncResource, closing on exit.
            self._nested += 1
            return self
        if self._entered:
            raise RuntimeError(f"{self._describe()} can be entered with 'async with' only once")
        self._entered = True
        manager = trio.open_nursery()
        self._nursery = await manager.__aenter__()
        self._nursery_manager = manager
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._nested:
            self._nested -= 1
            if exc is None:
                await self.aclose()
            else:
                self._close_now()
            return
        manager = self._nursery_manager
        nursery = self._nursery
        assert manager is not None
        assert nursery is not None
        close_error: BaseException | None = None
        try:
            if exc is None:
                await self.aclose()
            else:
                self._close_now()
        except BaseException as error:  # re-raised below, once the nursery has ended
            close_error = error
            self._close_now()
        # The body's own exception is not handed to the nursery: trio would wrap it in an
        # ExceptionGroup, and a socket block should let a ValueError out as a ValueError.
        nursery.cancel_scope.cancel()
        self._nursery = None
        self._nursery_manager = None
        await manager.__aexit__(None, None, None)
        if close_error is not None:
            raise close_error


class AbortableWait(Protocol):
    """A pending wait that ``cancel_io()`` and closing the socket end: a
    :class:`trio.CancelScope`, or a :class:`SocketWait`."""

    def cancel(self) -> None:
        """End the wait at once; the waiting operation then fails as aborted."""


class SocketWait:
    """A wait on a socket's readiness that ``cancel_io()`` can end without a cancel
    scope: :meth:`cancel` wakes every task waiting on the socket with
    :class:`trio.ClosedResourceError` (:func:`trio.lowlevel.notify_closing`, which
    leaves the socket open and waitable).

    A cancel scope per wait costs more than the wait's own system calls on a busy
    connection; this costs a list entry. The operation that registered it turns the
    ``ClosedResourceError`` into its aborted failure. Any other wait on the same socket
    is woken too, so every such wait either is aborted by the same ``cancel_io()`` or
    close (the output stream's sender, whose scope they cancel first) or waits again
    while the socket is open (``wait_send_all_might_not_block``).
    """

    __slots__ = ("_sock",)

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def cancel(self) -> None:
        if self._sock.fileno() != -1:
            trio.lowlevel.notify_closing(self._sock)


class AbortableIO(abc.ABC):
    """The pending operations of a socket, which ``cancel_io()`` aborts.

    Each wait that ``cancel_io()`` must be able to end is registered here, as a cancel
    scope it runs in or a :class:`SocketWait`; the operation turns the ended wait into
    ``OPERATION_ABORTED`` with :meth:`_aborted`. Writes not yet sent are dropped from
    the streams :meth:`_pending_writes` names. Also the Windows-only socket-broker members every
    socket class has.
    """

    if not TYPE_CHECKING:
        __slots__ = ()  # as in NurseryScoped
    _io_scopes: list[AbortableWait] | None
    _io_idle: trio.lowlevel.ParkingLot | None

    def _init_io(self) -> None:
        # The list (not a set: it holds one or two scopes) is made by the first
        # operation that waits, and the lot once someone waits for them: an idle
        # connection holds neither.
        self._io_scopes = None
        self._io_idle = None

    def _io_scope_list(self) -> list[AbortableWait]:
        """The list the waits of pending operations are registered in (for a receiver
        that registers its own); the same list from the first call on."""
        scopes = self._io_scopes
        if scopes is None:
            scopes = self._io_scopes = []
        return scopes

    @contextlib.contextmanager
    def _io_scope(self) -> Iterator[trio.CancelScope]:
        scope = trio.CancelScope()
        self._io_scope_list().append(scope)
        try:
            with scope:
                yield scope
        finally:
            self._io_scope_done(scope)

    def _io_scope_done(self, scope: AbortableWait) -> None:
        scopes = self._io_scopes
        if scopes and scope in scopes:
            scopes.remove(scope)
        if not scopes and self._io_idle is not None and len(self._io_idle):
            self._io_idle.unpark_all()

    def _cancel_io_scopes(self) -> None:
        for scope in list(self._io_scopes or ()):
            scope.cancel()

    async def _wait_io_idle(self) -> None:
        while self._io_scopes:
            if self._io_idle is None:
                self._io_idle = trio.lowlevel.ParkingLot()
            await self._io_idle.park()

    @abc.abstractmethod
    def _describe(self) -> str:
        """A short name for messages, e.g. ``StreamSocket 127.0.0.1:80``."""

    @abc.abstractmethod
    def _is_closed(self) -> bool:
        """Whether the socket is closed (an aborted wait then says so)."""

    def _pending_writes(self) -> Sequence[BaseOutputStream]:
        """The output streams whose unsent writes ``cancel_io()`` drops."""
        return ()

    async def cancel_io(self) -> None:
        """Abort the pending operations (WinRT ``CancelIOAsync``); the socket stays open.

        Pending reads, writes, binds and connects fail with ``OPERATION_ABORTED``.
        Writes not yet handed to the kernel are dropped; if one was partly sent on a
        stream, its sending side is broken (the peer would otherwise see a torn
        message). A DatagramSocket keeps receiving. Returns once every aborted
        operation has ended.
        """
        outputs = self._pending_writes()
        for output in outputs:
            output.abort(SocketErrorStatus.OPERATION_ABORTED, "cancel_io()")
        self._cancel_io_scopes()
        await trio.lowlevel.checkpoint()
        # Each wait ends with what it waits for: an output stream's sender when it
        # stops, the reads and connects when their waits end.
        for output in outputs:
            await output.wait_idle()
        await self._wait_io_idle()

    def _aborted(self, what: str) -> SocketStatusError:
        """The failure of an operation whose wait ``cancel_io()`` or a close ended.

        After a close it is also a :class:`trio.ClosedResourceError`, as trio's streams
        require of an operation another task ended by closing the stream.
        """
        where = f"{what} on {self._describe()}"
        if self._is_closed():
            return socket_error(
                SocketErrorStatus.OPERATION_ABORTED, f"{where}: the socket was closed", closed=True
            )
        return socket_error(SocketErrorStatus.OPERATION_ABORTED, f"{where}: aborted by cancel_io()")

    def enable_transfer_ownership(self, *args: object) -> None:
        """Windows-only: registers the socket with the Windows socket broker."""
        raise WindowsOnlyError(f"{type(self).__name__}.enable_transfer_ownership", _BROKER_REASON)

    def transfer_ownership(self, *args: object) -> None:
        """Windows-only: hands the socket to the Windows socket broker."""
        raise WindowsOnlyError(f"{type(self).__name__}.transfer_ownership", _BROKER_REASON)
