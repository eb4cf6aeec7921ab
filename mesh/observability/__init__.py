"""Observability: `metrics` (every metric name, ADR 013), `metrics_server` (a worker's
`/metrics` port), `probes` (its `/healthz` and `/readyz`, served beside `/metrics`),
`tracing` (OpenTelemetry across Kafka hops) and `logs` (structured JSON logs with task
ids). Consumer lag is the supervisor's to measure (mesh/supervision/_lag.py)."""
