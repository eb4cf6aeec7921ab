"""Two gateways on one mesh answer alike: threads and runs live in Kafka, and a
thread's queued runs are started by the one gateway owning its partition (ADR 012)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.gateway.conftest import GatewayServer
from tests.gateway.langgraph_support import (  # noqa: F401
    clean_client_env,
    poll,
    wait_until_runs_start,
    within,
)

pytestmark = pytest.mark.broker


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module")
def earlier_thread(langgraph_gateway: GatewayServer) -> dict[str, Any]:
    """A thread with a finished run, made before the second gateway starts."""
    with httpx.Client(base_url=langgraph_gateway.url, timeout=10) as http:
        thread_id = http.post("/threads", json={"metadata": {"when": "before"}}).json()["thread_id"]
        run = {"assistant_id": "echo", "input": user("earlier")}
        http.post(f"/threads/{thread_id}/runs/wait", json=run).raise_for_status()
        thread: dict[str, Any] = http.get(f"/threads/{thread_id}").json()
        return thread


@pytest.fixture(scope="module")
def second_gateway(
    langgraph_gateway: GatewayServer, earlier_thread: dict[str, Any]
) -> Iterator[GatewayServer]:
    """Another gateway on the same topics, with no workers of its own."""
    server = GatewayServer(langgraph_gateway.settings, [])
    server.start()
    try:
        wait_until_runs_start(server.url)  # its joining the queue drivers' group settled
        yield server
    finally:
        server.stop()


@pytest.fixture
async def both(
    langgraph_gateway: GatewayServer, second_gateway: GatewayServer
) -> AsyncIterator[tuple[LangGraphClient, LangGraphClient]]:
    async with (
        get_client(url=langgraph_gateway.url, api_key=None) as one,
        get_client(url=second_gateway.url, api_key=None) as two,
    ):
        yield one, two


async def test_a_gateway_started_later_reads_the_threads_from_kafka(
    both: tuple[LangGraphClient, LangGraphClient], earlier_thread: dict[str, Any]
) -> None:
    _, two = both
    assert await two.threads.get(earlier_thread["thread_id"]) == earlier_thread
    assert earlier_thread["values"]["messages"][-1]["content"] == "echo: earlier"


async def test_a_thread_made_on_one_gateway_is_served_by_the_other(
    both: tuple[LangGraphClient, LangGraphClient],
) -> None:
    one, two = both
    thread_id = (await one.threads.create(metadata={"made": "on one"}))["thread_id"]
    run = await two.runs.create(thread_id, "echo", input=user("hello"))
    values = await within(one.runs.join(thread_id, run["run_id"]))
    assert values["messages"][-1]["content"] == "echo: hello"
    seen = [await client.threads.get(thread_id) for client in (one, two)]
    assert seen[0] == await poll(lambda: two.threads.get(thread_id), lambda t: t == seen[0])
    assert seen[0]["metadata"] == {"made": "on one"} and seen[0]["status"] == "idle"


async def test_runs_queued_through_both_gateways_run_once_each_in_order(
    both: tuple[LangGraphClient, LangGraphClient],
) -> None:
    one, two = both
    thread_id = (await one.threads.create())["thread_id"]
    first = await one.runs.create(thread_id, "napper", input=user("nap 1"))
    second = await two.runs.create(thread_id, "echo", input=user("second"))
    third = await one.runs.create(thread_id, "echo", input=user("third"))
    assert second["status"] == third["status"] == "pending"
    values = await within(two.runs.join(thread_id, third["run_id"]))
    assert [m["content"] for m in values["messages"]] == [
        "nap 1",
        "napped: nap 1",
        "second",
        "echo: second",
        "third",
        "echo: third",
    ]
    for client in (one, two):
        runs = await poll(
            lambda c=client: c.runs.list(thread_id),
            lambda rs: [r["status"] for r in rs] == ["success"] * 3,
        )
        assert [r["run_id"] for r in runs] == [third["run_id"], second["run_id"], first["run_id"]]
