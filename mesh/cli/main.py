"""The `mesh` command line: run agents, follow tasks, replay dead letters, run the dev mesh.

Every command reads `MESH_*` settings; a bad setting or input ends the command
with a one-line message on stderr and exit status 2 (1 for runtime failures).
The commands live by group: `_services` (run, broker, model-server, dev, gateway), `_tasks`
(submit, tasks, task, steer, resume, cancel, publish), `_agents` (agents, pause, resume),
`_approvals`, `_dlq`, `_supervisor`, `_schedules`, `_schemas` and `_kafka`; `support` is what
they share.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from mesh.cli._agents import add_agents_parser
from mesh.cli._approvals import add_approvals_parser
from mesh.cli._dlq import add_dlq_parser
from mesh.cli._kafka import add_kafka_parser
from mesh.cli._schedules import add_schedule_parser
from mesh.cli._schemas import add_schemas_parser
from mesh.cli._services import add_dev_parsers, add_gateway_parser, add_run_parser
from mesh.cli._supervisor import add_supervisor_parser
from mesh.cli._tasks import add_event_parsers, add_task_parsers
from mesh.cli.support import choose_broker
from mesh.dev.env_file import DEV_ENV
from mesh.errors import DeadLetterError, MeshError, UnknownAgent, UsageError, first_line


def build_parser() -> argparse.ArgumentParser:
    """`mesh` and its commands, in the order `mesh --help` lists them."""
    parser = argparse.ArgumentParser(
        prog="mesh",
        description=__doc__.splitlines()[0],
        epilog=f"Settings are MESH_* environment variables (mesh/settings.py). With no "
        f"MESH_BOOTSTRAP_SERVERS, commands use the dev mesh that `mesh dev` (`make dev`) "
        f"runs from this directory or one above: it writes its broker address and settings "
        f"to {DEV_ENV}, and each command says on stderr when it uses them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)  # mesh/cli/_services.py
    add_task_parsers(sub)  # mesh/cli/_tasks.py
    add_event_parsers(sub)
    add_agents_parser(sub)  # mesh/cli/_agents.py
    add_approvals_parser(sub)  # mesh/cli/_approvals.py
    add_dev_parsers(sub)  # mesh/cli/_services.py
    add_dlq_parser(sub)  # mesh/cli/_dlq.py
    add_supervisor_parser(sub)  # mesh/cli/_supervisor.py
    add_schedule_parser(sub)  # mesh/cli/_schedules.py
    add_gateway_parser(sub)  # mesh/cli/_services.py
    add_schemas_parser(sub)  # mesh/cli/_schemas.py
    add_kafka_parser(sub)  # mesh/cli/_kafka.py
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
        print(f"mesh: {first_line(exc)}", file=sys.stderr)
        return 2 if _is_input_error(exc) else 1
    except TimeoutError:
        print("mesh: timed out waiting for the broker or the task", file=sys.stderr)
        return 1


def _is_input_error(exc: MeshError) -> bool:
    from mesh.errors import InvalidInput, SettingsError, TaskNotFound

    input_errors = InvalidInput | SettingsError | TaskNotFound | UnknownAgent | DeadLetterError
    return isinstance(exc, input_errors)
