"""`compact`: a retained task state made to share what states have in common (ADR 031).

Measured with tracemalloc (`python /tmp/...`, see ADR 031): a short task costs the
gateway's view about 4.4 KB, 3.4 KB of it the `TaskState` model. Of that, pydantic's
per-instance set of the fields given (18 names: 728 B) is the same for nearly every
state, the agent and type names repeat across tasks, a top-level task's root id is
its own id, and its times are often equal. Shared here, never copied; all of these
are immutable or never changed on a stored state (`model_copy` copies the set before
it updates it).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from schemas.tasks import TaskState

_MAX_SHAPES = 256  # distinct field sets kept to share (a handful occur)
_shapes: dict[frozenset[str], set[str]] = {}
_TIMES = ("updated_at", "started_at", "finished_at")


def compact(state: TaskState) -> TaskState:
    """`state`, changed in place to share its repeated parts; returns it."""
    values: dict[str, Any] = state.__dict__
    for name in ("agent", "type", "instance"):
        values[name] = sys.intern(values[name])
    if values["root_task_id"] == values["task_id"]:
        values["root_task_id"] = values["task_id"]
    earlier: list[datetime] = [values["created_at"]]
    for name in _TIMES:
        value = values[name]
        if value is not None:
            same = next((t for t in earlier if _same_time(t, value)), None)
            values[name] = same or value
            if same is None:
                earlier.append(value)
    given = state.__pydantic_fields_set__
    shape = frozenset(given)
    shared = _shapes.get(shape)
    if shared is None and len(_shapes) < _MAX_SHAPES:
        shared = _shapes[shape] = given
    if shared is not None:
        object.__setattr__(state, "__pydantic_fields_set__", shared)
    return state


def _same_time(a: datetime, b: datetime) -> bool:
    return a == b and a.utcoffset() == b.utcoffset()
