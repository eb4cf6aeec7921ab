"""The real langgraph-sdk async client against the gateway: threads, runs, waits,
joins, streams, cancels and the errors it maps."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from mesh.gateway._webhook_delivery import SIGNATURE_HEADER
from mesh.gateway.langgraph import _run_queue as run_queue
from mesh.gateway.langgraph._stream import KEEP_ALIVE
from tests.gateway.conftest import LANGGRAPH_WEBHOOK_SECRET, GatewayServer
from tests.gateway.langgraph_support import clean_client_env, poll, within  # noqa: F401

pytestmark = pytest.mark.broker


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
async def sdk(langgraph_gateway: GatewayServer) -> AsyncIterator[LangGraphClient]:
    async with get_client(url=langgraph_gateway.url, api_key=None) as client:
        yield client


async def new_thread(sdk: LangGraphClient, **metadata: Any) -> str:
    return str((await sdk.threads.create(metadata=metadata))["thread_id"])


async def run_status(sdk: LangGraphClient, thread_id: str, run_id: str) -> str:
    return str((await sdk.runs.get(thread_id, run_id))["status"])


async def test_a_run_ends_with_the_agents_answer_as_the_last_message(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create(metadata={"k": "v"})
    assert thread["status"] == "idle" and thread["values"] == {} and thread["interrupts"] == {}
    created: list[Any] = []
    run = await sdk.runs.create(
        thread["thread_id"], "echo", input=user("hi"), on_run_created=created.append
    )
    assert run["status"] in ("pending", "running")
    assert created[0]["run_id"] == run["run_id"]  # read from the Content-Location header
    values = await within(sdk.runs.join(thread["thread_id"], run["run_id"]))
    assert values["messages"][-1]["content"] == "echo: hi"
    assert await run_status(sdk, thread["thread_id"], run["run_id"]) == "success"
    got = await sdk.threads.get(thread["thread_id"])
    assert got["status"] == "idle" and got["metadata"] == {"k": "v"}
    assert [m["content"] for m in got["values"]["messages"]] == ["hi", "echo: hi"]
    state = await sdk.threads.get_state(thread["thread_id"])
    assert state["values"]["messages"][-1]["content"] == "echo: hi" and state["next"] == []


async def test_wait_returns_values_and_a_failed_run_raises_or_returns_its_error(
    sdk: LangGraphClient,
) -> None:
    thread_id = await new_thread(sdk)
    values = await within(sdk.runs.wait(thread_id, "echo", input=user("one")))
    assert values["messages"][-1]["content"] == "echo: one"
    values = await within(sdk.runs.wait(thread_id, "echo", input=user("two")))
    assert [m["content"] for m in values["messages"]] == ["one", "echo: one", "two", "echo: two"]
    with pytest.raises(Exception, match="asked to fail: boom"):
        await within(sdk.runs.wait(thread_id, "fail", input=user("boom")))
    failed = await within(sdk.runs.wait(thread_id, "fail", input=user("again"), raise_error=False))
    assert "asked to fail: again" in failed["__error__"]["message"]
    assert (await sdk.threads.get(thread_id))["status"] == "error"
    newest = (await sdk.runs.list(thread_id, limit=1))[0]
    assert newest["status"] == "error" and "asked to fail: again" in newest["error"]


async def test_wait_outlasts_the_clients_read_timeout(langgraph_gateway: GatewayServer) -> None:
    # The run outlasts the client's read timeout by 3 s, so without keep-alive bytes the
    # wait would fail; the read timeout is 6x the gateway's keep-alive interval, so a
    # loaded machine that delays one keep-alive by up to 5 s does not fail it.
    read_timeout = 6 * KEEP_ALIVE
    timeout = httpx.Timeout(10.0, read=read_timeout)
    async with get_client(url=langgraph_gateway.url, api_key=None, timeout=timeout) as sdk:
        thread_id = await new_thread(sdk)
        run = sdk.runs.wait(thread_id, "slow", input=user("long", seconds=read_timeout + 3))
        values = await within(run)
    assert values["messages"][-1]["content"] == "slow: long"


async def test_stream_sends_metadata_first_then_values_and_ends(sdk: LangGraphClient) -> None:
    thread_id = await new_thread(sdk)
    parts = [
        part
        async for part in sdk.runs.stream(
            thread_id, "slow", input=user("s", seconds=0.5), stream_mode=["values", "custom"]
        )
    ]
    assert parts[0].event == "metadata" and parts[0].data["run_id"]
    values = [part.data for part in parts if part.event == "values"]
    assert values[-1]["messages"][-1]["content"] == "slow: s"
    assert any(part.event == "custom" for part in parts)  # the agent's progress
    running = await sdk.runs.create(thread_id, "slow", input=user("joined", seconds=0.5))
    joined = [part async for part in sdk.runs.join_stream(thread_id, running["run_id"])]
    assert joined[0].event == "metadata"
    assert joined[-1].data["messages"][-1]["content"] == "slow: joined"
    updates = [
        part
        async for part in sdk.runs.stream(thread_id, "echo", input=user("u"), stream_mode="updates")
    ]
    assert [part.event for part in updates] == ["metadata", "updates"]
    [answer] = updates[1].data["echo"]["messages"]
    assert answer["role"] == "assistant" and answer["content"] == "echo: u"
    failed = [part async for part in sdk.runs.stream(thread_id, "fail", input=user("x"))]
    assert failed[-1].event == "error" and "asked to fail: x" in failed[-1].data["message"]


async def test_runs_are_listed_newest_first(sdk: LangGraphClient) -> None:
    thread_id = await new_thread(sdk)
    first = await sdk.runs.create(thread_id, "echo", input=user("a"))
    second = await sdk.runs.create(thread_id, "echo", input=user("b"))
    listed = await sdk.runs.list(thread_id)
    assert [run["run_id"] for run in listed] == [second["run_id"], first["run_id"]]
    assert [r["run_id"] for r in await sdk.runs.list(thread_id, limit=1, offset=1)] == [
        first["run_id"]
    ]
    await within(sdk.runs.join(thread_id, second["run_id"]))


async def test_reject_refuses_a_second_run_while_one_runs(sdk: LangGraphClient) -> None:
    thread_id = await new_thread(sdk)
    first = await sdk.runs.create(thread_id, "slow", input=user("busy", seconds=30.0))
    with pytest.raises(ConflictError):
        await sdk.runs.create(thread_id, "echo", input=user("no"), multitask_strategy="reject")
    await sdk.runs.cancel(thread_id, first["run_id"])


async def test_interrupt_supersedes_the_running_run(sdk: LangGraphClient) -> None:
    thread_id = await new_thread(sdk)
    first = await sdk.runs.create(thread_id, "slow", input=user("first", seconds=30.0))
    await poll(lambda: run_status(sdk, thread_id, first["run_id"]), lambda s: s == "running")
    second = await sdk.runs.create(
        thread_id, "echo", input=user("second"), multitask_strategy="interrupt"
    )
    values = await within(sdk.runs.join(thread_id, second["run_id"]))
    assert [m["content"] for m in values["messages"]] == ["first", "second", "echo: second"]
    await poll(lambda: run_status(sdk, thread_id, first["run_id"]), lambda s: s == "interrupted")
    assert await run_status(sdk, thread_id, second["run_id"]) == "success"


async def test_enqueue_runs_the_second_after_the_first(sdk: LangGraphClient) -> None:
    thread_id = await new_thread(sdk)
    first = await sdk.runs.create(thread_id, "slow", input=user("first", seconds=1.5))
    second = await sdk.runs.create(
        thread_id, "echo", input=user("second"), multitask_strategy="enqueue"
    )
    assert second["status"] == "pending"
    assert (await sdk.threads.get(thread_id))["status"] == "busy"
    assert await run_status(sdk, thread_id, second["run_id"]) == "pending"
    values = await within(sdk.runs.join(thread_id, second["run_id"]))
    assert [m["content"] for m in values["messages"]] == [
        "first",
        "slow: first",
        "second",
        "echo: second",
    ]
    assert await run_status(sdk, thread_id, first["run_id"]) == "success"


async def test_cancel_interrupts_the_run_and_the_thread_goes_idle(sdk: LangGraphClient) -> None:
    thread_id = await new_thread(sdk)
    run = await sdk.runs.create(thread_id, "slow", input=user("long", seconds=30.0))
    await sdk.runs.cancel(thread_id, run["run_id"])  # wait=0: 202, empty body
    await poll(lambda: run_status(sdk, thread_id, run["run_id"]), lambda s: s == "interrupted")
    assert (await sdk.threads.get(thread_id))["status"] == "idle"
    blocked = await sdk.runs.create(thread_id, "slow", input=user("again", seconds=30.0))
    await sdk.runs.cancel(thread_id, blocked["run_id"], wait=True)  # returns once stopped
    assert await run_status(sdk, thread_id, blocked["run_id"]) == "interrupted"


async def test_a_question_to_a_human_interrupts_the_thread_until_resumed(
    sdk: LangGraphClient,
) -> None:
    thread_id = await new_thread(sdk)
    asked = await within(sdk.runs.wait(thread_id, "ask", input=user("deploy")))
    assert asked["__interrupt__"][0]["value"] == "approve 'deploy'?"
    thread = await sdk.threads.get(thread_id)
    assert thread["status"] == "interrupted"
    [interrupts] = thread["interrupts"].values()
    assert interrupts[0]["value"] == "approve 'deploy'?"
    values = await within(sdk.runs.wait(thread_id, "ask", command={"resume": "yes"}))
    assert values["messages"][-1]["content"] == "human said: yes"
    assert (await sdk.threads.get(thread_id))["status"] == "idle"


async def test_threads_search_delete_and_assistants(sdk: LangGraphClient) -> None:
    thread_id = await new_thread(sdk, subagent_name="finder", parent_thread_id="p-search")
    found = await sdk.threads.search(metadata={"parent_thread_id": "p-search"})
    assert [t["thread_id"] for t in found] == [thread_id]
    await sdk.threads.update(thread_id, metadata={"stage": "two"})
    found = await sdk.threads.search(
        metadata={"parent_thread_id": "p-search", "stage": "two"}, status="idle"
    )
    assert [t["thread_id"] for t in found] == [thread_id]
    assert await sdk.threads.search(metadata={"parent_thread_id": "p-search"}, status="busy") == []
    await sdk.threads.delete(thread_id)
    with pytest.raises(NotFoundError):
        await sdk.threads.get(thread_id)
    names = {a["assistant_id"] for a in await sdk.assistants.search()}
    assert {"echo", "slow", "fail", "ask"} <= names


async def test_unknown_threads_runs_and_assistants_are_not_found(sdk: LangGraphClient) -> None:
    with pytest.raises(NotFoundError):
        await sdk.threads.get("no-such-thread")
    with pytest.raises(NotFoundError):
        await sdk.runs.create("no-such-thread", "echo", input=user("x"))
    thread_id = await new_thread(sdk)
    with pytest.raises(NotFoundError):
        await sdk.runs.create(thread_id, "no-such-agent", input=user("x"))
    with pytest.raises(NotFoundError):
        await sdk.runs.get(thread_id, "no-such-run")
    created = await sdk.runs.create(
        "made-on-demand", "echo", input=user("x"), if_not_exists="create"
    )
    assert created["thread_id"] == "made-on-demand"
    await within(sdk.runs.join("made-on-demand", created["run_id"]))


async def test_stateless_runs_get_a_thread_of_their_own(
    sdk: LangGraphClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = await sdk.runs.create(None, "echo", input=user("kept"), on_completion="keep")
    values = await within(sdk.runs.join(kept["thread_id"], kept["run_id"]))
    assert values["messages"][-1]["content"] == "echo: kept"
    # A thread of a run that ended is deleted after a grace period (shortened here).
    monkeypatch.setattr(run_queue, "DELETE_GRACE", 0.5)
    created: list[Any] = []
    values = await within(
        sdk.runs.wait(None, "echo", input=user("solo"), on_run_created=created.append)
    )
    assert values["messages"][-1]["content"] == "echo: solo"
    temporary = created[0]["thread_id"]

    async def gone() -> bool:
        try:
            await sdk.threads.get(temporary)
        except NotFoundError:
            return True
        return False

    await poll(gone, lambda deleted: deleted)
    assert (await sdk.threads.get(kept["thread_id"]))["status"] == "idle"
    parts = [part async for part in sdk.runs.stream(None, "echo", input=user("streamed"))]
    assert parts[-1].data["messages"][-1]["content"] == "echo: streamed"
    with pytest.raises(NotFoundError):
        await sdk.runs.create(None, "no-such-agent", input=user("x"))


async def test_history_has_a_state_per_run_and_cancel_many_cancels_runs(
    sdk: LangGraphClient,
) -> None:
    thread_id = await new_thread(sdk)
    await within(sdk.runs.wait(thread_id, "echo", input=user("one")))
    await within(sdk.runs.wait(thread_id, "echo", input=user("two")))
    history = await sdk.threads.get_history(thread_id)
    assert [len(state["values"]["messages"]) for state in history] == [4, 2]
    newest, oldest = history
    assert newest["parent_checkpoint"]["checkpoint_id"] == oldest["checkpoint"]["checkpoint_id"]
    assert await sdk.threads.get_history(thread_id, before=newest["checkpoint"]) == [oldest]
    assert (await sdk.threads.get_state(thread_id))["checkpoint"] == newest["checkpoint"]

    busy = await sdk.runs.create(thread_id, "napper", input=user("nap 30"))
    queued = await sdk.runs.create(thread_id, "echo", input=user("queued"))
    await sdk.runs.cancel_many(thread_id=thread_id, run_ids=[busy["run_id"], queued["run_id"]])
    statuses = await poll(
        lambda: sdk.runs.list(thread_id, limit=2),
        lambda runs: all(run["status"] == "interrupted" for run in runs),
    )
    assert {run["run_id"] for run in statuses} == {busy["run_id"], queued["run_id"]}


class Receiver(BaseHTTPRequestHandler):
    """Keeps the JSON bodies POSTed to it (a webhook's receiving end), each with
    whether its signature is valid."""

    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        key = LANGGRAPH_WEBHOOK_SECRET.encode()
        expected = "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
        signed = self.headers.get(SIGNATURE_HEADER) == expected
        self.bodies.append({**json.loads(raw), "signed": signed})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def webhook_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []
    handler = type("Handler", (Receiver,), {"bodies": bodies})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/done", bodies
        server.shutdown()
        thread.join(timeout=5)


async def test_a_run_with_a_webhook_posts_itself_once_it_has_ended(
    sdk: LangGraphClient, webhook_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = webhook_url
    thread_id = await new_thread(sdk)
    run = await sdk.runs.create(thread_id, "echo", input=user("hook"), webhook=url)

    async def received() -> list[dict[str, Any]]:
        return bodies

    [body] = await poll(received, lambda found: len(found) == 1)
    assert body["run_id"] == run["run_id"] and body["status"] == "success"
    assert body["values"]["messages"][-1]["content"] == "echo: hook"
    assert body["run_started_at"] and body["run_ended_at"] and body["webhook_sent_at"]
    assert body["signed"]  # X-Mesh-Signature: HMAC-SHA256 of the body, as native webhooks
    with pytest.raises(UnprocessableEntityError):
        await sdk.runs.create(thread_id, "echo", input=user("x"), webhook="not a url")
