"""``udp_flood``: how fast a trio_sockets ``DatagramSocket`` can be offered datagrams
while its accounting stays exact.

A plain UDP sender in a second process (pinned to the other CPU) sends 100-byte
datagrams, paced in 1 ms bursts, at rising rates (by a factor of 1.41 from 5,000/s up to the
workload's top rate, then as fast as it can). The receiving ``DatagramSocket`` runs in
this process with one consumer task that takes every message from
``message_received``. After each step the socket's own counters are compared with the
truth: every datagram sent must have been either delivered to the consumer or counted in
``information.dropped_message_count`` (the channel was full). Datagrams the kernel
discarded because the socket's receive buffer overflowed -- the receive loop fell behind
-- are counted by nobody, so the accounting is exact only while the receive loop keeps
up with the sender. The result is the highest offered rate at which it was exact.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from time import perf_counter
from typing import Any, Final

import trio

from benchmarks.common import HOST, TIMEOUT, Params, check

START_RATE: Final = 5_000
#: Each step offers this factor more than the one before.
STEP: Final = 2**0.5
#: Sender rate of the last step: as fast as one process can send.
UNPACED: Final = 10**9


def measure_flood(params: Params, *, sender_cpu: int | None, warmup: bool) -> dict[str, Any]:
    del warmup  # the low-rate steps warm the receive path up
    return trio.run(_flood, params, sender_cpu)


def _ladder(top: int) -> list[int]:
    rates: list[int] = []
    rate = float(START_RATE)
    while rate < top:
        rates.append(int(round(rate, -2)))
        rate *= STEP
    return [*rates, top, UNPACED]


async def _flood(params: Params, sender_cpu: int | None) -> dict[str, Any]:
    from trio_sockets import DatagramSocket

    command = [sys.executable, "-m", "benchmarks.worker", "flood-send"]
    if sender_cpu is not None:
        command += ["--cpu", str(sender_cpu)]
    steps: list[dict[str, Any]] = []
    consumed = 0
    with trio.fail_after(TIMEOUT):
        async with DatagramSocket() as sock, trio.open_nursery() as nursery:
            await sock.bind_endpoint(HOST, "0")
            port = int(sock.information.local_port)

            async def consume() -> None:
                nonlocal consumed
                async for args in sock.message_received:
                    check(len(args.data) == params.size, "a datagram of the wrong size")
                    consumed += 1

            nursery.start_soon(consume)
            process = await trio.lowlevel.open_process(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            assert process.stdin is not None
            assert process.stdout is not None
            try:
                for rate in _ladder(params.rate):
                    count = (
                        params.count
                        if rate == UNPACED
                        else max(1000, rate * params.step_ms // 1000)
                    )
                    info = sock.information
                    before = (info.received_message_count, info.dropped_message_count, consumed)
                    await process.stdin.send_all(f"{port} {count} {rate} {params.size}\n".encode())
                    reply = b""
                    while not reply.endswith(b"\n"):
                        chunk = await process.stdout.receive_some()
                        check(bool(chunk), "the flood sender exited")
                        reply += chunk
                    _, sent_text, seconds_text = reply.decode().split()
                    sent, seconds = int(sent_text), float(seconds_text)
                    await _settle(sock, lambda: consumed)
                    received = info.received_message_count - before[0]
                    dropped = info.dropped_message_count - before[1]
                    delivered = consumed - before[2]
                    steps.append(
                        {
                            "offered": sent / seconds if seconds else float(sent),
                            "target": rate,
                            "sent": sent,
                            "received": received,
                            "consumed": delivered,
                            "dropped": dropped,
                            "kernel_lost": sent - received,
                            "exact": delivered + dropped == sent,
                        }
                    )
            finally:
                await process.stdin.aclose()
                with trio.move_on_after(5):
                    await process.wait()
                process.kill()
                await process.wait()
                await process.stdout.aclose()
            nursery.cancel_scope.cancel()
    exact = [step["offered"] for step in steps if step["exact"]]
    return {
        "rate": max(exact) if exact else 0.0,
        "steps": steps,
    }


async def _settle(sock: Any, consumed: Callable[[], int]) -> None:
    """Wait until the socket has taken everything from the kernel and the consumer has
    taken everything from the channel (no change for 50 ms), at most 2 s."""
    last = (-1, -1)
    deadline = perf_counter() + 2
    while perf_counter() < deadline:
        info = sock.information
        now = (info.received_message_count, consumed())
        if now == last and now[1] + info.dropped_message_count == now[0]:
            return
        last = now
        await trio.sleep(0.05)
