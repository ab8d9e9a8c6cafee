"""trio-websocket (on wsproto): ``serve_websocket`` and ``open_websocket_url``.

Messages go through ``send_message`` and ``get_message``, each awaited; the workloads'
code is in ``ws_peers``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Final

import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketRequest,
    open_websocket_url,
    serve_websocket,
)

from benchmarks import ws_peers
from benchmarks.common import HOST, TIMEOUT, WS_MAX_MESSAGE, Params, Sample, ServerKind, server_kind

NAME: Final = "trio_websocket"


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
            async with open_websocket_url(
                f"ws://{HOST}:{port}/", max_message_size=WS_MAX_MESSAGE
            ) as ws:
                sample = await ws_peers.run_client(
                    workload, ws.send_message, ws.get_message, params
                )
            nursery.cancel_scope.cancel()
        return sample


async def _server(kind: ServerKind, *, task_status: trio.TaskStatus[int]) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        with contextlib.suppress(ConnectionClosed):
            await ws_peers.serve_connection(kind, ws.send_message, ws.get_message)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve_websocket(
                handler,
                HOST,
                0,
                None,
                max_message_size=WS_MAX_MESSAGE,
                task_status=task_status,
            )
        )
        task_status.started(server.port)
