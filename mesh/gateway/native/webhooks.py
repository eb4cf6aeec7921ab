"""Completion webhooks: registered on the gateway's compacted webhook topic, delivered
once a task ends, signed, retried with backoff, dead-lettered after the last attempt.

Replicas share the work through a consumer group on that topic (ADR 011): a replica
delivers the webhooks of the partitions it owns. It holds back until it has read its
partitions to their end, so a delivery recorded before a rebalance is not repeated;
then it delivers each pending webhook whose task has ended (the view tells). Every
attempt is recorded on the topic, so a replica taking over continues the count.
Delivery is at least once: a receiver deduplicates by `X-Mesh-Task-Id`.

A broker failure stops no delivery but its own record: each record is tried
`MESH_WRITE_ATTEMPTS` times, then given up on visibly (a log line with the reason,
`mesh_gateway_webhook_record_failures`) while the delivery goes on from what this
replica holds. If the loop itself fails (its fetch, say), it starts again after a
backoff, up to `MESH_WRITE_ATTEMPTS` times in a row; meanwhile, and once it gave up,
/readyz says why.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from datetime import timedelta

from pydantic import ValidationError

from mesh._background import BackgroundTask
from mesh.errors import TransportError
from mesh.gateway._view import GatewayView
from mesh.gateway._webhook_delivery import TASK_ID_HEADER, WebhookPoster
from mesh.gateway.native._models import task_document
from mesh.models.accounting import tree_usage
from mesh.observability.metrics import (
    GATEWAY_WEBHOOK_ATTEMPTS,
    GATEWAY_WEBHOOK_RECORD_FAILURES,
    GATEWAY_WEBHOOK_SENDER_RESTARTS,
)
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.transport.base import Consumer, Delivery, TopicPartition, Transport
from schemas import Envelope, decode_envelope
from schemas.envelope import utc_now
from schemas.gateway import WEBHOOK, WebhookDelivery, WebhookStatus
from schemas.tasks import TaskState

log = logging.getLogger(__name__)

# A loop that ran this long (seconds) before it failed starts its restart count afresh.
_HEALTHY_RUN = 60.0


async def record_webhook(publisher: Publisher, delivery: WebhookDelivery) -> None:
    """Write a webhook's registration or delivery status, keyed by its task id."""
    envelope = Envelope(
        type=WEBHOOK,
        task_id=delivery.task_id,
        source=publisher.source,
        payload=delivery.model_dump(mode="json"),
    )
    await publisher.send(publisher.topics.gateway_webhooks, envelope, key=delivery.task_id)


def _newer(incoming: WebhookDelivery, known: WebhookDelivery | None) -> bool:
    """Records of one task can arrive after a later one of ours: order by attempts,
    then pending before final, so a late `pending` never revives a finished delivery."""
    if known is None:
        return True
    pending = WebhookStatus.PENDING
    rank = (incoming.attempts, incoming.status is not pending)
    return rank >= (known.attempts, known.status is not pending)


