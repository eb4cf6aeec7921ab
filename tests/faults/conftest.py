"""Fixtures of the fault tests: an empty side-effect ledger (the `client` fixture is in
tests/conftest.py; each module sets its own `settings`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import bootstrap_servers  # noqa: F401 (imported: pytest scopes it to this package)
from tests.faults.chaos_agents import LEDGER_SCHEMA


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """The SQLite ledger the chaos agents write (see tests/faults/chaos_agents.py)."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(LEDGER_SCHEMA)
    return path
