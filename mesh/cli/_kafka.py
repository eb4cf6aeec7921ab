"""`mesh kafka acls`: each principal's Kafka ACLs, derived from the code (ADR 045)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_kafka_acls(args: argparse.Namespace) -> int:
    from mesh.cli._services import REFERENCE_AGENTS
    from mesh.cli.support import load_agent
    from mesh.security.acls import mesh_principals
    from mesh.security.render import kafka_acls_commands, strimzi_users
    from mesh.settings import load_settings

    agents = [load_agent(spec) for spec in args.agent or REFERENCE_AGENTS]
    principals = mesh_principals(load_settings(), agents)
    if args.format == "strimzi":
        sys.stdout.write(strimzi_users(principals, cluster=args.cluster))
    else:
        sys.stdout.write(kafka_acls_commands(principals))
    return 0


def add_kafka_parser(sub: Any) -> None:
    from mesh.security.render import FORMATS

    kafka = sub.add_parser("kafka", help="Kafka-side set-up: users and their ACLs")
    actions = kafka.add_subparsers(dest="action", required=True)
    acls = actions.add_parser(
        "acls",
        help="print the ACLs of each agent type's, the supervisor's and the gateway's user",
        description="Each agent type, the supervisors and the gateways get a Kafka user of "
        "their own; this prints what each may do, derived from the topic names and the "
        "agents' declarations (delegates_to, emits, events), for MESH_NAMESPACE and "
        "MESH_RETRY_TIERS as set.",
    )
    acls.add_argument(
        "--agent",
        action="append",
        metavar="SPEC",
        help="an agent spec of the deployment (module:attribute), repeated; default: "
        "the reference agents",
    )
    acls.add_argument("--format", choices=FORMATS, default="kafka-acls")
    acls.add_argument(
        "--cluster", default="kafka", help="the Strimzi Kafka cluster's name (--format strimzi)"
    )
    acls.set_defaults(handler=cmd_kafka_acls, connects=False)
