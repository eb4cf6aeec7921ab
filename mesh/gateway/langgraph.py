"""The LangGraph Agent Server compatible API at the root (threads, runs, assistants).

See ../shared/reference/langgraph-agent-server-api.md for the shapes real clients use.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
