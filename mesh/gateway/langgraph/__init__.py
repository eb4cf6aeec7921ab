"""The LangGraph Agent Server compatible API, in reading order: `routes`, `wire`
(request and response shapes), `service` (multitask strategies, cancel, resume),
`threads` (threads and runs in a compacted topic, read into a local view),
`conversation` (run and thread status, messages and interrupts derived from those
records and the task states), `run_queue` (the one gateway per thread that starts its
queued runs), `stream` (kept-alive waits and SSE), `webhooks`. Why it is built so:
ADR 012."""
