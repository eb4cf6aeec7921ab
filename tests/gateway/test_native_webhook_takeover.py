"""A replica that takes over a webhook's partition continues its attempts and backoff."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from mesh.gateway.native.webhooks import record_webhook
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings, load_settings
from mesh.transport.kafka.adapter import KafkaTransport
from schemas import Envelope, Source
from schemas.envelope import new_id, utc_now
from schemas.gateway import WebhookDelivery
from schemas.tasks import TASK_STATE, TaskState, TaskStatus
from tests.conftest import _embedded
from tests.gateway.conftest import GatewayServer
from tests.gateway.native_support import WebhookReceiver, poll

pytestmark = pytest.mark.broker


@pytest.fixture
def settings(bootstrap_servers: str) -> Settings:
    """Gateways without workers; a 1 s first retry delay, long enough to stop one."""
    return load_settings(
        profile="test",
        bootstrap_servers=bootstrap_servers,
        namespace=f"t{uuid.uuid4().hex[:10]}",
        idempotent_producer=not _embedded(),
        gateway_webhook_secret="takeover",
        gateway_webhook_backoff=1.0,
        gateway_webhook_max_attempts=5,
    )


async def an_ended_task_with_a_webhook(settings: Settings, url: str) -> str:
    """What a worker and a gateway would have written: a failed task, its webhook."""
    transport = KafkaTransport(settings)
    await transport.start()
    try:
        publisher = Publisher(transport, settings, Source(agent="test"))
        task_id, now = new_id(), utc_now()
        ended = TaskState(
            task_id=task_id,
            agent="gone",
            type="t",
            status=TaskStatus.FAILED,
            created_at=now,
            updated_at=now,
            finished_at=now,
        )
        envelope = Envelope(type=TASK_STATE, task_id=task_id, payload=ended.model_dump(mode="json"))
        await publisher.send(publisher.topics.task_state, envelope, key=task_id)
        await record_webhook(publisher, WebhookDelivery(task_id=task_id, url=url, updated_at=now))
        return task_id
    finally:
        await transport.stop()


def webhook_of(url: str, task_id: str) -> dict[str, object] | None:
    response = httpx.get(f"{url}/v1/tasks/{task_id}", timeout=5)
    return response.json()["webhook"] if response.status_code == 200 else None


def test_a_new_owner_continues_the_attempts(settings: Settings, receiver: WebhookReceiver) -> None:
    first = GatewayServer(settings, [])
    first.start()
    path = f"/flaky-2/{uuid.uuid4().hex}"
    try:
        task_id = asyncio.run(an_ended_task_with_a_webhook(settings, receiver.url + path))

        def failed_once() -> dict[str, object] | None:
            webhook = webhook_of(first.url, task_id)
            return webhook if webhook and webhook["attempts"] == 1 else None

        assert poll(failed_once, timeout=30, what="the first attempt")["status"] == "pending"
    finally:
        first.stop()  # during its 1 s backoff

    second = GatewayServer(settings, [])
    second.start()
    try:

        def delivered() -> dict[str, object] | None:
            webhook = webhook_of(second.url, task_id)
            return webhook if webhook and webhook["status"] == "delivered" else None

        webhook = poll(delivered, timeout=30, what="the new owner to deliver it")
        assert webhook["attempts"] == 3  # 1 by the first gateway, 2 by the second
        assert len(receiver.requests_to(path)) == 3
    finally:
        second.stop()
