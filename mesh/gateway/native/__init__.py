"""The native API under `/v1`: `routes`, `models` (its request and response shapes),
`sse` (a task's events as Server-Sent Events) and `webhooks` (signed deliveries)."""
