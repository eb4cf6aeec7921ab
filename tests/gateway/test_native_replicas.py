"""Two gateway replicas over one mesh give the same answers (each from its own view)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from mesh.gateway.gateway import Gateway
from mesh.gateway.native.webhooks import WebhookSender
from tests.gateway.conftest import GatewayServer
from tests.gateway.native_support import WebhookReceiver, poll, submit, wait_status

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def replica(native_gateway: GatewayServer) -> Iterator[GatewayServer]:
    """A second gateway on the same namespace, without workers of its own."""
    server = GatewayServer(native_gateway.settings, [])
    server.start()
    try:
        # Webhook tests need the senders' group settled: both replicas own a share.
        senders = [webhook_sender(native_gateway), webhook_sender(server)]
        partitions = native_gateway.settings.partitions

        def settled() -> bool | None:
            shares = [len(sender.owned) for sender in senders]
            return (all(s.settled for s in senders) and sum(shares) == partitions) or None

        poll(settled, timeout=30, what="both replicas to share the webhook partitions")
        yield server
    finally:
        server.stop()


def webhook_sender(server: GatewayServer) -> WebhookSender:
    """The replica's webhook sender (read from the test thread: flags and a set only)."""
    assert server._server is not None
    gateway: Gateway = server._server.config.app.state.gateway
    return gateway.webhooks


def test_two_replicas_answer_the_same(
    native_gateway: GatewayServer, replica: GatewayServer
) -> None:
    with (
        httpx.Client(base_url=native_gateway.url, timeout=10) as a,
        httpx.Client(base_url=replica.url, timeout=10) as b,
    ):
        key = uuid.uuid4().hex
        task_id = submit(a, "slow", {"text": "both", "seconds": 0.3}, idempotency_key=key)
        assert submit(b, "slow", {"text": "both", "seconds": 0.3}, idempotency_key=key) == task_id
        wait_status(a, task_id, "succeeded")
        done_b = wait_status(b, task_id, "succeeded")
        assert done_b == a.get(f"/v1/tasks/{task_id}").json()

        def same_lists() -> bool | None:
            params = {"agent": "slow", "limit": 1000}
            listed_a = a.get("/v1/tasks", params=params).json()
            return listed_a == b.get("/v1/tasks", params=params).json() or None

        poll(same_lists, timeout=10, what="both replicas to list the same tasks")
        events_a = a.get(f"/v1/tasks/{task_id}/events").text
        assert events_a == b.get(f"/v1/tasks/{task_id}/events").text
        assert b.get("/readyz").status_code == 200


def test_each_webhook_is_delivered_by_one_replica(
    native_gateway: GatewayServer, replica: GatewayServer, receiver: WebhookReceiver
) -> None:
    with (
        httpx.Client(base_url=native_gateway.url, timeout=10) as a,
        httpx.Client(base_url=replica.url, timeout=10) as b,
    ):
        paths = [f"/ok/{uuid.uuid4().hex}" for _ in range(8)]
        ids = [
            submit(client, "echo", {"text": path}, webhook=receiver.url + path)
            for client, path in zip([a, b] * 4, paths, strict=True)
        ]

        def all_delivered() -> bool | None:
            hooks = [b.get(f"/v1/tasks/{task_id}").json()["webhook"] for task_id in ids]
            return all(h and h["status"] == "delivered" for h in hooks) or None

        poll(all_delivered, timeout=30, what="every webhook to be delivered")
        assert [len(receiver.requests_to(path)) for path in paths] == [1] * len(paths)
