"""Log records carry the service, instance and the task they concern; payloads shown
at DEBUG have their sensitive fields masked."""

from __future__ import annotations

import asyncio
import io
import logging

import orjson
import pytest

from agents.contracts import TicketCreated, TicketCreatedV1
from mesh.observability.logs import (
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    service_log_context,
    task_log_context,
)
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas.redaction import MASK, redacted
from schemas.tasks import TaskStatus
from tests.contract.behaviour_agents import worker_agent


def _json_lines(run: object) -> list[dict[str, object]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter("triage", "host-1"))
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        run(logger)  # type: ignore[operator]
    finally:
        logger.removeHandler(handler)
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_names_service_instance_and_the_task() -> None:
    def run(logger: logging.Logger) -> None:
        logger.info("outside")
        with task_log_context(task_id="t1", correlation_id="c1", agent="triage"):
            logger.info("inside %d", 1)

    outside, inside = _json_lines(run)
    assert outside["service"] == "triage" and outside["instance"] == "host-1"
    assert "task_id" not in outside
    assert inside["message"] == "inside 1" and inside["level"] == "INFO"
    assert (inside["task_id"], inside["correlation_id"], inside["agent"]) == ("t1", "c1", "triage")
    assert str(inside["ts"]).endswith("+00:00")


def test_concurrent_tasks_keep_their_own_ids() -> None:
    async def one(logger: logging.Logger, task_id: str) -> None:
        with task_log_context(task_id=task_id):
            for _ in range(3):
                logger.info(task_id)
                await asyncio.sleep(0)

    def run(logger: logging.Logger) -> None:
        async def both() -> None:
            await asyncio.gather(one(logger, "a"), one(logger, "b"))

        asyncio.run(both())

    lines = _json_lines(run)
    assert len(lines) == 6 and all(line["task_id"] == line["message"] for line in lines)


def test_a_worker_of_a_shared_process_names_its_own_agent_type() -> None:
    # `mesh run a b`: the process's own records name it, each worker's (and its tasks')
    # name the worker's agent type (mesh/runtime/worker_group.py).
    async def worker(logger: logging.Logger, agent: str) -> None:
        with service_log_context(agent):
            await asyncio.sleep(0)
            logger.info(agent)

    def run(logger: logging.Logger) -> None:
        async def both() -> None:
            logger.info("agents")
            await asyncio.gather(worker(logger, "knowledge"), worker(logger, "orders"))

        asyncio.run(both())

    lines = _json_lines(run)
    assert [line["service"] for line in lines] == ["triage", "knowledge", "orders"]
    assert [line["message"] for line in lines] == ["agents", "knowledge", "orders"]


def test_the_console_format_ends_with_the_task() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.mesh_fields = {"task_id": "t9"}
    assert TextFormatter("triage").format(record).endswith("hello [task t9]")


def test_sensitive_fields_are_masked_at_any_depth() -> None:
    v2 = {"ticket_id": "T-1", "customer": {"email": "ada@example.com"}, "subject": "s"}
    assert redacted(TicketCreated, v2)["customer"] == {"email": MASK}
    assert redacted(TicketCreated, v2)["subject"] == "s"
    v1 = {"ticket_id": "T-1", "customer_email": "ada@example.com", "subject": "s"}
    assert redacted(TicketCreatedV1, v1)["customer_email"] == MASK
    assert TicketCreated.model_json_schema()["$defs"]["Customer"]["properties"]["email"][
        "sensitive"
    ]


async def test_a_running_task_s_records_carry_its_id(
    caplog: pytest.LogCaptureFixture, memory_settings: Settings
) -> None:
    caplog.handler.addFilter(ContextFilter("worker", "i-1"))
    caplog.set_level(logging.INFO, logger="mesh.runtime._runner")
    async with TestMesh(worker_agent, settings=memory_settings) as mesh:
        task_id = await mesh.client.submit("worker", {"fail": True})
        state = await mesh.client.wait(task_id, timeout=20)
    assert state.status in (TaskStatus.DEAD_LETTERED, TaskStatus.FAILED)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failures and all(r.mesh_fields["task_id"] == task_id for r in failures)  # type: ignore[attr-defined]
