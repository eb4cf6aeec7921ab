"""What the parts of a no-op hop cost at the least, in this process, without a broker.

    python -m tests.bench.hop_floor

The hop's target (issue 17) is 2x the raw aiokafka loop writing as many records. This
measures the floor of the runtime's own parts that no task runtime on asyncio and
pydantic can skip, each done the cheapest way, so the README can say which part of
the gap is the work a task needs and which is the mesh's bookkeeping around it:

- `task`: an asyncio task per input that awaits one acknowledgement future and ends
  (the least a runtime that runs inputs concurrently does);
- `decode`: the request envelope decoded and validated, and its payload validated
  against the registered model (what any typed consumer does);
- `encode`: the three lifecycle records (two events and the state) serialized by
  orjson from plain dicts of the same fields (no model, no validation).

Each is timed over `N` repetitions, best of five, in CPU time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson

from schemas import REGISTRY, Envelope
from schemas.envelope import decode_envelope, new_id, utc_now
from tests.bench.agents import noop  # noqa: F401  (registers bench.noop)
from tests.bench.hop import TEXT

N = 20_000


def _best(fn: Callable[[], None]) -> float:
    """µs per repetition, best of five runs of `N`."""
    best = float("inf")
    for _ in range(5):
        began = time.process_time()
        fn()
        best = min(best, time.process_time() - began)
    return best / N * 1e6


def _tasks() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        finished, left = asyncio.Event(), [N]

        async def one(ack: asyncio.Future[None]) -> None:
            await ack
            left[0] -= 1
            if not left[0]:
                finished.set()

        acks = [loop.create_future() for _ in range(N)]
        tasks = [asyncio.create_task(one(ack)) for ack in acks]
        await asyncio.sleep(0)  # every task now waits on its ack
        for ack in acks:
            ack.set_result(None)
        await finished.wait()
        del tasks

    asyncio.run(run())


def _request() -> bytes:
    task_id = new_id()
    payload = {"n": 1, "text": TEXT[:40]}
    envelope = Envelope(type="bench.noop", task_id=task_id, root_task_id=task_id, payload=payload)
    return orjson.dumps(envelope.model_dump(mode="json", exclude_none=True))


def _decode(raw: bytes) -> Callable[[], None]:
    def run() -> None:
        for _ in range(N):
            envelope = decode_envelope(raw)
            REGISTRY.parse(envelope.type, envelope.version, envelope.payload)

    return run


def _encode() -> None:
    task_id, now = new_id(), utc_now()
    for _ in range(N):
        base = {"task_id": task_id, "agent": "bench", "instance": "i1", "at": now}
        started = {**base, "id": new_id(), "kind": "started", "status": "running"}
        succeeded = {**base, "id": new_id(), "kind": "succeeded", "status": "succeeded"}
        state = {**base, "status": "succeeded", "input": {"n": 1}, "attempt": 1}
        for record in (started, succeeded, state):
            orjson.dumps(record)


def main() -> None:
    raw = _request()
    parts = {"task": _best(_tasks), "decode": _best(_decode(raw)), "encode": _best(_encode)}
    for name, us in parts.items():
        print(f"{name:<8}{us:8.1f} us per input")
    print(f"{'sum':<8}{sum(parts.values()):8.1f} us per input")


if __name__ == "__main__":
    main()
