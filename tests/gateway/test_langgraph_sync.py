"""The real langgraph-sdk sync client (the one Deep Agents' sync tools use) against the
gateway; the server runs on its own thread and loop, so blocking calls are fine here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError

from tests.gateway.conftest import GatewayServer
from tests.gateway.langgraph_support import clean_client_env, poll_sync  # noqa: F401

# The sync client's joins and waits are kept alive by the server, so no read timeout
# ends them: this bounds them (the shared gateway may start within a test: ~20 s).
pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture
def sdk(langgraph_gateway: GatewayServer) -> Iterator[SyncLangGraphClient]:
    with get_sync_client(url=langgraph_gateway.url, api_key=None) as client:
        yield client


def test_create_get_join_wait_and_stream(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create(metadata={"via": "sync"})["thread_id"]
    run = sdk.runs.create(thread_id, "echo", input=user("hi"))
    assert run["status"] in ("pending", "running")
    assert sdk.runs.join(thread_id, run["run_id"])["messages"][-1]["content"] == "echo: hi"
    assert sdk.runs.get(thread_id, run["run_id"])["status"] == "success"
    assert (
        sdk.runs.wait(thread_id, "echo", input=user("again"))["messages"][-1]["content"]
        == "echo: again"
    )
    parts = list(sdk.runs.stream(thread_id, "echo", input=user("streamed")))
    assert parts[0].event == "metadata"
    assert parts[-1].event == "values"
    assert parts[-1].data["messages"][-1]["content"] == "echo: streamed"
    thread = sdk.threads.get(thread_id)
    assert thread["status"] == "idle" and len(thread["values"]["messages"]) == 6


def test_multitask_strategies_and_cancel(sdk: SyncLangGraphClient) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    first = sdk.runs.create(thread_id, "napper", input=user("nap 30"))
    with pytest.raises(ConflictError):
        sdk.runs.create(thread_id, "echo", input=user("no"), multitask_strategy="reject")
    queued = sdk.runs.create(thread_id, "echo", input=user("later"), multitask_strategy="enqueue")
    assert queued["status"] == "pending"
    sdk.runs.cancel(thread_id, first["run_id"])
    # The queued run starts once the first has stopped.
    assert sdk.runs.join(thread_id, queued["run_id"])["messages"][-1]["content"] == "echo: later"
    assert sdk.runs.get(thread_id, first["run_id"])["status"] == "interrupted"
    busy = sdk.runs.create(thread_id, "napper", input=user("nap 30"))
    poll_sync(lambda: sdk.runs.get(thread_id, busy["run_id"])["status"], lambda s: s == "running")
    sdk.runs.create(thread_id, "echo", input=user("now"), multitask_strategy="interrupt")
    poll_sync(
        lambda: sdk.runs.get(thread_id, busy["run_id"])["status"], lambda s: s == "interrupted"
    )
    with pytest.raises(NotFoundError):
        sdk.runs.get(thread_id, "no-such-run")
