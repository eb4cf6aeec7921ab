"""`WorkerGroup`: the workers of several agent types in one process (`mesh run a b`).

Each agent type keeps its own `Worker` and so its own consumer group: the types scale
and rebalance independently, as when each runs in its own process. What the process
shares: the transport (one producer), the metrics and probes server, the signal
handler, `ControlTopics`, one consumer for the small control topics (circuits,
pause switches) of all its workers, where each worker would follow them on its own
(ADR 052), and `LivenessTicks`, one liveness tick for the heartbeats of all its
workers, each beat still its worker's own (ADR 054). One agent type runs exactly as
before: one worker, its own control reader and ticks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from mesh.agent import Agent
from mesh.errors import UsageError
from mesh.observability.logs import service_log_context
from mesh.runtime._liveness import LivenessTicks
from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.transport.base import Transport
from mesh.views.follower import SharedFollowers, TopicFollower


class ControlTopics:
    """The circuit and pause followers of a process's workers, read through one consumer.

    Each worker joins once its topics exist (its start-up creates them); the last to
    join starts the consumer, the others wait for it (or for their stop). The group
    stops it once every worker has stopped.
    """

    def __init__(self, transport: Transport, *, workers: int) -> None:
        self._transport = transport
        self._expected = workers
        self._followers: list[TopicFollower] = []
        self._joined = 0
        self._started = asyncio.Event()
        self._reader: SharedFollowers | None = None

    async def join(self, followers: Sequence[TopicFollower], stopping: asyncio.Event) -> bool:
        """Add a worker's followers; True once they are read, False if it stops first."""
        self._followers += followers
        self._joined += 1
        if self._joined == self._expected:
            self._reader = SharedFollowers(self._transport, self._followers, name="control")
            await self._reader.start()
            self._started.set()
            return True
        started = asyncio.ensure_future(self._started.wait())
        stopped = asyncio.ensure_future(stopping.wait())
        await asyncio.wait((started, stopped), return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        stopped.cancel()
        return self._started.is_set()

    async def stop(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.stop()


class WorkerGroup:
    """One worker per agent type, run, drained and probed together."""

    def __init__(
        self, agents: Sequence[Agent], *, transport: Transport, settings: Settings
    ) -> None:
        names = [agent.name for agent in agents]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise UsageError(f"agent {', '.join(map(repr, twice))} given twice: give each once")
        several = len(agents) > 1
        self.control = ControlTopics(transport, workers=len(agents)) if several else None
        self.liveness = LivenessTicks(settings.liveness_interval) if several else None
        self.workers = [
            Worker(
                agent,
                transport=transport,
                settings=settings,
                control=self.control.join if self.control else None,
                liveness=self.liveness,
            )
            for agent in agents
        ]

    def inflight(self) -> int:
        """Tasks accepted here, of every type (the pod-deletion cost, ADR 038)."""
        return sum(len(worker.running) for worker in self.workers)

    def not_ready_reason(self) -> str | None:
        """Ready when every worker is; otherwise why the first that is not is not."""
        for worker in self.workers:
            if (reason := worker.health.not_ready_reason()) is not None:
                one = len(self.workers) == 1
                return reason if one else f"worker of {worker.agent.name!r}: {reason}"
        return None

    def request_stop(self) -> None:
        for worker in self.workers:
            worker.request_stop()

    async def run(self) -> None:
        """Run every worker until `request_stop`; when one fails, the others drain
        (as on a stop) before its failure is raised."""
        runs = [
            asyncio.create_task(
                _run_logged_as_its_agent(worker), name=f"worker-{worker.agent.name}"
            )
            for worker in self.workers
        ]
        if self.liveness is not None:  # ticks until the last worker has stopped
            workers_stopped = _all_ended(runs)
            runs.append(asyncio.create_task(self.liveness.run(workers_stopped)))
        try:
            await asyncio.wait(runs, return_when=asyncio.FIRST_EXCEPTION)
            self.request_stop()
            outcomes = await asyncio.gather(*runs, return_exceptions=True)
        finally:
            for run in runs:
                run.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*runs, return_exceptions=True)
            if self.control is not None:
                await self.control.stop()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome


def _all_ended(runs: list[asyncio.Task[None]]) -> asyncio.Event:
    """An event set once every run in `runs` (as it is now) has ended."""
    all_ended, left = asyncio.Event(), set(runs)

    def ended(run: asyncio.Task[None]) -> None:
        left.discard(run)
        if not left:
            all_ended.set()

    for run in runs:
        run.add_done_callback(ended)
    return all_ended


async def _run_logged_as_its_agent(worker: Worker) -> None:
    """`worker.run()`, its records (and its tasks') naming its agent type, not the
    process's list of them."""
    with service_log_context(worker.agent.name):
        await worker.run()
