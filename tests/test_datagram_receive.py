"""Who reads a DatagramSocket: the consumer waiting in receive(), else the background task.

Real sockets on loopback. Task steps are counted with a trio instrument: a consumer
waiting in ``message_received.receive()`` reads the datagram in its own task, so the
socket's background task takes no step per datagram; a consumer that goes away leaves
the reading to the background task, which fills the bounded queue and counts the drops.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator

import pytest
import trio
import trio.testing
from conftest import counting_steps, wait_until

from trio_sockets import DatagramSocket, DatagramSocketMessageReceivedEventArgs

Args = DatagramSocketMessageReceivedEventArgs


@contextlib.contextmanager
def raw_udp() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


async def test_a_waiting_consumer_reads_the_datagram_in_its_own_task() -> None:
    """No trip through the background task: it takes no step per datagram, whether the
    consumer was waiting before the datagram came or the datagram was there first."""
    count = 200
    with trio.fail_after(20), raw_udp() as sender:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            port = int(sock.information.local_port)
            got: list[bytes] = []
            with counting_steps() as steps:
                async with trio.open_nursery() as nursery:

                    async def consume() -> None:
                        async for args in sock.message_received:
                            got.append(args.data)
                            if len(got) == count:
                                return

                    nursery.start_soon(consume)
                    for index in range(count):
                        if index % 2:
                            await trio.testing.wait_all_tasks_blocked()  # consumer waits
                        sender.sendto(b"%d" % index, ("127.0.0.1", port))
                        await wait_until(lambda: len(got) > index, interval=0.001)  # noqa: B023
            assert got == [b"%d" % index for index in range(count)]
            # The background task ran only to hand over the turn, not per datagram
            # (it took 200 steps, one per datagram, before consumers read for themselves).
            assert steps.of("receive loop") <= 4, steps.by_name
            assert steps.of("consume") <= 2 * count + 4, steps.by_name


async def test_a_consumer_that_goes_away_leaves_the_reading_to_the_background_task() -> None:
    """The queue's bound and its drop count hold while the consumer does something else:
    the background task reads what arrives into the queue and drops beyond it."""
    with trio.fail_after(20), raw_udp() as sender:
        async with DatagramSocket(message_queue_size=16) as sock:
            sock.control.inbound_buffer_size_in_bytes = 1 << 20
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            sender.sendto(b"first", address)
            with trio.fail_after(5):
                assert (await sock.message_received.receive()).data == b"first"
            # This task held the turn for that receive(); now it waits elsewhere.
            for index in range(100):
                sender.sendto(b"%d" % index, address)
            info = sock.information
            await wait_until(lambda: info.received_message_count == 101, interval=0.001)
            assert sock.message_received.statistics().current_buffer_used == 16
            assert info.dropped_message_count == 100 - 16
            held = [sock.message_received.receive_nowait().data for _ in range(16)]
            assert held == [b"%d" % index for index in range(16)]


class _CancelWhen(trio.abc.Instrument):
    """Cancels *scope* after the first task step at whose end *condition* holds."""

    def __init__(self, condition: Callable[[], bool], scope: trio.CancelScope) -> None:
        self.condition = condition
        self.scope = scope

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.condition():
            self.scope.cancel()


async def test_a_consumer_gone_into_a_long_wait_has_the_socket_read_at_once() -> None:
    """The background task takes the turn at the next scheduling pass even when nothing
    else is ready and trio's only timer is far away: it does not wait for that timer."""
    with trio.fail_after(20), raw_udp() as sender:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            received = sock.message_received
            sender.sendto(b"first", address)
            async with trio.open_nursery() as nursery:

                async def send_second_when_blocked() -> None:
                    await trio.testing.wait_all_tasks_blocked()
                    sender.sendto(b"second", address)

                nursery.start_soon(send_second_when_blocked)
                assert (await received.receive()).data == b"first"
                # In the same task step: this task takes the turn and waits on the socket.
                assert (await received.receive()).data == b"second"
                # It gave the turn back as receive() returned, and now waits elsewhere.
                for index in range(5):
                    sender.sendto(b"%d" % index, address)
                info = sock.information
                with trio.CancelScope() as away:
                    watcher = _CancelWhen(lambda: info.received_message_count == 7, away)
                    trio.lowlevel.add_instrument(watcher)
                    try:
                        start = time.monotonic()
                        await trio.sleep(10)
                    finally:
                        trio.lowlevel.remove_instrument(watcher)
                elapsed = time.monotonic() - start
            assert away.cancelled_caught, "the datagrams were not read during the wait"
            assert elapsed < 5, f"read only after {elapsed:.1f} s"
            held = [received.receive_nowait().data for _ in range(5)]
            assert held == [b"%d" % index for index in range(5)]


