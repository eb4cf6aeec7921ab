"""A TopicFollower keeps following through a record it cannot apply and a failed
fetch: a copy that silently stopped would leave its readers on stale state."""

from __future__ import annotations

from typing import Any

import pytest

from mesh import follower
from mesh.follower import TopicFollower
from mesh.testing import MemoryTransport
from mesh.transport.base import Delivery, TopicSpec


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
    failures = [ConnectionError("the broker went away")]

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
