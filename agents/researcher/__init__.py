"""`researcher`: researches one subtopic of a question for the research desk."""

from agents.researcher.agent import agent

__all__ = ["agent"]
