"""Topic specs as Kafka's NewTopic requests: retention, segment roll and compaction; and
a consumer's metadata refresh that outlasts one failed request."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from mesh.transport.base import TopicSpec


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


_ROLL_SHORT_RETENTION = 24 * 3600.0  # seconds


def new_topic(spec: TopicSpec) -> NewTopic:
    configs = {}
    if spec.retention is not None:
        configs["retention.ms"] = str(_ms(spec.retention))
    if spec.retention is not None and spec.retention <= _ROLL_SHORT_RETENTION:
        # Retention deletes whole closed segments, and a segment rolls after a week
        # (or 1 GB) by default: a short retention (the rate-limit grants, read from
        # their start by every process) takes effect only if its segments roll as often.
        configs["segment.ms"] = str(_ms(spec.retention))
    if spec.compacted:  # compacted and also bounded in time when a retention is given
        configs["cleanup.policy"] = "compact,delete" if spec.retention else "compact"
    return NewTopic(
        spec.name,
        num_partitions=spec.partitions,
        replication_factor=spec.replication_factor,
        topic_configs=configs,
    )


_METADATA_ATTEMPTS = 3  # 0.5 s, then 1 s apart


async def refresh_metadata(consumer: Any) -> None:
    """Refresh an aiokafka consumer's view of every topic (before assigning partitions):
    one refused or timed-out metadata request, e.g. from a busy broker, is retried."""
    for attempt in range(1, _METADATA_ATTEMPTS + 1):
        try:
            await consumer.topics()
            return
        except KafkaError:
            if attempt == _METADATA_ATTEMPTS:
                raise
            await asyncio.sleep(0.5 * attempt)