class WebhookSender:
    """Delivers the webhooks of the partitions this gateway owns in the senders' group."""

    def __init__(
        self, transport: Transport, settings: Settings, view: GatewayView, publisher: Publisher
    ) -> None:
        self._settings = settings
        self._view = view
        self._publisher = publisher
        topics = publisher.topics
        self._consumer: Consumer = transport.consumer(
            [topics.gateway_webhooks], group=topics.gateway_webhook_senders, listener=self
        )
        self._known: dict[str, tuple[int, WebhookDelivery]] = {}  # task id -> partition, record
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._position: dict[TopicPartition, int] = {}
        self._ends: dict[TopicPartition, int] | None = None  # None: to read after assignment
        self._caught_up = False
        self.owned: frozenset[TopicPartition] = frozenset()  # this replica's share
        self._poster: WebhookPoster | None = None
        self._runner = BackgroundTask("webhook-sender", logger=log)  # /readyz reports it
        self._group: asyncio.TaskGroup | None = None
        # Why the loop is down (restarting, or given up); None while it runs.
        self.failure: str | None = None

    @property
    def settled(self) -> bool:
        """It owns partitions and has read them to their end: it sends their webhooks."""
        return self._caught_up and bool(self.owned)

    @property
    def running(self) -> bool:
        return self._runner.running

    async def start(self) -> None:
        self._poster = WebhookPoster(self._settings)
        await self._consumer.start()
        self._view.terminal_listeners.append(self._task_ended)
        self._runner.start(self._run_restarting())

    async def stop(self) -> None:
        await self._runner.stop()
        await self._consumer.stop()
        if self._poster is not None:
            await self._poster.close()

    async def _run_restarting(self) -> None:
        """`_run`, started again after a failure (with a doubling pause), until it fails
        `MESH_WRITE_ATTEMPTS` times in a row; then the failure ends the sender."""
        failures = 0
        while True:
            began = time.monotonic()
            try:
                await self._run()
            except ExceptionGroup as exc:  # what the loop's task group raised, whatever it was
                failures = 1 if time.monotonic() - began > _HEALTHY_RUN else failures + 1
                self.failure = _reason(exc)
                if failures >= self._settings.write_attempts:
                    raise
                pause = self._settings.write_backoff * 2 ** (failures - 1)
                log.warning(
                    "the webhook sender failed (%s); starting it again in %.1f s",
                    self.failure,
                    pause,
                )
                GATEWAY_WEBHOOK_SENDER_RESTARTS.inc()
                await asyncio.sleep(pause)

    async def _run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                self.failure = None
                if self._caught_up:  # a restart: deliveries the failure cancelled go on
                    for task_id in list(self._known):
                        self._maybe_send(task_id)
                await self._follow()
        finally:
            self._group = None  # a task ending meanwhile waits for the next run

    async def _follow(self) -> None:
        while True:
            for record in await self._consumer.fetch(timeout=0.5, max_records=500):
                self._position[record.tp] = record.offset + 1
                self._apply(record)
            if self._ends is None:
                self._ends = await self._consumer.end_offsets()
            if not self._caught_up and all(
                self._position.get(tp, 0) >= end for tp, end in self._ends.items()
            ):
                self._caught_up = True
                for task_id in list(self._known):
                    self._maybe_send(task_id)

    # -- the group: partitions come and go ---------------------------------------------

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        for task_id, (partition, _) in list(self._known.items()):
            if partition in gone:
                del self._known[task_id]
                sending = self._sending.pop(task_id, None)
                if sending is not None:
                    sending.cancel()  # its new owner continues from the recorded attempts
        for tp in partitions:
            self._position.pop(tp, None)
        self.owned -= partitions

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        # Nothing is committed: an assigned partition is read again from its start.
        self._ends = None
        self._caught_up = False
        self.owned |= partitions

    # -- what to send --------------------------------------------------------------------

    def _apply(self, record: Delivery) -> None:
        if record.value is None:
            return
        try:
            incoming = WebhookDelivery.model_validate(decode_envelope(record.value).payload)
        except (ValueError, ValidationError) as exc:
            log.warning("skipping an unreadable webhook record %s: %s", record.where(), exc)
            return
        known = self._known.get(incoming.task_id)
        if _newer(incoming, known[1] if known else None):
            self._known[incoming.task_id] = (record.partition, incoming)
            self._maybe_send(incoming.task_id)

    def _task_ended(self, state: TaskState) -> None:
        self._maybe_send(state.task_id)

    def _maybe_send(self, task_id: str) -> None:
        known = self._known.get(task_id)
        state = self._view.tasks.get(task_id)
        if (
            self._caught_up
            and self._group is not None
            and known is not None
            and known[1].status is WebhookStatus.PENDING
            and state is not None
            and state.status.is_terminal
            and task_id not in self._sending
        ):
            self._sending[task_id] = self._group.create_task(self._deliver(known[1]))

    # -- sending ---------------------------------------------------------------------------

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        try:
            await self._attempts(delivery)
        finally:
            self._sending.pop(delivery.task_id, None)

    async def _attempts(self, delivery: WebhookDelivery) -> None:
        assert self._poster is not None
        if delivery.next_attempt_at is not None:  # a retry an earlier owner scheduled
            wait = (delivery.next_attempt_at - utc_now()).total_seconds()
            await asyncio.sleep(max(0.0, wait))
        outcome = await self._poster.deliver(
            functools.partial(self._post, delivery),
            on_retry=functools.partial(self._retrying, delivery),
            attempts_made=delivery.attempts,
        )
        if outcome.delivered:
            GATEWAY_WEBHOOK_ATTEMPTS.labels("delivered").inc()
            await self._record(delivery, WebhookStatus.DELIVERED, outcome.attempts, None)
            return
        GATEWAY_WEBHOOK_ATTEMPTS.labels("dead_lettered").inc()
        log.warning("webhook of task %s dead-lettered: %s", delivery.task_id, outcome.error)
        await self._record(delivery, WebhookStatus.DEAD_LETTERED, outcome.attempts, outcome.error)

    async def _post(self, delivery: WebhookDelivery) -> str | None:
        """POST the task as it is now; None when the receiver took it, else the error."""
        assert self._poster is not None
        state = self._view.tasks[delivery.task_id]
        body = task_document(state, None, tree_usage(self._view.tasks, state.task_id))
        return await self._poster.post(delivery.url, body, {TASK_ID_HEADER: state.task_id})

    async def _retrying(
        self, delivery: WebhookDelivery, attempts: int, error: str, delay: float
    ) -> None:
        GATEWAY_WEBHOOK_ATTEMPTS.labels("failed").inc()
        await self._record(delivery, WebhookStatus.PENDING, attempts, error, delay)

    async def _record(
        self,
        delivery: WebhookDelivery,
        status: WebhookStatus,
        attempts: int,
        error: str | None,
        retry_in: float | None = None,
    ) -> None:
        now = utc_now()
        update = delivery.model_copy(
            update={
                "status": status,
                "attempts": attempts,
                "last_error": error,
                "next_attempt_at": now + timedelta(seconds=retry_in) if retry_in else None,
                "delivered_at": now if status is WebhookStatus.DELIVERED else None,
                "updated_at": now,
            }
        )
        known = self._known.get(delivery.task_id)
        if known is not None:
            self._known[delivery.task_id] = (known[0], update)
        await self._record_with_retries(update)

    async def _record_with_retries(self, update: WebhookDelivery) -> None:
        """Write `update`, tried `MESH_WRITE_ATTEMPTS` times; then give up on the record
        (not on the delivery: this replica goes on from what it holds) and say so. A
        replica taking the partition over may then send the webhook again."""
        attempts = self._settings.write_attempts
        for attempt in range(1, attempts + 1):
            try:
                await record_webhook(self._publisher, update)
                return
            except TransportError as exc:
                if attempt == attempts:
                    GATEWAY_WEBHOOK_RECORD_FAILURES.labels(update.status).inc()
                    log.error(
                        "webhook of task %s: could not record it %s after %d attempts: %s",
                        update.task_id,
                        update.status,
                        attempts,
                        exc,
                    )
                    return
                await asyncio.sleep(self._settings.write_backoff * 2 ** (attempt - 1))


def _reason(exc: BaseException) -> str:
    """The first error inside a task group's failure, with its type."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
