"""The Anthropic adapter (mesh/models/anthropic_messages.py) against the scripted double's
Messages API over HTTP: request and answer mapping, output schemas, errors, selection,
and a call through `ctx.chat` on the in-memory transport that replays exactly once."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from mesh import ModelSpec, Retry, SettingsError, SetupError
from mesh.errors import ModelRateLimited, ModelRefused, ModelUnavailable
from mesh.models import ChatMessage, ToolCall, ToolSpec, Usage
from mesh.models.anthropic_messages import DEFAULT_MAX_TOKENS, AnthropicMessages
from mesh.models.base import ModelTarget
from mesh.models.clients import ModelClients
from mesh.models.openai_compatible import OpenAICompatible
from mesh.models.spec import resolve_targets
from mesh.models.types import ModelRequest
from mesh.settings import Settings, load_settings
from mesh.testing import MemoryTransport, TestMesh
from schemas.tasks import TaskStatus
from tests.contract.model_behaviour import Ask, Verdict, asker
from tests.model_double import ModelDouble, Reply


@pytest.fixture
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


@pytest.fixture
async def adapter(double: ModelDouble) -> AsyncIterator[AnthropicMessages]:
    provider = AnthropicMessages(double.anthropic_url, api_key="", timeout=1.0)
    yield provider
    await provider.close()


def _request(**fields: Any) -> ModelRequest:
    return ModelRequest(**({"model": "claude", "messages": (ChatMessage.user("hi"),)} | fields))


class Lookup(BaseModel):
    order: int


# -- the request ------------------------------------------------------------------------


async def test_the_request_maps_system_tools_and_tool_results(
    adapter: AnthropicMessages, double: ModelDouble
) -> None:
    call = ToolCall(id="toolu_1", name="lookup", arguments={"order": 7})
    messages = (
        ChatMessage.system("Be brief."),
        ChatMessage.system("Answer in English."),
        ChatMessage.user("where is order 7?"),
        ChatMessage.assistant("Looking.", (call,)),
        ChatMessage.tool("toolu_1", '{"status": "shipped"}'),
        ChatMessage.tool("toolu_2", "second result"),
    )
    tools = (ToolSpec.from_model("lookup", Lookup, "Find an order"),)
    await adapter.chat(_request(messages=messages, tools=tools, temperature=0.5))
    sent = double.requests[0]
    assert sent["system"] == "Be brief.\n\nAnswer in English."
    assert sent["max_tokens"] == DEFAULT_MAX_TOKENS  # required by Anthropic
    assert sent["temperature"] == 0.5 and "tool_choice" not in sent
    assert sent["tools"] == [
        {
            "name": "lookup",
            "description": "Find an order",
            "input_schema": Lookup.model_json_schema(),
        }
    ]
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "where is order 7?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"order": 7}},
            ],
        },
        {
            "role": "user",  # both results in the one turn after the calls
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": '{"status": "shipped"}',
                },
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "second result"},
            ],
        },
    ]


async def test_max_tokens_is_the_requests_when_given(
    adapter: AnthropicMessages, double: ModelDouble
) -> None:
    await adapter.chat(_request(max_tokens=50))
    assert double.requests[0]["max_tokens"] == 50
    assert "system" not in double.requests[0] and "tools" not in double.requests[0]


# -- the answer -------------------------------------------------------------------------


async def test_the_answer_maps_text_tool_calls_and_usage_with_cache_reads(
    adapter: AnthropicMessages, double: ModelDouble
) -> None:
    double.script(
        Reply(
            content="Let me look.",
            tool_calls=[("toolu_1", "lookup", {"order": 7})],
            input_tokens=30,
            output_tokens=4,
            cached_tokens=100,
        )
    )
    answer = await adapter.chat(_request())
    assert answer.content == "Let me look."
    assert answer.tool_calls == (ToolCall(id="toolu_1", name="lookup", arguments={"order": 7}),)
    assert answer.finish_reason == "tool_calls"
    # input counts the whole prompt (as OpenAI's prompt_tokens); cached is the reads.
    assert answer.usage == Usage(input_tokens=130, output_tokens=4, cached_tokens=100)
    assert answer.model == "claude"


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),
    ],
)
async def test_stop_reasons_map_to_the_meshs_finish_reasons(
    adapter: AnthropicMessages, double: ModelDouble, stop: str, finish: str
) -> None:
    double.script(Reply(content="x", finish_reason=stop))
    assert (await adapter.chat(_request())).finish_reason == finish


async def test_an_output_schema_is_a_forced_tool_whose_input_is_the_answer(
    adapter: AnthropicMessages, double: ModelDouble
) -> None:
    double.script(
        Reply(content=None, tool_calls=[("toolu_9", "Verdict", {"label": "a", "score": 2})])
    )
    schema = Verdict.model_json_schema()
    answer = await adapter.chat(_request(output_name="Verdict", output_schema=schema))
    sent = double.requests[0]
    assert sent["tool_choice"] == {"type": "tool", "name": "Verdict"}
    assert sent["tools"][0]["name"] == "Verdict" and sent["tools"][0]["input_schema"] == schema
    assert json.loads(answer.content or "") == {"label": "a", "score": 2}
    assert answer.tool_calls == () and answer.finish_reason == "stop"
    assert Verdict.model_validate_json(answer.content or "") == Verdict(label="a", score=2)


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error", "says"),
    [
        (Reply(status=529), ModelUnavailable, "failed with 529"),
        (Reply(status=500), ModelUnavailable, "failed with 500"),
        (Reply(status=401), ModelRefused, "MESH_MODEL_API_KEY"),
        (Reply(status=400), ModelRefused, "refused the request with 400"),
        (Reply(delay=2.0), ModelUnavailable, "timed out"),
    ],
)
async def test_errors_map_into_the_mesh_family(
    adapter: AnthropicMessages, double: ModelDouble, reply: Reply, error: type[Exception], says: str
) -> None:
    double.script(reply)
    with pytest.raises(error, match=says):
        await adapter.chat(_request())
    assert double.calls() == 1  # the SDK's own retries are off


async def test_a_429_carries_retry_after_and_is_a_retry(
    adapter: AnthropicMessages, double: ModelDouble
) -> None:
    double.script(Reply(status=429, retry_after=7))
    with pytest.raises(ModelRateLimited) as caught:
        await adapter.chat(_request())
    assert caught.value.retry_after == 7.0 and caught.value.model == "claude"
    assert isinstance(caught.value, Retry) and caught.value.after == 7.0


async def test_an_endpoint_nobody_listens_on_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = AnthropicMessages(f"http://127.0.0.1:{port}", api_key="", timeout=1.0)
    try:
        with pytest.raises(ModelUnavailable, match="could not be reached"):
            await provider.chat(_request())
    finally:
        await provider.close()


# -- selection --------------------------------------------------------------------------


async def test_the_provider_is_chosen_by_setting_spec_or_mesh_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = Settings(model_endpoint="http://e", model_name="m")
    assert resolve_targets("a", None, base)[0].provider == "openai"
    spec = ModelSpec(provider="anthropic", fallbacks=["n", ModelSpec(name="o", provider="openai")])
    assert [t.provider for t in resolve_targets("a", spec, base)] == ["anthropic"] * 2 + ["openai"]
    monkeypatch.setenv("MESH_MODEL_PROVIDER", "anthropic")
    monkeypatch.setenv("MESH_MODELS", '{"b": {"provider": "openai"}}')
    settings = load_settings(model_endpoint="http://e", model_name="m")
    assert resolve_targets("a", None, settings)[0].provider == "anthropic"
    assert resolve_targets("b", spec, settings)[0].provider == "openai"
    clients = ModelClients(settings)
    assert isinstance(
        clients.provider(ModelTarget("m", "http://e", 1.0, "anthropic")), AnthropicMessages
    )
    assert isinstance(clients.provider(ModelTarget("m", "http://e", 1.0)), OpenAICompatible)
    await clients.close()


def test_a_bad_provider_fails_at_start_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_MODEL_PROVIDER", "gemini")
    with pytest.raises(SettingsError, match="MESH_MODEL_PROVIDER"):
        load_settings()
    with pytest.raises(SetupError, match="provider"):
        ModelSpec(provider="gemini")  # type: ignore[arg-type]


# -- through ctx.chat -------------------------------------------------------------------


async def test_a_retried_task_replays_its_anthropic_call_exactly_once(
    memory_settings: Settings, double: ModelDouble
) -> None:
    double.script(Reply(content="only once", input_tokens=40, cached_tokens=2))
    update = {
        "model_endpoint": double.anthropic_url,
        "model_name": "claude",
        "model_timeout": 5.0,
        "model_provider": "anthropic",
    }
    settings = memory_settings.model_copy(update=update)
    question = "anthropic exactly once"
    async with TestMesh(asker, transport=MemoryTransport(), settings=settings) as m:
        ask = Ask(question=question, fail_first_attempt=True).model_dump()
        state = await m.client.wait(await m.client.submit(asker.name, ask), timeout=30)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.result is not None
    assert state.result["attempt"] == 2  # attempt 1 failed after its call
    assert state.result["content"] == "only once"
    assert state.result["usage"] == {"input_tokens": 42, "output_tokens": 5, "cached_tokens": 2}
    assert double.calls_with(question) == 1  # the retry replayed the journaled answer
    assert double.requests[0]["system"] == "Be brief."
