"""A TopicFollower keeps following through a record it cannot apply and a failed
fetch: a copy that silently stopped would leave its readers on stale state."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mesh.errors import TransportError
from mesh.runtime._circuit import CircuitWatch
from mesh.testing import MemoryTransport
from mesh.topics import Topics
from mesh.transport.base import Delivery, TopicSpec
from mesh.views import follower
from mesh.views.follower import TopicFollower
from schemas import Envelope, encode_envelope
from schemas.supervision import CIRCUIT_STATE, CircuitState
from tests.helpers import eventually


class Recorder(TopicFollower):
    def __init__(self, transport: MemoryTransport) -> None:
        super().__init__(transport, ["t"], name="recorder")
        self.values: list[bytes] = []

    def _on_record(self, record: Delivery) -> None:
        if record.value == b"bad":
            raise RuntimeError("cannot apply this one")
        self.values.append(record.value or b"")


async def test_a_failing_record_and_a_failed_fetch_do_not_stop_the_follower(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follower, "_RETRY", 0.01)
    transport = MemoryTransport()
    await transport.start()
    await transport.ensure_topics([TopicSpec("t", 1)])
    copy = Recorder(transport)
    fetch = copy._consumer.fetch
    failures = [TransportError("the broker went away")]

    async def fetch_failing_once(**kwargs: Any) -> list[Delivery]:
        if failures:
            raise failures.pop()
        return await fetch(**kwargs)

    monkeypatch.setattr(copy._consumer, "fetch", fetch_failing_once)
    await copy.start()
    try:
        for value in (b"one", b"bad", b"two"):
            await transport.publish("t", value, key=None)
        await copy.catch_up(timeout=5)
    finally:
        await copy.stop()
        await transport.stop()
    assert copy.values == [b"one", b"two"]
    assert not failures


async def test_the_circuit_watch_follows_on_after_a_failed_fetch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's view of its circuit is a `TopicFollower` too: a failed fetch
    (the broker away for a moment) must not freeze the circuit a worker obeys."""
    monkeypatch.setattr(follower, "_RETRY", 0.01)
    transport = MemoryTransport()
    await transport.start()
    topics = Topics("")
    await transport.ensure_topics([TopicSpec(topics.circuits, 1)])
    changes: list[str] = []
    watch = CircuitWatch(transport, topics, "triage", lambda state: changes.append(state.state))
    fetch = watch._consumer.fetch
    failures = [TransportError("the broker went away")]

    async def fetch_failing_once(**kwargs: Any) -> list[Delivery]:
        if failures:
            raise failures.pop()
        return await fetch(**kwargs)

    monkeypatch.setattr(watch._consumer, "fetch", fetch_failing_once)
    stopping = asyncio.Event()
    following = asyncio.create_task(watch.run(stopping))
    state = CircuitState(agent="triage", state="open", since=0.0, reason="failing")
    envelope = Envelope(type=CIRCUIT_STATE, payload=state.model_dump(mode="json"))
    await transport.publish(topics.circuits, encode_envelope(envelope), key=b"triage")
    await eventually(lambda: watch.name == "open", timeout=5, what="the circuit to open")
    stopping.set()
    await following
    await transport.stop()
    assert changes == ["open"] and not failures


class TopicRecorder(TopicFollower):
    def __init__(self, transport: MemoryTransport, topic: str) -> None:
        super().__init__(transport, [topic], name=f"recorder-{topic}")
        self.values: list[bytes] = []
        self.batches = 0

    def _on_record(self, record: Delivery) -> None:
        assert record.topic in self.followed_topics
        self.values.append(record.value or b"")

    def _after_batch(self) -> None:
        self.batches += 1


async def test_shared_followers_read_each_topic_into_its_own_follower() -> None:
    """A worker reads its circuit and pause switch through one consumer (ADR 048):
    each follower gets its own topic's records, and catches up on its own topic."""
    transport = MemoryTransport()
    await transport.start()
    await transport.ensure_topics([TopicSpec("circuits", 2), TopicSpec("pauses", 2)])
    await transport.publish("circuits", b"c1", key=b"a")
    circuits, pauses = TopicRecorder(transport, "circuits"), TopicRecorder(transport, "pauses")
    shared = follower.SharedFollowers(transport, [circuits, pauses], name="control")
    await shared.start()
    try:
        await circuits.catch_up(timeout=5)
        await pauses.catch_up(timeout=5)  # an empty topic: nothing to wait for
        assert circuits.following and pauses.following
        await transport.publish("pauses", b"p1", key=b"a")
        await transport.publish("circuits", b"c2", key=b"b")
        await pauses.catch_up(timeout=5)
        await circuits.catch_up(timeout=5)
    finally:
        await shared.stop()
        await transport.stop()
    assert (circuits.values, pauses.values) == ([b"c1", b"c2"], [b"p1"])
    assert pauses.batches > 0  # `_after_batch` after each fetch, even with none of its own
    assert circuits._own_consumer is None and pauses._own_consumer is None
    assert not circuits.following


async def test_a_shared_follower_that_fails_on_a_record_stops_none_of_the_others() -> None:
    """The gateway's followers share one loop (ADR 053): a record one of them cannot
    apply is logged and skipped, and the others (and it) go on."""
    transport = MemoryTransport()
    await transport.start()
    await transport.ensure_topics([TopicSpec("t", 1), TopicSpec("tokens", 1)])
    failing, tokens = Recorder(transport), TopicRecorder(transport, "tokens")
    shared = follower.SharedFollowers(transport, [failing, tokens], name="gateway-followers")
    with pytest.raises(RuntimeError, match="read by gateway-followers"):
        await tokens.start()  # before its reader: nothing to follow with yet
    await shared.start()
    try:
        await tokens.start()  # a member started by its reader: makes no consumer
        for value in (b"one", b"bad", b"two"):
            await transport.publish("t", value, key=None)
            await transport.publish("tokens", value, key=None)
        await failing.catch_up(timeout=5)
        await tokens.catch_up(timeout=5)
        assert failing.following and tokens.following
    finally:
        await shared.stop()
        await transport.stop()
    assert failing.values == [b"one", b"two"]
    assert tokens.values == [b"one", b"bad", b"two"]
    assert tokens._own_consumer is None
