"""The `orders` agent: customer order lookups in a read-only SQLite database."""

from agents.orders.agent import agent

__all__ = ["agent"]
