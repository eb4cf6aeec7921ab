"""The LangGraph Agent Server compatible API, in reading order: `routes` (its surface),
then, private to it: `_wire` (request and response shapes), `_service` (multitask
strategies, cancel, resume), `_threads` (threads and runs in a compacted topic, read
into a local view), `_conversation` (run and thread status, messages and interrupts
derived from those records and the task states), `_run_queue` (the one gateway per
thread that starts its queued runs), `_thread_locks`, `_stream` (kept-alive waits and
SSE), `_webhooks`. Why it is built so: ADR 012."""
