"""`knowledge`: searches the bundled help-centre articles (BM25 ranking)."""

from __future__ import annotations

from functools import cache

from agents.knowledge.search import KnowledgeBase
from mesh import Agent, TaskContext
from schemas.support import KnowledgeHits, KnowledgeSearch

agent = Agent("knowledge", description="Searches the help-centre knowledge base (BM25).")


@cache
def knowledge_base() -> KnowledgeBase:
    # Built on first use, not at import: an agent module does no I/O when imported.
    return KnowledgeBase.default()


@agent.task
async def search(ctx: TaskContext, query: KnowledgeSearch) -> KnowledgeHits:
    articles = knowledge_base().search(query.query, limit=query.limit)
    return KnowledgeHits(articles=articles)
