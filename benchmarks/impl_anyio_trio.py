"""anyio 4 on its trio backend (the code is in ``impl_anyio``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from benchmarks import impl_anyio
from benchmarks.common import Params, Sample, ServerKind

NAME: Final = "anyio_trio"


def run(workload: str, params: Params, port: int | None) -> Sample:
    return impl_anyio.run(workload, params, port, backend="trio")


def serve(kind: ServerKind, params: Params, ready: Callable[[int], None]) -> None:
    impl_anyio.serve(kind, params, ready, backend="trio")
