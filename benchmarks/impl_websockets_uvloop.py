"""``websockets`` on asyncio on uvloop: the code of ``impl_websockets_asyncio`` on
uvloop's event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import uvloop

from benchmarks import impl_websockets_asyncio
from benchmarks.common import Params, Sample, ServerKind

NAME: Final = "websockets_uvloop"


def run(workload: str, params: Params, port: int | None) -> Sample:
    return impl_websockets_asyncio.run(workload, params, port, loop_factory=uvloop.new_event_loop)


def serve(kind: ServerKind, params: Params, ready: Callable[[int], None]) -> None:
    impl_websockets_asyncio.serve(kind, params, ready, loop_factory=uvloop.new_event_loop)
