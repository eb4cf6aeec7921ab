"""Health, readiness, metrics, the OpenAPI document and the request-size limit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import GatewayServer
from tests.gateway.native_support import submit, wait_status

pytestmark = pytest.mark.broker


def test_healthz_and_readyz(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready"}


def test_metrics_count_requests_by_route_template(http: httpx.Client) -> None:
    task_id = submit(http, "echo", {"text": "metrics"})
    wait_status(http, task_id, "succeeded")
    http.get("/v1/tasks/no-such-task")
    text = http.get("/metrics").text
    assert (
        'mesh_gateway_requests_total{method="GET",route="/v1/tasks/{task_id}",status="200"}' in text
    )
    assert (
        'mesh_gateway_requests_total{method="GET",route="/v1/tasks/{task_id}",status="404"}' in text
    )
    assert 'mesh_gateway_request_seconds_bucket{le="0.001",method="POST",route="/v1/tasks"}' in text
    assert task_id not in text  # labels hold templates, never raw paths


def test_openapi_documents_the_native_api(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/tasks",
        "/v1/tasks/{task_id}",
        "/v1/tasks/{task_id}/messages",
        "/v1/tasks/{task_id}/cancel",
        "/v1/tasks/{task_id}/events",
        "/v1/events/{event_type}",
    ):
        assert path in paths
    assert "202" in paths["/v1/tasks"]["post"]["responses"]


def test_a_body_over_the_limit_is_413_before_parsing(
    http: httpx.Client, native_gateway: GatewayServer
) -> None:
    limit = native_gateway.settings.gateway_max_request_bytes
    big = b'{"agent": "echo", "input": {"text": "' + b"x" * limit + b'"}}'
    declared = http.post("/v1/tasks", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert "body" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = http.post(
        "/v1/tasks", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert "MESH_GATEWAY_MAX_REQUEST_BYTES" in streamed.json()["detail"]
