"""Where received frames begin, on its own: no sockets, no trio.

Frames are made by ``websockets``' own encoder (masked and not, every length form),
received in reads split anywhere, and cut into pieces with any frame and byte limits:
the pieces tile each read, none has more frame starts than allowed, each is as long as
the limits let it be, and ``websockets``' parser, given the pieces, makes at most one
frame more per piece than frames begin in it.
"""

from __future__ import annotations

import bisect

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side

from trio_sockets._websockets.frame_starts import FrameStarts

# Every length form: 7 bits, 16 bits (126 and up), 64 bits (65536 and up).
_LENGTHS = st.one_of(
    st.integers(0, 5),
    st.integers(124, 127),
    st.integers(65534, 65537),
    st.integers(0, 300),
)


def _stream(lengths: list[int], mask: bool) -> tuple[bytes, list[int]]:
    """Binary frames of *lengths*, serialized, and the offset where each begins."""
    wire = b""
    starts = []
    for length in lengths:
        starts.append(len(wire))
        wire += Frame(Opcode.BINARY, bytes([len(starts) % 256]) * length).serialize(mask=mask)
    return wire, starts


@settings(deadline=None)
@given(
    st.lists(_LENGTHS, min_size=1, max_size=8),
    st.booleans(),
    st.lists(st.integers(0, 140_000), max_size=10),
    st.integers(1, 4),
    st.sampled_from([0, 5, 1000, 20_000]),
)
def test_pieces_tile_each_read_with_at_most_the_frames_allowed(
    lengths: list[int], mask: bool, cuts: list[int], frames: int, most: int
) -> None:
    wire, starts = _stream(lengths, mask)
    begins = set(starts)
    # The side that receives masked frames is the server.
    protocol = Protocol(Side.SERVER if mask else Side.CLIENT, max_size=None)
    frame_starts = FrameStarts()
    parsed = 0
    begin = 0
    for read_end in sorted({*(min(cut, len(wire)) for cut in cuts), len(wire)}):
        read = wire[begin:read_end]
        at = 0
        while at < len(read):
            end = frame_starts.cut(read, at, frames, most)
            assert at < end <= len(read)
            assert not most or end - at <= most
            inside = bisect.bisect_left(starts, begin + end) - bisect.bisect_left(
                starts, begin + at
            )
            assert inside <= frames
            if end < len(read):
                # Cut short only by a limit: the byte limit, or a frame that would be
                # one too many.
                assert end - at == most or (inside == frames and begin + end in begins)
            protocol.receive_data(read[at:end])
            events = protocol.events_received()
            assert len(events) <= inside + 1
            parsed += len(events)
            at = end
        begin = read_end
    assert parsed == len(starts)
    assert protocol.parser_exc is None


def test_a_read_inside_one_large_frame_is_one_piece() -> None:
    """The middle of a large frame costs no cut, however long."""
    wire = Frame(Opcode.BINARY, bytes(1 << 20)).serialize(mask=False)
    frame_starts = FrameStarts()
    assert frame_starts.cut(wire[:100], 0, 1) == 100
    assert frame_starts.cut(wire[100:300_000], 0, 1) == 299_900
    assert frame_starts.cut(wire[300_000:] + wire[:2], 0, 1) == len(wire) - 300_000 + 2


def test_2_byte_frames_are_cut_after_the_frames_allowed() -> None:
    """A read of empty frames (2 bytes each, a hostile peer's cheapest) goes in pieces
    of the frames allowed."""
    wire = Frame(Opcode.BINARY, b"").serialize(mask=False) * 1000
    frame_starts = FrameStarts()
    ends = []
    at = 0
    while at < len(wire):
        at = frame_starts.cut(wire, at, 64)
        ends.append(at)
    assert ends == [*range(128, 2000, 128), 2000]


def _pieces(starts: FrameStarts, data: bytes) -> list[tuple[bytes, bool]]:
    """The pieces of the read *data*, each with whether a control frame is still ahead
    once it is given."""
    pieces = [(starts.first(data), starts.control_ahead())]
    while starts.at < len(starts.read):
        pieces.append((starts.next(), starts.control_ahead()))
    return pieces


def test_a_read_goes_in_pieces_and_says_whether_a_control_frame_is_still_ahead() -> None:
    """A read goes in pieces of at most 64 frames; ``control_ahead()`` holds until the
    piece with the read's last control frame has been given, a header split from the
    last read included."""
    empty = Frame(Opcode.BINARY, b"").serialize(mask=False)
    ping = Frame(Opcode.PING, b"p").serialize(mask=False)
    starts = FrameStarts()
    pieces = _pieces(starts, empty * 100 + ping + empty * 10)
    assert [(len(piece), ahead) for piece, ahead in pieces] == [
        (128, True),
        (72 + len(ping) + 20, False),
    ]
    assert _pieces(starts, b"") == [(b"", False)]
    # A ping's header split between reads: ahead only once its read has it.
    assert _pieces(starts, empty + ping[:1]) == [(empty + ping[:1], False)]
    assert _pieces(starts, ping[1:] + empty) == [(ping[1:] + empty, False)]
