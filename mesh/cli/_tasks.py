"""`mesh submit|tasks|task|steer|resume|cancel|publish`: work with tasks and events."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from mesh.cli._follow import follow_task, token_feed
from mesh.cli._usage import usage_table
from mesh.cli.support import invocation, parse_json_object, with_client
from mesh.client import Client
from mesh.errors import TaskEnded, UsageError
from mesh.models.accounting import tree_usage
from schemas.envelope import Budget
from schemas.tasks import ModelUsage, TaskState, TaskStatus


async def cmd_submit(args: argparse.Namespace) -> int:
    payload = parse_json_object(args.input, "task input")
    options = {"idempotency_key": args.idempotency_key, "budget": budget_option(args)}

    async def submit(client: Client) -> int:
        if args.follow:
            async with token_feed(client) as feed:  # before the task: none of its tokens missed
                task_id = await client.submit(args.agent, payload, **options)
                print(task_id, flush=True)
                ended = await follow_task(client, task_id, feed=feed, header=False)
            return 0 if ended.status is TaskStatus.SUCCEEDED else 1
        task_id = await client.submit(args.agent, payload, **options)
        print(task_id, flush=True)
        if args.wait:
            state = await client.wait(task_id, timeout=args.wait)
            print_task(state, client)
            return 0 if state.status is TaskStatus.SUCCEEDED else 1
        return 0

    return await with_client(args, submit)


def budget_option(args: argparse.Namespace) -> Budget | None:
    """`--budget-usd` / `--budget-tokens` as a `Budget` (ADR 025); None when neither."""
    for flag, value in (("--budget-usd", args.budget_usd), ("--budget-tokens", args.budget_tokens)):
        if value is not None and value <= 0:
            raise UsageError(f"{flag} must be > 0, got {value:g}")
    if args.budget_usd is None and args.budget_tokens is None:
        return None
    return Budget(usd=args.budget_usd, tokens=args.budget_tokens)


def budget_line(budget: Budget, spent: list[ModelUsage]) -> str:
    """`budget    $0.5000, 20000 tokens for the tree; spent $0.0002, 150 tokens`."""
    usd = sum(line.cost_usd for line in spent)
    tokens = sum(line.input_tokens + line.output_tokens for line in spent)
    limit = [f"${budget.usd:.4f}"] if budget.usd is not None else []
    limit += [f"{budget.tokens} tokens"] if budget.tokens is not None else []
    return f"budget    {', '.join(limit)} for the tree; spent ${usd:.4f}, {tokens} tokens"


async def cmd_tasks(args: argparse.Namespace) -> int:
    async def list_tasks(client: Client) -> int:
        status = TaskStatus(args.status) if args.status else None
        tasks = await client.list(
            status=status, agent=args.agent, correlation=args.correlation, limit=args.limit
        )
        if args.json:
            print(orjson.dumps([t.model_dump(mode="json") for t in tasks]).decode())
            return 0
        print(f"{'TASK':32}  {'AGENT':12}  {'STATUS':13}  {'CREATED':19}  CHILDREN")
        for t in tasks:
            created = t.created_at.strftime("%Y-%m-%d %H:%M:%S")
            print(f"{t.task_id:32}  {t.agent:12}  {t.status:13}  {created}  {len(t.children)}")
        return 0

    return await with_client(args, list_tasks)


async def cmd_task(args: argparse.Namespace) -> int:
    async def show(client: Client) -> int:
        if args.follow:
            ended = await follow_task(client, args.task_id)
            return 0 if ended.status is TaskStatus.SUCCEEDED else 1
        state = await client.get(args.task_id)
        if args.json:
            print(orjson.dumps(state.model_dump(mode="json")).decode())
        else:
            print_task(state, client)
        return 0

    return await with_client(args, show)


def print_task(state: TaskState, client: Client) -> None:
    print(f"task      {state.task_id}")
    print(f"agent     {state.agent} ({state.type})")
    print(f"status    {state.status}")
    if state.approval is not None:  # ADR 027
        expires = f"{state.approval.expires_at:%Y-%m-%d %H:%M:%S}"
        answer = f"mesh approvals approve|reject {state.task_id}"
        print(f"waiting   for approval: {state.approval.subject}, expires {expires} ({answer})")
    elif state.waiting_for:
        answer = f"mesh resume {state.task_id} TEXT"
        print(f"waiting   for a human: {state.waiting_for}  (answer: {answer})")
    if state.held:
        print(f"held      {state.held}")
    print(f"parent    {state.parent_task_id or '-'}   root {state.root_task_id}")
    if state.trace_id:
        print(f"trace     {state.trace_id}")
    print(f"input     {orjson.dumps(state.input).decode()}")
    for entry in state.progress:
        print(f"progress  {entry.at:%H:%M:%S} {entry.message} {orjson.dumps(entry.data).decode()}")
    for child_id in state.children:
        child = client.view.tasks.get(child_id)
        detail = f"{child.agent:10} {child.status}" if child else "(not seen yet)"
        print(f"child     {child_id}  {detail}")
    for line in usage_table(state.usage, tree_usage(client.view.tasks, state.task_id)):
        print(line)
    if state.budget is not None:
        root = state.root_task_id or state.task_id
        print(budget_line(state.budget, tree_usage(client.view.tasks, root)))
    if state.result is not None:
        print(f"result    {orjson.dumps(state.result).decode()}")
    if state.error is not None:
        print(f"error     {state.error.type}: {state.error.message}")


async def not_ended(client: Client, task_id: str, action: str) -> TaskState:
    """The task's state, unless it has ended: then there is nothing to `action` (as
    the gateway's 409)."""
    state = await client.get(task_id)
    if state.status.is_terminal:
        raise TaskEnded(f"task {task_id} has already ended ({state.status}): nothing to {action}")
    return state


