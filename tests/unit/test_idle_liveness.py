"""An idle worker beats less often (ADR 048): each beat says the interval until the
next, a held task brings the short interval back at the next tick, and letting go of
the last task is announced at once, so the supervisor's bound (a number of the last
beat's intervals) always holds."""

from __future__ import annotations

import asyncio

import pytest

from mesh.errors import SettingsError
from mesh.runtime._liveness import heartbeat, send_heartbeats
from mesh.runtime._running_task import RunningTask
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings, load_settings
from mesh.testing import MemoryTransport
from mesh.topics import Topics
from mesh.transport.base import Delivery, TopicSpec
from mesh.views.follower import TopicFollower
from schemas import Envelope, Source, decode_envelope
from schemas.supervision import Heartbeat
from tests.helpers import eventually


class Beats(TopicFollower):
    def __init__(self, transport: MemoryTransport, topic: str) -> None:
        super().__init__(transport, [topic], name="beats")
        self.seen: list[Heartbeat] = []

    def _on_record(self, record: Delivery) -> None:
        self.seen.append(Heartbeat.model_validate(decode_envelope(record.value or b"").payload))


def _held_task() -> RunningTask:
    async def handler(*args: object) -> None:
        return None

    record = Delivery("inbox", 0, 0, None, b"", {}, 0.0)
    return RunningTask(Envelope(type="t", payload={}), record, handler)


async def test_an_idle_worker_beats_at_its_idle_interval_and_a_busy_one_every_tick() -> None:
    # A tick of 10 ms and an idle interval no test outlasts: an idle beat is never
    # repeated here, so counting beats needs no clock.
    settings = Settings(liveness_interval=0.01, liveness_idle_interval=600.0)
    transport = MemoryTransport()
    await transport.start()
    topic = Topics(settings.namespace).heartbeats
    await transport.ensure_topics([TopicSpec(topic, 1)])
    publisher = Publisher(transport, settings, Source(agent="a", instance="w1"))
    held: list[RunningTask] = []
    ticks = 0

    def build(stopping: bool) -> Heartbeat:
        nonlocal ticks
        ticks += 1
        return heartbeat("a", settings, held, stopping=stopping)

    beats, stopping = Beats(transport, topic), asyncio.Event()
    await beats.start()
    sending = asyncio.create_task(send_heartbeats(publisher, build, stopping))
    try:
        await eventually(lambda: ticks >= 5, timeout=10, what="five ticks while idle")
        await beats.catch_up()
        assert [(b.inflight, b.interval) for b in beats.seen] == [(0, 600.0)]
        held.append(_held_task())
        await eventually(lambda: len(beats.seen) >= 4, timeout=10, what="beats while busy")
        assert all((b.inflight, b.interval) == (1, 0.01) for b in beats.seen[1:])
        held.clear()
        await eventually(lambda: beats.seen[-1].inflight == 0, timeout=10, what="an idle beat")
        assert beats.seen[-1].interval == 600.0
        count = len(beats.seen)
        after_idle = ticks
        await eventually(lambda: ticks >= after_idle + 5, timeout=10, what="ticks while idle")
        stopping.set()
        await sending
        await beats.catch_up()
    finally:
        stopping.set()
        await sending
        await beats.stop()
        await transport.stop()
    assert len(beats.seen) == count + 1 and beats.seen[-1].stopping  # idle: only the last


def test_the_idle_interval_is_at_least_the_liveness_interval() -> None:
    assert Settings().liveness_idle_interval is None  # unset: one interval, as before
    with pytest.raises(SettingsError, match="MESH_LIVENESS_IDLE_INTERVAL"):
        load_settings(liveness_interval=5.0, liveness_idle_interval=1.0)
