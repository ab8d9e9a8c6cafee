"""What a hostile WebSocket peer can make this side hold or conclude: the frames the
stream kinds hold (peak RSS measured, deflate bombs included), empty fragments, the
messages an application has not taken, the keepalive under the application's own
backpressure, the echo server's bound, and header values the handshake cannot carry.
Peers are raw sockets on 127.0.0.1 in threads."""

from __future__ import annotations

import contextlib
import datetime
import functools
import gc
import os
import socket
import ssl
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio
from conftest import process_status_kib, wait_until
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol
from ws_peers import (
    PEER_TIMEOUT,
    RawPeer,
    WebsocketsServer,
    flood,
    longest_stall,
    next_failure,
    opening_request,
)

from trio_sockets import (
    MessageWebSocket,
    ServerMessageWebSocket,
    ServerStreamWebSocket,
    StreamSocketListener,
    StreamWebSocket,
    WebErrorStatus,
    WebSocketStatusError,
)
from trio_sockets._core.write_queue import WRITE_OVERHEAD
from trio_sockets._websockets.frame_starts import FRAMES_PER_PIECE
from trio_sockets._websockets.receiving import PENDING_LIMIT
from trio_sockets._websockets.sending import framed_bound, largest_payload
from trio_sockets._websockets.session import reserve_of
from trio_sockets.testing import TlsCertificates, WebSocketEchoServer

#: What a deflate bomb inflates to: a few hundred KiB on the wire.
BOMB_SIZE = 256 << 20
#: The most the peak RSS may grow while a bomb or a flood of frames is refused: what
#: the bound lets through (1 MiB frames) and its copies, far below the attack's size.
RSS_BOUND_MIB = 24


@contextmanager
def peak_rss_growth() -> Iterator[list[int]]:
    """The growth of this process's peak RSS (MiB) over the block, in the list yielded
    (the peak is reset first: ``clear_refs`` 5)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    start = process_status_kib("VmHWM")
    grown: list[int] = []
    yield grown
    grown.append((process_status_kib("VmHWM") - start) // 1024)


@functools.cache
def deflated_zeros(size: int) -> bytes:
    """*size* zero bytes compressed as one permessage-deflate frame payload."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(size >> 20)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(parts)[:-4]  # RFC 7692: the flush's 00 00 ff ff is left out