async def test_an_empty_datagram_first_in_line_is_received_at_once_by_the_turn_holder() -> None:
    """A consumer holding the turn asks the kernel whether anything waits (FIONREAD)
    before reading; the kernel says 0 both for nothing and for an empty datagram first
    in line. The consumer then waits for readability, which returns at once."""
    with trio.fail_after(10), raw_udp() as sender:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            received = sock.message_received
            sender.sendto(b"first", address)
            assert (await received.receive()).data == b"first"
            # No yield since: the next receive() takes the turn and asks the kernel.
            sender.sendto(b"", address)
            sender.sendto(b"after", address)
            start = time.monotonic()
            assert (await received.receive()).data == b""
            assert (await received.receive()).data == b"after"
            assert time.monotonic() - start < 1


async def test_several_consumers_share_the_datagrams_and_lose_none() -> None:
    """Consumers on clones of message_received each get some; together every one, once."""
    count, burst = 600, 30
    with trio.fail_after(30), raw_udp() as sender:
        async with DatagramSocket(message_queue_size=8) as sock:
            sock.control.inbound_buffer_size_in_bytes = 1 << 20
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            got: dict[int, list[int]] = {0: [], 1: [], 2: []}

            async def consume(number: int, channel: trio.abc.ReceiveChannel[Args]) -> None:
                async with channel:
                    async for args in channel:
                        got[number].append(int(args.data))
                        if number == 1:
                            await trio.lowlevel.checkpoint()  # this one also yields elsewhere

            async with trio.open_nursery() as nursery:
                for number in got:
                    nursery.start_soon(consume, number, sock.message_received.clone())
                for start in range(0, count, burst):
                    for index in range(start, start + burst):
                        sender.sendto(b"%d" % index, address)
                    total = start + burst
                    await wait_until(
                        lambda: sum(map(len, got.values())) >= total,  # noqa: B023
                        interval=0.001,
                    )
                await sock.aclose()  # every async for ends
            assert sorted(index for indexes in got.values() for index in indexes) == list(
                range(count)
            )
            assert sock.information.dropped_message_count == 0
            for indexes in got.values():
                assert indexes == sorted(indexes)  # each consumer sees them in order


async def test_a_cancelled_consumer_passes_the_turn_to_the_next_one() -> None:
    with trio.fail_after(10), raw_udp() as sender:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            got: list[bytes] = []
            async with trio.open_nursery() as nursery:
                first = trio.CancelScope()

                async def receive_one(scope: trio.CancelScope) -> None:
                    with scope:
                        got.append((await sock.message_received.receive()).data)

                nursery.start_soon(receive_one, first)
                await trio.testing.wait_all_tasks_blocked()  # it waits on the socket
                nursery.start_soon(receive_one, trio.CancelScope())
                await trio.testing.wait_all_tasks_blocked()  # it waits for the first
                stats = sock.message_received.statistics()
                assert stats.tasks_waiting_receive == 2
                first.cancel()
                await trio.testing.wait_all_tasks_blocked()
                sender.sendto(b"to the second", address)
            assert got == [b"to the second"]


