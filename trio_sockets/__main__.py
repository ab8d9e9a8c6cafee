"""``python -m trio_sockets`` / ``trio-sockets``: run the sample flows.

``trio-sockets demo`` runs the ported WinRT samples (TCP echo, batched sends) in one
process and prints the samples' log lines.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from ._errors import SocketError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trio-sockets", description="The WinRT Windows.Networking.Sockets model on trio."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run the ported WinRT samples: TCP echo and batched sends"
    )
    demo.add_argument(
        "--service",
        default="1337",
        help="service (port) the samples listen on; 0 picks a free port (default 1337)",
    )
    return parser


async def _demo(service: str) -> None:
    from .examples import batched_sends, tcp_echo

    print("== TCP echo (StreamSocket and StreamSocketListener) ==")
    await tcp_echo.main(service)
    print()
    print("== Batched sends ==")
    await batched_sends.main(service)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trio-sockets`` command; returns the exit status."""
    arguments = _parser().parse_args(argv)
    try:
        trio.run(_demo, arguments.service)
    except (OSError, BaseExceptionGroup) as failure:
        error = _first_os_error(failure)
        if error is None:
            raise
        print(f"trio-sockets: {SocketError.get_status(error).name}: {error}", file=sys.stderr)
        return 1
    return 0


def _first_os_error(failure: BaseException) -> OSError | None:
    """The network failure behind *failure*, which trio may have wrapped in groups."""
    if isinstance(failure, OSError):
        return failure
    if isinstance(failure, BaseExceptionGroup):
        for inner in failure.exceptions:
            found = _first_os_error(inner)
            if found is not None:
                return found
    return None


if __name__ == "__main__":
    sys.exit(main())