def frame_header(
    opcode: int, length: int, *, fin: bool = True, rsv1: bool = False, mask: bool = False
) -> bytes:
    """A frame header announcing *length* bytes (masked with a zero key: the payload
    goes as it is)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", first, bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, bit | 127, length)
    return head + (b"\0\0\0\0" if mask else b"")


def frame(opcode: int, payload: bytes, **flags: bool) -> bytes:
    return frame_header(opcode, len(payload), **flags) + payload


def read_all(raw: socket.socket) -> bytes:
    data = b""
    while chunk := raw.recv(65536):
        data += chunk
    return data


async def read_to_the_end(ws: StreamWebSocket | ServerStreamWebSocket) -> None:
    while await ws.receive_some():
        pass


def close_code_in(data: bytes) -> int:
    """The code of the close frame a server sent after its 101 response."""
    rest = data[data.index(b"\r\n\r\n") + 4 :]
    assert rest[0] == 0x88, rest[:16]
    return int(struct.unpack("!H", rest[2:4])[0])


# -- the stream kinds hold one frame at a time, bounded ------------------------------------


async def test_a_deflate_bomb_to_a_stream_client_closes_with_1009_in_bounded_memory() -> None:
    bomb = deflated_zeros(BOMB_SIZE)

    def bombing(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        sock.sendall(frame(0x2, bomb, rsv1=True))
        peer.read_until_close(sock, protocol)

    with RawPeer(bombing, deflate=True) as peer, peak_rss_growth() as grown:
        async with StreamWebSocket() as ws:
            ws.control.permessage_deflate = True
            await ws.connect(peer.url())
            assert ws.information.permessage_deflate
            with trio.fail_after(10), pytest.raises(WebSocketStatusError) as caught:
                await read_to_the_end(ws)
    assert caught.value.status is WebErrorStatus.REQUEST_ENTITY_TOO_LARGE
    assert caught.value.close_code == 1009
    assert peer.received_close is not None
    assert peer.received_close.code == 1009
    assert grown[0] < RSS_BOUND_MIB, f"peak RSS grew by {grown[0]} MiB"


async def test_a_deflate_bomb_to_a_stream_server_closes_with_1009_in_bounded_memory(
    listener: StreamSocketListener,
) -> None:
    bomb = frame(0x2, deflated_zeros(BOMB_SIZE), rsv1=True, mask=True)
    bombing = _client_sending(int(listener.information.local_port), bomb, deflate=True)
    answers: list[bytes] = []

    async def attack() -> None:
        answers.append(await trio.to_thread.run_sync(bombing))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(attack)
            sock = await listener.accept()
            with peak_rss_growth() as grown:
                async with ServerStreamWebSocket(sock) as ws:
                    ws.control.permessage_deflate = True
                    ws.control.close_timeout = 1
                    await ws.receive_request()
                    await ws.accept()
                    with pytest.raises(WebSocketStatusError) as caught:
                        await read_to_the_end(ws)
    assert caught.value.status is WebErrorStatus.REQUEST_ENTITY_TOO_LARGE
    assert close_code_in(answers[0]) == 1009
    assert grown[0] < RSS_BOUND_MIB, f"peak RSS grew by {grown[0]} MiB"


async def test_a_huge_frame_header_fails_a_stream_at_once_without_its_payload() -> None:
    def announcing(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        sock.sendall(frame_header(0x2, 512 << 20))  # and never the payload
        peer.read_until_close(sock, protocol)

    with RawPeer(announcing) as peer:
        async with StreamWebSocket() as ws:
            await ws.connect(peer.url())
            with trio.fail_after(5), pytest.raises(WebSocketStatusError) as caught:
                await ws.receive_some()
    assert caught.value.status is WebErrorStatus.REQUEST_ENTITY_TOO_LARGE
    assert peer.received_close is not None
    assert peer.received_close.code == 1009


# -- the message kinds: a server is bounded by default --------------------------------------


def _client_sending(port: int, *frames: bytes, deflate: bool = False) -> Callable[[], bytes]:
    """A raw client that opens a connection to *port*, sends *frames* and reads what the
    server answers to the end."""
    request = opening_request()
    if deflate:
        request = request[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=PEER_TIMEOUT) as raw:
            raw.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                head += raw.recv(4096)
            for data in frames:
                raw.sendall(data)
            return head + read_all(raw)

    return client


async def _serve_messages(
    listener: StreamSocketListener, client: Callable[[], bytes], *, deflate: bool = False
) -> tuple[list[int | WebErrorStatus], bytes]:
    """Serve one *client* with a ServerMessageWebSocket left at its defaults; the sizes
    of the messages it received (a status for a failure), and what the client read."""
    answers: list[bytes] = []
    got: list[int | WebErrorStatus] = []

    async def attack() -> None:
        answers.append(await trio.to_thread.run_sync(client))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(attack)
            sock = await listener.accept()
            async with ServerMessageWebSocket(sock) as ws:
                ws.control.permessage_deflate = deflate
                ws.control.close_timeout = 1
                await ws.receive_request()
                await ws.accept()
                async for args in ws.message_received:
                    try:
                        got.append(len(args.data))
                    except WebSocketStatusError as exc:
                        got.append(exc.status)
    return got, answers[0]


async def test_a_message_server_takes_at_most_1_mib_per_message_by_default(
    listener: StreamSocketListener,
) -> None:
    port = int(listener.information.local_port)
    limit = 1 << 20
    client = _client_sending(
        port,
        frame(0x2, bytes(limit), mask=True),
        frame(0x2, bytes(limit // 2), fin=False, mask=True),  # fragments count together
        frame(0x0, bytes(limit // 2 + 1), mask=True),
    )
    got, answer = await _serve_messages(listener, client)
    assert got == [limit, WebErrorStatus.REQUEST_ENTITY_TOO_LARGE]
    assert close_code_in(answer) == 1009


async def test_a_deflate_bomb_to_a_message_server_with_its_defaults_is_refused_in_bounded_memory(
    listener: StreamSocketListener,
) -> None:
    port = int(listener.information.local_port)
    bomb = frame(0x2, deflated_zeros(BOMB_SIZE), rsv1=True, mask=True)
    with peak_rss_growth() as grown:
        got, answer = await _serve_messages(
            listener, _client_sending(port, bomb, deflate=True), deflate=True
        )
    assert got == [WebErrorStatus.REQUEST_ENTITY_TOO_LARGE]
    assert close_code_in(answer) == 1009
    assert grown[0] < RSS_BOUND_MIB, f"peak RSS grew by {grown[0]} MiB"


async def test_a_frame_length_with_its_top_bit_set_fails_a_message_client_at_once() -> None:
    # RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0. Even with no
    # limit (WinRT's default), the client refuses the header rather than buffer on.
    def announcing(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        sock.sendall(frame_header(0x2, (1 << 64) - 1) + bytes(1 << 16))
        peer.read_until_close(sock, protocol)

    with RawPeer(announcing) as peer:
        async with MessageWebSocket() as ws:
            assert ws.control.max_message_size == 0xFFFFFFFF
            await ws.connect(peer.url())
            with trio.fail_after(5):
                args = await ws.message_received.receive()
            with pytest.raises(WebSocketStatusError) as caught:
                args.get_data_reader()
    assert caught.value.status is WebErrorStatus.REQUEST_ENTITY_TOO_LARGE
    assert peer.received_close is not None
    assert peer.received_close.code == 1009


async def test_max_frame_size_bounds_single_frames_from_other_peers() -> None:
    """A 3 MiB message the ``websockets`` server sends in one frame passes only a raised
    ``max_frame_size``."""
    big = bytes(range(256)) * (3 << 12)  # 3 MiB
    with WebsocketsServer() as server:
        async with StreamWebSocket() as ws:
            assert ws.control.max_frame_size == 1 << 20
            await ws.connect(server.url(f"/big/{len(big)}"))
            with trio.fail_after(10), pytest.raises(WebSocketStatusError) as caught:
                await ws.receive_some()
            assert caught.value.status is WebErrorStatus.REQUEST_ENTITY_TOO_LARGE
        async with StreamWebSocket() as ws:
            ws.control.max_frame_size = 4 << 20
            await ws.connect(server.url(f"/big/{len(big)}"))
            got = bytearray()
            with trio.fail_after(10):
                while len(got) < len(big):
                    got += await ws.receive_some(1 << 22)
            assert len(got) == len(big)
            with pytest.raises(RuntimeError, match="max_frame_size"):
                ws.control.max_frame_size = 1 << 20


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
async def test_streams_of_this_library_carry_big_writes_with_the_default_bound(
    listener: StreamSocketListener, deflate: bool
) -> None:
    """Writes over 1 MiB go as frames of 1 MiB at most on the wire, compressed ones
    (random bytes, which deflate makes longer) included."""
    big = os.urandom(3 << 20)

    async def echo() -> None:
        async with ServerStreamWebSocket(await listener.accept()) as ws:
            ws.control.permessage_deflate = deflate
            await ws.receive_request()
            await ws.accept()
            while data := await ws.receive_some(1 << 22):
                await ws.send_all(data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo)
        async with StreamWebSocket() as ws:
            ws.control.permessage_deflate = deflate
            await ws.connect(f"ws://127.0.0.1:{listener.information.local_port}/")
            assert ws.information.permessage_deflate is deflate
            await ws.send_all(big)
            got = bytearray()
            with trio.fail_after(10):
                while len(got) < len(big):
                    got += await ws.receive_some(1 << 22)
            assert bytes(got) == big


# -- empty fragments cost nothing ----------------------------------------------------------


async def test_empty_continuation_frames_grow_no_memory() -> None:
    """A message of ``start``, a million empty continuation frames and ``end`` (2 MB on
    the wire) is held as its 8 bytes of payload, not as a million pieces."""
    count = 1_000_000
    batch = frame(0x0, b"", fin=False) * 100_000

    def fragmenting(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        sock.sendall(frame(0x2, b"start", fin=False))
        for _ in range(count // 100_000):
            sock.sendall(batch)
        sock.sendall(frame(0x0, b"end"))
        peer.read_until_close(sock, protocol)

    with RawPeer(fragmenting) as peer:
        async with MessageWebSocket() as ws:
            ws.control.max_message_size = 1 << 20
            await ws.connect(peer.url())
            with peak_rss_growth() as grown, trio.fail_after(60):
                args = await ws.message_received.receive()
            assert args.data == b"startend"
    # The frames of a read (256 KiB of 2-byte frames) are parsed 64 at a time: the peak
    # did not grow (0 MiB measured), where parsing each read whole took about 30 MiB,
    # and holding each empty piece 150 MiB.
    assert grown[0] < 8, f"peak RSS grew by {grown[0]} MiB"


async def test_a_flood_of_tiny_frames_leaves_the_other_tasks_running() -> None:
    """A read of 2-byte frames is some 131,000 frames, about a second of parsing: the
    reader handed all of it to the protocol before the other tasks of the program ran
    again. It lets them run every 1,024 frames now."""
    flood = frame(0x0, b"", fin=False) * (256 << 10)  # two reads of empty continuations

    def flooding(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        sock.sendall(frame(0x2, b"start", fin=False) + flood + frame(0x0, b"end"))
        peer.read_until_close(sock, protocol)

    with RawPeer(flooding) as peer, trio.fail_after(60):
        async with MessageWebSocket() as ws, longest_stall() as stall:
            ws.control.max_message_size = 1 << 20
            await ws.connect(peer.url())
            args = await ws.message_received.receive()
            assert args.data == b"startend"
    # Parsing a read whole stalled every other task for about a second at a time.
    assert stall[0] < 0.25, f"the event loop stalled for {stall[0]:.2f} s"


async def test_tiny_continuation_frames_are_held_at_about_their_payload() -> None:
    """A message sent as an empty frame and 100,000 one-byte continuation frames, not
    yet ended, is held at about its 100,000 bytes of payload, not as an object per
    frame (tracemalloc of this process once the client has read them all: it has
    answered the ping sent after them)."""
    count = 100_000
    frames = frame(0x2, b"", fin=False) + frame(0x0, b"a", fin=False) * count
    start, read, finish = threading.Event(), threading.Event(), threading.Event()

    def fragmenting(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        start.wait(PEER_TIMEOUT)
        sock.sendall(frames + frame(0x9, b"sync"))
        while not read.is_set() and (data := sock.recv(65536)):
            protocol.receive_data(data)
            events = protocol.events_received()
            if any(isinstance(e, Frame) and e.opcode is Opcode.PONG for e in events):
                read.set()
        finish.wait(PEER_TIMEOUT)
        sock.sendall(frame(0x0, b"z"))
        peer.read_until_close(sock, protocol)

    with RawPeer(fragmenting) as peer:
        async with MessageWebSocket() as ws:
            ws.control.max_message_size = 1 << 20
            await ws.connect(peer.url())
            gc.collect()
            tracemalloc.start()
            try:
                start.set()
                assert await trio.to_thread.run_sync(read.wait, PEER_TIMEOUT)
                held = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
                finish.set()
            with trio.fail_after(10):
                args = await ws.message_received.receive()
            assert args.data == b"a" * count + b"z"
    # The payload, the growth of its buffer, and what one read holds besides (256 KiB).
    assert held < 2 * count + (512 << 10), f"{held} bytes held for {count} bytes of payload"


async def test_a_read_of_empty_messages_is_parsed_a_few_frames_at_a_time() -> None:
    """A server sends 131,072 empty messages at once (256 KiB of 2-byte frames, the
    cheapest a peer can send) to a client whose application reads nothing. While the
    reader waits for the application to take messages, it holds at most 65 frames of
    what it read and has not handled yet, and the process holds less than the 4 MiB
    bound on what waits untaken (1.5 MiB measured, tracemalloc); each read was parsed
    whole before, 13 MiB held. Then every message arrives."""
    count = 131_072
    sent = threading.Event()

    def flooding(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        sock.sendall(frame(0x2, b"") * count)
        sent.set()
        peer.read_until_close(sock, protocol)

    with RawPeer(flooding) as peer, trio.fail_after(60):
        gc.collect()
        frames_before = sum(1 for thing in gc.get_objects() if type(thing) is Frame)
        tracemalloc.start()
        try:
            async with MessageWebSocket() as ws:
                await ws.connect(peer.url())
                assert await trio.to_thread.run_sync(sent.wait, PEER_TIMEOUT)
                await wait_until(lambda: ws._receiver.waiting_for_consumer)
                held = tracemalloc.get_traced_memory()[0]
                tracemalloc.stop()
                frames = sum(1 for thing in gc.get_objects() if type(thing) is Frame)
                for _ in range(count):
                    assert (await ws.message_received.receive()).data == b""
                await ws.aclose(1000)
        finally:
            tracemalloc.stop()
    assert frames - frames_before <= FRAMES_PER_PIECE + 1, f"{frames - frames_before} frames held"
    assert held < PENDING_LIMIT, f"{held} bytes held"


async def test_pings_and_a_close_later_in_the_read_are_answered_before_the_reader_waits() -> None:
    """A client whose application reads nothing is 1 KB under the bound; then one
    packet brings a message that crosses it, 1,000 empty messages, a ping and a close
    frame. The pong and the close reply leave at once, though the ping is past the
    first pieces of the read (they went unanswered until the application read, when
    the reader waited as the bound was crossed); then every message arrives."""
    count = 1_000
    near, answered = threading.Event(), threading.Event()
    seen: list[Opcode] = []

    def bursting(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        sock.sendall(frame(0x2, bytes(PENDING_LIMIT - 256 - 1000)))
        near.wait(PEER_TIMEOUT)
        ping, close = frame(0x9, b"P"), frame(0x8, struct.pack("!H", 1000) + b"bye")
        sock.sendall(frame(0x2, bytes(2000)) + frame(0x2, b"") * count + ping + close)
        while len(seen) < 2 and (data := sock.recv(65536)):
            protocol.receive_data(data)
            seen.extend(e.opcode for e in protocol.events_received() if e.opcode.value >= 8)
        answered.set()
        peer.read_until_close(sock, protocol)

    with RawPeer(bursting) as peer, trio.fail_after(30):
        async with MessageWebSocket() as ws:
            await ws.connect(peer.url())
            untaken = ws._receiver.untaken
            await wait_until(lambda: untaken.held > PENDING_LIMIT - 2000)
            near.set()
            assert await trio.to_thread.run_sync(answered.wait, 5)
            assert seen == [Opcode.PONG, Opcode.CLOSE]
            assert ws._receiver.waiting_for_consumer  # the application still reads nothing
            got = [len(args.data) async for args in ws.message_received]
    assert got == [PENDING_LIMIT - 256 - 1000, 2000] + [0] * count


async def test_a_ping_at_the_end_of_every_read_does_not_lift_the_bound() -> None:
    """A peer sending bursts of 17,024 empty messages (4.2 MiB as counted, over the
    bound) each ended by a ping, a piece of its own, to a client that reads nothing:
    the reader answers a read's pings before it waits, and once the read is handled
    it waits, so the messages held stay at one burst's, not all of them (it read on
    after a read that ended with a ping)."""
    burst = frame(0x2, b"") * (64 * 266) + frame(0x9, b"")

    def pinging(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        with contextlib.suppress(OSError):  # the client ends it by a reset
            for _ in range(8):
                sock.sendall(burst)
                time.sleep(0.1)
            peer.read_until_close(sock, protocol)

    with RawPeer(pinging) as peer, trio.fail_after(60):
        async with MessageWebSocket() as ws:
            await ws.connect(peer.url())
            receiver = ws._receiver
            await wait_until(lambda: receiver.waiting_for_consumer)
            await trio.sleep(1.2)  # the peer has sent every burst
            held = receiver.untaken.held
            assert receiver.waiting_for_consumer
            await trio.aclose_forcefully(ws)
    assert PENDING_LIMIT < held < 2 * PENDING_LIMIT, held


async def test_pings_between_deflated_messages_do_not_lift_the_bound() -> None:
    """A peer sending 1 MiB messages deflated to 1 KiB on the wire, each followed by a
    ping, to a client that reads nothing: pings ahead in a read are answered first only
    while the messages held stay under twice the bound, so the reader stops near it
    (it inflated and held the whole read: 110 MiB from 200 KiB)."""
    body = deflated_zeros(1 << 20)
    message = frame_header(0x2, len(body), rsv1=True) + body + frame(0x9, b"")

    def inflating(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        with contextlib.suppress(OSError):  # the client ends it by a reset
            sock.sendall(message * 200)
            peer.read_until_close(sock, protocol)

    with RawPeer(inflating, deflate=True) as peer, trio.fail_after(60):
        async with MessageWebSocket() as ws:
            ws.control.permessage_deflate = True
            await ws.connect(peer.url())
            receiver = ws._receiver
            await wait_until(lambda: receiver.waiting_for_consumer)
            await trio.sleep(0.5)
            held = receiver.untaken.held
            assert receiver.waiting_for_consumer
            await trio.aclose_forcefully(ws)
    assert PENDING_LIMIT < held < 2 * PENDING_LIMIT + (2 << 20), held


# -- the messages the application has not taken are bounded in bytes ----------------------

#: The messages of the unread-queue tests: an 8-byte index, then 8 MiB.
QUEUE_MESSAGES, QUEUE_BODY = 40, 8 << 20


def _queue_body(deflate: bool) -> bytes:
    """What follows the index in each message: zeros with deflate, else a pattern."""
    return bytes(QUEUE_BODY) if deflate else bytes(range(256)) * (QUEUE_BODY // 256)


def _sending_big_messages(deflate: bool, sent: list[int]) -> Callable[..., None]:
    """A server that sends :data:`QUEUE_MESSAGES` binary messages, each its index and
    :data:`QUEUE_BODY` bytes (deflated zeros, 8 KiB each on the wire, with *deflate*),
    counting in *sent* those it handed to the kernel whole; then it reads until the
    close. The body is shared: the peer allocates little of its own."""
    body = deflated_zeros(QUEUE_BODY) if deflate else _queue_body(deflate)

    def script(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        for index in range(QUEUE_MESSAGES):
            head = struct.pack("!Q", index)
            if deflate:  # a block of its own, then the zeros' blocks: one deflate stream
                compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
                head = compressor.compress(head) + compressor.flush(zlib.Z_SYNC_FLUSH)
            sock.sendall(frame_header(0x2, len(head) + len(body), rsv1=deflate) + head)
            sock.sendall(body)
            sent[0] += 1
        peer.read_until_close(sock, protocol)

    return script


async def _until_the_peer_stops(sent: list[int]) -> None:
    """Wait until the peer has sent every message or sent none for 0.5 s (it is held
    back by TCP), 15 s at most."""
    with trio.move_on_after(15):
        while sent[0] < QUEUE_MESSAGES:
            before = sent[0]
            await trio.sleep(0.5)
            if sent[0] == before:
                return


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
async def test_messages_the_application_has_not_taken_are_bounded_in_bytes(
    deflate: bool,
) -> None:
    """A server sends 40 messages of 8 MiB (with permessage-deflate 8 KiB each on the
    wire, some perhaps in the packet of the 101) to a client whose application reads
    nothing until the server is held back or done: the reader stops reading once the
    messages not yet taken hold more than 4 MiB, and with deflate inflates 16 KiB of a
    read at a time, so the peak RSS grows by a few messages' worth (33 MiB measured, 16
    to 36 MiB with deflate), where the channel's 16 slots held 16 whole messages and
    more (153 MiB; 230 to 330 MiB with deflate, each read inflated at once). Then the
    application reads every message, intact and in order."""
    sent = [0]
    expected = memoryview(_queue_body(deflate))
    with (
        RawPeer(_sending_big_messages(deflate, sent), deflate=deflate) as peer,
        peak_rss_growth() as grown,
        trio.fail_after(60),
    ):
        async with MessageWebSocket() as ws:
            ws.control.permessage_deflate = deflate
            await ws.connect(peer.url())
            assert ws.information.permessage_deflate is deflate
            await _until_the_peer_stops(sent)  # the application reads nothing
            held_back = sent[0] < QUEUE_MESSAGES
            for index in range(QUEUE_MESSAGES):
                data = (await ws.message_received.receive()).data
                assert len(data) == 8 + QUEUE_BODY
                assert struct.unpack("!Q", data[:8])[0] == index
                assert memoryview(data)[8:] == expected
                del data
            await ws.aclose(1000)
    assert peer.received_close is not None
    assert peer.received_close.code == 1000
    # 330 KB of deflated messages fit in the kernel's buffers: only plain ones are held.
    assert held_back or deflate, "the peer was never held back"
    assert grown[0] < 8 * (QUEUE_BODY >> 20), f"peak RSS grew by {grown[0]} MiB"


async def test_a_stream_websocket_makes_room_as_it_takes_what_it_reads(
    listener: StreamSocketListener,
) -> None:
    """A StreamWebSocket takes the received frames from the queue itself: each one taken
    makes room, so 16 MiB sent at once (16 frames of 1 MiB, four times the bound on what
    waits untaken) all arrive, intact, however slowly they are read."""
    big = os.urandom(16 << 20)

    async def send() -> None:
        async with ServerStreamWebSocket(await listener.accept()) as ws:
            await ws.receive_request()
            await ws.accept()
            await ws.send_all(big)
            await read_to_the_end(ws)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            async with StreamWebSocket() as ws:
                await ws.connect(f"ws://127.0.0.1:{listener.information.local_port}/")
                await trio.sleep(0.5)  # the reader stops at the bound meanwhile
                got = bytearray()
                while len(got) < len(big):
                    got += await ws.receive_some(1 << 20)
                assert got == big


# -- the keepalive does not blame the peer for a slow application ---------------------------


async def test_the_keepalive_does_not_fail_a_live_peer_while_the_application_is_slow(
    listener: StreamSocketListener,
) -> None:
    """The server sends 10 MiB at once; the client's application reads nothing for
    1.5 s (the reader stops at its 4 MiB, leaving the server's pongs unread), then reads
    every message: no keepalive failure, and the server sees a normal close."""
    count, size = 40, 256 << 10
    closes: list[int] = []

    async def serve() -> None:
        async with ServerMessageWebSocket(await listener.accept()) as ws:
            await ws.receive_request()
            await ws.accept()
            for _ in range(count):
                await ws.send_final_frame(b"m" * size)
            async for closed in ws.closed:
                closes.append(closed.code)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            async with MessageWebSocket() as ws:
                ws.control.desired_unsolicited_pong_interval = datetime.timedelta(seconds=0.2)
                await ws.connect(f"ws://127.0.0.1:{listener.information.local_port}/")
                await trio.sleep(1.5)  # the application is busy
                for _ in range(count):
                    args = await ws.message_received.receive()
                    assert len(args.data) == size
                await ws.aclose(1000)
    assert closes == [1000]


# -- the echo server refuses what it could not echo, as it arrives -------------------------


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("bound", [1 << 20, 64 << 20, 100_000])
def test_largest_payload_is_the_largest_frame_that_fits(bound: int, compressed: bool) -> None:
    size = largest_payload(bound, compressed)
    room = bound - reserve_of(bound)
    assert framed_bound(size, compressed) + WRITE_OVERHEAD <= room
    assert framed_bound(size + 2, compressed) + WRITE_OVERHEAD > room


async def test_the_echo_server_refuses_a_frame_it_could_not_echo_at_its_header() -> None:
    async with WebSocketEchoServer() as server:
        port = int(server.port)

        def announcing() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                raw.sendall(opening_request())
                raw.sendall(frame_header(0x2, 512 << 20, mask=True))
                return read_all(raw)  # the server's close, without the 511 MiB left

        with trio.fail_after(15):
            answer = await trio.to_thread.run_sync(announcing)
        assert close_code_in(answer) == 1009


# -- header values the handshake cannot carry are refused up front -------------------------


async def test_header_values_outside_latin1_are_refused_by_name(
    listener: StreamSocketListener,
) -> None:
    async with MessageWebSocket() as ws:
        with pytest.raises(ValueError, match=r"X-Euro.*ISO-8859-1") as caught:
            ws.set_request_header("X-Euro", "price: 5 \u20ac")
        assert "\u20ac" in str(caught.value)
        ws.set_request_header("X-Latin", "caf\u00e9")  # ISO-8859-1 is carried
        refused: list[BaseException] = []

        async def serve() -> None:
            async with ServerMessageWebSocket(await listener.accept()) as server_ws:
                request = await server_ws.receive_request()
                try:
                    await server_ws.accept(None, {"X-Euro": "\u20ac"})
                except ValueError as exc:
                    refused.append(exc)
                await server_ws.accept(None, {"X-Latin": request.get_header("X-Latin") or ""})
                async for args in server_ws.message_received:
                    await server_ws.output_stream.write(args.data)

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve)
                await ws.connect(f"ws://127.0.0.1:{listener.information.local_port}/")
                await ws.output_stream.write(b"after a refused accept()")
                assert (await ws.message_received.receive()).data == b"after a refused accept()"
                await ws.aclose(1000)
    assert len(refused) == 1
    assert "X-Euro" in str(refused[0])


def _flooding_deaf_peer(listener: socket.socket, stop: threading.Event) -> None:
    """A WebSocket server that sends a message every 10 ms and never reads again, so it
    never answers a ping."""
    sock, _ = listener.accept()
    with sock:
        sock.settimeout(PEER_TIMEOUT)
        protocol = ServerProtocol(max_size=None)
        while not (events := protocol.events_received()):
            protocol.receive_data(sock.recv(65536))
        protocol.send_response(protocol.accept(events[0]))
        for data in protocol.data_to_send():
            sock.sendall(data)
        for _ in range(1500):  # 15 s at most
            if stop.is_set():
                return
            protocol.send_binary(b"x" * 100)
            try:
                for data in protocol.data_to_send():
                    sock.sendall(data)
            except OSError:
                return
            stop.wait(0.01)


async def _read_slowly_until_a_failure(ws: MessageWebSocket) -> WebErrorStatus | None:
    """Take messages a little slower than the peer sends them, until one is a failure."""
    async for args in ws.message_received:
        try:
            args.get_data_reader()
        except WebSocketStatusError as failure:
            return failure.status
        await trio.sleep(0.03)
    return None


async def test_the_keepalive_fails_a_peer_that_sends_but_never_answers() -> None:
    """The keepalive excuses a pong left unread only while the reader is stopped for the
    application: a peer that keeps sending but never reads (never answers a ping) is
    failed with TIMEOUT within a few intervals, also when the application is a little
    slower than the peer, so that the reader often finds messages waiting."""
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(PEER_TIMEOUT)
        thread = threading.Thread(target=_flooding_deaf_peer, args=(listener, stop))
        thread.start()
        try:
            with trio.fail_after(10):
                async with MessageWebSocket() as ws:
                    ws.control.desired_unsolicited_pong_interval = datetime.timedelta(seconds=0.3)
                    ws.control.close_timeout = 0.3
                    await ws.connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/")
                    start = trio.current_time()
                    status = await _read_slowly_until_a_failure(ws)
                    assert status is WebErrorStatus.TIMEOUT
                    assert trio.current_time() - start < 4
        finally:
            stop.set()
            await trio.to_thread.run_sync(thread.join)


def _reading_slowly(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
    """A live but slow server: reads 64 KiB every 20 ms (about 3 MB/s) and answers each
    ping as soon as it has read it, until the client's close frame."""
    assert protocol is not None
    while protocol.close_rcvd is None and (data := sock.recv(65536)):
        protocol.receive_data(data)
        protocol.events_received()
        sock.sendall(b"".join(protocol.data_to_send()))  # pongs, then the close answer
        time.sleep(0.02)
    peer.received_close = protocol.close_rcvd


async def test_the_keepalive_does_not_fail_a_slow_peer_for_a_ping_behind_this_sides_data() -> None:
    """The ping waits behind this side's own 8 MiB message, which the peer takes in
    about 3 s, at ten times the 0.3 s interval: the peer reads steadily and answers
    the ping once it gets to it, so it is not failed, and the message arrives."""
    with RawPeer(_reading_slowly) as peer:
        with trio.fail_after(20):
            async with MessageWebSocket() as ws:
                ws.control.desired_unsolicited_pong_interval = datetime.timedelta(seconds=0.3)
                await ws.connect(peer.url())
                start = trio.current_time()
                assert await ws.send_final_frame(b"m" * (8 << 20)) == 8 << 20
                took = trio.current_time() - start
                await trio.sleep(1)  # pings go and pongs come back over an idle connection
                await ws.aclose(1000)
    assert took > 1  # the message took several intervals to leave
    assert peer.received_close is not None
    assert peer.received_close.code == 1000


def _sending_and_never_reading(port: int, stop: threading.Event) -> int:
    """A client that sends 64 KiB messages and never reads (so it never sees a ping)."""
    with socket.socket() as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(PEER_TIMEOUT)
        raw.connect(("127.0.0.1", port))
        raw.sendall(opening_request())
        return flood(raw, frame(0x2, b"e" * (64 << 10), mask=True), stop, 15)


async def test_the_keepalive_fails_a_peer_that_reads_nothing_while_the_application_sends(
    listener: StreamSocketListener,
) -> None:
    """An echo server: the application waits on a send that the client never reads, and
    so takes no more messages and the reader stops for it. The keepalive still fails
    the client, with TIMEOUT, within a few intervals: this side's output has had bytes
    waiting and none left for a whole interval."""
    stop = threading.Event()
    failures: list[WebSocketStatusError] = []

    async def echo() -> None:
        async with ServerMessageWebSocket(await listener.accept()) as ws:
            ws.control.desired_unsolicited_pong_interval = datetime.timedelta(seconds=0.3)
            ws.control.close_timeout = 0.3
            await ws.receive_request()
            await ws.accept()
            try:
                async for args in ws.message_received:
                    await ws.send_final_frame(args.data)
            except WebSocketStatusError as failure:
                failures.append(failure)

    port = int(listener.information.local_port)
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, _sending_and_never_reading, port, stop)
            try:
                await echo()
            finally:
                stop.set()
    assert len(failures) == 1
    assert failures[0].status is WebErrorStatus.TIMEOUT
    assert "keepalive" in str(failures[0])


