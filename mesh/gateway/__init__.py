"""The gateway: the mesh's HTTP face for upstream systems and outside supervisors.

`mesh gateway` serves the native API under `/v1` (mesh/gateway/native.py) and the
LangGraph Agent Server compatible API at the root (mesh/gateway/langgraph.py). It is
stateless: it produces to Kafka and answers reads from its own materialized view.
"""
