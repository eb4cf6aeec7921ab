"""The gateway: the mesh's HTTP face for upstream systems and outside supervisors.

`mesh gateway` serves the native API under `/v1` (mesh/gateway/native/routes.py) and the
LangGraph Agent Server compatible API at the root (mesh/gateway/langgraph/routes.py). It is
stateless: it produces to Kafka and answers reads from its own materialized view.
Every route reads its JSON body through `json_body` (only what the mesh can carry) and
answers errors as `problems` (a problem body naming each field); `openapi` completes
the document those two describe (ADR 018).

Shared by both: `app` (the FastAPI app and its server), `gateway` (the `Gateway`
every route shares, which routes reach through the one dependency in `deps`; they
never import `app`), `view` and `index` (the gateway's materialized view),
`webhook_delivery` (signing and attempts of both APIs' webhooks), `problems`,
`json_body`, `openapi`, `limits`, `http_metrics` and `operations` (health and
metrics endpoints).
"""
