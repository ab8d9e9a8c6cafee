"""trio_sockets through trio's calls (the code is in ``impl_trio_sockets``, ``calls="trio"``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from benchmarks import impl_trio_sockets
from benchmarks.common import Params, Sample, ServerKind

NAME: Final = "trio_sockets_trio_calls"


def run(workload: str, params: Params, port: int | None) -> Sample:
    return impl_trio_sockets.run(workload, params, port, calls="trio")


def serve(kind: ServerKind, params: Params, ready: Callable[[int], None]) -> None:
    impl_trio_sockets.serve(kind, params, ready, calls="trio")
