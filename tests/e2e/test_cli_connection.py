"""What a `mesh` command says when it cannot connect, and a listing cut short by its
reader (`mesh dlq list | head`): one line that says what is wrong, never a traceback.

Each command is a real `python -m mesh` process, as a user's second terminal runs it:
no `MESH_*` variable unless the case is about one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mesh.settings import Settings
from tests.conftest import settings_env

pytestmark = pytest.mark.e2e

NO_MESH_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}


def mesh(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["agents"], ["supervisor", "status"]], ids=" ".join)
def test_no_broker_configured_and_no_dev_mesh_says_start_make_dev(
    tmp_path: Path, command: list[str]
) -> None:
    agents = mesh(*command, cwd=tmp_path, env=NO_MESH_ENV)

    assert agents.returncode == 1, agents
    assert agents.stderr.startswith("mesh: no broker configured and no dev mesh running here")
    assert "start `make dev`" in agents.stderr and "MESH_BOOTSTRAP_SERVERS" in agents.stderr
    assert len(agents.stderr.splitlines()) == 1, agents.stderr  # no aiokafka noise either


@pytest.mark.parametrize("command", [["agents"], ["supervisor", "status"]], ids=" ".join)
def test_a_broker_refusing_the_idempotent_producer_gets_the_hint(
    tmp_path: Path, bootstrap_servers: str, external_cluster: str | None, command: list[str]
) -> None:
    if external_cluster is not None:
        pytest.skip("Apache Kafka grants producer ids; only the embedded broker refuses them")
    env = NO_MESH_ENV | {"MESH_BOOTSTRAP_SERVERS": bootstrap_servers}
    agents = mesh(*command, cwd=tmp_path, env=env)

    assert agents.returncode == 1, agents
    assert f"the broker at {bootstrap_servers} answers but refused a producer id" in agents.stderr
    assert "set MESH_IDEMPOTENT_PRODUCER=false" in agents.stderr
    assert len(agents.stderr.splitlines()) == 1, agents.stderr


def test_a_reader_that_goes_away_ends_a_listing_quietly(
    tmp_path: Path, broker_settings: Settings
) -> None:
    # The reader's end of the pipe is closed before the command writes a byte, as
    # `head` closes it once it has its lines: every write then fails with EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "mesh", "tasks"],
            cwd=tmp_path,
            env=settings_env(broker_settings),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)

    assert "Traceback" not in listing.stderr and "BrokenPipe" not in listing.stderr, listing
    assert listing.stderr == ""
    assert listing.returncode == 141  # 128 + SIGPIPE, as `yes | head` leaves `yes`
