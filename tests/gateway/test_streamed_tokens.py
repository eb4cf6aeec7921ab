"""Streamed model tokens reach clients as they are generated (ADR 022): the native
`GET /v1/tasks/{id}/events` (SSE, with a real HTTP client) and the LangGraph API's
`runs.stream` `messages` / `messages-tuple` modes (the real langgraph-sdk client); the
A2A stream's `output` artifact chunks (the real a2a-sdk client).

A real gateway on a socket over the in-memory transport, an agent that streams its
model call, and the scripted model double that holds the rest of its answer after the
first piece until the test has seen that piece arrive: a token that reached the client
before the answer was finished."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from a2a.types.a2a_pb2 import TaskState
from langchain_core.messages import AIMessageChunk
from langgraph_sdk import get_client

from mesh import Agent, ModelSpec, TaskContext
from mesh.settings import load_settings
from mesh.testing import MemoryTransport
from tests.gateway.a2a_support import a2a_client, message, request
from tests.gateway.agents import Prompt
from tests.gateway.conftest import GatewayServer
from tests.gateway.langgraph_support import clean_client_env  # noqa: F401
from tests.model_double import ModelDouble, Reply

ANSWER = "alpha beta gamma delta"

talker = Agent("talker", description="Streams its model's answer.", model=ModelSpec())


@talker.task
async def talk(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    answer = await ctx.chat([{"role": "user", "content": prompt.last_text()}], stream=True)
    return {"text": answer.content}


@pytest.fixture(scope="module")
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


@pytest.fixture(scope="module")
def server(double: ModelDouble) -> Iterator[GatewayServer]:
    settings = load_settings(
        profile="test",
        namespace=f"t{uuid.uuid4().hex[:10]}",
        model_endpoint=double.url,
        model_name="small",
        tokens_flush_interval=60.0,  # the first piece at once, the rest with the end
    )
    server = GatewayServer(settings, [talker], shared_transport=MemoryTransport)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _held_reply(double: ModelDouble) -> threading.Event:
    gate = threading.Event()
    double.script(Reply(content=ANSWER, pieces=4, gate=gate))
    return gate


def _frames(response: httpx.Response) -> Iterator[tuple[str, dict[str, str]]]:
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line and not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
        elif not line and fields:
            yield fields["event"], fields
            fields = {}


def test_the_task_events_stream_carries_tokens_as_they_come(
    server: GatewayServer, double: ModelDouble
) -> None:
    gate = _held_reply(double)
    with httpx.Client(base_url=server.url, timeout=20) as http:
        submitted = http.post("/v1/tasks", json={"agent": "talker", "input": {"text": "go"}})
        task_id = submitted.json()["task_id"]
        frames: list[tuple[str, dict[str, str]]] = []
        with http.stream("GET", f"/v1/tasks/{task_id}/events") as response:
            for event, fields in _frames(response):
                frames.append((event, fields))
                if event == "token":
                    gate.set()  # only now may the rest of the answer come
    kinds = [event for event, _ in frames]
    first_token = kinds.index("token")
    assert "succeeded" not in kinds[:first_token] and kinds[-1] == "succeeded"
    tokens = [json.loads(fields["data"]) for event, fields in frames if event == "token"]
    assert all("id" not in fields for event, fields in frames if event == "token")
    assert all(t["task_id"] == task_id for t in tokens)
    assert "".join(t["text"] for t in tokens) == ANSWER
    assert tokens[0]["text"] == "alpha " and tokens[-1]["done"] is True
    assert tokens[-1]["content"] == ANSWER
    progress = [json.loads(f["data"])["progress"] for e, f in frames if e == "progress"]
    assert [p["message"] for p in progress] == [ANSWER]  # the durable final message


async def test_langgraph_messages_modes_stream_as_the_sdk_expects(
    server: GatewayServer, double: ModelDouble
) -> None:
    gate = _held_reply(double)
    parts: list[Any] = []
    async with get_client(url=server.url, api_key=None) as sdk:
        thread = await sdk.threads.create()
        stream = sdk.runs.stream(
            thread["thread_id"],
            "talker",
            input={"messages": [{"role": "user", "content": "go"}]},
            stream_mode=["messages-tuple", "messages", "values"],
        )
        async for part in stream:
            parts.append(part)
            if part.event.startswith("messages"):
                gate.set()
    events = [part.event for part in parts]
    assert events[0] == "metadata"
    first_message = next(i for i, e in enumerate(events) if e.startswith("messages"))
    answered = [
        i
        for i, part in enumerate(parts)
        if part.event == "values" and part.data["messages"][-1]["content"] == ANSWER
    ]
    assert answered and answered[0] > first_message  # tokens came before the answer
    metadata = next(p.data for p in parts if p.event == "messages/metadata")
    ((message_id, entry),) = metadata.items()
    assert entry["metadata"]["langgraph_node"] == "talker"
    assert entry["metadata"]["ls_model_name"] == "small"
    partial = [p.data[0]["content"] for p in parts if p.event == "messages/partial"]
    assert partial[0] == "alpha " and partial[-1] == ANSWER  # the text so far, growing
    assert all(ANSWER.startswith(text) for text in partial)
    complete = [p.data[0] for p in parts if p.event == "messages/complete"]
    assert [(m["type"], m["id"], m["content"]) for m in complete] == [("ai", message_id, ANSWER)]
    chunks = [p.data for p in parts if p.event == "messages"]
    assert all(meta["run_id"] == parts[0].data["run_id"] for _, meta in chunks)
    rebuilt = [AIMessageChunk(**{k: v for k, v in c.items() if k != "type"}) for c, _ in chunks]
    whole = rebuilt[0]
    for chunk in rebuilt[1:]:
        whole += chunk
    assert whole.content == ANSWER and whole.id == message_id
    assert events.index("messages/complete") < len(events) - 1  # before the final values
    assert parts[-1].data["messages"][-1]["content"] == ANSWER


async def test_a2a_streams_tokens_as_output_artifact_chunks(
    server: GatewayServer, double: ModelDouble
) -> None:
    """The A2A stream (ADR 041) with the real a2a-sdk client: the answer's text arrives
    as chunks of an `output` artifact before the task is completed."""
    gate = _held_reply(double)
    updates = []
    async with a2a_client(server.url, "talker", streaming=True) as client:
        async for response in client.send_message(request(message(text="go"))):
            updates.append(response)
            if response.HasField("artifact_update"):
                gate.set()  # only now may the rest of the answer come
    chunks = [
        u.artifact_update
        for u in updates
        if u.HasField("artifact_update") and u.artifact_update.artifact.name == "output"
    ]
    assert "".join(c.artifact.parts[0].text for c in chunks) == ANSWER
    assert chunks[0].artifact.parts[0].text == "alpha " and chunks[-1].last_chunk
    assert [c.append for c in chunks] == [False] + [True] * (len(chunks) - 1)
    first_chunk = updates.index(next(u for u in updates if u.HasField("artifact_update")))
    states = [u.status_update.status.state for u in updates if u.HasField("status_update")]
    assert states[-1] == TaskState.TASK_STATE_COMPLETED
    completed = next(
        i
        for i, u in enumerate(updates)
        if u.status_update.status.state == TaskState.TASK_STATE_COMPLETED
    )
    assert first_chunk < completed
