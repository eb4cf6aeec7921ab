"""A Calfkit (0.13) node answering each call with one reply, the way its nodes return a
result: `run` returns `ReturnCall`, which Calfkit publishes to the caller's inbox.

Run by tests/bench/frameworks.py with the Python of its own virtual environment
(`calfkit`, pinned there); prints one JSON line (see _clock.py). The inputs are
pre-produced here by a Calfkit client whose inbox is the sink topic (one call each,
its own correlation id: the key-ordered subscriber runs them in parallel), before the
node's worker starts; the window opens at the node's first delivery.
"""

from __future__ import annotations

import asyncio
from typing import Any

from _clock import Clock, parse_args
from calfkit import Client, NodeDef, ProvisioningConfig
from calfkit.models.actions import ReturnCall
from calfkit.worker import Worker

TEXT = "x" * 160  # the size of the other contenders' records


class Forward(NodeDef[str]):
    """Replies to every call; counts each reply once it is published (acknowledged)."""

    clock: Clock

    async def run(self, ctx: Any) -> ReturnCall[Any]:
        return ReturnCall(state=ctx.state, value="forwarded")

    async def _handle_delivery(self, envelope: Any, correlation_id: str, *rest: Any) -> Any:
        self.clock.consumed()
        response = await super()._handle_delivery(envelope, correlation_id, *rest)
        self.clock.acked()  # the reply's publish was awaited inside
        return response


def connect(args: Any, **options: Any) -> Client:
    return Client.connect(
        args.bootstrap,
        provisioning=ProvisioningConfig(enabled=True),
        acks="all",  # the producer posture of the mesh's transport
        linger_ms=args.linger_ms,
        max_batch_size=args.batch_bytes,
        logger=None,  # FastStream's default logs every message
        **options,
    )


async def produce_inputs(args: Any) -> None:
    async with connect(args, inbox_topic=args.sink) as caller:
        node = caller.agent(topic=args.source)
        for start in range(0, args.n, 1000):
            count = min(1000, args.n - start)
            await asyncio.gather(*(node.send(TEXT) for _ in range(count)))


async def main() -> None:
    args = parse_args(__doc__ or "")
    await produce_inputs(args)
    node = Forward(node_id=f"{args.group}-forward", subscribe_topics=[args.source])
    node.clock = clock = Clock(args.n)
    worker = Worker(
        connect(args),
        nodes=[node],
        max_workers=args.concurrency,
        group_id=args.group,
        extra_subscribe_kwargs={
            "auto_offset_reset": "earliest",
            "fetch_max_wait_ms": args.fetch_wait_ms,
            "max_poll_records": args.max_poll_records,
            "session_timeout_ms": args.session_timeout_ms,
            "heartbeat_interval_ms": args.heartbeat_ms,
        },
    )
    async with worker:
        await clock.wait(args.timeout)
    clock.report(concurrency=args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
