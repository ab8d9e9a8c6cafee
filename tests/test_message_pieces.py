"""The pieces of a message received in parts, on their own: no sockets, no trio.

For any split of any messages into pieces (empty, tiny, around the gathering threshold,
large; bytes, bytearray or memoryview), :meth:`MessagePieces.take` gives each message
exactly, the pieces kept whole are not copied, and what is held is bounded by one object
per large piece plus one buffer after each.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trio_sockets._core.pieces import GATHER_BELOW, MessagePieces

_SIZES = st.one_of(
    st.integers(0, 3),
    st.integers(GATHER_BELOW - 2, GATHER_BELOW + 1),
    st.integers(0, 3 * GATHER_BELOW),
)
_KINDS = st.sampled_from([bytes, bytearray, memoryview])


@st.composite
def _messages(draw: st.DrawFn) -> list[list[bytes | bytearray | memoryview]]:
    messages = []
    for number in range(draw(st.integers(1, 3))):
        pieces: list[bytes | bytearray | memoryview] = []
        for size in draw(st.lists(_SIZES, max_size=12)):
            fill = bytes([(number * 31 + len(pieces)) % 256])
            pieces.append(draw(_KINDS)(fill * size))
        messages.append(pieces)
    return messages


@given(_messages(), _KINDS)
def test_take_gives_each_message_exactly_in_bounded_objects(
    messages: list[list[bytes | bytearray | memoryview]],
    last_kind: type[bytes | bytearray | memoryview],
) -> None:
    held = MessagePieces()
    for pieces in messages:
        before = [bytes(piece) for piece in pieces]
        large = 0
        for piece in pieces:
            held.add(piece)
            large += len(piece) >= GATHER_BELOW
            assert len(held) <= 2 * large + 1
        assert held.size == sum(map(len, pieces))
        last = last_kind(b"end")
        message = held.take(last)
        assert type(message) is bytes
        assert message == b"".join(pieces) + b"end"
        assert [bytes(piece) for piece in pieces] == before  # nothing added was changed
        assert (len(held), held.size) == (0, 0)


def test_a_message_in_one_piece_is_not_copied() -> None:
    data = b"x" * 100
    assert MessagePieces().take(data) is data


def test_many_tiny_pieces_are_one_buffer() -> None:
    held = MessagePieces()
    for _ in range(100_000):
        held.add(b"a")
    assert len(held) == 1
    assert held.take() == b"a" * 100_000


def test_a_large_piece_is_kept_without_a_copy() -> None:
    big = bytearray(GATHER_BELOW)
    held = MessagePieces()
    held.add(b"a")
    held.add(big)
    held.add(b"b")
    assert len(held) == 3
    big[0] = 1  # a piece kept whole is the caller's own object
    assert held.take() == b"a\x01" + bytes(GATHER_BELOW - 1) + b"b"
