"""Every Prometheus metric the mesh exports: the one place their names are spelled.

Names start with `mesh_`; labels take bounded values only (route templates, never
raw paths; status codes; fixed outcome names), so series counts stay small.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

GATEWAY_REQUESTS = Counter(
    "mesh_gateway_requests",
    "HTTP requests the gateway answered, by method, route template and status code.",
    ["method", "route", "status"],
)
GATEWAY_REQUEST_SECONDS = Histogram(
    "mesh_gateway_request_seconds",
    "Time from a request's arrival to the end of its response, by method and route.",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
GATEWAY_WEBHOOK_ATTEMPTS = Counter(
    "mesh_gateway_webhook_attempts",
    "Completion webhook POSTs, by outcome (delivered, failed, dead_lettered).",
    ["outcome"],
)
