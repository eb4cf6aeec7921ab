"""Serve `/metrics` from a worker or supervisor process (the gateway serves its own).

`MESH_METRICS_PORT`: -1 serves nothing, 0 takes a free port (several `mesh run`
processes on one host, as `mesh dev` starts them, cannot share one), any other value
is that port. The chosen address is logged, so a port-0 process can still be found.
The server is prometheus-client's: a daemon thread, so it never blocks the event
loop and ends with the process. Process CPU, memory and GC collectors come with it.
"""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from mesh.errors import SetupError
from mesh.settings import Settings

log = logging.getLogger(__name__)


def serve_metrics(settings: Settings, service: str) -> int | None:
    """Start the `/metrics` endpoint of `service`; returns its port (None: turned off).

    Raises:
        SetupError: the port is taken or the host cannot be bound.
    """
    if settings.metrics_port < 0:
        return None
    try:
        server, _ = start_http_server(settings.metrics_port, addr=settings.metrics_host)
    except OSError as exc:
        raise SetupError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port} "
            f"({exc}); set MESH_METRICS_PORT to a free port, 0 for any, -1 for none"
        ) from None
    port = int(server.server_port)
    log.info("%s serves metrics at http://%s:%d/metrics", service, settings.metrics_host, port)
    return port
