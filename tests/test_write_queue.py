"""The write queue on its own: no sockets, no trio.

A hypothesis state machine plays the part of the output drivers -- writes, sends that
take any part of what was offered, send errors, ``cancel_io``, flush targets, awaits
that observe failures, handles kept by a caller or dropped, flushes that wait side by
side, end or are cancelled, writes taken back by a cancelled ``send_all`` -- against a
model, and checks after every step that what went "on the wire" is exactly the
completed writes in order, that the accounting matches, that every write ends exactly
once, that every handle the queue was given carries its own write's failure and no
other, that every flush raises the first failure among its writes that was unseen when
it began or came while it waited, that a write is taken back exactly when none of its
bytes has left (nor is held by a send under way) and then sends nothing and never
fails, that gathered buffers stay within the limits, and that a run of datagrams is as
long as one segmentation-offload send can carry (one size, the last maybe shorter).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from trio_sockets._core.write_queue import (
    IOV_MAX,
    JOIN_AVERAGE,
    JOIN_BELOW,
    MAX_SEND,
    WRITE_OVERHEAD,
    FlushWait,
    QueuedWrite,
    WriteQueue,
)


def payload(seq: int, size: int) -> bytes:
    """Bytes that tell writes apart, so that a reordering shows."""
    return (seq.to_bytes(4, "big") * (size // 4 + 1))[:size]


SIZES = st.one_of(
    st.integers(0, 300),
    st.integers(301, 5000),
    st.sampled_from([JOIN_BELOW - 1, JOIN_BELOW, JOIN_BELOW + 1, 200_000]),
    st.just(MAX_SEND + 7),
)


@dataclass
class Entry:
    seq: int
    data: bytes
    handle: QueuedWrite | None = None  # kept by the "caller"; told of failures
    sent: int = 0  # bytes of it on the wire
    ended: str = ""  # "", "done" or "failed"
    error: BaseException | None = None
    observed: bool = False
    retracted: bool = False  # taken back (retract): it sends nothing

    @property
    def queued(self) -> bytes:
        """What the queue is to send of it."""
        return b"" if self.retracted else self.data


def push(queue: WriteQueue, entries: list[Entry], data: bytes, keep_last: bool) -> Entry:
    """Push *data* as a driver does: the new write's handle becomes the queue's latest,
    and the one before it is held if its caller kept it (*keep_last*), dropped if not."""
    seq = queue.push(data)
    entry = Entry(seq, data, QueuedWrite(seq, len(data)))
    if queue.latest is not None and not keep_last:
        for earlier in entries:
            if earlier.handle is queue.latest:
                earlier.handle = None  # dropped: nobody can ask about it
    elif queue.latest is not None:
        queue.hold(queue.latest)
    queue.latest = entry.handle
    entries.append(entry)
    return entry


def run_length(sizes: list[int], max_count: int, max_bytes: int, max_segment: int) -> int:
    """How many of the pending datagrams of *sizes* one GSO send takes, as the kernel
    allows: the first, and if it is not empty and at most *max_segment* long, those of
    its size after it and then at most one shorter, non-empty one, within *max_count*
    datagrams and *max_bytes* bytes."""
    size = sizes[0]
    if not 0 < size <= max_segment:
        return 1
    count, total = 1, size
    for nxt in sizes[1:]:
        if count == max_count or total + nxt > max_bytes or not 0 < nxt <= size:
            break
        count, total = count + 1, total + nxt
        if nxt < size:  # a shorter one ends the run
            break
    return count


def check_handles(queue: WriteQueue, entries: list[Entry]) -> None:
    """Each write that has a handle: ended as the model says, failed with its own error."""
    for entry in entries:
        assert queue.ended(entry.seq) == bool(entry.ended)
        if entry.handle is None:
            continue
        assert entry.handle._seq == entry.seq
        assert entry.handle._nbytes == len(entry.data)
        if entry.ended == "failed":
            assert entry.handle._error is entry.error is not None
        else:
            assert entry.handle._error is None


@dataclass
class Model:
    entries: list[Entry] = field(default_factory=list)
    wire: bytearray = field(default_factory=bytearray)
    flush_targets: list[int] = field(default_factory=list)
    #: Flushes waiting, each with the failure it is to raise (None: none so far).
    flushes: list[tuple[FlushWait, BaseException | None]] = field(default_factory=list)

    def pending(self) -> list[Entry]:
        return [entry for entry in self.entries if not entry.ended]

    def end_retracted_first(self) -> int:
        """End the writes taken back that are first now (they have nothing to send); how
        many."""
        ended = 0
        for entry in self.pending():
            if not entry.retracted:
                break
            entry.ended = "done"
            ended += 1
        return ended


class ByteStreamQueue(RuleBasedStateMachine):
    """A TCP stream's use: push, gather + sent(n), fail_all, observe, flush targets."""

    def __init__(self) -> None:
        super().__init__()
        self.queue = WriteQueue(0, "the stream")
        self.model = Model()
        self.offered: bytes | None = None

    @initialize(max_cost=st.sampled_from([3 * WRITE_OVERHEAD + 600, 1 << 20, 8 << 20]))
    def start(self, max_cost: int) -> None:
        self.queue.max_cost = max_cost

    @rule(size=SIZES, keep_last=st.booleans())
    def write(self, size: int, keep_last: bool) -> None:
        queue = self.queue
        data = payload(queue.next_seq, size)
        if not data:
            return  # an empty write on a byte stream is done at once, never queued
        before = (queue.cost, len(queue), queue.next_seq)
        if queue.cost + size + WRITE_OVERHEAD > queue.max_cost:
            # A write that could never fit says so; one that could later says to wait.
            alone = size + WRITE_OVERHEAD > queue.max_cost
            said = f"a write of {size} bytes can never fit" if alone else f"writing {size} bytes"
            with pytest.raises(BufferError, match=rf"the stream: {said}"):
                queue.push(data)
            assert (queue.cost, len(queue), queue.next_seq) == before
            return
        entry = push(queue, self.model.entries, data, keep_last)
        assert entry.seq == before[2]

    @precondition(lambda self: bool(self.queue))
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        pieces = self.queue.gather()
        assert 1 <= len(pieces) <= IOV_MAX
        assert all(pieces)
        # Whole pieces past MAX_SEND are never added: only the last may cross it.
        assert sum(map(len, pieces[:-1])) < MAX_SEND
        offered = b"".join(pieces)
        # What is offered starts at the first unsent byte, in write order.
        unsent = b"".join(entry.queued[entry.sent :] for entry in self.model.pending())
        assert unsent.startswith(offered)
        assert self.queue.unsent_bytes == len(unsent)
        count = data.draw(st.integers(0, len(offered)), label="sent")
        self.take(offered, count)

    def take(self, offered: bytes, count: int) -> None:
        completed_any = self.queue.sent(count)
        self.model.wire += offered[:count]
        left = count
        finished = 0
        for entry in self.model.pending():
            if not left:
                break
            step = min(left, len(entry.queued) - entry.sent)
            entry.sent += step
            left -= step
            if entry.sent == len(entry.queued):
                entry.ended = "done"
                finished += 1
        finished += self.model.end_retracted_first()
        assert completed_any == (finished > 0)

    @rule(status=st.sampled_from(["reset", "cancel_io()", "closed"]))
    def fail_all(self, status: str) -> None:
        error = OSError(status)
        self.queue.fail_all(error)
        failed = [entry for entry in self.model.pending() if not entry.retracted]
        for entry in self.model.pending():  # those taken back end without failing
            entry.ended = "done" if entry.retracted else "failed"
            entry.error = None if entry.retracted else error
        self.model.flushes = [
            (flush, expected or (error if failed and failed[0].seq < flush.target else None))
            for flush, expected in self.model.flushes
        ]
        assert not self.queue
        assert self.queue.cost == 0
        assert not self.queue.partly_sent

    @precondition(lambda self: bool(self.model.entries))
    @rule(data=st.data())
    def retract(self, data: st.DataObject) -> None:
        """A ``send_all`` is cancelled: its write is taken back unless part of it has
        left or is held by a send under way (TLS: *sending* bytes past those sent)."""
        pending = self.model.pending()
        # Mostly a pending write; sometimes one that has ended (nothing to take back).
        among = pending if pending and data.draw(st.integers(0, 3), label="pending") else None
        entry = data.draw(st.sampled_from(among or self.model.entries), label="cancelled")
        unsent = self.queue.unsent_bytes
        sending = data.draw(st.one_of(st.just(0), st.integers(0, unsent)), label="sending")
        if entry in pending:
            before = pending[: pending.index(entry)]
            offset = sum(len(e.queued) for e in before)  # where it starts
            started = pending[0].sent + sending
            expected = not entry.retracted and offset >= started
        else:
            expected = False
        handle = entry.handle or QueuedWrite(entry.seq, len(entry.data))
        cost = self.queue.cost
        assert self.queue.retract(handle, sending) == expected
        if not expected:
            assert self.queue.cost == cost
            return
        entry.retracted = True
        ended = self.model.end_retracted_first()  # it was first: it ends, and those after
        assert self.queue.cost == cost - len(entry.data) - ended * WRITE_OVERHEAD

    @rule()
    def mark_flush(self) -> None:
        self.model.flush_targets.append(self.queue.next_seq)

    @rule()
    def begin_flush(self) -> None:
        flush = self.queue.begin_flush()
        assert flush.target == self.queue.next_seq
        unseen = [e for e in self.model.entries if e.ended == "failed" and not e.observed]
        self.model.flushes.append((flush, unseen[0].error if unseen else None))

    @precondition(lambda self: bool(self.model.flushes))
    @rule(data=st.data(), cancelled=st.booleans())
    def end_flush(self, data: st.DataObject, cancelled: bool) -> None:
        """A waiting flush ends: cancelled at any time, or once its writes have ended, when
        it raises its failure and every failure it covers counts as seen."""
        index = data.draw(st.integers(0, len(self.model.flushes) - 1), label="flush")
        flush, expected = self.model.flushes[index]
        if not cancelled and not self.queue.done_before(flush.target):
            return
        del self.model.flushes[index]
        if cancelled:
            assert self.queue.end_flush(flush, done=False) is None
            return
        assert self.queue.end_flush(flush) is expected
        for entry in self.model.entries:
            if entry.ended == "failed" and entry.seq < flush.target:
                entry.observed = True

    @precondition(
        lambda self: any(e.ended == "failed" and not e.observed for e in self.model.entries)
    )
    @rule(data=st.data())
    def await_failed(self, data: st.DataObject) -> None:
        failed = [e for e in self.model.entries if e.ended == "failed" and not e.observed]
        entry = data.draw(st.sampled_from(failed), label="awaited")
        self.queue.observe(entry.seq)
        self.queue.observe(entry.seq)  # awaiting twice sees it once
        entry.observed = True

    @rule(data=st.data())
    def take_unobserved(self, data: st.DataObject) -> None:
        before = data.draw(st.integers(0, self.queue.next_seq), label="before")
        unseen = [
            e
            for e in self.model.entries
            if e.ended == "failed" and not e.observed and e.seq < before
        ]
        error = self.queue.take_unobserved(before)
        if not unseen:
            assert error is None
            return
        assert error is unseen[0].error
        for entry in unseen:
            entry.observed = True

    @invariant()
    def wire_is_the_completed_writes_in_order(self) -> None:
        # Each write contributes all of its bytes if it completed; a failed write only
        # what was sent before it failed (a torn write: the driver breaks the stream).
        expected = b"".join(
            entry.queued if entry.ended == "done" else entry.queued[: entry.sent]
            for entry in self.model.entries
        )
        assert bytes(self.model.wire) == expected
        torn = [e for e in self.model.entries if e.ended == "failed" and e.sent]
        for entry in torn:  # only ever the first pending write when it failed
            assert 0 < entry.sent < len(entry.data)

    @invariant()
    def each_write_ends_once_with_its_outcome(self) -> None:
        check_handles(self.queue, self.model.entries)

    @invariant()
    def completions_are_in_order(self) -> None:
        seen_pending = False
        for entry in self.model.entries:
            if not entry.ended:
                seen_pending = True
            elif entry.ended == "done" and entry.data:
                assert not seen_pending

    @invariant()
    def accounting(self) -> None:
        pending = self.model.pending()
        queue = self.queue
        assert len(queue) == len(pending)
        assert queue.pending_bytes == sum(len(e.queued) for e in pending)
        assert queue.cost == queue.pending_bytes + len(pending) * WRITE_OVERHEAD
        assert queue.cost <= queue.max_cost
        assert not (pending and pending[0].retracted)  # the first write is one to send
        assert all(e.sent == 0 for e in self.model.entries if e.retracted)
        assert queue.partly_sent == bool(pending and pending[0].sent)
        assert all(e.sent == 0 for e in pending[1:])
        unseen = [e for e in self.model.entries if e.ended == "failed" and not e.observed]
        assert queue.has_unobserved == bool(unseen)

    @invariant()
    def flush_targets(self) -> None:
        for target in self.model.flush_targets:
            done = all(e.ended for e in self.model.entries if e.seq < target)
            assert self.queue.done_before(target) == done


