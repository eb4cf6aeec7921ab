"""`QuotaClient`: a process's side of the mesh-wide rate limits (ADR 024).

A call asks `acquire` for its amounts (1 request, its estimated tokens) of a
resource; the client admits it from its local token buckets (mesh/quota/bucket.py)
while its lease holds, so a call never waits on a round trip to the allocator. Every
refresh interval, and at once when a call finds no lease, it reports its demand per
resource on the requests topic; grants come back on the grants topic, which it reads
whole without a group (as mesh/views/follower.py does), keeping those addressed to
its own client id. A 429 seen here pauses the resource locally at once and is
reported, so the allocator pauses every other client too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from mesh._background import BackgroundTask
from mesh.errors import TransportError
from mesh.observability.metrics import QUOTA_GRANT, QUOTA_PAUSES, QUOTA_WAITING
from mesh.quota.bucket import Gate
from mesh.quota.messages import Demand, Grant
from mesh.settings import Settings
from mesh.topics import Topics
from mesh.transport.base import Consumer, Delivery, Outgoing, Transport

log = logging.getLogger(__name__)
_RETRY = 1.0  # seconds between attempts after a failed fetch or report


@dataclass
class Permit:
    """What an admitted call took; `settle` gives back what it did not use."""

    resource: str
    taken: Mapping[str, float]
    _client: QuotaClient = field(repr=False)

    def settle(self, used: Mapping[str, float]) -> None:
        """Correct the take by the call's real use (only the dimensions given)."""
        self._client._settle(self, used)


