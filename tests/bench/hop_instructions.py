"""Instructions of a no-op task's lifecycle in the runtime, counted by callgrind.

    valgrind --tool=callgrind --instr-atstart=no python -m tests.bench.hop_instructions 2000

CPU time on this shared machine varies by 20-30% between runs (other work, CPU
steal), more than a change to the hop is worth. Instructions do not: callgrind counts
them, the same for the same code whatever the load, so the code before and after a
change can be compared in one run each (`--instr-atstart=no`: only the timed loop is
counted, switched on and off here with `callgrind_control`).

What is counted, per task: `TaskRunner.run` of a parsed no-op request, from its first
state to its outcome: the recorder, the context, the held `started`, the handler, the
`succeeded` transition and its three records encoded, the outcome scope (the fence).
The publisher's write is replaced by one acknowledged at once and the journal is off:
aiokafka, the broker and the loop's turns are not the runtime's own work.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys

from mesh.observability import logs
from mesh.runtime._runner import TaskRunner
from mesh.runtime._running_task import RunningTask
from mesh.runtime.fence import EffectFence
from mesh.runtime.journal import Journal
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.transport.base import Delivery, Outgoing
from mesh.transport.memory import MemoryTransport
from schemas import Envelope, Source, encode_envelope
from schemas.envelope import new_id
from tests.bench.agents import noop
from tests.bench.hop import TEXT


class _Ends:
    def run_failed(self, running: RunningTask, exc: Exception) -> None:
        raise exc

    def run_ended(self, running: RunningTask) -> None:
        return None


def _requests(n: int) -> list[RunningTask]:
    handler = noop.handlers["bench.noop"]
    runs = []
    for i in range(n):
        task_id = new_id()
        request = Envelope(
            type="bench.noop",
            task_id=task_id,
            root_task_id=task_id,
            payload={"n": i, "text": TEXT[:40]},
        )
        raw = Delivery(
            "inbox", 0, i, task_id.encode(), encode_envelope(request), request.routing_headers(), 0
        )
        running = RunningTask(request, raw, handler)
        running.parse_input()
        running.share_parts()  # as admission does for a task it starts at once
        runs.append(running)
    return runs


def _count(on: bool) -> None:
    """Switch callgrind's counting (nothing without valgrind)."""
    command = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
    subprocess.run(command, capture_output=True, check=False)


async def run(n: int) -> None:
    settings = Settings()
    publisher = Publisher(MemoryTransport(), settings, Source(agent="noop", instance="w1"))

    async def acknowledged(records: list[Outgoing]) -> None:
        return None

    publisher.send_many = acknowledged  # type: ignore[method-assign]
    journal = Journal(publisher, "noop")
    journal.enabled = False
    runner = TaskRunner(
        noop,
        publisher,
        None,  # type: ignore[arg-type]  # no children here
        settings=settings,
        journal=journal,
        fence=EffectFence(),
        background=lambda write: None,
    )
    ends = _Ends()
    for batch, counted in ((_requests(200), False), (_requests(n), True)):  # warm-up first
        gc.collect()
        gc.disable()
        if counted:
            _count(True)
        for running in batch:
            logs._task_fields.set(())  # as in its own asyncio task: no fields of others
            await runner.run(running, ends)
        if counted:
            _count(False)
        gc.enable()
    print(f"{n} no-op task lifecycles run; callgrind's total / {n} = instructions per task")


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
