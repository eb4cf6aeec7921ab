"""Bad input never reaches Kafka: task inputs are checked against the agent's card
even when this process does not ship the agent's model, domain events are forwarded
as their model dumps, and a body the mesh cannot carry is refused naming `body`.
On the in-memory transport."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mesh import Client
from mesh.errors import InvalidInput
from mesh.topics import agent_topics
from schemas import REGISTRY, decode_envelope
from tests.gateway.memory_support import MemoryGateway, card, memory_gateway

# The input schema of an agent type whose model exists only in its workers' process:
# nothing registers `remote.summarize` here.
REMOTE_TYPE = "remote.summarize"
REMOTE_SCHEMA: dict[str, Any] = {
    "$defs": {
        "Limits": {
            "type": "object",
            "properties": {"words": {"type": "integer", "minimum": 1}},
            "required": ["words"],
        }
    },
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "limits": {"$ref": "#/$defs/Limits"},
        "style": {"enum": ["brief", "full"]},
    },
    "required": ["text"],
    "additionalProperties": False,
}
TICKET = {
    "ticket_id": "T-9",
    "customer": {"email": "ada@example.com"},
    "subject": "Where is my order?",
    "body": "It has not arrived.",
}


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"deeper": value}
    return value


@pytest.fixture
async def mesh() -> Any:
    async with memory_gateway() as gateway:
        # What the summarizer's workers, in a process of their own, would have done.
        await gateway.transport.ensure_topics(agent_topics(gateway.gateway.settings, "summarizer"))
        await gateway.publish_card(card("summarizer", REMOTE_TYPE, REMOTE_SCHEMA))
        yield gateway


def fields_of(body: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["reason"] for error in body["errors"]}


async def test_an_agent_known_only_by_its_card_gets_422_naming_each_field(
    mesh: MemoryGateway,
) -> None:
    assert not REGISTRY.is_known(REMOTE_TYPE)
    inbox = mesh.gateway.client.publisher.topics.inbox("summarizer")
    bad = {"limits": {"words": 0}, "style": "loud", "color": "red"}
    response = await mesh.http.post("/v1/tasks", json={"agent": "summarizer", "input": bad})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = fields_of(response.json())
    assert set(errors) == {
        "body.input.text",
        "body.input.limits.words",
        "body.input.style",
        "body.input.color",
    }
    assert errors["body.input.text"] == "Field required"
    assert errors["body.input.color"] == "Extra inputs are not permitted"
    assert await mesh.end_offsets(inbox) == 0  # nothing was produced
    assert (await mesh.http.get("/v1/tasks", params={"agent": "summarizer"})).json()["tasks"] == []

    fitting = {"text": "a long story", "limits": {"words": 5}}
    accepted = await mesh.http.post("/v1/tasks", json={"agent": "summarizer", "input": fitting})
    assert accepted.status_code == 202, accepted.text
    assert await mesh.end_offsets(inbox) == 1  # the check above was not vacuous


async def test_the_langgraph_api_names_the_field_too(mesh: MemoryGateway) -> None:
    thread_id = (await mesh.http.post("/threads", json={})).json()["thread_id"]
    run = {"assistant_id": "summarizer", "input": {"text": 3}}
    response = await mesh.http.post(f"/threads/{thread_id}/runs", json=run)
    assert response.status_code == 422, response.text
    assert fields_of(response.json()) == {
        "body.input.text": "Input should be of JSON type 'string'"
    }


async def test_the_client_names_the_field_for_the_cli(mesh: MemoryGateway) -> None:
    client = Client(mesh.transport, mesh.gateway.settings)
    async with client:
        with pytest.raises(InvalidInput) as raised:
            await client.submit("summarizer", {"text": "x", "limits": {}})
    assert [(e.field, e.reason) for e in raised.value.errors] == [
        ("limits.words", "Field required")
    ]
    # `mesh submit` prints the first line of the message: it names the field.
    assert "limits.words: Field required" in str(raised.value).splitlines()[0]


async def test_a_domain_event_goes_on_as_its_model_dumps_it(mesh: MemoryGateway) -> None:
    event = {**TICKET, "unknown": {"kept": "no"}}
    response = await mesh.http.post("/v1/events/support.ticket.created", json=event)
    assert response.status_code == 202, response.text
    topic = mesh.gateway.client.publisher.topics.domain("support.ticket.created")
    [record] = await mesh.transport.read_topics([topic])
    assert record.value is not None
    payload = decode_envelope(record.value).payload
    assert "unknown" not in payload and payload["ticket_id"] == "T-9"


async def test_a_payload_nested_too_deeply_is_422_naming_the_body(mesh: MemoryGateway) -> None:
    event = {**TICKET, "unknown": nested(300)}
    response = await mesh.http.post("/v1/events/support.ticket.created", json=event)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == "body" and "MESH_GATEWAY_MAX_JSON_DEPTH" in error["reason"]
    # Just within the limit (64 by default; the event object is the first level).
    response = await mesh.http.post("/v1/events/support.ticket.created", json=nested(63))
    assert response.status_code == 422  # missing fields, but read: the depth was fine
    assert "body.ticket_id" in fields_of(response.json())


@pytest.mark.parametrize(
    ("content", "content_type", "status", "reason"),
    [
        (b'{"agent": "summarizer", "input": {"text": "\xff"}}', "application/json", 400, "UTF-8"),
        (b'{"agent": ', "application/json", 422, "not JSON"),
        (b'{"agent": "summarizer", "input": {"text": NaN}}', "application/json", 422, "NaN"),
        (
            b'{"agent": "s", "input": {"n": 1' + b"0" * 30 + b"}}",
            "application/json",
            422,
            "between",
        ),
        (b'{"agent": "s", "input": {"text": "\\udc00"}}', "application/json", 422, "surrogate"),
        (b"agent=summarizer", "application/x-www-form-urlencoded", 415, "not JSON"),
        (b'{"agent": "summarizer"}', "text/plain", 415, "not JSON"),
    ],
)
async def test_a_body_the_mesh_cannot_carry_is_a_problem_naming_it(
    mesh: MemoryGateway, content: bytes, content_type: str, status: int, reason: str
) -> None:
    response = await mesh.http.post(
        "/v1/tasks", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    [error] = body["errors"]
    assert error["field"] in ("body", "header.content-type") and reason in error["reason"]


async def test_a_method_a_path_does_not_take_is_405_with_allow(mesh: MemoryGateway) -> None:
    response = await mesh.http.put("/v1/tasks")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == []


async def test_a_refused_run_leaves_no_thread_behind(mesh: MemoryGateway) -> None:
    thread_id = str(uuid.uuid4())
    refused = [
        ({"assistant_id": "nobody"}, 404),
        ({"assistant_id": "summarizer", "input": {"text": 3}}, 422),
        ({"assistant_id": "summarizer", "command": {"resume": "yes"}}, 409),
    ]
    for run, status in refused:
        for path in (f"/threads/{thread_id}/runs", "/runs"):
            body = {**run, "if_not_exists": "create", "on_completion": "keep"}
            response = await mesh.http.post(path, json=body)
            assert response.status_code == status, response.text
    assert (await mesh.http.get(f"/threads/{thread_id}")).status_code == 404
    assert (await mesh.http.post("/threads/search", json={})).json() == []
