"""Completion webhooks: signed, retried with backoff, dead-lettered, status on the task."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import httpx
import pytest

from tests.gateway.conftest import NATIVE_WEBHOOK_SECRET
from tests.gateway.native_support import WebhookReceiver, poll, submit, wait_status

pytestmark = pytest.mark.broker


def webhook_settled(http: httpx.Client, task_id: str, status: str) -> dict[str, object]:
    def check() -> dict[str, object] | None:
        webhook = http.get(f"/v1/tasks/{task_id}").json()["webhook"]
        return webhook if webhook and webhook["status"] == status else None

    return poll(check, timeout=20, what=f"the webhook of {task_id} to be {status}")


def test_the_webhook_is_signed_and_carries_the_ended_task(
    http: httpx.Client, receiver: WebhookReceiver
) -> None:
    path = f"/ok/{uuid.uuid4().hex}"
    task_id = submit(http, "fail", {"text": "hook"}, webhook=receiver.url + path)
    pending = http.get(f"/v1/tasks/{task_id}").json()["webhook"]
    assert pending is None or pending["status"] in ("pending", "delivered")
    webhook = webhook_settled(http, task_id, "delivered")
    assert webhook["attempts"] == 1 and webhook["delivered_at"]

    [request] = receiver.requests_to(path)
    expected = hmac.new(NATIVE_WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Mesh-Signature"] == f"sha256={expected}"
    assert request.headers["X-Mesh-Task-Id"] == task_id
    body = json.loads(request.body)
    assert body["task_id"] == task_id and body["status"] == "dead_lettered"  # 1 attempt
    assert "asked to fail: hook" in body["error"]["message"]


def test_a_failing_receiver_is_retried_until_it_accepts(
    http: httpx.Client, receiver: WebhookReceiver
) -> None:
    path = f"/flaky-2/{uuid.uuid4().hex}"
    task_id = submit(http, "echo", {"text": "retry"}, webhook=receiver.url + path)
    webhook = webhook_settled(http, task_id, "delivered")
    assert webhook["attempts"] == 3
    assert len(receiver.requests_to(path)) == 3
    bodies = {request.body for request in receiver.requests_to(path)}
    assert len(bodies) == 1  # every attempt sends the same signed document


def test_a_receiver_that_keeps_failing_is_dead_lettered(
    http: httpx.Client, receiver: WebhookReceiver
) -> None:
    path = f"/down/{uuid.uuid4().hex}"
    task_id = submit(http, "echo", {"text": "dead"}, webhook=receiver.url + path)
    webhook = webhook_settled(http, task_id, "dead_lettered")
    assert webhook["attempts"] == 3  # MESH_GATEWAY_WEBHOOK_MAX_ATTEMPTS in the fixture
    assert webhook["last_error"] == "HTTP 503"
    assert len(receiver.requests_to(path)) == 3
    wait_status(http, task_id, "succeeded")
