"""Durable writes of one handler that need not wait for each other, awaited together.

Each `ctx.progress`, `ctx.delegate` and `ctx.emit` returns once the broker has
acknowledged its records. Awaited one after another, a ticket paid each round trip in
turn (ADR 058: they were most of its latency); awaited together, the writes issued in
one turn of the loop go out in one produce. Unlike `asyncio.TaskGroup`, a failure is
raised as itself, not in an `ExceptionGroup`, so the agent's retry policy sees the
exception type it decides on; the writes still under way are cancelled first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any


async def side_by_side(*writes: Awaitable[Any]) -> list[Any]:
    """Await `writes` concurrently, started in the order given; their results in order."""
    tasks = [asyncio.ensure_future(write) for write in writes]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        await _cancelled(tasks)
        raise


@contextlib.asynccontextmanager
async def alongside(write: Awaitable[Any]) -> AsyncIterator[None]:
    """Run `write` while the block runs; the block ends once it is written too."""
    task = asyncio.ensure_future(write)
    try:
        yield
    except BaseException:
        await _cancelled([task])
        raise
    await task


async def _cancelled(tasks: Sequence[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)  # their errors: the first is raised
