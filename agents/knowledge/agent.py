"""`knowledge`: searches the bundled help-centre articles (BM25 ranking)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from agents.knowledge.search import KnowledgeBase
from mesh import Agent, TaskContext
from schemas.support import Article, KnowledgeHits, KnowledgeSearch

agent = Agent("knowledge", description="Searches the help-centre knowledge base (BM25).")

# Building the index (on first use) and ranking are pure-Python CPU work: on the event
# loop they would stall the worker's other tasks, fetches and heartbeats. On a thread
# they hold the GIL a switch interval (5 ms) at a time and the loop runs in between.
# One thread of its own: the index is built once (only that thread builds it), and
# more threads would not search faster, as the GIL runs one at a time anyway.
_search_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knowledge-bm25")


@cache
def knowledge_base() -> KnowledgeBase:
    # Built on first use, not at import: an agent module does no I/O when imported.
    return KnowledgeBase.default()


@agent.task
async def search(ctx: TaskContext, query: KnowledgeSearch) -> KnowledgeHits:
    loop = asyncio.get_running_loop()
    return KnowledgeHits(articles=await loop.run_in_executor(_search_thread, _search, query))


def _search(query: KnowledgeSearch) -> list[Article]:
    return knowledge_base().search(query.query, limit=query.limit)
