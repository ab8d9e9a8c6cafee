"""Where the frames of a received WebSocket byte stream begin (RFC 6455, section 5.2),
so that the reader gives the protocol a read in pieces of a bounded number of frames.

``websockets`` parses all it is given at once: a read of 256 KiB made of 2-byte frames
becomes some 130,000 frame objects (about 13 MiB), held while the reader waits for the
application to take messages. Given the read in pieces in which at most a few dozen
frames begin, the protocol holds that many at a time; a read that is one large frame
(or the middle of one) stays one piece, at no extra cost.

Only the lengths are read here (a frame's second byte, its extended length, its mask
bit): the protocol parses and checks everything else, and a stream it refuses ends the
connection, so this count need not be right past an invalid frame.
"""

from __future__ import annotations

__all__ = ["FRAMES_PER_PIECE", "PIECES_PER_YIELD", "FrameStarts"]

#: How many frames may begin in one piece of a read given to the protocol: the most
#: frame objects it makes at a time.
FRAMES_PER_PIECE = 64
#: How many pieces of one read the reader gives the protocol before it lets the other
#: tasks run: a read of 2-byte frames is some 2,000 pieces, a second of parsing.
PIECES_PER_YIELD = 16

# The longest frame header: 2 bytes, an 8-byte extended length and a 4-byte mask key.
_LONGEST_HEADER = 14


class FrameStarts:
    """Follows one direction of a connection from the first byte after the opening
    handshake: every byte received goes through :meth:`cut`, in order (a read at a
    time: :meth:`first`, then :meth:`next` until :attr:`at` is at its end)."""

    __slots__ = ("_head", "_last_control", "_left", "at", "pieces", "read")

    def __init__(self) -> None:
        # The bytes of the current frame still to come (past the last piece's end).
        self._left = 0
        # The start of a header that the last piece ended in.
        self._head = b""
        #: The read being given in pieces (b"" once given), and where its next piece
        #: begins.
        self.read = b""
        self.at = 0
        #: How many pieces of the read were given.
        self.pieces = 0
        # Where the read's last control frame ends (None: not looked for yet).
        self._last_control: int | None = None

    def first(self, data: bytes, most: int = 0) -> bytes:
        """*data* was read: its first piece, in which at most :data:`FRAMES_PER_PIECE`
        frames begin, *most* bytes long at most (0: any); :meth:`next` gives the rest
        while :attr:`at` is short of its end."""
        self.read = data
        self._last_control = None
        self.pieces = 1
        end = self.at = self.cut(data, 0, FRAMES_PER_PIECE, most)
        return data if end == len(data) else data[:end]

    def next(self, most: int = 0) -> bytes:
        """The next piece of the read, as :meth:`first` gives the first."""
        start = self.at
        end = self.at = self.cut(self.read, start, FRAMES_PER_PIECE, most)
        self.pieces += 1
        return self.read[start:end]

    def control_ahead(self) -> bool:
        """Whether a control frame (a ping, pong or close frame) of the read has not all
        been given yet: its answer is still to be made."""
        last = self._last_control
        if last is None:
            last = self._last_control = self._control_end(self.read, self.at)
        return last > self.at

    def _control_end(self, data: bytes, start: int) -> int:
        """Where the last control frame that begins in *data* from *start* (what follows
        the last piece) ends; -1 if none does. Changes nothing."""
        last = -1
        at = start + self._left
        held = self._head
        if held:
            head = held + data[start : start + _LONGEST_HEADER]
            frame_end = _frame_end(head, 0)
            if frame_end < 0:
                return len(data) if head[0] & 0x08 else -1
            at = start - len(held) + frame_end
            if head[0] & 0x08:
                last = at
        while at < len(data):
            control = data[at] & 0x08  # opcodes 8 to 15
            frame_end = _frame_end(data, at)
            at = frame_end if frame_end >= 0 else len(data)
            if control:
                last = at
        return last

    def cut(self, data: bytes, start: int, frames: int, most: int = 0) -> int:
        """The end of the next piece of *data* from *start*: as long as it can be with
        at most *frames* frames beginning in it, and at most *most* bytes long when
        *most* is not 0. The bytes up to the returned offset count as given to the
        protocol: the next call continues from there."""
        end = len(data) if not most else min(len(data), start + most)
        held = self._head
        if held:  # the header began in the last piece
            head = held + data[start : min(start + _LONGEST_HEADER, end)]
            at = _frame_end(head, 0)
            if at < 0:
                self._head = head
                return end
            at += start - len(held)
            self._head = b""
        else:
            at = start + self._left
        while at < end:
            if not frames:
                self._left = 0
                return at  # the next frame begins the next piece
            frames -= 1
            if end - at < _LONGEST_HEADER:
                head = data[at:end]
                frame_end = _frame_end(head, 0)
                if frame_end < 0:
                    self._head = head  # the header goes on in the next piece
                    self._left = 0
                    return end
                at += frame_end
            else:
                second = data[at + 1]
                length = second & 0x7F
                # The header (2 bytes, 4 more masked) and the payload, or the longer forms.
                at = at + 2 + (second >> 5 & 4) + length if length < 126 else _frame_end(data, at)
        self._left = at - end
        return end


def _frame_end(head: bytes, at: int) -> int:
    """Where the frame whose header begins at *at* in *head* ends, or -1 if *head* ends
    within the header."""
    have = len(head) - at
    if have < 2:
        return -1
    second = head[at + 1]
    length = second & 0x7F
    size = 2 + (second >> 5 & 4)
    if length >= 126:
        extended = 2 if length == 126 else 8
        size += extended
        if have < size:
            return -1
        length = int.from_bytes(head[at + 2 : at + 2 + extended], "big")
    elif have < size:
        return -1
    return at + size + length
