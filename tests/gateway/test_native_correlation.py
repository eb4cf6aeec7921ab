"""Correlation: a domain event published through the gateway returns its id, and
`GET /v1/tasks?correlation=<id>` lists the tasks it started, children included
(through the gateway, over the test broker); `Client.list(correlation=...)` too."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from mesh.testing import TestMesh
from tests.gateway.agents import echo
from tests.gateway.native_agents import PARCEL_ARRIVED, ParcelArrived, intake
from tests.gateway.native_support import poll
from tests.helpers import eventually_true


def publish_parcel(http: httpx.Client, parcel_id: str) -> str:
    response = http.post(f"/v1/events/{PARCEL_ARRIVED}", json={"parcel_id": parcel_id})
    assert response.status_code == 202, response.text
    event_id: str = response.json()["id"]
    return event_id


@pytest.mark.broker
def test_the_tasks_an_event_started_are_listed_by_its_id(http: httpx.Client) -> None:
    parcel = f"P-{uuid.uuid4().hex[:6]}"
    event_id = publish_parcel(http, parcel)
    other_event = publish_parcel(http, f"{parcel}-other")  # its tree is not ours

    def tree() -> list[dict[str, Any]] | None:
        page = http.get("/v1/tasks", params={"correlation": event_id}).json()
        done = len(page["tasks"]) == 3 and all(t["status"] == "succeeded" for t in page["tasks"])
        return page["tasks"] if done else None

    tasks = poll(tree, timeout=30, what="the event's task and its two children")
    [adopted] = [t for t in tasks if t["agent"] == "intake"]
    children = [t for t in tasks if t["agent"] == "echo"]
    assert sorted(adopted["children"]) == sorted(t["task_id"] for t in children)
    assert {t["correlation_id"] for t in tasks} == {event_id}
    assert {t["root_task_id"] for t in tasks} == {adopted["task_id"]}
    assert sorted(t["result"]["text"] for t in children) == [
        f"echo: {parcel} seen",
        f"echo: {parcel} sorted",
    ]
    others = http.get("/v1/tasks", params={"correlation": other_event}).json()["tasks"]
    assert not {t["task_id"] for t in others} & {t["task_id"] for t in tasks}
    unknown = http.get("/v1/tasks", params={"correlation": "no-such-event"}).json()
    assert unknown == {"tasks": [], "next_cursor": None}


async def test_client_list_by_correlation() -> None:
    async with TestMesh(intake, echo) as mesh:
        event_id = await mesh.client.publish(ParcelArrived(parcel_id="P-1"), key="P-1")
        await mesh.client.publish(ParcelArrived(parcel_id="P-2"), key="P-2")

        async def tree_ended() -> bool:
            found = await mesh.client.list(correlation=event_id)
            return len(found) == 3 and all(t.status.is_terminal for t in found)

        await eventually_true(tree_ended, timeout=10, interval=0.02, what="the event's tree")
        found = await mesh.client.list(correlation=event_id)
        assert sorted(t.agent for t in found) == ["echo", "echo", "intake"]
        assert {t.correlation_id for t in found} == {event_id}
