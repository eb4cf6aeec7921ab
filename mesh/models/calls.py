"""`ctx.chat`: a model call as a durable step, with fallbacks and an output schema.

Each call is a step of the task journal (mesh/runtime/journal.py, ADR 020): the answer
and its usage are journaled before `chat` returns, so a run of the task after a crash
or a retry gets the journaled answer back and pays nothing. The step's name is bound
to the request: `model/<hash>/<n>`, the hash of the canonical request (the models to
try, messages, tools, output schema, parameters) and `n` counting identical requests
within one run. A different request is a different step, so a new call.

Fallbacks: the models are tried in order (mesh/models/spec.py) while one is
unavailable (connection, timeout, 5xx) or rate limited for longer than
`MESH_MODEL_FALLBACK_WAIT`; a shorter limit is raised at once (`ModelRateLimited` is a
`Retry`: the task runs again after it, with no sleep in the worker). When every model
fails, the last error is raised to the agent's `RetryPolicy`.

With an output schema, an answer that does not fit is asked for once more with the
validation errors appended to the conversation; a second misfit raises
`ModelOutputInvalid`. Journal replays are not counted in the `mesh_llm_*` metrics.

Accounting (ADR 021, mesh/models/accounting.py): each request is priced by
`MESH_MODEL_PRICES` as it is answered, and the cost journaled with the answer
(`cost_usd`); each answered call (not a replay) goes to the task's recorder as a usage
line, and a call past `MESH_MODEL_MAX_CALLS_PER_TASK` raises `ModelCallLimitExceeded`.

Rate limits (ADR 024, mesh/models/limits.py): each request first waits for its share
of the mesh-wide limits of its model (task priority first); a wait past
`MESH_MODEL_FALLBACK_WAIT` is a `ModelRateLimited` that moves on to the next model.

Budgets (ADR 025, mesh/models/budgets.py): each request first reserves its estimated
cost from the budgets that apply (the task tree's, its agent type's and tenant's per
period) and settles to the real cost after; one that does not fit is `BudgetExceeded`.

With `stream=True` the same answer comes back, but the provider streams it and its
text deltas reach the task's token sink as they come (mesh/models/streaming.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar, cast, overload

import orjson
from pydantic import BaseModel, ValidationError

from mesh.errors import (
    FieldError,
    ModelCallLimitExceeded,
    ModelError,
    ModelOutputInvalid,
    ModelRateLimited,
    ModelRefused,
    ModelUnavailable,
)
from mesh.models.accounting import MODEL_STEP_PREFIX, call_cost, count_usage, usage_line
from mesh.models.base import ModelTarget
from mesh.models.budgets import BudgetScope
from mesh.models.clients import ModelClients
from mesh.models.spec import ModelSpec, resolve_targets
from mesh.models.streaming import CallStream, TokenSink, streamed_answer
from mesh.models.types import ChatMessage, ModelAnswer, ModelRequest, ToolSpec
from mesh.observability.metrics import LLM_REQUEST_SECONDS, LLM_REQUESTS
from mesh.settings import Settings
from schemas.tasks import ModelUsage
from schemas.tokens import TokenDelta

M = TypeVar("M", bound=BaseModel)

_OUTCOMES: dict[type[ModelError], str] = {
    ModelUnavailable: "unavailable",
    ModelRateLimited: "rate_limited",
    ModelRefused: "refused",
    ModelOutputInvalid: "invalid_output",
}


class StepJournal(Protocol):
    """The part of a task's journal (mesh/runtime/journal.py `TaskJournal`) a call uses."""

    def step_result(self, name: str) -> tuple[bool, Any]: ...

    async def record_step(self, name: str, value: Any) -> None: ...


class CallRecorder(Protocol):
    """Where a task's model calls are counted (mesh/runtime/lifecycle.py `TaskRecorder`:
    its state's usage, seeded from the journal's model steps of earlier runs)."""

    def model_calls(self) -> int: ...

    async def record_model_call(self, line: ModelUsage) -> None: ...

    async def model_waiting(self) -> None: ...


