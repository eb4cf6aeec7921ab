"""The support-desk reference mesh under load: every ticket is handled exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from agents.contracts import REPLY_DRAFTED, Customer, TicketCreated
from mesh import Client
from mesh.settings import Settings
from mesh.topics import Topics
from schemas import decode_envelope
from schemas.tasks import TASK_EVENT, EventKind, TaskStatus
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.helpers import eventually, read_all

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

TICKETS = 500  # enough to cross every partition of both processes many times; more is `make bench`
CUSTOMERS = ["ada@example.com", "grace@example.com", "linus@example.com", "nobody@example.com"]
SUBJECTS = [
    "Where is my order ORD-1001?",
    "I was charged twice for my order",
    "How do I return a jacket that does not fit?",
    "Cannot reset my password",
    "Parcel arrived damaged",
]


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 4})


def ticket(number: int) -> TicketCreated:
    return TicketCreated(
        ticket_id=f"T-{number}",
        customer=Customer(email=CUSTOMERS[number % len(CUSTOMERS)]),
        subject=SUBJECTS[number % len(SUBJECTS)],
        body="Please help.",
    )


async def test_hundreds_of_tickets_two_processes_per_agent_each_once(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    specs = {
        "agents.triage:agent": 8,  # its inbox + support.ticket.created
        "agents.knowledge:agent": 4,
        "agents.orders:agent": 4,
    }
    processes = [
        # Delivery, not routing, is under test here: triage by keyword rules spares each
        # triage process the embedding model's warm-up (tests/unit covers routing by meaning).
        MeshProcess(
            spec,
            settings,
            tmp_path,
            f"{spec.split('.')[1].split(':')[0]}-{n}",
            extra_env={"AGENTS_EMBEDDINGS": "off"},
        )
        for spec in specs
        for n in (1, 2)
    ]
    try:
        await wait_until_split(processes, partitions=specs, timeout=90)
        for start in range(0, TICKETS, 100):
            await asyncio.gather(
                *(client.publish(ticket(n), key=f"T-{n}") for n in range(start, start + 100))
            )

        def triaged() -> int:
            return sum(
                1
                for s in client.view.tasks.values()
                if s.agent == "triage" and s.status.is_terminal
            )

        await eventually(lambda: triaged() >= TICKETS, timeout=300, interval=0.5, what="tickets")
        tasks = list(client.view.tasks.values())
        by_agent = Counter(s.agent for s in tasks)
        assert by_agent == {"triage": TICKETS, "knowledge": TICKETS, "orders": TICKETS}
        failed = [s for s in tasks if s.status is not TaskStatus.SUCCEEDED]
        assert not failed, failed[:3]
        by_instance = Counter(s.instance for s in tasks if s.agent == "triage")
        assert set(by_instance) == {"triage-1", "triage-2"}, (by_instance, _assignments(processes))

        transport = client.transport
        topics = Topics(settings.namespace)
        events = [
            decode_envelope(r.value or b"") for r in await read_all(transport, [topics.task_events])
        ]
        succeeded = Counter(
            e.task_id
            for e in events
            if e.type == TASK_EVENT and e.payload["kind"] == EventKind.SUCCEEDED
        )
        assert len(succeeded) == 3 * TICKETS
        assert set(succeeded.values()) == {1}, "a task succeeded more than once"
        replies = [
            decode_envelope(r.value or b"")
            for r in await read_all(transport, [topics.domain(REPLY_DRAFTED)])
        ]
        assert Counter(r.payload["ticket_id"] for r in replies) == {
            f"T-{n}": 1 for n in range(TICKETS)
        }
    finally:
        # Every process stopped before any exit code is judged: an assertion on the
        # first would leave the others running past the test.
        codes = [process.stop() for process in processes]
        for process, code in zip(processes, codes, strict=True):
            assert code == 0, process.log()[-3000:]


def _assignments(processes: list[MeshProcess]) -> dict[str, list[str]]:
    """Each process's rebalance history, from its log (to explain a skewed split)."""
    return {
        p.instance: [line for line in p.log().splitlines() if "assigned" in line or "lost" in line]
        for p in processes
    }
