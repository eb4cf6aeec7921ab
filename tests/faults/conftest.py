"""Fixtures of the fault tests: an empty side-effect ledger and the seed of a chaos
run (the `client` fixture is in tests/conftest.py; each module sets its own `settings`)."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import bootstrap_servers  # noqa: F401 (imported: pytest scopes it to this package)
from tests.faults.chaos_agents import LEDGER_SCHEMA


@pytest.fixture
def chaos_seed() -> int:
    """The seed of a chaos run's randomness: $MESH_CHAOS_SEED replays a run, else a fresh
    one. Printed (pytest shows it with a failure); tests also put it in their messages."""
    given = os.environ.get("MESH_CHAOS_SEED")
    seed = int(given) if given else random.SystemRandom().randrange(2**32)
    print(f"chaos seed {seed} (replay with MESH_CHAOS_SEED={seed})")
    return seed


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """The SQLite ledger the chaos agents write (see tests/faults/chaos_agents.py)."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(LEDGER_SCHEMA)
    return path
