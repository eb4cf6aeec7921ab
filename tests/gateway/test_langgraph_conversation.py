"""How a thread reads from its run records and their tasks (no broker): run and thread
statuses, the messages, interrupts, and a run's input as the agent's task input."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mesh.gateway.langgraph._conversation import conversation
from mesh.gateway.langgraph._run_queue import task_input
from mesh.topics import Topics
from mesh.transport.memory import MemoryTransport
from mesh.views.tasks import TaskView
from schemas.langgraph import RunRecord, ThreadRecord
from schemas.tasks import DEADLINE_EXCEEDED, AgentCard, TaskError, TaskState, TaskStatus

T0 = datetime(2026, 11, 29, 12, 0, 0)
THREAD = ThreadRecord(thread_id="t", created_at=T0, updated_at=T0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(run_id: str, second: float, text: str = "", **fields: Any) -> RunRecord:
    messages = [{"role": "user", "content": text}] if text else []
    return RunRecord(
        run_id=run_id,
        thread_id="t",
        assistant_id="echo",
        created_at=at(second),
        input={"messages": messages},
        **fields,
    )


def tasks(*states: tuple[str, TaskStatus, dict[str, Any]]) -> TaskView:
    view = TaskView(MemoryTransport(), Topics())
    for run_id, status, given in states:
        fields = dict(given)
        task_id = f"task-{run_id}"
        view.apply_state(
            TaskState(
                task_id=task_id,
                agent="echo",
                type="gateway_test.prompt",
                status=status,
                idempotency_key=run_id,
                created_at=T0,
                updated_at=fields.pop("updated_at", T0),
                **fields,
            )
        )
    return view


def test_a_succeeded_run_ends_the_thread_with_its_answer() -> None:
    view = tasks(("r1", TaskStatus.SUCCEEDED, {"result": {"text": "echo: hi"}}))
    now = conversation(THREAD, [run("r1", 1, "hi")], view)
    assert [r.status for r in now.runs] == ["success"] and now.status == "idle"
    assert now.values == {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "echo: hi", "id": "task-r1-answer"},
        ]
    }


def test_queued_running_failed_and_cancelled_runs() -> None:
    view = tasks(
        ("r1", TaskStatus.FAILED, {"error": TaskError(type="RuntimeError", message="no")}),
        ("r2", TaskStatus.CANCELLED, {}),
        ("r3", TaskStatus.RUNNING, {}),
    )
    records = [run("r1", 1, "a"), run("r2", 2, "b"), run("r3", 3, "c"), run("r4", 4, "d")]
    now = conversation(THREAD, records, view)
    assert [r.status for r in now.runs] == ["error", "interrupted", "running", "pending"]
    assert now.status == "busy"
    # The queued run's message is not history yet; the others' are.
    assert [m["content"] for m in now.messages] == ["a", "b", "c"]
    assert now.history_before("r4") == now.messages
    deadline = TaskError(type=DEADLINE_EXCEEDED, message="past its deadline")
    late = tasks(("r1", TaskStatus.FAILED, {"error": deadline}))
    timed_out = conversation(THREAD, [run("r1", 1, "a")], late)
    assert timed_out.runs[0].status == "timeout" and timed_out.status == "error"
    cancelled_in_queue = run("r4", 4, "d", cancel_requested=True)
    finished = tasks(("r1", TaskStatus.FAILED, {}))
    assert conversation(THREAD, [run("r1", 1), cancelled_in_queue], finished).status == "idle"
    assert conversation(THREAD, [run("r1", 1)], finished).status == "error"


def test_a_question_for_a_human_interrupts_the_thread_until_a_run_resumes_it() -> None:
    asked_at = at(5)
    waiting = {"waiting_for": "approve?", "updated_at": asked_at}
    view = tasks(("r1", TaskStatus.WAITING, waiting))
    now = conversation(THREAD, [run("r1", 1, "deploy")], view)
    assert now.runs[0].status == "success" and now.status == "interrupted"
    [(task_id, [interrupt])] = now.interrupts.items()
    assert task_id == "task-r1" and interrupt["value"] == "approve?"

    resume = run("r2", 6, resumes_task_id="task-r1", resumes_waiting_since=asked_at)
    view = tasks(("r1", TaskStatus.WAITING, waiting))
    now = conversation(THREAD, [run("r1", 1, "deploy"), resume], view)
    assert [r.status for r in now.runs] == ["success", "pending"] and now.status == "busy"

    view = tasks(("r1", TaskStatus.SUCCEEDED, {"result": {"text": "done"}, "updated_at": at(7)}))
    now = conversation(THREAD, [run("r1", 1, "deploy"), resume], view)
    assert [r.status for r in now.runs] == ["success", "success"] and now.status == "idle"
    assert [m["content"] for m in now.messages] == ["deploy", "done"]  # the answer once


def card(schema: dict[str, Any]) -> AgentCard:
    return AgentCard(name="a", task_type="x", input_schema=schema, updated_at=T0)


def test_a_runs_input_becomes_the_agents_task_input() -> None:
    history = [{"role": "user", "content": "before"}]
    new = {"messages": [{"role": "user", "content": "now"}], "seconds": 2}
    takes_messages = card({"properties": {"messages": {}, "seconds": {}}})
    assert task_input(takes_messages, history, new) == {
        "messages": [*history, *new["messages"]],
        "seconds": 2,
    }
    takes_a_query = card(
        {"properties": {"query": {"type": "string"}, "limit": {}}, "required": ["query"]}
    )
    assert task_input(takes_a_query, history, {"messages": new["messages"]}) == {"query": "now"}
    assert task_input(takes_a_query, [], {"query": "given", "limit": 1}) == {
        "query": "given",
        "limit": 1,
    }


def test_a_thread_has_ended_before_a_moment_only_with_no_run_in_flight() -> None:
    done = tasks(("r1", TaskStatus.SUCCEEDED, {"updated_at": at(10)}))
    ended = conversation(THREAD, [run("r1", 1, "a")], done)
    assert ended.ended_before(at(10)) and not ended.ended_before(at(9))
    running = conversation(THREAD, [run("r1", 1, "a")], tasks(("r1", TaskStatus.RUNNING, {})))
    assert not running.ended_before(at(100))
    assert not conversation(THREAD, [], done).ended_before(at(100))  # no run yet
