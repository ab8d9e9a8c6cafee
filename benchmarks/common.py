"""What every implementation module shares: parameters, results, and process helpers.

An implementation module (``impl_*.py``) provides two synchronous entry points, each of
which runs its own event loop:

* ``run(workload, params, port) -> Sample``: the measured client side of *workload*.
  With ``port=None`` the server runs on the same event loop ("inproc"); otherwise it
  talks to a server of the same stack on 127.0.0.1:*port* in another process ("xproc").
* ``serve(kind, params, ready)``: a server of *kind* (see :func:`server_kind`) that calls
  ``ready(port)`` once it listens, then serves until the process is terminated.

Every client checks what it got (bytes echoed, counts acknowledged) and raises
:class:`BenchmarkError` on a mismatch, so a wrong result can never be reported as a
fast one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import struct
from collections.abc import Callable
from typing import Final, Literal, Protocol

HOST: Final = "127.0.0.1"
#: Listen backlog of every server (the kernel clamps it to net.core.somaxconn).
BACKLOG: Final = 4096
#: Upper bound of one client run; every loop in a client is inside it (a lost datagram
#: ends the run with a timeout rather than a hang).
TIMEOUT: Final = 60.0
#: The byte count a counting server sends back at end of stream.
ACK: Final = struct.Struct("!Q")
#: The length prefix of the framed-messages workloads (big-endian, as ``DataWriter``'s).
FRAME: Final = struct.Struct("!I")
RECV_SIZE: Final = 65536

#: The largest WebSocket message any side accepts (the peers' defaults are 1 MiB, the
#: size of a ``ws_bulk`` message).
WS_MAX_MESSAGE: Final = 4 * 1024 * 1024

ServerKind = Literal["count", "echo", "framed_echo", "udp_echo", "ws_echo", "ws_count", "none"]
Sample = dict[str, float]


class BenchmarkError(RuntimeError):
    """A benchmark run produced a wrong result (lost, extra or corrupted data)."""


@dataclasses.dataclass(frozen=True)
class Params:
    """The size of one run; each workload reads the fields it needs.

    * ``tcp_bulk``: *count* chunks of *size* bytes.
    * ``tcp_pingpong_*``: *count* round trips of *size* bytes on each of *conns*
      connections.
    * ``udp_echo_*``: *count* datagrams of *size* bytes, *window* in flight.
    * ``tcp_framed_*``: *count* length-prefixed messages of *size* bytes, *window* in
      flight.
    * ``small_writes_*``: *count* writes of *size* bytes.
    * ``tcp_conns_*``: *count* connections, opened in waves of *wave*.
    * ``ws_echo_*``: *count* binary WebSocket messages of *size* bytes, *window* in
      flight.
    * ``ws_bulk``: *count* binary WebSocket messages of *size* bytes.
    * ``udp_flood``: *step_ms* of datagrams of *size* bytes at each rate up to *rate*
      datagrams/s, then *count* datagrams as fast as the sender can.
    """

    count: int
    size: int = 100
    conns: int = 1
    window: int = 1
    wave: int = 1000
    rate: int = 0
    step_ms: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Params:
        return cls(**json.loads(text))

    def scaled(self, factor: float) -> Params:
        """A smaller run of the same shape (the in-process warm-up)."""
        return dataclasses.replace(self, count=max(1, int(self.count * factor)))


class Implementation(Protocol):
    NAME: str

    def run(self, workload: str, params: Params, port: int | None) -> Sample: ...

    def serve(self, kind: ServerKind, params: Params, ready: Callable[[int], None]) -> None: ...


def server_kind(workload: str) -> ServerKind:
    """The server a workload's client talks to."""
    if workload == "tcp_bulk" or workload.startswith("small_writes"):
        return "count"
    if workload.startswith("tcp_pingpong"):
        return "echo"
    if workload.startswith("tcp_framed"):
        return "framed_echo"
    if workload.startswith("udp_echo"):
        return "udp_echo"
    if workload.startswith("ws_echo"):
        return "ws_echo"
    if workload == "ws_bulk":
        return "ws_count"
    return "none"


def message(index: int, size: int) -> bytes:
    """A request of *size* bytes that differs from its neighbours (catches mix-ups)."""
    head = b"%08d" % (index % 100_000_000)
    return (head * (size // len(head) + 1))[:size]


def check(condition: bool, what: str) -> None:
    if not condition:
        raise BenchmarkError(what)


def pin_to_cpu(cpu: int) -> bool:
    """Pin this process to *cpu* where the platform allows; False if it could not."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    try:
        available = os.sched_getaffinity(0)
        if cpu not in available:
            return False
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return False
    return True


def raise_fd_limit() -> None:
    """Raise the soft open-file limit to the hard one (5,000 connections need 10,000)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakRss:
    """The growth of this process's peak resident memory over a stretch of code.

    On Linux the peak (``VmHWM``) is reset first through ``/proc/self/clear_refs``, so a
    warm-up earlier in the process does not hide the measured stretch; elsewhere it
    falls back to ``ru_maxrss``, which never goes down.
    """

    def __init__(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")
        except OSError:
            pass
        self.start_kib = _status_kib("VmRSS") or _maxrss_kib()

    def growth_kib(self) -> float:
        peak = _status_kib("VmHWM") or _maxrss_kib()
        return float(max(0, peak - self.start_kib))


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
