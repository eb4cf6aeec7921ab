"""`mesh supervisor run|status`: run an instance, or show what the instances report."""

from __future__ import annotations

import argparse
import importlib
import time
from typing import Any

from mesh.cli.support import started_transport
from mesh.errors import SetupError
from mesh.settings import Settings, load_settings
from mesh.supervision.policy import Policies
from mesh.topics import Topics
from schemas import decode_envelope
from schemas.supervision import SUPERVISOR_STATUS, SupervisorStatus

DEFAULT_POLICIES = "agents.supervisor:policies"
_FRESH = 30.0  # seconds: older snapshots are of instances that stopped


def add_supervisor_parser(sub: Any) -> None:
    group = sub.add_parser("supervisor", help="run the supervisor, or show what it sees")
    commands = group.add_subparsers(dest="supervisor_command", required=True)
    run = commands.add_parser("run", help="run a supervisor instance (run several)")
    run.add_argument("--policies", default=DEFAULT_POLICIES, metavar="MODULE:ATTR")
    run.set_defaults(handler=cmd_run)
    status = commands.add_parser("status", help="live workers, tasks at risk, recent actions")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)


def load_policies(spec: str, settings: Settings) -> Policies:
    module_name, _, attribute = spec.partition(":")
    policies = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(policies, Policies):
        raise SetupError(f"{spec!r} is not a mesh.supervision.policy.Policies")
    return policies.overridden(settings.supervision_policies)


def cmd_run(args: argparse.Namespace) -> int:
    from mesh.supervision import app

    settings = load_settings()
    app.run(settings, load_policies(args.policies, settings))
    return 0


async def cmd_status(args: argparse.Namespace) -> int:
    from mesh.transport.factory import kafka_transport

    settings = load_settings()
    # As every command that connects: a failure says what is wrong with the broker chosen.
    transport = await started_transport(kafka_transport(settings), settings, args)
    try:
        records = await transport.read_topics([Topics(settings.namespace).supervisor_status])
    finally:
        await transport.stop()
    latest: dict[str, SupervisorStatus] = {}
    for record in records:
        envelope = decode_envelope(record.value or b"")
        if envelope.type == SUPERVISOR_STATUS:
            status = SupervisorStatus.model_validate(envelope.payload)
            latest[status.instance] = status
    fresh = [s for s in latest.values() if time.time() - s.at < _FRESH]
    if args.json:
        import orjson

        print(orjson.dumps([s.model_dump(mode="json") for s in fresh]).decode())
        return 0 if fresh else 1
    if not fresh:
        print("no supervisor has reported in the last 30 s (is `mesh supervisor run` up?)")
        return 1
    print_status(fresh)
    return 0


def print_status(snapshots: list[SupervisorStatus]) -> None:
    newest = max(snapshots, key=lambda s: s.at)
    print(f"supervisors  {', '.join(sorted(s.instance for s in snapshots))}")
    print(f"tasks        {sum(s.tasks_tracked for s in snapshots)} unfinished, tracked")
    print("\nWORKER                          AGENT         ALIVE  LAST BEAT  IN FLIGHT")
    for w in newest.workers:
        alive = "yes" if w.alive else "NO"
        print(
            f"{w.instance:30}  {w.agent:12}  {alive:5}  {w.seconds_since_heartbeat:7.1f}s  "
            f"{w.inflight:9}"
        )
    if newest.paused:
        print(f"\npaused agent types (start no task until resumed): {', '.join(newest.paused)}")
    dead_types = sorted(a for a, n in newest.live_by_agent.items() if n == 0)
    if dead_types:
        print(f"\nagent types with no live worker: {', '.join(dead_types)}")
    at_risk = [r for s in snapshots for r in s.at_risk]
    print(f"\nAT RISK ({len(at_risk)})")
    for r in at_risk[:20]:
        print(f"  {r.task_id}  {r.agent:12}  {r.problem:13}  {r.reason}")
    actions = sorted((a for s in snapshots for a in s.recent_actions), key=lambda a: a.at)
    print(f"\nRECENT ACTIONS ({len(actions)})")
    for a in actions[-20:]:
        when = time.strftime("%H:%M:%S", time.localtime(a.at))
        print(f"  {when}  {a.task_id}  {a.agent:12}  {a.problem:13}  {a.reason}")
