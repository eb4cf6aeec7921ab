"""`Retention`: when ended tasks leave the gateway's view, and which ids it let go (ADR 031).

An ended task is due to leave `MESH_GATEWAY_TASK_RETENTION` seconds after it ended,
by its own records' clock (`finished_at`), so every replica lets the same tasks go and
a restart that replays old tasks does not keep them for another retention. Due times
wait in a heap: the sweep after each fetched batch pops what is due, O(log n) a task
and nothing when none is, never a scan of the view. The view decides on each popped
id (it may keep it longer: `GatewayView._keep_until`).

The ids let go are remembered, the last `GONE_REMEMBERED` of them (about 120 bytes
each: a bounded 12 MB at most), so a read can tell "ended and evicted" (410) from
"never seen, or evicted long ago" (404).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator

from mesh.gateway._problems import ProblemError

GONE_REMEMBERED = 100_000


class Retention:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._due: list[tuple[float, str]] = []  # (when due, task id), a heap
        self._gone: set[str] = set()
        self._gone_order: deque[str] = deque()  # oldest first, to forget the oldest

    def __len__(self) -> int:
        return len(self._due)

    def due_at(self, ended_at: float) -> float:
        return ended_at + self.seconds

    def check_at(self, due: float, task_id: str) -> None:
        """Look at `task_id` again at `due` (epoch seconds)."""
        heapq.heappush(self._due, (due, task_id))

    def due(self, now: float) -> Iterator[str]:
        """Pop the ids due by `now`, earliest first (each once per `check_at`)."""
        while self._due and self._due[0][0] <= now:
            yield heapq.heappop(self._due)[1]

    def let_go(self, task_id: str) -> None:
        if task_id in self._gone:
            return
        self._gone.add(task_id)
        self._gone_order.append(task_id)
        if len(self._gone_order) > GONE_REMEMBERED:
            self._gone.discard(self._gone_order.popleft())

    def was_let_go(self, task_id: str) -> bool:
        return task_id in self._gone


def task_not_found(retention: Retention, task_id: str) -> ProblemError:
    """410 for a task this gateway let go of (it ended more than a retention ago),
    else 404; both name the setting, as an old id may be either."""
    setting = f"MESH_GATEWAY_TASK_RETENTION={retention.seconds:g} s"
    if retention.was_let_go(task_id):
        return ProblemError(
            410,
            "task_id",
            f"task {task_id!r} ended and left this gateway's view ({setting} after it ended); "
            f"`mesh task {task_id}` still reads it from the task-state topic",
        )
    return ProblemError(
        404,
        "task_id",
        f"no task with id {task_id!r} (an ended task leaves this gateway's view {setting} "
        "after it ended)",
    )
