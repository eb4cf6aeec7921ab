"""The native API under `/v1`: `routes`, `webhooks` (signed deliveries, sent by the
`Gateway`); private: `_models` (its request and response shapes) and `_sse` (a task's
events as Server-Sent Events)."""
