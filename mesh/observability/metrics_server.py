"""Serve `/metrics`, `/healthz` and `/readyz` from a worker or supervisor process (the
gateway serves its own).

`MESH_METRICS_PORT`: -1 serves nothing, 0 takes a free port (several `mesh run`
processes on one host, as `mesh dev` starts them, cannot share one), any other value
is that port. The chosen address is logged, so a port-0 process can still be found.
The server is prometheus-client's WSGI app in wsgiref's threading server: daemon
threads, so it never blocks the event loop and ends with the process. Process CPU,
memory and GC collectors come with it. The probes (mesh/observability/probes.py)
answer 200 `{"status": ...}`, or 503 with an RFC 9457 problem naming the reason.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import orjson
from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from mesh.errors import SetupError
from mesh.observability.probes import ProbeAnswer, Probes
from mesh.settings import Settings

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


def serve_metrics(settings: Settings, service: str, *, probes: Probes | None = None) -> int | None:
    """Start the `/metrics` endpoint of `service`, and its probes when given; returns
    its port (None: turned off).

    Raises:
        SetupError: the port is taken or the host cannot be bound.
    """
    if settings.metrics_port < 0:
        return None
    app = _with_probes(make_wsgi_app(), probes)
    try:
        family, host = _best_family(settings.metrics_host, settings.metrics_port)

        class Server(ThreadingWSGIServer):
            address_family = family

        server = make_server(host, settings.metrics_port, app, Server, _QuietHandler)
    except OSError as exc:
        raise SetupError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port} "
            f"({exc}); set MESH_METRICS_PORT to a free port, 0 for any, -1 for none"
        ) from None
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    port = int(server.server_port)
    log.info("%s serves metrics at http://%s:%d/metrics", service, settings.metrics_host, port)
    return port


def _with_probes(metrics: Any, probes: Probes | None) -> Any:
    """The WSGI app: the probes at their paths, everything else prometheus-client's."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if probes is None or path not in ("/healthz", "/readyz"):
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            return _answer(probes.liveness(), "ok", start_response)
        return _answer(probes.readiness(), "ready", start_response)

    return app


def _answer(answer: ProbeAnswer, status: str, start_response: StartResponse) -> list[bytes]:
    if answer.ok:
        body = orjson.dumps({"status": status})
        start_response("200 OK", [("Content-Type", "application/json")])
    else:
        body = orjson.dumps(
            {"title": "Service Unavailable", "status": 503, "detail": answer.reason}
        )
        start_response("503 Service Unavailable", [("Content-Type", "application/problem+json")])
    return [body]


def _best_family(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    """IPv4 or IPv6 by the host named (wsgiref's server binds IPv4 only)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    return family, str(address[0])


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes are not logged."""
