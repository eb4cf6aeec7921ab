"""`orders`: looks a customer's orders up in the sample SQLite database."""

from __future__ import annotations

import asyncio
from functools import cache

from agents.orders.store import OrderStore
from mesh import Agent, TaskContext
from schemas.support import OrdersFound, OrdersLookup

agent = Agent("orders", description="Looks up a customer's orders in the order database.")


@cache
def order_store() -> OrderStore:
    return OrderStore.open()


@agent.task
async def lookup(ctx: TaskContext, query: OrdersLookup) -> OrdersFound:
    # sqlite calls block; a thread keeps the event loop (and the other tasks) moving.
    return await asyncio.to_thread(order_store().lookup, query)
