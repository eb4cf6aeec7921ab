"""`ctx.chat_with_tools`: ask the model, run the tools it calls, ask again (ADR 023).

Each iteration is one `ctx.chat` with the tools offered. An answer without tool calls
ends the loop and is returned. An answer with tool calls has every call checked
against its tool's arguments model (a misfit goes back to the model as a tool message
naming the fields, with no delegation), the valid ones started in the answer's order
and awaited together, so the calls take the wall time of the slowest; each result, or
why a child did not succeed, goes back as a tool message, and the model is asked again.

Exactly once on a re-run (a retry, a crash): every input of the loop is journaled, so
it replays without a model call or a new child. The model calls are journaled steps
bound to their request (ADR 020); the children re-attach, since their ids follow the
order of delegations (mesh/handles.py), which the replayed answers reproduce; and the
steering messages each iteration took are a step of their own
(`tool-loop/<loop>/<iteration>/steers`), since a re-run may not receive them again.

Steering: the steers that arrived since the last model call join the conversation as
user messages before the next one. Cancelling the task cancels the tool calls in
flight: they are the task's children, which the runner cancels with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import orjson
from pydantic import BaseModel, ValidationError

from mesh.errors import SetupError, ToolLoopExhausted
from mesh.models.types import ChatMessage, ModelAnswer, ToolCall, Usage
from mesh.tools import AgentTool, Tool
from schemas.tasks import Steer

if TYPE_CHECKING:
    from mesh.context import TaskContext

M = TypeVar("M", bound=BaseModel)

DEFAULT_MAX_ITERATIONS = 10


class ToolLoop:
    """`ctx.chat_with_tools` (a callable object, so its overloads type the answer)."""

    def __init__(self, ctx: TaskContext) -> None:
        self._ctx = ctx
        self._loops = 0  # loops begun in this run: names their journal steps
        # Steers an earlier run took (journaled), which this run may receive again.
        self._replayed: list[Steer] = []

    @overload
    async def __call__(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[Tool],
        output: None = None,
        max_iterations: int = DEFAULT_MAX_ITERATIONS,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ModelAnswer[None]: ...

    @overload
    async def __call__(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[Tool],
        output: type[M],
        max_iterations: int = DEFAULT_MAX_ITERATIONS,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ModelAnswer[M]: ...

    async def __call__(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[Tool],
        output: type[BaseModel] | None = None,
        max_iterations: int = DEFAULT_MAX_ITERATIONS,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ModelAnswer[Any]:
        """Run the tool loop until the model answers without calling a tool.

        Args:
            messages: the conversation so far, as for `ctx.chat`.
            tools: `AgentTool`s and `FunctionTool`s (mesh/tools.py) the model may call.
            output: a pydantic model the final answer must fit (`parsed`).
            max_iterations: the most model calls the loop makes.
            model, max_tokens, temperature: as for `ctx.chat`, on every call.

        Returns:
            The final answer; its `usage` is the whole loop's (every call's summed).

        Raises:
            SetupError: two tools share a name, an agent tool's agent is not in this
                agent's `delegates_to`, or `max_iterations` < 1.
            ToolLoopExhausted: the last allowed call still called tools (permanent).
            ModelError: a call failed, as `ctx.chat` raises.
        """
        by_name = _checked(tools, self._ctx, max_iterations)
        self._loops += 1
        run = _LoopRun(self._ctx, by_name, loop=self._loops, replayed=self._replayed)
        conversation = [ChatMessage.model_validate(m) for m in messages]
        specs = [tool.spec for tool in tools]
        usage = Usage()
        for iteration in range(max_iterations):
            conversation += await run.steers(iteration)
            answer = await self._ctx.chat(
                conversation,
                tools=specs,
                output=output,
                model=model,
                max_tokens=max_tokens,
                temperature=temperature,
            )
            usage += answer.usage
            if not answer.tool_calls:
                return answer.model_copy(update={"usage": usage})
            conversation.append(ChatMessage.assistant(answer.content, answer.tool_calls))
            conversation += await run.tool_messages(iteration, answer.tool_calls)
        raise ToolLoopExhausted(
            f"the model still called tools after {max_iterations} model calls "
            f"(max_iterations={max_iterations}); raise it, or catch ToolLoopExhausted "
            "and use its last answer",
            model=answer.model,
            answer=answer,
            iterations=max_iterations,
        )


class _LoopRun:
    """One loop's state: its tools, its journal steps' prefix, the steers it replayed."""

    def __init__(
        self, ctx: TaskContext, tools: dict[str, Tool], *, loop: int, replayed: list[Steer]
    ) -> None:
        self._ctx = ctx
        self._tools = tools
        self._prefix = f"tool-loop/{loop}"
        self._replayed = replayed  # shared by the run's loops (`ToolLoop._replayed`)

    async def steers(self, iteration: int) -> list[ChatMessage]:
        """The steers that joined the conversation before model call `iteration`."""
        took_now = False

        def take_pending() -> list[Steer]:
            nonlocal took_now
            took_now = True
            return [s for s in self._ctx.pending_steers() if not self._seen_before(s)]

        steers = await self._ctx.step(f"{self._prefix}/{iteration}/steers", take_pending)
        if not took_now:
            self._replayed.extend(steers)
        return [_steer_message(steer) for steer in steers if steer.text or steer.data]

    def _seen_before(self, steer: Steer) -> bool:
        """Whether `steer` is one an earlier run already took (its redelivery)."""
        if steer in self._replayed:
            self._replayed.remove(steer)
            return True
        return False

    async def tool_messages(self, iteration: int, calls: Sequence[ToolCall]) -> list[ChatMessage]:
        """Run one answer's tool calls; their results as tool messages, in call order."""
        pending: list[Callable[[], Awaitable[str]] | str] = []
        for index, call in enumerate(calls):
            tool = self._tools.get(call.name)
            if tool is None:
                pending.append(_unknown_tool(call, self._tools))
                continue
            try:
                arguments = tool.parse(call.arguments)
            except ValidationError as exc:
                pending.append(_invalid_arguments(call, exc))
                continue
            step = f"{self._prefix}/{iteration}/{index}"
            pending.append(await tool.start(self._ctx, arguments, step=step))
        texts = await _all(pending)
        return [ChatMessage.tool(call.id, text) for call, text in zip(calls, texts, strict=True)]


