"""Random interleavings of consumers, senders, cancellations and closed handles on one
DatagramSocket: nothing is lost, nothing is delivered twice, and no two tasks ever wait on
the socket at once (trio would raise ``BusyResourceError``).

Hypothesis picks a script of steps; each example runs it on a real socket on loopback.
At the end every datagram sent was received by exactly one consumer, is still held, or
was counted as dropped.
"""

from __future__ import annotations

import socket

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_sockets import DatagramSocket, DatagramSocketMessageReceivedEventArgs

Args = DatagramSocketMessageReceivedEventArgs

step = st.one_of(
    st.tuples(st.just("send"), st.integers(1, 12)),
    st.tuples(st.just("receive"), st.integers(0, 2)),  # one receive on handle n
    st.tuples(st.just("loop"), st.integers(0, 2)),  # receive until cancelled, tightly
    st.tuples(st.just("loop_away"), st.integers(0, 2)),  # ... yielding between receives
    st.tuples(st.just("cancel"), st.integers(0, 7)),
    st.tuples(st.just("close"), st.integers(1, 2)),  # close a clone
    st.tuples(st.just("settle"), st.just(0)),
    st.tuples(st.just("pass"), st.just(0)),
)


async def run_script(script: list[tuple[str, int]], queue_size: int) -> None:
    got: list[bytes] = []
    sent = 0
    with trio.fail_after(20), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        async with DatagramSocket(message_queue_size=queue_size) as sock:
            sock.control.inbound_buffer_size_in_bytes = 1 << 20
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            handles = [
                sock.message_received,
                sock.message_received.clone(),
                sock.message_received.clone(),
            ]
            scopes: list[trio.CancelScope] = []
            async with trio.open_nursery() as nursery:

                async def consume(
                    handle: trio.abc.ReceiveChannel[Args], times: int, away: bool
                ) -> None:
                    scope = trio.CancelScope()
                    scopes.append(scope)
                    with scope:
                        try:
                            for _ in range(times):
                                got.append((await handle.receive()).data)
                                if times > 1 and away:
                                    await trio.lowlevel.checkpoint()
                        except (trio.ClosedResourceError, trio.EndOfChannel):
                            pass

                for kind, value in script:
                    if kind == "send":
                        for _ in range(value):
                            sender.sendto(b"%d" % sent, address)
                            sent += 1
                    elif kind == "receive":
                        nursery.start_soon(consume, handles[value], 1, False)
                    elif kind in ("loop", "loop_away"):
                        nursery.start_soon(consume, handles[value], 10_000, kind == "loop_away")
                    elif kind == "cancel" and value < len(scopes):
                        scopes[value].cancel()
                    elif kind == "close":
                        handles[value].close()
                    elif kind == "settle":
                        await trio.testing.wait_all_tasks_blocked()
                    else:
                        await trio.lowlevel.checkpoint()
                await trio.testing.wait_all_tasks_blocked()
                for scope in scopes:
                    scope.cancel()
            await check_accounting(sock, got, sent)


async def check_accounting(sock: DatagramSocket, got: list[bytes], sent: int) -> None:
    """Every datagram sent was received once, is held, or was counted as dropped."""
    # Take what the socket holds, letting its background task run in between (it may
    # hold one it read while the queue was full).
    held: list[bytes] = []
    while True:
        await trio.testing.wait_all_tasks_blocked()
        try:
            held.append(sock.message_received.receive_nowait().data)
        except trio.WouldBlock:
            break
    info = sock.information
    assert info.kernel_dropped_message_count == 0
    delivered = sorted(int(data) for data in got + held)
    assert len(delivered) == len(set(delivered)), "a datagram came twice"
    assert len(delivered) + info.dropped_message_count == sent
    assert info.received_message_count == sent


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(script=st.lists(step, max_size=25), queue_size=st.integers(1, 6))
def test_random_interleavings_lose_nothing_and_never_share_the_socket(
    script: list[tuple[str, int]], queue_size: int
) -> None:
    trio.run(run_script, script, queue_size)
