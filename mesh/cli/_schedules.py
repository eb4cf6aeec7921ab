"""`mesh schedule add|list|pause|resume|delete`: tasks submitted on a cron schedule (ADR 040).

The supervisor's processes fire the ticks (`mesh/schedules/scheduler.py`), so a
deployment that runs `mesh supervisor run` (and `mesh dev`) needs nothing more.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, cast

from mesh.cli.support import parse_json_object, with_client
from mesh.client import Client
from mesh.schedules import operate
from schemas.schedules import Overlap

_OVERLAPS = {"skip": "skip", "buffer-one": "buffer_one", "allow-all": "allow_all"}


async def cmd_add(args: argparse.Namespace) -> int:
    payload = parse_json_object(args.input, "--input")

    async def add(client: Client) -> int:
        schedule = await operate.add(
            client,
            args.name,
            cron=args.cron,
            tz=args.tz,
            agent=args.agent,
            input=payload,
            overlap=cast(Overlap, _OVERLAPS[args.overlap]),
            jitter=args.jitter,
        )
        [listed] = [s for s in await operate.listing(client) if s.schedule.name == args.name]
        print(f"schedule {schedule.name!r}: {schedule.cron} ({schedule.tz}) -> {schedule.agent}")
        print(f"next tick fires at {_when(listed.next_fire)} {time.strftime('%Z')}")
        return 0

    return await with_client(args, add)


async def cmd_list(args: argparse.Namespace) -> int:
    async def show(client: Client) -> int:
        listed = await operate.listing(client)
        print(
            f"{'NAME':16}  {'CRON':16}  {'TZ':14}  {'AGENT':10}  {'OVERLAP':10}  "
            f"{'STATE':6}  {'NEXT FIRE':19}  {'LAST TICK':19}  SUBMITTED  SKIPPED"
            f"  (times: {time.strftime('%Z')})"
        )
        for item in listed:
            s, done = item.schedule, item.progress
            state = "paused" if s.paused else "active"
            last = _when(done.last_tick) if done else "-"
            counts = f"{done.submitted if done else 0:9}  {done.skipped if done else 0:7}"
            print(
                f"{s.name:16}  {s.cron:16}  {s.tz:14}  {s.agent:10}  {s.overlap:10}  "
                f"{state:6}  {_when(item.next_fire):19}  {last:19}  {counts}"
            )
            if done is not None and done.last_error:
                print(f"{'':16}  last error: {done.last_error}")
        return 0

    return await with_client(args, show)


async def cmd_switch(args: argparse.Namespace) -> int:
    action = args.schedule_command

    async def switch(client: Client) -> int:
        if action == "delete":
            await operate.switch(client, args.name, paused=None, deleted=True)
        else:
            await operate.switch(client, args.name, paused=action == "pause")
        print(
            f"schedule {args.name!r}: {action}d" if action != "pause" else f"paused {args.name!r}"
        )
        return 0

    return await with_client(args, switch)


def _when(at: float | None) -> str:
    """Local time, as `date` shows it (the zone on the first line of `list`)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at is not None else "-"


def add_schedule_parser(sub: Any) -> None:
    group = sub.add_parser("schedule", help="submit tasks on a cron schedule")
    commands = group.add_subparsers(dest="schedule_command", required=True)
    add = commands.add_parser("add", help="add (or replace) a schedule")
    add.add_argument("name")
    add.add_argument("--cron", required=True, help='e.g. "*/5 * * * *"; a 6th field: seconds')
    add.add_argument("--tz", default="UTC", help="IANA time zone the cron is read in")
    add.add_argument("--agent", required=True, help="the agent type that gets the tasks")
    add.add_argument("--input", default="{}", help="the task input as a JSON object")
    add.add_argument("--overlap", choices=list(_OVERLAPS), default="skip")
    add.add_argument("--jitter", type=float, default=0.0, metavar="SECONDS")
    add.set_defaults(handler=cmd_add)
    commands.add_parser("list", help="schedules, their next and last ticks").set_defaults(
        handler=cmd_list
    )
    for action, text in (
        ("pause", "fire no tick until resumed"),
        ("resume", "fire again (ticks missed in the pause are not caught up)"),
        ("delete", "remove the schedule"),
    ):
        command = commands.add_parser(action, help=text)
        command.add_argument("name")
        command.set_defaults(handler=cmd_switch)
