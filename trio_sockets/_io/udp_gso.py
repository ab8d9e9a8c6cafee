"""UDP generic segmentation offload (GSO): a run of datagrams in one ``sendmsg``.

A datagram output stream hands a run of its pending datagrams to the kernel in one
``sendmsg`` whose ``UDP_SEGMENT`` control message gives the segment size, the size of
the run's first datagram. The kernel cuts the payload back into datagrams of that size,
the last one shorter if the payload ends short of a whole segment, so the receiver sees
every boundary. A run is therefore datagrams of one size, ended by at most one shorter,
non-empty datagram (:meth:`WriteQueue.datagrams
<trio_sockets._core.write_queue.WriteQueue.datagrams>`): at most
:attr:`SegmentCap.segments` of them and 65,507 bytes in all over IPv4 (65,527 over
IPv6). Python has no ``sendmmsg``, so any other datagram goes in a system call of its own.

A kernel that refuses (``EIO``: the device cannot checksum the segments; ``ENOPROTOOPT``:
no GSO at all; ``EMSGSIZE`` on current kernels, ``EINVAL`` on older ones: a segment
larger than the path MTU, which the kernel fragments when it is sent alone) gets one
send per datagram instead, and the stream remembers that. ``EINVAL`` is also routing's
answer to every datagram (a ``blackhole`` route, a loopback source toward another
interface): a run refused with it has its first datagram sent alone before anything
is concluded, and only if that one goes are the segments taken to be at fault.

The kernel's limit on the segments of one send, ``UDP_MAX_SEGMENTS``, is 128 on Linux
6.9 and later and on the stable kernels that took that change, 64 before; more fail
with ``EINVAL``. Streams hand the kernel up to 128. A run of more than 64 refused with
``EINVAL`` is sent again as its first 64: if those go, the kernel takes 64, and every
stream of the process hands it at most 64 from then on (:data:`SEGMENT_CAP`); if they
are refused too, ``EINVAL`` had another cause, which is handled as such.
"""

from __future__ import annotations

import abc
import errno
import socket
import struct
from collections.abc import Callable
from typing import Final

from .._core.linux import SOL_UDP, UDP_SEGMENT
from .datagram_read import ICMP_ERRNOS
from .resolver import SockAddr

__all__ = [
    "GSO_REFUSED",
    "GSO_TOO_LARGE",
    "MAX_SEGMENTS",
    "OLDER_MAX_SEGMENTS",
    "SEGMENT_CAP",
    "SegmentCap",
    "SegmentFallback",
    "send_segmented",
]

#: Datagrams one GSO send may carry: Linux's ``UDP_MAX_SEGMENTS`` since 6.9.
MAX_SEGMENTS: Final = 128
#: ``UDP_MAX_SEGMENTS`` of the kernels before.
OLDER_MAX_SEGMENTS: Final = 64
#: The errors a kernel gives when it cannot segment: fall back to one send per datagram.
#: (``EINVAL`` is not among them: it may be the route's, see above.)
GSO_REFUSED: Final = frozenset({errno.EIO, errno.EMSGSIZE, errno.ENOPROTOOPT, errno.EOPNOTSUPP})
#: Those that mean "segments of this size are over the path MTU": smaller ones still go
#: together.
GSO_TOO_LARGE: Final = frozenset({errno.EMSGSIZE})


class SegmentCap:
    """The most datagrams one GSO send of this process carries."""

    __slots__ = ("segments",)

    def __init__(self) -> None:
        #: :data:`MAX_SEGMENTS` until the kernel has shown that it takes no more than
        #: :data:`OLDER_MAX_SEGMENTS`; then that, for the life of the process.
        self.segments: int = MAX_SEGMENTS


#: The cap every datagram output stream of the process reads before each send.
SEGMENT_CAP: Final = SegmentCap()


def send_segmented(
    sock: socket.socket,
    run: list[bytes],
    destination: SockAddr | None,
    ancillary: list[tuple[int, int, bytes]],
) -> None:
    """Send *run* (at least two datagrams: one size, the last maybe shorter) in one
    ``sendmsg`` with ``UDP_SEGMENT`` and the control messages *ancillary*, to
    *destination* or the connected remote."""
    payload = b"".join(run)
    control = [(SOL_UDP, UDP_SEGMENT, struct.pack("@H", len(run[0]))), *ancillary]
    if destination is None:
        sock.sendmsg([payload], control)
    else:
        sock.sendmsg([payload], control, 0, destination)


class SegmentFallback(abc.ABC):
    """What a datagram output stream does when the kernel refuses a run of segments
    with ``EINVAL``: find out whether the number of segments, their size or the route
    was at fault (the module's docstring tells how)."""

    _sock: socket.socket
    _destination: SockAddr | None
    _ancillary: list[tuple[int, int, bytes]]
    #: Segments of this size or larger were refused as over the path MTU.
    _gso_size_limit: int

    @abc.abstractmethod
    def _send_one(self, data: bytes) -> None:
        """Send *data* as one datagram, without ``UDP_SEGMENT``."""

    @abc.abstractmethod
    def _send_again(self, exc: OSError, run: list[bytes]) -> OSError | None:
        """Send *run* again after *exc*, an error an ICMP message may have left pending:
        None if it went, else the error to fail it with."""

    def _send_fewer(self, error: OSError, run: list[bytes], end: int) -> tuple[OSError | None, int]:
        """*error* refused *run*, more than :data:`OLDER_MAX_SEGMENTS` datagrams of the
        writes numbered below *end*. ``EINVAL`` may come from a kernel that takes no more
        segments than that (before Linux 6.9): the first ones are then sent again on
        their own, *run* cut to them. Returns the error to handle, None if they went (and
        every stream of the process sends at most that many at once from then on), and
        the end of the writes it is about."""
        if error.errno != errno.EINVAL:
            return error, end
        end -= len(run) - OLDER_MAX_SEGMENTS
        del run[OLDER_MAX_SEGMENTS:]
        sock, destination, ancillary = self._sock, self._destination, self._ancillary
        failure = self._resend(lambda: send_segmented(sock, run, destination, ancillary), run)
        if failure is not None:
            return failure, end
        SEGMENT_CAP.segments = OLDER_MAX_SEGMENTS
        return None, end

    def _send_first(self, run: list[bytes], end: int) -> tuple[OSError | None, int]:
        """*run*, of the writes numbered below *end*, was refused with ``EINVAL``: its
        segments over the path MTU (as older kernels say it; current ones say
        ``EMSGSIZE``), or the route (a ``blackhole`` route, a source that cannot reach
        the remote), which refuses a lone datagram too. So its first datagram is sent
        alone, *run* cut to it: if it goes, segments of its size are sent one by one
        from now on. Returns the error to fail it with, None if it went, and the end of
        the writes it is about."""
        end -= len(run) - 1
        del run[1:]
        failure = self._resend(lambda: self._send_one(run[0]), run)
        if failure is not None:
            return failure, end
        self._gso_size_limit = min(self._gso_size_limit, len(run[0]))
        return None, end

    def _resend(self, send: Callable[[], object], run: list[bytes]) -> OSError | None:
        """*send* the shortened *run* after a refusal: None if it went, else the error to
        fail it with (``BlockingIOError`` propagates: the run waits for room)."""
        try:
            send()
        except BlockingIOError:
            raise
        except OSError as again:
            return self._send_again(again, run) if again.errno in ICMP_ERRNOS else again
        return None
