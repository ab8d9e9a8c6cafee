"""A StreamSocket's block owns its background writer without a nursery of its own: the
writer starts when an unawaited write first needs it and never outlives the block."""

from __future__ import annotations

import contextvars
import gc
import tracemalloc

import pytest
import trio
import trio.testing
from conftest import live_tasks, narrow, receive_exactly

from trio_sockets import (
    DatagramSocket,
    HostName,
    StreamSocket,
    StreamSocketListener,
    WriteOperation,
)
from trio_sockets._io.scoped import OwnedTasks

_where: contextvars.ContextVar[str] = contextvars.ContextVar("_where", default="unset")


def _writers() -> list[trio.lowlevel.Task]:
    return [task for task in live_tasks() if task.name.startswith("trio_sockets writer")]


# -- OwnedTasks ---------------------------------------------------------------------------


async def test_owned_tasks_run_in_the_starting_tasks_context_and_end_with_the_block() -> None:
    tasks = OwnedTasks()
    seen: list[str] = []
    ended = trio.Event()

    async def background() -> None:
        seen.append(_where.get())
        try:
            await trio.sleep_forever()
        finally:
            ended.set()

    _where.set("the starting task")
    tasks.start_soon(background, name="background")
    await trio.testing.wait_all_tasks_blocked()
    assert seen == ["the starting task"]
    assert tasks.running == 1
    await tasks.aclose()
    assert ended.is_set()
    assert tasks.running == 0


async def test_owned_tasks_are_waited_for_even_when_the_closing_task_is_cancelled() -> None:
    tasks = OwnedTasks()
    cleaned_up = False

    async def slow_to_end() -> None:
        nonlocal cleaned_up
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(0.05)
            cleaned_up = True

    tasks.start_soon(slow_to_end, name="slow to end")
    await trio.testing.wait_all_tasks_blocked()
    with trio.CancelScope() as scope:
        scope.cancel()
        await tasks.aclose()
    assert cleaned_up


async def test_an_owned_tasks_error_is_raised_where_the_block_ends() -> None:
    tasks = OwnedTasks()

    async def failing() -> None:
        raise ValueError("a background task failed")

    tasks.start_soon(failing, name="failing")
    await trio.testing.wait_all_tasks_blocked()
    with pytest.raises(ValueError, match="a background task failed"):
        await tasks.aclose()


async def test_owned_tasks_start_nothing_after_the_block_ended() -> None:
    tasks = OwnedTasks()
    await tasks.aclose()
    with pytest.raises(RuntimeError, match="cannot start late task: the socket's block has ended"):
        tasks.start_soon(trio.sleep_forever, name="late task")


# -- StreamSocket -------------------------------------------------------------------------


async def test_an_entered_stream_socket_opens_no_nursery_and_starts_its_writer_when_needed(
    listener: StreamSocketListener,
) -> None:
    nurseries = trio.lowlevel.current_task().child_nurseries
    async with StreamSocket() as client:
        await client.connect("127.0.0.1", listener.information.local_port)
        async with await listener.accept() as server:
            assert trio.lowlevel.current_task().child_nurseries == nurseries
            assert _writers() == []
            narrow(client, server)
            data = bytes(range(256)) * 4096  # 1 MiB: far more than the kernel takes at once
            client.output_stream.write(data)
            assert client.output_stream.pending_bytes
            await trio.testing.wait_all_tasks_blocked()
            assert len(_writers()) == 1  # started by the write the kernel could not take
            with trio.fail_after(10):
                assert await receive_exactly(server, len(data)) == data
                await client.output_stream.flush()
    assert _writers() == []


async def test_a_stream_socket_block_left_by_an_error_ends_its_writer(
    listener: StreamSocketListener,
) -> None:
    accepted: list[StreamSocket] = []
    operations: list[WriteOperation] = []

    async def body() -> None:
        async with StreamSocket() as client:
            await client.connect("127.0.0.1", listener.information.local_port)
            accepted.append(await listener.accept())
            narrow(client, accepted[0])
            operations.append(client.output_stream.write(b"x" * (1 << 20)))  # nobody reads
            await trio.testing.wait_all_tasks_blocked()
            assert len(_writers()) == 1
            raise KeyError("the body failed")

    with pytest.raises(KeyError):
        await body()
    (server,) = accepted
    (operation,) = operations
    assert _writers() == []
    assert operation.done
    await server.aclose()


async def test_a_cancelled_stream_socket_block_ends_its_writer(
    listener: StreamSocketListener,
) -> None:
    with trio.CancelScope() as scope:
        async with StreamSocket() as client:
            await client.connect("127.0.0.1", listener.information.local_port)
            server = await listener.accept()
            narrow(client, server)
            client.output_stream.write(b"x" * (1 << 20))  # nobody reads
            await trio.testing.wait_all_tasks_blocked()
            assert len(_writers()) == 1
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert _writers() == []
    await server.aclose()


