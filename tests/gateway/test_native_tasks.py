"""The native API's task endpoints: submit, read, steer, cancel, and their 4xx answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.gateway.conftest import GatewayServer
from tests.gateway.native_support import poll, submit, wait_status

pytestmark = pytest.mark.broker


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_problem(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert field in body["detail"], body


def test_submit_returns_202_and_the_task_runs_to_its_result(http: httpx.Client) -> None:
    deadline = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    body = {"agent": "echo", "input": {"text": "hi"}, "priority": 5, "deadline": deadline}
    response = http.post("/v1/tasks", json=body)
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status_url"] == f"/v1/tasks/{accepted['task_id']}"
    assert response.headers["location"] == accepted["status_url"]

    done = wait_status(http, accepted["task_id"], "succeeded")
    assert done["result"] == {"text": "echo: hi"}
    assert done["agent"] == "echo" and done["attempt"] == 1
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    assert done["webhook"] is None
    assert datetime.fromisoformat(done["deadline"]) == datetime.fromisoformat(deadline)


def test_the_same_idempotency_key_names_the_same_task(http: httpx.Client) -> None:
    key = unique("key")
    first = submit(http, "echo", {"text": "once"}, idempotency_key=key)
    again = submit(http, "echo", {"text": "once"}, idempotency_key=key)
    other = submit(http, "echo", {"text": "once"}, idempotency_key=unique("key"))
    assert first == again != other
    assert wait_status(http, first, "succeeded")["idempotency_key"] == key


def test_get_shows_partial_results_while_running(http: httpx.Client) -> None:
    task_id = submit(http, "slow", {"text": "p", "seconds": 3})

    def progressed() -> dict[str, object] | None:
        document = http.get(f"/v1/tasks/{task_id}").json()
        return document if document["status"] == "running" and document["progress"] else None

    running = poll(progressed, timeout=20, what="progress of a running task")
    assert running["progress"][0]["message"].startswith("step 1/")  # type: ignore[index]
    http.post(f"/v1/tasks/{task_id}/cancel")


def test_unknown_agent_is_404_naming_it(http: httpx.Client) -> None:
    response = http.post("/v1/tasks", json={"agent": "nobody", "input": {}})
    assert_problem(response, 404, "'nobody'")
    assert "agent" in response.json()["detail"]


def test_input_that_does_not_fit_the_agent_is_422_naming_the_field(
    http: httpx.Client, native_gateway: GatewayServer
) -> None:
    marker = unique("bad")
    response = http.post(
        "/v1/tasks",
        json={"agent": "echo", "input": {"text": 5, "seconds": "x"}, "idempotency_key": marker},
    )
    assert_problem(response, 422, "body.input.text")
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.input.text", "body.input.seconds"}
    # Nothing reached Kafka: no task under that key, on this replica or any other.
    listed = http.get("/v1/tasks", params={"agent": "echo", "limit": 1000}).json()["tasks"]
    assert all(task["idempotency_key"] != marker for task in listed)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": {}}, "body.agent"),
        ({"agent": "echo"}, "body.input"),
        ({"agent": "echo", "input": {}, "priority": 10}, "body.priority"),
        ({"agent": "echo", "input": {}, "deadline": "2030-01-01T00:00:00"}, "body.deadline"),
        ({"agent": "echo", "input": {}, "deadline": "2020-01-01T00:00:00Z"}, "body.deadline"),
        ({"agent": "echo", "input": {}, "webhook": "not a url"}, "body.webhook"),
        ({"agent": "echo", "input": {}, "color": "red"}, "body.color"),
        ({"agent": "echo", "input": []}, "body.input"),
    ],
)
def test_a_malformed_submission_is_422_naming_the_field(
    http: httpx.Client, body: dict[str, object], field: str
) -> None:
    assert_problem(http.post("/v1/tasks", json=body), 422, field)


def test_a_body_that_is_not_json_is_422(http: httpx.Client) -> None:
    response = http.post(
        "/v1/tasks", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "body")


def test_get_of_an_unknown_task_is_404(http: httpx.Client) -> None:
    assert_problem(http.get("/v1/tasks/no-such-task"), 404, "task_id")


def test_steering_reaches_the_running_task(http: httpx.Client) -> None:
    task_id = submit(http, "slow", {"text": "s", "seconds": 1.5})
    wait_status(http, task_id, "running")
    response = http.post(f"/v1/tasks/{task_id}/messages", json={"text": "faster"})
    assert response.status_code == 202
    assert response.json() == {"task_id": task_id}
    assert wait_status(http, task_id, "succeeded")["result"]["steered"] == ["faster"]


def test_cancel_ends_the_task_and_its_children(http: httpx.Client) -> None:
    task_id = submit(http, "parent", {"text": "c", "seconds": 30})

    def child() -> str | None:
        children: list[str] = http.get(f"/v1/tasks/{task_id}").json()["children"]
        return children[0] if children else None

    child_id = poll(child, timeout=20, what="the parent to delegate")
    wait_status(http, child_id, "running")
    assert http.post(f"/v1/tasks/{task_id}/cancel", json={"reason": "test"}).status_code == 202
    assert wait_status(http, task_id, "cancelled")["error"] is not None
    wait_status(http, child_id, "cancelled")


def test_control_of_an_unknown_task_is_404(http: httpx.Client) -> None:
    assert_problem(http.post("/v1/tasks/nope/messages", json={"text": "x"}), 404, "task_id")
    assert_problem(http.post("/v1/tasks/nope/cancel"), 404, "task_id")


def test_control_of_an_ended_task_is_409(http: httpx.Client) -> None:
    task_id = submit(http, "echo", {"text": "done"})
    wait_status(http, task_id, "succeeded")
    assert_problem(http.post(f"/v1/tasks/{task_id}/messages", json={"text": "x"}), 409, "ended")
    assert_problem(http.post(f"/v1/tasks/{task_id}/cancel"), 409, "ended")


def test_a_malformed_steering_message_is_422(http: httpx.Client) -> None:
    task_id = submit(http, "echo", {"text": "x"})
    response = http.post(f"/v1/tasks/{task_id}/messages", json={"text": 3})
    assert_problem(response, 422, "body.text")
