"""The `mesh` command line: run agents, follow tasks, replay dead letters, run the dev mesh.

Every command reads `MESH_*` settings; a bad setting or input ends the command
with a one-line message on stderr and exit status 2 (1 for runtime failures).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

import orjson

from mesh.cli.dlq import add_dlq_parser
from mesh.cli.supervisor import add_supervisor_parser
from mesh.cli.support import (
    choose_broker,
    invocation,
    load_agent,
    parse_json_object,
    started_transport,
    with_client,
)
from mesh.client import Client
from mesh.dev.env_file import DEV_ENV
from mesh.errors import DeadLetterError, MeshError, TaskEnded, UnknownAgent, UsageError
from mesh.settings import load_settings
from schemas.tasks import TaskState, TaskStatus

REFERENCE_AGENTS = ("agents.triage:agent", "agents.knowledge:agent", "agents.orders:agent")


# -- commands ------------------------------------------------------------------------


async def cmd_run(args: argparse.Namespace) -> int:
    from mesh.observability.logs import configure_logging
    from mesh.observability.metrics_server import serve_metrics
    from mesh.observability.tracing import configure_tracing, shutdown_tracing
    from mesh.runtime.gc_tuning import tune_for_service
    from mesh.runtime.worker import Worker
    from mesh.transport.factory import connect

    agent = load_agent(args.spec)
    settings = load_settings()
    configure_logging(settings, name=agent.name)
    configure_tracing(settings, agent.name)
    serve_metrics(settings, f"mesh run {agent.name}")
    transport = await started_transport(connect(settings), settings, args)
    worker = Worker(agent, transport=transport, settings=settings)
    tune_for_service(settings.gc_gen0_threshold)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.request_stop)
    try:
        await worker.run()
    finally:
        await transport.stop()
        shutdown_tracing()  # flushes the spans not yet exported
    return 0


async def cmd_submit(args: argparse.Namespace) -> int:
    payload = parse_json_object(args.input, "task input")

    async def submit(client: Client) -> int:
        task_id = await client.submit(args.agent, payload, idempotency_key=args.idempotency_key)
        print(task_id, flush=True)
        if args.wait:
            state = await client.wait(task_id, timeout=args.wait)
            print_task(state, client)
            return 0 if state.status is TaskStatus.SUCCEEDED else 1
        return 0

    return await with_client(args, submit)


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
    if state.waiting_for:
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


async def cmd_agents(args: argparse.Namespace) -> int:
    async def list_agents(client: Client) -> int:
        for card in client.agents():
            takes = f"{card.task_type} v{card.task_version}" if card.task_type else "-"
            events = ", ".join(card.events) or "-"
            print(f"{card.name:12}  tasks: {takes:24}  events: {events}")
        return 0

    return await with_client(args, list_agents)


async def cmd_broker(args: argparse.Namespace) -> int:
    from mesh.dev.broker import EmbeddedBroker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with EmbeddedBroker(port=args.port) as broker:
        print(f"broker serving at {broker.bootstrap_servers} (log: {broker.log_path})", flush=True)
        print(f"export MESH_BOOTSTRAP_SERVERS={broker.bootstrap_servers}", flush=True)
        await stop.wait()
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from mesh.dev.devserver import main_dev

    specs = [*(args.agents or REFERENCE_AGENTS), *args.extra_agents]
    return main_dev(
        agents=list(dict.fromkeys(specs)),  # each once, in the order given
        bootstrap_servers=os.environ.get("MESH_BOOTSTRAP_SERVERS") or None,
        supervisor=not args.no_supervisor,
        gateway=not args.no_gateway,
    )


def cmd_gateway(args: argparse.Namespace) -> int:
    from mesh.gateway import app

    app.run()
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from schemas import snapshots

    if args.action == "export":
        for path in snapshots.export():
            print(path)
        return 0
    problems = snapshots.check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            "run `mesh schemas export` for additive changes; a breaking change needs a "
            "new version and an upcaster",
            file=sys.stderr,
        )
    return 1 if problems else 0


# -- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesh",
        description=__doc__.splitlines()[0],
        epilog=f"Settings are MESH_* environment variables (mesh/settings.py). With no "
        f"MESH_BOOTSTRAP_SERVERS, commands use the dev mesh that `mesh dev` (`make dev`) "
        f"runs from this directory or one above: it writes its broker address and settings "
        f"to {DEV_ENV}, and each command says on stderr when it uses them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one agent type as a service")
    run.add_argument("spec", help="module:attribute of the Agent, e.g. agents.triage:agent")
    run.set_defaults(handler=cmd_run)

    submit = sub.add_parser("submit", help="submit a task; prints its id at once")
    submit.add_argument("agent")
    submit.add_argument("input", help="the task input as a JSON object")
    submit.add_argument("--idempotency-key")
    submit.add_argument("--wait", type=float, metavar="SECONDS", help="wait for the outcome")
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
    task.set_defaults(handler=cmd_task)

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

    publish = sub.add_parser("publish", help="publish a domain event (validated)")
    publish.add_argument("type", help="event type, e.g. support.ticket.created")
    publish.add_argument("payload", help="the event payload as a JSON object")
    publish.add_argument("--key", help="entity id to key by (default: the first *_id field)")
    publish.add_argument("--version", type=int, help="schema version (default: newest)")
    publish.set_defaults(handler=cmd_publish)

    sub.add_parser("agents", help="list registered agent types").set_defaults(handler=cmd_agents)

    broker = sub.add_parser("broker", help="run the embedded broker in the foreground")
    broker.add_argument("--port", type=int)
    broker.set_defaults(handler=cmd_broker, connects=False)

    dev = sub.add_parser(
        "dev",
        help="broker, reference agents, supervisor and gateway, until Ctrl-C",
        description=f"Run a dev mesh until Ctrl-C and write {DEV_ENV}, through which "
        "`mesh` commands in this directory find it.",
    )
    dev.add_argument(
        "agents", nargs="*", help=f"agent specs to run instead of {', '.join(REFERENCE_AGENTS)}"
    )
    dev.add_argument(
        "--agent",
        dest="extra_agents",
        action="append",
        default=[],
        metavar="SPEC",
        help="run this agent too, e.g. examples.summarizer:agent (repeatable)",
    )
    dev.add_argument("--no-supervisor", action="store_true", help="do not run the supervisor")
    dev.add_argument("--no-gateway", action="store_true", help="do not run the gateway")
    dev.set_defaults(handler=cmd_dev, connects=False)

    add_dlq_parser(sub)
    add_supervisor_parser(sub)
    gateway = sub.add_parser("gateway", help="serve the HTTP API (native /v1 and LangGraph)")
    gateway.set_defaults(handler=cmd_gateway)

    schemas = sub.add_parser("schemas", help="JSON Schema snapshots of the contracts")
    schemas.add_argument("action", choices=["export", "check"])
    schemas.set_defaults(handler=cmd_schemas, connects=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Services (`mesh run`, the gateway, the supervisor) configure logging themselves.
    # For the rest, aiokafka's own ERROR lines about a refused connection would only
    # repeat, less clearly, the one-line message the command ends with.
    logging.basicConfig(level=logging.WARNING, format="mesh: %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        if getattr(args, "connects", True):
            args.broker = choose_broker()
        outcome = args.handler(args)
        if asyncio.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at exit
        return int(outcome)
    except BrokenPipeError:
        # The reader went away (`mesh dlq list | head`): stop quietly, as `yes | head`
        # does. Python would flush stdout again at exit and fail again; point it nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:
        print(f"mesh: {exc}", file=sys.stderr)
        return 2
    except MeshError as exc:
        print(f"mesh: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2 if _is_input_error(exc) else 1
    except TimeoutError:
        print("mesh: timed out waiting for the broker or the task", file=sys.stderr)
        return 1


def _is_input_error(exc: MeshError) -> bool:
    from mesh.errors import InvalidInput, SettingsError, TaskNotFound

    input_errors = InvalidInput | SettingsError | TaskNotFound | UnknownAgent | DeadLetterError
    return isinstance(exc, input_errors)
