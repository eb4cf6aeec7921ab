"""The model layer's parts: declaration and settings, the OpenAI-compatible adapter's
mapping (against the scripted double over HTTP), and the journaled call's step key."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from mesh import Agent, ModelSpec, Retry, SettingsError, SetupError, TaskContext
from mesh.errors import ModelOutputInvalid, ModelRateLimited, ModelRefused, ModelUnavailable
from mesh.models import ChatMessage, ModelAnswer, ToolCall, ToolSpec, Usage
from mesh.models.base import ModelProvider, ModelTarget
from mesh.models.budgets import ModelBudgets
from mesh.models.calls import Chat
from mesh.models.clients import ModelClients
from mesh.models.limits import ModelLimits
from mesh.models.openai_compatible import OpenAICompatible
from mesh.models.spec import resolve_targets
from mesh.models.types import ModelRequest
from mesh.runtime.worker import Worker
from mesh.settings import Settings, load_settings
from mesh.testing import MemoryTransport
from schemas import REGISTRY
from schemas.tasks import ModelUsage
from tests.model_double import ModelDouble, Reply


@REGISTRY.register("test.model.unit", 1)
class Question(BaseModel):
    text: str


def _settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"model_endpoint": None, "model_name": None}
    return Settings(**(base | values))


# -- declaration and settings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (lambda: ModelSpec(name=" "), "must not be blank"),
        (lambda: ModelSpec(timeout=0), "timeout"),
        (lambda: ModelSpec(fallbacks=[""]), "fallback"),
        (lambda: ModelSpec(fallbacks=[ModelSpec(endpoint="http://x/v1")]), "a name"),
        (lambda: Agent("a", model="gpt-4o"), "mesh.models.ModelSpec"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_model_declaration_is_a_setup_error(spec: Any, says: str) -> None:
    with pytest.raises(SetupError, match=says):
        spec()


def test_settings_fill_what_the_code_leaves_and_mesh_models_win() -> None:
    settings = _settings(model_endpoint="http://local/v1", model_name="small")
    assert resolve_targets("a", None, settings) == (ModelTarget("small", "http://local/v1", 60.0),)
    code = ModelSpec(name="big", fallbacks=["medium", ModelSpec(name="far", endpoint="http://far")])
    assert [(t.name, t.endpoint) for t in resolve_targets("a", code, settings)] == [
        ("big", "http://local/v1"),
        ("medium", "http://local/v1"),
        ("far", "http://far"),
    ]
    overridden = load_settings(
        model_endpoint="http://local/v1",
        models={"a": {"name": "tuned", "fallbacks": [], "timeout": 2}},
    )
    targets = resolve_targets("a", code, overridden)
    assert targets == (ModelTarget("tuned", "http://local/v1", 2.0),)
    assert resolve_targets("a", code, overridden, name="chosen")[0].name == "chosen"


def test_mesh_models_is_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_MODELS", '{"triage": {"name": "m", "fallbacks": ["n"]}}')
    monkeypatch.setenv("MESH_MODEL_API_KEY", "sk-secret")
    settings = load_settings()
    assert settings.models["triage"].fallbacks == ("n",)
    assert "sk-secret" not in repr(settings)
    monkeypatch.setenv("MESH_MODELS", '{"triage": {"nmae": "m"}}')
    with pytest.raises(SettingsError, match=r"MESH_MODELS\.TRIAGE\.NMAE: Extra inputs"):
        load_settings()


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        (_settings(model_name="small"), "MESH_MODEL_ENDPOINT"),
        (_settings(model_endpoint="http://local/v1"), "MESH_MODEL_NAME"),
    ],
)
def test_a_missing_setting_fails_the_worker_at_start_naming_it(
    settings: Settings, names: str
) -> None:
    agent = Agent("needs-model", model=ModelSpec())

    @agent.task
    async def answer(ctx: TaskContext, question: Question) -> None: ...

    with pytest.raises(SetupError, match=names):
        Worker(agent, transport=MemoryTransport(), settings=settings)
    plain = Agent("no-model")  # declares none: only a call would need the settings
    plain.task(answer)
    Worker(plain, transport=MemoryTransport(), settings=settings)


# -- the adapter ------------------------------------------------------------------------


@pytest.fixture
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


@pytest.fixture
async def adapter(double: ModelDouble) -> AsyncIterator[OpenAICompatible]:
    provider = OpenAICompatible(double.url, api_key="", timeout=1.0)
    yield provider
    await provider.close()


def _request(**fields: Any) -> ModelRequest:
    return ModelRequest(**({"model": "small", "messages": (ChatMessage.user("hi"),)} | fields))


async def test_the_adapter_maps_tool_calls_usage_and_finish_reason(
    adapter: OpenAICompatible, double: ModelDouble
) -> None:
    double.script(
        Reply(
            content=None,
            tool_calls=[("call-1", "lookup", {"order": 7})],
            input_tokens=30,
            output_tokens=9,
            cached_tokens=16,
        )
    )
    tool = ToolSpec(name="lookup", description="find an order", parameters={"type": "object"})
    history = (
        ChatMessage.user("where is 7?"),
        ChatMessage.assistant(None, (ToolCall(id="call-0", name="lookup", arguments={"o": 6}),)),
        ChatMessage.tool("call-0", "shipped"),
    )
    answer = await adapter.chat(_request(messages=history, tools=(tool,)))
    assert answer.tool_calls == (ToolCall(id="call-1", name="lookup", arguments={"order": 7}),)
    assert answer.usage == Usage(input_tokens=30, output_tokens=9, cached_tokens=16)
    assert answer.finish_reason == "tool_calls" and answer.content is None
    sent = double.requests[0]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": tool.model_dump(include={"name", "description", "parameters"}),
        }
    ]
    assert sent["messages"][1]["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": '{"o": 6}',
    }
    assert sent["messages"][2] == {"role": "tool", "content": "shipped", "tool_call_id": "call-0"}


@pytest.mark.parametrize(
    ("reply", "error", "says"),
    [
        (Reply(status=500), ModelUnavailable, "500"),
        (Reply(status=503), ModelUnavailable, "503"),
        (Reply(status=400), ModelRefused, "400"),
        (Reply(status=401), ModelRefused, "MESH_MODEL_API_KEY"),
        (Reply(raw=b"<html>not json"), ModelUnavailable, "small"),
        (Reply(delay=3), ModelUnavailable, "timed out"),
        (Reply(tool_calls=[("c", "lookup", "{not json")]), ModelOutputInvalid, "lookup"),
    ],
)
async def test_the_adapter_maps_errors_into_the_mesh_family(
    adapter: OpenAICompatible, double: ModelDouble, reply: Reply, error: type[Exception], says: str
) -> None:
    double.script(reply)
    with pytest.raises(error, match=says):
        await adapter.chat(_request())
    assert double.calls() == 1  # the SDK's own retries are off


async def test_a_429_carries_retry_after_and_is_a_retry(
    adapter: OpenAICompatible, double: ModelDouble
) -> None:
    double.script(Reply(status=429, retry_after=7))
    with pytest.raises(ModelRateLimited) as caught:
        await adapter.chat(_request())
    assert caught.value.retry_after == 7.0 and caught.value.model == "small"
    assert isinstance(caught.value, Retry) and caught.value.after == 7.0


async def test_an_endpoint_nobody_listens_on_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = OpenAICompatible(f"http://127.0.0.1:{port}/v1", api_key="", timeout=1.0)
    try:
        with pytest.raises(ModelUnavailable, match="could not be reached"):
            await provider.chat(_request())
    finally:
        await provider.close()


# -- the journaled call -----------------------------------------------------------------


class _Journal:
    def __init__(self) -> None:
        self.steps: dict[str, Any] = {}

    def step_result(self, name: str) -> tuple[bool, Any]:
        return (name in self.steps, self.steps.get(name))

    async def record_step(self, name: str, value: Any) -> None:
        self.steps[name] = value


class _Recorder:
    """Counts the calls a `Chat` reports (the runtime's is the task's `TaskRecorder`)."""

    def __init__(self) -> None:
        self.lines: list[ModelUsage] = []

    def model_calls(self) -> int:
        return len(self.lines)

    async def record_model_call(self, line: ModelUsage) -> None:
        self.lines.append(line)


class _Provider(ModelProvider):
    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def chat(self, request: ModelRequest) -> ModelAnswer[None]:
        self.requests.append(request)
        return ModelAnswer[None](content=f"answer {len(self.requests)}", model=request.model)

    async def close(self) -> None:
        pass


class _Clients:
    def __init__(self) -> None:
        self.fake = _Provider()
        self.limits = ModelLimits(Settings())  # no MESH_MODEL_LIMITS: nothing waits
        self.budgets = ModelBudgets(Settings())  # no budget applies: no round trip

    def provider(self, target: ModelTarget) -> ModelProvider:
        return self.fake


def _chat(journal: _Journal, clients: _Clients) -> Chat:
    settings = _settings(model_endpoint="http://local/v1", model_name="small")
    return Chat(
        "a",
        None,
        settings,
        journal=journal,
        effect=contextlib.nullcontext,
        clients=clients,  # type: ignore[arg-type]
        recorder=_Recorder(),
    )


async def test_a_rerun_replays_each_call_by_its_request_and_occurrence() -> None:
    journal, clients = _Journal(), _Clients()
    first = _chat(journal, clients)
    one = await first([ChatMessage.user("q")])
    two = await first([ChatMessage.user("q")])  # the same request again: its own call
    other = await first([{"role": "user", "content": "q"}], temperature=0.5)  # different
    assert [one.content, two.content, other.content] == ["answer 1", "answer 2", "answer 3"]
    assert len(journal.steps) == 3 and all(k.startswith("model/") for k in journal.steps)
    rerun = _chat(journal, clients)  # a later run of the same task
    replayed = [
        (await rerun([ChatMessage.user("q")])).content,
        (await rerun([ChatMessage.user("q")])).content,
        (await rerun([ChatMessage.user("q")], temperature=0.5)).content,
    ]
    assert replayed == ["answer 1", "answer 2", "answer 3"]
    assert len(clients.fake.requests) == 3
    assert (await rerun([ChatMessage.user("new")])).content == "answer 4"


def test_a_fallback_on_another_endpoint_reads_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRST_KEY", "sk-first")
    monkeypatch.setenv("BACKUP_KEY", "sk-backup")
    spec = ModelSpec(
        name="gpt-4o-mini",
        endpoint="https://api.example.com/v1",
        api_key_env="FIRST_KEY",
        fallbacks=[
            "gpt-4o",  # same endpoint: the first one's key
            ModelSpec(
                name="claude", endpoint="https://other.example.com", api_key_env="BACKUP_KEY"
            ),
            ModelSpec(name="local", endpoint="http://127.0.0.1:9/v1"),  # never the first's key
        ],
    )
    settings = Settings(model_api_key="sk-mesh")
    targets = resolve_targets("a", spec, settings)
    assert [t.api_key_env for t in targets] == ["FIRST_KEY", "FIRST_KEY", "BACKUP_KEY", None]
    clients = ModelClients(settings)
    assert [clients._key(t) for t in targets] == ["sk-first", "sk-first", "sk-backup", "sk-mesh"]


def test_a_key_variable_that_is_not_set_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    agent = Agent(
        "keyed", model=ModelSpec(name="m", endpoint="http://h/v1", api_key_env="NOT_SET_KEY")
    )

    @agent.task
    async def handle(ctx: TaskContext, question: Question) -> Question:
        return question

    with pytest.raises(SetupError, match=r"\$NOT_SET_KEY \(api_key_env\), which is not set"):
        agent.validate(Settings())
    override = '{"keyed": {"api_key_env": "NOT_SET_KEY"}}'
    monkeypatch.setenv("MESH_MODELS", override)
    with pytest.raises(SetupError, match="NOT_SET_KEY"):
        resolve_targets("keyed", ModelSpec(name="m", endpoint="http://h/v1"), load_settings())
