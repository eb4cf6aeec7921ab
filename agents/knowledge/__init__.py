"""The `knowledge` agent: BM25 search over the bundled help-centre articles."""

from agents.knowledge.agent import agent

__all__ = ["agent"]
