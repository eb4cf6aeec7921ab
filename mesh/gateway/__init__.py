"""The gateway: the mesh's HTTP face for upstream systems and outside supervisors.

`mesh gateway` serves the native API under `/v1` (mesh/gateway/native/routes.py) and the
LangGraph Agent Server compatible API at the root (mesh/gateway/langgraph/routes.py). It is
stateless: it produces to Kafka and answers reads from its own materialized view.
Every route reads its JSON body through `_json_body` (only what the mesh can carry) and
answers errors as `_problems` (a problem body naming each field); `_openapi` completes
the document those two describe (ADR 018).

Public: `app` (the FastAPI app and its server) and `gateway` (the `Gateway` every
route shares, which routes reach through the one dependency in `_deps`; they never
import `app`). Private, shared by both APIs: `_view` and `_index` (the gateway's
materialized view), `_webhook_delivery` (signing and attempts of both APIs'
webhooks), `_problems`, `_json_body`, `_openapi`, `_limits`, `_http_metrics` and
`_operations` (health and metrics endpoints).
"""
