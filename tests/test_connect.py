"""Happy eyeballs (RFC 8305) in ``connect_first``, on a fake socket factory and a fake clock.

As trio tests ``open_tcp_stream``: each fake address answers after a given delay with
success or an error, and ``MockClock(autojump_threshold=0)`` (pytest-trio's
``autojump_clock``) jumps to the next deadline as soon as every task waits, so the
stagger, the timeouts and the order of events are checked to the exact instant, with no
wall-clock slack. The real sockets and the network-namespace checks of a connect that
never answers are in ``test_stream_socket.py`` and ``test_faults.py``.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence

import pytest
import trio
import trio.testing

from trio_sockets import SocketError, SocketErrorStatus, SocketStatusError
from trio_sockets._io.connect import HAPPY_EYEBALLS_DELAY, MAX_NAMED, connect_first
from trio_sockets._io.resolver import SockAddr

S = SocketErrorStatus
PORT = 80


class FakeSocket:
    def __init__(self, family: socket.AddressFamily) -> None:
        self.family = family
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeNetwork:
    """A socket factory whose addresses answer as told: ``{address: (delay, result)}``,
    where the result is ``"success"`` or an errno the connect fails with."""

    def __init__(
        self,
        answers: dict[str, tuple[float, str | int]],
        families: Sequence[socket.AddressFamily] = (socket.AF_INET, socket.AF_INET6),
    ) -> None:
        self.answers = answers
        self.families = families
        self.sockets: list[FakeSocket] = []
        self.started: dict[str, float] = {}

    def socket(self, family: socket.AddressFamily) -> FakeSocket:
        if family not in self.families:
            raise OSError(errno.EAFNOSUPPORT, "pretending not to support this family")
        sock = FakeSocket(family)
        self.sockets.append(sock)
        return sock

    async def connect(self, sock: FakeSocket, sockaddr: SockAddr) -> None:
        address = sockaddr[0]
        assert address not in self.started, f"{address} tried twice"
        self.started[address] = trio.current_time()
        delay, result = self.answers[address]
        await trio.sleep(delay)
        if result != "success":
            assert isinstance(result, int)
            raise OSError(result, f"fake error {errno.errorcode[result]}")

    @property
    def open_sockets(self) -> list[FakeSocket]:
        return [sock for sock in self.sockets if not sock.closed]

    def addresses(self) -> list[tuple[socket.AddressFamily, SockAddr]]:
        return [
            (socket.AF_INET6, (address, PORT, 0, 0))
            if ":" in address
            else (socket.AF_INET, (address, PORT))
            for address in self.answers
        ]


async def run(network: FakeNetwork, *, serialize: bool = False) -> tuple[FakeSocket, SockAddr]:
    return await connect_first(
        network.addresses(),
        network.socket,
        what="connect to fake.test:80",
        serialize=serialize,
        connect=network.connect,
    )


async def test_attempts_start_in_order_one_stagger_apart(autojump_clock: trio.abc.Clock) -> None:
    network = FakeNetwork(
        {"::1": (10, "success"), "127.0.0.1": (10, "success"), "::2": (10, "success")}
    )
    sock, sockaddr = await run(network)
    assert network.started == {"::1": 0, "127.0.0.1": 0.25, "::2": 0.5}
    assert sockaddr == ("::1", PORT, 0, 0)
    assert sock.family == socket.AF_INET6
    assert trio.current_time() == 10
    assert HAPPY_EYEBALLS_DELAY == 0.25


async def test_the_first_to_connect_wins_and_the_others_are_closed(
    autojump_clock: trio.abc.Clock,
) -> None:
    network = FakeNetwork(
        {"::1": (5, "success"), "127.0.0.1": (0.5, "success"), "::2": (1, "success")}
    )
    sock, sockaddr = await run(network)
    assert sockaddr == ("127.0.0.1", PORT)
    assert trio.current_time() == 0.75
    assert network.open_sockets == [sock]
    assert len(network.sockets) == 3


async def test_a_winner_stops_the_attempts_not_yet_started(autojump_clock: trio.abc.Clock) -> None:
    network = FakeNetwork({"::1": (0.1, "success"), "127.0.0.1": (0, "success")})
    _, sockaddr = await run(network)
    assert sockaddr == ("::1", PORT, 0, 0)
    assert network.started == {"::1": 0}
    assert len(network.sockets) == 1


async def test_an_attempt_that_fails_fast_starts_the_next_at_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    network = FakeNetwork(
        {
            "::1": (0.05, errno.ECONNREFUSED),
            "127.0.0.1": (0.1, errno.ENETUNREACH),
            "::2": (1, "success"),
        }
    )
    _, sockaddr = await run(network)
    assert sockaddr == ("::2", PORT, 0, 0)
    assert network.started == {"::1": 0, "127.0.0.1": 0.05, "::2": pytest.approx(0.15)}
    assert network.open_sockets == network.sockets[-1:]


async def test_a_family_without_sockets_is_a_failure_that_starts_the_next_at_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    network = FakeNetwork({"::1": (0, "success"), "127.0.0.1": (1, "success")}, [socket.AF_INET])
    _, sockaddr = await run(network)
    assert sockaddr == ("127.0.0.1", PORT)
    assert network.started == {"127.0.0.1": 0}


async def test_every_attempt_failed_names_each_address_with_the_first_classified_status(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The status is the first one that classifies (``SocketError.get_status`` of the
    group): an unclassified error first does not hide a refusal after it."""
    network = FakeNetwork(
        {
            "::1": (0.1, errno.ENOEXEC),
            "127.0.0.1": (2, errno.ECONNREFUSED),
            "::2": (3, errno.EHOSTUNREACH),
        }
    )
    assert SocketError.get_status(OSError(errno.ENOEXEC, "x")) == S.UNKNOWN
    with pytest.raises(SocketStatusError) as caught:
        await run(network)
    error = caught.value
    assert error.status == S.CONNECTION_REFUSED
    assert error.errno == errno.ENOEXEC  # the first failure's
    assert str(error).startswith("connect to fake.test:80 failed: [::1]:80: ")
    for name in ("[::1]:80", "127.0.0.1:80", "[::2]:80"):
        assert name in str(error)
    group = error.__cause__
    assert isinstance(group, ExceptionGroup)
    assert [exc.errno for exc in group.exceptions] == [
        errno.ENOEXEC,  # in the order they failed
        errno.ECONNREFUSED,
        errno.EHOSTUNREACH,
    ]
    assert network.started == {"::1": 0, "127.0.0.1": 0.1, "::2": 0.35}
    assert not network.open_sockets
    assert trio.current_time() == pytest.approx(3.35)


