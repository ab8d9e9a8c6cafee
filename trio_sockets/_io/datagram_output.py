"""The output stream of a :class:`~trio_sockets.DatagramSocket`: one write, one datagram.

The queueing, completion and flush rules are those of every output stream
(:class:`~trio_sockets._io.output.BaseOutputStream`). What differs is the sending: each
write leaves as one datagram, never joined with its neighbours, and a failed send fails
only that write -- a datagram stream is not broken by one lost datagram, as a TCP
stream is by a reset. An ICMP error about an *earlier* datagram is not a failure of the
write it meets: Linux hands a connected socket's pending error to its next system
call, a send included, which then sends nothing. Sent again at once, the datagram
goes (or fails with an error of its own), and the earlier error becomes the receive
event a read would have made of it (WinRT reports those through ``MessageReceived``).

Writes pending together still leave together where Linux allows it: a run of
datagrams of one size, the last one maybe shorter, goes to the kernel in one ``sendmsg``
with UDP generic segmentation offload (``udp_gso``), and any other datagram in a
system call of its own.
"""

from __future__ import annotations

import errno
import socket
from typing import Final, Protocol

import trio

from .._core.errors import SocketErrorStatus, socket_error, translate_os_error
from .._core.scheduling import task_step
from .connect import MAX_NAMED, format_sockaddr
from .datagram_addresses import (
    MAX_IPV4_PAYLOAD,
    MAX_IPV6_PAYLOAD,
    names_literals,
    over_ipv4,
    source_ancillary,
    stream_name_key,
)
from .datagram_read import ICMP_ERRNOS
from .output import WRITE_OVERHEAD, BaseOutputStream, NurseryGetter, SocketWriteOperation
from .resolver import SockAddr
from .sockio import prohibited, refused_route
from .udp_gso import (
    GSO_REFUSED,
    GSO_TOO_LARGE,
    OLDER_MAX_SEGMENTS,
    SEGMENT_CAP,
    SegmentFallback,
    send_segmented,
)

__all__ = ["DatagramOutputStream", "StreamCache"]

# Cached output streams beyond this are forgotten, oldest first (the caller's reference
# keeps working); bounds the cache of a server answering many remotes.
STREAM_CACHE_SIZE: Final = 256
# The oldest cached streams one addition looks at (those with writes pending stay): each
# addition forgets one stream and can make up for earlier ones that forgot none.
_LOOKS_PER_ADD: Final = 4


class SendEvents(Protocol):
    """What a datagram output stream tells its socket (its ``DatagramBinding``)."""

    def enable_broadcast(self) -> bool:
        """``EACCES`` over IPv4: turn ``SO_BROADCAST`` on and say True (send again) if
        it was off; False if it was on already (a ``prohibit`` route or a refusal)."""
        ...

    def report_earlier_failure(self, exc: OSError) -> None:
        """A send met *exc*, an ICMP error about an earlier datagram: make it the
        receive event a read would have made of it."""
        ...


