"""The socket lifecycle table and the conflict detector, without sockets."""

from __future__ import annotations

import pytest
import trio
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from trio_sockets._core.lifecycle import (
    DATAGRAM_SOCKET,
    LISTENER,
    STREAM_SOCKET,
    WEBSOCKET,
    Action,
    ConflictDetector,
    Lifecycle,
    Phase,
    Rules,
)

ALL_RULES = [STREAM_SOCKET, DATAGRAM_SOCKET, LISTENER, WEBSOCKET]


@pytest.mark.parametrize(
    ("rules", "steps", "phase"),
    [
        (STREAM_SOCKET, [Action.CONNECT], Phase.CONNECTED),
        (STREAM_SOCKET, [Action.CONNECT, Action.UPGRADE], Phase.CONNECTED),
        (DATAGRAM_SOCKET, [Action.BIND, Action.CONNECT], Phase.CONNECTED),
        (DATAGRAM_SOCKET, [Action.SEND_TO, Action.SEND_TO, Action.CONNECT], Phase.CONNECTED),
        (DATAGRAM_SOCKET, [Action.CONNECT, Action.SEND_TO], Phase.CONNECTED),
        (LISTENER, [Action.BIND], Phase.BOUND),
        (WEBSOCKET, [Action.CONNECT], Phase.CONNECTED),
        (WEBSOCKET, [Action.ACCEPT], Phase.CONNECTED),
    ],
)
def test_the_winrt_sequences_are_allowed(rules: Rules, steps: list[Action], phase: Phase) -> None:
    life = Lifecycle(rules)
    for action in steps:
        life.begin(action)
        life.finish(action)
    assert life.phase is phase


@pytest.mark.parametrize(
    ("rules", "steps", "refused", "reason"),
    [
        (STREAM_SOCKET, [Action.CONNECT], Action.CONNECT, "already connected"),
        (STREAM_SOCKET, [], Action.UPGRADE, "not connected"),
        (STREAM_SOCKET, [], Action.BIND, "it is new"),
        (DATAGRAM_SOCKET, [Action.BIND], Action.BIND, "already bound"),
        (DATAGRAM_SOCKET, [Action.SEND_TO], Action.BIND, "already bound"),
        (DATAGRAM_SOCKET, [Action.CONNECT], Action.CONNECT, "already connected"),
        (LISTENER, [Action.BIND], Action.BIND, "already bound"),
        (LISTENER, [], Action.CONNECT, "it is new"),
        (WEBSOCKET, [Action.CONNECT], Action.CONNECT, "already connected"),
        (WEBSOCKET, [Action.ACCEPT], Action.ACCEPT, "already accepted"),
        (WEBSOCKET, [], Action.BIND, "it is new"),
    ],
)
def test_misuse_is_a_runtime_error_that_names_the_action_and_the_class(
    rules: Rules, steps: list[Action], refused: Action, reason: str
) -> None:
    life = Lifecycle(rules)
    for action in steps:
        life.begin(action)
        life.finish(action)
    with pytest.raises(RuntimeError, match=reason) as caught:
        life.begin(refused)
    assert str(caught.value).startswith(f"{refused.value}: ")
    assert rules.what in str(caught.value)


def test_a_refusal_names_the_socket_when_the_lifecycle_can_describe_it() -> None:
    life = Lifecycle(DATAGRAM_SOCKET, lambda: "DatagramSocket 127.0.0.1:5353")
    life.begin(Action.CONNECT)
    life.finish(Action.CONNECT)
    with pytest.raises(
        RuntimeError,
        match=r"^bind: not possible on DatagramSocket 127\.0\.0\.1:5353: it is already bound",
    ):
        life.begin(Action.BIND)


def test_a_close_during_an_action_fails_its_finish() -> None:
    life = Lifecycle(STREAM_SOCKET)
    life.begin(Action.CONNECT)
    assert life.close()
    with pytest.raises(trio.ClosedResourceError, match=r"connect: .* closed meanwhile"):
        life.finish(Action.CONNECT)
    assert life.phase is Phase.CLOSED
    assert life.changing is None


