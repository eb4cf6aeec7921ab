"""Scripted agents behind the gateway in its tests (no LLM): echo, slow, fail, ask.

`input.messages` from LangGraph clients and `{"text": ...}` from native clients both
reach them; each answers with `{"text": ...}` so either API can show the answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mesh import Agent, RetryPolicy, TaskContext
from schemas import REGISTRY


@REGISTRY.register("gateway_test.prompt", 1)
class Prompt(BaseModel):
    text: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    seconds: float = 0.0

    def last_text(self) -> str:
        """The last user message's text, else `text`."""
        for message in reversed(self.messages):
            content = message.get("content")
            if message.get("role", message.get("type")) in ("user", "human") and content:
                return content if isinstance(content, str) else str(content)
        return self.text


echo = Agent("echo", description="Answers `echo: <last user text>`.")
slow = Agent("slow", description="Reports progress each 0.1 s for `seconds`; steerable.")
fail = Agent("fail", description="Always raises.", retry=RetryPolicy(max_attempts=1))
ask = Agent("ask", description="Asks a human, then answers with the reply.")
ALL = [echo, slow, fail, ask]


@echo.task
async def echo_text(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    return {"text": f"echo: {prompt.last_text()}"}


@slow.task
async def slow_text(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    seconds = prompt.seconds or 30.0
    steps = max(1, int(seconds / 0.1))
    steered: list[str] = []
    for step in range(steps):
        await ctx.progress(f"step {step + 1}/{steps}")
        steer = await ctx.next_steer(timeout=0.1)
        if steer is not None:
            steered.append(steer.text)
    return {"text": f"slow: {prompt.last_text()}", "steered": steered}


@fail.task
async def fail_text(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    raise RuntimeError(f"asked to fail: {prompt.last_text()}")


@ask.task
async def ask_human(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    answer = await ctx.escalate(f"approve {prompt.last_text()!r}?", timeout=60.0)
    return {"text": f"human said: {answer.text if answer else '(no answer)'}"}
