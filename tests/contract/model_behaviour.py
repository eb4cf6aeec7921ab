"""What `ctx.chat` must do, against the scripted OpenAI-compatible double
(tests/model_double.py) over real HTTP: answers with usage, output schemas with one
re-ask, fallbacks, and exactly one paid call per logical call across retries.

`ModelCallBehaviour` runs on the in-memory transport; `ModelJournalBehaviour` (the
exactly-once guarantees) on both transports. Subclasses provide `transport_factory`
and `settings`, as for `RuntimeBehaviour`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY as METRICS
from pydantic import BaseModel

from mesh import Agent, ModelSpec, RetryPolicy, TaskContext
from mesh.model_choices import ModelOverride
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas import REGISTRY
from schemas.tasks import TaskState, TaskStatus
from tests.contract.config import Factory
from tests.model_double import ModelDouble, Reply


@REGISTRY.register("test.model.ask", 1)
class Ask(BaseModel):
    question: str
    output: bool = False  # ask for a `Verdict`
    fail_first_attempt: bool = False  # attempt 1 raises after its calls
    twice: bool = False  # the same call twice in one run
    vary_by_attempt: bool = False  # the request names the attempt: a different call


class Verdict(BaseModel):
    label: str
    score: int


_FAST = RetryPolicy(max_attempts=3, initial_delay=0.1, max_delay=0.2)
asker = Agent("asker", retry=_FAST, model=ModelSpec(fallbacks=["backup"]))
asker_once = Agent("asker-once", retry=RetryPolicy(max_attempts=1), model=ModelSpec())


async def _ask(ctx: TaskContext, request: Ask) -> dict[str, Any]:
    question = request.question
    if request.vary_by_attempt:
        question += f" (attempt {ctx.attempt})"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]
    if request.output:
        verdict = await ctx.chat(messages, output=Verdict, max_tokens=50)
        answer: Any = verdict
        parsed = verdict.parsed.model_dump() if verdict.parsed else None
    else:
        answer = await ctx.chat(messages, temperature=0)
        parsed = None
    if request.twice:
        await ctx.chat(messages, temperature=0)
    if request.fail_first_attempt and ctx.attempt == 1:
        raise ValueError("attempt 1 fails after its model calls")
    return {
        "content": answer.content,
        "usage": answer.usage.model_dump(),
        "model": answer.model,
        "finish_reason": answer.finish_reason,
        "parsed": parsed,
        "attempt": ctx.attempt,
    }


asker.task(_ask)
asker_once.task(_ask)


def _requests(agent: str, model: str, outcome: str) -> float:
    labels = {"agent": agent, "model": model, "outcome": outcome}
    return METRICS.get_sample_value("mesh_llm_requests_total", labels) or 0.0


class _WithDouble:
    @pytest.fixture
    def double(self) -> Iterator[ModelDouble]:
        with ModelDouble() as double:
            yield double

    @pytest.fixture
    def model_settings(self, settings: Settings, double: ModelDouble) -> Settings:
        update = {"model_endpoint": double.url, "model_name": "small", "model_timeout": 5.0}
        return settings.model_copy(update=update)

    async def run(
        self, factory: Factory, settings: Settings, agent: Agent, **ask: Any
    ) -> TaskState:
        async with TestMesh(agent, transport=factory(), settings=settings) as m:
            task_id = await m.client.submit(agent.name, Ask(**ask).model_dump())
            return await m.client.wait(task_id, timeout=30)


def _failure(state: TaskState) -> str:
    """Why a task was dead-lettered: `<error type>: <message>`."""
    assert state.error is not None, state
    return state.error.message


def _question() -> str:
    return f"question {uuid.uuid4().hex}"


class ModelCallBehaviour(_WithDouble):
    async def test_a_handler_gets_the_answer_and_its_usage(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(content="hello", input_tokens=12, output_tokens=7, cached_tokens=3))
        q = _question()
        state = await self.run(transport_factory, model_settings, asker, question=q)
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert state.result is not None
        assert state.result["content"] == "hello"
        assert state.result["usage"] == {"input_tokens": 12, "output_tokens": 7, "cached_tokens": 3}
        assert state.result["model"] == "small" and state.result["finish_reason"] == "stop"
        sent = double.requests[0]
        assert sent["model"] == "small" and sent["temperature"] == 0
        assert [m["role"] for m in sent["messages"]] == ["system", "user"]
        assert double.calls_with(q) == 1

    async def test_an_output_schema_comes_back_parsed(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(content='{"label": "refund", "score": 3}'))
        state = await self.run(
            transport_factory, model_settings, asker, question=_question(), output=True
        )
        assert state.result is not None, state.error
        assert state.result["parsed"] == {"label": "refund", "score": 3}
        response_format = double.requests[0]["response_format"]
        assert response_format["type"] == "json_schema"
        assert response_format["json_schema"]["name"] == "Verdict"
        assert response_format["json_schema"]["schema"] == Verdict.model_json_schema()
        assert double.requests[0]["max_tokens"] == 50

    async def test_an_answer_that_does_not_fit_is_asked_for_again_once(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(
            Reply(content='{"label": "refund"}', input_tokens=10, output_tokens=4),
            Reply(content='{"label": "refund", "score": 2}', input_tokens=20, output_tokens=6),
        )
        q = _question()
        state = await self.run(transport_factory, model_settings, asker, question=q, output=True)
        assert state.result is not None, state.error
        assert state.result["parsed"] == {"label": "refund", "score": 2}
        assert state.result["usage"]["input_tokens"] == 30  # both requests were paid for
        assert double.calls_with(q) == 2
        again = double.requests[1]["messages"]
        assert again[-2] == {"role": "assistant", "content": '{"label": "refund"}'}
        assert "score" in again[-1]["content"] and again[-1]["role"] == "user"

    async def test_two_answers_that_do_not_fit_fail_naming_the_field(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(content="not json at all"), Reply(content='{"label": "x"}'))
        q = _question()
        state = await self.run(
            transport_factory, model_settings, asker_once, question=q, output=True
        )
        assert state.status is TaskStatus.DEAD_LETTERED
        assert _failure(state).startswith("ModelOutputInvalid: "), state.error
        assert "Verdict: score: Field required" in _failure(state)
        assert double.calls_with(q) == 2

    async def test_an_unavailable_model_falls_back_to_the_next(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(status=500), model="small")
        double.script(Reply(content="from backup"), model="backup")
        before = _requests("asker", "small", "unavailable")
        state = await self.run(transport_factory, model_settings, asker, question=_question())
        assert state.result is not None, state.error
        assert state.result["model"] == "backup" and state.result["content"] == "from backup"
        assert double.calls("small") == 1 and double.calls("backup") == 1
        assert _requests("asker", "small", "unavailable") == before + 1

    async def test_a_timeout_falls_back_to_the_next(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(delay=3), model="small")
        settings = model_settings.model_copy(update={"model_timeout": 0.5})
        state = await self.run(transport_factory, settings, asker, question=_question())
        assert state.result is not None, state.error
        assert state.result["model"] == "backup"

    async def test_a_long_rate_limit_falls_back_to_the_next(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(status=429, retry_after=60), model="small")
        state = await self.run(transport_factory, model_settings, asker, question=_question())
        assert state.result is not None, state.error
        assert state.result["model"] == "backup" and state.result["attempt"] == 1

    async def test_a_short_rate_limit_is_waited_out_by_a_retry_of_the_task(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(status=429, retry_after=0.2), model="small")
        state = await self.run(transport_factory, model_settings, asker, question=_question())
        assert state.result is not None, state.error
        assert state.result["model"] == "small" and state.result["attempt"] == 2
        assert double.calls("small") == 2 and double.calls("backup") == 0

    async def test_when_every_model_fails_the_last_error_is_raised(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(status=400))  # refused: no fallback would do better
        state = await self.run(transport_factory, model_settings, asker_once, question="a")
        assert _failure(state).startswith("ModelRefused: "), state.error
        assert double.calls() == 1
        double.script(Reply(status=503), Reply(status=502))
        settings = model_settings.model_copy(
            update={"models": {"asker-once": ModelOverride(fallbacks=("backup",))}}
        )
        state = await self.run(transport_factory, settings, asker_once, question="b")
        assert _failure(state).startswith("ModelUnavailable: "), state.error
        assert "'backup'" in _failure(state) and "502" in _failure(state)
        assert double.calls() == 3


class ModelJournalBehaviour(_WithDouble):
    async def test_a_retried_task_replays_its_model_call_instead_of_paying_again(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(content="first and only", input_tokens=40))
        q = _question()
        before = _requests("asker", "small", "ok")
        state = await self.run(
            transport_factory, model_settings, asker, question=q, fail_first_attempt=True
        )
        assert state.result is not None, state.error
        assert state.result["attempt"] == 2  # attempt 1 failed after its call
        assert state.result["content"] == "first and only"
        assert state.result["usage"]["input_tokens"] == 40  # the journaled usage
        assert double.calls_with(q) == 1
        assert _requests("asker", "small", "ok") == before + 1  # replays are not requests

    async def test_identical_calls_in_one_run_are_each_paid_once(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        q = _question()
        state = await self.run(
            transport_factory,
            model_settings,
            asker,
            question=q,
            twice=True,
            fail_first_attempt=True,
        )
        assert state.result is not None and state.result["attempt"] == 2, state.error
        assert double.calls_with(q) == 2  # two calls in attempt 1, both replayed in attempt 2

    async def test_a_different_request_is_a_new_call(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        q = _question()
        state = await self.run(
            transport_factory,
            model_settings,
            asker,
            question=q,
            vary_by_attempt=True,
            fail_first_attempt=True,
        )
        assert state.result is not None and state.result["attempt"] == 2, state.error
        assert double.calls_with(q) == 2
        assert q + " (attempt 2)" in double.requests[-1]["messages"][-1]["content"]
