"""`RunningTask`: a task a worker has accepted, from its request to its outcome.

The worker's parts share it: admission keeps it in the backlog or starts it, the
runner runs it, control commands cancel, steer or supersede it, a rebalance hands it
back, heartbeats report it. Its flags say how a run ends early (see
mesh/runtime/_runner.py), and are checked as the run begins, since an asyncio task
cancelled before its first step runs none of its clean-up.
"""

from __future__ import annotations

import asyncio
import sys
import types
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from mesh.agent import Handler
from mesh.context import TaskContext
from mesh.runtime._compact_models import compact, compact_input, prime
from mesh.transport.base import Delivery, TopicPartition
from schemas import REGISTRY, Envelope, encode_envelope
from schemas.registry import SchemaError
from schemas.tasks import Steer

# Stands for the headers of a record whose key, value and headers were the request's
# own (its task id, its encoding, `Envelope.routing_headers`): rebuilt when read.
_REBUILT: types.MappingProxyType[str, bytes] = types.MappingProxyType({})
# Now, not at the first request laid out small: that is a while after the worker
# began (ADR 062), and by then other requests' dicts had taken the key table.
prime(Envelope)


@dataclass(eq=False, slots=True)  # slots: one per in-flight task, no dict each (ADR 033)
class RunningTask:
    """A task this worker has accepted (running, or in its backlog waiting for a slot)."""

    request: Envelope
    # What the request was read from, as read; its key, value and headers dropped while
    # the task waits when they can be rebuilt exactly (`keep_small`): read it as `record`.
    raw: Delivery
    handler: Handler
    task: asyncio.Task[None] | None = None
    context: TaskContext | None = None
    cancel_reason: str | None = None
    cancel_fails: bool = False  # end it `failed` with the reason, not `cancelled`
    handed_back: bool = False
    superseded: bool = False  # a newer attempt was dispatched (the supervisor's redispatch)
    ask_human: str | None = None  # wait for a human's go-ahead before the handler runs
    begun: bool = False  # its asyncio task has begun running (see `_interrupt`)
    # The input, parsed when the worker read the request (`parse_input`); or why it
    # does not fit its schema.
    message: BaseModel | None = None
    invalid: Exception | None = None
    held_since: float = 0.0  # loop time it went into the worker's backlog
    outcome_failures: int = 0  # earlier runs whose outcome the broker did not take
    early_steers: list[Steer] | None = None  # made on the first one
    start_held: bool = False  # its `started` is held, due by a time (`HeldStarts`)
    small: bool = False  # laid out small while it waits (`keep_small`)

    @property
    def task_id(self) -> str:
        assert self.request.task_id is not None
        return self.request.task_id

    @property
    def record(self) -> Delivery:
        """The record the request was read from, exactly: a retry reads its headers, a
        dead letter carries it unchanged."""
        raw = self.raw
        if raw.headers is not _REBUILT:
            return raw
        request = self.request
        value, headers = encode_envelope(request), request.routing_headers()
        return Delivery(
            raw.topic,
            raw.partition,
            raw.offset,
            self.task_id.encode(),
            value,
            headers,
            raw.timestamp,
        )

    @property
    def tp(self) -> TopicPartition:
        return self.raw.tp

    @property
    def offset(self) -> int:
        return self.raw.offset

    def share_parts(self) -> None:
        """Before the run begins, what its state and handler take from the request:
        the input laid out small (ADR 049; the handler's frame holds it from then on,
        so a smaller copy made later would only add to it), the type the string held
        already, the root id the task id's string. Equal values put in the request's
        own dict: no copy, so cheap enough for every task (ADR 062)."""
        if self.context is not None:
            return
        if self.message is not None:
            self.message = compact_input(self.message)
        request, values = self.request, self.request.__dict__
        values["type"] = sys.intern(request.type)  # a handled type: one of a few
        if request.root_task_id == request.task_id:
            values["root_task_id"] = request.task_id

    def keep_small(self) -> None:
        """Lay out what the task keeps while it waits small (ADR 037, 049), once: the
        request in a key-sharing dict; the record without what a mesh producer wrote
        from the request (its task id as the key, its encoding, its routing headers),
        rebuilt when read. A record that differs in any byte (another producer, a
        field this process does not know, a header of its own) is kept whole. Done for
        a task that waits: in the backlog, or still running `start_record_delay` s
        after its handler began (ADR 062); a task that ends before is not worth the
        encode it costs."""
        if self.small:
            return
        self.small = True
        self.share_parts()
        self.request = request = compact(self.request)
        if self.context is not None:  # the one other holder of the request (ADR 062)
            self.context.request = request
        raw, task_id = self.raw, self.task_id
        if raw.headers is _REBUILT or raw.key != task_id.encode():
            return
        if list(raw.headers.items()) != list(request.routing_headers().items()):
            return
        if raw.value != encode_envelope(request):
            return
        self.raw = Delivery(
            raw.topic, raw.partition, raw.offset, None, None, _REBUILT, raw.timestamp
        )

    def steer(self, steer: Steer) -> None:
        if self.context is not None:
            self.context._deliver_steer(steer)
        elif self.early_steers is None:
            self.early_steers = [steer]
        else:
            self.early_steers.append(steer)

    def cancel(self, reason: str, *, fail: bool = False) -> None:
        self.cancel_reason = reason
        self.cancel_fails = fail
        self._interrupt()

    def hand_back(self) -> None:
        self.handed_back = True
        self._interrupt()

    def _interrupt(self) -> None:
        # An asyncio task cancelled before its first step never runs its body, so none
        # of its clean-up either (a cancel read in the same fetch as its request did
        # that): until the task has begun, the flags alone stop it, checked as it begins.
        if self.task is not None and self.begun:
            self.task.cancel()

    def parse_input(self) -> None:
        """Parse the input against its registered schema; keep the error if it fails."""
        request = self.request
        try:
            self.message = REGISTRY.parse(request.type, request.version, request.payload)
        except (SchemaError, ValidationError) as exc:
            self.invalid = exc

    def supersede(self) -> None:
        """A newer attempt replaces this run: it records no outcome and commits nothing
        (a result it still returns is noted and ignored)."""
        self.superseded = True
        self.hand_back()
