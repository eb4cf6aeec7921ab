"""The `refunds` agent: issues refunds; a person approves those above a threshold."""

from agents.refunds.agent import agent

__all__ = ["agent"]
