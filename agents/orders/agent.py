"""`orders`: looks a customer's orders up in the sample SQLite database."""

from __future__ import annotations

from functools import cache

from agents.contracts import OrdersFound, OrdersLookup
from agents.orders.store_thread import OrderStoreThread
from mesh import Agent, TaskContext

agent = Agent("orders", description="Looks up a customer's orders in the order database.")


@cache
def order_store() -> OrderStoreThread:
    # Made on first use, not at import; it opens the database on its own thread.
    return OrderStoreThread()


@agent.task
async def lookup(ctx: TaskContext, query: OrdersLookup) -> OrdersFound:
    # Opening (the first time, building the database) and querying run on the
    # store's thread: SQLite blocks, and the loop serves every other task meanwhile.
    return await order_store().lookup(query)
