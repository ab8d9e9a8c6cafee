"""What the code needs to know about trio's scheduler beyond its public API."""

from __future__ import annotations

import operator
from collections.abc import Callable

import trio

__all__ = ["task_step"]

TaskStep = Callable[[trio.lowlevel.Task], "int | None"]


def _unknown_step(task: trio.lowlevel.Task) -> int | None:
    return None


def _probe_task_step() -> TaskStep:
    """The count trio keeps of a task's yields, read by a C-level attribute getter (the
    hot paths ask for it several times per datagram), or :func:`_unknown_step` if this
    trio's ``Task`` does not declare it as an ``int`` field."""
    for field in getattr(trio.lowlevel.Task, "__attrs_attrs__", ()):
        if field.name == "_schedule_points" and field.type in (int, "int"):
            getter: TaskStep = operator.attrgetter("_schedule_points")
            return getter
    return _unknown_step  # pragma: no cover - every supported trio declares it


#: ``task_step(task)``: how many times *task* has yielded to the scheduler, or None if
#: trio does not say. Two calls within one task step give the same number, so a caller
#: can tell "since this task last yielded" from "earlier". trio keeps this count for
#: ``trio.testing.assert_checkpoints``; a caller must treat None as "unknown" and take
#: its conservative path.
task_step: TaskStep = _probe_task_step()
