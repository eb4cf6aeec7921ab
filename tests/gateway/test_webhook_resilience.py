"""The webhook sender under broker failures (in-memory transport, test doubles that
refuse writes or fail fetches): a record it cannot write stops no other delivery and
is reported; a failed loop starts again, and /readyz tells while it cannot."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY as METRICS

from mesh.settings import Settings
from mesh.topics import Topics
from tests.doubles import FailingFetchTransport, FailingPublishTransport
from tests.gateway.agents import echo, slow
from tests.gateway.memory_support import MemoryGateway, memory_gateway
from tests.gateway.native_support import WebhookReceiver
from tests.helpers import eventually, eventually_true

SETTINGS = {
    "gateway_webhook_secret": "resilience-secret",
    "write_attempts": 3,
    "write_backoff": 0.01,
}


def metric(name: str, **labels: str) -> float:
    return METRICS.get_sample_value(name, labels) or 0.0


async def submit(mesh: MemoryGateway, agent: str, text: str, webhook: str, **input: float) -> str:
    body = {"agent": agent, "input": {"text": text, **input}, "webhook": webhook}
    response = await mesh.http.post("/v1/tasks", json=body)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


async def webhook_status(mesh: MemoryGateway, task_id: str) -> str | None:
    webhook = (await mesh.http.get(f"/v1/tasks/{task_id}")).json()["webhook"]
    return None if webhook is None else str(webhook["status"])


async def test_a_record_the_broker_refuses_stops_no_other_delivery(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(**SETTINGS)  # type: ignore[arg-type]
    transport = FailingPublishTransport(Topics(settings.namespace).gateway_webhooks, failures=0)
    failures_before = metric("mesh_gateway_webhook_record_failures_total", status="delivered")
    async with memory_gateway(echo, slow, settings=settings, transport=transport) as mesh:
        # Registered while the broker takes writes; it ends only when cancelled.
        first = await submit(mesh, "slow", "first", f"{receiver.url}/ok/first", seconds=60)
        transport.failures_left = -1  # from now on every webhook record is refused
        assert (await mesh.http.post(f"/v1/tasks/{first}/cancel")).status_code == 202

        def given_up() -> bool:
            now = metric("mesh_gateway_webhook_record_failures_total", status="delivered")
            return now == failures_before + 1

        await eventually(given_up, timeout=20, what="the delivered record to be given up")
        assert len(receiver.requests_to("/ok/first")) == 1  # the POST itself went out
        assert transport.refused == SETTINGS["write_attempts"]
        assert any(
            first in record.getMessage() and "the test double refuses" in record.getMessage()
            for record in caplog.records
            if record.levelno == logging.ERROR
        ), "a log line names the task and the reason"
        assert mesh.gateway.webhooks.running
        assert (await mesh.http.get("/readyz")).status_code == 200

        transport.failures_left = 0
        second = await submit(mesh, "echo", "second", f"{receiver.url}/ok/second")

        async def delivered() -> bool:
            return await webhook_status(mesh, second) == "delivered"

        await eventually_true(
            delivered,
            timeout=20,
            interval=0.05,
            what="the next webhook to be delivered and recorded",
        )
        assert len(receiver.requests_to("/ok/second")) == 1


async def test_a_failed_sender_loop_starts_again_and_delivers(receiver: WebhookReceiver) -> None:
    settings = Settings(**SETTINGS)  # type: ignore[arg-type]
    group = Topics(settings.namespace).gateway_webhook_senders
    transport = FailingFetchTransport(group, failures=2)  # below write_attempts (3)
    restarts_before = metric("mesh_gateway_webhook_sender_restarts_total")
    async with memory_gateway(echo, settings=settings, transport=transport) as mesh:
        task_id = await submit(mesh, "echo", "again", f"{receiver.url}/ok/again")

        async def delivered() -> bool:
            return await webhook_status(mesh, task_id) == "delivered"

        await eventually_true(
            delivered, timeout=20, interval=0.05, what="the webhook after the loop's restarts"
        )
        assert metric("mesh_gateway_webhook_sender_restarts_total") == restarts_before + 2
        assert mesh.gateway.webhooks.running
        assert (await mesh.http.get("/readyz")).status_code == 200


async def test_a_sender_loop_that_keeps_failing_stops_and_readyz_says_why() -> None:
    settings = Settings(**SETTINGS)  # type: ignore[arg-type]
    transport = FailingFetchTransport(Topics(settings.namespace).gateway_webhook_senders)
    async with memory_gateway(settings=settings, transport=transport) as mesh:

        async def not_ready() -> bool:
            return (await mesh.http.get("/readyz")).status_code == 503

        await eventually_true(not_ready, timeout=20, interval=0.05, what="/readyz to turn 503")
        await eventually(lambda: not mesh.gateway.webhooks.running, timeout=10, what="a stop")
        detail = (await mesh.http.get("/readyz")).json()["detail"]
        assert detail.startswith("the webhook sender stopped: TransportError"), detail
        assert "the test double fails this fetch" in detail
