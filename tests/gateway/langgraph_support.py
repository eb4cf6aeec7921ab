"""Shared by the LangGraph API and Deep Agents tests: a clean client environment and
bounded polls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

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
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s; last value: {value!r}")
        await asyncio.sleep(0.05)


def poll_sync(read: Callable[[], T], done: Callable[[T], bool], *, timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s; last value: {value!r}")
        time.sleep(0.05)


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


async def within(answer: Awaitable[T], seconds: float = 15.0) -> T:
    """`answer` (a join or a wait the server keeps alive), failing after `seconds`."""
    async with asyncio.timeout(seconds):
        return await answer
