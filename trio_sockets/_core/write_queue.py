"""The write queue: what an output stream has to send, and what its sends completed.

Pure bookkeeping, with no socket calls and no ``await``: writes go in, and out come
the buffers to hand to the next system call (a joined buffer or iovecs for a byte
stream, a run of equal-size datagrams for a datagram socket, one batch for a TLS
stream), the writes a send of *n* bytes completed, the failures nobody has seen yet,
and whether everything written before a given point is done. The output drivers in
``_io`` and ``_tls`` are loops over it: ask for buffers, make the system call, report
what it took.
"""

from __future__ import annotations

import collections
import os
from typing import Final

__all__ = ["IOV_MAX", "WRITE_OVERHEAD", "QueuedWrite", "WriteQueue"]

#: What one pending write holds besides its data, as counted against the queue's
#: bound. Allocated on CPython 3.11 (x86-64): the write object 112 bytes, its sequence
#: number 32, the header of its bytes object 48, its deque slot 8 -- 200 in all, and
#: 215 of process RSS per write measured over 400,000 pending 1-byte writes. Rounded up,
#: so that the bound holds for RSS, not only for the data.
WRITE_OVERHEAD: Final = 256

# A write shorter than this is copied into a joined buffer rather than given its own
# iovec entry: for tiny writes one join plus send() beats a many-buffer sendmsg()
# (0.2 ms against 0.7 ms for 10,000 x 64 B with plain sockets, docs/design.rst).
JOIN_BELOW: Final = 16 * 1024
# Bytes handed to one system call, a single write larger than this aside; re-gathering
# after a partial send copies at most this much again.
MAX_SEND: Final = 1024 * 1024
# Pending writes averaging at most this size are joined whole, in one step.
JOIN_AVERAGE: Final = 4096


def _iov_max() -> int:
    try:
        return min(os.sysconf("SC_IOV_MAX"), 1024)
    except (ValueError, OSError):  # pragma: no cover - every POSIX system has it
        return 16


#: Buffers handed to one ``sendmsg``.
IOV_MAX: Final = _iov_max()


class QueuedWrite:
    """One write in a :class:`WriteQueue`: its data until it ends, then its outcome.

    Exactly one of ``_result`` (the byte count, set by a completion) and ``_error`` (set
    by a failure) is ever set, once.
    """

    __slots__ = ("_data", "_error", "_observed", "_result", "_seq")

    _data: bytes
    _seq: int  # given by WriteQueue.push
    _result: int | None
    _error: BaseException | None
    _observed: bool  # a failure someone has seen (awaited or raised by take_unobserved)

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._result = None
        self._error = None
        self._observed = False

    @property
    def done(self) -> bool:
        """True once the write has completed or failed."""
        return self._result is not None or self._error is not None