def test_a_websocket_handshake_is_one_at_a_time_and_a_failed_one_leaves_it_new() -> None:
    # Connecting is NEW with the handshake under way; a failed or cancelled one can be
    # tried again, and a close during it fails its finish.
    life = Lifecycle(WEBSOCKET, lambda: "MessageWebSocket 'ws://127.0.0.1/' (connecting)")
    life.begin(Action.CONNECT)
    with pytest.raises(trio.BusyResourceError, match="already running connect"):
        life.begin(Action.CONNECT)
    life.abandon(Action.CONNECT)
    assert life.phase is Phase.NEW
    assert life.changing is None
    life.begin(Action.CONNECT)
    assert life.close()
    with pytest.raises(trio.ClosedResourceError, match="WebSocket was closed meanwhile"):
        life.finish(Action.CONNECT)
    with pytest.raises(trio.ClosedResourceError, match="WebSocket was closed"):
        life.check(Action.CONNECT)


def test_the_conflict_detector_lets_one_task_in() -> None:
    detector = ConflictDetector("another task is receiving on this StreamSocket")
    with detector:
        assert detector.held
        with pytest.raises(trio.BusyResourceError, match="another task is receiving"), detector:
            pass  # pragma: no cover - never entered
        assert detector.held
    assert not detector.held
    with pytest.raises(ValueError, match="boom"), detector:
        raise ValueError("boom")
    assert not detector.held


class LifecycleMachine(RuleBasedStateMachine):
    """Any interleaving of begin / finish / abandon / close keeps the rules' promises."""

    def __init__(self) -> None:
        super().__init__()
        self.rules: Rules | None = None
        self.life: Lifecycle | None = None
        self.running: list[Action] = []  # begun, neither finished nor abandoned
        self.closed = False

    @precondition(lambda self: self.life is None)
    @rule(rules=st.sampled_from(ALL_RULES))
    def make(self, rules: Rules) -> None:
        self.rules = rules
        self.life = Lifecycle(rules)

    @precondition(lambda self: self.life is not None)
    @rule(action=st.sampled_from(list(Action)))
    def begin(self, action: Action) -> None:
        assert self.life is not None
        assert self.rules is not None
        before = self.life.phase
        changing = self.life.changing
        try:
            self.life.begin(action)
        except trio.ClosedResourceError:
            assert self.closed
        except trio.BusyResourceError:
            # Only while another phase-changing action runs, and only for one that
            # would change the phase too.
            assert changing is not None
            assert self.rules.allowed[before][action] is not before
        except RuntimeError:
            assert not self.closed
            assert action not in self.rules.allowed.get(before, {})
        else:
            assert not self.closed
            # Two phase-changing actions never run together.
            assert changing is None or self.rules.allowed[before][action] is before
            self.running.append(action)
        assert self.life.phase is before  # beginning never moves the phase

    @precondition(lambda self: self.running)
    @rule(data=st.data(), succeed=st.booleans())
    def end(self, data: st.DataObject, succeed: bool) -> None:
        assert self.life is not None
        assert self.rules is not None
        action = data.draw(st.sampled_from(self.running))
        self.running.remove(action)
        before = self.life.phase
        if not succeed:
            self.life.abandon(action)
            assert self.life.phase is before
            return
        if self.closed:
            with pytest.raises(trio.ClosedResourceError):
                self.life.finish(action)
            assert self.life.phase is Phase.CLOSED
            return
        self.life.finish(action)
        assert self.life.phase is self.rules.allowed[before][action]

    @precondition(lambda self: self.life is not None)
    @rule()
    def close(self) -> None:
        assert self.life is not None
        assert self.life.close() is not self.closed
        self.closed = True

    @invariant()
    def at_most_one_action_changes_the_phase(self) -> None:
        if self.life is None or self.rules is None:
            return
        assert self.life.closed is self.closed
        changing = self.life.changing
        if changing is not None:
            assert changing in self.running


TestLifecycleMachine = LifecycleMachine.TestCase
