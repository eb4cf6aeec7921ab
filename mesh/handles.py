"""`TaskHandle`: a delegated child task, typed by its result; and the children's ids.

`ctx.delegate(agent, input, result=Model)` returns a `TaskHandle[Model]`; awaiting it
waits for the child's outcome (it arrives in the parent's inbox, mesh/runtime) and
validates the child's result into `Model`, the way a Temporal workflow handle gives
its workflow's return type. Without `result=`, a `TaskHandle[dict[str, Any]]` gives
the result's JSON object. A parent can also steer or cancel a running child through
its handle (`handle.steer(...)`, `handle.cancel(...)`), as a client would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Generator
from typing import Any, Generic, Literal, Protocol, TypeVar, overload

from pydantic import BaseModel, ValidationError

from mesh.errors import (
    ChildCancelled,
    ChildFailed,
    ChildResultInvalid,
    ChildTimedOut,
    SetupError,
)
from schemas.tasks import (
    CANCEL,
    DEADLINE_EXCEEDED,
    STEER,
    Cancel,
    Steer,
    TaskError,
    TaskOutcome,
    TaskStatus,
)

R = TypeVar("R", covariant=True)  # what awaiting a handle gives
T = TypeVar("T")
R1 = TypeVar("R1")
R2 = TypeVar("R2")
R3 = TypeVar("R3")


class ChildControl(Protocol):
    """Sends a control message (steer, cancel) to a child's inbox (mesh/runtime/children.py)."""

    async def send(self, task_id: str, agent: str, type_: str, message: BaseModel) -> None: ...


class TaskHandle(Generic[R]):
    """A delegated child task: `await handle` returns its result or raises `ChildError`.

    The result is the child's result model when the parent named it
    (`ctx.delegate(..., result=Model)`: a `TaskHandle[Model]`), else its JSON object
    (a `TaskHandle[dict[str, Any]]`).
    """

    def __init__(
        self,
        task_id: str,
        agent: str,
        outcome: asyncio.Future[TaskOutcome],
        convert: Callable[[dict[str, Any]], R],
        control: ChildControl | None = None,
    ) -> None:
        self.task_id = task_id
        self.agent = agent
        self._outcome = outcome
        self._convert = convert
        self._control = control

    def __repr__(self) -> str:
        return f"TaskHandle({self.task_id!r}, agent={self.agent!r}, done={self.done()})"

    def done(self) -> bool:
        return self._outcome.done()

    async def result(self) -> R:
        """Wait for the child to end; its result, or why it did not succeed.

        Raises:
            ChildFailed: it failed or was dead-lettered.
            ChildTimedOut: it ran past its deadline.
            ChildCancelled: it was cancelled.
            ChildResultInvalid: it succeeded with a result that does not fit `result=`.
        """
        outcome = await asyncio.shield(self._outcome)
        if outcome.status is TaskStatus.SUCCEEDED:
            try:
                return self._convert(outcome.result or {})
            except ValidationError as exc:
                error = TaskError(type="ChildResultInvalid", message=str(exc)[:2000])
                raise ChildResultInvalid(self.task_id, self.agent, error) from exc
        if outcome.status is TaskStatus.CANCELLED:
            raise ChildCancelled(self.task_id, self.agent, outcome.error)
        if outcome.error is not None and outcome.error.type == DEADLINE_EXCEEDED:
            raise ChildTimedOut(self.task_id, self.agent, outcome.error)
        raise ChildFailed(self.task_id, self.agent, outcome.error)

    async def steer(self, text: str = "", **data: Any) -> None:
        """Send the running child a steering message (its `ctx.next_steer` gets it)."""
        await self._send(STEER, Steer(text=text, data=data))

    async def cancel(self, reason: str = "cancelled by its parent") -> None:
        """Ask the child to cancel (its own children with it); awaiting this handle then
        raises `ChildCancelled`. A child that has already ended is left as it is."""
        if not self.done():
            await self._send(CANCEL, Cancel(reason=reason))

    async def _send(self, type_: str, message: BaseModel) -> None:
        if self._control is None:
            raise SetupError(f"{self!r} was not made by `ctx.delegate`: it cannot be controlled")
        await self._control.send(self.task_id, self.agent, type_, message)

    def __await__(self) -> Generator[Any, None, R]:
        return self.result().__await__()


def as_json(result: dict[str, Any]) -> dict[str, Any]:
    """The conversion of a handle without a result model: the JSON object itself."""
    return result


def child_task_id(parent_task_id: str, n: int) -> str:
    """The id of a task's `n`th child: the same on every run, so a re-run re-attaches."""
    return uuid.uuid5(uuid.UUID(_as_uuid(parent_task_id)), str(n)).hex


def _as_uuid(task_id: str) -> str:
    """Task ids are uuid hex; foreign ids (from upstream systems) are hashed into one."""
    try:
        return str(uuid.UUID(task_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, task_id))


class Gather:
    """`ctx.gather` (a callable object, so the overloads survive as a class attribute)."""

    @overload
    async def __call__(
        self,
        h1: TaskHandle[R1],
        h2: TaskHandle[R2],
        /,
        *,
        return_exceptions: Literal[False] = False,
    ) -> tuple[R1, R2]: ...

    @overload
    async def __call__(
        self,
        h1: TaskHandle[R1],
        h2: TaskHandle[R2],
        h3: TaskHandle[R3],
        /,
        *,
        return_exceptions: Literal[False] = False,
    ) -> tuple[R1, R2, R3]: ...

    @overload
    async def __call__(
        self, h1: TaskHandle[R1], h2: TaskHandle[R2], /, *, return_exceptions: Literal[True]
    ) -> tuple[R1 | BaseException, R2 | BaseException]: ...

    @overload
    async def __call__(
        self,
        h1: TaskHandle[R1],
        h2: TaskHandle[R2],
        h3: TaskHandle[R3],
        /,
        *,
        return_exceptions: Literal[True],
    ) -> tuple[R1 | BaseException, R2 | BaseException, R3 | BaseException]: ...

    @overload
    async def __call__(
        self, *handles: TaskHandle[T], return_exceptions: Literal[False] = False
    ) -> tuple[T, ...]: ...

    @overload
    async def __call__(
        self, *handles: TaskHandle[T], return_exceptions: bool
    ) -> tuple[T | BaseException, ...]: ...

    async def __call__(
        self, *handles: TaskHandle[Any], return_exceptions: bool = False
    ) -> tuple[Any, ...]:
        """Wait for several children at once: wall time is the slowest, not the sum.

        Returns their results in the order of `handles`, each typed as its handle's
        (`gather(hits, orders)` is a `tuple[KnowledgeHits, OrdersFound]`). With
        `return_exceptions=True` a child that did not succeed gives its `ChildError`
        in its place instead of raising it.
        """
        results = await asyncio.gather(
            *(h.result() for h in handles), return_exceptions=return_exceptions
        )
        return tuple(results)


gather = Gather()
