"""A real Prometheus scraping a running mesh: a `mesh run` worker, a supervisor and a
gateway, as separate processes on the test broker, with the deployed scrape config and
rules. Values are checked through Prometheus' HTTP API, and every dashboard query and
rule expression is run against it."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from mesh import Client
from mesh.settings import Settings
from mesh.topics import Topics
from tests.e2e.processes import MeshProcess
from tests.helpers import eventually, eventually_true
from tests.observability.conftest import DASHBOARDS, RULES
from tests.observability.prometheus import Prometheus, free_port

pytestmark = [pytest.mark.broker, pytest.mark.e2e, pytest.mark.timeout(150)]

_AGENT = "tests.e2e.sample_agents:sleeper"
_SUCCEEDED = 'sum(mesh_task_transitions_total{agent="sleeper", kind="succeeded"})'
_MODEL_PANELS = (
    "Model requests per second by outcome",
    "Model tokens per second by kind",
    "Model cost, USD per hour",
    "Model request latency (p50, p95)",
    "Model cost per ticket, USD (by agent type)",
    "Model tokens per second and cost, USD per hour, by tenant",
)


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(
        update={
            "liveness_interval": 0.5,
            "supervisor_check_interval": 0.5,
            "metrics_lag_interval": 0.5,
            # tasks waiting with no live worker are reported (`parked`) at once
            "supervision_policies": {"default": {"park_after": 0.5}},
        }
    )


class _Mesh:
    """The processes, each serving /metrics on a port of its own."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings, self.logs = settings, logs
        self.worker_port, self.supervisor_port = free_port(), free_port()
        self.gateway_port = free_port()
        self.supervisor = self._start("sv", ["supervisor", "run"], self.supervisor_port)
        self.worker = self.start_worker("w1")
        self.gateway = MeshProcess(
            "gateway",
            settings,
            logs,
            "gw",
            extra_env={"MESH_GATEWAY_PORT": str(self.gateway_port)},
            command=["gateway"],
        )

    def _start(self, name: str, command: list[str] | None, port: int) -> MeshProcess:
        env = {"MESH_METRICS_PORT": str(port)}
        return MeshProcess(_AGENT, self.settings, self.logs, name, env, command)

    def start_worker(self, name: str) -> MeshProcess:
        """On the same port each time: Prometheus scrapes one static target."""
        self.worker = self._start(name, None, self.worker_port)
        return self.worker

    def targets(self) -> dict[str, list[str]]:
        return {
            "mesh-workers": [f"127.0.0.1:{self.worker_port}"],
            "mesh-supervisor": [f"127.0.0.1:{self.supervisor_port}"],
            "mesh-gateway": [f"127.0.0.1:{self.gateway_port}"],
        }

    def stop(self) -> None:
        for process in (self.gateway, self.worker, self.supervisor):
            process.stop()


@pytest.fixture
async def mesh(
    settings: Settings, tmp_path: Path, prometheus_bin: str
) -> AsyncIterator[tuple[_Mesh, Prometheus]]:
    processes = _Mesh(settings, tmp_path)
    prometheus = Prometheus(prometheus_bin, tmp_path, processes.targets())
    try:
        await prometheus.wait_ready()
        yield processes, prometheus
    finally:
        await prometheus.stop()
        processes.stop()


async def _until_assigned(worker: MeshProcess) -> None:
    def assigned() -> bool:
        assert worker.proc.poll() is None, worker.log()
        return bool(worker.assigned_counts())

    await eventually(assigned, timeout=40, interval=0.2, what=f"{worker.instance} to join")


async def _until_ready(port: int, process: MeshProcess) -> None:
    """Its `/readyz` answers 200 (the gateway's, and the probes beside a worker's or the
    supervisor's `/metrics`: mesh/observability/probes.py)."""

    async def ready() -> bool:
        assert process.proc.poll() is None, process.log()
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually_true(ready, timeout=60, what=f"{process.instance} to be ready")


