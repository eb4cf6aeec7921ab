"""`mesh approvals list|approve|reject`: the approvals inbox across agents (ADR 027).

`list` shows every task that waits for a person's approval (`ctx.request_approval`),
soonest expiry first; `approve` and `reject` answer one. Answering a task that waits
for no approval, or whose approval has expired, exits 1 and says so.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from typing import Any, Literal

import orjson

from mesh.cli.support import invocation, with_client
from mesh.client import Client
from schemas.envelope import utc_now
from schemas.tasks import TaskState


async def cmd_list(args: argparse.Namespace) -> int:
    async def list_approvals(client: Client) -> int:
        waiting = client.approvals()
        if args.json:
            print(orjson.dumps([_entry(s) for s in waiting]).decode())
            return 0
        if not waiting:
            print("no task waits for an approval")
            return 0
        print(f"{'TASK':32}  {'AGENT':10}  {'REQUESTED':19}  {'EXPIRES IN':10}  SUBJECT")
        for state in waiting:
            print(_row(state))
        hint = f"{invocation()} approvals approve|reject TASK [--note TEXT]"
        print(f"\nanswer with: {hint}")
        return 0

    return await with_client(args, list_approvals)


def _row(state: TaskState) -> str:
    asked = state.approval
    assert asked is not None
    requested = asked.requested_at.strftime("%Y-%m-%d %H:%M:%S")
    row = f"{state.task_id:32}  {state.agent:10}  {requested:19}  "
    row += f"{_left(asked.expires_at):10}  {asked.subject}"
    if asked.details:
        row += f"\n{'':34}details {orjson.dumps(asked.details).decode()}"
    return row


def _left(expires_at: datetime) -> str:
    """Time to the expiry as "23h59m", "4m10s", "12s" (or "expired")."""
    seconds = int((expires_at - utc_now()).total_seconds())
    if seconds <= 0:
        return "expired"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _entry(state: TaskState) -> dict[str, Any]:
    asked = state.approval
    assert asked is not None
    return {
        "task_id": state.task_id,
        "agent": state.agent,
        "root_task_id": state.root_task_id,
        **asked.model_dump(mode="json"),
    }


def _answer(decision: Literal["approved", "rejected"]) -> Any:
    async def answer(args: argparse.Namespace) -> int:
        async def send(client: Client) -> int:
            decide = client.approve if decision == "approved" else client.reject
            state = await decide(args.task_id, by=args.by, note=args.note)
            subject = state.approval.subject if state.approval else ""
            print(f"{decision} task {args.task_id} ({state.agent}): {subject}")
            return 0

        return await with_client(args, send)

    return answer


def add_approvals_parser(sub: Any) -> None:
    """`approvals list|approve|reject`."""
    approvals = sub.add_parser(
        "approvals", help="the approvals inbox: tasks that wait for a person's approval"
    )
    commands = approvals.add_subparsers(dest="approvals_command", required=True)
    listing = commands.add_parser("list", help="what waits, soonest expiry first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)
    answers: tuple[tuple[str, Literal["approved", "rejected"]], ...] = (
        ("approve", "approved"),
        ("reject", "rejected"),
    )
    for name, decision in answers:
        command = commands.add_parser(
            name, help=f"{name} what the task waits for (exit 1 if it waits for none)"
        )
        command.add_argument("task_id")
        command.add_argument("--note", default="", help="why, kept with the decision")
        command.add_argument("--by", default=_user(), help="who decides (default: your login name)")
        command.set_defaults(handler=_answer(decision))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's numeric user)
        return "cli"
