"""``python -m trio_sockets`` / ``trio-sockets``: the samples and small network tools.

- ``demo``: the ported WinRT samples (TCP echo, batched sends, UDP echo, WebSocket echo)
  in one process,
  with the samples' log lines;
- ``echo-server``: a TCP, UDP or WebSocket echo server;
- ``send``: standard input to a remote service or WebSocket and its replies to standard
  output;
- ``resolve``: how a host and service resolve, step by step.

A failure prints its ``SocketErrorStatus`` name (``WebErrorStatus`` for a WebSocket) and
a one-line cause and exits with 1; bad input exits with 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._cli.arguments import ArgumentParser
from ._cli.commands import add_commands, run


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="trio-sockets", description="The WinRT Windows.Networking.Sockets model on trio."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run the ported WinRT samples: TCP echo, batched sends, UDP echo, WebSocket echo",
    )
    demo.add_argument(
        "--service",
        default="1337",
        help="service (port) the samples listen on; 0 picks a free port (default 1337)",
    )
    demo.set_defaults(handler=_demo)
    add_commands(commands)
    return parser


async def _demo(arguments: argparse.Namespace) -> None:
    # examples/ is installed as trio_sockets.examples (pyproject's package-dir), which
    # pyright cannot see from the source tree.
    from .examples import (  # pyright: ignore[reportMissingImports]
        batched_sends,
        tcp_echo,
        udp_echo,
        websocket_echo,
    )

    service: str = arguments.service
    print("== TCP echo (StreamSocket and StreamSocketListener) ==")
    await tcp_echo.main(service)
    print()
    print("== Batched sends ==")
    await batched_sends.main(service)
    print()
    print("== UDP echo (DatagramSocket) ==")
    # The sample's client port, 1336, goes with its server port; otherwise a free one.
    await udp_echo.main(service, "1336" if service == "1337" else "0")
    print()
    print("== WebSocket echo (MessageWebSocket) ==")
    await websocket_echo.main()  # its server listens on a free port


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trio-sockets`` command; returns the exit status."""
    arguments = _parser().parse_args(argv)
    return run(arguments.handler, arguments)


if __name__ == "__main__":
    sys.exit(main())
