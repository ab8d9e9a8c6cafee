"""The write queue: what an output stream has to send, and what its sends completed.

Pure bookkeeping, with no socket calls and no ``await``: writes go in, and out come
the buffers to hand to the next system call (a joined buffer or iovecs for a byte or
TLS stream, a run of datagrams of one size, the last maybe shorter, for a datagram
socket), how far a send of *n* bytes got, the failures nobody has seen yet, and
whether everything written before a given point is done. The output drivers in ``_io``
and ``_tls`` are loops over it: ask for buffers, make the system call, report what it took.

The queue holds the bytes of each pending write and nothing else: writes are numbered
in order, and a write has ended once the first pending write's number is past it, so
completing a batch of writes is one ``deque.clear()``. An outcome that someone may
still ask about is carried by a :class:`QueuedWrite` handle, which the driver makes
only for writes whose result can be awaited; the queue sets the failure on the handles
it was given (:attr:`WriteQueue.latest`, :meth:`WriteQueue.hold`).
"""

from __future__ import annotations

import collections
import itertools
from typing import Final, Generic, TypeVar, cast

from .gather_limits import IOV_MAX, JOIN_AVERAGE, JOIN_BELOW, MAX_SEND
from .write_failures import FlushWait, Unseen

__all__ = ["IOV_MAX", "WRITE_OVERHEAD", "FlushWait", "QueuedWrite", "WriteQueue"]

#: What one pending write holds besides its data, as counted against the queue's
#: bound. Allocated on CPython 3.11 (x86-64): the header of its bytes object 48 and its
#: deque slot 8, and when someone holds its operation object (awaiting it, say) that
#: object, 80, and its sequence number, 32 -- at most 168 in all. Rounded up, so that
#: the bound holds for RSS, not only for the data.
WRITE_OVERHEAD: Final = 256


class QueuedWrite:
    """The handle of one write of a :class:`WriteQueue`: its number and size, and its
    failure once it has failed.

    The queue does not keep handles of pending writes, only their bytes: it sets
    ``_error`` on the handles it is given (:attr:`WriteQueue.latest` and those passed
    to :meth:`WriteQueue.hold`) when their write fails. Whether the write has ended is
    the queue's to say (:meth:`WriteQueue.ended`); a write that ended without ``_error``
    completed with all of its ``_nbytes``.
    """

    # __weakref__: a failure is claimed for as long as its operation lives.
    __slots__ = ("__weakref__", "_error", "_nbytes", "_seq")

    _seq: int  # the number WriteQueue.push gave the write; -1 for one done at once
    _nbytes: int
    _error: BaseException | None

    def __init__(self, seq: int, nbytes: int) -> None:
        self._seq = seq
        self._nbytes = nbytes
        self._error = None

    @property
    def seq(self) -> int:
        """The number of its write (-1: done at once)."""
        return self._seq


#: The handles a queue is given: :class:`QueuedWrite` or a driver's subclass of it.
W = TypeVar("W", bound=QueuedWrite)


