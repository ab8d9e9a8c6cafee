"""The pieces of a message received in parts, held at about the cost of their bytes.

A peer chooses how a message is split: a million one-byte frames would cost a million
bytes objects (about 40 bytes each, and a list slot) if each were kept as it came. Small
pieces are therefore copied into one growing buffer, and large ones, whose object costs
little beside their bytes, are kept as they are, without a copy.
"""

from __future__ import annotations

__all__ = ["GATHER_BELOW", "MessagePieces"]

#: Pieces shorter than this are copied into a shared buffer; longer ones are kept whole.
GATHER_BELOW = 4096


class MessagePieces:
    """The parts of one message so far: :meth:`add` each, :meth:`take` the whole.

    What it holds beyond the bytes added is bounded: one object per piece of
    :data:`GATHER_BELOW` bytes or more, and one buffer after each (or at the start)
    for the small pieces that follow it.
    """

    __slots__ = ("_gathering", "_parts", "size")

    def __init__(self) -> None:
        self._parts: list[bytes | bytearray | memoryview] = []
        # The buffer of small pieces, while it is the last part (never a piece added).
        self._gathering: bytearray | None = None
        #: The bytes added since the last :meth:`take`.
        self.size = 0

    def __len__(self) -> int:
        """How many objects hold the pieces (not bytes: see :attr:`size`)."""
        return len(self._parts)

    def add(self, data: bytes | bytearray | memoryview) -> None:
        """Add the next piece (an empty one adds nothing). A piece kept whole must not
        change afterwards."""
        size = len(data)
        if not size:
            return
        self.size += size
        if size >= GATHER_BELOW:
            self._parts.append(data)
            self._gathering = None
        elif self._gathering is not None:
            self._gathering += data
        else:
            self._gathering = bytearray(data)
            self._parts.append(self._gathering)

    def take(self, last: bytes | bytearray | memoryview = b"") -> bytes:
        """The whole message, *last* piece included; the pieces are then empty. Without
        earlier pieces *last* is returned as it is (no copy)."""
        parts = self._parts
        if not parts:
            return bytes(last)
        if last:
            parts.append(last)
        message = b"".join(parts)
        self._parts = []
        self._gathering = None
        self.size = 0
        return message
