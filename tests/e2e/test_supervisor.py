"""The supervisor (`mesh supervisor run`, faust-streaming) against agents run as
`mesh run` processes on the real broker. Invariants, not timings (detection latency is
a benchmark)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from mesh import Client
from mesh.runtime.lifecycle import submit_task
from mesh.settings import Settings
from schemas import Envelope, decode_envelope
from schemas.envelope import new_id
from schemas.supervision import HEARTBEAT_WATERMARK
from schemas.tasks import TaskStatus
from tests.conftest import ROOT, settings_env
from tests.e2e import dropped_fetches
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.helpers import eventually, eventually_true, read_all

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

SLEEPER = "tests.e2e.sample_agents:sleeper"
HANGER = "tests.e2e.sample_agents:hanger"
WEDGED = "tests.e2e.sample_agents:wedged"
IMPATIENT = "tests.e2e.sample_agents:impatient"
ABSENT = "tests.e2e.sample_agents:absent"
FLAKY = "tests.e2e.sample_agents:flaky"
STEADY = "tests.e2e.sample_agents:steady"
TERMINAL = {"succeeded", "failed", "cancelled", "dead_lettered"}


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(
        update={
            "partitions": 2,
            # Not the test profile's idle fetch wait: with it, a second supervisor taking
            # over (test_a_second_supervisor_takes_over_without_acting_twice) lost track
            # of tasks in 3 of 5 runs in session 21 and 1 of 9 in session 22 (the
            # survivor saw no rebalance; not explained). Without it the test also failed
            # once in 10 runs: the survivor's faust recovery read nothing from the
            # changelogs ("No event received for active tp"): faust had dropped the
            # records it fetched (ADR 060).
            "fetch_idle_wait": None,
            "liveness_interval": 0.5,
            "supervisor_check_interval": 0.5,
            "supervision_policies": {
                "default": {"missed_beats": 3, "park_after": 1, "orphan_grace": 20},
                "hanger": {"lease": 3, "max_redispatches": 1},
                "wedged": {"lease": 2, "max_redispatches": 0, "when_exhausted": "escalate"},
                "flaky": {"min_outcomes": 4, "cooldown": 3, "fallback": "steady"},
            },
        }
    )


@pytest.fixture
def spawn(settings: Settings, tmp_path: Path) -> AsyncIterator[Callable[..., MeshProcess]]:
    started: list[MeshProcess] = []

    def start(spec: str, instance: str, env: dict[str, str] | None = None) -> MeshProcess:
        command = ["supervisor", "run"] if spec == "supervisor" else None
        process = MeshProcess(spec, settings, tmp_path, instance, env, command=command)
        started.append(process)
        return process

    yield start  # type: ignore[misc]
    for process in started:
        process.stop()


async def _events(client: Client) -> dict[str, list[dict[str, object]]]:
    by_task: dict[str, list[dict[str, object]]] = defaultdict(list)
    for record in await read_all(client.transport, [client.publisher.topics.task_events]):
        envelope = decode_envelope(record.value or b"")
        if envelope.task_id:
            by_task[envelope.task_id].append({"id": envelope.id, **envelope.payload})
    return by_task


async def _supervisor_ready(supervisor: MeshProcess) -> None:
    await eventually(
        lambda: "supervisor-1 ready" in supervisor.log() or supervisor.proc.poll() is not None,
        timeout=60,
        what="the supervisor to start",
    )
    assert supervisor.proc.poll() is None, supervisor.log()


async def test_a_hung_task_is_redispatched_and_its_late_attempt_fenced(
    spawn: Callable[..., MeshProcess], client: Client
) -> None:
    supervisor = spawn("supervisor", "supervisor-1")
    worker = spawn(HANGER, "hanger-1")
    await wait_until_split([worker], partitions={HANGER: 2})
    await _supervisor_ready(supervisor)
    task_id = await client.submit("hanger", {"label": "x"})
    state = await client.wait(task_id, timeout=60)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.attempt == 2 and state.result == {"label": "x", "attempt": 2}

    async def kinds() -> list[object]:
        return [e["kind"] for e in (await _events(client))[task_id]]

    async def fenced() -> bool:
        return "superseded" in await kinds()

    await eventually_true(fenced, timeout=10, what="the late attempt to be noted")
    history = await kinds()
    assert history.count("redispatched") == 1 and history.count("succeeded") == 1, history


async def test_a_task_stuck_too_often_is_escalated_to_a_human_who_resumes_it(
    spawn: Callable[..., MeshProcess], client: Client
) -> None:
    supervisor = spawn("supervisor", "supervisor-1")
    worker = spawn(WEDGED, "wedged-1")
    await wait_until_split([worker], partitions={WEDGED: 2})
    await _supervisor_ready(supervisor)
    task_id = await client.submit("wedged", {"label": "x"})

    def waiting() -> bool:
        state = client.view.tasks.get(task_id)
        return state is not None and state.status is TaskStatus.WAITING

    await eventually(waiting, timeout=30, what="the stuck task to wait for a human")
    question = client.view.tasks[task_id].waiting_for
    assert question and "escalate: no activity" in question, question
    await client.resume(task_id, "try again")
    state = await client.wait(task_id, timeout=30)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.result == {"label": "x", "attempt": 2, "human": "try again"}
    kinds = [e["kind"] for e in (await _events(client))[task_id]]
    assert kinds.count("redispatched") == 1 and "waiting" in kinds and "resumed" in kinds, kinds


async def test_a_child_with_no_worker_expires_at_its_deadline_and_its_parent_is_told(
    spawn: Callable[..., MeshProcess], client: Client
) -> None:
    supervisor = spawn("supervisor", "supervisor-1")
    parent = spawn(IMPATIENT, "impatient-1")
    await wait_until_split([parent], partitions={IMPATIENT: 2})
    await _supervisor_ready(supervisor)
    task_id = await client.submit("impatient", {"n": 7})
    state = await client.wait(task_id, timeout=30)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.result and "DeadlineExceeded" in str(state.result["timed_out"])
    child = str(state.result["child"])
    assert client.view.tasks[child].status is TaskStatus.SUBMITTED  # nobody ran it
    assert "expired" in [e["kind"] for e in (await _events(client))[child]]
    late = spawn(ABSENT, "absent-1")  # a worker at last: it ends the task, not runs it
    await wait_until_split([late], partitions={ABSENT: 2})
    ended = await client.wait(child, timeout=30)
    assert ended.status is TaskStatus.FAILED and ended.error, ended
    assert ended.error.type == "DeadlineExceeded"


async def test_a_killed_worker_is_detected_and_its_tasks_finish_elsewhere_once(
    spawn: Callable[..., MeshProcess], client: Client
) -> None:
    supervisor = spawn("supervisor", "supervisor-1")
    victim, survivor = spawn(SLEEPER, "sleeper-1"), spawn(SLEEPER, "sleeper-2")
    await wait_until_split([victim, survivor], partitions={SLEEPER: 2})
    await _supervisor_ready(supervisor)
    ids = [await client.submit("sleeper", {"seconds": 4.0}) for _ in range(100)]

    def running_on_victim() -> list[str]:
        states = [client.view.tasks.get(i) for i in ids]
        return [
            s.task_id
            for s in states
            if s and s.status is TaskStatus.RUNNING and s.instance == "sleeper-1"
        ]

    await eventually(lambda: len(running_on_victim()) >= 20, timeout=30, what="tasks on the victim")
    held = running_on_victim()
    victim.stop(signal.SIGKILL)
    states = [await client.wait(i, timeout=120) for i in ids]
    assert Counter(s.status for s in states) == {TaskStatus.SUCCEEDED: len(ids)}
    events = await _events(client)
    # The view lags the workers: on a busy host a task seen running may have ended on
    # the victim before the kill. Nothing of it was lost then, and nothing ran twice.
    lost = [i for i in held if client.view.tasks[i].instance == "sleeper-2"]
    assert len(lost) >= len(held) // 2, (len(lost), len(held))
    for task_id in held:
        kinds = [e["kind"] for e in events[task_id]]
        assert ("worker_lost" in kinds) == (task_id in lost), kinds
        terminal_ids = {e["id"] for e in events[task_id] if e["kind"] in TERMINAL}
        assert len(terminal_ids) == 1, events[task_id]
    # The supervisor judged silence against its watermarks, in every partition.
    beats = await read_all(client.transport, [client.publisher.topics.heartbeats])
    marks = [r for r in beats if decode_envelope(r.value or b"").type == HEARTBEAT_WATERMARK]
    assert {r.tp.partition for r in marks} == {0, 1}


async def test_tasks_of_an_agent_with_no_worker_are_parked_then_drained(
    spawn: Callable[..., MeshProcess], client: Client, settings: Settings
) -> None:
    supervisor = spawn("supervisor", "supervisor-1")
    first = spawn(SLEEPER, "sleeper-1")  # registers the agent card, then leaves
    await wait_until_split([first], partitions={SLEEPER: 2})
    await eventually(lambda: "sleeper" in client.view.agents, timeout=30, what="a card")
    assert first.stop() == 0
    await _supervisor_ready(supervisor)
    ids = [await client.submit("sleeper", {"seconds": 0.1}) for _ in range(5)]

    async def parked() -> bool:
        events = await _events(client)
        return all("parked" in [e["kind"] for e in events[i]] for i in ids)

    await eventually_true(parked, timeout=30, what="every task to be parked")
    status = await supervisor_status(settings)
    assert status["live_by_agent"].get("sleeper") == 0, status  # type: ignore[union-attr]
    assert not status["workers"], "a cleanly stopped worker leaves the status"

    async def says_why() -> bool:  # `mesh task`, as an operator runs it
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "mesh", "task", ids[0]],
            cwd=ROOT,
            env=settings_env(settings),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
        return b"held      no live worker of agent 'sleeper'" in out

    await eventually_true(says_why, timeout=30, what="mesh task to say why it waits")
    spawn(SLEEPER, "sleeper-2")
    states = [await client.wait(i, timeout=60) for i in ids]
    assert {s.status for s in states} == {TaskStatus.SUCCEEDED}


async def supervisor_status(settings: Settings) -> dict[str, object]:
    """`mesh supervisor status --json`, as an operator runs it (until a supervisor has
    published its first snapshot)."""
    snapshots: list[dict[str, object]] = []

    async def reported() -> bool:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mesh",
            "supervisor",
            "status",
            "--json",
            cwd=ROOT,
            env=settings_env(settings),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
        snapshots[:] = orjson.loads(out)
        return proc.returncode == 0

    await eventually_true(reported, timeout=30, what="a supervisor status snapshot")
    return snapshots[0]


async def test_a_second_supervisor_takes_over_without_acting_twice(
    spawn: Callable[..., MeshProcess], client: Client
) -> None:
    """Two instances split the task partitions; one is SIGKILLed as tasks hang; the
    other restores its tables from the changelogs and redispatches every hung task
    exactly once."""
    await _take_over(spawn, client)


async def test_a_takeover_heals_a_table_recovery_whose_fetch_faust_dropped(
    spawn: Callable[..., MeshProcess], client: Client, tmp_path: Path
) -> None:
    """The one failure left of the takeover, made certain (ADR 060): faust drops the
    first changelog records the survivor fetches after each recovery's seek, and its
    restore waits for them. The supervisor reads them again and takes over."""
    scratch = tmp_path / "fault"
    scratch.mkdir()
    second = await _take_over(spawn, client, dropped_fetches.environment(scratch))
    assert "test fault: dropped" in second.log()
    assert "table recovery of changelog" in second.log()


async def _take_over(
    spawn: Callable[..., MeshProcess], client: Client, survivor_env: dict[str, str] | None = None
) -> MeshProcess:
    """Two supervisors, one SIGKILLed as ten tasks hang: each is redispatched once, by
    the survivor (returned)."""
    first = spawn("supervisor", "supervisor-1")
    second = spawn("supervisor", "supervisor-2", survivor_env)
    worker = spawn(HANGER, "hanger-1")
    await wait_until_split([worker], partitions={HANGER: 2})
    await _supervisor_ready(first)
    await eventually(lambda: "supervisor-2 ready" in second.log(), timeout=60, what="2nd")
    ids = [await client.submit("hanger", {"label": str(i)}) for i in range(10)]
    first.stop(signal.SIGKILL)
    states = [await client.wait(i, timeout=120) for i in ids]
    assert {(s.status, s.attempt) for s in states} == {(TaskStatus.SUCCEEDED, 2)}
    events = await _events(client)
    for task_id in ids:
        redispatches = {e["id"] for e in events[task_id] if e["kind"] == "redispatched"}
        assert len(redispatches) == 1, events[task_id]
    return second


async def test_a_failing_agent_type_trips_its_circuit_to_the_fallback_and_recovers(
    spawn: Callable[..., MeshProcess], client: Client, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("down")
    supervisor = spawn("supervisor", "supervisor-1")
    flaky = spawn(FLAKY, "flaky-1", {"FLAKY_BROKEN": str(broken)})
    steady = spawn(STEADY, "steady-1")
    await wait_until_split([flaky, steady], partitions={FLAKY: 2, STEADY: 2})
    await _supervisor_ready(supervisor)
    failed = [await client.submit("flaky", {"n": n}) for n in range(4)]
    assert {(await client.wait(i, timeout=30)).status for i in failed} == {TaskStatus.DEAD_LETTERED}
    await eventually(lambda: "circuit of 'flaky' is open" in flaky.log(), timeout=30, what="open")
    rerouted = [await client.submit("flaky", {"n": n}) for n in range(4, 7)]
    states = [await client.wait(i, timeout=30) for i in rerouted]
    assert [s.result for s in states] == [{"n": n, "by": "steady"} for n in range(4, 7)]
    assert {s.agent for s in states} == {"steady"}

    broken.unlink()  # the dependency is back; after the cooldown one probe runs
    await eventually(
        lambda: "circuit of 'flaky' is half_open" in flaky.log(), timeout=30, what="half-open"
    )
    probe = await client.submit("flaky", {"n": 7})
    assert (await client.wait(probe, timeout=30)).result == {"n": 7, "by": "flaky"}
    await eventually(
        lambda: flaky.log().count("circuit of 'flaky' is closed") >= 1, timeout=30, what="closed"
    )
    after = await client.wait(await client.submit("flaky", {"n": 8}), timeout=30)
    assert after.result == {"n": 8, "by": "flaky"}
    events = await _events(client)
    assert all("rerouted" in [e["kind"] for e in events[i]] for i in rerouted)


async def test_a_burst_of_invalid_tasks_never_opens_the_circuit(
    spawn: Callable[..., MeshProcess], client: Client
) -> None:
    """Invalid input is the sender's fault: 1,000 tasks that fail their schema are
    dead-lettered without counting against the agent type's health, so valid tasks
    behind them run (before, the circuit opened and its probes were invalid tasks)."""
    supervisor = spawn("supervisor", "supervisor-1")
    steady = spawn(STEADY, "steady-1")
    await wait_until_split([steady], partitions={STEADY: 2})
    await _supervisor_ready(supervisor)
    topics = client.publisher.topics
    invalid = []
    for n in range(1000):  # a sender that skips validation: `n` must be an integer
        task_id = new_id()
        invalid.append(task_id)
        request = Envelope(
            type="e2e.job", task_id=task_id, root_task_id=task_id, payload={"n": f"x{n}"}
        )
        await submit_task(client.publisher, request, "steady")
    valid = [await client.submit("steady", {"n": n}) for n in range(5)]
    states = [await client.wait(task_id, timeout=60) for task_id in valid]
    assert [s.result for s in states] == [{"n": n, "by": "steady"} for n in range(5)]
    last = await client.wait(invalid[-1], timeout=60)
    assert last.status is TaskStatus.DEAD_LETTERED
    assert last.error is not None and last.error.type == "InvalidInput"
    circuits = await read_all(client.transport, [topics.circuits])
    assert not [r for r in circuits if r.key == b"steady"], "the circuit of steady changed"
    assert "circuit of 'steady'" not in steady.log()
