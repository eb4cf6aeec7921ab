"""The `triage` agent: classifies tickets and drafts replies from gathered facts."""

from agents.triage.agent import agent

__all__ = ["agent"]
