"""`mesh agents [pause|resume NAME]`: the registered agent types, and their pause switch.

`pause` stops the type's workers from starting new tasks (in-flight ones finish, and
submitted tasks wait) without a redeploy; `resume` lets them start again (ADR 039).
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from mesh.cli.support import invocation, with_client
from mesh.client import Client


async def cmd_agents(args: argparse.Namespace) -> int:
    async def list_agents(client: Client) -> int:
        for card in client.agents():
            takes = f"{card.task_type} v{card.task_version}" if card.task_type else "-"
            events = ", ".join(card.events) or "-"
            paused = "  PAUSED" if client.view.is_paused(card.name) else ""
            print(f"{card.name:12}  tasks: {takes:24}  events: {events}{paused}")
        return 0

    return await with_client(args, list_agents)


async def cmd_pause(args: argparse.Namespace) -> int:
    async def pause(client: Client) -> int:
        await client.pause_agent(args.name, reason=args.reason, by=_user())
        print(
            f"paused {args.name!r}: its workers start no new task (in-flight ones finish; "
            f"submitted ones wait). `{invocation()} agents resume {args.name}` resumes it."
        )
        return 0

    return await with_client(args, pause)


async def cmd_resume(args: argparse.Namespace) -> int:
    async def resume(client: Client) -> int:
        await client.resume_agent(args.name, by=_user())
        print(f"resumed {args.name!r}: its workers start tasks again, the waiting ones first")
        return 0

    return await with_client(args, resume)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return ""


def add_agents_parser(sub: Any) -> None:
    agents = sub.add_parser("agents", help="list agent types; pause or resume one")
    agents.set_defaults(handler=cmd_agents)
    commands = agents.add_subparsers(dest="agents_command")
    pause = commands.add_parser("pause", help="its workers start no new task until resumed")
    pause.add_argument("name", help="the agent type")
    pause.add_argument("--reason", default="", help="shown with the held tasks")
    pause.set_defaults(handler=cmd_pause)
    resume = commands.add_parser("resume", help="let a paused agent type start tasks again")
    resume.add_argument("name", help="the agent type")
    resume.set_defaults(handler=cmd_resume)
