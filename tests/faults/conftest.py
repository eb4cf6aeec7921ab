"""Fixtures of the fault tests: a client on the test's settings (each module sets its
own `settings`) and an empty side-effect ledger."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mesh import Client
from mesh.settings import Settings
from mesh.transport.kafka import KafkaTransport
from tests.faults.chaos_agents import LEDGER_SCHEMA


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
        yield client


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """The SQLite ledger the chaos agents write (see tests/faults/chaos_agents.py)."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(LEDGER_SCHEMA)
    return path
