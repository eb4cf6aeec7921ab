"""`BudgetClient`: a process's side of the budgets' ledger (ADR 025).

`ask` publishes a request keyed by budget id and waits for the keeper's reply on
the replies topic, which the client reads whole without a group (as the quota
client reads grants), keeping those addressed to its own client id. No reply within
two seconds (the keeper's partition is moving, or the request was lost): the same
request is sent again, which is safe since every operation is idempotent by its
reservation's name; the caller bounds the whole wait.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping

from mesh._background import BackgroundTask
from mesh.budgets.messages import BudgetReply, BudgetRequest
from mesh.errors import TransportError
from mesh.settings import Settings
from mesh.topics import Topics
from mesh.transport.base import Consumer, Outgoing, Transport

log = logging.getLogger(__name__)
_RETRY = 1.0  # seconds between attempts after a failed fetch
_ASK_AGAIN = 2.0  # seconds without a reply before the same request is sent again


class BudgetClient:
    """Asks the keepers; matches their replies to the requests waiting."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self.client_id = f"{settings.instance_id}/{uuid.uuid4().hex[:8]}"
        self._transport = transport
        self._topics = Topics(settings.namespace)
        self._waiting: dict[str, asyncio.Future[BudgetReply]] = {}
        self._replies: Consumer = transport.consumer([self._topics.budget_replies], group=None)
        self._reader = BackgroundTask("budget-replies", logger=log)

    async def start(self) -> None:
        await self._replies.start()
        self._reader.start(self._read_replies())

    async def stop(self) -> None:
        await self._reader.stop()
        await self._replies.stop()

    async def ask(
        self,
        op: str,
        budget: str,
        reservation: str,
        *,
        amounts: Mapping[str, float],
        limit: Mapping[str, float],
        ttl: float,
        timeout: float,
    ) -> BudgetReply:
        """Send one request and return the keeper's reply.

        Raises:
            TimeoutError: no reply within `timeout` seconds (the request was sent
                every `_ASK_AGAIN` s meanwhile).
        """
        request = BudgetRequest.model_validate(
            {
                "op": op,
                "request": uuid.uuid4().hex,
                "client": self.client_id,
                "budget": budget,
                "reservation": reservation,
                "amounts": dict(amounts),
                "limit": dict(limit),
                "ttl": ttl,
            }
        )
        record = Outgoing(
            self._topics.budget_requests,
            request.model_dump_json().encode(),
            key=budget.encode(),
        )
        future: asyncio.Future[BudgetReply] = asyncio.get_running_loop().create_future()
        self._waiting[request.request] = future
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self._transport.publish_many([record])
                    done, _ = await asyncio.wait({future}, timeout=_ASK_AGAIN)
                    if done:
                        return future.result()
        finally:
            self._waiting.pop(request.request, None)

    async def _read_replies(self) -> None:
        mine = self.client_id.encode()
        while True:
            try:
                records = await self._replies.fetch(timeout=1.0, max_records=1000)
            except TransportError as exc:
                log.warning("budgets: reading replies failed, again in %.0f s: %s", _RETRY, exc)
                await asyncio.sleep(_RETRY)
                continue
            for record in records:
                if record.key != mine or record.value is None:
                    continue
                try:
                    reply = BudgetReply.model_validate_json(record.value)
                except ValueError as exc:
                    log.warning("budgets: skipping reply %s: %s", record.where(), exc)
                    continue
                future = self._waiting.get(reply.request)
                if future is not None and not future.done():
                    future.set_result(reply)
