"""Test helpers: bounded polling (every wait ends, saying what never happened) and
reading whole topics.

Tests wait on a condition with these, never with a sleep "long enough": `eventually`
(a plain predicate), `eventually_true` (one that awaits), `eventually_value` (the first
value read that is done) and, for synchronous tests, `poll`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from mesh.transport.base import Delivery, Transport
from schemas.tasks import TaskState

T = TypeVar("T")


async def eventually(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)


async def eventually_true(
    check: Callable[[], Awaitable[bool]], *, timeout: float, interval: float = 0.2, what: str
) -> None:
    """`eventually` for a check that must await (reading a topic, say)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def eventually_value(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], object],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str,
) -> T:
    """The first value `read` gives that `done` accepts; fails with the last value read."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        await asyncio.sleep(interval)


def poll(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> T:
    """Synchronous tests' `eventually`: call `check` until it returns something other
    than None; on time-out the message adds `explain()` (a process's output, say)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def most_at_once(tasks: Sequence[TaskState]) -> int:
    """The most of `tasks` that were running at one instant, by their recorded
    `started_at`/`finished_at` (so a claim of parallelism does not rest on a wall clock)."""
    edges: list[tuple[datetime, int]] = []
    for task in tasks:
        assert task.started_at is not None and task.finished_at is not None, task
        edges += [(task.started_at, 1), (task.finished_at, -1)]
    running = peak = 0
    for _, step in sorted(edges):  # at a tie an end (-1) sorts first: touching is not overlap
        running += step
        peak = max(peak, running)
    return peak


def running_intervals(tasks: Sequence[TaskState]) -> str:
    """The tasks' running intervals, for an assertion message."""
    return ", ".join(f"{t.started_at:%H:%M:%S.%f}-{t.finished_at:%H:%M:%S.%f}" for t in tasks)


async def read_all(
    transport: Transport, topics: Sequence[str], *, timeout: float = 60.0
) -> list[Delivery]:
    """Every record on `topics` right now (a reader without a group, up to the end offsets)."""
    return await transport.read_topics(topics, timeout=timeout)
