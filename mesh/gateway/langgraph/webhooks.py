"""`RunWebhooks`: POST a run to its `webhook` once it has ended, as LangGraph does.

Deep Agents forwards an async subagent's `webhook` to `runs.create`; this is how a
remote supervisor hears of a completion without polling. The gateway owning the
thread's partition sends it (the queue driver's ownership, ADR 012) and records the
outcome (`webhook_status`) on the run, so a new owner after a rebalance does not send
it again; a send cut short by that rebalance may be repeated (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, Literal

import httpx

from mesh.client import Client
from mesh.gateway.langgraph.conversation import IN_FLIGHT, Conversation, RunView
from mesh.gateway.langgraph.threads import ThreadStore
from mesh.gateway.langgraph.wire import run_json
from schemas.envelope import utc_now

log = logging.getLogger(__name__)

_SCAN_INTERVAL = 0.2  # seconds between looks for ended runs with a webhook
_ATTEMPTS = 4
_FIRST_BACKOFF = 1.0  # seconds; doubled after each failed attempt
_TIMEOUT = 10.0  # seconds per attempt


class RunWebhooks:
    def __init__(self, client: Client, store: ThreadStore, owns: Callable[[str], bool]) -> None:
        self._client = client
        self._store = store
        self._owns = owns
        self._sending: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(timeout=_TIMEOUT)

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._send_due(), name="langgraph-run-webhooks")

    async def stop(self) -> None:
        for task in [*self._sending.values(), *([self._loop] if self._loop else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.aclose()

    async def _send_due(self) -> None:
        while True:
            for due in list(self._store.webhooks_due):
                if due not in self._sending and self._owns(due[0]) and self._ended(*due):
                    self._sending[due] = asyncio.create_task(self._deliver(*due))
                    self._sending[due].add_done_callback(functools.partial(self._sent, due))
            await asyncio.sleep(_SCAN_INTERVAL)

    def _sent(self, due: tuple[str, str], task: asyncio.Task[None]) -> None:
        self._sending.pop(due, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook of run %s failed", due[1], exc_info=task.exception())

    def _ended(self, thread_id: str, run_id: str) -> bool:
        found = self._look(thread_id, run_id)
        return found is not None and found[1].status not in IN_FLIGHT

    def _look(self, thread_id: str, run_id: str) -> tuple[Conversation, RunView] | None:
        now = self._store.conversation(thread_id, self._client.view)
        if now is None:
            return None
        run = now.run(run_id)
        return None if run is None else (now, run)

    async def _deliver(self, thread_id: str, run_id: str) -> None:
        backoff = _FIRST_BACKOFF
        for attempt in range(1, _ATTEMPTS + 1):
            found = self._look(thread_id, run_id)
            if found is None:
                return  # the thread was deleted
            now, run = found
            assert run.record.webhook is not None
            try:
                response = await self._http.post(run.record.webhook, json=webhook_body(now, run))
                if response.is_success:
                    return await self._record(run, "sent")
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = str(exc) or type(exc).__name__
            log.warning("webhook of run %s, attempt %d: %s", run_id, attempt, problem)
            if attempt < _ATTEMPTS:
                await asyncio.sleep(backoff)
                backoff *= 2
        await self._record(run, "failed")

    async def _record(self, run: RunView, status: Literal["sent", "failed"]) -> None:
        sent = run.record.model_copy(update={"webhook_status": status})
        await self._store.put_runs(run.record.thread_id, [sent])


def webhook_body(now: Conversation, run: RunView) -> dict[str, Any]:
    """The run, the thread's values and the run's times (LangGraph's webhook shape)."""
    task = run.task
    return {
        **run_json(run),
        "values": now.values,
        "run_started_at": task.started_at.isoformat() if task and task.started_at else None,
        "run_ended_at": task.finished_at.isoformat() if task and task.finished_at else None,
        "webhook_sent_at": utc_now().isoformat(),
    }
