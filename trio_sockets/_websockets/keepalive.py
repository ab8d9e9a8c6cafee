"""The keepalive of a WebSocket session: a ping every interval, and the rule by which
the peer is failed with ``TIMEOUT`` (close code 1011). The rule judges the peer, not
this side's own backlog nor its application:

* This side's output has had bytes waiting (the ping, or what the application sends)
  and none of them left for a whole interval: the peer takes nothing, and is failed,
  whatever the application does (an echo server waiting on a send to a client that
  reads nothing included).
* Otherwise the pong is awaited one interval from when the ping left this side's
  output (handed to the kernel), not from when it was queued behind this side's data.
  While the peer's TCP acknowledges bytes sent before the ping (Linux ``TCP_INFO``;
  elsewhere this excuse is not made), the ping is still on its way: the wait goes on,
  one interval at a time, ending an interval after the ping's own acknowledgement.
* While the reader has stopped for the application (messages it has not taken), the
  pong may be waiting unread: the peer is judged after an interval of reading, the
  first rule still applying meanwhile.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Protocol

import trio
from websockets.protocol import State

from .._data.interfaces import WriteOperation
from .._sockets.stream_information import bytes_acked
from .session import Session

__all__ = ["Watched", "keep_alive"]

_GONE = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)


class Watched(Protocol):
    """What the keepalive reads of the receiver, and how it fails the connection."""

    #: The pongs received so far.
    pongs: int
    #: How many times the reader stopped for the application, and whether it is now.
    consumer_waits: int
    waiting_for_consumer: bool

    async def fail_silent_peer(self, reason: str) -> None:
        """Fail the connection with ``TIMEOUT`` and 1011 for *reason*, at once."""


def _open(session: Session[Any, Any]) -> bool:
    protocol = session.protocol
    return protocol is not None and protocol.state is State.OPEN and session.failure is None


def _progress(session: Session[Any, Any]) -> int:
    """A count that grows whenever bytes leave this side: handed to the kernel, or
    acknowledged by the peer's TCP."""
    left = session.written_bytes - session.output().unsent_bytes
    return left + bytes_acked(session.socket.information)


def _stalled(session: Session[Any, Any], interval: float) -> str:
    return (
        f"keepalive: the peer took none of the {session.output().unsent_bytes} bytes "
        f"waiting to be sent for {interval:g} s"
    )


async def keep_alive(session: Session[Any, Any], receiver: Watched, interval: float) -> None:
    """Ping every *interval* seconds, and fail the peer by the module's rule; return
    once the connection is no longer open."""
    await trio.sleep(interval)
    while _open(session):
        protocol = session.protocol
        assert protocol is not None
        pongs = receiver.pongs
        protocol.send_ping(os.urandom(4))
        ping = session.write_pending()
        if ping is None:
            return  # the connection failed: the reader reports it
        position = session.written_bytes  # the ping's end in what this side sent
        reason = await _until_sent(session, ping, interval)
        if reason is None and _open(session):
            reason = await _until_answered(session, receiver, pongs, position, interval)
        if reason is not None:
            if _open(session):
                await receiver.fail_silent_peer(reason)
            return


async def _until_sent(
    session: Session[Any, Any], ping: WriteOperation, interval: float
) -> str | None:
    """Wait until *ping* has left the output; why to fail the peer, if it took nothing
    for a whole interval meanwhile."""
    while not ping.done:
        mark = _progress(session)
        with trio.move_on_after(interval), contextlib.suppress(*_GONE):
            await ping
        if not _open(session):
            return None
        if not ping.done and _progress(session) == mark:
            return _stalled(session, interval)
    return None


async def _until_answered(
    session: Session[Any, Any], receiver: Watched, pongs: int, position: int, interval: float
) -> str | None:
    """Wait an interval (or more, as the module says) for the pong to the ping that
    ends at byte *position*; why to fail the peer, if it did not come."""
    waits = receiver.consumer_waits
    information = session.socket.information
    while True:
        mark = _progress(session)
        acked = bytes_acked(information)
        await trio.sleep(interval)
        if not _open(session) or receiver.pongs != pongs:
            return None
        if session.output().unsent_bytes and _progress(session) == mark:
            return _stalled(session, interval)
        if receiver.waiting_for_consumer or receiver.consumer_waits != waits:
            # The reader stopped for the application: the pong may be unread still.
            waits = receiver.consumer_waits
            continue
        if acked < position and bytes_acked(information) > acked:
            continue  # the ping is on its way behind this side's data
        return f"keepalive ping timeout: no pong within {interval:g} s"