@pytest.mark.parametrize("datagram_waits", [False, True], ids=["quiet", "a datagram waits"])
async def test_a_handle_closed_before_its_task_takes_the_turn_passed_to_it_wakes_it(
    datagram_waits: bool,
) -> None:
    """The task reading the socket for every handle is cancelled and passes that turn to
    the next waiting one, whose handle is closed before it runs: it waited on the
    socket anyway, until a datagram came (on a quiet socket, for ever), and took a
    datagram that was waiting, which the other handles never got."""
    with trio.fail_after(10), raw_udp() as sender:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            clone = sock.message_received.clone()
            reading = trio.CancelScope()
            outcome: list[object] = []

            async def hold_the_turn() -> None:
                await sock.message_received.receive()  # the next receive takes the turn
                with reading:
                    await sock.message_received.receive()
                clone.close()  # its task has the turn now, and has not run yet
                if datagram_waits:  # it stays for the other handle
                    sender.sendto(b"for the other", address)

            async def receive_on_the_clone() -> None:
                try:
                    outcome.append(await clone.receive())
                except trio.ClosedResourceError as error:
                    outcome.append(error)

            sender.sendto(b"first", address)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(hold_the_turn)
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(receive_on_the_clone)
                await trio.testing.wait_all_tasks_blocked()
                reading.cancel()
                with trio.fail_after(1):
                    await wait_until(lambda: bool(outcome))
            assert isinstance(outcome[0], trio.ClosedResourceError)
            if datagram_waits:
                with trio.fail_after(1):
                    other = await sock.message_received.receive()
                assert other.data == b"for the other"


async def test_closing_a_handle_wakes_its_waiting_task_and_the_others_go_on() -> None:
    with trio.fail_after(10), raw_udp() as sender:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            clone = sock.message_received.clone()
            assert sock.message_received.statistics().open_receive_channels == 2
            outcomes: list[Args | trio.ClosedResourceError] = []
            async with trio.open_nursery() as nursery:

                async def receive_on(channel: trio.abc.ReceiveChannel[Args]) -> None:
                    try:
                        outcomes.append(await channel.receive())
                    except trio.ClosedResourceError as error:
                        outcomes.append(error)

                nursery.start_soon(receive_on, sock.message_received)
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(receive_on, clone)
                await trio.testing.wait_all_tasks_blocked()
                clone.close()
                await trio.testing.wait_all_tasks_blocked()
                assert isinstance(outcomes[0], trio.ClosedResourceError)
                sender.sendto(b"still heard", address)
            last = outcomes[1]
            assert isinstance(last, Args)
            assert last.data == b"still heard"
            with pytest.raises(trio.ClosedResourceError):
                await clone.receive()
            with pytest.raises(trio.ClosedResourceError):
                clone.clone()
            # The task reading the socket for every handle is woken at once when its
            # handle closes; the socket stays open and the next datagram stays for the
            # other handle.
            reading = sock.message_received.clone()
            outcomes.clear()

            async def receive_loop(channel: trio.abc.ReceiveChannel[Args]) -> None:
                # Looping on receive(), it takes the socket from the background task.
                with contextlib.suppress(trio.ClosedResourceError):
                    while True:
                        outcomes.append(await channel.receive())
                outcomes.append(trio.ClosedResourceError())

            async with trio.open_nursery() as nursery:
                nursery.start_soon(receive_loop, reading)
                await trio.testing.wait_all_tasks_blocked()
                sender.sendto(b"first", address)
                await wait_until(lambda: len(outcomes) == 1, interval=0.001)
                await trio.testing.wait_all_tasks_blocked()  # waiting on the socket
                assert sock.message_received.statistics().tasks_waiting_receive == 1
                reading.close()
                await trio.testing.wait_all_tasks_blocked()
                assert len(outcomes) == 2
                assert isinstance(outcomes[1], trio.ClosedResourceError)
            sender.sendto(b"for the other", address)
            with trio.fail_after(5):
                assert (await sock.message_received.receive()).data == b"for the other"
            stats = sock.message_received.statistics()
            assert (stats.open_receive_channels, stats.max_buffer_size) == (1, 1024)
            sock.message_received.close()
            # With no handle open, what arrives is dropped and counted.
            sender.sendto(b"nobody", address)
            await wait_until(lambda: sock.information.dropped_message_count == 1, interval=0.001)