async def cmd_steer(args: argparse.Namespace) -> int:
    async def steer(client: Client) -> int:
        state = await not_ended(client, args.task_id, "steer")
        await client.steer(args.task_id, args.text)
        print(f"sent to task {args.task_id} ({state.agent}, {state.status})")
        return 0

    return await with_client(args, steer)


async def cmd_resume(args: argparse.Namespace) -> int:
    async def resume(client: Client) -> int:
        await client.resume(args.task_id, args.text)
        return 0

    return await with_client(args, resume)


async def cmd_cancel(args: argparse.Namespace) -> int:
    async def cancel(client: Client) -> int:
        state = await not_ended(client, args.task_id, "cancel")
        await client.cancel(args.task_id, args.reason)
        print(f"cancelling task {args.task_id} ({state.agent}) and its children")
        return 0

    return await with_client(args, cancel)


async def cmd_publish(args: argparse.Namespace) -> int:
    payload = parse_json_object(args.payload, "event payload")
    key = args.key or next(
        (str(v) for k, v in payload.items() if k.endswith("_id") and isinstance(v, str)), None
    )
    if key is None:
        raise UsageError("give --key: the payload has no '<entity>_id' field to key the event by")

    async def publish(client: Client) -> int:
        event_id = await client.publish_raw(args.type, payload, key=key, version=args.version)
        print(event_id)
        # On stderr, so `id=$(mesh publish ...)` still captures the id alone.
        hint = f"{invocation()} tasks --correlation {event_id}"
        print(f"the tasks it starts: {hint}", file=sys.stderr)
        return 0

    return await with_client(args, publish)


# -- parsers -------------------------------------------------------------------------


def add_task_parsers(sub: Any) -> None:
    """`submit`, `tasks`, `task`, `steer`, `resume` and `cancel`."""
    submit = sub.add_parser("submit", help="submit a task; prints its id at once")
    submit.add_argument("agent")
    submit.add_argument("input", help="the task input as a JSON object")
    submit.add_argument("--idempotency-key")
    submit.add_argument("--budget-usd", type=float, help="what its model calls may cost (USD)")
    submit.add_argument("--budget-tokens", type=int, help="the model tokens it may use")
    submit.add_argument("--wait", type=float, metavar="SECONDS", help="wait for the outcome")
    submit.add_argument(
        "--follow",
        action="store_true",
        help="then print its events and streamed tokens until it ends (exit 1 unless it succeeds)",
    )
    submit.set_defaults(handler=cmd_submit)

    tasks = sub.add_parser("tasks", help="list tasks, newest first")
    tasks.add_argument("--status", choices=[s.value for s in TaskStatus])
    tasks.add_argument("--agent")
    tasks.add_argument(
        "--correlation", metavar="ID", help="the tasks an event started (its id, as published)"
    )
    tasks.add_argument("--limit", type=int, default=50)
    tasks.add_argument("--json", action="store_true")
    tasks.set_defaults(handler=cmd_tasks)

    task = sub.add_parser("task", help="show one task: status, progress, children, result")
    task.add_argument("task_id")
    task.add_argument("--json", action="store_true")
    task.add_argument(
        "--follow",
        action="store_true",
        help="print its events and its model's streamed tokens as they come, until it "
        "ends (exit 1 unless it succeeded)",
    )
    task.set_defaults(handler=cmd_task)
    _add_control_parsers(sub)


def _add_control_parsers(sub: Any) -> None:
    steer = sub.add_parser(
        "steer", help="send a follow-up instruction to a running task (exit 1 if it has ended)"
    )
    steer.add_argument("task_id")
    steer.add_argument("text")
    steer.set_defaults(handler=cmd_steer)

    resume = sub.add_parser("resume", help="answer a task that waits for a human")
    resume.add_argument("task_id")
    resume.add_argument("text", help="the answer; the task's handler receives it")
    resume.set_defaults(handler=cmd_resume)

    cancel = sub.add_parser(
        "cancel", help="cancel a task and its children (exit 1 if it has ended)"
    )
    cancel.add_argument("task_id")
    cancel.add_argument("--reason", default="cancelled from the CLI")
    cancel.set_defaults(handler=cmd_cancel)


def add_event_parsers(sub: Any) -> None:
    """`publish`."""
    publish = sub.add_parser("publish", help="publish a domain event (validated)")
    publish.add_argument("type", help="event type, e.g. support.ticket.created")
    publish.add_argument("payload", help="the event payload as a JSON object")
    publish.add_argument("--key", help="entity id to key by (default: the first *_id field)")
    publish.add_argument("--version", type=int, help="schema version (default: newest)")
    publish.set_defaults(handler=cmd_publish)
