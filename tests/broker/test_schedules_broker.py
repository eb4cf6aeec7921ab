"""Schedules (ADR 040) on the real broker: a scheduler fires an every-second schedule,
and one taking over after an owner that died between submitting a tick and recording
it does not submit that tick again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest

from mesh.schedules import operate, records
from mesh.schedules.scheduler import Scheduler
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.transport.kafka.adapter import KafkaTransport
from schemas import decode_envelope
from schemas.schedules import ScheduleProgress
from schemas.tasks import TaskStatus
from tests.contract.behaviour_agents import worker_agent
from tests.helpers import eventually, read_all

pytestmark = pytest.mark.broker
NAME = "every-second"


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    # A short session: the embedded broker numbers a group's first generation 0, for
    # which aiokafka sends no LeaveGroup, so a stopped owner's partition moves only
    # once its session expires.
    return broker_settings.model_copy(
        update={"partitions": 1, "session_timeout": 3.0, "rebalance_grace": 1.0}
    )


class Clock:
    """The scheduler's clock: real time, or held at `frozen` (epoch seconds)."""

    def __init__(self) -> None:
        self.frozen: float | None = None

    def __call__(self) -> float:
        return time.time() if self.frozen is None else self.frozen


@pytest.fixture
async def start_scheduler(
    settings: Settings,
) -> AsyncIterator[Callable[..., Awaitable[Scheduler]]]:
    started: list[tuple[Scheduler, KafkaTransport]] = []

    async def start(clock: Clock | None = None) -> Scheduler:
        transport = KafkaTransport(settings)
        await transport.start()
        scheduler = Scheduler(transport, settings, clock=clock or Clock())
        await scheduler.start()
        started.append((scheduler, transport))
        return scheduler

    yield start
    for scheduler, transport in started:
        await scheduler.stop()
        await transport.stop()


async def test_ticks_fire_on_time_and_a_takeover_does_not_fire_a_tick_twice(
    settings: Settings, start_scheduler: Callable[..., Awaitable[Scheduler]]
) -> None:
    start = start_scheduler
    # The scheduler joins its group while the worker joins its own (each join is slow on
    # the embedded broker); it fires nothing until the schedule exists.
    first = asyncio.ensure_future(start())
    async with TestMesh(worker_agent, transport=KafkaTransport(settings), settings=settings) as m:
        client = m.client
        await operate.add(
            client,
            NAME,
            cron="* * * * * *",  # every second (croniter's 6th field)
            tz="Europe/Paris",
            agent="worker",
            input={"label": "tick"},
            overlap="allow_all",
            jitter=0.0,
        )

        def scheduled() -> list[tuple[float, str]]:
            """(tick, task id) of the tasks the schedule submitted, by tick."""
            prefix = f"schedule:{NAME}@"
            return sorted(
                (_tick(s.idempotency_key), s.task_id)
                for s in client.view.tasks.values()
                if (s.idempotency_key or "").startswith(prefix) and s.status is TaskStatus.SUCCEEDED
            )

        owner = await first
        await eventually(lambda: len(scheduled()) >= 2, timeout=30, what="two ticks to run")
        for tick, task_id in scheduled():  # on time: never before its tick
            assert client.view.tasks[task_id].created_at.timestamp() >= tick

        # The owner dies after submitting its latest tick but before recording it.
        await owner.stop()
        done = owner.progress[NAME]
        assert done.last_task_id is not None
        rewound = ScheduleProgress(name=NAME, last_tick=done.last_tick - 1)
        await records.write(client.publisher, rewound)

        clock = Clock()
        clock.frozen = done.last_tick + 0.5  # that tick is due again, the next one not yet
        second: Scheduler = await start(clock)
        await eventually(
            lambda: NAME in second.progress and second.progress[NAME].last_tick == done.last_tick,
            timeout=30,
            what="the new owner to handle the unrecorded tick",
        )
        assert second.progress[NAME].last_task_id == done.last_task_id  # found, not resubmitted

        clock.frozen = None  # time goes on: the new owner fires the next ticks
        before = len(scheduled())
        await eventually(lambda: len(scheduled()) > before, timeout=30, what="the next tick")
        await operate.switch(client, NAME, paused=True)

        events = await read_all(m.transport, [client.publisher.topics.task_events])
        submitted = Counter(
            r.key.decode()
            for r in events
            if r.key is not None and decode_envelope(r.value or b"").payload["kind"] == "submitted"
        )
        ours = [task_id for _, task_id in scheduled()]
        assert ours and all(submitted[task_id] == 1 for task_id in ours), submitted


def _tick(key: str | None) -> float:
    stamp = (key or "").rsplit("@", 1)[1]
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