async def test_prometheus_sees_real_values_from_worker_supervisor_and_gateway(
    mesh: tuple[_Mesh, Prometheus], client: Client, settings: Settings
) -> None:
    processes, prometheus = mesh
    group = Topics(settings.namespace).group("sleeper")
    lag = f'sum(max by (topic, partition) (mesh_consumer_lag{{group="{group}"}}))'
    await _until_assigned(processes.worker)
    await _until_ready(processes.gateway_port, processes.gateway)
    await _until_ready(processes.worker_port, processes.worker)
    await _until_ready(processes.supervisor_port, processes.supervisor)
    await prometheus.until("count(up == 1)", 3)

    tasks = [await client.submit("sleeper", {"seconds": 0, "label": f"{n}"}) for n in range(4)]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{processes.gateway_port}") as http:
        answer = await http.post("/v1/tasks", json={"agent": "sleeper", "input": {"seconds": 0}})
    assert answer.status_code == 202, answer.text
    tasks.append(answer.json()["task_id"])
    for task_id in tasks:
        assert (await client.wait(task_id, timeout=30)).status == "succeeded"

    await prometheus.until(_SUCCEEDED, 5)
    await prometheus.until('sum(mesh_handler_seconds_count{agent="sleeper"})', 5)
    await prometheus.until(
        'sum(mesh_messages_consumed_total{agent="sleeper", type="e2e.sleep"})', 5
    )
    await prometheus.until(
        'sum(mesh_gateway_requests_total{method="POST", route="/v1/tasks", status="202"})', 1
    )
    await prometheus.until('mesh:live_workers:max{agent="sleeper"}', 1)
    await prometheus.until(lag, 0)
    await prometheus.until('sum(mesh_heartbeats_received_total{agent="sleeper"}) > bool 0', 1)
    await prometheus.until('sum(mesh_tasks_inflight{agent="sleeper"})', 0)
    await prometheus.until('count(process_resident_memory_bytes{job=~"mesh-.*"} > 0)', 3)

    # No worker: what is submitted now waits in the inbox, and the lag says so.
    processes.worker.stop()
    waiting = [await client.submit("sleeper", {"seconds": 0}) for _ in range(3)]
    await prometheus.until(lag, 3)
    await prometheus.until('mesh:live_workers:max{agent="sleeper"}', 0)
    parked = 'sum(mesh_task_transitions_total{agent="sleeper", kind="parked"})'
    await prometheus.until(parked, 3)  # written, and counted, by the supervisor
    await prometheus.until(
        'sum(mesh_supervisor_actions_total{agent="sleeper", problem="no_consumers"})', 3
    )

    await _until_assigned(processes.start_worker("w2"))
    for task_id in waiting:
        assert (await client.wait(task_id, timeout=30)).status == "succeeded"
    await prometheus.until(lag, 0)
    await prometheus.until(_SUCCEEDED, 3)  # the new process's own count

    await _every_query_runs(prometheus)


async def _every_query_runs(prometheus: Prometheus) -> None:
    """Against this healthy mesh: every dashboard panel shows data (but those of things
    it did not do), every recording has series, no alert expression holds, and the rules
    Prometheus loaded from deploy/ are healthy."""
    panels = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            panels += [(panel["title"], target["expr"]) for target in panel["targets"]]
    idle = {"Webhook attempts per second by outcome", *_MODEL_PANELS}  # this mesh calls no model
    for title, expr in panels:  # Grafana's variables, as Grafana would fill them in
        rows = await prometheus.query(
            re.sub(r"\$__rate_interval", "1m", expr)
            .replace("$agent", ".*")
            .replace("$ticket_agent", "triage")
            .replace("$tenant", ".*")
        )
        assert bool(rows) is (title not in idle), f"panel {title!r}: {expr} gave {rows}"
    rules = [
        r for path in RULES for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]
    ]
    for rule in rules:
        rows = await prometheus.query(rule["expr"])
        if "record" in rule:
            assert rows, f"recording {rule['record']} has no series"
        else:
            assert not rows, f"alert {rule['alert']} holds on a healthy mesh: {rows}"
    loaded = [r for group in (await prometheus.api("rules"))["groups"] for r in group["rules"]]
    assert len(loaded) == len(rules)
    assert all(r["health"] == "ok" for r in loaded), [r for r in loaded if r["health"] != "ok"]
    recorded = await prometheus.query('mesh:task_transitions:rate5m{agent="sleeper"}')
    assert recorded, "the recording rules saw none of the mesh's transitions"
