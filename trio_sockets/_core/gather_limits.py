"""The sizes that decide how a byte stream's pending writes are gathered into one
system call (:meth:`WriteQueue.gather <trio_sockets._core.write_queue.WriteQueue.gather>`).
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["IOV_MAX", "JOIN_AVERAGE", "JOIN_BELOW", "MAX_SEND"]

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
