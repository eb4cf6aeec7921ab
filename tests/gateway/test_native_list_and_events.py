"""Listing with filters and cursor paging; a task's events as SSE (replay, live follow,
Last-Event-ID resume); publishing domain events."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from mesh.topics import Topics
from mesh.transport.kafka.adapter import KafkaTransport
from schemas import decode_envelope
from tests.gateway.conftest import GatewayServer
from tests.gateway.native_support import poll, read_sse, submit, wait_status
from tests.helpers import read_all

pytestmark = pytest.mark.broker


def test_list_filters_by_agent_status_and_root(http: httpx.Client) -> None:
    parent = submit(http, "parent", {"text": "tree", "seconds": 0.2})
    echoed = submit(http, "echo", {"text": "listed"})
    wait_status(http, parent, "succeeded")
    wait_status(http, echoed, "succeeded")
    child = http.get(f"/v1/tasks/{parent}").json()["children"][0]

    tree = http.get("/v1/tasks", params={"root": parent}).json()["tasks"]
    assert [t["task_id"] for t in tree] == [child, parent]  # newest first
    by_agent = http.get("/v1/tasks", params={"agent": "parent", "limit": 1000}).json()
    assert parent in {t["task_id"] for t in by_agent["tasks"]}
    assert {t["agent"] for t in by_agent["tasks"]} == {"parent"}
    succeeded = http.get("/v1/tasks", params={"status": "succeeded", "agent": "echo"}).json()
    assert echoed in {t["task_id"] for t in succeeded["tasks"]}
    assert {t["status"] for t in succeeded["tasks"]} == {"succeeded"}
    both = http.get("/v1/tasks", params={"root": parent, "agent": "slow"}).json()["tasks"]
    assert [t["task_id"] for t in both] == [child]


def test_cursor_pages_cover_every_task_once_newest_first(http: httpx.Client) -> None:
    key = uuid.uuid4().hex[:8]
    submitted = [
        submit(http, "echo", {"text": f"page {i}"}, idempotency_key=f"{key}-{i}") for i in range(7)
    ]
    everything = http.get("/v1/tasks", params={"agent": "echo", "limit": 1000}).json()["tasks"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"agent": "echo", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = http.get("/v1/tasks", params=params).json()
        seen += [t["task_id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["task_id"] for t in everything]
    assert set(submitted) <= set(seen)
    created = [t["created_at"] for t in everything]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"status": "sleeping"}, 422, "query.status"),
        ({"limit": 0}, 422, "query.limit"),
        ({"limit": 1001}, 422, "query.limit"),
        ({"cursor": "not-a-cursor"}, 400, "cursor"),
    ],
)
def test_bad_list_parameters_are_named(
    http: httpx.Client, params: dict[str, object], status: int, field: str
) -> None:
    response = http.get("/v1/tasks", params=params)
    assert response.status_code == status, response.text
    assert field in response.json()["detail"]


def test_sse_replays_an_ended_task_and_closes(http: httpx.Client) -> None:
    task_id = submit(http, "echo", {"text": "replay"})
    wait_status(http, task_id, "succeeded")
    events = read_sse(http, task_id)
    kinds = [json.loads(e.data)["kind"] for e in events]
    assert [e.event for e in events] == kinds
    assert kinds[0] == "submitted" and kinds[-1] == "succeeded"
    assert "started" in kinds
    again = read_sse(http, task_id)
    assert [e.id for e in again] == [e.id for e in events]  # ids are stable


def test_sse_follows_a_running_task_until_it_ends(http: httpx.Client) -> None:
    task_id = submit(http, "slow", {"text": "live", "seconds": 1.0})
    events = read_sse(http, task_id)  # opened while it runs; ends when the task ends
    payloads = [json.loads(e.data) for e in events]
    assert sum(p["kind"] == "progress" for p in payloads) >= 5
    assert payloads[-1]["kind"] == "succeeded"
    assert payloads[-1]["result"]["text"] == "slow: live"


def test_sse_resumes_after_last_event_id(http: httpx.Client) -> None:
    task_id = submit(http, "slow", {"text": "resume", "seconds": 1.0})
    first = read_sse(http, task_id, stop_after=3)
    rest = read_sse(http, task_id, last_event_id=first[-1].id)
    whole = read_sse(http, task_id)
    assert [e.id for e in first + rest] == [e.id for e in whole]
    assert json.loads(rest[-1].data)["kind"] == "succeeded"


def test_sse_of_an_unknown_task_is_404(http: httpx.Client) -> None:
    assert http.get("/v1/tasks/nope/events").status_code == 404


TICKET = {
    "ticket_id": "T-1",
    "customer": {"email": "ada@example.com"},
    "subject": "Where is my order?",
    "body": "It has not arrived.",
}


def test_a_domain_event_is_validated_and_published(
    http: httpx.Client, native_gateway: GatewayServer
) -> None:
    response = http.post("/v1/events/support.ticket.created", json=TICKET, params={"key": "T-1"})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["version"] == 2

    async def published() -> list[str]:
        settings = native_gateway.settings
        transport = KafkaTransport(settings)
        await transport.start()
        try:
            topic = Topics(settings.namespace).domain("support.ticket.created")
            return [
                decode_envelope(r.value).id for r in await read_all(transport, [topic]) if r.value
            ]
        finally:
            await transport.stop()

    poll(lambda: accepted["id"] in asyncio.run(published()) or None, timeout=20, what="the event")


@pytest.mark.parametrize(
    ("path", "params", "body", "status", "field"),
    [
        ("/v1/events/no.such.event", {}, {}, 404, "no.such.event"),
        ("/v1/events/mesh.task.cancel", {}, {}, 404, "mesh.task.cancel"),
        ("/v1/events/support.ticket.created", {"version": 9}, TICKET, 422, "query.version"),
        (
            "/v1/events/support.ticket.created",
            {},
            {**TICKET, "customer": {}},
            422,
            "body.customer.email",
        ),
        ("/v1/events/support.ticket.created", {}, [1], 422, "body"),
    ],
)
def test_a_bad_domain_event_is_refused_naming_why(
    http: httpx.Client,
    path: str,
    params: dict[str, object],
    body: object,
    status: int,
    field: str,
) -> None:
    response = http.post(path, params=params, json=body)
    assert response.status_code == status, response.text
    assert field in response.json()["detail"]
