"""Shared pieces of the benchmarks: the settings profile, results, bounded waits, topic reads.

Every benchmark is `async def run(settings, options) -> Report`; `tests.bench.__main__`
gives each one a fresh namespace on the shared broker and prints the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mesh.runtime.publisher import Publisher
from mesh.transport.base import Delivery, Transport
from schemas import Envelope

# The dev/test profile (tests/conftest.py, ADR 003) with the bench's commit interval.
BENCH_PROFILE: dict[str, Any] = {
    "session_timeout": 6.0,
    "heartbeat_interval": 1.0,
    "fetch_max_wait": 0.01,
    "commit_interval": 0.2,
    "partitions": 4,
    "idempotent_producer": False,  # the embedded broker grants no producer ids
}


@dataclass(frozen=True)
class Options:
    quick: bool = False
    profile: str | None = None  # where `hop` writes a cProfile of its timed mesh window
    window: float | None = None  # seconds `ratelimit` measures over (None: its default)


@dataclass
class Metric:
    name: str
    value: float | int
    note: str = ""

    def formatted(self) -> str:
        if isinstance(self.value, int):
            return str(self.value)
        if abs(self.value) >= 100:
            return f"{self.value:.0f}"
        return f"{self.value:.2f}"


@dataclass
class Report:
    name: str
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | int, note: str = "") -> None:
        self.metrics.append(Metric(f"{self.name}.{name}", value, note))


class Window:
    """CPU seconds and garbage-collector pauses of this process between start() and stop()."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.gc_runs = [0, 0, 0]  # by generation
        self.gc_pauses = [0.0, 0.0, 0.0]  # seconds, by generation
        self._began_cpu = 0.0
        self._gc_began = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            self.gc_pauses[info["generation"]] += time.perf_counter() - self._gc_began
            self.gc_runs[info["generation"]] += 1

    @property
    def gc_pause(self) -> float:
        return sum(self.gc_pauses)

    def gc_summary(self) -> str:
        pauses = ", ".join(f"{p:.2f}" for p in self.gc_pauses)
        return f"gen0/1/2: {self.gc_runs} collections, [{pauses}] s"

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._began_cpu = time.process_time()

    def stop(self) -> None:
        self.cpu = time.process_time() - self._began_cpu
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)


async def until(
    predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.005
) -> float:
    """Poll `predicate`; the `time.perf_counter()` at which it held, or TimeoutError."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)
    return time.perf_counter()


async def publish_all(
    publisher: Publisher, topic: str, envelopes: Sequence[Envelope], *, chunk: int = 1000
) -> None:
    """Publish concurrently, `chunk` at a time, so the producer batches them."""
    for start in range(0, len(envelopes), chunk):
        await asyncio.gather(
            *(
                publisher.send(topic, envelope, key=envelope.task_id)
                for envelope in envelopes[start : start + chunk]
            )
        )


def event_kind(record: Delivery) -> str | None:
    """The lifecycle kind (`started`, `succeeded`...) of a task-events record."""
    payload = orjson.loads(record.value or b"{}").get("payload") or {}
    kind = payload.get("kind")
    return kind if isinstance(kind, str) else None


class EventCounter:
    """Follows the task-events topic (no group) and counts records of one kind."""

    def __init__(self, transport: Transport, topic: str, kind: str) -> None:
        self._consumer = transport.consumer([topic], group=None)
        self._kind = kind
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            for record in await self._consumer.fetch(timeout=0.5, max_records=5000):
                if event_kind(record) == self._kind:
                    self.count += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def failed(self) -> bool:
        return self._task is not None and self._task.done()
