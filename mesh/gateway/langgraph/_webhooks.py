"""`RunWebhooks`: POST a run to its `webhook` once it has ended, as LangGraph does.

Deep Agents forwards an async subagent's `webhook` to `runs.create`; this is how a
remote supervisor hears of a completion without polling. The gateway owning the
thread's partition sends it (the queue driver's ownership, ADR 012) and records the
outcome (`webhook_status`) on the run, so a new owner after a rebalance does not send
it again; a send cut short by that rebalance may be repeated (at least once). Each
POST is signed and retried as the native API's webhooks are
(mesh/gateway/_webhook_delivery.py, the `MESH_GATEWAY_WEBHOOK_*` settings).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, Literal

import orjson

from mesh._background import BackgroundTask
from mesh.client import Client
from mesh.gateway._webhook_delivery import WebhookPoster
from mesh.gateway.langgraph._conversation import IN_FLIGHT, Conversation, RunView
from mesh.gateway.langgraph._threads import ThreadStore
from mesh.gateway.langgraph._wire import run_json
from schemas.envelope import utc_now

log = logging.getLogger(__name__)

_SCAN_INTERVAL = 0.2  # seconds between looks for ended runs with a webhook


class _ThreadDeleted(Exception):
    """The run's thread went while its webhook was being delivered: nothing to send."""


class RunWebhooks:
    def __init__(self, client: Client, store: ThreadStore, owns: Callable[[str], bool]) -> None:
        self._client = client
        self._store = store
        self._owns = owns
        self._sending: set[tuple[str, str]] = set()
        self._loop = BackgroundTask("langgraph-run-webhooks", logger=log)
        self._poster = WebhookPoster(client.settings)

    async def start(self) -> None:
        self._loop.start(self._send_due())

    async def stop(self) -> None:
        await self._loop.stop()  # its task group cancels the deliveries under way
        await self._poster.close()

    async def _send_due(self) -> None:
        async with asyncio.TaskGroup() as deliveries:
            while True:
                for due in list(self._store.webhooks_due):
                    if due not in self._sending and self._owns(due[0]) and self._ended(*due):
                        self._sending.add(due)
                        deliveries.create_task(self._deliver_logged(*due))
                await asyncio.sleep(_SCAN_INTERVAL)

    async def _deliver_logged(self, thread_id: str, run_id: str) -> None:
        """`_deliver`; its failure is logged and ends only this delivery."""
        try:
            await self._deliver(thread_id, run_id)
        except Exception:  # logged, not swallowed: the other runs' webhooks go on
            log.exception("webhook of run %s failed", run_id)
        finally:
            self._sending.discard((thread_id, run_id))

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
        try:
            outcome = await self._poster.deliver(
                functools.partial(self._post, thread_id, run_id),
                on_retry=functools.partial(self._retrying, run_id),
            )
        except _ThreadDeleted:
            return
        if not outcome.delivered:
            log.warning(
                "webhook of run %s failed after %d attempts: %s",
                run_id,
                outcome.attempts,
                outcome.error,
            )
        found = self._look(thread_id, run_id)
        if found is not None:
            await self._record(found[1], "sent" if outcome.delivered else "failed")

    async def _post(self, thread_id: str, run_id: str) -> str | None:
        """POST the run as it is now; None when the receiver took it, else the error."""
        found = self._look(thread_id, run_id)
        if found is None:
            raise _ThreadDeleted
        now, run = found
        assert run.record.webhook is not None
        return await self._poster.post(run.record.webhook, webhook_body(now, run), {})

    async def _retrying(self, run_id: str, attempts: int, error: str, delay: float) -> None:
        log.warning(
            "webhook of run %s, attempt %d: %s; again in %.1f s", run_id, attempts, error, delay
        )

    async def _record(self, run: RunView, status: Literal["sent", "failed"]) -> None:
        sent = run.record.model_copy(update={"webhook_status": status})
        await self._store.put_runs(run.record.thread_id, [sent])


def webhook_body(now: Conversation, run: RunView) -> bytes:
    """The run, the thread's values and the run's times (LangGraph's webhook shape),
    as the JSON that is signed and sent."""
    return orjson.dumps(webhook_json(now, run))


def webhook_json(now: Conversation, run: RunView) -> dict[str, Any]:
    task = run.task
    return {
        **run_json(run),
        "values": now.values,
        "run_started_at": task.started_at.isoformat() if task and task.started_at else None,
        "run_ended_at": task.finished_at.isoformat() if task and task.finished_at else None,
        "webhook_sent_at": utc_now().isoformat(),
    }
