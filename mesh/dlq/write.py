"""The dead-letter queue: records and tasks that will not succeed, with provenance.

One topic per agent type (`mesh.agent.<name>.dlq`). Each record is the original
record (value, key and headers) plus headers saying why and where from: the reason,
the error class and message, a digest of the traceback, the attempts made, the first
and last failure times, the original topic/partition/offset and the worker instance.
Undecodable records, unknown types or versions, oversized records (their first
bytes, with the original size), invalid input, rejected tasks and tasks that failed
every attempt all end here, and the worker moves on.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from dataclasses import dataclass
from datetime import datetime

from mesh.runtime.publisher import Publisher
from mesh.transport.base import Delivery
from schemas import header_names
from schemas.envelope import utc_now

log = logging.getLogger(__name__)

_MAX_HEADER = 4000
_HEADROOM = 32 * 1024  # for the headers, below the producer's record limit


@dataclass(frozen=True)
class Failure:
    """Why a task is dead-lettered, when it first and last failed, after how many runs."""

    reason: str
    error: BaseException | None = None
    attempts: int = 1
    first_failed_at: datetime | None = None


async def dead_letter(publisher: Publisher, agent: str, record: Delivery, failure: Failure) -> None:
    """Publish `record` to `agent`'s dead-letter topic with `failure` in its headers."""
    log.warning("dead-lettering %s for agent %r: %s", record.where(), agent, failure.reason)
    now = utc_now()
    headers = dict(record.headers)
    headers.update(
        {
            header_names.DLQ_REASON: failure.reason.encode()[:_MAX_HEADER],
            header_names.DLQ_ATTEMPTS: str(failure.attempts).encode(),
            header_names.DLQ_FIRST_FAILURE: (failure.first_failed_at or now).isoformat().encode(),
            header_names.DLQ_LAST_FAILURE: now.isoformat().encode(),
            header_names.DLQ_ORIGINAL_TOPIC: record.topic.encode(),
            header_names.DLQ_ORIGINAL_PARTITION: str(record.partition).encode(),
            header_names.DLQ_ORIGINAL_OFFSET: str(record.offset).encode(),
            header_names.DLQ_INSTANCE: publisher.source.instance.encode(),
        }
    )
    if failure.error is not None:
        headers[header_names.DLQ_ERROR_TYPE] = type(failure.error).__name__.encode()
        headers[header_names.DLQ_ERROR_MESSAGE] = str(failure.error).encode()[:_MAX_HEADER]
        headers[header_names.DLQ_TRACEBACK_DIGEST] = traceback_digest(failure.error).encode()
    value = record.value or b""
    keep = max(publisher.settings.max_message_bytes - _HEADROOM, 1024)
    if len(value) > keep:  # an oversized record: park its beginning, say how big it was
        headers[header_names.DLQ_TRUNCATED_FROM] = str(len(value)).encode()
        value = value[:keep]
    await publisher.transport.publish(
        publisher.topics.dead_letters(agent), value, key=record.key, headers=headers
    )


def traceback_digest(error: BaseException) -> str:
    """A short hash of where the error was raised (file, function, line of each frame),
    so identical failures group together; then the innermost frame, for people."""
    frames = traceback.extract_tb(error.__traceback__)
    where = "|".join(f"{f.filename}:{f.name}:{f.lineno}" for f in frames)
    digest = hashlib.sha256(f"{type(error).__name__}|{where}".encode()).hexdigest()[:16]
    if not frames:
        return digest
    last = frames[-1]
    return f"{digest} {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"