class WriteQueue(Generic[W]):
    """The pending writes of one output stream, in order, and their accounting.

    - :meth:`push` queues a write's bytes and gives it the next sequence number; the
      queue holds at most :attr:`max_cost` bytes of *cost*: each write's data plus
      :data:`WRITE_OVERHEAD`, so that many tiny writes are bounded too. :attr:`cost`
      and :attr:`pending_bytes` are kept here and nowhere else.
    - A byte stream (plain or TLS) asks :meth:`gather` for what to send and reports
      :meth:`sent`; a datagram stream asks :meth:`datagrams` and reports
      :meth:`complete_before`. A write is completed (with its full size) as soon
      as its last byte was taken, never later, and only the first write can be part
      sent (:attr:`partly_sent`).
    - :meth:`fail_head` and :meth:`fail_all` end writes with an error, which they set on
      the handles of those writes that the queue was given. A failed write is
      *unobserved* until someone awaits it (:meth:`observe`) or :meth:`take_unobserved`
      hands its error out, so that no failure is lost; both are linear in the writes
      they touch, keyed by sequence number. Its failure is *claimed* when its handle
      was held (:meth:`hold`, :meth:`claim_latest`): then only a flush or a close hands
      it out (:mod:`.write_failures`).
    - A flush is told of failures as a handle is (:meth:`begin_flush`,
      :meth:`end_flush`): it raises the first failure among the writes it waits for
      that was unobserved when it began or happened while it waited, so that every
      task flushing the same writes raises their failure, not only the first to wake.
    - :meth:`ended` says whether one write has ended, :meth:`done_before` whether all the
      writes numbered below *seq* have (a flush).
    - :meth:`retract` takes back a byte stream's write none of whose bytes has left (a
      cancelled ``send_all``): it keeps its number, sends nothing and never fails.

    Every write ends exactly once, in order of its sequence number: completions and
    failures both take writes from the front. Nothing here blocks, awaits or raises on
    the hot path but :meth:`push` (:exc:`BufferError` past the bound).
    """

    __slots__ = (
        "_flushes",
        "_head_sent",
        "_held",
        "_joined",
        "_joined_sent",
        "_retracted",
        "_unobserved",
        "cost",
        "latest",
        "max_cost",
        "next_seq",
        "what",
        "writes",
    )

    def __init__(self, max_cost: int, what: str) -> None:
        #: What the queue belongs to, for the message of :exc:`BufferError`.
        self.what = what
        #: The bytes of the pending writes, numbered ``next_seq - len(writes)`` and up.
        #: Writes come in only through :meth:`push` (``BaseOutputStream.write`` inlines
        #: it: a call is a fifth of a tiny write's cost).
        self.writes: collections.deque[bytes | memoryview] = collections.deque()
        #: What the pending writes hold: their data plus WRITE_OVERHEAD for each.
        self.cost = 0
        #: The bound on :attr:`cost` that :meth:`push` enforces.
        self.max_cost = max_cost
        #: The sequence number the next pushed write gets.
        self.next_seq = 0
        #: The handle of the write pushed last, if its driver made one: told of its
        #: write's failure like the handles passed to :meth:`hold`. The driver may give
        #: it a new write when nobody else holds it.
        self.latest: W | None = None
        # Handles passed to hold(), in order of their writes; those of writes that have
        # ended are dropped on the way.
        self._held: collections.deque[W] = collections.deque()
        # Bytes of the first pending write already sent.
        self._head_sent = 0
        # A join that a partial send left unfinished: the next send goes on from
        # _joined_sent instead of joining the rest again (a fresh connection takes a
        # large join in many pieces while its window opens). Any failure drops it.
        self._joined: bytes | None = None
        self._joined_sent = 0
        # The failed writes nobody has seen fail yet, and which of them are claimed.
        self._unobserved = Unseen()
        # The flushes waiting for pending writes (begin_flush), told of their failures.
        self._flushes: list[FlushWait] = []
        self._retracted = False  # whether an empty write may be one taken back (retract)

    # -- state -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.writes)

    def __bool__(self) -> bool:
        return bool(self.writes)

    @property
    def pending_bytes(self) -> int:
        """The bytes of the pending writes, the part already sent included."""
        return self.cost - len(self.writes) * WRITE_OVERHEAD

    @property
    def unsent_bytes(self) -> int:
        """The bytes of the pending writes not sent yet: progress within a write too."""
        return self.pending_bytes - self._head_sent

    @property
    def partly_sent(self) -> bool:
        """Whether part of the first pending write has been sent (ending it now tears it)."""
        return self._head_sent > 0

    @property
    def has_unobserved(self) -> bool:
        """Whether a failed write is waiting to be seen."""
        return bool(self._unobserved)

    @property
    def first_seq(self) -> int:
        """The number of the first pending write (:attr:`next_seq` when none is):
        every write numbered below it has ended."""
        return self.next_seq - len(self.writes)

    def ended(self, seq: int) -> bool:
        """Whether write *seq* has completed or failed."""
        return seq < self.next_seq - len(self.writes)

    def done_before(self, seq: int) -> bool:
        """Whether every write numbered below *seq* has completed or failed."""
        return self.next_seq - len(self.writes) >= seq

    # -- writes in -----------------------------------------------------------------------

    def push(self, data: bytes | memoryview, *, bounded: bool = True) -> int:
        """Queue *data* after the other writes; return its sequence number.

        Raises:
            BufferError: the queue would hold more than :attr:`max_cost` (unless not
                *bounded*: a write whose caller waits for it); nothing changes.
        """
        cost = self.cost + len(data) + WRITE_OVERHEAD
        if cost > self.max_cost and bounded:
            raise self.over_bound(len(data), cost)
        self.writes.append(data)
        self.cost = cost
        seq = self.next_seq
        self.next_seq = seq + 1
        return seq

    def retract(self, write: W, sending: int = 0) -> bool:
        """Take pending *write* back if none of its bytes has left (*sending*: bytes past
        those sent that a send under way holds); True if it was. It then sends nothing
        and ends in order, never failing: an empty write keeps its place (a byte stream
        queues no other), and its handle is let go (told nothing more)."""
        writes = self.writes
        index = write._seq - (self.next_seq - len(writes))
        started = self._head_sent + sending  # bytes gone from the first write on
        for data in itertools.islice(writes, max(index, 0)):
            started -= len(data)
            if started <= 0:
                break
        if index < 0 or not writes[index] or started > 0:  # ended, taken back, started
            return False
        self.cost -= len(writes[index])
        writes[index] = b""
        self._retracted = True
        self._joined = None
        if self.latest is write:
            self.latest = None
        elif write in self._held:
            self._held.remove(write)
        if not index:
            self.sent(0)  # it ends now, and so do the writes taken back after it
        return True

    def hold(self, write: W) -> None:
        """Keep *write*, the handle of a pending write, to set its failure if it fails.

        Handles are held in the order of their writes, and only until their write has
        ended: what they hold is bounded by the pending writes.
        """
        held = self._held
        first = self.next_seq - len(self.writes)
        while held and held[0]._seq < first:
            held.popleft()
        if write._seq >= first:
            held.append(write)

    def over_bound(self, size: int, cost: int) -> BufferError:
        """The refusal of a write of *size* bytes that would make the queue hold *cost*."""
        if size + WRITE_OVERHEAD > self.max_cost:
            # Waiting cannot help: it would not fit with nothing else pending either.
            return BufferError(
                f"{self.what}: a write of {size} bytes can never fit in "
                f"max_pending_bytes={self.max_cost} ({WRITE_OVERHEAD} more per write); raise "
                "max_pending_bytes, or write it in parts (send_all() sends any size)"
            )
        count = len(self.writes) + 1
        return BufferError(
            f"{self.what}: writing {size} bytes would leave {count} writes of "
            f"{cost - count * WRITE_OVERHEAD} bytes pending, holding {cost} bytes with "
            f"{WRITE_OVERHEAD} per write, over max_pending_bytes={self.max_cost}; "
            "await the write operations or flush() first"
        )

    # -- a byte stream -----------------------------------------------------------------

    def gather(self) -> list[bytes | memoryview]:
        """The buffers to hand to the next ``send``/``sendmsg``: not empty, at most
        :data:`IOV_MAX` of them, starting with the first unsent byte.

        Mostly small writes (averaging at most 4 KiB, 1 MiB in all) come as one joined
        buffer, which a partial send leaves to be continued rather than joined again.
        Otherwise writes of 16 KiB or more get their own iovec entry and runs of smaller
        ones are joined, until 1 MiB is gathered. Call only with writes pending.
        """
        joined = self._joined
        if joined is not None:
            return [memoryview(joined)[self._joined_sent :]]
        writes = self.writes
        count = len(writes)
        if count == 1:  # one write, of any size (an awaited one, typically): as it is
            head_sent = self._head_sent
            return [memoryview(writes[0])[head_sent:] if head_sent else writes[0]]
        data_bytes = self.cost - count * WRITE_OVERHEAD
        if not self._head_sent and data_bytes <= MAX_SEND and count * JOIN_AVERAGE >= data_bytes:
            joined = self._joined = b"".join(writes)
            self._joined_sent = 0
            return [joined]
        return self._gather_iovecs()

    def _gather_iovecs(self) -> list[bytes | memoryview]:
        pieces: list[bytes | memoryview] = []
        small: list[bytes | memoryview] = []
        small_len = 0
        total = 0
        offset = self._head_sent
        for write in self.writes:
            data: bytes | memoryview = write
            if offset:
                data = memoryview(data)[offset:]
                offset = 0
            size = len(data)
            if size < JOIN_BELOW:
                small.append(data)
                small_len += size
                if small_len >= JOIN_BELOW:
                    pieces.append(b"".join(small))
                    small = []
                    small_len = 0
            else:
                if small_len:  # not only writes taken back (empty)
                    pieces.append(small[0] if len(small) == 1 else b"".join(small))
                    small = []
                    small_len = 0
                pieces.append(data)
            total += size
            if total >= MAX_SEND or len(pieces) >= IOV_MAX - 1:
                break
        if small_len:
            pieces.append(small[0] if len(small) == 1 else b"".join(small))
        return pieces

    def sent(self, count: int) -> bool:
        """Record that the last :meth:`gather`'s first *count* bytes were sent; True if
        that completed a write.

        *count* is at most what :meth:`gather` offered.
        """
        if self._joined is not None:
            self._joined_sent += count
            if self._joined_sent >= len(self._joined):
                self._joined = None
        writes = self.writes
        pending = len(writes)
        head_sent = self._head_sent
        if count + head_sent == self.cost - pending * WRITE_OVERHEAD:
            # All of it left (a whole batch, the common case): nothing per write.
            writes.clear()
            self._head_sent = 0
            self.cost = 0
            return True
        completed = 0
        while count:
            size = len(writes[0])
            remaining = size - head_sent
            if count < remaining:
                head_sent += count
                break
            count -= remaining
            head_sent = 0
            writes.popleft()
            completed += size
        self._head_sent = head_sent
        while writes and not writes[0]:  # taken back (retract), and first now: ended
            writes.popleft()
        if pending == len(writes):
            return False
        self.cost -= completed + (pending - len(writes)) * WRITE_OVERHEAD
        return True

    # -- datagrams and TLS -----------------------------------------------------------------

    def datagrams(
        self, max_count: int, max_bytes: int, max_segment: int
    ) -> tuple[list[bytes], int]:
        """The datagrams to send next, one per write, and the sequence number to pass to
        :meth:`complete_before` once they are sent.

        The first pending write and, if it is not empty and at most *max_segment* bytes
        long, the writes of its size that follow it and then one shorter, non-empty one
        if it comes next: at most *max_count* datagrams of *max_bytes* in all, what one
        ``sendmsg`` with ``UDP_SEGMENT`` can carry (the kernel cuts it into datagrams of
        the first one's size, the last maybe shorter). *max_count* 1 gives one datagram.
        Call only with writes pending.
        """
        # A datagram stream queues bytes only (views come from a byte stream's send_all).
        writes = cast("collections.deque[bytes]", self.writes)
        first = writes[0]
        size = len(first)
        run = [first]
        if 0 < size <= max_segment and len(writes) > 1:
            most = min(max_count, max_bytes // size, len(writes))
            for data in itertools.islice(writes, 1, most):
                if len(data) != size:
                    break
                run.append(data)
            else:  # of its size up to a bound: the next one may still go if shorter
                data = writes[most] if most < len(writes) and most < max_count else first
            if 0 < len(data) < size and len(run) * size + len(data) <= max_bytes:
                run.append(data)  # a shorter one ends the run
        return run, self.next_seq - len(writes) + len(run)

    def complete_before(self, seq: int) -> bool:
        """Complete, each with its size, the pending writes numbered below *seq* (those
        a failure ended meanwhile are gone already); True if any were."""
        writes = self.writes
        pending = len(writes)
        count = seq - (self.next_seq - pending)
        if count <= 0:
            return False
        completed = 0
        for _ in range(count):
            completed += len(writes.popleft())
        self._head_sent = 0
        self.cost -= completed + count * WRITE_OVERHEAD
        return True

    # -- failures --------------------------------------------------------------------------

    def fail_head(self, error: BaseException) -> None:
        """Fail the first pending write with *error* (a datagram the kernel refused)."""
        seq = self.next_seq - len(self.writes)
        self.cost -= len(self.writes.popleft()) + WRITE_OVERHEAD
        self._head_sent = 0
        self._joined = None
        self._unobserved.add((seq,), error)
        self._tell(seq, seq + 1, error)

    def fail_all(self, error: BaseException) -> None:
        """Fail every pending write with *error*: a broken stream, ``cancel_io``, close."""
        end = self.next_seq
        first = end - len(self.writes)
        failed: range | list[int] = range(first, end)
        if self._retracted:  # writes taken back have nothing to fail
            failed = [seq for seq, data in zip(failed, self.writes, strict=True) if data]
        self.writes.clear()
        self.cost = 0
        self._head_sent = 0
        self._joined = None
        if first < end:
            self._unobserved.add(failed, error)
            self._tell(first, end, error)

    def _tell(self, first: int, end: int, error: BaseException) -> None:
        """Set *error* on the handles of the writes numbered *first* to *end*, which just
        failed, and on the flushes waiting for them that have none yet (writes fail in
        order, so it is their first); forget the held handles of writes that have ended.
        A held handle's caller held it at the write after it (:meth:`hold`): its
        failure is claimed."""
        for flush in self._flushes:
            if flush.error is None and first < flush.target:
                flush.error = error
        latest = self.latest
        if latest is not None and first <= latest._seq < end:
            latest._error = error
        held = self._held
        while held and held[0]._seq < end:
            write = held.popleft()
            if write._seq >= first:
                write._error = error
                self._unobserved.claim(write._seq, write)

    def observe(self, seq: int) -> None:
        """Note that the failure of write *seq* was seen (its awaiter raises it)."""
        self._unobserved.see(seq)

    def claim_latest(self, *, held: bool = True) -> None:
        """The caller holds :attr:`latest` (*held*): its write's failure, if unseen, is
        claimed. Not *held*: it is not claimed any more -- the queue's own reference
        kept a claim made earlier alive after the caller let the operation go."""
        latest = self.latest
        if latest is None:
            return
        if held:
            self._unobserved.claim(latest._seq, latest)
        else:
            self._unobserved.unclaim(latest._seq)

    def begin_flush(self) -> FlushWait:
        """A flush of the writes started so far begins: the :class:`FlushWait` to pass to
        :meth:`end_flush` once they have ended, whether it waited or was cancelled.

        Its failure is the first unobserved one now, else the first of a write pending
        now, whoever sees that failure meanwhile: tasks flushing at once all raise it.
        """
        flush = FlushWait(self.next_seq, self._unobserved.first())
        if self.writes:  # else no write it covers can fail any more
            self._flushes.append(flush)
        return flush

    def end_flush(self, flush: FlushWait, *, done: bool = True) -> BaseException | None:
        """End *flush*. *done*: its writes have ended; then every failure among them
        counts as seen, and this returns the one it is to raise, or None. A flush that
        did not wait to the end (cancelled) raises nothing and leaves them unseen."""
        if flush in self._flushes:
            self._flushes.remove(flush)
        if not done:
            return None
        self.take_unobserved(flush.target)
        return flush.error

    def take_unobserved(self, before: int, *, claimed: bool = True) -> BaseException | None:
        """The error of the first failed write numbered below *before* that nobody has
        seen (and, unless *claimed*, whose failure is not claimed), or None; every such
        write counts as seen afterwards (one error stands for them all, as a flush
        raises one; :meth:`.write_failures.Unseen.take`)."""
        return self._unobserved.take(before, claimed=claimed)
