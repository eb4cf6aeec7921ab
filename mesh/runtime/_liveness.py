"""Worker heartbeats: that a worker process lives, and which tasks it holds.

Every `MESH_LIVENESS_INTERVAL` seconds a worker publishes a `Heartbeat` to
`mesh.heartbeats`, keyed by its instance id: its agent type, host and pid, how many
tasks it holds, and the running ones with their start, last activity and lease
expiry (last activity + `MESH_TASK_LEASE`), least recently active first. A task's
activity is its start and each progress report, delegation and step, so a long task
that keeps reporting is never taken for stuck. The supervisor reads these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Collection
from datetime import timedelta

from mesh.errors import TransportError
from mesh.observability.metrics import HEARTBEATS_SENT
from mesh.runtime._heap import release_free_heap
from mesh.runtime._running_task import RunningTask
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from schemas import Envelope
from schemas.envelope import utc_now
from schemas.supervision import HEARTBEAT, Heartbeat, HeldTask

log = logging.getLogger(__name__)


def heartbeat(
    agent: str, settings: Settings, held: Collection[RunningTask], *, stopping: bool = False
) -> Heartbeat:
    lease = timedelta(seconds=settings.task_lease)
    running = sorted(
        (r.context for r in held if r.context is not None), key=lambda c: c.last_activity
    )
    listed = running[: settings.heartbeat_max_tasks]
    return Heartbeat(
        instance=settings.instance_id,
        agent=agent,
        host=socket.gethostname(),
        pid=os.getpid(),
        at=utc_now(),
        interval=settings.liveness_interval,
        inflight=len(held),
        tasks=[
            HeldTask(
                task_id=c.task_id,
                attempt=c.attempt,
                started_at=c.started_at,
                last_progress_at=c.last_activity,
                lease_expires_at=c.last_activity + lease,
            )
            for c in listed
        ],
        truncated=len(listed) < len(running),
        stopping=stopping,
    )


async def send_heartbeats(
    publisher: Publisher,
    build: Callable[[bool], Heartbeat],
    stopping: asyncio.Event,
    written: Callable[[bool], None] = lambda ok: None,
) -> None:
    """Publish `build(False)` every liveness interval until `stopping`, then a last
    `build(True)`, so the supervisor tells a clean stop from a death. `written(ok)`
    says whether the broker took each one: the worker's readiness reads it (`_health`)."""
    interval = publisher.settings.liveness_interval
    while not stopping.is_set():
        written(await _publish(publisher, build(False)))
        release_free_heap()  # after a burst of tasks (mesh/runtime/_heap.py)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stopping.wait()
    await _publish(publisher, build(True))


async def _publish(publisher: Publisher, beat: Heartbeat) -> bool:
    envelope = Envelope(
        type=HEARTBEAT, source=publisher.source, payload=beat.model_dump(mode="json")
    )
    try:
        await publisher.send(publisher.topics.heartbeats, envelope, key=beat.instance)
        HEARTBEATS_SENT.labels(beat.agent).inc()
        return True
    except TransportError as exc:  # a missed beat is not worth stopping the worker for
        log.warning("heartbeat not sent: %s", exc)
        return False
