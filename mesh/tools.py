"""Tools a model may call in `ctx.chat_with_tools` (mesh/tool_loop.py, ADR 023).

`AgentTool(agent)` offers an agent type as a tool: the tool's name is the agent's name,
its description the agent's, its arguments the JSON Schema of the agent's task input
model. A call runs as a delegation (`ctx.delegate`): a child task with its own
retries, deadline, history and cancellation, re-attached (not started again) when the
parent runs again. The calling agent must list the agent in its `delegates_to`.

`FunctionTool(fn)` offers a plain async function whose one argument is a pydantic
model; a call runs as a durable step (`ctx.step`), so a re-run replays its result.

A tool's result reaches the model as the text of a tool message: JSON for a model or a
JSON value, a string as it is.
"""

from __future__ import annotations

import functools
import inspect
import typing
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from mesh._steps import jsonable
from mesh.errors import ChildError, ChildResultInvalid, SetupError
from mesh.handles import TaskHandle
from mesh.models.types import ToolSpec
from schemas import REGISTRY
from schemas.registry import SchemaError
from schemas.tasks import AgentCard

if TYPE_CHECKING:
    from mesh.agent import Agent
    from mesh.context import TaskContext


class Tool(ABC):
    """A tool offered to the model: its spec, its arguments' model, and how a call runs."""

    def __init__(self, spec: ToolSpec, arguments: type[BaseModel]) -> None:
        self.spec = spec
        self.arguments = arguments

    @property
    def name(self) -> str:
        return self.spec.name

    def parse(self, raw: dict[str, Any]) -> BaseModel:
        """The call's arguments as the tool's model.

        Raises:
            pydantic.ValidationError: they do not fit (the loop tells the model which fields).
        """
        return self.arguments.model_validate(raw)

    @abstractmethod
    async def start(
        self, ctx: TaskContext, arguments: BaseModel, *, step: str
    ) -> Callable[[], Awaitable[str]]:
        """Begin one call; return what, called and awaited, gives its result as text.

        Called for a model answer's calls one after another, in order (delegations
        take their child ids in that order); the results are awaited together, so
        what may wait long (a child, a function) waits in the returned callable.
        `step` names this call in the task's journal.
        """


class AgentTool(Tool):
    """An agent type offered to the model as a tool; a call delegates to it.

    Args:
        agent: the `Agent` (its task input model gives the arguments), or its
            `AgentCard` from the registry (`client.agents()`), whose input model must
            be registered in this process (`schemas.REGISTRY`).
        result: the child's result model (`ctx.delegate(..., result=)`); None: its JSON.
        name: the tool's name (default: the agent's name).
        description: what the tool does, for the model (default: the agent's description).

    Raises:
        SetupError: the agent has no task handler, or its card names no registered input.
    """

    def __init__(
        self,
        agent: Agent | AgentCard,
        *,
        result: type[BaseModel] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        arguments = _input_model(agent)
        text = agent.description if description is None else description
        spec = ToolSpec.from_model(name or agent.name, arguments, text)
        super().__init__(spec, arguments)
        self.agent = agent.name
        self.result = result

    async def start(
        self, ctx: TaskContext, arguments: BaseModel, *, step: str
    ) -> Callable[[], Awaitable[str]]:
        handle = await ctx.delegate(self.agent, arguments, result=self.result)
        return functools.partial(_child_result, handle)


class FunctionTool(Tool):
    """A plain async function offered as a tool: `async def fn(args: Model) -> ...`.

    A call runs as the durable step `step` (`ctx.step`); its return annotation says
    how the journaled result is rebuilt (mesh/_steps.py). An exception it raises is
    the handler's failure (the task's `RetryPolicy` decides), not a tool message.

    Args:
        fn: the function; its one parameter's annotation is the arguments' model.
        name: the tool's name (default: the function's name).
        description: what it does (default: the function's docstring).

    Raises:
        SetupError: `fn` is not `async`, or does not take exactly one model argument.
    """

    def __init__(
        self,
        fn: Callable[[Any], Awaitable[Any]],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        arguments = _argument_model(fn)
        text = (inspect.getdoc(fn) or "") if description is None else description
        super().__init__(ToolSpec.from_model(name or fn.__name__, arguments, text), arguments)
        self.fn = fn

    async def start(
        self, ctx: TaskContext, arguments: BaseModel, *, step: str
    ) -> Callable[[], Awaitable[str]]:
        return functools.partial(self._run, ctx, arguments, step)

    async def _run(self, ctx: TaskContext, arguments: BaseModel, step: str) -> str:
        return as_text(await ctx.step(step, self.fn, arguments))


def as_text(value: object) -> str:
    """A tool's result as a tool message's text: JSON, or a string as it is."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return orjson.dumps(value, default=jsonable).decode()


async def _child_result(handle: TaskHandle[Any]) -> str:
    """The child's result, or why it did not succeed (the model may try another way)."""
    try:
        return as_text(await handle)
    except ChildResultInvalid:
        raise  # the two agents disagree on the result's contract: a bug, not an answer
    except ChildError as exc:
        reason = f"{exc.error.type}: {exc.error.message}" if exc.error else "no detail"
        return f"error: the {exc.agent!r} task did not succeed ({reason})"


def _input_model(agent: Agent | AgentCard) -> type[BaseModel]:
    if isinstance(agent, AgentCard):
        if agent.task_type is None or agent.task_version is None:
            raise SetupError(f"agent {agent.name!r} takes no tasks, so it cannot be a tool")
        try:
            return REGISTRY.model_for(agent.task_type, agent.task_version)
        except SchemaError as exc:
            raise SetupError(
                f"agent {agent.name!r} takes {agent.task_type!r} v{agent.task_version}, "
                "which is not registered in this process: import the module that "
                "registers it, or pass the Agent"
            ) from exc
    handler = agent.task_handler
    if handler is None:
        raise SetupError(f"agent {agent.name!r} has no task handler, so it cannot be a tool")
    return handler.model


def _argument_model(fn: Callable[..., Any]) -> type[BaseModel]:
    where = f"FunctionTool({getattr(fn, '__name__', fn)!r})"
    if not inspect.iscoroutinefunction(fn):
        raise SetupError(f"{where}: the function must be `async def`")
    parameters = list(inspect.signature(fn).parameters.values())
    hints = typing.get_type_hints(fn)
    model = hints.get(parameters[0].name) if len(parameters) == 1 else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise SetupError(
            f"{where}: the function must take exactly one argument annotated with a "
            "pydantic model (the tool's arguments)"
        )
    return model