class QuotaClient:
    """Admits calls against this process's grants; reports demand; reads grants."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self.client_id = f"{settings.instance_id}/{uuid.uuid4().hex[:8]}"
        self._transport = transport
        self._topics = Topics(settings.namespace)
        self._refresh = settings.model_limits_refresh
        self._gates: dict[str, Gate] = {}
        self._pauses: dict[str, float] = {}  # 429s not yet reported, seconds
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._report_soon = asyncio.Event()
        self._grants: Consumer = transport.consumer([self._topics.quota_grants], group=None)
        self._reader = BackgroundTask("quota-grants", logger=log)
        self._reporter = BackgroundTask("quota-reports", logger=log)

    async def start(self) -> None:
        await self._grants.start()
        self._reader.start(self._read_grants())
        self._reporter.start(self._report_loop())

    async def stop(self) -> None:
        await self._reporter.stop()
        await self._reader.stop()
        await self._grants.stop()
        for timer in self._timers.values():
            timer.cancel()

    def gate(self, resource: str) -> Gate | None:
        return self._gates.get(resource)

    async def acquire(
        self,
        resource: str,
        *,
        capacity: Mapping[str, float],
        amounts: Mapping[str, float],
        priority: int = 0,
        timeout: float | None = None,
    ) -> Permit:
        """Wait (at most `timeout` s) until `amounts` of `resource` may be used.

        Args:
            resource: what is limited (the same name in every process).
            capacity: the resource's limits per minute by dimension (its settings).
            amounts: what this call takes per dimension.
            priority: the task's priority; higher is admitted first, then first come.
            timeout: seconds to wait at most (None: no limit).

        Raises:
            TimeoutError: not admitted within `timeout`; the call is no longer waiting.
        """
        gate = self._gates.get(resource)
        if gate is None:
            gate = self._gates[resource] = Gate(capacity, window=2 * self._refresh)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        gate.enqueue(amounts, priority, future)
        self._pump(resource)
        if not future.done():
            if not gate.leased(time.monotonic()):
                self._report_soon.set()  # no lease: ask now, not at the next refresh
            QUOTA_WAITING.labels(resource).set(gate.waiting)
            try:
                await self._wait(future, timeout)
            finally:
                if future.cancelled():  # it left the queue: the next may fit now
                    self._pump(resource)
                QUOTA_WAITING.labels(resource).set(gate.waiting)
        return Permit(resource, dict(amounts), self)

    async def _wait(self, admitted: asyncio.Future[None], timeout: float | None) -> None:
        # Shielded: the decision to leave the queue is taken here, so a call admitted
        # just as its time ran out is not lost with the amounts it took.
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(admitted)
        except TimeoutError:
            if admitted.done() and not admitted.cancelled():
                return  # admitted as the time ran out: run it
            admitted.cancel()  # leaves the queue (the gate skips it)
            raise
        except asyncio.CancelledError:
            admitted.cancel()
            raise

    def pause(self, resource: str, seconds: float) -> None:
        """The provider said to wait `seconds`: stop here now and tell the allocator."""
        gate = self._gates.get(resource)
        if gate is not None:
            gate.pause(time.monotonic() + seconds)
        self._pauses[resource] = max(self._pauses.get(resource, 0.0), seconds)
        QUOTA_PAUSES.labels(resource).inc()
        self._report_soon.set()

    def _settle(self, permit: Permit, used: Mapping[str, float]) -> None:
        gate = self._gates.get(permit.resource)
        if gate is not None:
            gate.settle(permit.taken, used, time.monotonic())
            self._pump(permit.resource)

    def _pump(self, resource: str) -> None:
        """Admit the waiters that fit now; wake again when the next one may."""
        gate = self._gates[resource]
        now = time.monotonic()
        for waiter in gate.admit(now):
            waiter.future.set_result(None)
        timer = self._timers.pop(resource, None)
        if timer is not None:
            timer.cancel()
        delay = gate.next_check(now)
        if delay is not None:
            loop = asyncio.get_running_loop()
            self._timers[resource] = loop.call_later(delay + 1e-4, self._pump, resource)

    # -- reports and grants ----------------------------------------------------------

    async def _report_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._refresh):
                    await self._report_soon.wait()
            self._report_soon.clear()
            try:
                await self._report()
            except TransportError as exc:
                log.warning("quota: reporting demand failed, again in %.0f s: %s", _RETRY, exc)
                await asyncio.sleep(_RETRY)
            await asyncio.sleep(self._refresh / 4)  # at most four reports per refresh

    async def _report(self) -> None:
        now, sent_at = time.monotonic(), time.time()
        pauses, self._pauses = self._pauses, {}
        records = []
        for resource, gate in self._gates.items():
            wants = gate.demand(now)
            busy = any(w for w in wants.values())
            if not (busy or gate.leased(now) or resource in pauses):
                continue  # idle and holding nothing: the allocator forgets it
            demand = Demand(
                client=self.client_id,
                resource=resource,
                capacity=gate.limits,
                wants=wants,
                has=gate.granted if gate.leased(now) else {},
                pause=pauses.get(resource),
                sent_at=sent_at,
            )
            value = demand.model_dump_json().encode()
            records.append(Outgoing(self._topics.quota_requests, value, key=resource.encode()))
        if records:
            await self._transport.publish_many(records)

    async def _read_grants(self) -> None:
        mine = self.client_id.encode()
        while True:
            try:
                records = await self._grants.fetch(timeout=1.0, max_records=1000)
            except TransportError as exc:
                log.warning("quota: reading grants failed, again in %.0f s: %s", _RETRY, exc)
                await asyncio.sleep(_RETRY)
                continue
            for record in records:
                if record.key == mine and record.value is not None:
                    self._apply(record)

    def _apply(self, record: Delivery) -> None:
        try:
            grant = Grant.model_validate_json(record.value or b"")
        except ValueError as exc:
            log.warning("quota: skipping grant %s: %s", record.where(), exc)
            return
        gate = self._gates.get(grant.resource)
        if gate is None:
            return
        now = time.monotonic()
        if not gate.granted:
            log.info("quota: first grant of %s: %s per minute", grant.resource, grant.rates)
        gate.grant(grant.rates, lease=grant.lease, now=now)
        if grant.pause:
            gate.pause(now + grant.pause)
        for dimension, rate in gate.granted.items():
            QUOTA_GRANT.labels(grant.resource, dimension).set(rate)
        self._pump(grant.resource)
