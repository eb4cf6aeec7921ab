"""Shared by the LangGraph API and Deep Agents tests: a clean client environment and
bounded polls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

from tests.helpers import eventually_value
from tests.helpers import poll as poll_until_not_none

T = TypeVar("T")

# Variables that would make langgraph-sdk send an `x-api-key`, or langchain trace.
_CLIENT_ENV = (
    "LANGGRAPH_API_KEY",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGSMITH_TRACING",
    "LANGCHAIN_TRACING_V2",
    "LANGSMITH_ENDPOINT",
    "LANGCHAIN_ENDPOINT",
)


@pytest.fixture(autouse=True)
def clean_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)


async def poll(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout: float = 10.0
) -> T:
    """Read until `done(value)`; fails with the last value after `timeout` seconds."""
    return await eventually_value(read, done, timeout=timeout, interval=0.05, what="done")


def poll_sync(read: Callable[[], T], done: Callable[[T], bool], *, timeout: float = 10.0) -> T:
    """`poll` for a synchronous test; fails with the last value read."""
    last: list[T] = []

    def check() -> tuple[T] | None:
        last[:] = [read()]
        return (last[0],) if done(last[0]) else None

    found = poll_until_not_none(
        check, timeout=timeout, what="done", explain=lambda: f"last: {last!r}"
    )
    return found[0]


def wait_until_runs_start(url: str, *, timeout: float = 30.0) -> None:
    """Block until a run through the gateway at `url` succeeds: its queue driver has
    joined its group and owns partitions (a gateway that just started, or one whose
    group is rebalancing, keeps new runs `pending` meanwhile)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        thread_id = http.post("/threads", json={"metadata": {"warm_up": True}}).json()["thread_id"]
        body = {"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "up"}]}}
        run_id = http.post(f"/threads/{thread_id}/runs", json=body).json()["run_id"]
        poll_sync(
            lambda: http.get(f"/threads/{thread_id}/runs/{run_id}").json()["status"],
            lambda status: status == "success",
            timeout=timeout,
        )
        http.delete(f"/threads/{thread_id}").raise_for_status()


async def within(answer: Awaitable[T], seconds: float = 60.0) -> T:
    """`answer` (a join or a wait the server keeps alive), failing after `seconds`: a
    bound against a hang, not a speed claim (a 4 s run took over 15 s on a loaded
    2-core machine)."""
    async with asyncio.timeout(seconds):
        return await answer
