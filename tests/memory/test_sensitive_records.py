"""Fields a schema marks sensitive are masked in the task state and event records
(input and result), not only in logs; the parent still gets the real result; a
setting shows them."""

from __future__ import annotations

from pydantic import BaseModel

from mesh import Agent, TaskContext
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.topics import Topics
from schemas import REGISTRY, decode_envelope
from schemas.redaction import MASK, sensitive
from schemas.tasks import TaskStatus
from tests.helpers import read_all


class Contact(BaseModel):
    email: str = sensitive()
    city: str


@REGISTRY.register("test.lookup", 1)
class Lookup(BaseModel):
    customer: Contact
    note: str = ""


@REGISTRY.register("test.found", 1)
class Found(BaseModel):
    token: str = sensitive()
    customer: Contact


@REGISTRY.register("test.ask", 1)
class Ask(BaseModel):
    email: str = sensitive()


keeper = Agent("keeper")
asker = Agent("asker", delegates_to=["keeper"])


@keeper.task
async def look_up(ctx: TaskContext, request: Lookup) -> Found:
    return Found(token="s3cret", customer=request.customer)


@asker.task
async def ask(ctx: TaskContext, request: Ask) -> dict[str, object]:
    found = await (
        await ctx.delegate("keeper", Lookup(customer=Contact(email=request.email, city="Oslo")))
    )
    return {"child_saw_token": found["token"] == "s3cret"}


async def _records(mesh: TestMesh, settings: Settings, task_id: str) -> list[dict[str, object]]:
    topics = Topics(settings.namespace)
    records = await read_all(mesh.transport, [topics.task_state, topics.task_events])
    return [decode_envelope(r.value or b"").payload for r in records if r.key == task_id.encode()]


async def test_sensitive_fields_are_masked_in_state_and_event_records(
    memory_settings: Settings,
) -> None:
    async with TestMesh(keeper, asker, settings=memory_settings) as mesh:
        parent = await mesh.client.submit("asker", {"email": "ada@example.com"})
        state = await mesh.client.wait(parent, timeout=20)
        assert state.result == {"child_saw_token": True}  # the reply is not masked
        [child] = state.children
        payloads = await _records(mesh, memory_settings, child) + await _records(
            mesh, memory_settings, parent
        )
    text = str(payloads)
    assert "ada@example.com" not in text and "s3cret" not in text
    child_state = [p for p in payloads if p.get("task_id") == child][-1]
    assert child_state["input"] == {"customer": {"email": MASK, "city": "Oslo"}, "note": ""}
    assert child_state["result"] == {"token": MASK, "customer": {"email": MASK, "city": "Oslo"}}
    succeeded = [p for p in payloads if p.get("kind") == "succeeded" and "token" in str(p)]
    assert succeeded and succeeded[0]["result"]["token"] == MASK  # type: ignore[index]


async def test_a_setting_shows_sensitive_fields_in_the_records(memory_settings: Settings) -> None:
    shown = memory_settings.model_copy(update={"mask_sensitive": False})
    async with TestMesh(keeper, settings=shown) as mesh:
        lookup = {"customer": {"email": "ada@example.com", "city": "Oslo"}}
        task_id = await mesh.client.submit("keeper", lookup)
        state = await mesh.client.wait(task_id, timeout=20)
    assert state.status is TaskStatus.SUCCEEDED
    assert state.input["customer"]["email"] == "ada@example.com"
    assert state.result is not None and state.result["token"] == "s3cret"