async def test_an_answer_written_from_a_receive_loop_is_sent_by_write_itself() -> None:
    """The tutorial's echo server: each unawaited write() finds nothing pending and sends
    the datagram at once, so the stream's background writer takes no step per answer."""
    count = 200
    with trio.fail_after(20), raw_udp() as client:
        client.settimeout(5)
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            with counting_steps() as steps:
                async with trio.open_nursery() as nursery:

                    async def echo() -> None:
                        answered = 0
                        async for args in sock.message_received:
                            assert args.remote_address is not None
                            stream = await sock.get_output_stream(
                                args.remote_address, args.remote_port
                            )
                            stream.write(args.data)
                            answered += 1
                            if answered == count:
                                return

                    nursery.start_soon(echo)
                    for index in range(count):
                        client.sendto(b"%d" % index, address)
                        await trio.testing.wait_all_tasks_blocked()
                        assert client.recv(100) == b"%d" % index
            assert steps.of("trio_sockets writer") <= 2, steps.by_name


async def test_a_datagram_waiting_for_room_when_the_socket_closes_is_counted_as_dropped(
    mock_clock: trio.testing.MockClock,
) -> None:
    """Read from the kernel but not yet in the full queue: closing the socket drops it, and
    counts it (the mock clock keeps the 10 ms patience from running out first)."""
    with raw_udp() as sender:
        sock = DatagramSocket(message_queue_size=1)
        async with sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            sender.sendto(b"kept", address)
            sender.sendto(b"waits for room", address)
            await trio.testing.wait_all_tasks_blocked()
            assert sock.message_received.statistics().tasks_waiting_send == 1
        info = sock.information
        assert (info.received_message_count, info.dropped_message_count) == (2, 1)
        assert sock.message_received.receive_nowait().data == b"kept"


async def test_queued_datagrams_are_received_in_one_step_and_their_answers_leave_together() -> None:
    """A receive the queue answers is a cancel point but not a schedule point: 32
    datagrams the background task queued are taken without a scheduler step between
    them, so the 32 unawaited answers pile up and leave in two sends (the first alone,
    the rest in one segmentation-offload call) instead of 32."""
    count = 32
    payloads = [b"%04d" % index * 25 for index in range(count)]
    with trio.fail_after(20), raw_udp() as peer:
        peer.settimeout(5)
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            port = int(sock.information.local_port)
            channel = sock.message_received
            for payload in payloads:
                peer.sendto(payload, ("127.0.0.1", port))
            await wait_until(
                lambda: channel.statistics().current_buffer_used == count, interval=0.001
            )
            with trio.CancelScope() as scope:
                scope.cancel()
                await channel.receive()
            assert scope.cancelled_caught
            assert channel.statistics().current_buffer_used == count  # none taken
            first = channel.receive_nowait()
            assert first.remote_address is not None
            output = await sock.get_output_stream(first.remote_address, first.remote_port)
            output.write(payloads[0])
            with counting_steps() as steps:
                for _ in range(count - 1):
                    args = await channel.receive()
                    with args.get_data_reader() as reader:
                        output.write(reader.read_bytes(reader.unconsumed_buffer_length))
            assert steps.total == 0
            await output.flush()
            assert output.datagrams_sent == count
            assert output.send_calls == 2
            assert [peer.recv(200) for _ in payloads] == payloads


