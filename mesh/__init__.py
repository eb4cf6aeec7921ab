"""agentmesh runtime (public surface assembled below once modules land)."""
