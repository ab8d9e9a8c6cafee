"""The workloads, their sizes in each mode, and the metrics computed from a sample."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Final, Literal, cast

from benchmarks.common import Implementation, Params, Sample

Mode = Literal["full", "quick", "smoke"]
Placement = Literal["inproc", "xproc"]

#: Implementation name -> module, in the order of the tables (raw trio is the reference).
#: ``trio_sockets`` is written with the WinRT calls the tutorial teaches;
#: ``trio_sockets_trio_calls`` is the same library through trio's stream protocol.
IMPLEMENTATIONS: Final = {
    "trio_sockets": "benchmarks.impl_trio_sockets",
    "trio_sockets_trio_calls": "benchmarks.impl_trio_sockets_trio_calls",
    "trio": "benchmarks.impl_trio",
    "anyio_trio": "benchmarks.impl_anyio_trio",
    "anyio_asyncio": "benchmarks.impl_anyio_asyncio",
    "asyncio": "benchmarks.impl_asyncio",
    "uvloop": "benchmarks.impl_uvloop",
    "trio_websocket": "benchmarks.impl_trio_websocket",
    "websockets_trio": "benchmarks.impl_websockets_trio",
    "websockets_asyncio": "benchmarks.impl_websockets_asyncio",
    "websockets_uvloop": "benchmarks.impl_websockets_uvloop",
}
REFERENCE: Final = "trio"
#: The reference of the WebSocket workloads: the fastest of :data:`WEBSOCKET_PEERS` in the
#: run (raw trio has no WebSocket).
FASTEST_PEER: Final = "fastest peer"
#: The implementations of the WebSocket workloads (trio_sockets and its WebSocket peers).
WEBSOCKET_IMPLEMENTATIONS: Final = (
    "trio_sockets",
    "trio_websocket",
    "websockets_trio",
    "websockets_asyncio",
    "websockets_uvloop",
)
#: The peers whose fastest is the reference of the WebSocket workloads: trio-websocket and
#: both implementations of ``websockets`` on their own event loops. (``websockets`` on
#: uvloop is measured and shown beside them, against the same reference.)
WEBSOCKET_PEERS: Final = ("trio_websocket", "websockets_trio", "websockets_asyncio")
#: The implementations that have only WebSocket workloads.
WEBSOCKET_ONLY: Final = tuple(name for name in WEBSOCKET_IMPLEMENTATIONS if name != "trio_sockets")
#: How tables and the chart name an implementation, where that differs from its name.
LABELS: Final = {
    "trio_sockets_trio_calls": "trio_sockets (trio calls)",
    "trio_websocket": "trio-websocket",
    "websockets_trio": "websockets (trio)",
    "websockets_asyncio": "websockets (asyncio)",
    "websockets_uvloop": "websockets (uvloop)",
}


def label(name: str) -> str:
    return LABELS.get(name, name)


def load(name: str) -> Implementation:
    return cast(Implementation, importlib.import_module(IMPLEMENTATIONS[name]))


def available(name: str) -> bool:
    """Whether the packages an implementation needs are installed."""
    try:
        load(name)
    except ImportError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool
    compute: Callable[[Sample], float]
    #: Digits after the point in tables (None: thousands separators, no decimals).
    decimals: int | None = None


def _per_second(field: str) -> Callable[[Sample], float]:
    return lambda sample: sample[field] / sample["seconds"]


MIB_S = Metric("mib_s", "MiB/s", True, lambda s: s["bytes"] / s["seconds"] / 2**20)
RT_S = Metric("rt_s", "round trips/s", True, _per_second("round_trips"))
DG_S = Metric("dg_s", "datagrams/s", True, _per_second("datagrams"))
MSG_S = Metric("msg_s", "messages/s", True, _per_second("messages"))
WALL_MS = Metric("ms", "wall time (ms)", False, lambda s: s["seconds"] * 1000, decimals=2)
CONNECT_MS = Metric("ms", "connect time (ms)", False, lambda s: s["seconds"] * 1000)
RSS_PER_CONN = Metric(
    "kib_conn",
    "peak RSS / connection (KiB)",
    False,
    lambda s: s["rss_kib"] / s["connections"],
    decimals=1,
)
FLOOD_RATE = Metric("flood_dg_s", "highest exact rate (datagrams/s)", True, lambda s: s["rate"])


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    description: str
    metrics: tuple[Metric, ...]
    sizes: dict[Mode, Params]
    placements: tuple[Placement, ...] = ("inproc", "xproc")
    #: Only these implementations (None: all).
    only: tuple[str, ...] | None = None
    #: Counted with strace as well (send-family system calls).
    strace: bool = False
    udp: bool = False
    #: The warm-up run's size as a fraction of the measured run's.
    warmup: float = 0.1
    #: Placements of a quick run (None: the same as a full run).
    quick_placements: tuple[Placement, ...] | None = None
    #: A WebSocket workload: run on :data:`WEBSOCKET_IMPLEMENTATIONS`, compared with the
    #: fastest of them but trio_sockets (the others run on every other implementation).
    websocket: bool = False

    def params(self, mode: Mode) -> Params:
        return self.sizes[mode]

    def placements_in(self, mode: Mode) -> tuple[Placement, ...]:
        if mode == "quick" and self.quick_placements is not None:
            return self.quick_placements
        return self.placements

    def runs_on(self, impl: str) -> bool:
        if self.only is not None:
            return impl in self.only
        if self.websocket:
            return impl in WEBSOCKET_IMPLEMENTATIONS
        return impl not in WEBSOCKET_ONLY

    @property
    def reference(self) -> str:
        """What the ratios of this workload divide by: raw trio, or for WebSocket
        workloads :data:`FASTEST_PEER` (the best median among the peers of the run)."""
        return FASTEST_PEER if self.websocket else REFERENCE


def _sizes(full: Params, quick: Params, smoke: Params) -> dict[Mode, Params]:
    return {"full": full, "quick": quick, "smoke": smoke}


WORKLOADS: Final = (
    Workload(
        "tcp_bulk",
        "64 KiB chunks over one connection, then end of stream; the server acknowledges "
        "the byte count",
        (MIB_S,),
        _sizes(Params(4096, 65536), Params(256, 65536), Params(16, 65536)),
    ),
    Workload(
        "tcp_pingpong_c1",
        "100-byte request, echoed, one connection",
        (RT_S,),
        _sizes(Params(20_000), Params(2_000), Params(20)),
    ),
    Workload(
        "tcp_pingpong_c50",
        "100-byte request, echoed, on each of 50 connections at once",
        (RT_S,),
        _sizes(Params(1_000, conns=50), Params(60, conns=50), Params(5, conns=5)),
        quick_placements=("inproc",),
    ),
    Workload(
        "udp_echo_lockstep",
        "100-byte datagram, echoed, one in flight",
        (DG_S,),
        _sizes(Params(10_000), Params(1_500), Params(20)),
        udp=True,
    ),
    Workload(
        "udp_echo_w64",
        "100-byte datagrams, echoed, 64 in flight",
        (DG_S,),
        _sizes(Params(30_000, window=64), Params(3_000, window=64), Params(100, window=8)),
        quick_placements=("inproc",),
        udp=True,
    ),
    Workload(
        "tcp_framed_lockstep",
        "100-byte messages, each after a 4-byte length prefix, echoed, one in flight",
        (MSG_S,),
        _sizes(Params(20_000), Params(2_000), Params(20)),
    ),
    Workload(
        "tcp_framed_w64",
        "100-byte length-prefixed messages, echoed, 64 in flight",
        (MSG_S,),
        _sizes(Params(30_000, window=64), Params(3_000, window=64), Params(100, window=8)),
        quick_placements=("inproc",),
    ),
    Workload(
        "small_writes_each",
        "10,000 writes of 64 bytes, each awaited before the next",
        (WALL_MS,),
        _sizes(Params(10_000, 64), Params(10_000, 64), Params(100, 64)),
        strace=True,
    ),
    Workload(
        "small_writes_batched",
        "10,000 writes of 64 bytes, all started, then one flush",
        (WALL_MS,),
        _sizes(Params(10_000, 64), Params(10_000, 64), Params(100, 64)),
        strace=True,
    ),
    Workload(
        "tcp_conns_1000",
        "1,000 idle connections, both ends in one process",
        (CONNECT_MS, RSS_PER_CONN),
        _sizes(Params(1_000), Params(1_000), Params(20, wave=10)),
        placements=("inproc",),
        warmup=0.02,
    ),
    Workload(
        "tcp_conns_5000",
        "5,000 idle connections in waves of 1,000, both ends in one process",
        (CONNECT_MS, RSS_PER_CONN),
        _sizes(Params(5_000), Params(5_000), Params(30, wave=10)),
        placements=("inproc",),
        warmup=0.02,
    ),
    Workload(
        "ws_echo_lockstep",
        "100-byte binary WebSocket message, echoed, one in flight",
        (MSG_S,),
        _sizes(Params(20_000), Params(2_000), Params(20)),
        websocket=True,
    ),
    Workload(
        "ws_echo_w64",
        "100-byte binary WebSocket messages, echoed, 64 in flight",
        (MSG_S,),
        _sizes(Params(30_000, window=64), Params(3_000, window=64), Params(100, window=8)),
        quick_placements=("inproc",),
        websocket=True,
    ),
    Workload(
        "ws_bulk",
        "1 MiB binary WebSocket messages, then an empty one, which the server answers "
        "with the byte count",
        (MIB_S,),
        _sizes(Params(256, 2**20), Params(32, 2**20), Params(4, 2**20)),
        websocket=True,
    ),
    Workload(
        "udp_flood",
        "paced 100-byte datagrams from another process at rising rates; the highest rate "
        "at which every datagram sent is either delivered or counted as dropped",
        (FLOOD_RATE,),
        _sizes(
            Params(100_000, rate=160_000, step_ms=500),
            Params(10_000, rate=113_000, step_ms=50),
            Params(500, rate=10_000, step_ms=50),
        ),
        placements=("xproc",),
        only=("trio_sockets",),
        udp=True,
    ),
)

BY_NAME: Final = {workload.name: workload for workload in WORKLOADS}

#: The implementation the targets are about: trio_sockets written the tutorial's way.
SUBJECT: Final = "trio_sockets"
#: Other lines of the same library, which are not peers.
OWN_LINES: Final = ("trio_sockets", "trio_sockets_trio_calls")


@dataclasses.dataclass(frozen=True)
class Target:
    """A bound on :data:`SUBJECT`'s median divided by the workload's reference (raw
    trio's median, or for a WebSocket workload the fastest peer's), in every placement
    run.

    For a higher-is-better metric the ratio must be at least *bound*, for a
    lower-is-better one (times, memory) at most *bound*. With *best_peer*, the median
    must also be at least as good as every peer's (raw trio, anyio, asyncio, uvloop).
    """

    workload: str
    metric: str
    bound: float
    best_peer: bool = False


TARGETS: Final = (
    Target("udp_echo_lockstep", "dg_s", 1.0),
    Target("udp_echo_w64", "dg_s", 1.3),
    Target("tcp_pingpong_c1", "rt_s", 1.0),
    Target("tcp_pingpong_c50", "rt_s", 1.0),
    Target("tcp_bulk", "mib_s", 1.0, best_peer=True),
    Target("tcp_framed_lockstep", "msg_s", 0.9),
    Target("tcp_framed_w64", "msg_s", 0.9),
    Target("small_writes_batched", "ms", 2.0),
    Target("small_writes_each", "ms", 1.0),
    Target("tcp_conns_1000", "ms", 1.1),
    Target("tcp_conns_1000", "kib_conn", 1.1),
    Target("tcp_conns_5000", "ms", 1.1),
    Target("tcp_conns_5000", "kib_conn", 1.1),
    Target("ws_echo_lockstep", "msg_s", 1.0),
    Target("ws_echo_w64", "msg_s", 1.0),
    Target("ws_bulk", "mib_s", 1.0),
)
