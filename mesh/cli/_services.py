"""`mesh run|broker|model-server|dev|gateway`: the commands that run a service in the
foreground."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from typing import Any

from mesh.cli.support import load_agent, started_transport
from mesh.dev.env_file import DEV_ENV
from mesh.errors import UsageError
from mesh.settings import load_settings

REFERENCE_AGENTS = (
    "agents.triage:agent",
    "agents.knowledge:agent",
    "agents.orders:agent",
    "agents.refunds:agent",
    "agents.assistant:agent",  # not started when the dev mesh has no model
    # The research desk: it declares no model, so it runs (on its fallbacks) without one.
    "agents.research:agent",
    "agents.researcher:agent",
)


async def cmd_run(args: argparse.Namespace) -> int:
    from mesh.observability.logs import configure_logging
    from mesh.observability.metrics_server import serve_metrics
    from mesh.observability.probes import Probes
    from mesh.observability.tenants import label_tenants
    from mesh.observability.tracing import configure_tracing, shutdown_tracing
    from mesh.runtime.gc_tuning import tune_for_service
    from mesh.runtime.pod_deletion_cost import pod_deletion_cost
    from mesh.runtime.worker_group import WorkerGroup
    from mesh.transport.factory import kafka_transport

    agents = [load_agent(spec) for spec in specs_once(args.specs)]
    settings = load_settings()
    name = "+".join(agent.name for agent in agents)  # the agent's name when one
    # Several: each worker's records name its own agent type (WorkerGroup.run), the
    # process's own few (start-up, metrics) name it "agents".
    configure_logging(settings, name=agents[0].name if len(agents) == 1 else "agents")
    label_tenants(settings.labelled_tenants)  # the per-tenant metrics (ADR 046)
    configure_tracing(settings, name)
    cost = pod_deletion_cost(settings, inflight=lambda: workers.inflight())  # ADR 038
    probes = Probes()  # alive while it connects; ready once every worker has joined and writes
    serve_metrics(settings, f"mesh run {name}", probes=probes)
    transport = await started_transport(kafka_transport(settings), settings, args)
    workers = WorkerGroup(agents, transport=transport, settings=settings)
    tune_for_service(settings.gc_gen0_threshold)
    loop = asyncio.get_running_loop()
    probes.follow(loop, workers.not_ready_reason)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, workers.request_stop)
    try:
        await (workers.run() if cost is None else cost.kept_current_while(workers.run()))
    finally:
        await transport.stop()
        shutdown_tracing()  # flushes the spans not yet exported
    return 0


def specs_once(specs: list[str]) -> list[str]:
    """The agent specs of `mesh run`, each given once.

    Raises:
        UsageError: a spec is given twice (which of them).
    """
    if twice := sorted({spec for spec in specs if specs.count(spec) > 1}):
        raise UsageError(f"agent spec {', '.join(map(repr, twice))} given twice: give each once")
    return specs


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


async def cmd_model_server(args: argparse.Namespace) -> int:
    from mesh.dev.model_server import MODEL_NAME, THREADS, EmbeddedModel

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    model = EmbeddedModel(port=args.port)
    started = time.monotonic()
    url = await asyncio.to_thread(model.start)  # ~1 s; the loop keeps taking signals
    try:
        seconds = time.monotonic() - started
        print(
            f"model {MODEL_NAME} serving at {url} (llama.cpp, {THREADS} thread; "
            f"ready in {seconds:.1f} s)",
            flush=True,
        )
        print(f"export MESH_MODEL_ENDPOINT={url} MESH_MODEL_NAME={MODEL_NAME}", flush=True)
        await stop.wait()
    finally:
        model.close()
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from mesh.dev.devserver import main_dev

    specs = [*(args.agents or REFERENCE_AGENTS), *args.extra_agents]
    return main_dev(
        agents=list(dict.fromkeys(specs)),  # each once, in the order given
        bootstrap_servers=os.environ.get("MESH_BOOTSTRAP_SERVERS") or None,
        supervisor=not args.no_supervisor,
        gateway=not args.no_gateway,
        model=not args.no_model,
    )


def cmd_gateway(args: argparse.Namespace) -> int:
    from mesh.gateway import app

    app.run()
    return 0


# -- parsers -------------------------------------------------------------------------


def add_run_parser(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run one agent type as a service (or several in one process)",
        description="Run a worker of each agent type given, in one process: each type "
        "keeps its own consumer group; one producer, metrics server and control reader.",
    )
    run.add_argument(
        "specs",
        nargs="+",
        metavar="SPEC",
        help="module:attribute of an Agent, e.g. agents.triage:agent",
    )
    run.set_defaults(handler=cmd_run)


def add_dev_parsers(sub: Any) -> None:
    """`broker` and `dev`."""
    broker = sub.add_parser("broker", help="run the embedded broker in the foreground")
    broker.add_argument("--port", type=int)
    broker.set_defaults(handler=cmd_broker, connects=False)

    model = sub.add_parser(
        "model-server",
        help="serve the embedded model (SmolLM2-135M-Instruct) on loopback",
        description="Serve SmolLM2-135M-Instruct through llama.cpp's OpenAI-compatible API "
        "on 127.0.0.1 until Ctrl-C; prints the base URL (MESH_MODEL_ENDPOINT) once ready.",
    )
    model.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    model.set_defaults(handler=cmd_model_server, connects=False)

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
    dev.add_argument(
        "--no-model",
        action="store_true",
        help="do not run the embedded model (also MESH_DEV_MODEL=off; "
        "MESH_MODEL_ENDPOINT set means a model server runs elsewhere)",
    )
    dev.set_defaults(handler=cmd_dev, connects=False)


def add_gateway_parser(sub: Any) -> None:
    gateway = sub.add_parser("gateway", help="serve the HTTP API (native /v1 and LangGraph)")
    gateway.set_defaults(handler=cmd_gateway)