class MessageQueue(RuleBasedStateMachine):
    """A datagram or TLS stream's use: runs of datagrams and batches, each completed
    whole (or failed) once sent, with fail_head and fail_all between."""

    def __init__(self) -> None:
        super().__init__()
        self.queue = WriteQueue(1 << 20, "the datagram stream")
        self.model = Model()
        self.in_flight: tuple[list[Entry], int] | None = None

    @rule(
        size=st.one_of(st.sampled_from([0, 50, 100, 1200]), st.integers(0, 3000)),
        keep_last=st.booleans(),
    )
    def write(self, size: int, keep_last: bool) -> None:
        queue = self.queue
        data = payload(queue.next_seq, size)
        if queue.cost + size + WRITE_OVERHEAD > queue.max_cost:
            with pytest.raises(BufferError):
                queue.push(data)
            return
        push(queue, self.model.entries, data, keep_last)

    def _pending(self) -> list[Entry]:
        return [entry for entry in self.model.entries if not entry.ended]

    @precondition(lambda self: bool(self.queue) and self.in_flight is None)
    @rule(
        max_count=st.integers(1, 8),
        max_bytes=st.one_of(st.integers(0, 10_000), st.sampled_from([250, 350])),
        max_segment=st.sampled_from([0, 99, 100, 1500, 65535]),
    )
    def datagrams(self, max_count: int, max_bytes: int, max_segment: int) -> None:
        run, end = self.queue.datagrams(max_count, max_bytes, max_segment)
        pending = self._pending()
        assert 1 <= len(run) <= max(1, max_count)
        assert run == [entry.data for entry in pending[: len(run)]]  # one write, one datagram
        if len(run) > 1:  # what one UDP_SEGMENT send carries: one size, the last shorter
            assert 0 < len(run[0]) <= max_segment
            assert all(len(data) == len(run[0]) for data in run[:-1])
            assert 0 < len(run[-1]) <= len(run[0])
            assert sum(map(len, run)) <= max_bytes
        # ...and as many as it can carry.
        sizes = [len(entry.data) for entry in pending]
        assert len(run) == run_length(sizes, max_count, max_bytes, max_segment)
        assert end == pending[len(run) - 1].seq + 1
        self.in_flight = (pending[: len(run)], end)

    @precondition(lambda self: self.in_flight is not None)
    @rule()
    def sent(self) -> None:
        assert self.in_flight is not None
        taken, end = self.in_flight
        self.in_flight = None
        live = [entry for entry in taken if not entry.ended]
        assert self.queue.complete_before(end) == bool(live)
        for entry in live:
            entry.ended = "done"
            self.model.wire += entry.data

    @precondition(lambda self: bool(self.queue))
    @rule()
    def refused(self) -> None:
        # The kernel refused the first datagram: it alone fails.
        error = OSError("refused")
        self.queue.fail_head(error)
        entry = self._pending()[0]
        entry.ended = "failed"
        entry.error = error
        self.in_flight = None

    @rule()
    def closed_meanwhile(self) -> None:
        # A close while a batch is in flight: the writes fail, the batch's end later
        # completes nothing.
        error = OSError("closed")
        self.queue.fail_all(error)
        for entry in self._pending():
            entry.ended = "failed"
            entry.error = error

    @invariant()
    def wire_and_accounting(self) -> None:
        done = [entry.data for entry in self.model.entries if entry.ended == "done"]
        assert bytes(self.model.wire) == b"".join(done)
        pending = self._pending()
        assert len(self.queue) == len(pending)
        assert self.queue.pending_bytes == sum(len(e.data) for e in pending)
        assert self.queue.cost == self.queue.pending_bytes + WRITE_OVERHEAD * len(pending)
        check_handles(self.queue, self.model.entries)


