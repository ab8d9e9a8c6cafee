"""Nursery-scoped lifetime shared by every socket class.

Entering a socket gives its background work (accept loop, receive loop, writer tasks)
an owner that can never outlive the ``async with`` block. Leaving the block normally
closes the socket gracefully (pending writes are flushed first); leaving it with an
exception, including ``Cancelled``, closes it at once.

The owner is the socket's own nursery, except for a socket whose background work is
occasional: a ``StreamSocket`` has none until an unawaited write finds the kernel's
buffer full, and a server holds one per connection, where a nursery would be most of
what an idle connection costs (three sets and a parking lot, about 1.3 KiB). Its block
owns :class:`OwnedTasks` instead, which starts such a task when it is first needed and
cancels and waits for it when the block ends, as the nursery would.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import functools
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Final, NoReturn, Protocol, Self, SupportsIndex, Unpack

import trio

from .._core.errors import SocketErrorStatus, SocketStatusError, WindowsOnlyError, socket_error
from .._core.lifecycle import Lifecycle
from .output import BaseOutputStream
from .sending import PosArgT, TaskStarter

__all__ = [
    "IO_FIELDS",
    "SCOPE_FIELDS",
    "AbortableIO",
    "AbortableWait",
    "NurseryScoped",
    "OwnedTasks",
    "SocketWait",
    "close_at_once",
]

_LOGGER = logging.getLogger("trio_sockets")

#: The fields of :class:`NurseryScoped` and :class:`AbortableIO`, which a subclass with
#: ``__slots__`` lists among its own.
SCOPE_FIELDS = ("_nursery", "_nursery_manager", "_entered", "_nested")
IO_FIELDS = ("_io_scopes", "_io_aborted")

# Where a socket is in its one ``async with`` block (NurseryScoped._entered): not yet,
# no more, or inside it, which _entered says by holding the task that entered it.
_NEVER: Final = "never entered"
_ENDED: Final = "its block ended"

_BROKER_REASON = (
    "it hands the socket to the Windows socket broker so a suspended UWP app is woken by "
    "traffic; a trio program owns its sockets for as long as it runs"
)


class OwnedTasks:
    """The background tasks of a socket block that opens no nursery, owned as a
    nursery would own them.

    :meth:`start_soon` starts a task when it is needed (a system task, which needs no
    nursery of the block's task, in a copy of the starting task's context, as a
    nursery's task runs), and the block ends with :meth:`aclose`, which cancels every
    task still running and waits for it, shielded, as a nursery's exit waits. A
    background task has nothing to raise (its failures are its operations'); should
    one raise all the same, :meth:`aclose` raises that error, where the block ends.

    Made when the block first needs a task.
    """

    __slots__ = ("_closed", "_ended", "_error", "_scopes")

    def __init__(self) -> None:
        self._scopes: list[trio.CancelScope] = []  # the cancel scope of each running task
        self._closed = False
        self._ended: trio.lowlevel.ParkingLot | None = None  # made by aclose() if it waits
        self._error: BaseException | None = None

    @property
    def running(self) -> int:
        """How many tasks are running."""
        return len(self._scopes)

    def start_soon(
        self,
        async_fn: Callable[[Unpack[PosArgT]], Awaitable[object]],
        *args: *PosArgT,
        name: object = None,
    ) -> None:
        """Start ``async_fn(*args)`` as a task of the block.

        Raises:
            RuntimeError: the block has ended (:meth:`aclose` was called).
        """
        if self._closed:
            raise RuntimeError(f"cannot start {name or async_fn}: the socket's block has ended")
        scope = trio.CancelScope()
        self._scopes.append(scope)
        trio.lowlevel.spawn_system_task(
            self._run,
            functools.partial(async_fn, *args),
            scope,
            name=name if name is not None else async_fn,
            context=contextvars.copy_context(),
        )

    async def _run(
        self, async_fn: Callable[[], Awaitable[object]], scope: trio.CancelScope
    ) -> None:
        try:
            with scope:
                await async_fn()
        except trio.Cancelled:
            raise  # not ours: the run itself is ending
        except BaseException as error:  # raised again by aclose(), in the block's task
            if self._error is None:
                self._error = error
        finally:
            self._scopes.remove(scope)
            if self._ended is not None:
                self._ended.unpark_all()

    async def aclose(self) -> None:
        """Start no more tasks; cancel those running and wait until they have ended,
        whatever cancels the waiting task meanwhile. Raises the error a task ended with.
        Not a checkpoint when no task runs."""
        self._closed = True
        scopes = self._scopes
        if scopes:
            for scope in scopes:
                scope.cancel()
            self._ended = trio.lowlevel.ParkingLot()
            with trio.CancelScope(shield=True):
                while scopes:
                    await self._ended.park()
        error, self._error = self._error, None
        if error is not None:
            raise error


class NurseryScoped(abc.ABC):
    """Base class: an async context manager that owns a nursery (or, with
    :attr:`_tasks_on_demand`, an :class:`OwnedTasks`) while entered.

    Subclasses call :meth:`_init_scope` first thing in ``__init__``.
    """

    if not TYPE_CHECKING:
        # Empty, so that such a subclass has no instance dict. Hidden from the type
        # checkers, which would take it as the list of every field assigned here.
        __slots__ = ()
    _nursery: trio.Nursery | OwnedTasks | None
    _nursery_manager: contextlib.AbstractAsyncContextManager[trio.Nursery] | None
    #: _NEVER, _ENDED, or while inside the block the task that entered it.
    _entered: str | trio.lowlevel.Task
    #: How many more times that task entered the block while inside it.
    _nested: int
    #: The subclass's lifecycle: a socket closed before it was entered cannot be.
    _lifecycle: Lifecycle

    #: Whether the block owns :class:`OwnedTasks` instead of a nursery: a socket whose
    #: background work is occasional (see the module's documentation).
    _tasks_on_demand: ClassVar[bool] = False

    def _init_scope(self) -> None:
        # Every attribute is set in __init__, none later: CPython then keeps an
        # instance's attributes in its compact shared-key layout, where one added later
        # (by __aenter__, say) turns it into a full dict -- about 1.3 KiB more for every
        # entered connection of a server.
        self._nursery = None
        self._nursery_manager = None
        self._entered = _NEVER
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

    def _get_nursery(self) -> TaskStarter | None:
        """Where background tasks start while entered, else None (what the output
        streams call)."""
        nursery = self._nursery
        if nursery is None and self._inside():  # tasks on demand: the first
            nursery = self._nursery = OwnedTasks()
        return nursery

    def _require_nursery(self, what: str) -> trio.Nursery:
        """The socket's nursery (a socket that starts its tasks on demand has none)."""
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError(
                f"{what} needs the socket's own nursery: use 'async with {self._describe()}:' "
                "before calling it"
            )
        assert isinstance(nursery, trio.Nursery), "a socket with tasks on demand has no nursery"
        return nursery

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # Without this, copy.copy() made a second object sharing the connection, and
        # pickling failed on whatever private attribute came first.
        raise TypeError(
            f"a {type(self).__name__} cannot be copied or pickled: it owns an operating "
            "system socket and the tasks that serve it"
        )

    def _inside(self) -> bool:
        return self._entered is not _NEVER and self._entered is not _ENDED

    async def __aenter__(self) -> Self:
        if self._inside():
            # Entered again while open (``trio.serve_listeners`` does ``async with
            # listener`` in a task of its own): behave like trio's AsyncResource, closing
            # on exit. Only the task that opened the block can end it (trio lets only
            # that task exit its nursery), so blocks of other tasks are not counted:
            # whichever ends first closes the socket, and the first block ends the
            # background work when it ends, before or after theirs.
            if self._entered is trio.lowlevel.current_task():
                self._nested += 1
            return self
        if self._entered is _ENDED:
            raise RuntimeError(f"{self._describe()} can be entered with 'async with' only once")
        if self._lifecycle.closed:
            raise RuntimeError(
                f"{self._describe()}: a closed socket cannot be entered with 'async with'; "
                "enter it before closing it, or make a new one"
            )
        self._entered = trio.lowlevel.current_task()
        if self._tasks_on_demand:
            return self  # _get_nursery() makes its OwnedTasks when it is first asked
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
        if self._entered is not trio.lowlevel.current_task() or self._nested:
            # An inner block: of this task, or of another task (see __aenter__).
            if self._entered is trio.lowlevel.current_task():
                self._nested -= 1
            if exc is None:
                await self.aclose()
            else:
                self._leave_at_once(exc)
            return
        manager = self._nursery_manager
        close_error: BaseException | None = None
        try:
            if exc is None:
                await self.aclose()
            else:
                self._leave_at_once(exc)
        except BaseException as error:  # re-raised below, once the nursery has ended
            close_error = error
            self._close_now()
        nursery = self._nursery
        self._entered = _ENDED
        self._nursery = None
        self._nursery_manager = None
        if isinstance(nursery, OwnedTasks):
            await nursery.aclose()
        elif nursery is not None:
            # The body's own exception is not handed to the nursery: trio would wrap it
            # in an ExceptionGroup, and a socket block should let a ValueError out as a
            # ValueError.
            assert manager is not None
            nursery.cancel_scope.cancel()
            await manager.__aexit__(None, None, None)
        if close_error is not None:
            raise close_error

    def _leave_at_once(self, exc: BaseException) -> None:
        """Close at once, as leaving the block with *exc* does. The first write failure
        nobody saw (it happened before: the close fails what is pending anyway) goes
        with *exc* as a note, or, for a cancellation, which a cancel scope absorbs,
        notes and all, to the log at level INFO: a program being cancelled (or ending
        for another failure, whose consequence this one often is) stays quiet."""
        failures = []
        for output in self._pending_writes() if isinstance(self, AbortableIO) else ():
            try:
                output.raise_unobserved()
            except BaseException as failure:  # one of the stream's writes: kept
                failures.append(failure)
        if failures:
            text = (
                f"before the block of {self._describe()} ended, a write nobody awaited had "
                f"failed: {failures[0]!s:.300}"
            )
            if isinstance(exc, trio.Cancelled):
                _LOGGER.info("%s", text)
            else:
                exc.add_note(text)
        self._close_now()


def close_at_once(resource: NurseryScoped) -> None:
    """Close *resource* at once, failing its pending operations, as leaving its block
    with an exception does: for an owner that must close, without awaiting, a socket it
    was handed."""
    resource._close_now()


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


class _AbortedWaits:
    """How many of the registered waits ``cancel_io()`` or a close ended and are still
    registered (the first *count*), and the tasks waiting for them to end."""

    __slots__ = ("count", "ended")

    def __init__(self) -> None:
        self.count = 0
        self.ended = trio.lowlevel.ParkingLot()


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
    _io_aborted: _AbortedWaits | None

    def _init_io(self) -> None:
        # The list (not a set: it holds one or two scopes) is made by the first
        # operation that waits, and the record of the aborted ones by the first
        # cancel_io() or close that ends some: an idle connection holds neither.
        self._io_scopes = None
        self._io_aborted = None

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
        if not scopes:
            return
        try:
            index = scopes.index(scope)  # its first entry: the one registered earliest
        except ValueError:
            return
        del scopes[index]
        aborted = self._io_aborted
        if aborted is not None and index < aborted.count:
            aborted.count -= 1
            if not aborted.count:
                aborted.ended.unpark_all()

    def _cancel_io_scopes(self) -> None:
        """End every wait registered now; :meth:`_wait_io_idle` waits for them (and not
        for waits that begin later: a reader that reads again at once would hold it)."""
        scopes = self._io_scopes
        if not scopes:
            return
        if self._io_aborted is None:
            self._io_aborted = _AbortedWaits()
        # New waits are appended, and a wait's entry is removed where it was first
        # registered (a receiver registers the same SocketWait for each of its waits,
        # one at a time): the first *count* entries are always the aborted ones.
        self._io_aborted.count = len(scopes)
        for scope in list(scopes):
            scope.cancel()

    async def _wait_io_idle(self) -> None:
        """Return once every wait :meth:`_cancel_io_scopes` ended has ended."""
        aborted = self._io_aborted
        while aborted is not None and aborted.count:
            await aborted.ended.park()

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
        message). Returns once every aborted operation has ended.

        A DatagramSocket has no read to abort: as in WinRT, its datagrams are the
        MessageReceived event, not a pending operation. What fails there is a bind, a
        connect, a ``get_output_stream()`` still resolving, and the writes of its output
        streams (awaited or not, and their ``flush()``). The socket keeps receiving, and a
        task waiting in ``message_received.receive()`` keeps waiting: close that handle
        or the socket, or cancel the task, to end it.
        """
        outputs = [(output, output.send_turn()) for output in self._pending_writes()]
        for output, _ in outputs:
            output.abort(SocketErrorStatus.OPERATION_ABORTED, "cancel_io()")
        self._cancel_io_scopes()
        await trio.lowlevel.checkpoint()
        # Each wait ends with what it waits for: the send it aborted when that stops
        # (not one begun since), the reads and connects when their waits end.
        for output, turn in outputs:
            await output.wait_idle(turn)
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
