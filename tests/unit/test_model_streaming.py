"""Streaming through the provider seam (ADR 022), against the scripted double over HTTP:
both adapters yield text deltas as they arrive and then the whole answer, tool-call
deltas are assembled, errors map as `chat`'s do, and an adapter without `stream`
streams its `chat` answer as one chunk."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from mesh.errors import ModelRateLimited, ModelUnavailable
from mesh.models import ChatMessage, ModelAnswer, ToolCall, Usage
from mesh.models.anthropic_messages import AnthropicMessages
from mesh.models.base import ModelProvider
from mesh.models.openai_compatible import OpenAICompatible
from mesh.models.types import ModelChunk, ModelRequest
from tests import model_double
from tests.model_double import ModelDouble, Reply


@pytest.fixture
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


@pytest.fixture(params=["openai", "anthropic"])
async def adapter(
    request: pytest.FixtureRequest, double: ModelDouble
) -> AsyncIterator[ModelProvider]:
    provider: ModelProvider
    if request.param == "openai":
        provider = OpenAICompatible(double.url, api_key="", timeout=5.0)
    else:
        provider = AnthropicMessages(double.anthropic_url, api_key="", timeout=5.0)
    yield provider
    await provider.close()


def _request() -> ModelRequest:
    return ModelRequest(model="small", messages=(ChatMessage.user("hi"),))


async def _all(provider: ModelProvider, request: ModelRequest) -> list[ModelChunk]:
    return [chunk async for chunk in provider.stream(request)]


async def test_deltas_come_before_the_answer_ends(
    adapter: ModelProvider, double: ModelDouble
) -> None:
    gate = threading.Event()
    double.script(Reply(content="Hello, streaming world", pieces=3, gate=gate))
    chunks = adapter.stream(_request())
    first = await anext(chunks)  # the double holds the rest until the gate opens
    assert first.text == "Hello, s" and first.answer is None
    gate.set()
    rest = [chunk async for chunk in chunks]
    assert "".join(c.text for c in [first, *rest]) == "Hello, streaming world"
    assert [c.answer is not None for c in rest] == [False] * (len(rest) - 1) + [True]
    answer = rest[-1].answer
    assert answer is not None and answer.content == "Hello, streaming world"
    assert answer.usage == Usage(input_tokens=10, output_tokens=5)
    assert answer.finish_reason == "stop" and answer.model == "small"
    assert double.requests[0]["stream"] is True


async def test_tool_call_deltas_are_assembled(adapter: ModelProvider, double: ModelDouble) -> None:
    calls = [("call_1", "lookup", {"order": 7, "why": "asked"}), ("call_2", "refund", {"n": 1})]
    double.script(Reply(content=None, tool_calls=calls, input_tokens=12, cached_tokens=4))
    chunks = await _all(adapter, _request())
    answer = chunks[-1].answer
    assert answer is not None and answer.content is None
    assert answer.tool_calls == (
        ToolCall(id="call_1", name="lookup", arguments={"order": 7, "why": "asked"}),
        ToolCall(id="call_2", name="refund", arguments={"n": 1}),
    )
    assert answer.finish_reason == "tool_calls"
    assert answer.usage.cached_tokens == 4


async def test_the_openai_adapter_asks_for_usage_in_the_stream(double: ModelDouble) -> None:
    provider = OpenAICompatible(double.url, api_key="", timeout=5.0)
    try:
        await _all(provider, _request())
    finally:
        await provider.close()
    assert double.requests[0]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("reply", "error"),
    [(Reply(status=503), ModelUnavailable), (Reply(status=429, retry_after=7), ModelRateLimited)],
)
async def test_errors_map_as_chat_maps_them(
    adapter: ModelProvider, double: ModelDouble, reply: Reply, error: type[Exception]
) -> None:
    double.script(reply)
    with pytest.raises(error) as raised:
        await _all(adapter, _request())
    if isinstance(raised.value, ModelRateLimited):
        assert raised.value.retry_after == 7


async def test_a_stream_cut_off_midway_is_unavailable(
    adapter: ModelProvider, double: ModelDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_double, "GATE_TIMEOUT", 0.1)  # the double then cuts it off
    double.script(Reply(content="never finished", gate=threading.Event()))
    with pytest.raises(ModelUnavailable):
        await _all(adapter, _request())


async def test_a_provider_without_stream_streams_its_chat_answer_as_one_chunk() -> None:
    class Plain(ModelProvider):
        async def chat(self, request: ModelRequest) -> ModelAnswer[None]:
            await asyncio.sleep(0)
            return ModelAnswer[None](content="whole", model=request.model)

        async def close(self) -> None:
            pass

    chunks = await _all(Plain(), _request())
    assert [(c.text, c.answer is not None) for c in chunks] == [("whole", True)]