_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestByteStreamQueue = ByteStreamQueue.TestCase
TestByteStreamQueue.settings = _SETTINGS
TestMessageQueue = MessageQueue.TestCase
TestMessageQueue.settings = _SETTINGS


# -- the gather policy, case by case ---------------------------------------------------


def queue_of(*sizes: int, max_cost: int = 1 << 30) -> tuple[WriteQueue, list[bytes]]:
    queue = WriteQueue(max_cost, "q")
    writes = []
    for size in sizes:
        data = payload(queue.next_seq, size)
        queue.push(data)
        writes.append(data)
    return queue, writes


def test_a_lone_write_is_sent_from_its_own_buffer() -> None:
    queue, writes = queue_of(100_000)
    assert queue.gather()[0] is writes[0]


def test_small_writes_leave_as_one_join_continued_after_a_partial_send() -> None:
    queue, writes = queue_of(*[64] * 1000)
    [joined] = queue.gather()
    assert joined == b"".join(writes)
    assert queue.sent(100)  # the first write is out, the second torn
    assert queue.unsent_bytes == 64 * 1000 - 100
    assert queue.ended(0)
    assert not queue.ended(1)
    assert queue.partly_sent
    [rest] = queue.gather()
    assert isinstance(rest, memoryview)
    assert rest.obj is joined
    assert bytes(rest) == joined[100:]
    assert queue.sent(len(rest))
    assert queue.done_before(1000)
    assert queue.first_seq == 1000
    assert not queue
    assert queue.cost == 0
    assert not queue.partly_sent


