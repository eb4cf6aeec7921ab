"""Worker heartbeats: that a worker process lives, and which tasks it holds.

Every `MESH_LIVENESS_INTERVAL` seconds a worker publishes a `Heartbeat` to
`mesh.heartbeats`, keyed by its instance id: its agent type, host and pid, how many
tasks it holds, and the running ones with their start, last activity and lease
expiry (last activity + `MESH_TASK_LEASE`), least recently active first. A task's
activity is its start and each progress report, delegation and step, so a long task
that keeps reporting is never taken for stuck. The supervisor reads these.

A worker that holds no task has nothing to lose if it dies unnoticed for a while, so
with `MESH_LIVENESS_IDLE_INTERVAL` set it beats that much less often (ADR 048): each
beat carries the interval until the next one (the supervisor's dead-worker bound is a
number of those), a worker that takes a task beats at its next tick (at most
`MESH_LIVENESS_INTERVAL` later) with the short interval again, and one that lets go
of its last task says so at once.

The workers of one process (`mesh run a b`) share one tick (`LivenessTicks`, ADR 054):
each still sends its own beat, with its own agent type, tasks and interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
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
        interval=_interval(settings, busy=bool(held)),
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


def _interval(settings: Settings, *, busy: bool) -> float:
    """How long until the next beat: the short interval while tasks are held."""
    if busy or settings.liveness_idle_interval is None:
        return settings.liveness_interval
    return settings.liveness_idle_interval


async def send_heartbeats(
    publisher: Publisher,
    build: Callable[[bool], Heartbeat],
    stopping: asyncio.Event,
    written: Callable[[bool], None] = lambda ok: None,
) -> None:
    """One worker's beats at ticks of its own (a process of one worker): see
    `LivenessTicks.beat_for`."""
    ticks = LivenessTicks(publisher.settings.liveness_interval)
    async with asyncio.TaskGroup() as group:
        group.create_task(ticks.run(stopping))
        group.create_task(ticks.beat_for(publisher, build, stopping, written))


class LivenessTicks:
    """One liveness tick for every worker of a process (`mesh run a b`, ADR 054).

    Each worker's beat stays its own record, built, timed and published as when each
    worker ticked on its own; the process wakes once a tick for all of them (seven
    workers ticking apart woke it seven times a second), makes a task only for the
    beats due, and checks the C heap once.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._members: list[_Member] = []

    async def run(self, stopping: asyncio.Event) -> None:
        """Tick every interval until `stopping`: each member's beat when due
        (published together), then the heap check."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await stopping.wait()
            if stopping.is_set():
                break
            due = [(m, beat) for m in self._members if (beat := m.due_beat(self._interval))]
            if due:
                await asyncio.gather(*(member.send(beat) for member, beat in due))
            release_free_heap()  # after a burst of tasks (mesh/runtime/_heap.py)

    async def beat_for(
        self,
        publisher: Publisher,
        build: Callable[[bool], Heartbeat],
        stopping: asyncio.Event,
        written: Callable[[bool], None] = lambda ok: None,
    ) -> None:
        """Publish `build(False)` at once, then at each tick its own interval asks for
        (each beat's `interval`) until `stopping`; then a last `build(True)`, so the
        supervisor tells a clean stop from a death. `written(ok)` says whether the
        broker took each one: the worker's readiness reads it (`_health`)."""
        member = _Member(publisher, build, written)
        await member.send(build(False))  # at once: readiness waits for the first one
        self._members.append(member)
        try:
            await stopping.wait()
        finally:
            self._members.remove(member)
        await member.send_last()


class _Member:
    """One worker's beats: how to build one, and the last sent."""

    def __init__(
        self,
        publisher: Publisher,
        build: Callable[[bool], Heartbeat],
        written: Callable[[bool], None],
    ) -> None:
        self.publisher = publisher
        self.build = build
        self.written = written
        self.sending = asyncio.Lock()  # one beat at a time, in order
        self.closed = False  # its last beat is out or going out: no other after it
        self.last: Heartbeat | None = None
        self.sent_at = 0.0

    def due_beat(self, tick: float) -> Heartbeat | None:
        """The beat to send at this tick, if one is due."""
        if self.closed:
            return None
        beat = self.build(False)
        since = time.monotonic() - self.sent_at
        return beat if _due(beat, self.last, since=since, tick=tick) else None

    async def send(self, beat: Heartbeat) -> None:
        async with self.sending:
            if self.closed:  # stopped since the tick built it
                return
            sent_at = time.monotonic()
            self.written(await _publish(self.publisher, beat))
            self.last, self.sent_at = beat, sent_at

    async def send_last(self) -> None:
        self.closed = True
        async with self.sending:  # after a tick's beat under way, never before it
            await _publish(self.publisher, self.build(True))


def _due(beat: Heartbeat, last: Heartbeat | None, *, since: float, tick: float) -> bool:
    """Whether to send `beat` at this tick: always while tasks are held; when the
    worker has just let go of its last task (to announce the longer interval); and
    otherwise once the interval the last beat announced is (within half a tick) over."""
    if last is None or beat.inflight or last.inflight:
        return True
    return since >= last.interval - tick / 2


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