class DatagramOutputStream(SegmentFallback, BaseOutputStream):
    """An output stream of a :class:`~trio_sockets.DatagramSocket`: each write is one datagram.

    Returned by :attr:`DatagramSocket.output_stream <trio_sockets.DatagramSocket.output_stream>`
    (to the connected remote) and by :meth:`DatagramSocket.get_output_stream()
    <trio_sockets.DatagramSocket.get_output_stream>` (to the remote given there).

    ``write()`` raises a ``MESSAGE_TOO_LONG`` :class:`~trio_sockets.SocketStatusError`
    at once for a datagram larger than the address family allows (65,507 bytes over
    IPv4, 65,527 over IPv6); nothing is queued and the stream stays usable. A datagram
    the kernel refuses (``EACCES`` from a ``prohibit`` route and ``EINVAL`` from a
    ``blackhole`` route or a source that cannot reach the remote, as
    ``UNREACHABLE_HOST`` saying so, ``ENOBUFS``, ``EMSGSIZE`` with ``dont_fragment``...)
    fails its own :class:`~trio_sockets.WriteOperation` only; later writes go on. An
    ICMP error about an earlier datagram (port unreachable, a router's refusal), which
    Linux hands to the next send of a connected socket, fails no write: it arrives as
    a ``message_received`` event, and the datagram is sent. As for every output stream, a
    failure nobody awaited is raised by the next ``write``, ``flush`` or ``aclose`` --
    not by ``write`` while the caller holds the failed write's operation.
    """

    # A write that finds nothing pending is sent by write() itself (once per task
    # step): an answer written from a receive loop costs no wake-up of the writer.
    _send_in_write = True

    def __init__(
        self,
        sock: socket.socket,
        nursery_getter: NurseryGetter,
        what: str,
        destination: SockAddr | None,
        events: SendEvents,
        *,
        connected_to: SockAddr | None = None,
        source: SockAddr | None = None,
    ) -> None:
        super().__init__(sock, nursery_getter, what)
        self._needs_check = self._guarded = True  # the size limit, eviction
        self._destination = destination
        # The address of this host datagrams leave from, on a socket bound to every
        # address (None: the one routing picks), and its control message.
        self._source = source
        self._ancillary = source_ancillary(source)
        self._over_ipv4 = over_ipv4(destination or connected_to, sock.family)
        self._limit = MAX_IPV4_PAYLOAD if self._over_ipv4 else MAX_IPV6_PAYLOAD
        # Asked on EACCES over IPv4 whether SO_BROADCAST was off (and is on now), so the
        # send is retried, as a broadcast needs it. Otherwise (it was on, or IPv6, which
        # has no broadcast) EACCES is a prohibit route or a router's ICMPv6 refusal.
        self._events = events
        # The cache that forgot this stream, once it has: a write then hands the stream
        # back to it (StreamCache.keep), so that closing the socket reaches it.
        self._evicted_to: StreamCache | None = None
        self._gso = True
        # Segments of this size or larger were refused as over the path MTU.
        self._gso_size_limit = MAX_IPV6_PAYLOAD + 1
        #: System calls made and datagrams sent, for statistics and tests.
        self.send_calls: int = 0
        self.datagrams_sent: int = 0

    @property
    def destination(self) -> SockAddr | None:
        """The socket address datagrams go to; ``None`` for the connected remote."""
        return self._destination

    @property
    def source(self) -> SockAddr | None:
        """The local address datagrams leave from, when the stream was asked for one
        on a socket bound to every address; ``None``: the one routing picks."""
        return self._source

    def __repr__(self) -> str:
        return f"<DatagramOutputStream {self._what}>"

    def write(self, data: bytes | bytearray | memoryview) -> SocketWriteOperation:
        # The first write of a task step that finds nothing pending and nobody sending
        # (an answer written in a receive loop, a lock-step request) goes to the kernel
        # here, never queued: BaseOutputStream.write's checks, queueing, sending and
        # completion, written out for one datagram. Anything else takes that path.
        queue = self._queue
        if (
            type(data) is bytes
            and 0 < len(data) <= self._limit
            and not queue.cost
            and not self._sender_busy
            and not self._failed  # also set when the socket closes (it aborts this)
            and not self._closed
            and self._evicted_to is None
            and len(data) + WRITE_OVERHEAD <= queue.max_cost
        ):
            task = trio.lowlevel.current_task()
            step = task_step(task)
            if step is not None and (task is not self._direct_task or step != self._direct_step):
                self._direct_task = task
                self._direct_step = step
                try:  # _send_one(data), written out: the call is a tenth of this path
                    if self._destination is None:
                        self._sock.send(data)
                    elif self._ancillary:
                        self._sock.sendmsg([data], self._ancillary, 0, self._destination)
                    else:
                        self._sock.sendto(data, self._destination)
                except OSError as exc:
                    return self._write_refused(data, exc)
                self.send_calls += 1
                self.datagrams_sent += 1
                self._kernel_full = False
                seq = queue.next_seq
                queue.next_seq = seq + 1  # written and ended: nothing pending before it
                return self._operation(seq, len(data))
        return super().write(data)

    def _write_refused(self, data: bytes, exc: OSError) -> SocketWriteOperation:
        """write()'s own send of *data* met *exc*: queue it, as it would have been, and
        handle *exc* as a send of the queue's makes it (wait for room, send again...)."""
        queue = self._queue
        seq = queue.push(data)
        op = self._new_operation(seq, len(data))
        if isinstance(exc, BlockingIOError):
            self._kernel_full = True
        else:
            self._kernel_full = not self._recover(exc, [data], seq + 1)
        if queue and not self._sender_busy and not self._writer_woken:
            self._ensure_writer()
        return op

    # -- BaseOutputStream hooks ----------------------------------------------------------

    def _check_writable(self, data: bytes | memoryview) -> None:
        if len(data) > self._limit:
            raise socket_error(
                SocketErrorStatus.MESSAGE_TOO_LONG,
                f"{self._what}: a datagram of {len(data)} bytes is over the limit of "
                f"{self._limit} bytes for this address family",
                errno=errno.EMSGSIZE,
            )
        if self._evicted_to is not None:  # written to after its cache forgot it
            self._evicted_to.keep(self)

    def _send_step(self) -> bool:
        queue = self._queue
        if self._gso:
            max_segment = self._gso_size_limit - 1
            run, end = queue.datagrams(SEGMENT_CAP.segments, self._limit, max_segment)
        else:
            run, end = queue.datagrams(1, self._limit, 0)
        try:
            if len(run) > 1:  # _send_run(run), inlined: this is every queued datagram's path
                send_segmented(self._sock, run, self._destination, self._ancillary)
            else:
                self._send_one(run[0])
        except BlockingIOError:
            return False
        except OSError as exc:
            return self._recover(exc, run, end)
        self.send_calls += 1
        self.datagrams_sent += len(run)
        queue.complete_before(end)
        self._wake()
        return True

    def _recover(self, exc: OSError, run: list[bytes], end: int) -> bool:
        """A send of *run*, the pending writes numbered below *end*, met *exc*: send
        again what may go, fail the write the kernel refused; what ``_send_step`` says."""
        try:
            error = self._send_again(exc, run) if exc.errno in ICMP_ERRNOS else exc
            if error is not None and len(run) > OLDER_MAX_SEGMENTS:
                error, end = self._send_fewer(error, run, end)
            if error is not None and error.errno == errno.EINVAL and len(run) > 1:
                error, end = self._send_first(run, end)
        except BlockingIOError:
            return False
        if error is not None:
            self._handle_error(error, len(run), len(run[0]))
            return True
        self.send_calls += 1
        self.datagrams_sent += len(run)
        self._queue.complete_before(end)
        self._wake()
        return True

    def _observed(self, error: BaseException) -> None:
        if self._evicted_to is not None:  # it may hold this failure as nobody's seen
            self._evicted_to.seen(error)

    # -- for the cache -------------------------------------------------------------------

    def _has_pending(self) -> bool:
        return bool(self._queue)

    def _take_unseen_failure(self) -> BaseException | None:
        """The first write failure nobody has seen, which counts as seen afterwards."""
        queue = self._queue
        return queue.take_unobserved(queue.next_seq)

    # -- sending -------------------------------------------------------------------------

    def _send_run(self, run: list[bytes]) -> None:
        if len(run) > 1:
            send_segmented(self._sock, run, self._destination, self._ancillary)
        else:
            self._send_one(run[0])

    def _send_again(self, exc: OSError, run: list[bytes]) -> OSError | None:
        """Send *run* again after *exc*, an error an ICMP message may have left pending
        for this send: None if it went, else the error to fail it with. *exc* was about
        an earlier datagram (and is reported as such) unless the same error comes back.
        """
        try:
            self._send_run(run)
        except BlockingIOError:
            self._events.report_earlier_failure(exc)
            raise
        except OSError as again:
            if again.errno != exc.errno:
                self._events.report_earlier_failure(exc)
            return again
        self._events.report_earlier_failure(exc)
        return None

    def _send_one(self, data: bytes) -> None:
        if self._destination is None:
            self._sock.send(data)
        elif self._ancillary:
            self._sock.sendmsg([data], self._ancillary, 0, self._destination)
        else:
            self._sock.sendto(data, self._destination)

    def _handle_error(self, exc: OSError, run: int, size: int) -> None:
        # The frame of _send_step holds *exc*, whose traceback (or context's) holds that
        # frame: a cycle that would keep write()'s frame, and the operation in it,
        # alive until the collector runs -- held, as its reference count tells.
        exc.__traceback__ = exc.__context__ = None
        if isinstance(exc, PermissionError):
            if self._over_ipv4 and self._events.enable_broadcast():
                return  # SO_BROADCAST is on now: the next step sends the same datagrams
            exc = prohibited(errno.EACCES, "the datagram")
        elif exc.errno == errno.EINVAL and run == 1:  # not GSO's: _send_first tells
            exc = refused_route(errno.EINVAL, "the datagram")
        if run > 1 and exc.errno in GSO_REFUSED:
            # Sent one by one, each datagram gets the kernel's own answer: fragmented,
            # or EMSGSIZE (with dont_fragment) failing that write alone.
            if exc.errno in GSO_TOO_LARGE:
                self._gso_size_limit = min(self._gso_size_limit, size)
            else:
                self._gso = False
            return  # the next step sends them one by one
        # The datagram was not sent; that write fails and the ones after it go on.
        where = format_sockaddr(self._destination) if self._destination else "the remote"
        error = translate_os_error(exc, f"send a datagram to {where} on {self._what}")
        self._fail_head(error)


