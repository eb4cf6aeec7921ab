"""`knowledge`: searches the bundled help-centre articles (BM25 ranking)."""

from __future__ import annotations

import asyncio
import threading
from functools import cache

from agents.contracts import Article, KnowledgeHits, KnowledgeSearch
from agents.knowledge.search import KnowledgeBase
from mesh import Agent, TaskContext

agent = Agent("knowledge", description="Searches the help-centre knowledge base (BM25).")

_first_build = threading.Lock()


@cache
def knowledge_base() -> KnowledgeBase:
    # Built on first use, not at import: an agent module does no I/O when imported.
    return KnowledgeBase.default()


@agent.task
async def search(ctx: TaskContext, query: KnowledgeSearch) -> KnowledgeHits:
    # Building the index (on first use) and ranking are pure-Python CPU work: on the
    # event loop they would stall the worker's other tasks, fetches and heartbeats. On
    # a thread they hold the GIL a switch interval (5 ms) at a time, and the loop runs
    # in between. The shared pool rather than one thread of our own: while the loop is
    # busy a search waits up to a switch interval for the GIL, and searches waiting
    # side by side get it in turn (measured: 1,000 searches in one process, one
    # thread ran at 0.75-0.8 of the on-loop rate, the pool at 0.9-1.1). The built
    # index is only read, so concurrent searches are safe.
    return KnowledgeHits(articles=await asyncio.to_thread(_search, query))


def _search(query: KnowledgeSearch) -> list[Article]:
    with _first_build:  # concurrent first searches build the index once, not each
        index = knowledge_base()
    return index.search(query.query, limit=query.limit)
