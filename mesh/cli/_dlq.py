"""`mesh dlq list|show|replay|purge AGENT ...`: operate an agent's dead-letter queue."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

import orjson

from mesh.cli.support import with_client
from mesh.client import Client
from mesh.dlq import operate
from mesh.dlq.operate import DeadLetter
from mesh.errors import DeadLetterError, UnknownAgent, UsageError
from schemas.tasks import AgentCard


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
    return await operate.read_dead_letters(client.transport, client.settings, agent)


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
            operate.parse_id(text)
        except DeadLetterError as exc:
            raise UsageError(str(exc)) from None


def selected(args: argparse.Namespace, letters: list[DeadLetter]) -> list[DeadLetter]:
    if args.ids:
        return operate.by_ids(letters, args.ids)
    if args.all:
        return letters
    return operate.matching(letters, task_id=args.task, reason=args.reason)


async def cmd_dlq_list(args: argparse.Namespace) -> int:
    async def list_letters(client: Client) -> int:
        letters = operate.matching(
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

    return await with_client(args, list_letters)


async def cmd_dlq_show(args: argparse.Namespace) -> int:
    async def show(client: Client) -> int:
        (letter,) = operate.by_ids(await listed_dead_letters(client, args.agent), [args.id])
        print_dead_letter(letter)
        return 0

    return await with_client(args, show)


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
        outcomes = await operate.replay(
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

    return await with_client(args, replay)


async def cmd_dlq_purge(args: argparse.Namespace) -> int:
    check_selection(args)

    async def purge(client: Client) -> int:
        listed = await listed_dead_letters(client, args.agent)
        chosen = selected(args, listed)
        await operate.purge(client.publisher, args.agent, chosen, listed=listed)
        for letter in chosen:
            print(f"purged {letter.id:8}  task {_or_dash(letter.task_id)}  {letter.reason[:100]}")
        if not chosen:
            print("no dead letters selected", file=sys.stderr)
        return 0

    return await with_client(args, purge)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at is not None else "-"


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


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
