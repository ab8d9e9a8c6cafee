"""When the operation a write returned may be given to the next write.

The write queue keeps only the bytes of each pending write, numbered in order. A
:class:`~trio_sockets.WriteOperation` holds its write's number and size; whether the
write has ended is the queue's to say, and a failure is set on the operation by the
queue, which knows the operations that anyone may still ask about: the last one
returned (:attr:`WriteQueue.latest <trio_sockets._core.write_queue.WriteQueue.latest>`)
and those it was given to hold.

The stream gives the last operation to the next write when nobody else holds it -- the
caller dropped it unawaited, or awaited it and let it go -- as CPython's own iterators
reuse their result tuple: ``sys.getrefcount`` says so exactly. A run of unawaited writes
then makes one operation object, not one each. An operation someone still holds is
never given another write: it goes to the queue to be told of its write's failure, and
a new one is made. Where reference counts are not exact, every write makes its own.

The same count decides whose a failure is (:func:`unheld_failure`): the next write
raises the failure of a write nobody holds the operation of, as the only place left
to see it; one whose operation the caller holds is that operation's to raise.
"""

from __future__ import annotations

import sys
from typing import Final, TypeVar

from .._core.write_queue import QueuedWrite, WriteQueue

__all__ = ["UNHELD", "getrefcount", "unheld_failure"]

getrefcount = sys.getrefcount

W = TypeVar("W", bound=QueuedWrite)


def _unheld_refcount() -> int:
    """What ``getrefcount(op)`` says in ``BaseOutputStream.write`` of the last
    operation when only the queue holds it; measured with the same code, since the count
    depends on how the interpreter passes references. 0 where counts are not exact (not
    CPython, or without the GIL): operations are never reused there."""
    gil_enabled = getattr(sys, "_is_gil_enabled", None)
    if sys.implementation.name != "cpython" or (gil_enabled is not None and not gil_enabled()):
        return 0
    queue: WriteQueue[QueuedWrite] = WriteQueue(0, "")
    queue.latest = QueuedWrite(0, 0)
    op = queue.latest
    return getrefcount(op)


#: ``getrefcount`` of the last operation when nobody but the queue holds it.
UNHELD: Final = _unheld_refcount()


def unheld_failure(queue: WriteQueue[W]) -> BaseException | None:
    """The failure the next write raises: the first unseen one of a write whose
    operation nobody held at the write after it (:meth:`WriteQueue.hold
    <trio_sockets._core.write_queue.WriteQueue.hold>`) and nobody holds now if it was
    the last. Failures of held operations are claimed instead, for their operation to
    raise (or a flush or a close, if it never is). Call before the next write."""
    latest = queue.latest
    if latest is not None:
        # Held: its failure is its own. Let go: a claim made while it was held ends,
        # although the queue's reference keeps the operation (and the claim's weak
        # reference) alive -- a write that raised, and so never replaced it, made one.
        queue.claim_latest(held=getrefcount(latest) != UNHELD)
    return queue.take_unobserved(queue.next_seq, claimed=False)
