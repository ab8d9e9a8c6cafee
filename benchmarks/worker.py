"""One measurement in a fresh process: ``python -m benchmarks.worker run ...``.

``run`` pins itself to the measuring CPU, starts the server process for ``xproc``
(pinned to the other CPU), runs the workload once small as a warm-up, then measures it
once and prints the sample as JSON on its last line of output. ``serve`` is that
server process: it prints ``PORT <n>`` and serves until it is terminated (or its parent
dies). ``flood-send`` is the paced UDP sender of ``udp_flood``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from benchmarks.common import HOST, Params, pin_to_cpu, raise_fd_limit, server_kind
from benchmarks.workloads import load

MEASURE_CPU: Final = 0
SERVER_CPU: Final = 1
_PR_SET_PDEATHSIG: Final = 1


def _die_with_parent() -> None:
    """Let the kernel terminate this process when its parent exits (Linux only; the
    "parent" is the thread that started this process)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _worker_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.worker", *args]


@contextmanager
def server_process(
    impl: str, workload: str, params: Params, cpu: int | None
) -> Iterator[Callable[[], int]]:
    """A server of *impl* for *workload* in a second process.

    Yields a function that waits for the server to listen and returns its port, so the
    caller can do its own imports meanwhile.
    """
    command = _worker_command(
        "serve", "--impl", impl, "--kind", server_kind(workload), "--params", params.to_json()
    )
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)

    def port() -> int:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"the {impl} server did not start (said {line!r})")
        return int(line.split()[1])

    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _other_cpu() -> int | None:
    """The server's CPU: 1 when the measuring process can be pinned to 0 and 1 exists."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = os.sched_getaffinity(0)
    return SERVER_CPU if {MEASURE_CPU, SERVER_CPU} <= cpus else None


def run(
    impl: str, workload: str, params: Params, *, xproc: bool, warmup: float
) -> dict[str, object]:
    server_cpu = _other_cpu()
    pinned = pin_to_cpu(MEASURE_CPU)
    raise_fd_limit()
    if workload == "udp_flood":
        from benchmarks.flood import measure_flood

        sample = measure_flood(params, sender_cpu=server_cpu, warmup=warmup > 0)
        return {"sample": sample, "pinned": pinned}
    if xproc:
        # The server process starts (and imports its stack) while this one imports.
        with server_process(impl, workload, params, server_cpu) as server_port:
            module = load(impl)
            port = server_port()
            if warmup:
                module.run(workload, params.scaled(warmup), port)
            sample = module.run(workload, params, port)
    else:
        module = load(impl)
        if warmup:
            module.run(workload, params.scaled(warmup), None)
        sample = module.run(workload, params, None)
    return {"sample": sample, "pinned": pinned and (not xproc or server_cpu is not None)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run")
    run_parser.add_argument("--impl", required=True)
    run_parser.add_argument("--workload", required=True)
    run_parser.add_argument("--params", required=True)
    run_parser.add_argument("--xproc", action="store_true")
    run_parser.add_argument("--warmup", type=float, default=0.1)
    serve_parser = commands.add_parser("serve")
    serve_parser.add_argument("--impl", required=True)
    serve_parser.add_argument("--kind", required=True)
    serve_parser.add_argument("--params", required=True)
    serve_parser.add_argument("--cpu", type=int)
    flood_parser = commands.add_parser("flood-send")
    flood_parser.add_argument("--cpu", type=int)
    args = parser.parse_args(argv)

    if args.command == "run":
        result = run(
            args.impl,
            args.workload,
            Params.from_json(args.params),
            xproc=args.xproc,
            warmup=args.warmup,
        )
        print(json.dumps(result), flush=True)
        return 0

    if args.cpu is not None:
        pin_to_cpu(args.cpu)
    if args.command == "serve":
        # (Not for flood-send: trio starts that one from a worker thread, whose exit
        # would count as the parent's death. It ends at the end of its stdin anyway.)
        _die_with_parent()
        raise_fd_limit()

        def ready(port: int) -> None:
            print(f"PORT {port}", flush=True)

        load(args.impl).serve(args.kind, Params.from_json(args.params), ready)
        return 0
    flood_send()
    return 0


def flood_send() -> None:
    """Read ``<port> <count> <rate> <size>`` lines; send that paced; answer ``SENT <n>``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for line in sys.stdin:
            port, count, rate, size = (int(field) for field in line.split())
            payload = b"f" * size
            address = (HOST, port)
            # Bursts of 1 ms worth of datagrams, each burst at its due time (busy-wait:
            # sleeping is far coarser than the gaps at these rates).
            burst = max(1, rate // 1000)
            start = time.perf_counter()
            sent = 0
            while sent < count:
                due = start + sent / rate
                while time.perf_counter() < due:
                    pass
                for _ in range(min(burst, count - sent)):
                    sock.sendto(payload, address)
                    sent += 1
            elapsed = time.perf_counter() - start
            print(f"SENT {sent} {elapsed:.6f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
