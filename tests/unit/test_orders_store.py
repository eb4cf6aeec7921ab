"""The read-only SQLite order store built from `seed.sql`."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agents.contracts import OrdersLookup
from agents.orders.store import SEED_SQL, OrderStore, ensure_database
from agents.orders.store_thread import OrderStoreThread


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OrderStore]:
    with OrderStore.open(tmp_path / "orders.sqlite3") as store:
        yield store


def count(path: Path, table: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        connection.close()


def test_seed_builds_a_realistic_database(tmp_path: Path) -> None:
    path = ensure_database(tmp_path / "orders.sqlite3")
    assert count(path, "customers") >= 10
    assert count(path, "orders") >= 40
    assert count(path, "order_items") >= 80


def test_seed_totals_match_their_items(tmp_path: Path) -> None:
    connection = sqlite3.connect(ensure_database(tmp_path / "orders.sqlite3"))
    try:
        mismatched = connection.execute(
            """
            SELECT o.order_id FROM orders o JOIN order_items i USING (order_id)
            GROUP BY o.order_id HAVING sum(i.quantity * i.unit_cents) != o.total_cents
            """
        ).fetchall()
    finally:
        connection.close()
    assert mismatched == []


def test_lookup_returns_customer_orders_newest_first_with_items(store: OrderStore) -> None:
    found = store.lookup(OrdersLookup(customer_email="ada@example.com"))
    dates = [order.placed_at for order in found.orders]
    assert found.customer_email == "ada@example.com"
    assert len(found.orders) >= 2
    assert dates == sorted(dates, reverse=True)
    by_id = {order.order_id: order for order in found.orders}
    assert by_id["ORD-1001"].items == ["2 x Trail Runner Shoes", "1 x Hiking Socks (3-pack)"]
    assert {"shipped", "delivered"} <= {order.status for order in found.orders}


def test_lookup_by_order_id_returns_just_that_order(store: OrderStore) -> None:
    found = store.lookup(OrdersLookup(customer_email="ada@example.com", order_id="ORD-1001"))
    assert [order.order_id for order in found.orders] == ["ORD-1001"]
    order = found.orders[0]
    assert (order.status, order.carrier) == ("shipped", "UPS")
    assert order.tracking and order.shipped_at
    assert order.total_cents == 2 * 8995 + 1800


def test_lookup_normalises_email_and_order_id_case(store: OrderStore) -> None:
    found = store.lookup(OrdersLookup(customer_email=" Ada@Example.com ", order_id="ord-1001"))
    assert [order.order_id for order in found.orders] == ["ORD-1001"]


def test_lookup_of_another_customers_order_finds_nothing(store: OrderStore) -> None:
    found = store.lookup(OrdersLookup(customer_email="ada@example.com", order_id="ORD-1003"))
    assert found.orders == []
    grace = store.lookup(OrdersLookup(customer_email="grace@example.com", order_id="ORD-1003"))
    assert [order.status for order in grace.orders] == ["refunded"]


def test_lookup_of_unknown_customer_finds_nothing(store: OrderStore) -> None:
    assert store.lookup(OrdersLookup(customer_email="nobody@example.com")).orders == []


def test_database_is_rebuilt_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "orders.sqlite3"
    with OrderStore.open(path) as store:
        assert store.lookup(OrdersLookup(customer_email="ada@example.com")).orders
    path.unlink()
    with OrderStore.open(path) as store:
        assert store.lookup(OrdersLookup(customer_email="ada@example.com")).orders
    assert [p.name for p in path.parent.iterdir()] == ["orders.sqlite3"]  # no temp files left


def test_database_is_rebuilt_when_older_than_seed(tmp_path: Path) -> None:
    path = tmp_path / "orders.sqlite3"
    path.write_bytes(b"stale")
    old = SEED_SQL.stat().st_mtime - 60
    os.utime(path, (old, old))
    ensure_database(path)
    assert count(path, "orders") >= 40


def test_up_to_date_database_is_reused(tmp_path: Path) -> None:
    path = ensure_database(tmp_path / "orders.sqlite3")
    before = path.stat().st_ino, path.stat().st_mtime_ns
    ensure_database(path)
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == before


def test_failed_build_leaves_no_file(tmp_path: Path) -> None:
    seed = tmp_path / "broken.sql"
    seed.write_text("CREATE TABLE t (x INTEGER); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(sqlite3.OperationalError):
        ensure_database(tmp_path / "orders.sqlite3", seed)
    assert list(tmp_path.iterdir()) == [seed]


def test_store_is_read_only(store: OrderStore) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store._connection.execute("DELETE FROM orders")


def test_store_is_confined_to_the_thread_that_opened_it(store: OrderStore) -> None:
    # OrderStoreThread keeps it on one thread; sqlite3's own check stays on to prove it.
    with ThreadPoolExecutor(max_workers=1) as other:
        lookup = other.submit(store.lookup, OrdersLookup(customer_email="ada@example.com"))
        with pytest.raises(sqlite3.ProgrammingError, match="same thread"):
            lookup.result()


async def test_store_thread_opens_on_first_lookup_and_closes(tmp_path: Path) -> None:
    path = tmp_path / "orders.sqlite3"
    store = OrderStoreThread(path)
    assert not path.exists()  # nothing opened yet
    queries = [
        OrdersLookup(customer_email="ada@example.com", order_id=f"ORD-100{n}") for n in (1, 3)
    ]
    found = await asyncio.gather(*(store.lookup(query) for query in queries))
    assert [[order.order_id for order in f.orders] for f in found] == [["ORD-1001"], []]
    await store.close()
    with pytest.raises(RuntimeError):  # its thread is gone
        await store.lookup(queries[0])


def test_close_releases_the_connection(tmp_path: Path) -> None:
    store = OrderStore.open(tmp_path / "orders.sqlite3")
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.lookup(OrdersLookup(customer_email="ada@example.com"))
