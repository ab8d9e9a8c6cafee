"""Hostile servers: after a real opening handshake, a raw TCP peer sends frames made by
hypothesis (valid, invalid, fragmented, control frames, random bytes). Whatever it
sends, a MessageWebSocket must end within its bounds, deliver only whole data or one
classified failure, and leave no task behind."""

from __future__ import annotations

import trio
from conftest import live_tasks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.http11 import Request
from websockets.server import ServerProtocol

from trio_sockets import (
    HostName,
    MessageWebSocket,
    MessageWebSocketReceiveMode,
    StreamSocketListener,
    WebErrorStatus,
    WebSocketStatusError,
)


def unmasked_frame(opcode: int, data: bytes, fin: bool, rsv1: bool) -> bytes:
    """A server frame, built by hand so that invalid ones can be made too."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    if len(data) < 126:
        return bytes([first, len(data)]) + data
    return bytes([first, 126]) + len(data).to_bytes(2, "big") + data


frames = st.builds(
    unmasked_frame,
    st.sampled_from([0, 1, 2, 8, 9, 10]) | st.integers(0, 15),
    st.binary(max_size=200) | st.text(max_size=60).map(str.encode),
    st.booleans(),
    st.sampled_from([False, False, False, True]),  # RSV1 without deflate is an error
)
raw = st.binary(min_size=1, max_size=64)
wire = st.lists(st.one_of(frames, frames, raw), max_size=12)


async def serve_once(listener: StreamSocketListener, chunks: list[bytes], close_tcp: bool) -> None:
    args = await listener.connection_received.receive()
    async with args.socket as sock:
        protocol = ServerProtocol(max_size=None)
        while True:
            data = await sock.receive_some()
            if not data:
                return
            protocol.receive_data(data)
            events = protocol.events_received()
            if events:
                break
        request = events[0]
        assert isinstance(request, Request)
        protocol.send_response(protocol.accept(request))
        await sock.send_all(b"".join(protocol.data_to_send()))
        for chunk in chunks:
            await sock.send_all(chunk)
        if not close_tcp:
            # Read what the client sends (its close frame) until it hangs up.
            with trio.move_on_after(1):
                while await sock.receive_some():
                    pass


async def scenario(chunks: list[bytes], close_tcp: bool, partial: bool) -> None:
    tasks = len(live_tasks())
    with trio.fail_after(10):
        async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
            await listener.bind_endpoint(HostName("127.0.0.1"), "0")
            nursery.start_soon(serve_once, listener, chunks, close_tcp)
            async with MessageWebSocket() as ws:
                ws.control.close_timeout = 0.5
                ws.control.max_message_size = 150
                if partial:
                    ws.control.receive_mode = MessageWebSocketReceiveMode.PARTIAL_MESSAGE
                await ws.connect(f"ws://127.0.0.1:{listener.information.local_port}/")
                failures = 0
                with trio.move_on_after(0.5):
                    async for args in ws.message_received:
                        assert failures == 0, "an event after the failure"
                        if args.error is None:
                            assert len(args.data) <= 150
                            continue
                        failures += 1
                        assert isinstance(args.error, WebSocketStatusError)
                        assert args.error.status is not WebErrorStatus.UNKNOWN
                        try:
                            args.get_data_reader()
                        except WebSocketStatusError:
                            pass
                        else:
                            raise AssertionError("an error event gave a reader")
            nursery.cancel_scope.cancel()
    assert len(live_tasks()) == tasks


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(chunks=wire, close_tcp=st.booleans(), partial=st.booleans())
def test_hostile_frames_end_cleanly(chunks: list[bytes], close_tcp: bool, partial: bool) -> None:
    trio.run(scenario, chunks, close_tcp, partial)
