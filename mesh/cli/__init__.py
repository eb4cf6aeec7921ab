"""The `mesh` command: `main` (parser and the task commands), `dlq`, `supervisor`,
and `support` (what they share: usage errors, agent specs, a connected client with
`broker_diagnosis` of a failed connection)."""
