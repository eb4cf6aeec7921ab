"""Shared fixtures: the broker for the whole session and fresh settings per test.

The broker is the embedded Tansu unless `MESH_BOOTSTRAP_SERVERS` names a cluster,
or `MESH_TEST_KAFKA=testcontainers` asks for an Apache Kafka container (needs
Docker). It is never skipped: a broker that cannot start fails the tests that need it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mesh import Client
from mesh.settings import Settings, load_settings
from mesh.transport.kafka.adapter import KafkaTransport

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _research_by_bm25() -> Iterator[None]:
    """The research desk searches by BM25 alone in tests run in this process: its hybrid
    search first embeds the 1,029-passage corpus, ~65 s of a core (the hybrid path has
    its own tests: tests/unit/test_research_dense.py)."""
    from agents.research.library import AUTO, use_dense_ranker

    use_dense_ranker(None)
    yield
    use_dense_ranker(AUTO)


def _embedded() -> bool:
    """True when the tests start their own embedded broker (no idempotent producer)."""
    given = os.environ.get("MESH_BOOTSTRAP_SERVERS")
    return not given and os.environ.get("MESH_TEST_KAFKA") != "testcontainers"


@pytest.fixture(scope="session")
def external_cluster() -> Iterator[str | None]:
    """The cluster the tests were given (`MESH_BOOTSTRAP_SERVERS`, or a testcontainers
    Kafka), shared by the whole run; None when each test package starts its own
    embedded broker (`bootstrap_servers`)."""
    given = os.environ.get("MESH_BOOTSTRAP_SERVERS")
    if given:
        yield given
    elif os.environ.get("MESH_TEST_KAFKA") == "testcontainers":
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        yield None


@pytest.fixture(scope="package")
def bootstrap_servers(external_cluster: str | None) -> Iterator[str]:
    """The broker of a test package: each package's conftest imports this fixture, so
    that pytest scopes it to that package. The embedded broker starts afresh for each:
    it keeps every record of every test in memory, and after the Kafka behaviour
    suite's ~50 namespaces a supervisor takeover stalled on it (reproduced with a fresh
    test process against that broker, never against a fresh broker)."""
    if external_cluster is not None:
        yield external_cluster
    else:
        yield from _embedded_broker()


def _embedded_broker() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesh", "broker"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    address = None
    for line in proc.stdout:
        if line.startswith("export MESH_BOOTSTRAP_SERVERS="):
            address = line.strip().split("=", 1)[1]
            break
    if address is None:
        proc.kill()
        pytest.fail(f"the embedded broker did not start (exit {proc.wait()})")
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    """A client on the test module's `settings` fixture, over the real broker."""
    async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
        yield client


@pytest.fixture
def namespace() -> str:
    """A fresh topic and group prefix: every test gets its own."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def memory_settings(namespace: str) -> Settings:
    """Settings of the "test" profile (mesh.settings.PROFILES: small group and fetch
    timers for a single-machine broker)."""
    return load_settings(profile="test", namespace=namespace)


@pytest.fixture
def broker_settings(bootstrap_servers: str, namespace: str) -> Settings:
    return load_settings(
        profile="test",
        bootstrap_servers=bootstrap_servers,
        namespace=namespace,
        idempotent_producer=not _embedded(),
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as MESH_* variables, for `mesh run` child processes."""
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json", exclude={"instance_id"}).items():
        if value is not None:  # lists and objects are JSON in the environment
            env[f"MESH_{name.upper()}"] = (
                json.dumps(value) if isinstance(value, list | dict) else str(value)
            )
    return env
