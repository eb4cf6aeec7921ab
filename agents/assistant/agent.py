"""`assistant`: answers a question with the mesh's model, its tokens streamed.

The reference agent that needs a model (triage uses one when there is one, ADR 029):
`ModelSpec()` means "the mesh's model",
which `make dev` points at its embedded SmolLM2-135M-Instruct (MESH_MODEL_ENDPOINT
and MESH_MODEL_NAME name a hosted one instead). The call is a durable step of the
task (`ctx.chat`, mesh/models): a re-run after a crash gets the journaled answer
back instead of asking again.

A 135M-parameter model writes fluent, short English but is often wrong on facts:
the agent shows the plumbing (a model call in a task, its tokens and usage), not
an oracle.
"""

from __future__ import annotations

from agents.contracts import AskAssistant, AssistantAnswer
from mesh import Agent, ChatMessage, ModelSpec, TaskContext

agent = Agent(
    "assistant",
    description="Answers a question with the mesh's model (in make dev: a small local one).",
    model=ModelSpec(),
)

INSTRUCTIONS = "You are a helpful assistant. Answer in at most three short sentences."


@agent.task
async def ask(ctx: TaskContext, request: AskAssistant) -> AssistantAnswer:
    messages = [ChatMessage.system(INSTRUCTIONS), ChatMessage.user(request.question)]
    # stream=True: the tokens reach the gateway's SSE, LangGraph's messages mode and
    # `mesh task --follow` as they come; the answer returned here is the whole one.
    answer = await ctx.chat(messages, max_tokens=request.max_tokens, temperature=0, stream=True)
    return AssistantAnswer(
        answer=(answer.content or "").strip(),
        model=answer.model,
        input_tokens=answer.usage.input_tokens,
        output_tokens=answer.usage.output_tokens,
    )