async def test_entering_an_accepted_socket_in_its_handler_costs_no_nursery(
    listener: StreamSocketListener,
) -> None:
    """What a server's idle connection costs for being entered (the tutorial's
    handler): a nursery per block was about 1.3 KiB of it."""
    count = 200
    port = listener.information.local_port
    clients: list[StreamSocket] = []
    release = trio.Event()

    async def measure(entered: bool) -> float:
        held = 0
        all_held = trio.Event()

        async def handler(sock: StreamSocket) -> None:
            nonlocal held
            if entered:
                async with sock:
                    held += 1
                    if held == count:
                        all_held.set()
                    await release.wait()
            else:
                held += 1
                if held == count:
                    all_held.set()
                await release.wait()
                await sock.aclose()

        accepted = [await _connected(listener, port, clients) for _ in range(count)]
        gc.collect()
        tracemalloc.start()
        try:
            async with trio.open_nursery() as nursery:
                for sock in accepted:
                    nursery.start_soon(handler, sock)
                await all_held.wait()
                grown = tracemalloc.get_traced_memory()[0]
                release.set()
        finally:
            tracemalloc.stop()
        return grown / count

    plain = await measure(entered=False)
    release = trio.Event()
    entered = await measure(entered=True)
    for client in clients:
        await client.aclose()
    assert entered - plain < 256, f"entering costs {entered - plain:.0f} bytes per connection"


async def _connected(
    listener: StreamSocketListener, port: str, clients: list[StreamSocket]
) -> StreamSocket:
    client = StreamSocket()
    await client.connect("127.0.0.1", port)
    clients.append(client)
    return await listener.accept()


async def test_an_accepted_sockets_remote_names_are_its_peers_address_and_port(
    listener: StreamSocketListener,
) -> None:
    port = listener.information.local_port
    async with StreamSocket() as first, StreamSocket() as second:
        await first.connect("127.0.0.1", port)
        await second.connect(HostName("127.0.0.1"), port)
        async with await listener.accept() as one, await listener.accept() as two:
            for client, server in ((first, one), (second, two)):
                assert client.information.remote_host_name == HostName("127.0.0.1")
                assert client.information.remote_service_name == port
                assert server.information.remote_host_name == HostName("127.0.0.1")
                assert server.information.remote_service_name == client.information.local_port
                assert server.information.remote_port == client.information.local_port
                assert server.information.local_port == port
            assert one.information.local_address == two.information.local_address


# -- blocks of other tasks -------------------------------------------------------------


@pytest.mark.parametrize("first_ends_first", [True, False])
async def test_a_block_of_another_task_neither_strands_nor_corrupts_the_first(
    first_ends_first: bool,
) -> None:
    """``async with sock`` in a second task (as ``trio.serve_listeners`` does): when the
    first block ends first, the socket's background work ends with it, and the second
    block ends cleanly on the closed socket, whichever order."""
    sock = DatagramSocket()
    entered, release = trio.Event(), trio.Event()
    second_ended: list[str] = []

    async def second_block() -> None:
        async with sock:
            entered.set()
            await release.wait()
        second_ended.append("cleanly")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            async with sock:
                await sock.bind_endpoint(HostName("127.0.0.1"), "0")
                nursery.start_soon(second_block)
                await entered.wait()
                if not first_ends_first:
                    release.set()
                    await trio.testing.wait_all_tasks_blocked()
                    assert second_ended == ["cleanly"]
            # The first block ended: so did the socket's receive loop.
            assert not [t for t in live_tasks() if t.name.startswith("receive loop")]
            release.set()
    assert second_ended == ["cleanly"]


async def test_trio_serve_listeners_in_another_task_outlived_by_nothing() -> None:
    """The application's listener block ends while ``trio.serve_listeners`` (which
    enters the listener in its own task) still runs: the accept loop ends with the
    block, and serve_listeners ends as it does with trio's own listener, on the closed
    listener (ClosedResourceError), with trio's state intact."""

    async def hello(stream: trio.abc.Stream) -> None:
        async with stream:
            await stream.send_all(b"hello")

    with trio.fail_after(10):
        with pytest.RaisesGroup(trio.ClosedResourceError, flatten_subgroups=True):
            async with trio.open_nursery() as nursery:
                async with StreamSocketListener() as listener:
                    await listener.bind_endpoint(HostName("127.0.0.1"), "0")
                    nursery.start_soon(trio.serve_listeners, hello, [listener])
                    async with StreamSocket() as client:
                        await client.connect(HostName("127.0.0.1"), listener.information.local_port)
                        assert await receive_exactly(client, 5) == b"hello"
                assert not [t for t in live_tasks() if t.name.startswith("accept loop")]
