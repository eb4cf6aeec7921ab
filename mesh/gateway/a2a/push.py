"""A2A push notifications (ADR 041): configs recorded on a compacted topic, every
update of a configured task POSTed to its URL by one gateway replica.

Every replica's view reads the configs (Get/List from any replica). Delivery is
shared like the completion webhooks' (ADR 011): the replicas form a consumer group on
the push topic, and the member owning a config's partition sends its notifications.
A notification is a StreamResponse holding the task as `GetTask` shows it; updates
that come faster than the receiver takes them are coalesced (the receiver gets the
latest state, in order), each POST tried as the gateway's webhooks are
(MESH_GATEWAY_WEBHOOK_MAX_ATTEMPTS, backoff). At least once: a replica taking a
partition over sends each of its tasks' current state again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from pydantic import ValidationError

from mesh._background import BackgroundTask
from mesh.gateway._view import GatewayView
from mesh.gateway._webhook_delivery import TASK_ID_HEADER, WebhookPoster
from mesh.gateway.a2a._wire import task_of
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.topics import Topics
from mesh.transport.base import Consumer, Delivery, TopicPartition, Transport
from schemas import Envelope, decode_envelope
from schemas.gateway import A2A_PUSH, A2APushConfig
from schemas.tasks import TaskState

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-A2A-Notification-Token"
ConfigKey = tuple[str, str]  # task id, config id


async def record_push_config(
    publisher: Publisher, view: GatewayView, config: A2APushConfig
) -> None:
    """Write a config (or its deletion); this replica's view has it at once."""
    envelope = Envelope(
        type=A2A_PUSH,
        task_id=config.task_id,
        source=publisher.source,
        payload=config.model_dump(mode="json"),
    )
    key = f"{config.task_id}/{config.config_id}"
    await publisher.send(publisher.topics.gateway_a2a_push, envelope, key=key)
    view.apply_other(envelope)  # read-your-writes; the echo is the same record


class PushSender:
    """Sends the notifications of the configs in the partitions this replica owns."""

    def __init__(
        self, transport: Transport, settings: Settings, view: GatewayView, topics: Topics
    ) -> None:
        self._settings = settings
        self._view = view
        self._consumer: Consumer = transport.consumer(
            [topics.gateway_a2a_push],
            group=topics.gateway_a2a_push_senders,
            listener=self,
        )
        self._configs: dict[ConfigKey, tuple[int, A2APushConfig]] = {}
        self._senders: dict[ConfigKey, asyncio.Task[None]] = {}
        self._changed: dict[str, asyncio.Event] = {}  # task id -> set on a new state
        self._poster: WebhookPoster | None = None
        self._runner = BackgroundTask("a2a-push-sender", logger=log)

    @property
    def running(self) -> bool:
        return self._runner.running

    async def start(self) -> None:
        self._poster = WebhookPoster(self._settings)
        await self._consumer.start()
        self._view.state_listeners.append(self._state_changed)
        self._runner.start(self._follow())

    async def stop(self) -> None:
        await self._runner.stop()
        for sender in self._senders.values():
            sender.cancel()
        for sender in list(self._senders.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        await self._consumer.stop()
        if self._poster is not None:
            await self._poster.close()

    async def _follow(self) -> None:
        while True:
            for record in await self._consumer.fetch(timeout=0.5, max_records=500):
                self._apply(record)

    # -- the group: partitions come and go (nothing is committed: an assigned
    # partition is read again from its start) ------------------------------------------

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        for key, (partition, _) in list(self._configs.items()):
            if partition in gone:
                self._forget(key)

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        pass

    def _apply(self, record: Delivery) -> None:
        if record.value is None:
            return
        try:
            config = A2APushConfig.model_validate(decode_envelope(record.value).payload)
        except (ValueError, ValidationError) as exc:
            log.warning("skipping an unreadable push config %s: %s", record.where(), exc)
            return
        key = (config.task_id, config.config_id)
        if config.deleted:
            self._forget(key)
            return
        self._configs[key] = (record.partition, config)
        if key not in self._senders:
            sender = self._senders[key] = asyncio.create_task(self._send_updates(key))
            sender.add_done_callback(_log_failure)
        self._wake(config.task_id)

    def _forget(self, key: ConfigKey) -> None:
        self._configs.pop(key, None)
        sender = self._senders.pop(key, None)
        if sender is not None:
            sender.cancel()

    def _state_changed(self, state: TaskState) -> None:
        if state.task_id in self._changed:
            self._wake(state.task_id)

    def _wake(self, task_id: str) -> None:
        self._changed.setdefault(task_id, asyncio.Event()).set()

    # -- sending ---------------------------------------------------------------------

    async def _send_updates(self, key: ConfigKey) -> None:
        """POST the task each time its state changes, until it has ended and that was
        sent, or the config goes."""
        task_id = key[0]
        changed = self._changed.setdefault(task_id, asyncio.Event())
        sent: tuple[object, ...] | None = None
        try:
            while key in self._configs:
                changed.clear()
                state = self._view.tasks.get(task_id)
                version = (state.status, state.updated_at, len(state.progress)) if state else None
                if state is not None and version != sent:
                    await self._post(self._configs[key][1], state)
                    sent = version
                    if state.status.is_terminal:
                        return
                await changed.wait()
        finally:
            if self._senders.get(key) is asyncio.current_task():
                del self._senders[key]
            if not any(other[0] == task_id for other in self._senders):
                self._changed.pop(task_id, None)

    async def _post(self, config: A2APushConfig, state: TaskState) -> None:
        poster = self._poster
        assert poster is not None
        body = orjson.dumps({"task": task_of(state)})
        headers = {TASK_ID_HEADER: state.task_id}
        if config.token:
            headers[TOKEN_HEADER] = config.token
        if config.auth_scheme:
            headers["Authorization"] = f"{config.auth_scheme} {config.auth_credentials}".strip()

        async def attempt() -> str | None:
            return await poster.post(config.url, body, headers)

        async def retrying(attempts: int, error: str, delay: float) -> None:
            log.info("push to %s for task %s failed (%s)", config.url, state.task_id, error)

        outcome = await poster.deliver(attempt, on_retry=retrying)
        if not outcome.delivered:
            log.warning(
                "push notification of task %s to %s given up after %d attempts: %s",
                state.task_id,
                config.url,
                outcome.attempts,
                outcome.error,
            )


def _log_failure(sender: asyncio.Task[None]) -> None:
    """No failure of a sender vanishes: it is logged with its traceback."""
    if not sender.cancelled() and (failure := sender.exception()) is not None:
        log.error("an A2A push sender failed", exc_info=failure)
