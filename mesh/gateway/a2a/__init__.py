"""The gateway's A2A server (ADR 041): every agent type that takes tasks is an A2A 1.0
agent (mesh/gateway/a2a/routes.py)."""