async def test_a_failure_for_what_the_peer_sent_reaches_the_application_at_once() -> None:
    """A message over ``max_message_size`` fails the connection: the application learns
    it at once, while the socket goes on reading what the peer still sends (so that the
    close frame is not lost to a reset), not after ``close_timeout``."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint("127.0.0.1", "0")
        port = int(listener.information.local_port)
        with socket.create_connection(("127.0.0.1", port), timeout=PEER_TIMEOUT) as client:
            client.sendall(opening_request())
            accepted = await listener.accept()
            async with ServerMessageWebSocket(accepted) as ws:
                ws.control.max_message_size = 1000
                assert ws.control.close_timeout >= 10
                await ws.receive_request()
                await ws.accept()
                message = frame(0x2, b"a" * 2000, mask=True)
                await trio.to_thread.run_sync(client.sendall, message)
                start = trio.current_time()
                failure = await next_failure(ws)
                assert failure.status is WebErrorStatus.REQUEST_ENTITY_TOO_LARGE
                assert trio.current_time() - start < 2
                client.shutdown(socket.SHUT_WR)  # the drain, and so aclose(), ends


def _sends_too_much_then_waits(message: bytes) -> Callable[..., None]:
    """A server that sends *message*, reads the client's close frame and then neither
    answers nor closes the connection until the test ends."""

    def script(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        sock.sendall(message)
        while protocol.close_rcvd is None and (data := sock.recv(65536)):
            protocol.receive_data(data)
            protocol.events_received()
        peer.received_close = protocol.close_rcvd
        peer.stop.wait(PEER_TIMEOUT)

    return script


async def _the_failure(ws: MessageWebSocket | StreamWebSocket) -> None:
    """Receive until the failure of the connection is raised."""
    if isinstance(ws, MessageWebSocket):
        (await ws.message_received.receive()).get_data_reader()
    else:
        await read_to_the_end(ws)


@pytest.mark.parametrize(
    ("kind", "fragments"),
    [(MessageWebSocket, False), (MessageWebSocket, True), (StreamWebSocket, False)],
    ids=["message", "message_fragments", "stream"],
)
@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_a_client_learns_of_its_failure_at_once_while_the_server_stays_quiet(
    kind: type[MessageWebSocket | StreamWebSocket],
    fragments: bool,
    tls: bool,
    tmp_path: Path,
) -> None:
    """A server sends a message (a stream: a frame) over the client's bound, then stays
    quiet with the connection open: the client sends its 1009 close frame and the
    application learns of the failure at once, not when ``close_timeout`` ends the wait
    for the server's close."""
    if fragments:
        message = frame(0x2, b"", fin=False) + frame(0x0, b"a", fin=False) * 2000
    else:
        message = frame(0x2, b"a" * 2000)
    context = None
    ws = kind()
    if tls:
        certificates = TlsCertificates(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificates.files("server"))
        ws.control.trusted_certificates = [certificates.authority]
    if isinstance(ws, MessageWebSocket):
        ws.control.max_message_size = 1000
    else:
        ws.control.max_frame_size = 1000
    assert ws.control.close_timeout >= 10
    with RawPeer(_sends_too_much_then_waits(message), ssl_context=context) as peer:
        async with ws:
            await ws.connect(peer.url())
            start = trio.current_time()
            with trio.fail_after(5), pytest.raises(WebSocketStatusError) as caught:
                await _the_failure(ws)
            assert trio.current_time() - start < 2
            assert caught.value.status is WebErrorStatus.REQUEST_ENTITY_TOO_LARGE
            assert caught.value.close_code == 1009
            peer.stop.set()  # the server closes: the drain, and so aclose(), ends
    assert peer.received_close is not None
    assert peer.received_close.code == 1009


