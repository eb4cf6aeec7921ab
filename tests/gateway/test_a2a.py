"""The gateway's A2A server with the real a2a-sdk client, in front of real agents on the
test broker (ADR 041): cards, send, stream, get, list, cancel, steering, push
notifications, bad input, and a second replica serving get, cancel and resubscribe."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    SendMessageConfiguration,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import InvalidParamsError

from tests.gateway.a2a_support import a2a_client, data_of, message, request, send, send_for_task
from tests.gateway.conftest import GatewayServer
from tests.gateway.native_support import WebhookReceiver
from tests.helpers import eventually, eventually_value

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def replica(native_gateway: GatewayServer) -> Iterator[GatewayServer]:
    """A second gateway on the same namespace, without workers of its own."""
    server = GatewayServer(native_gateway.settings, [])
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_each_agent_type_has_a_card(native_gateway: GatewayServer) -> None:
    async with httpx.AsyncClient(base_url=native_gateway.url) as http:
        card = (await http.get("/a2a/echo/.well-known/agent-card.json")).json()
        assert card["name"] == "echo"
        assert card["capabilities"]["streaming"] and card["capabilities"]["pushNotifications"]
        (interface,) = card["supportedInterfaces"]
        assert interface == {
            "url": f"{native_gateway.url}/a2a/echo",
            "protocolBinding": "JSONRPC",
            "protocolVersion": "1.0",
        }
        root = await http.get("/.well-known/agent-card.json")
        assert root.status_code == 404
        assert f"{native_gateway.url}/a2a/echo/.well-known/agent-card.json" in root.text
        assert (await http.get("/a2a/nobody/.well-known/agent-card.json")).status_code == 404


async def test_send_answers_the_finished_task(native_gateway: GatewayServer) -> None:
    async with a2a_client(native_gateway.url, "echo") as client:
        task = await send_for_task(client, request(message(text="hi", context_id="ctx-a")))
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert task.context_id == "ctx-a"
        assert data_of(task) == {"text": "echo: hi"}
        assert task.artifacts[0].parts[0].text == "echo: hi"

        again = await client.get_task(GetTaskRequest(id=task.id))
        assert again.status.state == TaskState.TASK_STATE_COMPLETED
        listed = await client.list_tasks(ListTasksRequest(context_id="ctx-a"))
        assert [t.id for t in listed.tasks] == [task.id]


async def test_bad_input_names_the_field(native_gateway: GatewayServer) -> None:
    async with a2a_client(native_gateway.url, "slow") as client:
        with pytest.raises(InvalidParamsError, match=r"message\.parts\.data\.seconds"):
            await send(client, request(message(data={"seconds": "soon"})))


async def test_stream_shows_partial_results_then_the_end(native_gateway: GatewayServer) -> None:
    async with a2a_client(native_gateway.url, "slow", streaming=True) as client:
        sent = request(message(data={"text": "s", "seconds": 0.3}))
        responses = await send(client, sent)
    first, *updates = responses
    assert first.task.status.state == TaskState.TASK_STATE_SUBMITTED
    progress = [
        u.status_update.status.message.parts[0].text
        for u in updates
        if u.HasField("status_update") and u.status_update.status.HasField("message")
    ]
    assert progress and progress[0].startswith("step 1/")
    artifact = next(u.artifact_update.artifact for u in updates if u.HasField("artifact_update"))
    assert artifact.parts[0].text == "slow: s"
    assert updates[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED


async def test_input_required_then_a_follow_up_message_answers(
    native_gateway: GatewayServer,
) -> None:
    async with a2a_client(native_gateway.url, "ask") as client:
        task = await send_for_task(client, request(message(text="refund")))
        assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        assert "refund" in task.status.message.parts[0].text
        answer = message(text="yes", task_id=task.id, context_id=task.context_id)
        done = await send_for_task(client, request(answer))
        assert done.status.state == TaskState.TASK_STATE_COMPLETED
        assert data_of(done)["text"] == "human said: yes"


async def test_a_quiet_stream_is_kept_alive(native_gateway: GatewayServer) -> None:
    """A task that waits for a person sends nothing for a while: the stream sends
    comment lines meanwhile (a2a-sdk's client reads with a 5 s timeout)."""
    async with a2a_client(native_gateway.url, "ask") as client:
        task = await send_for_task(client, request(message(text="wait")))
    assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    body = {"jsonrpc": "2.0", "id": 1, "method": "SubscribeToTask", "params": {"id": task.id}}
    async with (
        httpx.AsyncClient(base_url=native_gateway.url, timeout=10) as http,
        http.stream("POST", "/a2a/ask", json=body) as stream,
    ):
        lines = stream.aiter_lines()
        first = await anext(lines)
        assert json.loads(first.removeprefix("data: "))["result"]["task"]["id"] == task.id
        assert ": keepalive" in [line async for line in _until(lines, ": keepalive")]
    async with a2a_client(native_gateway.url, "ask") as client:  # it leaves no waiting task
        cancelled = await client.cancel_task(CancelTaskRequest(id=task.id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED


async def _until(lines: AsyncIterator[str], wanted: str) -> AsyncIterator[str]:
    async for line in lines:
        yield line
        if line == wanted:
            return


async def test_a_push_notification_reaches_the_receiver(
    native_gateway: GatewayServer, receiver: WebhookReceiver
) -> None:
    push = TaskPushNotificationConfig(url=receiver.url + "/a2a-push", token="tok-1")
    configuration = SendMessageConfiguration(task_push_notification_config=push)
    async with a2a_client(native_gateway.url, "slow") as client:
        task = await send_for_task(client, request(message(data={"seconds": 0.3}), configuration))
    assert task.status.state == TaskState.TASK_STATE_COMPLETED

    def completed_pushed() -> bool:
        bodies = [json.loads(r.body) for r in receiver.requests_to("/a2a-push")]
        return any(b["task"]["status"]["state"] == "TASK_STATE_COMPLETED" for b in bodies)

    await eventually(completed_pushed, timeout=20, what="the completed task pushed")
    pushed = receiver.requests_to("/a2a-push")
    assert all(r.headers["X-A2A-Notification-Token"] == "tok-1" for r in pushed)
    assert {json.loads(r.body)["task"]["id"] for r in pushed} == {task.id}


async def test_a_second_replica_gets_subscribes_and_cancels(
    native_gateway: GatewayServer, replica: GatewayServer
) -> None:
    async with (
        a2a_client(native_gateway.url, "slow", polling=True) as first,
        a2a_client(replica.url, "slow", streaming=True) as second,
    ):
        task = await send_for_task(first, request(message(data={"seconds": 30})))
        running = await eventually_value(
            lambda: second.get_task(GetTaskRequest(id=task.id)),
            lambda t: t.status.state == TaskState.TASK_STATE_WORKING,
            timeout=20,
            what="the second replica to see the task working",
        )
        assert running.id == task.id
        updates = second.subscribe(SubscribeToTaskRequest(id=task.id))
        snapshot = await anext(updates)
        assert snapshot.task.id == task.id
        assert (await anext(updates)).status_update.status.state == TaskState.TASK_STATE_WORKING
        cancelled = await second.cancel_task(CancelTaskRequest(id=task.id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        assert (await _last(updates)).status_update.status.state == TaskState.TASK_STATE_CANCELED


async def _last(updates: AsyncIterator[object]) -> object:
    seen = [update async for update in updates]
    return seen[-1]


async def test_push_configs_are_kept_for_every_replica(
    native_gateway: GatewayServer, replica: GatewayServer, receiver: WebhookReceiver
) -> None:
    async with (
        a2a_client(native_gateway.url, "slow", polling=True) as first,
        a2a_client(replica.url, "slow") as second,
    ):
        task = await send_for_task(first, request(message(data={"seconds": 30})))
        created = await first.create_task_push_notification_config(
            TaskPushNotificationConfig(task_id=task.id, url=receiver.url + "/kept", token="t")
        )
        assert created.id and created.url == receiver.url + "/kept"
        listed = await eventually_value(
            lambda: second.list_task_push_notification_configs(
                ListTaskPushNotificationConfigsRequest(task_id=task.id)
            ),
            lambda found: len(found.configs) == 1,
            timeout=20,
            what="the second replica to know the config",
        )
        assert listed.configs[0].id == created.id
        got = await second.get_task_push_notification_config(
            GetTaskPushNotificationConfigRequest(task_id=task.id, id=created.id)
        )
        assert got.token == "t"
        await second.delete_task_push_notification_config(
            DeleteTaskPushNotificationConfigRequest(task_id=task.id, id=created.id)
        )
        after = await second.list_task_push_notification_configs(
            ListTaskPushNotificationConfigsRequest(task_id=task.id)
        )
        assert list(after.configs) == []
        await first.cancel_task(CancelTaskRequest(id=task.id))
