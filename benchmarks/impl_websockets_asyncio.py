"""``websockets`` on asyncio (``websockets.asyncio``): its ``serve`` and ``connect``.

Messages go through ``send`` and ``recv``, each awaited; the workloads' code is in
``ws_peers``. Compression and keepalive pings are off, as on the other stacks.
``impl_websockets_uvloop`` runs the same code on uvloop's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final

from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed

from benchmarks import ws_peers
from benchmarks.common import HOST, TIMEOUT, WS_MAX_MESSAGE, Params, Sample, ServerKind, server_kind
from benchmarks.impl_asyncio import LoopFactory

NAME: Final = "websockets_asyncio"


def run(
    workload: str, params: Params, port: int | None, *, loop_factory: LoopFactory = None
) -> Sample:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_run(workload, params, port))


def serve(
    kind: ServerKind,
    params: Params,
    ready: Callable[[int], None],
    *,
    loop_factory: LoopFactory = None,
) -> None:
    async def main() -> None:
        async with await _start_server(kind) as server:
            ready(_port(server))
            await server.serve_forever()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


async def _run(workload: str, params: Params, port: int | None) -> Sample:
    async with asyncio.timeout(TIMEOUT):
        server = None
        if port is None:
            server = await _start_server(server_kind(workload))
            port = _port(server)
        try:
            async with connect(
                f"ws://{HOST}:{port}/",
                compression=None,
                max_size=WS_MAX_MESSAGE,
                ping_interval=None,
                proxy=None,
            ) as ws:
                return await ws_peers.run_client(workload, ws.send, ws.recv, params)
        finally:
            if server is not None:
                server.close()
                await server.wait_closed()


async def _start_server(kind: ServerKind) -> Server:
    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws_peers.serve_connection(kind, ws.send, ws.recv)

    return await ws_serve(
        handler,
        HOST,
        0,
        compression=None,
        max_size=WS_MAX_MESSAGE,
        ping_interval=None,
    )


def _port(server: Server) -> int:
    port: int = next(iter(server.sockets)).getsockname()[1]
    return port
