"""`GET /v1/tasks/{id}` shows the whole task state, including why an accepted task has
not started (`held`, filled by the runtime) and its `correlation_id`; the OpenAPI
document lists both. On the in-memory transport."""

from __future__ import annotations

from schemas import Envelope
from schemas.envelope import new_id, utc_now
from schemas.tasks import TASK_STATE, TaskState, TaskStatus
from tests.gateway.memory_support import memory_gateway


async def test_a_held_task_shows_why_it_has_not_started() -> None:
    async with memory_gateway() as mesh:
        now = utc_now()
        state = TaskState(
            task_id=new_id(),
            agent="billing",
            type="billing.charge",
            status=TaskStatus.SUBMITTED,
            correlation_id="event-1",
            held="the circuit of agent 'billing' is open",
            created_at=now,
            updated_at=now,
        )
        publisher = mesh.gateway.client.publisher
        envelope = Envelope(
            type=TASK_STATE,
            task_id=state.task_id,
            source=publisher.source,
            payload=state.model_dump(mode="json"),
        )
        await publisher.send(publisher.topics.task_state, envelope, key=state.task_id)
        await mesh.gateway.view.catch_up()

        document = (await mesh.http.get(f"/v1/tasks/{state.task_id}")).json()
        assert document["held"] == "the circuit of agent 'billing' is open"
        assert document["correlation_id"] == "event-1"
        schema = (await mesh.http.get("/openapi.json")).json()["components"]["schemas"]
        assert {"held", "correlation_id"} <= set(schema["TaskDocument"]["properties"])