class Chat:
    """`ctx.chat`: one per task run (the occurrence counter is per run)."""

    def __init__(
        self,
        agent: str,
        spec: ModelSpec | None,
        settings: Settings,
        *,
        journal: StepJournal,
        effect: Callable[[], AbstractAsyncContextManager[None]],
        clients: ModelClients,
        recorder: CallRecorder,
        tokens: TokenSink | None = None,
        priority: int = 0,
        budget: BudgetScope | None = None,
    ) -> None:
        self._agent = agent
        self._spec = spec
        self._settings = settings
        self._journal = journal
        self._effect = effect
        self._clients = clients
        self._recorder = recorder
        self._tokens = tokens  # None: a streamed call's deltas go nowhere
        self._occurrences: dict[str, int] = {}
        self._in_flight = 0  # calls of this run not answered yet (they count to the cap)
        self._priority = priority  # the task's: first through the rate limits' queue
        self._scope = budget  # the budgets its calls draw from (ADR 025)
        self.budget = budget.tree if budget is not None else None  # children inherit it

    @overload
    async def __call__(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[ToolSpec] | None = None,
        output: None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = False,
    ) -> ModelAnswer[None]: ...

    @overload
    async def __call__(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[ToolSpec] | None = None,
        output: type[M],
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = False,
    ) -> ModelAnswer[M]: ...

    async def __call__(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[ToolSpec] | None = None,
        output: type[BaseModel] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = False,
    ) -> ModelAnswer[Any]:
        """Ask the agent's model (a durable step: a re-run replays the answer).

        Args:
            messages: the conversation (`ChatMessage`s, or dicts of their fields).
            tools: tools the model may call; its calls come back in `tool_calls`.
            output: a pydantic model the answer must fit; it comes back in `parsed`
                (None on an answer that calls tools: that one is not final).
            model: this call's first model (None: the agent's); fallbacks still apply.
            max_tokens: the most tokens the answer may have.
            temperature: sampling temperature (0-2).
            stream: stream the answer: its text reaches the task's live readers as
                it is generated (ADR 022); the answer returned is the same.

        Raises:
            SetupError: no model or endpoint is set (the message names the setting).
            ModelUnavailable, ModelRateLimited, ModelRefused: the call failed (after
                the fallbacks, for the first two).
            ModelOutputInvalid: the answer did not fit `output`, twice.
            ModelCallLimitExceeded: the task has made MESH_MODEL_MAX_CALLS_PER_TASK
                calls (permanent: the task is dead-lettered).
            BudgetExceeded: a request does not fit a budget (ADR 025); may be caught.
        """
        targets = resolve_targets(self._agent, self._spec, self._settings, name=model)
        request = ModelRequest(
            model=targets[0].name,
            messages=tuple(ChatMessage.model_validate(m) for m in messages),
            tools=tuple(tools or ()),
            output_name=output.__name__ if output is not None else None,
            output_schema=output.model_json_schema() if output is not None else None,
            max_tokens=max_tokens,
            temperature=temperature,
        )
        step = self._step_name(request, targets)
        done, value = self._journal.step_result(step)
        if done:
            return _answer_type(output).model_validate(value)
        self._check_call_limit(request.model)
        live = self._call_stream(step) if stream else None
        self._in_flight += 1
        try:
            async with self._effect(), self._keepalive():
                answer = await self._first_answer(step, request, targets, output, live)
                await self._journal.record_step(step, answer.model_dump(mode="json"))
        finally:
            self._in_flight -= 1
        await self._recorder.record_model_call(usage_line(self._agent, answer))
        if live is not None:
            await live.sink.answered(step, answer)
        return answer

    @asynccontextmanager
    async def _keepalive(self) -> AsyncIterator[None]:
        """While the call runs, tell the task's readers and the supervisor every
        MESH_MODEL_KEEPALIVE seconds that it is waiting for the model, not stuck."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self._settings.model_keepalive)
                await self._recorder.model_waiting()

        beating = asyncio.create_task(beat(), name=f"model-keepalive-{self._agent}")
        try:
            yield
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    def _check_call_limit(self, model: str) -> None:
        limit = self._settings.model_max_calls_per_task
        made = self._recorder.model_calls() + self._in_flight
        if made >= limit:
            raise ModelCallLimitExceeded(
                f"agent {self._agent!r} asked for model call {made + 1} of one task, past "
                f"MESH_MODEL_MAX_CALLS_PER_TASK={limit} (every run of the task counts): "
                "a runaway loop? Raise the setting if the task needs more calls",
                model=model,
                calls=made,
                limit=limit,
            )

    def _call_stream(self, step: str) -> CallStream:
        sink = self._tokens or _NO_TOKENS
        settings = self._settings
        interval, chars = settings.tokens_flush_interval, settings.tokens_flush_chars
        return CallStream(sink, self._agent, step, flush_interval=interval, flush_chars=chars)

    def _step_name(self, request: ModelRequest, targets: Sequence[ModelTarget]) -> str:
        canonical = {
            "models": [t.name for t in targets],
            "request": request.model_dump(mode="json", exclude={"model"}),
        }
        digest = hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
        digest = digest[:24]
        occurrence = self._occurrences.get(digest, 0)
        self._occurrences[digest] = occurrence + 1
        return f"{MODEL_STEP_PREFIX}{digest}/{occurrence}"

    async def _first_answer(
        self,
        step: str,
        request: ModelRequest,
        targets: Sequence[ModelTarget],
        output: type[BaseModel] | None,
        live: CallStream | None,
    ) -> ModelAnswer[Any]:
        """The first model's answer that comes; the last error when none does."""
        last: ModelError | None = None
        for target in targets:
            try:
                asked = request.model_copy(update={"model": target.name})
                return await self._answer(step, target, asked, output, live)
            except ModelRateLimited as exc:
                wait = exc.retry_after
                if wait is not None and wait <= self._settings.model_fallback_wait:
                    raise  # clears soon: the task's retry waits it out on this model
                last = exc
            except ModelUnavailable as exc:
                last = exc
        assert last is not None
        raise last

    async def _answer(
        self,
        step: str,
        target: ModelTarget,
        request: ModelRequest,
        output: type[BaseModel] | None,
        live: CallStream | None,
    ) -> ModelAnswer[Any]:
        answer = await self._request(step, target, request, live)
        if output is None or answer.tool_calls:
            return answer  # an answer that calls tools is not the final one: nothing to parse
        try:
            return _parsed(answer, output)
        except ValidationError as exc:
            again = ChatMessage.user(
                f"Your answer does not fit the required JSON schema: {_summary(exc)}. "
                "Answer again with only JSON that fits the schema."
            )
            messages = (*request.messages, ChatMessage.assistant(answer.content), again)
            again_request = request.model_copy(update={"messages": messages})
            second = await self._request(step, target, again_request, live)
            both = {
                "usage": answer.usage + second.usage,
                "cost_usd": answer.cost_usd + second.cost_usd,
            }
            second = second.model_copy(update=both)  # both requests were paid for
        try:
            return _parsed(second, output)
        except ValidationError as exc:
            raise ModelOutputInvalid(
                f"model {target.name!r} answered twice with JSON that does not fit "
                f"{output.__name__}: {_summary(exc)}",
                model=target.name,
                errors=[FieldError(tuple(e["loc"]), e["msg"]) for e in exc.errors()],
            ) from None

    async def _request(
        self, step: str, target: ModelTarget, request: ModelRequest, live: CallStream | None
    ) -> ModelAnswer[None]:
        """One request to one model, within the budgets (ADR 025), under the mesh-wide
        rate limits (ADR 024). Its reservation is named by the step, the target and
        the conversation's length (the schema retry's request is longer)."""
        name = f"{step}/{target.name}@{target.endpoint}/{len(request.messages)}"
        limits = self._clients.limits
        async with self._clients.budgets.reserve(self._scope, name, target, request) as spend:
            async with limits.admit(self._agent, target, request, priority=self._priority) as call:
                answer = await self._measured(target, request, live)
                call.used(answer.usage)
            spend.used(answer)
        return answer

    async def _measured(
        self, target: ModelTarget, request: ModelRequest, live: CallStream | None
    ) -> ModelAnswer[None]:
        """One request to one model (streamed with `live`), measured."""
        started = time.monotonic()
        outcome = "cancelled"
        provider = self._clients.provider(target)
        try:
            if live is None:
                answer = await provider.chat(request)
            else:
                answer = await streamed_answer(provider, request, live)
            outcome = "ok"
        except ModelError as exc:
            outcome = _OUTCOMES.get(type(exc), "error")
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            LLM_REQUESTS.labels(self._agent, target.name, outcome).inc()
            LLM_REQUEST_SECONDS.labels(self._agent, target.name).observe(time.monotonic() - started)
        cost = call_cost(target.name, answer.usage, self._settings.model_prices)
        tenant = self._scope.tenant if self._scope is not None else None
        count_usage(self._agent, target.name, tenant, answer.usage, cost)
        return answer.model_copy(update={"cost_usd": cost})


class _NoTokens:
    """A streamed call's sink when the caller gave none (a `Chat` outside a worker)."""

    async def publish(self, delta: TokenDelta) -> None:
        pass

    async def answered(self, call: str, answer: ModelAnswer[Any]) -> None:
        pass


_NO_TOKENS = _NoTokens()


def _answer_type(output: type[BaseModel] | None) -> type[ModelAnswer[Any]]:
    # A runtime parametrization: pydantic then validates `parsed` into `output`.
    return cast(Any, ModelAnswer)[output] if output is not None else ModelAnswer[None]


def _parsed(answer: ModelAnswer[None], output: type[M]) -> ModelAnswer[M]:
    parsed = output.model_validate_json(answer.content or "")
    fields = answer.model_dump(exclude={"parsed"})
    return cast(ModelAnswer[M], _answer_type(output)(**fields, parsed=parsed))


def _summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:10]
    )
