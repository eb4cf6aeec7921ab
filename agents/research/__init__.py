"""`research`: the research desk's supervisor (the seeds' async-subagent scenario)."""

from agents.research.agent import agent

__all__ = ["agent"]
