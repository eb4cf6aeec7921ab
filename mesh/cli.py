"""The `mesh` command line: run agents, follow tasks, replay dead letters, run the dev mesh.

Every command reads `MESH_*` settings; a bad setting or input ends the command
with a one-line message on stderr and exit status 2 (1 for runtime failures).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from mesh import dlq
from mesh.agent import Agent
from mesh.client import Client
from mesh.dlq import DeadLetter
from mesh.errors import DeadLetterError, MeshError, UnknownAgent
from mesh.settings import load_settings
from mesh.supervision.commands import add_supervisor_parser
from schemas.tasks import AgentCard, TaskState, TaskStatus

REFERENCE_AGENTS = ("agents.triage:agent", "agents.knowledge:agent", "agents.orders:agent")


class UsageError(MeshError):
    """Bad command-line input (exit status 2)."""


def load_agent(spec: str) -> Agent:
    """`package.module:attribute` -> the `Agent` it names."""
    module_name, _, attribute = spec.partition(":")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # like `python -m`: modules beside the caller are importable
    if not module_name or not attribute:
        raise UsageError(f"agent spec {spec!r} must look like 'agents.triage:agent'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from None
    agent = getattr(module, attribute, None)
    if not isinstance(agent, Agent):
        raise UsageError(f"{spec!r} is not an Agent (got {type(agent).__name__})")
    return agent


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


# -- commands ------------------------------------------------------------------------


async def cmd_run(args: argparse.Namespace) -> int:
    from mesh.gc_tuning import tune_for_service
    from mesh.logs import configure_logging
    from mesh.metrics_server import serve_metrics
    from mesh.tracing import configure_tracing, shutdown_tracing
    from mesh.transport.connect import connect
    from mesh.worker import Worker

    agent = load_agent(args.spec)
    settings = load_settings()
    configure_logging(settings, name=agent.name)
    configure_tracing(settings, agent.name)
    serve_metrics(settings, f"mesh run {agent.name}")
    transport = connect(settings)
    await transport.start()
    worker = Worker(agent, transport, settings)
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


async def with_client(work: Callable[[Client], Awaitable[int]]) -> int:
    async with Client.connect() as client:
        return await work(client)


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

    return await with_client(submit)


async def cmd_tasks(args: argparse.Namespace) -> int:
    async def list_tasks(client: Client) -> int:
        status = TaskStatus(args.status) if args.status else None
        tasks = await client.list(status=status, agent=args.agent, limit=args.limit)
        if args.json:
            print(orjson.dumps([t.model_dump(mode="json") for t in tasks]).decode())
            return 0
        print(f"{'TASK':32}  {'AGENT':12}  {'STATUS':13}  {'CREATED':19}  CHILDREN")
        for t in tasks:
            created = t.created_at.strftime("%Y-%m-%d %H:%M:%S")
            print(f"{t.task_id:32}  {t.agent:12}  {t.status:13}  {created}  {len(t.children)}")
        return 0

    return await with_client(list_tasks)


async def cmd_task(args: argparse.Namespace) -> int:
    async def show(client: Client) -> int:
        state = await client.get(args.task_id)
        if args.json:
            print(orjson.dumps(state.model_dump(mode="json")).decode())
        else:
            print_task(state, client)
        return 0

    return await with_client(show)


def print_task(state: TaskState, client: Client) -> None:
    print(f"task      {state.task_id}")
    print(f"agent     {state.agent} ({state.type})")
    print(f"status    {state.status}")
    if state.waiting_for:
        answer = f"mesh resume {state.task_id} TEXT"
        print(f"waiting   for a human: {state.waiting_for}  (answer: {answer})")
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


async def cmd_steer(args: argparse.Namespace) -> int:
    async def steer(client: Client) -> int:
        await client.steer(args.task_id, args.text)
        return 0

    return await with_client(steer)


async def cmd_resume(args: argparse.Namespace) -> int:
    async def resume(client: Client) -> int:
        await client.resume(args.task_id, args.text)
        return 0

    return await with_client(resume)


async def cmd_cancel(args: argparse.Namespace) -> int:
    async def cancel(client: Client) -> int:
        await client.cancel(args.task_id, args.reason)
        return 0

    return await with_client(cancel)


async def cmd_publish(args: argparse.Namespace) -> int:
    payload = parse_json_object(args.payload, "event payload")
    key = args.key or next(
        (str(v) for k, v in payload.items() if k.endswith("_id") and isinstance(v, str)), None
    )
    if key is None:
        raise UsageError("give --key: the payload has no '<entity>_id' field to key the event by")

    async def publish(client: Client) -> int:
        print(await client.publish_raw(args.type, payload, key=key, version=args.version))
        return 0

    return await with_client(publish)


async def cmd_agents(args: argparse.Namespace) -> int:
    async def list_agents(client: Client) -> int:
        for card in client.agents():
            takes = f"{card.task_type} v{card.task_version}" if card.task_type else "-"
            events = ", ".join(card.events) or "-"
            print(f"{card.name:12}  tasks: {takes:24}  events: {events}")
        return 0

    return await with_client(list_agents)


async def cmd_broker(args: argparse.Namespace) -> int:
    from mesh.broker import EmbeddedBroker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with EmbeddedBroker(port=args.port) as broker:
        print(f"broker serving at {broker.bootstrap_servers} (log: {broker.log_path})", flush=True)
        print(f"export MESH_BOOTSTRAP_SERVERS={broker.bootstrap_servers}", flush=True)
        await stop.wait()
    return 0


# -- mesh dlq ------------------------------------------------------------------------


def known_agent(client: Client, name: str) -> AgentCard:
    """The card of agent `name`; any registered agent has a dead-letter queue, even one
    that only handles events (`Client.agent` knows only agents that take tasks)."""
    card = client.view.agents.get(name)
    if card is None:
        known = ", ".join(sorted(client.view.agents)) or "none"
        raise UnknownAgent(f"unknown agent {name!r}; registered agents: {known}")
    return card


async def listed_dead_letters(client: Client, agent: str) -> list[DeadLetter]:
    known_agent(client, agent)  # before reading: a typo must not create topics
    return await dlq.read_dead_letters(client.transport, client.settings, agent)


def check_selection(args: argparse.Namespace) -> None:
    """Replay and purge act on named letters: ids, --all or filters, exactly one way;
    checked before connecting, so a typo costs no broker round trip."""
    filters = [getattr(args, name, None) for name in ("task", "reason")]
    ways = [bool(args.ids), args.all, any(f is not None for f in filters)]
    if sum(ways) != 1:
        options = "--all, --task or --reason" if args.dlq_command == "replay" else "--all"
        raise UsageError(f"dlq {args.dlq_command}: name the dead letters: ids or {options}")
    for text in args.ids:
        try:
            dlq.parse_id(text)
        except DeadLetterError as exc:
            raise UsageError(str(exc)) from None


def selected(args: argparse.Namespace, letters: list[DeadLetter]) -> list[DeadLetter]:
    if args.ids:
        return dlq.by_ids(letters, args.ids)
    if args.all:
        return letters
    return dlq.matching(letters, task_id=args.task, reason=args.reason)


async def cmd_dlq_list(args: argparse.Namespace) -> int:
    async def list_letters(client: Client) -> int:
        letters = dlq.matching(
            await listed_dead_letters(client, args.agent),
            task_id=args.task,
            reason=args.reason,
            error_type=args.error_type,
        )
        if args.json:
            print(orjson.dumps([letter.summary() for letter in letters]).decode())
            return 0
        print(f"{'ID':8}  {'TASK':32}  {'TYPE':20}  {'ATTEMPTS':8}  {'LAST FAILURE':19}  REASON")
        for letter in letters:
            print(
                f"{letter.id:8}  {letter.task_id or '-':32}  {letter.type or '-':20}  "
                f"{_or_dash(letter.attempts):8}  {_when(letter.last_failure):19}  "
                f"{letter.reason[:100]}"
            )
        return 0

    return await with_client(list_letters)


async def cmd_dlq_show(args: argparse.Namespace) -> int:
    async def show(client: Client) -> int:
        (letter,) = dlq.by_ids(await listed_dead_letters(client, args.agent), [args.id])
        print_dead_letter(letter)
        return 0

    return await with_client(show)


def print_dead_letter(letter: DeadLetter) -> None:
    """Everything a dead letter holds: provenance, every header, the payload indented."""
    original = f"{letter.original_topic}[{letter.original_partition}]@{letter.original_offset}"
    error = f"{letter.error_type}: {letter.error_message}" if letter.error_type else "-"
    for label, value in [
        ("id", letter.id),
        ("task", letter.task_id),
        ("type", letter.type),
        ("reason", letter.reason),
        ("error", error),
        ("traceback", letter.traceback_digest),
        ("attempts", letter.attempts),
        ("first failure", _when(letter.first_failure)),
        ("last failure", _when(letter.last_failure)),
        ("from", original if letter.original_topic else "-"),
        ("instance", letter.instance),
        ("key", letter.key.decode(errors="replace") if letter.key is not None else None),
    ]:
        print(f"{label:14}{_or_dash(value)}")
    print("headers")
    for name, raw in sorted(letter.headers.items()):
        print(f"  {name}: {raw.decode(errors='replace')}")
    if letter.envelope is None:
        print(f"value ({len(letter.value)} bytes, not an envelope: {letter.undecodable})")
        print(repr(letter.value[:2000]))
    else:
        print("envelope")
        print(
            orjson.dumps(
                letter.envelope.model_dump(mode="json", exclude_none=True),
                option=orjson.OPT_INDENT_2,
            ).decode()
        )


async def cmd_dlq_replay(args: argparse.Namespace) -> int:
    check_selection(args)

    async def replay(client: Client) -> int:
        card = known_agent(client, args.agent)
        listed = await listed_dead_letters(client, args.agent)
        outcomes = await dlq.replay(
            client.publisher,
            card,
            selected(args, listed),
            listed=listed,
            task_states=client.view.tasks,
            dry_run=args.dry_run,
        )
        sent = "would replay" if args.dry_run else "replayed"
        for o in outcomes:
            if o.request is not None:
                done = f"task {o.request.task_id} (replay {o.request.replay})"
                print(f"{sent:12}  {o.letter.id:8}  {done}")
            else:
                print(f"{'skipped':12}  {o.letter.id:8}  {o.skipped}")
        if not outcomes:
            print("no dead letters selected", file=sys.stderr)
        return 0 if all(o.request is not None for o in outcomes) else 1

    return await with_client(replay)


async def cmd_dlq_purge(args: argparse.Namespace) -> int:
    check_selection(args)

    async def purge(client: Client) -> int:
        listed = await listed_dead_letters(client, args.agent)
        chosen = selected(args, listed)
        await dlq.purge(client.publisher, args.agent, chosen, listed=listed)
        for letter in chosen:
            print(f"purged {letter.id:8}  task {_or_dash(letter.task_id)}  {letter.reason[:100]}")
        if not chosen:
            print("no dead letters selected", file=sys.stderr)
        return 0

    return await with_client(purge)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at is not None else "-"


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def cmd_dev(args: argparse.Namespace) -> int:
    import os

    from mesh.devserver import main_dev

    return main_dev(
        agents=args.agents or list(REFERENCE_AGENTS),
        bootstrap_servers=os.environ.get("MESH_BOOTSTRAP_SERVERS"),
        extra_commands=[
            *([] if args.no_supervisor else [[sys.executable, "-m", "mesh", "supervisor", "run"]]),
            *([] if args.no_gateway else [[sys.executable, "-m", "mesh", "gateway"]]),
        ],
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
    parser = argparse.ArgumentParser(prog="mesh", description=__doc__.splitlines()[0])
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
    tasks.add_argument("--limit", type=int, default=50)
    tasks.add_argument("--json", action="store_true")
    tasks.set_defaults(handler=cmd_tasks)

    task = sub.add_parser("task", help="show one task: status, progress, children, result")
    task.add_argument("task_id")
    task.add_argument("--json", action="store_true")
    task.set_defaults(handler=cmd_task)

    steer = sub.add_parser("steer", help="send a follow-up instruction to a running task")
    steer.add_argument("task_id")
    steer.add_argument("text")
    steer.set_defaults(handler=cmd_steer)

    resume = sub.add_parser("resume", help="answer a task that waits for a human")
    resume.add_argument("task_id")
    resume.add_argument("text", help="the answer; the task's handler receives it")
    resume.set_defaults(handler=cmd_resume)

    cancel = sub.add_parser("cancel", help="cancel a task and its children")
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
    broker.set_defaults(handler=cmd_broker)

    dev = sub.add_parser("dev", help="broker + every reference agent, until Ctrl-C")
    dev.add_argument("agents", nargs="*", help=f"agent specs (default: {REFERENCE_AGENTS})")
    dev.add_argument("--no-supervisor", action="store_true", help="do not run the supervisor")
    dev.add_argument("--no-gateway", action="store_true", help="do not run the gateway")
    dev.set_defaults(handler=cmd_dev)

    add_dlq_parser(sub)
    add_supervisor_parser(sub)
    gateway = sub.add_parser("gateway", help="serve the HTTP API (native /v1 and LangGraph)")
    gateway.set_defaults(handler=cmd_gateway)

    schemas = sub.add_parser("schemas", help="JSON Schema snapshots of the contracts")
    schemas.add_argument("action", choices=["export", "check"])
    schemas.set_defaults(handler=cmd_schemas)
    return parser


def add_dlq_parser(sub: Any) -> None:
    """`mesh dlq list|show|replay|purge AGENT ...`: operate an agent's dead-letter queue."""
    group = sub.add_parser("dlq", help="list, show, replay or purge an agent's dead letters")
    dlq_sub = group.add_subparsers(dest="dlq_command", required=True)

    listing = dlq_sub.add_parser("list", help="dead letters that are not purged, oldest first")
    listing.add_argument("agent")
    listing.add_argument("--task", metavar="ID", help="only this task's dead letters")
    listing.add_argument("--reason", metavar="TEXT", help="reason contains TEXT (any case)")
    listing.add_argument("--error-type", metavar="T", help="e.g. Reject, ValidationError")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_dlq_list)

    show = dlq_sub.add_parser("show", help="one dead letter: provenance, headers, payload")
    show.add_argument("agent")
    show.add_argument("id", help="<partition>:<offset>, as `mesh dlq list` prints it")
    show.set_defaults(handler=cmd_dlq_show)

    replay = dlq_sub.add_parser("replay", help="send dead-lettered tasks back as new runs")
    replay.add_argument("agent")
    replay.add_argument("ids", nargs="*", metavar="ID", help="<partition>:<offset>")
    replay.add_argument("--all", action="store_true", help="every dead letter listed")
    replay.add_argument("--task", metavar="ID", help="this task's dead letters")
    replay.add_argument("--reason", metavar="TEXT", help="dead letters whose reason has TEXT")
    replay.add_argument("--dry-run", action="store_true", help="print, send nothing")
    replay.set_defaults(handler=cmd_dlq_replay)

    purge = dlq_sub.add_parser("purge", help="hide dead letters from list and replay")
    purge.add_argument("agent")
    purge.add_argument("ids", nargs="*", metavar="ID", help="<partition>:<offset>")
    purge.add_argument("--all", action="store_true", help="every dead letter listed")
    purge.set_defaults(handler=cmd_dlq_purge)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        outcome = args.handler(args)
        if asyncio.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
        return int(outcome)
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
