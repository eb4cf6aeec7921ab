"""Observability: `metrics` (every metric name, ADR 013), `metrics_server` (a worker's
`/metrics` port), `tracing` (OpenTelemetry across Kafka hops), `logs` (structured JSON
logs with task ids) and `lag` (consumer lag per group, for the supervisor)."""
