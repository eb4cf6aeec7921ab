"""The runtime with agents as separate `mesh run` processes on the real broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh import Client
from mesh.settings import Settings
from schemas.tasks import TaskStatus
from tests.conftest import ROOT, settings_env
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.helpers import eventually, most_at_once, running_intervals

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

SLEEPER = "tests.e2e.sample_agents:sleeper"
FANOUT = "tests.e2e.sample_agents:fanout"


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 1, "max_inflight": 500})


@pytest.fixture
def spawn(settings: Settings, tmp_path: Path) -> Iterator[object]:
    started: list[MeshProcess] = []

    def start(spec: str, instance: str, **overrides: object) -> MeshProcess:
        process = MeshProcess(spec, settings.model_copy(update=overrides), tmp_path, instance)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


async def test_fan_out_runs_children_in_parallel(spawn, client: Client) -> None:  # type: ignore[no-untyped-def]
    processes = [spawn(FANOUT, "fanout-1"), spawn(SLEEPER, "sleeper-1")]
    await wait_until_split(processes, partitions={FANOUT: 1, SLEEPER: 1})
    task_id = await client.submit("fanout", {"children": 10, "seconds": 2.0})
    state = await client.wait(task_id, timeout=30)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert sorted(state.result["labels"], key=int) == [str(i) for i in range(10)]  # type: ignore[index]
    children = [await client.get(child) for child in state.children]
    assert len(children) == 10
    peak = most_at_once(children)
    assert peak == 10, f"at most {peak} at once: {running_intervals(children)}"


async def test_long_task_does_not_delay_short_tasks_on_its_partition(spawn, client: Client) -> None:  # type: ignore[no-untyped-def]
    process = spawn(SLEEPER, "sleeper-1")
    await wait_until_split([process], partitions={SLEEPER: 1})
    long_id = await client.submit("sleeper", {"seconds": 30.0, "label": "long"})
    await eventually(
        lambda: (
            long_id in client.view.tasks and client.view.tasks[long_id].status is TaskStatus.RUNNING
        ),
        timeout=10,
        what="the long task to run",
    )
    short_ids = [
        await client.submit("sleeper", {"seconds": 0.0, "label": str(i)}) for i in range(100)
    ]
    for task_id in short_ids:
        assert (await client.wait(task_id, timeout=30)).status is TaskStatus.SUCCEEDED
    long_state = await client.get(long_id)
    assert long_state.status is TaskStatus.RUNNING, "the short tasks waited for the long one"
    await client.cancel(long_id)
    assert (await client.wait(long_id, timeout=10)).status is TaskStatus.CANCELLED


async def test_steering_and_cancel_reach_a_running_task(spawn, client: Client) -> None:  # type: ignore[no-untyped-def]
    processes = [spawn(FANOUT, "fanout-1"), spawn(SLEEPER, "sleeper-1")]
    await wait_until_split(processes, partitions={FANOUT: 1, SLEEPER: 1})
    steered = await client.submit("sleeper", {"seconds": 60, "wait_for_steer": True})
    await eventually(
        lambda: bool(client.view.tasks[steered].progress), timeout=15, what="the task to start"
    )
    await client.steer(steered, "use a friendlier tone")
    state = await client.wait(steered, timeout=15)
    assert state.result == {"label": "", "steered": "use a friendlier tone"}

    parent = await client.submit("fanout", {"children": 3, "seconds": 60})
    await eventually(
        lambda: (
            len(client.view.tasks[parent].children) == 3
            and all(
                client.view.tasks.get(c) is not None
                and client.view.tasks[c].status is TaskStatus.RUNNING
                for c in client.view.tasks[parent].children
            )
        ),
        timeout=20,
        what="three running children",
    )
    await client.cancel(parent)
    assert (await client.wait(parent, timeout=15)).status is TaskStatus.CANCELLED
    for child in client.view.tasks[parent].children:
        assert (await client.wait(child, timeout=15)).status is TaskStatus.CANCELLED


async def test_second_worker_takes_over_the_partitions_of_a_stopped_one(  # type: ignore[no-untyped-def]
    spawn, client: Client, settings: Settings
) -> None:
    first = spawn(SLEEPER, "sleeper-a", partitions=4)
    second = spawn(SLEEPER, "sleeper-b", partitions=4)
    await wait_until_split([first, second], partitions={SLEEPER: 4})

    async def handled_by() -> set[str]:
        ids = [await client.submit("sleeper", {"seconds": 0}) for _ in range(40)]
        return {(await client.wait(i, timeout=60)).instance for i in ids}

    assert await handled_by() == {"sleeper-a", "sleeper-b"}
    assert second.stop() == 0, second.log()
    await eventually(lambda: first.assigned_counts()[-1] == 4, timeout=30, what="a takeover")
    assert await handled_by() == {"sleeper-a"}


async def test_cli_submit_to_an_unknown_agent_fails_in_one_line(
    client: Client, settings: Settings
) -> None:
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mesh", "submit", "nobody", "{}"],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("mesh: unknown agent 'nobody'")
    assert run.stderr.count("\n") == 1
