"""Recovery after SIGKILL: a worker process holding in-flight tasks is killed; how long
until every one of its tasks has completed on the other worker?

Two `mesh run` processes of the sleeper agent share 4 partitions; 100 tasks of
TASK_SECONDS each are spread over both; once all are running, one process is
SIGKILLed. Recovery is the time from the kill until the last of its tasks succeeded
elsewhere; failover is that minus one task's duration (the re-run itself). The group
only re-assigns after the session timeout, so the target is `session_timeout + 2 s`
of failover (reported as a ratio; Tansu adds a join pause of half a session).
"""

from __future__ import annotations

import signal
import statistics
import tempfile
import time
from pathlib import Path

from mesh.client import Client
from mesh.settings import Settings
from mesh.transport.kafka.adapter import KafkaTransport
from schemas.tasks import TaskStatus
from tests.bench.common import Options, Report, until
from tests.e2e.processes import MeshProcess, wait_until_split

SLEEPER = "tests.e2e.sample_agents:sleeper"
TASKS = 100
TASK_SECONDS = 3.0


async def run(settings: Settings, options: Options) -> Report:
    report = Report("recovery")
    trials = 1 if options.quick else 3
    failovers = []
    for trial in range(trials):
        trial_settings = settings.model_copy(
            update={"namespace": f"{settings.namespace}-{trial}", "partitions": 4}
        )
        failovers.append(await _trial(trial_settings))
    target = settings.session_timeout + 2.0
    median = statistics.median(failover for failover, _ in failovers)
    report.add("trials", trials)
    report.add("tasks_held_by_victim", failovers[-1][1], "in flight at the kill (last trial)")
    report.add("recovery_s_median", median + TASK_SECONDS, "kill -> its last task done elsewhere")
    report.add("failover_s_median", median, f"recovery minus the {TASK_SECONDS:g} s re-run")
    report.add("failover_s_worst", max(failover for failover, _ in failovers))
    report.add(
        "ratio_to_target",
        median / target,
        f"failover / (session {settings.session_timeout:g} s + 2 s); target <= 1",
    )
    return report


async def _trial(settings: Settings) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as logs:
        processes = [MeshProcess(SLEEPER, settings, Path(logs), f"sleeper-{i}") for i in (0, 1)]
        try:
            await wait_until_split(processes, partitions={SLEEPER: 4})
            async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
                await until(lambda: "sleeper" in client.view.agents, timeout=30, what="a card")
                ids = [
                    await client.submit("sleeper", {"seconds": TASK_SECONDS}) for _ in range(TASKS)
                ]

                def running() -> bool:
                    states = [client.view.tasks.get(i) for i in ids]
                    return all(s is not None and s.status is TaskStatus.RUNNING for s in states)

                await until(running, timeout=30, what="every task running")
                victim = processes[0]
                held = [i for i in ids if client.view.tasks[i].instance == victim.instance]
                killed = time.perf_counter()
                victim.stop(signal.SIGKILL)

                def recovered() -> bool:
                    states = [client.view.tasks.get(i) for i in held]
                    return all(s is not None and s.status is TaskStatus.SUCCEEDED for s in states)

                done = await until(recovered, timeout=120, what="the victim's tasks elsewhere")
                return done - killed - TASK_SECONDS, len(held)
        finally:
            for process in processes:
                process.stop()
