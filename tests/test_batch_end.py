"""BatchEnd: callbacks at the end of trio's batch of task steps, with no trio deadline.

Pure trio (no sockets): what is scheduled runs once, after every task that was ready
has had its step; what is withdrawn in the same step does not run; a task a callback
wakes runs at once even when trio had computed a long sleep; and the instrument is
installed only while it has users.
"""

from __future__ import annotations

import time

import outcome
import trio
import trio.testing

from trio_sockets._core.scheduling import BatchEnd


class Recorder:
    def __init__(self, log: list[str], name: str, wake: trio.lowlevel.Task | None = None) -> None:
        self.log = log
        self.name = name
        self.wake = wake

    def batch_ended(self) -> bool:
        self.log.append(f"{self.name} ended")
        if self.wake is not None:
            trio.lowlevel.reschedule(self.wake, outcome.Value(None))
            return True
        return False


async def test_a_scheduled_callback_runs_once_after_every_ready_task_had_its_step() -> None:
    log: list[str] = []
    batch_end = BatchEnd.acquire()
    try:
        first = Recorder(log, "first")
        async with trio.open_nursery() as nursery:

            async def task(name: str) -> None:
                log.append(f"{name} step")
                if name == "a":
                    batch_end.schedule(first)
                    batch_end.schedule(first)  # twice in one batch: still once
                await trio.lowlevel.checkpoint()
                log.append(f"{name} next step")

            nursery.start_soon(task, "a")
            nursery.start_soon(task, "b")
        # Both tasks took their first step in one batch (in either order), then the
        # callback ran, then their second steps.
        assert sorted(log[:2]) == ["a step", "b step"]
        assert log[2] == "first ended"
        assert sorted(log[3:]) == ["a next step", "b next step"]
    finally:
        batch_end.release()


async def test_a_callback_withdrawn_in_the_same_step_does_not_run() -> None:
    log: list[str] = []
    batch_end = BatchEnd.acquire()
    try:
        item = Recorder(log, "item")
        batch_end.schedule(item)
        batch_end.withdraw(item)
        batch_end.withdraw(item)  # withdrawing what is not scheduled is no error
        await trio.lowlevel.checkpoint()
        await trio.lowlevel.checkpoint()
        assert log == []
    finally:
        batch_end.release()


async def test_a_task_a_callback_wakes_runs_at_once_when_trio_would_sleep() -> None:
    """Trio computes its sleep before the callbacks run: the woken task must not wait for
    the only timer (5 s away) to fire."""
    log: list[str] = []
    batch_end = BatchEnd.acquire()
    try:
        woken = trio.Event()
        async with trio.open_nursery() as nursery:

            async def sleeper() -> None:
                await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.SUCCEEDED)
                woken.set()

            nursery.start_soon(sleeper)
            await trio.testing.wait_all_tasks_blocked()
            task = next(child for child in nursery.child_tasks if child.name.endswith("sleeper"))
            batch_end.schedule(Recorder(log, "waker", wake=task))
            start = time.monotonic()
            with trio.move_on_after(5):
                await woken.wait()
            elapsed = time.monotonic() - start
        assert woken.is_set()
        assert elapsed < 2.5, elapsed
        assert log == ["waker ended"]
    finally:
        batch_end.release()


async def test_one_instance_per_run_installed_while_it_has_users() -> None:
    log: list[str] = []
    first = BatchEnd.acquire()
    second = BatchEnd.acquire()
    assert first is second
    first.release()
    first.schedule(Recorder(log, "still installed"))
    await trio.lowlevel.checkpoint()
    assert log == ["still installed ended"]
    second.release()  # the last user: removed, and what was pending is forgotten
    first.schedule(Recorder(log, "removed"))
    await trio.lowlevel.checkpoint()
    await trio.lowlevel.checkpoint()
    assert log == ["still installed ended"]
    # Installed again for a new user, with nothing left over.
    third = BatchEnd.acquire()
    try:
        assert third is first
        await trio.lowlevel.checkpoint()
        assert log == ["still installed ended"]
    finally:
        third.release()


def test_each_run_has_its_own() -> None:
    seen: list[BatchEnd] = []

    async def main() -> None:
        batch_end = BatchEnd.acquire()
        seen.append(batch_end)
        batch_end.release()

    trio.run(main)
    trio.run(main)
    assert seen[0] is not seen[1]
