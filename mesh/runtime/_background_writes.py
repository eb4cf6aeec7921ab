"""`BackgroundWrites`: what a worker writes beside its handlers, and when it gives up.

A worker writes dead letters, adopted domain events, journal records of child
outcomes and task records in the background, off the consume loop. None of them may
fail quietly: a dropped write would leave its record's offset in flight and stall
every commit of its partition behind it (ADR 016). So each write is tried
`MESH_WRITE_ATTEMPTS` times while the broker refuses it (`TransportError`), backing
off from `MESH_WRITE_BACKOFF` s; when the last try fails, or on any other error (a
bug, which no retry fixes), the worker stops visibly: a log line with the reason,
`mesh_worker_write_failures`, and `WorkerFailed` from its `run()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from mesh.errors import TransportError, WorkerFailed
from mesh.observability.metrics import WORKER_WRITE_FAILURES, LabelCache
from mesh.settings import Settings

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[object]]


def first_then(first: Awaitable[object], again: Write) -> Write:
    """A write whose first try is already under way (`first`: a write method that
    changes memory at once and returns the write), and `again` for the retries."""
    pending = [first]

    def attempt() -> Awaitable[object]:
        return pending.pop() if pending else again()

    return attempt


class BackgroundWrites:
    """The background writes of one worker; `on_failure` stops the worker."""

    def __init__(self, agent: str, settings: Settings, on_failure: Callable[[], None]) -> None:
        self._agent = agent
        self._settings = settings
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[None]] = set()
        self._failures = LabelCache(WORKER_WRITE_FAILURES, agent)  # by what was written
        self.failure: WorkerFailed | None = None  # why the worker stops, once it must

    def spawn(
        self, work: Write, *, what: str, where: str, done: Callable[[], None] | None = None
    ) -> None:
        """Run `work` (writing `what` for `where`) in the background; `done` once it
        succeeded (a record's offset may then be finished)."""

        async def guarded() -> None:
            try:
                await self._with_retries(work, f"the {what} of {where}")
            except Exception as exc:
                self.fail(f"writing the {what} of {where} failed", exc, what)
                return
            if done is not None:
                done()

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, timeout: float) -> None:
        """Let the writes under way finish, for up to `timeout` s."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)

    def fail(self, reason: str, exc: BaseException, what: str) -> None:
        """Count a write given up on and stop the worker (the first reason is kept)."""
        self._failures[what].inc()
        if self.failure is None:
            instance = self._settings.instance_id
            log.error("worker %s of %r stops: %s", instance, self._agent, reason, exc_info=exc)
            self.failure = WorkerFailed(f"{reason}: {type(exc).__name__}: {exc}")
        self._on_failure()

    def count(self, what: str) -> None:
        """A write that failed for good without stopping the worker (its task was
        dead-lettered instead)."""
        self._failures[what].inc()

    async def _with_retries(self, work: Write, what: str) -> None:
        attempts, delay = self._settings.write_attempts, self._settings.write_backoff
        for attempt in range(1, attempts + 1):
            try:
                await work()
                return
            except TransportError as exc:
                if attempt == attempts or self.failure is not None:
                    raise
                log.warning("writing %s failed (try %d of %d): %s", what, attempt, attempts, exc)
                await asyncio.sleep(delay * 2 ** (attempt - 1))
