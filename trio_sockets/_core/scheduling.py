"""What the code needs to know about trio's scheduler beyond its public API."""

from __future__ import annotations

import contextlib
import operator
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import trio

__all__ = ["BatchEnd", "BatchEnded", "helper_nursery", "task_step"]

TaskStep = Callable[[trio.lowlevel.Task], "int | None"]


def _unknown_step(task: trio.lowlevel.Task) -> int | None:
    return None


def _probe_task_step() -> TaskStep:
    """The count trio keeps of a task's yields, read by a C-level attribute getter (the
    hot paths ask for it several times per datagram), or :func:`_unknown_step` if this
    trio's ``Task`` does not declare it as an ``int`` field."""
    for field in getattr(trio.lowlevel.Task, "__attrs_attrs__", ()):
        if field.name == "_schedule_points" and field.type in (int, "int"):
            getter: TaskStep = operator.attrgetter("_schedule_points")
            return getter
    return _unknown_step  # pragma: no cover - every supported trio declares it


#: ``task_step(task)``: how many times *task* has yielded to the scheduler, or None if
#: trio does not say. Two calls within one task step give the same number, so a caller
#: can tell "since this task last yielded" from "earlier". trio keeps this count for
#: ``trio.testing.assert_checkpoints``; a caller must treat None as "unknown" and take
#: its conservative path.
task_step: TaskStep = _probe_task_step()


class BatchEnded(Protocol):
    """What :class:`BatchEnd` calls back."""

    def batch_ended(self) -> bool:
        """The batch in which this was scheduled ended; return whether a task was woken
        (rescheduled or cancelled)."""
        ...


def _nothing() -> None:
    pass


class BatchEnd(trio.abc.Instrument):
    """Calls back, once, what was scheduled during trio's current batch of task steps,
    when that batch ends: after every task that was ready has run one step, before trio
    waits for I/O. A task that schedules something and withdraws it within its own step
    costs two dictionary operations; nothing touches trio's deadlines (setting a cancel
    scope's deadline goes through a context manager and trio's deadline heap, some
    15,000 instructions each way, measured).

    One per trio run (:meth:`acquire`), installed as an instrument while it has users.
    A callback that wakes a task while trio is about to sleep makes trio's I/O wait
    return at once (through the run's wake-up socket), so the woken task runs at the
    next pass, as one whose deadline had passed would.
    """

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._users = 0
        # Insertion-ordered: callbacks run in the order they were scheduled.
        self._pending: dict[BatchEnded, None] = {}

    @classmethod
    def acquire(cls) -> BatchEnd:
        """This run's instance (installed as an instrument); :meth:`release` when done."""
        try:
            batch_end = _BATCH_END.get()
        except LookupError:
            batch_end = cls(trio.lowlevel.current_trio_token())
            _BATCH_END.set(batch_end)
        if batch_end._users == 0:
            batch_end._pending.clear()  # scheduled while nobody used it: never called
            trio.lowlevel.add_instrument(batch_end)
        batch_end._users += 1
        return batch_end

    def release(self) -> None:
        """One user fewer; the last one removes the instrument and what it had pending."""
        self._users -= 1
        if self._users == 0:
            self._pending.clear()
            # KeyError: someone else removed it (or it raised, which trio logs).
            with contextlib.suppress(KeyError):
                trio.lowlevel.remove_instrument(self)

    def schedule(self, item: BatchEnded) -> None:
        """Call ``item.batch_ended()`` when the current batch ends."""
        self._pending[item] = None

    def withdraw(self, item: BatchEnded) -> None:
        """Do not (if *item* was scheduled)."""
        self._pending.pop(item, None)

    def before_io_wait(self, timeout: float) -> None:
        pending = self._pending
        if not pending:
            return
        items = list(pending)
        pending.clear()
        woke = False
        for item in items:
            woke = item.batch_ended() or woke
        if woke and timeout > 0:
            # trio computed how long to sleep before this hook woke a task: cut it short.
            self._token.run_sync_soon(_nothing)


_BATCH_END: trio.lowlevel.RunVar[BatchEnd] = trio.lowlevel.RunVar("trio_sockets.batch_end")


@contextlib.asynccontextmanager
async def helper_nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery for the helper tasks of one call (lookups, connection attempts) out of
    which a Ctrl-C leaves bare. trio raises a ``KeyboardInterrupt`` in the task waiting
    in the nursery (its helpers are KI-protected), and the nursery would wrap it in a
    ``BaseExceptionGroup``, which ``except KeyboardInterrupt`` does not catch."""
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        interrupts, _ = group.split(KeyboardInterrupt)
        if interrupts is None:
            raise
        interrupt = interrupts.exceptions[0]
        while isinstance(interrupt, BaseExceptionGroup):
            interrupt = interrupt.exceptions[0]
        raise interrupt from None
