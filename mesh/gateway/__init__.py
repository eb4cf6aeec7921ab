"""The gateway: the mesh's HTTP face for upstream systems and outside supervisors.

`mesh gateway` serves the native API under `/v1` (mesh/gateway/native.py) and the
LangGraph Agent Server compatible API at the root (mesh/gateway/langgraph.py). It is
stateless: it produces to Kafka and answers reads from its own materialized view.
Every route reads its JSON body through `json_body` (only what the mesh can carry) and
answers errors as `problems` (a problem body naming each field); `openapi` completes
the document those two describe (ADR 018).

The LangGraph API, in reading order: `langgraph` (routes), `langgraph_wire` (request
and response shapes), `run_service` (multitask strategies, cancel, resume), `threads`
(threads and runs in a compacted topic, read into a local view), `conversation` (run
and thread status, messages and interrupts derived from those records and the task
states), `queue` (the one gateway per thread that starts its queued runs),
`langgraph_stream` (kept-alive waits and SSE). Why it is built so: ADR 012.
"""
