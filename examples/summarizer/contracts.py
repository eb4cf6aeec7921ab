"""The summarizer's contracts: what it takes, what it returns, what it announces."""

from pydantic import BaseModel, Field

from schemas import REGISTRY


@REGISTRY.register("summarizer.summarize", 1)  # the task type its card advertises
class Summarize(BaseModel):
    topic: str = Field(min_length=1)
    articles: int = Field(default=3, ge=1, le=10)
    review_seconds: float = Field(default=0, ge=0, le=600)  # wait this long for a steer


class Summary(BaseModel):  # the task's result
    topic: str
    text: str
    article_ids: list[str]


@REGISTRY.register("summarizer.summary.written", 1)  # a domain event others may react to
class SummaryWritten(BaseModel):
    topic: str
    text: str
