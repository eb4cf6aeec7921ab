"""The `assistant` agent: answers a question with the mesh's model."""

from agents.assistant.agent import agent

__all__ = ["agent"]
