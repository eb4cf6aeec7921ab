"""A task submitted through the gateway is one trace with its caller and its hops."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mesh.observability.tracing import use_exporter
from tests.gateway.conftest import GatewayServer
from tests.gateway.native_support import poll, wait_status

pytestmark = pytest.mark.broker

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exported = InMemorySpanExporter()  # the SDK's own exporter, keeping spans in memory
    use_exporter(exported, batch=False)  # process-wide: the gateway's thread traces too
    try:
        yield exported
    finally:
        use_exporter(None)


def test_the_callers_trace_continues_through_the_gateway_into_the_task(
    native_gateway: GatewayServer, spans: InMemorySpanExporter
) -> None:
    caller = {"traceparent": f"00-{CALLER_TRACE}-b7ad6b7169203331-01"}
    with httpx.Client(base_url=native_gateway.url, timeout=10) as http:
        response = http.post("/v1/tasks", json={"agent": "echo", "input": {}}, headers=caller)
        assert response.status_code == 202, response.text
        task_id = response.json()["task_id"]
        done = wait_status(http, task_id, "succeeded")
    assert done["trace_id"] == CALLER_TRACE

    def handled() -> list[object] | None:
        found = [
            s
            for s in spans.get_finished_spans()
            if s.kind is SpanKind.CONSUMER and s.attributes.get("mesh.task_id") == task_id
        ]
        return found or None

    [consumer] = poll(handled, timeout=10, what="the task's consumer span")  # type: ignore[misc]
    [server] = [s for s in spans.get_finished_spans() if s.name == "POST /v1/tasks"]
    assert server.kind is SpanKind.SERVER and server.attributes["http.response.status_code"] == 202
    assert format(server.context.trace_id, "032x") == CALLER_TRACE
    assert format(consumer.context.trace_id, "032x") == CALLER_TRACE
