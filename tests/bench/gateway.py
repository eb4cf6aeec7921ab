"""The gateway under load from a second process, with 100,000 tasks in its view.

A `mesh gateway` process serves a namespace whose task-state and task-events topics
hold TASKS synthetic ended tasks (a state and three events each, as a short task
writes them) for a card-only agent type (no worker: submissions queue in its inbox).
This process is the load generator: CONCURRENCY keep-alive connections, timed per
request. It uses aiohttp's client (installed with faust): httpx's async pool tops out
near 300 requests/s on this machine, far below the server, and would measure itself.
Baselines measured in the same run on the same server: `/healthz` (a trivial route, for
latency and request rate). Memory: the gateway's RSS growth from
its empty view to the loaded one, per task.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import psutil
from pydantic import BaseModel

from agents.contracts import KNOWLEDGE_SEARCH
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.topics import agent_topics, runtime_topics
from mesh.transport.base import Outgoing
from mesh.transport.kafka.adapter import KafkaTransport
from schemas import Envelope, Source
from schemas.envelope import new_id, utc_now
from schemas.tasks import (
    AGENT_CARD,
    TASK_EVENT,
    TASK_STATE,
    AgentCard,
    EventKind,
    TaskEvent,
    TaskState,
    TaskStatus,
)
from tests.bench.common import Options, Report
from tests.e2e.processes import MeshProcess
from tests.gateway.conftest import free_port

AGENT = "bench"
CONCURRENCY = 32


async def run(settings: Settings, options: Options) -> Report:
    tasks = 20_000 if options.quick else 100_000
    requests = 2_000 if options.quick else 10_000
    # The tasks ended an hour ago: a day's retention keeps them in the view (ADR 031).
    settings = settings.model_copy(
        update={
            "gateway_port": free_port(),
            "log_level": "WARNING",
            "partitions": 4,
            "gateway_task_retention": 86400.0,
        }
    )
    report = Report("gateway")
    report.add("tasks_in_view", tasks)
    report.add("concurrency", CONCURRENCY, "keep-alive connections from this process")
    transport = KafkaTransport(settings)
    await transport.start()
    try:
        await transport.ensure_topics([*runtime_topics(settings), *agent_topics(settings, AGENT)])
        publisher = Publisher(transport, settings, Source(agent="bench", instance="bench"))
        await publish_card(publisher)
        with tempfile.TemporaryDirectory() as logs:
            gateway = MeshProcess("", settings, Path(logs), "gateway", command=["gateway"])
            try:
                await measure(report, settings, publisher, gateway, tasks, requests)
            finally:
                gateway.stop()
    finally:
        await transport.stop()
    return report


async def measure(
    report: Report,
    settings: Settings,
    publisher: Publisher,
    gateway: MeshProcess,
    tasks: int,
    requests: int,
) -> None:
    url = f"http://127.0.0.1:{settings.gateway_port}"
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as http:
        await wait_ready(http, gateway)
        process = psutil.Process(gateway.proc.pid)
        empty_rss = process.memory_info().rss
        ids = await publish_tasks(publisher, tasks)
        await wait_loaded(http, ids)
        loaded_rss = process.memory_info().rss
        report.add(
            "view_bytes_per_task",
            (loaded_rss - empty_rss) / tasks,
            "gateway RSS growth / tasks (state + 3 events + indexes)",
        )
        report.add("gateway_rss_mb", loaded_rss / 2**20, f"with {tasks} tasks in its view")

        # Warm up both routes and the connections, so neither timed phase pays for it.
        await load(http, requests // 10, lambda: ("GET", "/healthz", None))
        await load(http, requests // 10, lambda: ("GET", f"/v1/tasks/{random.choice(ids)}", None))
        base_rate, base = await load(http, requests, lambda: ("GET", "/healthz", None))
        report.add("healthz_req_per_s", base_rate, "baseline: a trivial route, same server")
        report.add("healthz_p50_ms", pct(base, 50))
        report.add("healthz_p99_ms", pct(base, 99))

        get_rate, got = await load(
            http, requests, lambda: ("GET", f"/v1/tasks/{random.choice(ids)}", None)
        )
        report.add("get_task_req_per_s", get_rate, "GET /v1/tasks/{id}, random of the view")
        report.add("get_task_p50_ms", pct(got, 50))
        report.add("get_task_p99_ms", pct(got, 99))
        report.add("get_task_p50_ratio", pct(got, 50) / pct(base, 50), "get / healthz p50")
        report.add("get_task_p99_ratio", pct(got, 99) / pct(base, 99), "get / healthz p99")

        _, listed = await load(
            http, requests // 5, lambda: ("GET", "/v1/tasks?status=succeeded&limit=50", None)
        )
        report.add("list_page_p50_ms", pct(listed, 50), "GET /v1/tasks?status=succeeded&limit=50")

        body = {"agent": AGENT, "input": {"query": "where is my parcel"}}
        submit_rate, submitted = await load(http, requests, lambda: ("POST", "/v1/tasks", body))
        report.add("submit_req_per_s", submit_rate, "POST /v1/tasks (validated, 2 produces)")
        report.add("submit_p50_ms", pct(submitted, 50))
        report.add("submit_p99_ms", pct(submitted, 99))
        report.add("submit_rate_ratio", submit_rate / base_rate, "submit / healthz req/s")


def pct(latencies: list[float], percentile: int) -> float:
    """The percentile of `latencies` (seconds), in milliseconds."""
    return statistics.quantiles(latencies, n=100)[percentile - 1] * 1000


async def load(
    http: aiohttp.ClientSession,
    total: int,
    request: Callable[[], tuple[str, str, object]],
) -> tuple[float, list[float]]:
    """`total` requests over CONCURRENCY workers: (requests per second, latencies)."""
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            method, path, body = request()
            began = time.perf_counter()
            async with http.request(method, path, json=body) as response:
                await response.read()
            latencies.append(time.perf_counter() - began)
            if response.status >= 300:
                raise AssertionError(f"{method} {path}: {response.status} {response.reason}")

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return total / (time.perf_counter() - began), latencies


async def status_of(http: aiohttp.ClientSession, path: str) -> int:
    async with http.get(path) as response:
        await response.read()
        return response.status


async def wait_ready(http: aiohttp.ClientSession, gateway: MeshProcess) -> None:
    async def ready() -> bool:
        if gateway.proc.poll() is not None:
            raise AssertionError(f"the gateway exited:\n{gateway.log()}")
        try:
            return await status_of(http, "/readyz") == 200
        except aiohttp.ClientConnectionError:
            return False

    deadline = time.monotonic() + 60
    while not await ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway was not ready within 60 s:\n{gateway.log()}")
        await asyncio.sleep(0.2)


async def wait_loaded(http: aiohttp.ClientSession, ids: list[str]) -> None:
    """Until the gateway serves the last task published to each partition (bounded)."""
    deadline = time.monotonic() + 120
    for task_id in ids[-200:]:
        while await status_of(http, f"/v1/tasks/{task_id}") != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway's view did not load the tasks in 120 s")
            await asyncio.sleep(0.1)


async def publish_card(publisher: Publisher) -> None:
    card = AgentCard(name=AGENT, task_type=KNOWLEDGE_SEARCH, task_version=1, updated_at=utc_now())
    envelope = Envelope(type=AGENT_CARD, payload=card.model_dump(mode="json"))
    await publisher.send(publisher.topics.agents, envelope, key=AGENT)


async def publish_tasks(publisher: Publisher, count: int, *, chunk: int = 2000) -> list[str]:
    """`count` ended tasks as a short task leaves them: submitted, started and succeeded
    events, and its succeeded state."""
    ids = [new_id() for _ in range(count)]
    began = utc_now() - timedelta(hours=1)
    for start in range(0, count, chunk):
        records: list[Outgoing] = []
        for offset, task_id in enumerate(ids[start : start + chunk]):
            records += task_records(
                publisher, task_id, began + timedelta(milliseconds=start + offset)
            )
        await publisher.send_many(records)
    return ids


def task_records(publisher: Publisher, task_id: str, at: datetime) -> list[Outgoing]:
    topics = publisher.topics
    state = TaskState(
        task_id=task_id,
        agent=AGENT,
        type=KNOWLEDGE_SEARCH,
        status=TaskStatus.SUCCEEDED,
        root_task_id=task_id,
        input={"query": "where is my parcel", "limit": 3},
        result={"hits": [{"id": "KB-1", "score": 1.5}]},
        created_at=at,
        updated_at=at,
        started_at=at,
        finished_at=at,
    )
    records = []
    for kind, status in (
        (EventKind.SUBMITTED, TaskStatus.SUBMITTED),
        (EventKind.STARTED, TaskStatus.RUNNING),
        (EventKind.SUCCEEDED, TaskStatus.SUCCEEDED),
    ):
        result = state.result if kind is EventKind.SUCCEEDED else None
        event = TaskEvent(kind=kind, agent=AGENT, status=status, at=at, result=result)
        records.append(envelope_record(publisher, topics.task_events, TASK_EVENT, task_id, event))
    records.append(envelope_record(publisher, topics.task_state, TASK_STATE, task_id, state))
    return records


def envelope_record(
    publisher: Publisher, topic: str, type_: str, task_id: str, payload: BaseModel
) -> Outgoing:
    envelope = Envelope(
        type=type_,
        task_id=task_id,
        root_task_id=task_id,
        payload=payload.model_dump(mode="json", exclude_none=True),
    )
    return publisher.encode(topic, envelope, key=task_id)