class WriteQueue:
    """The pending writes of one output stream, in order, and their accounting.

    - :meth:`push` queues a write and gives it the next sequence number; the queue holds
      at most :attr:`max_cost` bytes of *cost*: each write's data plus
      :data:`WRITE_OVERHEAD`, so that many tiny writes are bounded too. :attr:`cost`
      and :attr:`pending_bytes` are kept here and nowhere else.
    - A byte stream asks :meth:`gather` for what to send and reports :meth:`sent`; a
      datagram stream asks :meth:`datagrams` and a TLS stream :meth:`batch`, and both
      report :meth:`complete_before`. A write is completed (with its full size) as soon
      as its last byte was taken, never later, and only the first write can be part
      sent (:attr:`partly_sent`).
    - :meth:`fail_head` and :meth:`fail_all` end writes with an error. A failed write
      is *unobserved* until someone awaits it (:meth:`observe`) or
      :meth:`take_unobserved` hands its error out, so that no failure is lost; both are
      linear in the writes they touch, keyed by sequence number.
    - :meth:`done_before` answers a flush: are all the writes numbered below *seq*
      done?

    Every write ends exactly once, in order of its sequence number except that failures
    end the writes they name at once. Nothing here blocks, awaits or raises on the
    hot path but :meth:`push` (:exc:`BufferError` past the bound).
    """

    __slots__ = (
        "_head_sent",
        "_joined",
        "_joined_sent",
        "_unobserved",
        "_writes",
        "cost",
        "max_cost",
        "next_seq",
        "what",
    )

    def __init__(self, max_cost: int, what: str) -> None:
        #: What the queue belongs to, for the message of :exc:`BufferError`.
        self.what = what
        self._writes: collections.deque[QueuedWrite] = collections.deque()
        #: What the pending writes hold: their data plus WRITE_OVERHEAD for each.
        self.cost = 0
        #: The bound on :attr:`cost` that :meth:`push` enforces.
        self.max_cost = max_cost
        #: The sequence number the next pushed write gets.
        self.next_seq = 0
        # Bytes of the first pending write already sent.
        self._head_sent = 0
        # A join that a partial send left unfinished: the next send goes on from
        # _joined_sent instead of joining the rest again (a fresh connection takes a
        # large join in many pieces while its window opens). Any failure drops it.
        self._joined: bytes | None = None
        self._joined_sent = 0
        # Failed writes nobody has seen fail yet, by sequence number: seeing one is O(1)
        # and seeing n of them (after fail_all() ended n) is O(n).
        self._unobserved: dict[int, QueuedWrite] = {}

    # -- state -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._writes)

    def __bool__(self) -> bool:
        return bool(self._writes)

    @property
    def pending_bytes(self) -> int:
        """The bytes of the pending writes, the part already sent included."""
        return self.cost - len(self._writes) * WRITE_OVERHEAD

    @property
    def partly_sent(self) -> bool:
        """Whether part of the first pending write has been sent (ending it now tears it)."""
        return self._head_sent > 0

    @property
    def has_unobserved(self) -> bool:
        """Whether a failed write is waiting to be seen."""
        return bool(self._unobserved)

    def is_latest(self, write: QueuedWrite) -> bool:
        """Whether *write* is the last one pushed."""
        return write._seq == self.next_seq - 1

    def done_before(self, seq: int) -> bool:
        """Whether every write numbered below *seq* has completed or failed."""
        writes = self._writes
        return not writes or writes[0]._seq >= seq

    # -- writes in -----------------------------------------------------------------------

    def push(self, write: QueuedWrite) -> None:
        """Queue *write* after the others and number it.

        Raises:
            BufferError: the queue would hold more than :attr:`max_cost`; nothing changes.
        """
        cost = self.cost + len(write._data) + WRITE_OVERHEAD
        if cost > self.max_cost:
            raise self._over_bound(len(write._data), cost)
        write._seq = self.next_seq
        self.next_seq += 1
        self._writes.append(write)
        self.cost = cost

    def push_done(self, write: QueuedWrite) -> None:
        """Number *write* and complete it at once, unqueued (an empty write on a byte
        stream, which sends nothing)."""
        write._seq = self.next_seq
        self.next_seq += 1
        write._result = len(write._data)

    def _over_bound(self, size: int, cost: int) -> BufferError:
        count = len(self._writes) + 1
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
        writes = self._writes
        count = len(writes)
        data_bytes = self.cost - count * WRITE_OVERHEAD
        if not self._head_sent and data_bytes <= MAX_SEND and count * JOIN_AVERAGE >= data_bytes:
            if count == 1:
                return [writes[0]._data]
            joined = self._joined = b"".join([write._data for write in writes])
            self._joined_sent = 0
            return [joined]
        return self._gather_iovecs()

    def _gather_iovecs(self) -> list[bytes | memoryview]:
        pieces: list[bytes | memoryview] = []
        small: list[bytes | memoryview] = []
        small_len = 0
        total = 0
        offset = self._head_sent
        for write in self._writes:
            data: bytes | memoryview = write._data
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
                if small:
                    pieces.append(small[0] if len(small) == 1 else b"".join(small))
                    small = []
                    small_len = 0
                pieces.append(data)
            total += size
            if total >= MAX_SEND or len(pieces) >= IOV_MAX - 1:
                break
        if small:
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
        # The per-write hot loop of a batch: completion is inlined.
        writes = self._writes
        pending = len(writes)
        head_sent = self._head_sent
        if count + head_sent == self.cost - pending * WRITE_OVERHEAD:
            # All of it left (a whole batch, the common case): no per-write arithmetic.
            for write in writes:
                write._result = len(write._data)
                write._data = b""
            writes.clear()
            self._head_sent = 0
            self.cost = 0
            return True
        completed = 0
        while count:
            write = writes[0]
            size = len(write._data)
            remaining = size - head_sent
            if count < remaining:
                head_sent += count
                break
            count -= remaining
            head_sent = 0
            writes.popleft()
            completed += size
            write._result = size
            write._data = b""
        self._head_sent = head_sent
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
        long, the equal-size ones that follow it: at most *max_count* datagrams of
        *max_bytes* in all, what one ``sendmsg`` with ``UDP_SEGMENT`` can carry.
        *max_count* 1 gives one datagram. Call only with writes pending.
        """
        writes = self._writes
        first = writes[0]
        size = len(first._data)
        run = [first._data]
        if 0 < size <= max_segment:
            most = min(max_count, max_bytes // size, len(writes))
            while len(run) < most and len(writes[len(run)]._data) == size:
                run.append(writes[len(run)]._data)
        return run, first._seq + len(run)

    def batch(self, max_bytes: int) -> tuple[bytes, int]:
        """The pending writes joined, as many as fit in *max_bytes* (at least one), and
        the sequence number to pass to :meth:`complete_before` once it is sent."""
        writes = self._writes
        first = writes[0]
        total = len(first._data)
        count = 1
        for write in writes:
            if write is first:
                continue
            if total + len(write._data) > max_bytes:
                break
            total += len(write._data)
            count += 1
        if count == 1:
            return first._data, first._seq + 1
        data = b"".join([writes[index]._data for index in range(count)])
        return data, first._seq + count

    def complete_before(self, seq: int) -> bool:
        """Complete, each with its size, the pending writes numbered below *seq* (those
        a failure ended meanwhile are gone already); True if any were."""
        writes = self._writes
        pending = len(writes)
        completed = 0
        while writes and writes[0]._seq < seq:
            write = writes.popleft()
            size = len(write._data)
            completed += size
            write._result = size
            write._data = b""
        if pending == len(writes):
            return False
        self._head_sent = 0
        self.cost -= completed + (pending - len(writes)) * WRITE_OVERHEAD
        return True

    # -- failures --------------------------------------------------------------------------

    def fail_head(self, error: BaseException) -> None:
        """Fail the first pending write with *error* (a datagram the kernel refused)."""
        write = self._writes.popleft()
        self._fail(write, error)
        self._head_sent = 0
        self._joined = None

    def fail_all(self, error: BaseException) -> None:
        """Fail every pending write with *error*: a broken stream, ``cancel_io``, close."""
        writes = self._writes
        while writes:
            self._fail(writes.popleft(), error)
        self._head_sent = 0
        self._joined = None

    def _fail(self, write: QueuedWrite, error: BaseException) -> None:
        self.cost -= len(write._data) + WRITE_OVERHEAD
        write._error = error
        write._data = b""
        self._unobserved[write._seq] = write

    def observe(self, write: QueuedWrite) -> None:
        """Note that *write*'s failure was seen (its awaiter raises it)."""
        if not write._observed:
            write._observed = True
            del self._unobserved[write._seq]

    def take_unobserved(self, before: int) -> BaseException | None:
        """The error of the first failed write numbered below *before* that nobody has
        seen, or None; every such write counts as seen afterwards (one error stands for
        them all, as a flush raises one)."""
        unobserved = self._unobserved
        if not unobserved:
            return None
        seen = [write for seq, write in unobserved.items() if seq < before]
        if not seen:
            return None
        for write in seen:
            write._observed = True
            del unobserved[write._seq]
        return seen[0]._error
