"""StreamWebSocket against the ``websockets`` library's server (its own thread) and
hand-driven peers (tests/ws_peers.py)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
import trio
from conftest import live_tasks
from websockets.server import ServerProtocol
from ws_peers import RawPeer, WebsocketsServer

from trio_sockets import (
    DataReader,
    DataWriter,
    InputStreamOptions,
    StreamWebSocket,
    WebErrorStatus,
    WebSocketStatusError,
)


@pytest.fixture
def server() -> Iterator[WebsocketsServer]:
    with WebsocketsServer() as peer:
        yield peer


async def receive_exactly(ws: StreamWebSocket, size: int) -> bytes:
    data = bytearray()
    with trio.fail_after(30):
        while len(data) < size:
            chunk = await ws.receive_some(size - len(data))
            assert chunk, "the stream ended early"
            data += chunk
    return bytes(data)


async def test_bytes_sent_come_back_in_order(server: WebsocketsServer) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    async with StreamWebSocket() as ws:
        assert isinstance(ws, trio.abc.Stream)
        await ws.connect(server.url("/echo"))
        async with trio.open_nursery() as nursery:

            async def send() -> None:
                for start in range(0, len(payload), 100_000):
                    await ws.send_all(payload[start : start + 100_000])

            nursery.start_soon(send)
            assert await receive_exactly(ws, len(payload)) == payload
        await ws.wait_send_all_might_not_block()


async def test_data_reader_and_writer_work_over_the_streams(server: WebsocketsServer) -> None:
    async with StreamWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        writer = DataWriter(ws.output_stream)
        writer.write_int32(-7)
        writer.write_string("héllo")
        assert await writer.store() == 4 + 6
        assert await ws.output_stream.flush() is True
        writer.detach_stream()
        reader = DataReader(ws.input_stream)
        with trio.fail_after(5):
            assert await reader.load(10) == 10
        assert reader.read_int32() == -7
        assert reader.read_string(6) == "héllo"
        await ws.output_stream.write(b"partial")
        with pytest.raises(TypeError, match=r"^options must be an InputStreamOptions, not int 1"):
            await ws.input_stream.read(7, 1)  # type: ignore[arg-type]
        reader.input_stream_options = InputStreamOptions.PARTIAL
        with trio.fail_after(5):
            assert await reader.load(256) == 7
        assert reader.read_bytes(7) == b"partial"


async def test_the_stream_ends_after_a_remote_close(server: WebsocketsServer) -> None:
    async with StreamWebSocket() as ws:
        await ws.connect(server.url("/close"))
        assert await receive_exactly(ws, 11) == b"onetwothree"
        with trio.fail_after(5):
            assert await ws.receive_some() == b""
            assert await ws.receive_some() == b""
            closed = await ws.closed.receive()
        assert (closed.code, closed.reason) == (4001, "bye")
        with pytest.raises(WebSocketStatusError) as caught:
            await ws.send_all(b"after")
        assert caught.value.status is WebErrorStatus.DISCONNECTED
        assert isinstance(caught.value, trio.BrokenResourceError)


async def test_a_reset_connection_breaks_the_stream() -> None:
    def reset(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        protocol.send_binary(b"last")
        sock.sendall(b"".join(protocol.data_to_send()))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with RawPeer(reset) as peer:
        async with StreamWebSocket() as ws:
            await ws.connect(peer.url())
            # The bytes that came before the loss are readable, then the failure.
            received = bytearray()

            async def drain() -> None:
                while True:
                    received.extend(await ws.receive_some())

            with trio.fail_after(5), pytest.raises(WebSocketStatusError) as caught:
                await drain()
            assert received in (b"", b"last")  # a reset may discard what was unread
            assert caught.value.status in (
                WebErrorStatus.CONNECTION_RESET,
                WebErrorStatus.CONNECTION_ABORTED,
            )
            assert isinstance(caught.value, trio.BrokenResourceError)
            with pytest.raises(WebSocketStatusError):
                await ws.receive_some()  # and it stays broken


async def test_misuse_is_refused_clearly(server: WebsocketsServer) -> None:
    async with StreamWebSocket() as ws:
        with pytest.raises(RuntimeError, match="connect"):
            await ws.receive_some()
        with pytest.raises(RuntimeError, match="connect"):
            await ws.send_all(b"x")
        assert ws.control.no_delay is True
        ws.control.no_delay = False
        with pytest.raises(TypeError, match="no_delay"):
            ws.control.no_delay = 1  # type: ignore[assignment]
        await ws.connect(server.url("/echo"))
        with pytest.raises(RuntimeError, match="no_delay"):
            ws.control.no_delay = True
        with pytest.raises(ValueError, match="max_bytes"):
            await ws.receive_some(0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.receive_some)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await ws.receive_some()
            await ws.send_all(b"wake")
        await ws.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await ws.receive_some()
        with pytest.raises(trio.ClosedResourceError):
            await ws.send_all(b"x")
    assert server.wait_closed("/echo")[0] == 1005


async def test_cancelled_receive_loses_nothing(server: WebsocketsServer) -> None:
    tasks = len(live_tasks())
    async with StreamWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        with trio.move_on_after(0.1):
            await ws.receive_some()
        await ws.send_all(b"after the cancel")
        assert await receive_exactly(ws, 16) == b"after the cancel"
    assert len(live_tasks()) == tasks


async def test_cancelled_input_stream_read_keeps_the_bytes_it_had(
    server: WebsocketsServer,
) -> None:
    # A NONE read of 15 bytes gets the 10 of the first message, then its wait for the
    # rest is cancelled: the 10 stay for the next read, before those of the next message.
    async with StreamWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        await ws.send_all(b"0123456789")
        with trio.move_on_after(1) as scope:
            await ws.input_stream.read(15)
        assert scope.cancelled_caught
        await ws.send_all(b"ABCDEFGHIJ")
        with trio.fail_after(5):
            assert await ws.input_stream.read(20) == b"0123456789ABCDEFGHIJ"


async def test_closing_a_reader_over_the_input_stream_leaves_the_websocket_open(
    server: WebsocketsServer,
) -> None:
    # As for a StreamSocket: the reader's close ends the input stream object only.
    async with StreamWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        await ws.send_all(b"request")
        async with DataReader(ws.input_stream) as reader:
            reader.input_stream_options = InputStreamOptions.PARTIAL
            with trio.fail_after(5):
                assert await reader.load(100) == 7
            assert reader.read_bytes(7) == b"request"
        with pytest.raises(trio.ClosedResourceError, match=r"^this input stream was closed$"):
            await ws.input_stream.read(1)
        with pytest.raises(trio.ClosedResourceError, match="DataReader is closed"):
            await reader.load(1)
        await ws.send_all(b"second request")
        assert await receive_exactly(ws, 14) == b"second request"
    # The block closed it, with an empty close frame, not the reader's close.
    assert server.wait_closed("/echo")[0] == 1005


async def test_closing_a_writer_over_the_output_stream_leaves_the_websocket_open(
    server: WebsocketsServer,
) -> None:
    # As for a StreamSocket: the writer's close flushes and ends the output stream
    # object only.
    async with StreamWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        async with DataWriter(ws.output_stream) as writer:
            writer.write_bytes(b"request")
            await writer.store()
        with pytest.raises(trio.ClosedResourceError, match="output stream was closed"):
            ws.output_stream.write(b"refused")
        with pytest.raises(trio.ClosedResourceError, match="output stream was closed"):
            await ws.output_stream.flush()
        await ws.output_stream.aclose()  # idempotent
        await ws.send_all(b"+second")
        assert await receive_exactly(ws, 14) == b"request+second"
    assert server.wait_closed("/echo")[0] == 1005


async def test_closing_the_input_stream_ends_its_read_and_keeps_the_bytes(
    server: WebsocketsServer,
) -> None:
    async with StreamWebSocket() as ws:
        await ws.connect(server.url("/echo"))
        with trio.fail_after(10):  # the read ends when the stream closes, not later
            async with trio.open_nursery() as nursery:

                async def read() -> None:
                    with pytest.raises(trio.ClosedResourceError, match="closed during the read"):
                        await ws.input_stream.read(10)  # gets 4 and waits for the other 6

                nursery.start_soon(read)
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(trio.BusyResourceError):
                    await ws.input_stream.read(1)  # refused, leaving the read as it was
                await ws.send_all(b"0123")
                await trio.sleep(0.5)
                await ws.input_stream.aclose()
        await ws.send_all(b"4567")
        assert await receive_exactly(ws, 8) == b"01234567"
