"""Schedule records on the compacted schedules topic: where they go and how they read.

A schedule's two records (`Schedule` under its name, `ScheduleProgress` under
`<name>/progress`) go to one partition, chosen from the name, so one scheduler owns
both and reads them in order (like the LangGraph threads, ADR 012).
"""

from __future__ import annotations

import dataclasses
import logging
import zlib

from pydantic import ValidationError

from mesh.runtime.publisher import Publisher
from mesh.transport.base import Delivery
from schemas import Envelope, decode_envelope
from schemas.schedules import SCHEDULE, SCHEDULE_PROGRESS, Schedule, ScheduleProgress

log = logging.getLogger(__name__)
_PROGRESS = "/progress"


def partition_of(name: str, partitions: int) -> int:
    return zlib.crc32(name.encode()) % partitions


async def write(publisher: Publisher, record: Schedule | ScheduleProgress) -> None:
    """Publish a schedule or its progress to the schedule's partition."""
    settings = publisher.settings
    type_, key = (
        (SCHEDULE, record.name)
        if isinstance(record, Schedule)
        else (SCHEDULE_PROGRESS, record.name + _PROGRESS)
    )
    envelope = Envelope(type=type_, source=publisher.source, payload=record.model_dump(mode="json"))
    topic = publisher.topics.schedules
    outgoing = publisher.encode(topic, envelope, key=key)
    partition = partition_of(record.name, settings.partitions)
    await publisher.send_many([dataclasses.replace(outgoing, partition=partition)])


def read(record: Delivery) -> Schedule | ScheduleProgress | None:
    """The schedule or progress a record holds; None for anything else."""
    if record.value is None:
        return None
    try:
        envelope = decode_envelope(record.value)
        if envelope.type == SCHEDULE:
            return Schedule.model_validate(envelope.payload)
        if envelope.type == SCHEDULE_PROGRESS:
            return ScheduleProgress.model_validate(envelope.payload)
    except (ValueError, ValidationError) as exc:
        log.warning("skipping an unreadable schedule record %s: %s", record.where(), exc)
    return None
