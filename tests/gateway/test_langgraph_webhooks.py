"""A LangGraph run's webhook, delivered as the native API's are (in-memory transport):
signed with `MESH_GATEWAY_WEBHOOK_SECRET`, retried and given up on by the
`MESH_GATEWAY_WEBHOOK_*` settings, refused (422) while no secret is set."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from mesh.gateway._webhook_delivery import SIGNATURE_HEADER
from mesh.gateway.langgraph._service import LangGraphService
from mesh.settings import Settings
from tests.gateway.agents import echo
from tests.gateway.memory_support import MemoryGateway, memory_gateway
from tests.gateway.native_support import Received, WebhookReceiver
from tests.helpers import eventually

SECRET = "langgraph-tests-secret"
SETTINGS = Settings(
    gateway_webhook_secret=SECRET,
    gateway_webhook_max_attempts=3,
    gateway_webhook_backoff=0.01,
)


async def create_run(mesh: MemoryGateway, webhook: str) -> tuple[str, str]:
    """A run of `echo` on a new thread, with `webhook`: (thread id, run id)."""
    body = {
        "assistant_id": "echo",
        "input": {"messages": [{"role": "user", "content": "hook"}]},
        "webhook": webhook,
    }
    created = await mesh.http.post("/runs", json={**body, "on_completion": "keep"})
    assert created.status_code == 200, created.text
    run = created.json()
    return run["thread_id"], run["run_id"]


def webhook_status(mesh: MemoryGateway, thread_id: str, run_id: str) -> str | None:
    service: LangGraphService = mesh.app.state.langgraph
    return service.store.runs_by_id(thread_id)[run_id].webhook_status


def signed(request: Received) -> bool:
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return request.headers[SIGNATURE_HEADER] == f"sha256={expected}"


async def test_the_webhook_is_signed_and_carries_the_ended_run(
    receiver: WebhookReceiver,
) -> None:
    path = f"/ok/{uuid.uuid4().hex}"
    async with memory_gateway(echo, settings=SETTINGS) as mesh:
        thread_id, run_id = await create_run(mesh, receiver.url + path)
        await eventually(
            lambda: webhook_status(mesh, thread_id, run_id) == "sent",
            timeout=20,
            what="the webhook to be sent",
        )
    [request] = receiver.requests_to(path)
    assert signed(request)
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["run_id"] == run_id and body["status"] == "success"
    assert body["values"]["messages"][-1]["content"] == "echo: hook"


async def test_a_failing_receiver_is_retried_by_the_settings(receiver: WebhookReceiver) -> None:
    flaky, down = f"/flaky-2/{uuid.uuid4().hex}", f"/down/{uuid.uuid4().hex}"
    async with memory_gateway(echo, settings=SETTINGS) as mesh:
        taken = await create_run(mesh, receiver.url + flaky)
        refused = await create_run(mesh, receiver.url + down)
        await eventually(
            lambda: (
                webhook_status(mesh, *taken) == "sent"
                and webhook_status(mesh, *refused) == "failed"
            ),
            timeout=20,
            what="one webhook sent on its third attempt, the other given up on",
        )
    assert len(receiver.requests_to(flaky)) == 3  # two failures, then taken
    assert len(receiver.requests_to(down)) == 3  # MESH_GATEWAY_WEBHOOK_MAX_ATTEMPTS
    assert all(signed(request) for request in receiver.requests_to(flaky))


async def test_a_webhook_is_refused_while_no_secret_signs_it() -> None:
    async with memory_gateway(echo, settings=Settings()) as mesh:
        body = {"assistant_id": "echo", "input": {}, "webhook": "http://127.0.0.1:9/hook"}
        refused = await mesh.http.post("/runs", json=body)
        assert refused.status_code == 422, refused.text
        assert "MESH_GATEWAY_WEBHOOK_SECRET" in refused.text
        assert (await mesh.http.post("/threads/search", json={})).json() == []  # none made
