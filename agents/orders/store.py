"""Read-only access to the sample order database (SQLite, built from `seed.sql`).

Every call is short and synchronous (a couple of indexed queries). A store belongs to
the thread that opened it: sqlite3 refuses calls from other threads, and no lock
guards the connection. An asyncio program uses it through `OrderStoreThread`
(`agents/orders/store_thread.py`), which opens it and runs every call on a thread of
its own.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from types import TracebackType

from agents.contracts import Order, OrdersFound, OrdersLookup

SEED_SQL = Path(__file__).with_name("seed.sql")
DEFAULT_DB = Path(tempfile.gettempdir()) / "agentmesh-orders.sqlite3"

_ORDERS_OF_CUSTOMER = """
    SELECT order_id, status, total_cents, placed_at, shipped_at, carrier, tracking
    FROM orders
    WHERE customer_email = ? AND (? IS NULL OR order_id = ?)
    ORDER BY placed_at DESC, order_id DESC
"""

_ITEMS_OF_ORDERS = """
    SELECT order_id, quantity || ' x ' || name
    FROM order_items
    WHERE order_id IN ({placeholders})
    ORDER BY order_id, rowid
"""


def ensure_database(path: Path, seed: Path = SEED_SQL) -> Path:
    """Build the database file from the seed script unless an up-to-date one exists.

    The file is written under a temporary name and renamed into place, so concurrent
    processes see either no file, the old file or the complete new one.

    Args:
        path: Where the database file lives.
        seed: The SQL script that creates and fills it.

    Returns:
        `path`, for chaining.
    """
    if path.exists() and path.stat().st_mtime >= seed.stat().st_mtime:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        _run_script(Path(temp_name), seed.read_text(encoding="utf-8"))
        # mkstemp makes the file private; the default path is shared by every user's agents.
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def _run_script(path: Path, script: str) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(script)
        connection.commit()
    finally:
        connection.close()


class OrderStore:
    """Customers' orders from a read-only SQLite database.

    Use `OrderStore.open()` rather than the constructor; close it (or use it as a
    context manager) so the connection is released.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        """Wrap an open connection; the store owns it from now on."""
        self._connection = connection

    @classmethod
    def open(cls, path: Path | None = None) -> OrderStore:
        """Open the order database read-only, building it from `seed.sql` if needed.

        Args:
            path: The database file; by default a shared file in the temp directory.
                Either way it is (re)built when missing or older than `seed.sql`.

        Returns:
            A store holding one read-only connection.
        """
        database = ensure_database(path or DEFAULT_DB)
        uri = f"{database.resolve().as_uri()}?mode=ro"
        return cls(sqlite3.connect(uri, uri=True))

    def lookup(self, query: OrdersLookup) -> OrdersFound:
        """Find a customer's orders, or one of them by id.

        Args:
            query: The customer's email and, optionally, an order id.

        Returns:
            The customer's orders newest first, each with its items as "2 x Name".
            With an order id, at most that order, and none when it belongs to
            someone else.
        """
        email = query.customer_email.strip().lower()
        order_id = query.order_id.strip().upper() if query.order_id else None
        cursor = self._connection.execute(_ORDERS_OF_CUSTOMER, (email, order_id, order_id))
        rows = cursor.fetchall()
        items = self._items([row[0] for row in rows])
        orders = [_order(row, items.get(row[0], [])) for row in rows]
        return OrdersFound(customer_email=query.customer_email, orders=orders)

    def _items(self, order_ids: list[str]) -> dict[str, list[str]]:
        if not order_ids:
            return {}
        sql = _ITEMS_OF_ORDERS.format(placeholders=", ".join("?" * len(order_ids)))
        items: dict[str, list[str]] = {}
        for order_id, line in self._connection.execute(sql, order_ids).fetchall():
            items.setdefault(order_id, []).append(line)
        return items

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        self._connection.close()

    def __enter__(self) -> OrderStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


_OrderRow = tuple[str, str, int, str, str | None, str | None, str | None]


def _order(row: _OrderRow, items: list[str]) -> Order:
    order_id, status, total_cents, placed_at, shipped_at, carrier, tracking = row
    return Order(
        order_id=order_id,
        status=status,
        total_cents=total_cents,
        placed_at=placed_at,
        shipped_at=shipped_at,
        carrier=carrier,
        tracking=tracking,
        items=items,
    )
