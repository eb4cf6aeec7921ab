"""Triage's writes that need not wait for each other are awaited together (ADR 058)."""

from __future__ import annotations

import asyncio

import pytest

from agents.contracts import TriageTicket
from agents.knowledge.agent import agent as knowledge_agent
from agents.orders.agent import agent as orders_agent
from agents.triage.agent import agent as triage_agent
from agents.triage.together import alongside, side_by_side
from mesh.handles import child_task_id
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas.tasks import TaskStatus


class Refused(Exception):
    """A write the broker refused, as the retry policy would see it."""


async def test_side_by_side_returns_results_in_order_and_starts_them_in_order() -> None:
    started: list[str] = []
    b_done = asyncio.Event()

    async def write(name: str) -> str:
        started.append(name)
        if name == "a":  # ends last: the results still come in the order given
            await b_done.wait()
        if name == "b":
            b_done.set()
        return name

    assert await side_by_side(write("a"), write("b"), write("c")) == ["a", "b", "c"]
    assert started == ["a", "b", "c"]


async def test_side_by_side_raises_the_failure_itself_and_cancels_the_rest() -> None:
    never_ended = asyncio.Event()

    async def refused() -> None:
        raise Refused("no")

    async def slow() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            never_ended.set()

    with pytest.raises(Refused):  # not an ExceptionGroup: the retry policy sees the type
        await side_by_side(slow(), refused())
    assert never_ended.is_set()


async def test_alongside_waits_for_its_write_and_cancels_it_when_the_block_fails() -> None:
    written = asyncio.Event()

    async def write() -> None:
        await asyncio.sleep(0)
        written.set()

    async with alongside(write()):
        assert not written.is_set()
    assert written.is_set()

    cancelled = asyncio.Event()

    async def hanging() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(Refused):
        async with alongside(hanging()):
            await asyncio.sleep(0)
            raise Refused("the draft failed")
    assert cancelled.is_set()


async def test_triage_numbers_its_children_as_before(memory_settings: Settings) -> None:
    ticket = TriageTicket(
        ticket_id="T-58",
        customer_email="ada@example.com",
        subject="Where is my order ORD-1001?",
        body="Please help.",
    )
    async with TestMesh(
        triage_agent, knowledge_agent, orders_agent, settings=memory_settings
    ) as mesh:
        task_id = await mesh.client.submit("triage", ticket)
        state = await mesh.client.wait(task_id, timeout=60)
        children = [mesh.client.view.tasks[child] for child in state.children]

    assert state.status is TaskStatus.SUCCEEDED, state.error
    # A re-run re-attaches to its children by number: knowledge first, then orders.
    assert [(c.task_id, c.agent) for c in children] == [
        (child_task_id(task_id, 1), "knowledge"),
        (child_task_id(task_id, 2), "orders"),
    ]
    assert [p.message for p in state.progress] == ["classified", "facts gathered"]
