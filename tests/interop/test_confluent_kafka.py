"""A second Kafka client, confluent-kafka (librdkafka), and the mesh on the real broker.

Upstream systems rarely use aiokafka, or know the mesh's envelope. Here a librdkafka
producer publishes tickets to the `support.ticket.created` domain topic, which the
reference `triage` agent subscribes to (running with `knowledge` and `orders`): a
bare JSON ticket and a CloudEvent in Kafka binary content mode are triaged; a bare
ticket missing a field is dead-lettered with a reason naming it. And a librdkafka
consumer reads an event the mesh published.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from agents.contracts import TICKET_CREATED, Customer, TicketCreated
from agents.knowledge import agent as knowledge
from agents.orders import agent as orders
from agents.triage import agent as triage
from mesh import Client
from mesh.dlq.operate import DeadLetter, read_dead_letters
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.topics import domain_topic
from mesh.transport.kafka.adapter import KafkaTransport
from schemas.tasks import TaskState, TaskStatus
from tests.helpers import eventually, eventually_true, read_all
from tests.interop.confluent import consume_first, produce, produce_many

pytestmark = pytest.mark.broker

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def ticket(ticket_id: str, **fields: object) -> dict[str, object]:
    return {
        "ticket_id": ticket_id,
        "customer": {"email": "ada@example.com"},
        "subject": "Where is my order ORD-1001?",
        "body": "It has not arrived.",
        **fields,
    }


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings


@pytest.fixture
async def support_desk(settings: Settings) -> AsyncIterator[TestMesh]:
    transport = KafkaTransport(settings)
    async with TestMesh(triage, knowledge, orders, transport=transport, settings=settings) as mesh:
        yield mesh


async def triage_task_of(mesh: TestMesh, ticket_id: str) -> TaskState:
    """The triage task the ticket started, once it has ended."""

    def started() -> TaskState | None:
        return next(
            (
                state
                for state in mesh.client.view.tasks.values()
                if state.agent == "triage" and state.input.get("ticket_id") == ticket_id
            ),
            None,
        )

    await eventually(lambda: started() is not None, timeout=60, what=f"a task for {ticket_id}")
    task = started()
    assert task is not None
    return await mesh.client.wait(task.task_id, timeout=60)


async def test_a_bare_json_ticket_is_triaged(support_desk: TestMesh, settings: Settings) -> None:
    topic = support_desk.client.publisher.topics.domain(TICKET_CREATED)
    value = orjson.dumps(ticket("T-bare"))
    await asyncio.to_thread(produce, settings, topic, value, key="T-bare", headers={})

    state = await triage_task_of(support_desk, "T-bare")
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.result is not None and state.result["order_ids"] == ["ORD-1001"]
    children = [await support_desk.client.get(child) for child in state.children]
    assert sorted(child.agent for child in children) == ["knowledge", "orders"]
    assert {child.status for child in children} == {TaskStatus.SUCCEEDED}


async def test_a_cloud_event_is_triaged_under_its_id_and_trace(
    support_desk: TestMesh, settings: Settings
) -> None:
    topic = support_desk.client.publisher.topics.domain(TICKET_CREATED)
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": b"helpdesk-evt-1",
        "ce_source": b"/helpdesk/eu",
        "ce_type": TICKET_CREATED.encode(),
        "ce_time": b"2026-11-30T08:00:00Z",
        "ce_subject": b"T-cloud",
        "content-type": b"application/json",
        "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode(),
    }
    value = orjson.dumps(ticket("T-cloud"))
    await asyncio.to_thread(produce, settings, topic, value, key="T-cloud", headers=headers)

    state = await triage_task_of(support_desk, "T-cloud")
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.correlation_id == "helpdesk-evt-1"  # what the help desk knows it by
    assert state.trace_id == TRACE_ID  # the help desk's trace goes on in the mesh
    flow = await support_desk.client.list(correlation="helpdesk-evt-1")
    assert sorted(s.agent for s in flow) == ["knowledge", "orders", "triage"]


async def test_a_bare_ticket_missing_a_field_is_dead_lettered_naming_it(
    support_desk: TestMesh, settings: Settings
) -> None:
    topic = support_desk.client.publisher.topics.domain(TICKET_CREATED)
    value = orjson.dumps(ticket("T-bad", customer={"name": "Ada"}))
    await asyncio.to_thread(produce, settings, topic, value, key="T-bad", headers={})

    letters: list[DeadLetter] = []

    async def parked() -> bool:
        letters[:] = await read_dead_letters(support_desk.transport, settings, "triage")
        return bool(letters)

    await eventually_true(parked, timeout=60, what="the bad ticket in triage's dead letters")
    [letter] = letters
    assert letter.reason == "'support.ticket.created' v2 payload: customer.email: Field required"
    assert (letter.original_topic, letter.key, letter.value) == (topic, b"T-bad", value)


async def test_a_mesh_event_reads_in_a_confluent_kafka_consumer(
    client: Client, settings: Settings
) -> None:
    event = TicketCreated(
        ticket_id="T-out", customer=Customer(email="ada@example.com"), subject="Refund?"
    )
    event_id = await client.publish(event, key="T-out")
    topic = client.publisher.topics.domain(TICKET_CREATED)

    group = f"{settings.namespace}.helpdesk-sync"
    received = await asyncio.to_thread(consume_first, settings, topic, group=group)

    assert received.key == b"T-out"
    assert received.headers["mesh-type"] == TICKET_CREATED.encode()
    assert received.headers["mesh-version"] == b"2"
    assert received.headers["mesh-id"] == event_id.encode()
    envelope = orjson.loads(received.value)
    assert (envelope["id"], envelope["type"], envelope["version"]) == (event_id, TICKET_CREATED, 2)
    assert envelope["payload"] == event.model_dump(mode="json")


async def test_a_key_lands_on_the_partition_the_mesh_chooses_for_it(
    client: Client, settings: Settings
) -> None:
    # What the README's producer settings promise: with Java's partitioner in librdkafka,
    # an entity's events from an upstream system and from the mesh share a partition.
    await client.transport.ensure_topics([domain_topic(settings, TICKET_CREATED)])
    topic = client.publisher.topics.domain(TICKET_CREATED)
    keys = [f"T-{n}" for n in range(16)]
    theirs = await asyncio.to_thread(
        produce_many, settings, topic, [(key, b"{}", {}) for key in keys]
    )
    for key in keys:
        await client.transport.publish(topic, b"{}", key=key.encode(), headers={"by": b"mesh"})
    records = await read_all(client.transport, [topic])
    ours = {r.key: r.partition for r in records if r.headers.get("by") == b"mesh"}
    assert len(set(theirs)) > 1  # the keys do spread over the partitions
    assert theirs == [ours[key.encode()] for key in keys]
