"""`OrderStoreThread`: the order store on a thread of its own, for async callers.

SQLite calls block, so they must not run on the event loop: there a query stalls
every other task of the worker, and its consumer's fetches and heartbeats. Opening
the store blocks longer still: the first open builds the database from `seed.sql`.

One dedicated thread opens the store and runs every lookup, so the connection never
leaves the thread that made it: sqlite3's own check (`check_same_thread`) stays on
and no lock is needed. The alternative, one connection shared by `asyncio.to_thread`
workers, needs `check_same_thread=False` and a lock that serialises the queries
anyway, and holds threads of the default executor, which the whole process shares,
while they wait for that lock. One thread keeps up: a lookup is two indexed queries
on a small read-only database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from agents.contracts import OrdersFound, OrdersLookup
from agents.orders.store import OrderStore

T = TypeVar("T")


class OrderStoreThread:
    """Looks orders up on a dedicated thread; the store is opened there on first use.

    Creating one does no I/O. Call `close()` when done (the reference agent keeps
    its one instance for the life of the process).
    """

    def __init__(self, path: Path | None = None) -> None:
        """Start no thread and open nothing yet.

        Args:
            path: The database file (`OrderStore.open`'s default when None).
        """
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orders-sqlite")
        self._store: OrderStore | None = None  # touched only on that thread

    async def lookup(self, query: OrdersLookup) -> OrdersFound:
        """`OrderStore.lookup` on the store's thread; the event loop runs on meanwhile."""
        return await self._on_thread(lambda: self._opened().lookup(query))

    async def close(self) -> None:
        """Close the store on its thread, then let the thread end; call it once."""
        await self._on_thread(self._close_store)
        self._thread.shutdown(wait=False)

    async def _on_thread(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    def _opened(self) -> OrderStore:
        if self._store is None:
            self._store = OrderStore.open(self._path)
        return self._store

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
