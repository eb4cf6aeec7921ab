"""A FastStream Kafka subscriber publishing one record per input, the way its docs
write one: a typed handler (the body decoded from JSON) and a publisher object.

Run by tests/bench/frameworks.py with the Python of its own virtual environment
(`faststream[kafka]`, pinned there); prints one JSON line (see _clock.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from _clock import Clock, parse_args
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage


async def main() -> None:
    args = parse_args(__doc__ or "")
    clock = Clock(args.n)
    broker = KafkaBroker(
        args.bootstrap,
        acks="all",  # the producer posture of the mesh's transport
        linger_ms=args.linger_ms,
        max_batch_size=args.batch_bytes,
        enable_idempotence=False,
        logger=None,  # its default logs every message
    )
    publisher = broker.publisher(args.sink)

    # max_workers > 1 with the default ack policy: FastStream's concurrent subscriber
    # (its offsets are committed as they are fetched, before the handler has run).
    @broker.subscriber(
        args.source,
        group_id=args.group,
        auto_offset_reset="earliest",
        max_workers=args.concurrency,
        fetch_max_wait_ms=args.fetch_wait_ms,
        max_poll_records=args.max_poll_records,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_ms,
    )
    async def forward(body: dict[str, Any], message: KafkaMessage) -> None:
        clock.consumed()
        await publisher.publish(body, key=message.raw_message.key)  # returns once acked
        clock.acked()

    await broker.start()
    try:
        await clock.wait(args.timeout)
    finally:
        await broker.stop()
    clock.report(concurrency=args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
