"""Reading the other side's opening handshake message (a client's request, a server's
response), bounded by the handshake timeout, up to the end of its head: what follows
the head is the connection's, which the protocol sees once the handshake is answered.

The head is found without keeping it: ``websockets``' parser keeps what it parsed (the
headers), and only the last three bytes of what came before a read are needed to find
a ``CRLF CRLF`` that straddles two reads."""

from __future__ import annotations

from typing import Any

import trio
from websockets.protocol import Protocol

from .._core.web_errors import WebErrorStatus, web_socket_error
from .session import RECEIVE_SIZE, Session

__all__ = ["HANDSHAKE_START_KEPT", "read_handshake"]

#: How many of the first bytes of the other side's handshake message ``read_handshake``
#: keeps when asked: a refusal's status line and headers, which are all a client uses of
#: it (``websockets`` takes 128 headers of up to 8 KiB; longer ones go unseen).
HANDSHAKE_START_KEPT = 64 * 1024
_END = b"\r\n\r\n"


def _head_end(tail: bytes, data: bytes) -> int:
    """Where in *data* the head ends (just past its ``CRLF CRLF``), or -1; *tail* is
    the end (at most 3 bytes) of what came before."""
    # An end that begins in the tail ends in data's first 3 bytes.
    at = (tail + data[:3]).find(_END)
    if at >= 0:
        return at + 4 - len(tail)
    at = data.find(_END)
    return at + 4 if at >= 0 else -1


async def read_handshake(
    session: Session[Any, Any], protocol: Protocol, what: str, *, kept: bytearray | None = None
) -> tuple[list[Any], bytes]:
    """Read until the protocol has the other side's handshake message (its event),
    bounded by the handshake timeout; return it and the bytes after its head, which
    the protocol has not seen. The reader gives them to the protocol as it gives a
    read, a server once it has answered the request (``websockets`` would parse frames
    that came with it before the connection is open and its extensions agreed).

    A head the protocol wants a body after is a refusal (a response other than 101):
    its body is not read, no events are returned, and the refusal is in *kept*, which
    gets the first :data:`HANDSHAKE_START_KEPT` bytes read. A body is of no use to a
    client, and waiting for one would hold a refusal whose body is slow or never ends,
    which ``websockets`` would parse in time quadratic in its chunks."""
    timeout = session.control.handshake_timeout
    sock = session.socket
    tail = b""  # the last bytes of the head so far, to find an end split between reads
    headed = False
    try:
        with trio.fail_after(timeout):
            while True:
                data = await sock.receive_some(RECEIVE_SIZE)
                if kept is not None and len(kept) < HANDSHAKE_START_KEPT:
                    kept += data[: HANDSHAKE_START_KEPT - len(kept)]
                rest = b""
                if data and not headed:
                    cut = _head_end(tail, data)
                    if cut >= 0:
                        data, rest, headed = data[:cut], data[cut:], True
                    else:
                        tail = (tail + data[-3:])[-3:]
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                events = protocol.events_received()
                if headed and not events and protocol.handshake_exc is None:
                    return [], b""  # a refusal: its body is not read
                if events or not data or protocol.handshake_exc is not None:
                    return events, rest
    except trio.TooSlowError as exc:
        raise web_socket_error(
            WebErrorStatus.TIMEOUT, f"{what}: no handshake within {timeout:g} s"
        ) from exc
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise session.error_from(exc, what) from exc