class StreamCache:
    """The output streams a socket handed out, one per destination (and local address
    it leaves from, for a stream that names one).

    Also keyed by the (IP literal, decimal port) a stream was asked for, so that
    answering a sender (``get_output_stream(args.remote_address, args.remote_port)``)
    needs no resolving; for an :class:`~trio_sockets.EndpointPair` of literals, by its
    four fields.

    Past :data:`STREAM_CACHE_SIZE` destinations, each new one makes the cache forget
    the oldest stream that has no writes pending (one with writes pending stays, so
    that asking again for its destination keeps its writes in order): asking for a
    forgotten destination again makes a new stream, and the forgotten stream's
    background writer ends. A write failure of the forgotten stream that nobody has
    seen moves to the cache, which keeps the first such failure for closing the
    socket to raise and counts the others (:meth:`take_lost`): the stream no longer
    raises it. The caller may still hold a forgotten stream and write to it; from
    its first write until it is idle again it is kept among the forgotten streams
    that have work, so that ``cancel_io()`` and closing the socket abort, flush and
    raise what it holds as they do for every other stream.

    Every step takes O(1) time, amortized: adding a stream looks at a few of the
    oldest only, and the forgotten streams with work are swept only when they have
    doubled since the last sweep.
    """

    def __init__(self) -> None:
        self._by_target: dict[tuple[SockAddr, SockAddr | None], DatagramOutputStream] = {}
        self._by_name: dict[tuple[object, ...], DatagramOutputStream] = {}
        self._evicted_busy: set[DatagramOutputStream] = set()
        self._sweep_at = STREAM_CACHE_SIZE  # _evicted_busy's size that starts a sweep
        self._lost: BaseException | None = None
        self._lost_more = 0

    def by_name(self, host: object, service: object) -> DatagramOutputStream | None:
        key = stream_name_key(host, service)
        if key is None:
            return None
        stream = self._by_name.get(key)
        if stream is None or stream._evicted_to is not None or stream.closed:
            return None
        return stream

    def get(self, target: SockAddr, source: SockAddr | None = None) -> DatagramOutputStream | None:
        stream = self._by_target.get((target, source))
        return stream if stream is not None and not stream.closed else None

    def add(self, stream: DatagramOutputStream, host: object, service: object) -> None:
        assert stream._destination is not None
        target = (stream._destination, stream._source)
        by_target = self._by_target
        old = by_target.get(target)
        if old is not stream:
            if old is not None:  # a closed stream object: forgotten like the oldest
                del by_target[target]
                self._forget(old)
            elif len(by_target) >= STREAM_CACHE_SIZE:
                self._make_room()
            by_target[target] = stream
        key = stream_name_key(host, service)
        if key is not None and names_literals(key):
            by_name = self._by_name
            if key not in by_name and len(by_name) >= 2 * STREAM_CACHE_SIZE:
                # The oldest name goes; one whose stream is still cached is added back
                # the next time it is asked for (after resolving the literal).
                del by_name[next(iter(by_name))]
            by_name[key] = stream

    def keep(self, stream: DatagramOutputStream) -> None:
        """Reach *stream*, which this cache forgot, when the socket closes or cancels:
        it is being written to."""
        busy = self._evicted_busy
        if stream not in busy:
            if len(busy) >= self._sweep_at:
                self._sweep()
            busy.add(stream)

    @staticmethod
    def first_noting_the_others(failures: list[BaseException]) -> BaseException:
        """The failure closing a socket raises: the first of *failures* (each of another
        output stream, nobody has seen them), with a note naming the others -- the first
        :data:`MAX_NAMED` of them, the rest counted -- so that none is lost and ``except
        OSError`` still catches it."""
        first = failures[0]
        others = failures[1:]
        if others:
            named = "; ".join(str(error) for error in others[:MAX_NAMED])
            if len(others) > MAX_NAMED:
                named += f"; and {len(others) - MAX_NAMED} more"
            first.add_note(
                f"{len(others)} more output streams of this socket had write failures "
                f"nobody saw: {named}"
            )
        return first

    def seen(self, error: BaseException) -> None:
        """The caller has seen *error*, the failure of a write of a stream this cache
        forgot, by awaiting its operation: closing the socket does not raise it again.
        Unless it stands for other forgotten streams' failures, which only it reports."""
        if error is self._lost and not self._lost_more:
            self._lost = None

    def take_lost(self) -> list[BaseException]:
        """The first write failure nobody had seen of the streams this cache forgot,
        with a note counting the other forgotten streams that had one, in a list; an
        empty list if none. For closing the socket, which raises it."""
        error, self._lost = self._lost, None
        if error is None:
            return []
        if self._lost_more:
            error.add_note(
                f"{self._lost_more} more output streams of this socket had write failures "
                f"nobody saw when it forgot them (past {STREAM_CACHE_SIZE} destinations); "
                "this is the first of those failures"
            )
            self._lost_more = 0
        return [error]

    def all(self) -> list[DatagramOutputStream]:
        """Every stream with a destination that may hold work: cached or evicted."""
        return [*self._by_target.values(), *self._evicted_busy]

    def _make_room(self) -> None:
        by_target = self._by_target
        for _ in range(_LOOKS_PER_ADD):
            if len(by_target) < STREAM_CACHE_SIZE:
                return
            target = next(iter(by_target))
            stream = by_target.pop(target)
            if stream._has_pending():
                by_target[target] = stream  # the newest now: it is sent in the meantime
            else:
                self._forget(stream)
        # Every stream looked at had writes pending: the cache holds one more for now,
        # and later additions, looking at several each, bring it back under the bound.

    def _forget(self, stream: DatagramOutputStream) -> None:
        stream._evicted_to = self
        self._lose(stream)
        stream.end_writer()

    def _sweep(self) -> None:
        """Let go of the forgotten streams that have no writes pending any more."""
        busy = self._evicted_busy
        for stream in [stream for stream in busy if not stream._has_pending()]:
            busy.discard(stream)
            self._lose(stream)
            stream.end_writer()
        self._sweep_at = max(STREAM_CACHE_SIZE, 2 * len(busy))

    def _lose(self, stream: DatagramOutputStream) -> None:
        error = stream._take_unseen_failure()
        if error is None:
            return
        if self._lost is None:
            self._lost = error
        else:
            self._lost_more += 1