async def test_errors_that_agree_give_their_shared_status(autojump_clock: trio.abc.Clock) -> None:
    network = FakeNetwork({"::1": (0, errno.ETIMEDOUT), "127.0.0.1": (0, errno.ETIMEDOUT)})
    with pytest.raises(SocketStatusError) as caught:
        await run(network)
    assert caught.value.status == S.CONNECTION_TIMED_OUT
    assert isinstance(caught.value, TimeoutError)


async def test_one_address_fails_with_its_own_error_as_the_cause(
    autojump_clock: trio.abc.Clock,
) -> None:
    network = FakeNetwork({"127.0.0.1": (0.5, errno.ECONNREFUSED)})
    with pytest.raises(SocketStatusError) as caught:
        await run(network)
    assert caught.value.status == S.CONNECTION_REFUSED
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.ECONNREFUSED
    assert not network.open_sockets


async def test_a_failed_connect_names_only_the_first_addresses(
    autojump_clock: trio.abc.Clock,
) -> None:
    network = FakeNetwork({f"127.0.0.{i}": (0, errno.ECONNREFUSED) for i in range(1, 21)})
    with pytest.raises(SocketStatusError) as caught:
        await run(network)
    message = str(caught.value)
    assert f"127.0.0.{MAX_NAMED}:80" in message
    assert f"127.0.0.{MAX_NAMED + 1}:80" not in message
    assert message.endswith(f"and {20 - MAX_NAMED} more addresses (CONNECTION_REFUSED)")
    assert len(network.started) == 20
    assert trio.current_time() == 0


async def test_no_address_is_no_addresses_found() -> None:
    with pytest.raises(SocketStatusError) as caught:
        await connect_first([], FakeNetwork({}).socket, what="connect to none.test:80")
    assert caught.value.status == S.NO_ADDRESSES_FOUND


@pytest.mark.parametrize("deadline", [0.1, 0.6, 3])
async def test_cancellation_closes_every_attempt(
    autojump_clock: trio.abc.Clock, deadline: float
) -> None:
    network = FakeNetwork(
        {"::1": (5, "success"), "127.0.0.1": (5, "success"), "::2": (5, "success")}
    )
    with trio.move_on_after(deadline) as scope:
        await run(network)
    assert scope.cancelled_caught
    assert trio.current_time() == deadline
    assert network.sockets
    assert not network.open_sockets


async def test_the_connect_timeout_bounds_the_whole_race(autojump_clock: trio.abc.Clock) -> None:
    """``control.connect_timeout`` is a deadline around the resolution and the race: at it
    every attempt ends, closed, however many addresses are left."""
    network = FakeNetwork({f"127.0.0.{i}": (60, "success") for i in range(1, 11)})
    with pytest.raises(trio.TooSlowError), trio.fail_after(1.0):
        await run(network)
    assert trio.current_time() == 1.0
    assert list(network.started.values()) == [0, 0.25, 0.5, 0.75, 1.0][: len(network.started)]
    assert len(network.started) in (4, 5)
    assert not network.open_sockets


async def test_serialized_attempts_never_overlap(autojump_clock: trio.abc.Clock) -> None:
    network = FakeNetwork(
        {"::1": (3, errno.ECONNREFUSED), "127.0.0.1": (2, errno.ETIMEDOUT), "::2": (1, "success")}
    )
    _, sockaddr = await run(network, serialize=True)
    assert sockaddr == ("::2", PORT, 0, 0)
    assert network.started == {"::1": 0, "127.0.0.1": 3, "::2": 5}
    assert trio.current_time() == 6


async def test_a_winner_is_closed_when_the_race_is_cancelled_as_it_wins(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A cancel that lands in the same instant as the win leaves no socket open."""
    network = FakeNetwork({"::1": (1, "success"), "127.0.0.1": (0.75, "success")})
    result = None
    with trio.move_on_after(1):
        result = await run(network)
    assert network.open_sockets == ([result[0]] if result else [])
    assert len(network.sockets) == 2