async def _all(pending: Sequence[Callable[[], Awaitable[str]] | str]) -> list[str]:
    """Await the calls together; the first failure (other calls cancelled) is raised as
    itself, so the task's `RetryPolicy` sees its type."""
    tasks: list[asyncio.Task[str] | str] = []
    try:
        async with asyncio.TaskGroup() as group:
            for item in pending:
                tasks.append(item if isinstance(item, str) else group.create_task(_text(item)))
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return [item if isinstance(item, str) else item.result() for item in tasks]


async def _text(call: Callable[[], Awaitable[str]]) -> str:
    return await call()


def _checked(tools: Sequence[Tool], ctx: TaskContext, max_iterations: int) -> dict[str, Tool]:
    if max_iterations < 1:
        raise SetupError(f"chat_with_tools(max_iterations=...) must be >= 1, got {max_iterations}")
    by_name: dict[str, Tool] = {}
    for tool in tools:
        if tool.name in by_name:
            raise SetupError(f"two tools are named {tool.name!r}; give one another name=")
        if isinstance(tool, AgentTool) and tool.agent not in ctx.agent.delegates_to:
            raise SetupError(
                f"agent {ctx.agent.name!r} offers agent {tool.agent!r} as a tool, which is "
                f"not in its delegates_to {list(ctx.agent.delegates_to)!r}; add it there"
            )
        by_name[tool.name] = tool
    return by_name


def _steer_message(steer: Steer) -> ChatMessage:
    """A steer as the user's words: its text, then its data as JSON (when any)."""
    parts = [steer.text] if steer.text else []
    if steer.data:
        parts.append(orjson.dumps(steer.data, option=orjson.OPT_SORT_KEYS).decode())
    return ChatMessage.user("\n\n".join(parts))


def _unknown_tool(call: ToolCall, tools: dict[str, Tool]) -> str:
    return f"error: there is no tool {call.name!r}; the tools are {sorted(tools)!r}"


def _invalid_arguments(call: ToolCall, exc: ValidationError) -> str:
    fields = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
    )
    return (
        f"error: the arguments of {call.name!r} do not fit its schema ({fields}); "
        "call it again with arguments that fit"
    )
