"""Test helpers: bounded polling (every wait ends, saying what never happened) and
reading whole topics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from mesh.transport.base import Delivery, Transport


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


async def read_all(
    transport: Transport, topics: Sequence[str], *, timeout: float = 60.0
) -> list[Delivery]:
    """Every record on `topics` right now (a reader without a group, up to the end offsets)."""
    return await transport.read_topics(topics, timeout=timeout)
