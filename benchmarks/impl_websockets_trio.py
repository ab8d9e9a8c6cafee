"""``websockets`` on trio (``websockets.trio``): its ``serve`` and ``connect``.

Messages go through ``send`` and ``recv``, each awaited; the workloads' code is in
``ws_peers``. Compression and keepalive pings are off, as on the other stacks.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Final

import trio
from websockets.exceptions import ConnectionClosed
from websockets.trio import server as ws_server
from websockets.trio.client import connect

from benchmarks import ws_peers
from benchmarks.common import HOST, TIMEOUT, WS_MAX_MESSAGE, Params, Sample, ServerKind, server_kind

NAME: Final = "websockets_trio"


def run(workload: str, params: Params, port: int | None) -> Sample:
    return trio.run(_run, workload, params, port)


def serve(kind: ServerKind, params: Params, ready: Callable[[int], None]) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            ready(await nursery.start(_server, kind))

    trio.run(main)


async def _run(workload: str, params: Params, port: int | None) -> Sample:
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            if port is None:
                port = await nursery.start(_server, server_kind(workload))
            async with connect(
                f"ws://{HOST}:{port}/",
                compression=None,
                max_size=WS_MAX_MESSAGE,
                ping_interval=None,
                proxy=None,
            ) as ws:
                sample = await ws_peers.run_client(workload, ws.send, ws.recv, params)
            nursery.cancel_scope.cancel()
        return sample


async def _server(kind: ServerKind, *, task_status: trio.TaskStatus[int]) -> None:
    async def handler(ws: ws_server.ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws_peers.serve_connection(kind, ws.send, ws.recv)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(
                ws_server.serve,
                handler,
                0,
                host=HOST,
                compression=None,
                max_size=WS_MAX_MESSAGE,
                ping_interval=None,
            )
        )
        task_status.started(server.listeners[0].socket.getsockname()[1])