@pytest.mark.parametrize(
    ("refused", "more", "code"),
    [
        # A frame of 64 MiB, whose payload keeps coming a while.
        (frame_header(0x2, 64 << 20), b"x" * 65536, 1009),
        # Invalid UTF-8 (the library's own check), then messages keep coming.
        (frame_header(0x1, 3) + b"ok\xff", (frame_header(0x2, 500) + b"x" * 500) * 128, 1007),
    ],
    ids=["too-big", "invalid-utf8"],
)
async def test_aclose_after_the_failure_lets_a_server_still_sending_read_the_close(
    refused: bytes, more: bytes, code: int
) -> None:
    """The server is still sending after what the client refused when the application,
    told of the failure at once, closes: aclose() waits while the client drains the
    connection (within ``close_timeout``), so the server reads the close frame and no
    reset."""

    def slow_sender(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        sock.sendall(refused)
        for _ in range(20):
            sock.sendall(more)
            time.sleep(0.02)
        peer.read_until_close(sock, protocol)  # ConnectionResetError on a reset

    with RawPeer(slow_sender) as peer:
        async with MessageWebSocket() as ws:
            ws.control.max_message_size = 1000
            await ws.connect(peer.url())
            with trio.fail_after(10):
                args = await ws.message_received.receive()
                with pytest.raises(WebSocketStatusError) as caught:
                    args.get_data_reader()
                await ws.aclose()
    assert caught.value.close_code == code
    assert peer.received_close is not None
    assert peer.received_close.code == code


async def test_frames_that_came_with_the_handshake_are_let_go_once_handled() -> None:
    """A server that puts 20,000 empty pings in the packet of its 101: once they are
    answered the client holds none of their frames. It held every one of them, and the
    rest of that read, for as long as the connection lived (10 MiB for 240 KiB)."""
    count = 20_000
    answered = threading.Event()

    def read_the_pongs(peer: RawPeer, sock: socket.socket, protocol: ServerProtocol | None) -> None:
        assert protocol is not None
        pongs = 0
        while pongs < count:
            data = sock.recv(65536)
            if not data:
                return
            protocol.receive_data(data)
            pongs += sum(1 for event in protocol.events_received() if event.opcode == Opcode.PONG)
        answered.set()
        peer.read_until_close(sock, protocol)

    def frames_alive() -> int:
        gc.collect()
        return sum(1 for thing in gc.get_objects() if type(thing) is Frame)

    pings = frame(Opcode.PING, b"") * count
    before = frames_alive()  # what earlier tests left for the collector, if anything
    with trio.fail_after(30), RawPeer(read_the_pongs, with_response=pings) as peer:
        async with MessageWebSocket() as ws:
            await ws.connect(peer.url())
            assert await trio.to_thread.run_sync(answered.wait, PEER_TIMEOUT)
            held = frames_alive() - before
            assert held < 100, f"{held} frames still held"