async def test_a_consumer_taking_a_flood_yields_at_least_once_per_queue_of_datagrams() -> None:
    """Receives the queue answers do not yield, so a consumer reading a flood itself lets
    other tasks run once per read of the socket: at least once per queue's bound (here
    8) of datagrams and the one that woke it."""
    count, bound = 200, 8
    with trio.fail_after(20), raw_udp() as sender:
        async with DatagramSocket(message_queue_size=bound) as sock, trio.open_nursery() as nursery:
            await sock.bind_endpoint("127.0.0.1", "0")
            port = int(sock.information.local_port)
            ticks = 0
            received: list[bytes] = []

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await trio.lowlevel.checkpoint()

            async def consume() -> None:
                while len(received) < count:
                    received.append((await sock.message_received.receive()).data)

            async with trio.open_nursery() as consumers:
                consumers.start_soon(consume)
                await trio.testing.wait_all_tasks_blocked()  # waiting in receive()
                sender.sendto(b"%05d" % 0, ("127.0.0.1", port))
                # The background task reads it and hands it over; the consumer, looping
                # on receive(), then takes the turn and reads the socket itself.
                await trio.testing.wait_all_tasks_blocked()
                assert len(received) == 1
                for index in range(1, count):
                    sender.sendto(b"%05d" % index, ("127.0.0.1", port))
                nursery.start_soon(ticker)
            assert received == [b"%05d" % index for index in range(count)]  # none lost
            assert ticks >= count // (2 * bound + 2), ticks
            nursery.cancel_scope.cancel()


async def test_datagrams_the_filters_keep_out_still_count_towards_yielding() -> None:
    """A flood of datagrams that a filter keeps out (here unicast ones at a
    multicast-only socket; the connect filter is the same) must not keep the task reading
    them from yielding: the background task yields every 64 of them (it read 200 in one
    step before), and a consumer's read takes at most the queue's room plus 64."""
    count = 200
    with trio.fail_after(20), raw_udp() as sender:
        async with DatagramSocket(message_queue_size=8) as sock:
            sock.control.multicast_only = True
            sock.control.inbound_buffer_size_in_bytes = 1 << 20
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            await trio.testing.wait_all_tasks_blocked()
            with counting_steps() as steps:
                for _ in range(count):  # no yield: all of them wait in the kernel
                    sender.sendto(b"x", address)
                await trio.testing.wait_all_tasks_blocked()
            assert steps.of("receive loop") >= count // 64, steps.by_name
            assert sock.information.received_message_count == 0


async def test_async_for_over_a_closed_handle_raises_and_a_closed_socket_ends_it() -> None:
    with trio.fail_after(10), raw_udp() as sender:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint("127.0.0.1", "0")
            address = ("127.0.0.1", int(sock.information.local_port))
            closed = sock.message_received.clone()
            closed.close()
            with pytest.raises(trio.ClosedResourceError, match="handle was closed"):
                await _iterate_expecting_nothing(closed)
            # Closed by another task while the loop waits in it.
            waiting = sock.message_received.clone()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_close_when_blocked, waiting)
                with pytest.raises(trio.ClosedResourceError, match="handle was closed"):
                    await _iterate_expecting_nothing(waiting)
            sender.sendto(b"one", address)
            sender.sendto(b"two", address)
            got = []
            async for args in sock.message_received:
                got.append(args.data)
                if len(got) == 2:
                    await sock.aclose()  # the loop ends after what the socket held
            assert got == [b"one", b"two"]


async def _close_when_blocked(channel: trio.abc.ReceiveChannel[Args]) -> None:
    await trio.testing.wait_all_tasks_blocked()
    channel.close()


async def _iterate_expecting_nothing(channel: trio.abc.ReceiveChannel[Args]) -> None:
    async for args in channel:
        pytest.fail(f"nothing was sent, yet it received {args!r}")
