"""What the code needs to know about trio's scheduler beyond its public API."""

from __future__ import annotations

import trio

__all__ = ["task_step"]


def task_step(task: trio.lowlevel.Task) -> int | None:
    """How many times *task* has yielded to the scheduler, or None if trio does not say.

    Two calls within one task step give the same number, so a caller can tell "since
    this task last yielded" from "earlier". trio keeps this count for
    ``trio.testing.assert_checkpoints``; a caller must treat None as "unknown" and take
    its conservative path.
    """
    step = getattr(task, "_schedule_points", None)
    return step if type(step) is int else None
