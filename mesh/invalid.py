"""Parking records a worker cannot use: undecodable, unknown type or version, invalid.

They go to the agent's `invalid` topic with the original bytes, the reason and the
provenance in headers, and the worker moves on. (The dead-letter queue of the
delivery-guarantees work builds on this.)
"""

from __future__ import annotations

import logging

from mesh.publisher import Publisher
from mesh.transport.base import Delivery

log = logging.getLogger(__name__)


async def park_invalid(publisher: Publisher, agent: str, record: Delivery, reason: str) -> None:
    log.warning("parking invalid record %s for agent %r: %s", record.where(), agent, reason)
    headers = dict(record.headers)
    headers.update(
        {
            "mesh-invalid-reason": reason.encode()[:4000],
            "mesh-original-topic": record.topic.encode(),
            "mesh-original-partition": str(record.partition).encode(),
            "mesh-original-offset": str(record.offset).encode(),
            "mesh-instance": publisher.source.instance.encode(),
        }
    )
    await publisher.transport.publish(
        publisher.topics.invalid(agent), record.value or b"", key=record.key, headers=headers
    )