def test_a_failure_drops_the_join() -> None:
    queue, _ = queue_of(64, 64)
    queue.gather()
    queue.sent(10)
    queue.fail_all(OSError("reset"))
    queue.push(b"new")
    assert queue.gather() == [b"new"]


def test_large_writes_get_their_own_iovec_and_small_ones_between_are_joined() -> None:
    queue, writes = queue_of(JOIN_BELOW, 10, 20, JOIN_BELOW + 1, 5)
    pieces = queue.gather()
    assert [len(piece) for piece in pieces] == [JOIN_BELOW, 30, JOIN_BELOW + 1, 5]
    assert pieces[0] is writes[0]
    assert pieces[2] is writes[3]


def test_small_writes_are_joined_in_runs_of_join_below() -> None:
    size = JOIN_BELOW // 4
    queue, _ = queue_of(JOIN_BELOW, *[size] * 9)
    assert [len(p) for p in queue.gather()] == [JOIN_BELOW, 4 * size, 4 * size, size]


def test_the_join_threshold_is_the_average_size() -> None:
    count = 10
    joined, _ = queue_of(*[JOIN_AVERAGE] * count)
    assert len(joined.gather()) == 1
    iovecs, _ = queue_of(*[JOIN_AVERAGE + 1] * count)
    # Joined in runs of at least JOIN_BELOW instead: 4 + 4 + 2 writes.
    assert [len(piece) for piece in iovecs.gather()] == [4 * (JOIN_AVERAGE + 1)] * 2 + [
        2 * (JOIN_AVERAGE + 1)
    ]


