"""Kafka header names the mesh writes: the one place each is spelled.

Routing headers (`Envelope.routing_headers`) let routers, tracers and other producers'
consumers work without decoding a record's value; the retry header holds a delayed
record back (mesh/runtime/_delays.py); the dead-letter headers carry a failed record's
provenance (mesh/dlq/write.py). Tracing uses the W3C names as they are.
"""

from __future__ import annotations

ID = "mesh-id"
TYPE = "mesh-type"
VERSION = "mesh-version"
TASK_ID = "mesh-task-id"
ROOT_TASK_ID = "mesh-root-task-id"
TENANT = "mesh-tenant"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

RETRY_NOT_BEFORE = "mesh-retry-not-before"

DLQ_REASON = "mesh-dlq-reason"
DLQ_ERROR_TYPE = "mesh-dlq-error-type"
DLQ_ERROR_MESSAGE = "mesh-dlq-error-message"
DLQ_TRACEBACK_DIGEST = "mesh-dlq-traceback-digest"
DLQ_ATTEMPTS = "mesh-dlq-attempts"
DLQ_FIRST_FAILURE = "mesh-dlq-first-failure-at"
DLQ_LAST_FAILURE = "mesh-dlq-last-failure-at"
DLQ_ORIGINAL_TOPIC = "mesh-dlq-original-topic"
DLQ_ORIGINAL_PARTITION = "mesh-dlq-original-partition"
DLQ_ORIGINAL_OFFSET = "mesh-dlq-original-offset"
DLQ_INSTANCE = "mesh-dlq-instance"
DLQ_TRUNCATED_FROM = "mesh-dlq-truncated-from"  # the original size, when the value is cut
