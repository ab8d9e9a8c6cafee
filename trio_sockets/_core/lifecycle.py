"""The lifecycle of every socket class, as one table, and the conflict detector.

A socket is ``NEW`` until a bind or connect succeeds, then ``BOUND`` or ``CONNECTED``,
and ``CLOSED`` for good. Which operation may start in which phase, and where it leads,
is data (:data:`STREAM_SOCKET`, :data:`DATAGRAM_SOCKET`, :data:`LISTENER`,
:data:`WEBSOCKET`), not code spread over the classes, so one :class:`Lifecycle`
enforces them all and gives every misuse the same kind of error:

* in ``CLOSED``: :exc:`trio.ClosedResourceError`;
* an operation the phase does not allow: :exc:`RuntimeError`, with the table's reason;
* a second operation that changes the phase while one is under way:
  :exc:`trio.BusyResourceError` ("another task is already …").

An operation runs between :meth:`Lifecycle.begin` and :meth:`Lifecycle.finish` (it
succeeded: move on) or :meth:`Lifecycle.abandon` (it failed or was cancelled: the phase
stays). A close may come between the two: then ``finish`` raises
:exc:`trio.ClosedResourceError` and the caller releases what it opened.

Pure: no I/O and no ``await``, so the rules are tested without sockets
(``tests/test_lifecycle.py``), as h11 tests its connection states.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Final

import trio

__all__ = [
    "DATAGRAM_SOCKET",
    "LISTENER",
    "STREAM_SOCKET",
    "WEBSOCKET",
    "Action",
    "ConflictDetector",
    "Lifecycle",
    "Phase",
    "Rules",
]


class Phase(enum.Enum):
    NEW = "new"
    BOUND = "bound"
    CONNECTED = "connected"
    CLOSED = "closed"


class Action(enum.Enum):
    """The operations that change (or need) a phase; the value is their name in messages."""

    BIND = "bind"
    CONNECT = "connect"
    #: DatagramSocket.get_output_stream: binds a new socket, keeps a bound or connected one.
    SEND_TO = "get_output_stream"
    #: StreamSocket.upgrade_to_ssl.
    UPGRADE = "upgrade_to_ssl"
    #: A server WebSocket's opening handshake, from receive_request() to accept().
    ACCEPT = "accept"


class Rules:
    """One class's table: where each allowed action leads, and why the others are refused."""

    __slots__ = ("allowed", "refusals", "what")

    def __init__(
        self,
        what: str,
        allowed: Mapping[Phase, Mapping[Action, Phase]],
        refusals: Mapping[tuple[Phase, Action], str],
    ) -> None:
        self.what: str = what
        self.allowed: Mapping[Phase, Mapping[Action, Phase]] = allowed
        self.refusals: Mapping[tuple[Phase, Action], str] = refusals

    def next_phase(
        self, phase: Phase, action: Action, describe: Callable[[], str] | None = None
    ) -> Phase:
        """The phase *action* leads to from *phase*; raise if it may not start there.

        *describe* names the socket in the :exc:`RuntimeError` (with its addresses);
        without it the message says "this StreamSocket" and so on.
        """
        if phase is Phase.CLOSED:
            raise trio.ClosedResourceError(f"{action.value}: this {self.what} was closed")
        target = self.allowed.get(phase, {}).get(action)
        if target is None:
            reason = self.refusals.get((phase, action), f"it is {phase.value}")
            where = describe() if describe is not None else f"this {self.what}"
            raise RuntimeError(f"{action.value}: not possible on {where}: {reason}")
        return target


_N, _B, _C = Phase.NEW, Phase.BOUND, Phase.CONNECTED

