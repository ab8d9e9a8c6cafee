"""The failures of a write queue's writes that nobody has seen yet, and its flushes' waits.

A write that fails is *unseen* until its operation is awaited, a flush raises it, or
the stream hands it out to be raised (by the next ``write()`` or a close), so that no
failure is lost. An unseen failure is *claimed* when the caller held the failed write's
operation at the next write after it: that operation raises it when awaited, and a
later ``write()`` goes on rather than raise another write's failure; a flush or a close
still raises it if it is never awaited. A claim lasts while the operation does (a weak
reference): once the caller has let it go unawaited (``op = stream.write(...)`` in a
loop drops each when it makes the next), its failure is unclaimed again, for the next
``write()`` to raise, so that claims never pile up beyond the operations held. Kept apart from
:class:`~trio_sockets._core.write_queue.WriteQueue`, which holds an instance.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

__all__ = ["FlushWait", "Unseen"]


class FlushWait:
    """A flush waiting for the writes numbered below :attr:`target`
    (:meth:`WriteQueue.begin_flush`), and the failure it is to raise: the first among
    those writes that nobody had seen when it began, or that happened while it waited.
    """

    __slots__ = ("error", "target")

    def __init__(self, target: int, error: BaseException | None) -> None:
        self.target = target
        self.error = error


class Unseen:
    """The errors of the failed writes nobody has seen fail yet, by sequence number,
    and which of them are claimed (see the module). Seeing one is O(1), handing them
    out linear in those there are."""

    __slots__ = ("_claimed", "_errors")

    def __init__(self) -> None:
        # Writes end in order, so the first entry is the lowest number.
        self._errors: dict[int, BaseException] = {}
        # A subset of _errors' keys, each with its operation, while that lives.
        self._claimed: dict[int, weakref.ref[object]] = {}

    def __bool__(self) -> bool:
        return bool(self._errors)

    def first(self) -> BaseException | None:
        """The error of the unseen failure of the lowest number, claimed or not."""
        errors = self._errors
        return next(iter(errors.values())) if errors else None

    def add(self, seqs: Iterable[int], error: BaseException) -> None:
        """Writes *seqs*, after every write added before, failed with *error*."""
        self._errors.update(dict.fromkeys(seqs, error))

    def claim(self, seq: int, operation: object) -> None:
        """The caller holds *operation*, of write *seq*: its failure, if unseen, is that
        operation's to raise, as long as it lives."""
        if seq in self._errors:
            self._claimed[seq] = weakref.ref(operation)

    def unclaim(self, seq: int) -> None:
        """The failure of write *seq*, if claimed, is not any more: its operation was let
        go while something else still referred to it."""
        self._claimed.pop(seq, None)

    def see(self, seq: int) -> None:
        """The failure of write *seq* was seen (its operation raised it)."""
        if self._errors.pop(seq, None) is not None:
            self._claimed.pop(seq, None)

    def take(self, before: int, *, claimed: bool = True) -> BaseException | None:
        """The error of the first unseen failure of a write numbered below *before*
        (not claimed, unless *claimed*), or None. Those failures count as seen
        afterwards, and so do claimed ones with the same error (a broken stream fails
        its writes with one): one error stands for them all, as a flush raises one."""
        errors = self._errors
        if not errors:
            return None
        skip = () if claimed else {seq for seq, held in self._claimed.items() if held()}
        seen = [seq for seq in errors if seq < before and seq not in skip]
        if not seen:
            return None
        error = errors[seen[0]]
        if skip:
            seen += [seq for seq in skip if seq < before and errors[seq] is error]
        for seq in seen:
            del errors[seq]
            self._claimed.pop(seq, None)
        return error
