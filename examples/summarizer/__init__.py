"""`summarizer`: the README's example agent (`mesh run examples.summarizer:agent`)."""

from agents.contracts import KnowledgeHits, KnowledgeSearch
from examples.summarizer.contracts import Summarize, Summary, SummaryWritten
from mesh import Agent, Reject, TaskContext

agent = Agent(
    "summarizer",
    description="Summarizes what the knowledge base says about a topic.",
    delegates_to=["knowledge"],
    emits=["summarizer.summary.written"],
)


@agent.task
async def summarize(ctx: TaskContext, request: Summarize) -> Summary:
    await ctx.progress("searching", topic=request.topic)
    search = await ctx.delegate(  # returns at once; the child runs on its own
        "knowledge",
        KnowledgeSearch(query=request.topic, limit=request.articles),
        result=KnowledgeHits,  # what awaiting it gives: a TaskHandle[KnowledgeHits]
    )
    hits = await search  # a KnowledgeHits; several children: ctx.gather(a, b)
    if not hits.articles:
        raise Reject(f"the knowledge base has nothing on {request.topic!r}")  # dead-lettered
    points = [f"{article.title}: {article.snippet}" for article in hits.articles]
    if request.review_seconds:
        await ctx.progress("draft ready", points=len(points))
        steer = await ctx.next_steer(timeout=request.review_seconds)  # `mesh steer`
        if steer is not None and "brief" in steer.text:
            points = points[:1]
    text = " ".join(points)
    await ctx.emit(SummaryWritten(topic=request.topic, text=text), key=request.topic)
    return Summary(topic=request.topic, text=text, article_ids=[a.id for a in hits.articles])