def test_one_sendmsg_takes_at_most_iov_max_buffers() -> None:
    queue, _ = queue_of(*[JOIN_BELOW] * (IOV_MAX + 10), max_cost=1 << 40)
    pieces = queue.gather()
    assert len(pieces) == min(IOV_MAX - 1, MAX_SEND // JOIN_BELOW)


def test_gathering_stops_at_max_send() -> None:
    queue, _ = queue_of(*[MAX_SEND // 2] * 5)
    assert sum(map(len, queue.gather())) == MAX_SEND


def test_a_partly_sent_write_is_gathered_from_its_first_unsent_byte() -> None:
    queue, writes = queue_of(100_000, 100_000)
    queue.gather()
    assert not queue.sent(1000)
    pieces = queue.gather()
    assert isinstance(pieces[0], memoryview)
    assert bytes(pieces[0]) == writes[0][1000:]
    assert queue.pending_bytes == 200_000  # the part sent still counts until it completes


def test_the_bound_counts_the_overhead_of_each_write() -> None:
    queue = WriteQueue(2 * WRITE_OVERHEAD + 1, "the stream of x")
    queue.push(b"a")
    queue.push(b"")
    with pytest.raises(BufferError, match="the stream of x: writing 0 bytes would leave 3 writes"):
        queue.push(b"")
    assert len(queue) == 2
    assert queue.cost == 2 * WRITE_OVERHEAD + 1
    assert queue.next_seq == 2


def test_held_handles_are_told_of_their_own_failure_and_let_go_once_ended() -> None:
    queue = WriteQueue(1 << 20, "q")
    handles = []
    for seq in range(4):
        assert queue.push(b"x" * 10) == seq
        handles.append(QueuedWrite(seq, 10))
        if queue.latest is not None:
            queue.hold(queue.latest)
        queue.latest = handles[-1]
    queue.gather()
    assert queue.sent(10)  # write 0 completes
    error = OSError("refused")
    queue.fail_head(error)  # write 1 fails alone
    assert handles[0]._error is None
    assert handles[1]._error is error
    later = OSError("reset")
    queue.fail_all(later)
    assert [h._error for h in handles] == [None, error, later, later]
    assert not queue._held  # every held write has ended
    queue.push(b"y")
    queue.hold(QueuedWrite(4, 1))
    queue.gather()
    queue.sent(1)
    queue.push(b"z")
    queue.hold(QueuedWrite(5, 1))  # drops the handle of write 4, which completed
    assert [h._seq for h in queue._held] == [5]


def test_a_datagram_run_is_of_one_size_and_may_end_with_one_shorter() -> None:
    queue, _ = queue_of(100, 100, 100, 50, 100)
    run, end = queue.datagrams(8, 10_000, 1500)
    assert [len(d) for d in run] == [100, 100, 100, 50]  # the kernel cuts the last short
    assert end == 4
    assert queue.datagrams(2, 10_000, 1500)[0] == run[:2]
    assert queue.datagrams(3, 10_000, 1500)[0] == run[:3]  # max_count leaves no room
    assert queue.datagrams(4, 10_000, 1500)[0] == run
    assert queue.datagrams(8, 250, 1500)[0] == run[:2]  # max_bytes
    assert queue.datagrams(8, 349, 1500)[0] == run[:3]  # the shorter one does not fit
    assert queue.datagrams(8, 350, 1500)[0] == run  # it fits after the equal ones
    assert queue.datagrams(8, 10_000, 99)[0] == run[:1]  # over max_segment: alone
    assert queue.complete_before(end)
    assert [len(d) for d in queue.datagrams(8, 10_000, 1500)[0]] == [100]


@pytest.mark.parametrize(
    ("sizes", "taken"),
    [
        ((100, 100, 50, 50), [100, 100, 50]),  # one shorter at most: it ends the run
        ((100, 50, 100), [100, 50]),
        ((100, 100, 101), [100, 100]),  # never a longer one
        ((100, 100, 0, 100), [100, 100]),  # never an empty one
        ((100, 1), [100, 1]),
        ((50, 100), [50]),
    ],
)
def test_what_ends_a_datagram_run(sizes: tuple[int, ...], taken: list[int]) -> None:
    queue, _ = queue_of(*sizes)
    assert [len(d) for d in queue.datagrams(128, 65507, 65527)[0]] == taken


def test_empty_datagrams_go_one_by_one() -> None:
    queue, _ = queue_of(0, 0)
    assert queue.datagrams(8, 10_000, 1500) == ([b""], 1)


def test_seeing_many_failures_is_linear_and_one_error_stands_for_all() -> None:
    queue, _ = queue_of(*[1] * 100_000)
    error = OSError("cancel_io()")
    queue.fail_all(error)
    for seq in range(50_000):
        queue.observe(seq)
    assert queue.take_unobserved(before=0) is None
    assert queue.take_unobserved(before=queue.next_seq) is error
    assert not queue.has_unobserved
    assert queue.take_unobserved(before=queue.next_seq) is None


def test_a_failure_whose_handle_was_held_is_claimed_and_left_to_flushes() -> None:
    """The failure of a write whose handle someone held at the write after it (held
    by the queue) or holds now (the latest, claimed by the stream) is claimed: taking
    the unclaimed ones leaves it for its awaiter, a flush or a close, unless it is the
    same error as one taken (a broken stream fails its writes with one)."""
    queue = WriteQueue(1 << 20, "q")
    handles = []
    for seq in range(4):
        queue.push(b"x")
        handles.append(QueuedWrite(seq, 1))
        if seq == 1:
            queue.hold(handles[1])  # held at the write after it; the others are not
    refused = [OSError(f"refused {seq}") for seq in range(4)]
    queue.latest = handles[3]
    for error in refused:
        queue.fail_head(error)
    queue.claim_latest()  # the stream found the latest held
    assert queue.take_unobserved(queue.next_seq, claimed=False) is refused[0]
    assert queue.take_unobserved(queue.next_seq, claimed=False) is None  # 1, 3 claimed
    assert queue.has_unobserved  # writes 1 and 3: for their awaiters or a flush
    assert queue.begin_flush().error is refused[1]
    queue.observe(1)
    assert queue.take_unobserved(queue.next_seq) is refused[3]
    assert not queue.has_unobserved
    queue.push(b"y")
    queue.push(b"z")
    queue.hold(QueuedWrite(4, 1))
    reset = OSError("reset")
    queue.fail_all(reset)
    assert queue.take_unobserved(queue.next_seq, claimed=False) is reset
    assert not queue.has_unobserved  # write 4's, claimed, is the same error


def test_a_claim_ends_when_its_handle_is_let_go() -> None:
    """A claim lasts while its handle lives: once the caller lets the handle go
    unawaited, its failure is unclaimed, for the next write to raise (claims would
    otherwise pile up for a caller that keeps only its latest operation)."""
    queue: WriteQueue[QueuedWrite] = WriteQueue(1 << 20, "q")
    queue.push(b"x")
    handle = QueuedWrite(0, 1)
    queue.latest = handle
    refused = OSError("refused")
    queue.fail_head(refused)
    queue.claim_latest()
    assert queue.take_unobserved(queue.next_seq, claimed=False) is None
    queue.latest = None
    del handle
    assert queue.take_unobserved(queue.next_seq, claimed=False) is refused
    assert not queue.has_unobserved


# -- writes taken back (a cancelled send_all) -------------------------------------------


def test_a_write_is_taken_back_only_while_none_of_it_has_left() -> None:
    queue, _ = queue_of(100, 100)
    queue.gather()
    queue.sent(1)
    assert not queue.retract(QueuedWrite(0, 100))  # partly sent
    # A send under way (TLS) holds the first write's other 99 bytes and one more.
    assert not queue.retract(QueuedWrite(1, 100), sending=100)
    assert queue.retract(QueuedWrite(1, 100), sending=99)
    assert not queue.retract(QueuedWrite(1, 100))  # taken back already
    assert queue.pending_bytes == 100
    assert queue.sent(99)  # the first write completes, and the one taken back ends
    assert not queue
    assert queue.cost == 0
    assert not queue.retract(QueuedWrite(1, 100))  # ended


def test_a_write_taken_back_leaves_a_join_under_way_without_its_bytes() -> None:
    queue, writes = queue_of(64, 64, 64)
    [joined] = queue.gather()
    assert len(joined) == 3 * 64
    queue.sent(100)  # the first write is out, the second torn
    assert queue.retract(QueuedWrite(2, 64))
    assert queue.gather() == [writes[1][36:]]
    assert queue.sent(28)
    assert queue.done_before(3)
    assert queue.cost == 0


def test_a_write_taken_back_first_ends_at_once() -> None:
    queue, writes = queue_of(10, 20, 30)
    assert queue.retract(QueuedWrite(1, 20))
    assert queue.retract(QueuedWrite(0, 10))  # first: it ends, and write 1 after it
    assert queue.first_seq == 2
    assert queue.gather() == [writes[2]]
    assert queue.cost == 30 + WRITE_OVERHEAD


def test_a_write_taken_back_never_fails_nor_is_its_handle_told() -> None:
    queue = WriteQueue(1 << 20, "q")
    handles = []
    for seq in range(3):
        queue.push(b"x" * 10)
        if queue.latest is not None:
            queue.hold(queue.latest)
        handles.append(QueuedWrite(seq, 10))
        queue.latest = handles[-1]
    queue.gather()
    queue.sent(5)
    assert queue.retract(handles[1])  # held: let go
    error = OSError("reset")
    queue.fail_all(error)
    assert [h._error for h in handles] == [error, None, error]
    queue.observe(0)
    queue.observe(2)
    assert not queue.has_unobserved  # nothing left for a later flush to raise again
    assert queue.take_unobserved(queue.next_seq) is None


def test_gathering_leaves_out_writes_taken_back_between_large_ones() -> None:
    queue, writes = queue_of(JOIN_BELOW, 10, JOIN_BELOW, 10)
    assert queue.retract(QueuedWrite(1, 10))
    assert queue.retract(QueuedWrite(3, 10))
    assert queue.gather() == [writes[0], writes[2]]  # no empty buffer
