"""The LangGraph API's wire contract, byte for byte where clients depend on it
(as the Agent Server answers them): codes, headers, required fields, lenient bodies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.gateway.langgraph_support import poll_sync

pytestmark = pytest.mark.broker

THREAD_FIELDS = {"thread_id", "created_at", "updated_at", "metadata", "status", "values"}
RUN_FIELDS = {
    "run_id",
    "thread_id",
    "assistant_id",
    "created_at",
    "updated_at",
    "status",
    "metadata",
    "kwargs",
    "multitask_strategy",
}


def new_run(langgraph_http: httpx.Client, thread_id: str, text: str, **body: Any) -> httpx.Response:
    payload = {"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": text}]}}
    return langgraph_http.post(f"/threads/{thread_id}/runs", json={**payload, **body})


def test_threads_are_created_once_per_id(langgraph_http: httpx.Client) -> None:
    created = langgraph_http.post("/threads", json={})
    assert created.status_code == 200 and created.json().keys() >= THREAD_FIELDS
    assert created.json()["interrupts"] == {}
    thread_id = created.json()["thread_id"]
    again = langgraph_http.post("/threads", json={"thread_id": thread_id})
    assert again.status_code == 409 and thread_id in again.json()["detail"]
    kept = langgraph_http.post("/threads", json={"thread_id": thread_id, "if_exists": "do_nothing"})
    assert kept.status_code == 200 and kept.json()["thread_id"] == thread_id
    no_body = langgraph_http.post("/threads")  # no body and no content type at all
    assert no_body.status_code == 200 and no_body.json()["status"] == "idle"


def test_a_run_has_the_fields_and_headers_clients_read(langgraph_http: httpx.Client) -> None:
    thread_id = langgraph_http.post("/threads", json={}).json()["thread_id"]
    response = new_run(langgraph_http, thread_id, "x", stream_resumable=False, some_future_field=1)
    assert response.status_code == 200
    run = response.json()
    assert run.keys() >= RUN_FIELDS and run["status"] in ("pending", "running")
    location = f"/threads/{thread_id}/runs/{run['run_id']}"
    assert response.headers["content-location"] == location
    assert langgraph_http.get(location).json()["run_id"] == run["run_id"]


def test_cancel_with_an_empty_body_is_accepted(langgraph_http: httpx.Client) -> None:
    thread_id = langgraph_http.post("/threads", json={}).json()["thread_id"]
    run = new_run(langgraph_http, thread_id, "nap 30", assistant_id="napper").json()
    cancel = f"/threads/{thread_id}/runs/{run['run_id']}/cancel"
    response = langgraph_http.post(cancel, params={"wait": 0, "action": "interrupt"}, content=b"")
    assert response.status_code == 202 and response.content == b""
    poll_sync(
        lambda: langgraph_http.get(f"/threads/{thread_id}/runs/{run['run_id']}").json()["status"],
        lambda status: status == "interrupted",
    )
    assert langgraph_http.post(f"/threads/{thread_id}/runs/nope/cancel").status_code == 404


def test_errors_carry_detail_and_bad_bodies_are_422(langgraph_http: httpx.Client) -> None:
    missing = langgraph_http.get("/threads/no-such-thread")
    assert missing.status_code == 404 and "no-such-thread" in missing.json()["detail"]
    thread_id = langgraph_http.post("/threads", json={}).json()["thread_id"]
    no_assistant = langgraph_http.post(f"/threads/{thread_id}/runs", json={"input": {}})
    assert no_assistant.status_code == 422 and "assistant_id" in no_assistant.json()["detail"]
    bad_input = new_run(langgraph_http, thread_id, "x", input={"seconds": "soon"})
    assert bad_input.status_code == 422, bad_input.text
    assert bad_input.headers["content-type"] == "application/problem+json"
    # Structured, as every 422 of the gateway: the field, not pydantic's text.
    [error] = bad_input.json()["errors"]
    assert error["field"] == "body.input.seconds" and "number" in error["reason"]
    assert langgraph_http.get(f"/threads/{thread_id}/runs").json() == []  # nothing was written


def test_state_and_health(langgraph_http: httpx.Client) -> None:
    assert langgraph_http.get("/ok").json() == {"ok": True}
    thread_id = langgraph_http.post("/threads", json={}).json()["thread_id"]
    run = new_run(langgraph_http, thread_id, "state").json()
    joined = langgraph_http.get(f"/threads/{thread_id}/runs/{run['run_id']}/join")
    assert joined.json()["messages"][-1]["content"] == "echo: state"
    state = langgraph_http.get(f"/threads/{thread_id}/state").json()
    assert state["values"]["messages"][-1]["content"] == "echo: state"
    assert state["next"] == [] and state["checkpoint"]["thread_id"] == thread_id
    assert langgraph_http.get("/assistants/echo").json()["graph_id"] == "echo"
    assert langgraph_http.get("/assistants/nobody").status_code == 404


def test_a_run_whose_history_is_too_large_for_a_task_fails_saying_why(
    langgraph_http: httpx.Client,
) -> None:
    thread_id = langgraph_http.post("/threads", json={}).json()["thread_id"]
    big = "x" * 400_000  # each message fits a task; the history of three does not
    first = new_run(langgraph_http, thread_id, big).json()
    langgraph_http.get(f"/threads/{thread_id}/runs/{first['run_id']}/join").raise_for_status()
    second = new_run(langgraph_http, thread_id, big).json()
    failed = poll_sync(
        lambda: langgraph_http.get(f"/threads/{thread_id}/runs/{second['run_id']}").json(),
        lambda run: run["status"] != "pending",
    )
    assert failed["status"] == "error" and "MESH_MAX_MESSAGE_BYTES" in failed["error"]
    assert langgraph_http.get(f"/threads/{thread_id}").json()["status"] == "error"
