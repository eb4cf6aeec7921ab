"""`Agent`: the definition of one agent type (what it handles, whom it may call).

An agent is declared at import time and does no I/O then; `mesh run` hands it to a
`Worker`. Handlers are `async def handler(ctx, message)`, where the type annotation
of `message` is a model registered in `schemas.REGISTRY`; it decides which messages
the handler receives::

    agent = Agent("knowledge", delegates_to=["orders"])

    @agent.task
    async def search(ctx: TaskContext, query: KnowledgeSearch) -> KnowledgeHits: ...

    @agent.on_event
    async def index(ctx: TaskContext, event: ArticlePublished) -> None: ...

Mistakes raise `SetupError` here, at registration, with what to change.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel

from mesh.errors import SetupError
from mesh.models.spec import ModelSpec, resolve_targets
from mesh.retry import RetryPolicy
from mesh.settings import Settings
from schemas import REGISTRY
from schemas.envelope import Budget
from schemas.registry import SchemaError

if TYPE_CHECKING:
    from mesh.context import TaskContext

HandlerFn = Callable[["TaskContext", Any], Awaitable[Any]]
F = TypeVar("F", bound=HandlerFn)
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Handler:
    kind: Literal["task", "event"]
    message_type: str
    version: int
    model: type[BaseModel]
    fn: HandlerFn


class Agent:
    """One agent type: a consumer group on its inbox and on the events it subscribes to.

    Args:
        name: lower-case identifier; also the consumer group and inbox topic name.
        description: one line for `mesh agents` and the gateway's assistant list.
        delegates_to: agent types this one may delegate to (checked on `ctx.delegate`).
        emits: domain event types its handlers publish (checked on `ctx.emit`); with
            `delegates_to`, what its Kafka ACLs are derived from (mesh/security).
        max_inflight: cap on concurrently running tasks per process (default: setting).
        timeout: seconds a task may run before it fails (None: only its deadline).
        retry: how failed tasks are retried before they are dead-lettered
            (default `RetryPolicy()`: 3 attempts, 1 s then 2 s apart).
        model: the model its handlers call with `ctx.chat` (`MESH_MODELS` and the
            `MESH_MODEL_*` settings override and fill it, mesh/models/spec.py); a worker
            checks at start-up that it resolves. None: `ctx.chat` uses the settings.
        budget: what a task tree rooted at this agent type may spend on model calls
            when its request brings no budget (ADR 025); None: no default.
    """

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        delegates_to: Sequence[str] = (),
        emits: Sequence[str] = (),
        max_inflight: int | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        model: ModelSpec | None = None,
        budget: Budget | None = None,
    ) -> None:
        if not _NAME.match(name):
            raise SetupError(
                f"agent name {name!r} must match {_NAME.pattern} (lower case, digits, - or _)"
            )
        for target in delegates_to:
            if not _NAME.match(target):
                raise SetupError(f"agent {name!r}: delegates_to entry {target!r} is not a name")
        if max_inflight is not None and max_inflight < 1:
            raise SetupError(f"agent {name!r}: max_inflight must be >= 1, got {max_inflight!r}")
        if timeout is not None and timeout <= 0:
            raise SetupError(f"agent {name!r}: timeout must be > 0 seconds, got {timeout!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise SetupError(
                f"agent {name!r}: retry must be a mesh.RetryPolicy, got {type(retry).__name__}"
            )
        if model is not None and not isinstance(model, ModelSpec):
            raise SetupError(
                f"agent {name!r}: model must be a mesh.models.ModelSpec, got {type(model).__name__}"
            )
        if budget is not None and not isinstance(budget, Budget):
            raise SetupError(f"agent {name!r}: budget must be a mesh.Budget, got {budget!r}")
        self.model = model
        self.budget = budget
        self.retry = retry or RetryPolicy()
        self.name = name
        self.description = description
        self.delegates_to = tuple(delegates_to)
        self.emits = tuple(emits)
        self.max_inflight = max_inflight
        self.timeout = timeout
        self.handlers: dict[str, Handler] = {}

    def __repr__(self) -> str:
        return f"Agent({self.name!r}, handlers={sorted(self.handlers)})"

    def task(self, fn: F) -> F:
        """Register the handler of this agent's tasks (one per agent)."""
        if self.task_handler is not None:
            raise SetupError(
                f"agent {self.name!r} already has task handler {self.task_handler.fn.__name__!r}; "
                "an agent type takes one task input type (split it into two agents)"
            )
        self._add(fn, "task")
        return fn

    def on_event(self, fn: F) -> F:
        """Register a handler for a domain event type (taken from its annotation)."""
        self._add(fn, "event")
        return fn

    @property
    def task_handler(self) -> Handler | None:
        return next((h for h in self.handlers.values() if h.kind == "task"), None)

    @property
    def event_types(self) -> list[str]:
        return sorted(h.message_type for h in self.handlers.values() if h.kind == "event")

    def validate(self, settings: Settings | None = None) -> None:
        """Raise `SetupError` when the agent cannot run (called by the worker at start,
        with its settings: a declared model must then resolve to a name and endpoint)."""
        if settings is not None and self.model is not None:
            resolve_targets(self.name, self.model, settings)
        if not self.handlers:
            raise SetupError(
                f"agent {self.name!r} has no handlers; decorate an async function with "
                f"@{self.name}.task or @{self.name}.on_event"
            )

    def _add(self, fn: HandlerFn, kind: Literal["task", "event"]) -> None:
        where = f"handler {getattr(fn, '__name__', fn)!r} of agent {self.name!r}"
        if not inspect.iscoroutinefunction(fn):
            raise SetupError(f"{where} must be an `async def` function")
        model = _message_model(fn, where)
        try:
            type_, version = REGISTRY.type_of(model)
        except SchemaError as exc:
            raise SetupError(f"{where}: {exc}") from None
        if type_ in self.handlers:
            raise SetupError(f"{where}: agent already handles {type_!r}")
        self.handlers[type_] = Handler(kind, type_, version, model, fn)


def _message_model(fn: HandlerFn, where: str) -> type[BaseModel]:
    params = list(inspect.signature(fn).parameters.values())
    if len(params) != 2:
        raise SetupError(f"{where} must take exactly (ctx, message), got {len(params)} params")
    try:
        hints = typing.get_type_hints(fn)
    except NameError as exc:
        raise SetupError(f"{where}: cannot resolve annotations ({exc})") from None
    model = hints.get(params[1].name)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise SetupError(
            f"{where}: annotate parameter {params[1].name!r} with a registered pydantic model"
        )
    return model
