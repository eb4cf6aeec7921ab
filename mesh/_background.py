"""`BackgroundTask`: the one long-running coroutine of a service with start/stop.

A service (a topic follower, the producer's writer, the gateway's queue driver and
webhook senders) starts its loop with `start` and ends it with `stop`, which cancels
it and waits until it has ended. No exception vanishes: a loop that ends on an error
is logged at once, with its traceback and the task's name, and `failure` keeps the
error for whoever reports health (the gateway's /readyz). `stop` does not raise it
again: it was reported when it happened, and the service's own clean-up after `stop`
(closing its consumer, its HTTP client) must still run.

Private to the mesh (`mesh._background`): every package may import it, the transport
adapters included, so it imports nothing of the mesh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

log = logging.getLogger(__name__)


class BackgroundTask:
    """One named coroutine run as an asyncio task, from `start` until `stop`."""

    def __init__(self, name: str, *, logger: logging.Logger | None = None) -> None:
        self.name = name
        self._log = logger or log
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Started, and neither stopped nor ended."""
        return self._task is not None and not self._task.done()

    @property
    def failure(self) -> BaseException | None:
        """The error the loop ended with (logged when it did), else None."""
        if self._task is None or not self._task.done() or self._task.cancelled():
            return None
        return self._task.exception()

    def start(self, loop: Coroutine[Any, Any, None]) -> None:
        """Run `loop` in the background (once at a time: start again after `stop`)."""
        if self.running:
            loop.close()
            raise RuntimeError(f"{self.name!r} is already running; stop it before starting it")
        self._task = asyncio.create_task(loop, name=self.name)
        self._task.add_done_callback(self._log_failure)

    async def stop(self) -> None:
        """Cancel the loop and return once it has ended (at once when not started).

        Cancelling the caller meanwhile cancels the wait, not the loop's cancellation.
        """
        task = self._task
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log.error("%s stopped on an error", self.name, exc_info=exc)


class Service(Protocol):
    """What `serve_until` runs: anything with an async start and stop."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def serve_until(service: Service, stopping: asyncio.Event) -> None:
    """Start `service`, keep it running until `stopping` is set, then stop it (also
    when this is cancelled): how a service runs inside its owner's task group."""
    await service.start()
    try:
        await stopping.wait()
    finally:
        await service.stop()