STREAM_SOCKET: Final = Rules(
    "StreamSocket",
    {_N: {Action.CONNECT: _C}, _C: {Action.UPGRADE: _C}},
    {
        (_C, Action.CONNECT): "it is already connected",
        (_N, Action.UPGRADE): "it is not connected",
    },
)
DATAGRAM_SOCKET: Final = Rules(
    "DatagramSocket",
    {
        _N: {Action.BIND: _B, Action.CONNECT: _C, Action.SEND_TO: _B},
        _B: {Action.CONNECT: _C, Action.SEND_TO: _B},
        _C: {Action.SEND_TO: _C},
    },
    {
        (_B, Action.BIND): (
            "it is already bound (WinRT binds a socket once; a connect or "
            "get_output_stream also binds it)"
        ),
        (_C, Action.BIND): "it is already bound and connected (WinRT binds a socket once)",
        (_C, Action.CONNECT): "it is already connected",
    },
)
LISTENER: Final = Rules(
    "StreamSocketListener",
    {_N: {Action.BIND: _B}},
    {(_B, Action.BIND): "it is already bound (a listener binds once)"},
)
#: Every WebSocket, client (``CONNECT``) or server (``ACCEPT``): ``NEW`` until the
#: opening handshake succeeds (connecting while the action runs), then ``CONNECTED``
#: (open). Its closing handshake is the protocol's state, not a phase: the socket stays
#: ``CONNECTED`` until ``aclose()`` or a failure closes it.
WEBSOCKET: Final = Rules(
    "WebSocket",
    {_N: {Action.CONNECT: _C, Action.ACCEPT: _C}},
    {
        (_C, Action.CONNECT): "it is already connected",
        (_C, Action.ACCEPT): "it is already accepted",
    },
)


class Lifecycle:
    """The phase of one socket, moved only as its :class:`Rules` allow.

    At most one phase-changing action runs at a time; actions that keep the phase
    (``get_output_stream`` on a bound socket) may run beside each other.
    """

    __slots__ = ("_changing", "_rules", "_where", "phase")

    def __init__(self, rules: Rules, describe: Callable[[], str] | None = None) -> None:
        """*describe*, if given, names the socket in refusals (see :meth:`Rules.next_phase`)."""
        self._rules = rules
        self._where = describe
        self.phase: Phase = Phase.NEW
        self._changing: Action | None = None

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    @property
    def changing(self) -> Action | None:
        """The phase-changing action under way, if any."""
        return self._changing

    def check(self, action: Action) -> None:
        """Raise what :meth:`begin` would, without starting anything."""
        target = self._rules.next_phase(self.phase, action, self._where)
        if target is not self.phase and self._changing is not None:
            raise trio.BusyResourceError(
                f"{action.value}: another task is already running "
                f"{self._changing.value} on this {self._rules.what}"
            )

    def begin(self, action: Action) -> None:
        """Start *action*: raise if it may not start now (see the module docstring)."""
        self.check(action)
        if self._rules.next_phase(self.phase, action) is not self.phase:
            self._changing = action

    def finish(self, action: Action) -> None:
        """*action* succeeded: enter its phase. Raises :exc:`trio.ClosedResourceError`
        if the socket was closed meanwhile (the caller then releases what it opened)."""
        if self._changing is action:
            self._changing = None
        if self.phase is Phase.CLOSED:
            raise trio.ClosedResourceError(
                f"{action.value}: this {self._rules.what} was closed meanwhile"
            )
        self.phase = self._rules.next_phase(self.phase, action)

    def abandon(self, action: Action) -> None:
        """*action* failed or was cancelled: the phase stays as it was."""
        if self._changing is action:
            self._changing = None

    def close(self) -> bool:
        """Enter ``CLOSED``; False if it was closed already."""
        if self.phase is Phase.CLOSED:
            return False
        self.phase = Phase.CLOSED
        return True


class ConflictDetector:
    """``with detector:`` around an operation that one task at a time may run.

    A second task entering while the first is inside gets
    :exc:`trio.BusyResourceError` with the detector's message, as with trio's own
    ``ConflictDetector`` (``trio._util``), whose role this plays for the sockets.
    """

    __slots__ = ("_held", "_message")

    def __init__(self, message: str) -> None:
        self._message = message
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def __enter__(self) -> None:
        if self._held:
            raise trio.BusyResourceError(self._message)
        self._held = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._held = False
