"""The refunds issued, in a SQLite table of their own (the order database is read-only).

A refund's id is the idempotency key of the step that issues it (`ctx.step_key`): a
re-run that issues it again (a crash after the insert, before the journal had the
step) inserts nothing and reads the first row back. Each call opens its own connection
on the thread it runs on (`asyncio.to_thread`): issuing is rare and short, and SQLite's
file lock orders the writers of several worker processes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from pathlib import Path

from pydantic import BaseModel

from agents.contracts import IssueRefund

DEFAULT_DB = Path(tempfile.gettempdir()) / "agentmesh-refunds.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS refunds (
    refund_id    TEXT PRIMARY KEY,  -- the issuing step's idempotency key
    ticket_id    TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    approved_by  TEXT,              -- NULL: under the threshold, no approval needed
    issued_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


class IssuedRefund(BaseModel):
    """A refund's row: what the issuing step journals and returns."""

    refund_id: str
    order_id: str
    amount_cents: int
    approved_by: str | None
    issued_at: str


def database_path() -> Path:
    """`REFUNDS_DB` when set (tests give each run its own), else a shared temp file."""
    return Path(os.environ.get("REFUNDS_DB") or DEFAULT_DB)


def issue(refund_id: str, request: IssueRefund, approved_by: str | None) -> IssuedRefund:
    """Insert the refund unless `refund_id` is there already; return its row."""
    connection = sqlite3.connect(database_path(), timeout=30)
    try:
        with connection:  # one transaction: commit, or roll back on an error
            connection.execute(_SCHEMA)
            connection.execute(
                "INSERT OR IGNORE INTO refunds "
                "(refund_id, ticket_id, order_id, amount_cents, approved_by) "
                "VALUES (?, ?, ?, ?, ?)",
                (refund_id, request.ticket_id, request.order_id, request.amount_cents, approved_by),
            )
        return _row(connection, refund_id)
    finally:
        connection.close()


async def issue_refund(
    refund_id: str, request: IssueRefund, approved_by: str | None
) -> IssuedRefund:
    """`issue` off the event loop (SQLite blocks)."""
    return await asyncio.to_thread(issue, refund_id, request, approved_by)


def issued(refund_id: str) -> IssuedRefund | None:
    """The refund with that id, if it was issued."""
    if not database_path().exists():
        return None
    connection = sqlite3.connect(database_path(), timeout=30)
    try:
        connection.execute(_SCHEMA)
        return _row(connection, refund_id)
    except LookupError:
        return None
    finally:
        connection.close()


def _row(connection: sqlite3.Connection, refund_id: str) -> IssuedRefund:
    row = connection.execute(
        "SELECT refund_id, order_id, amount_cents, approved_by, issued_at "
        "FROM refunds WHERE refund_id = ?",
        (refund_id,),
    ).fetchone()
    if row is None:
        raise LookupError(f"no refund {refund_id!r}")
    refund_id, order_id, amount_cents, approved_by, issued_at = row
    return IssuedRefund(
        refund_id=refund_id,
        order_id=order_id,
        amount_cents=amount_cents,
        approved_by=approved_by,
        issued_at=issued_at,
    )
