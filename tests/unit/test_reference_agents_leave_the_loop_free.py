"""The reference agents' blocking work (SQLite, the BM25 index) runs off the event loop.

Each test wraps the real blocking call in a witness that records where it ran: on
the loop's thread (the bug), or on another thread while the loop went on running. For
the latter it asks the loop to run a callback and waits for it before the work
starts; that wait is bounded only so that a stalled loop fails the test rather than
hanging it, and a passing run never waits on the clock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.contracts import KnowledgeSearch, OrdersLookup
from agents.knowledge.agent import agent as knowledge_agent
from agents.knowledge.agent import knowledge_base
from agents.knowledge.search import KnowledgeBase
from agents.orders.agent import agent as orders_agent
from agents.orders.agent import order_store
from agents.orders.store import OrderStore
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas.tasks import TaskStatus

LOOP_CALLBACK_BOUND = 10.0  # seconds a failing run waits for the stalled loop


class LoopWitness:
    """Wraps blocking calls; records, per call, whether the loop ran while it worked."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.calls: list[tuple[str, str]] = []  # (call, what happened)

    def wrap(self, name: str, blocking: Callable[..., Any]) -> Callable[..., Any]:
        def witnessed(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, self._observe()))
            return blocking(*args, **kwargs)

        return witnessed

    def _observe(self) -> str:
        if threading.get_ident() == self.loop_thread:
            return "on the loop thread"
        loop_ran = threading.Event()
        self.loop.call_soon_threadsafe(loop_ran.set)
        if not loop_ran.wait(LOOP_CALLBACK_BOUND):
            return "off the loop thread, but the loop stood still"
        return "off the loop, which ran meanwhile"


FREE = "off the loop, which ran meanwhile"


@pytest.fixture
async def witness() -> LoopWitness:
    return LoopWitness()


@pytest.fixture
async def fresh_order_store() -> AsyncIterator[None]:
    order_store.cache_clear()  # so this test's lookup opens the store
    yield
    if order_store.cache_info().currsize:
        await order_store().close()
    order_store.cache_clear()


@pytest.fixture
def fresh_knowledge_base() -> Iterator[None]:
    knowledge_base.cache_clear()  # so this test's search builds the index
    yield
    knowledge_base.cache_clear()


async def test_orders_opens_and_queries_sqlite_off_the_loop(
    memory_settings: Settings,
    witness: LoopWitness,
    fresh_order_store: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    opened = OrderStore.open.__func__  # type: ignore[attr-defined]

    def open_in_tmp(cls: type[OrderStore], path: Path | None = None) -> OrderStore:
        return opened(cls, tmp_path / "orders.sqlite3")  # type: ignore[no-any-return]

    monkeypatch.setattr(OrderStore, "open", classmethod(witness.wrap("open", open_in_tmp)))
    monkeypatch.setattr(OrderStore, "lookup", witness.wrap("lookup", OrderStore.lookup))

    async with TestMesh(orders_agent, settings=memory_settings) as mesh:
        task_id = await mesh.client.submit("orders", OrdersLookup(customer_email="ada@example.com"))
        state = await mesh.client.wait(task_id, timeout=30)

    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.result is not None and state.result["orders"]
    assert witness.calls == [("open", FREE), ("lookup", FREE)]


async def test_knowledge_builds_its_index_and_searches_off_the_loop(
    memory_settings: Settings,
    witness: LoopWitness,
    fresh_knowledge_base: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = KnowledgeBase.default.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(KnowledgeBase, "default", classmethod(witness.wrap("build", built)))
    monkeypatch.setattr(KnowledgeBase, "search", witness.wrap("search", KnowledgeBase.search))

    async with TestMesh(knowledge_agent, settings=memory_settings) as mesh:
        task_id = await mesh.client.submit("knowledge", KnowledgeSearch(query="refund"))
        state = await mesh.client.wait(task_id, timeout=30)

    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.result is not None and state.result["articles"]
    assert witness.calls == [("build", FREE), ("search", FREE)]
