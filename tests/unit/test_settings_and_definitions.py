import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from mesh import Agent, SettingsError, SetupError, TaskContext, load_settings
from mesh.errors import first_line
from mesh.settings import PROFILES, Settings, profile_environment, profile_settings
from schemas import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


@REGISTRY.register("test.unit.input", 1)
class Input(BaseModel):
    x: int = 0


class Unregistered(BaseModel):
    x: int = 0


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_PARTITIONS", "0")
    with pytest.raises(SettingsError, match="MESH_PARTITIONS"):
        load_settings()
    monkeypatch.setenv("MESH_PARTITIONS", "3")
    monkeypatch.setenv("MESH_HEARTBEAT_INTERVAL", "5")
    with pytest.raises(SettingsError, match="MESH_HEARTBEAT_INTERVAL"):
        load_settings()
    monkeypatch.setenv("MESH_HEARTBEAT_INTERVAL", "1")
    assert load_settings().partitions == 3


def test_the_dev_profile_and_the_defaults_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make dev` starts its children with these; a new cross-field rule must keep them."""
    load_settings()
    for name, value in profile_environment("dev", {}).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.rebalance_grace <= settings.session_timeout / 2
    assert load_settings(profile="dev") == settings.model_copy(
        update={"instance_id": load_settings(profile="dev").instance_id}
    )
    monkeypatch.setenv("MESH_REBALANCE_GRACE", "5")
    with pytest.raises(SettingsError, match="MESH_REBALANCE_GRACE"):
        load_settings()


def test_a_profile_fills_what_no_variable_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mesh dev` and the test fixtures take their timers from one profile mechanism."""
    assert profile_environment("dev", {}) == {
        "MESH_SESSION_TIMEOUT": "6",
        "MESH_HEARTBEAT_INTERVAL": "1",
        "MESH_FETCH_MAX_WAIT": "0.01",
        "MESH_FETCH_IDLE_WAIT": "1",
        "MESH_FETCH_LONG_IDLE_WAIT": "3",
        "MESH_IDEMPOTENT_PRODUCER": "false",
        "MESH_LIVENESS_INTERVAL": "1",
        "MESH_LIVENESS_IDLE_INTERVAL": "5",
        "MESH_PARTITIONS": "2",
        "MESH_CONTRACTS": '["agents.contracts"]',
    }
    monkeypatch.setenv("MESH_SESSION_TIMEOUT", "30")
    monkeypatch.setenv("MESH_HEARTBEAT_INTERVAL", "2")
    settings = load_settings(profile="test", partitions=2)
    assert (settings.session_timeout, settings.heartbeat_interval) == (30, 2)  # set: they win
    assert (settings.partitions, settings.fetch_max_wait) == (2, 0.01)  # override, profile
    assert "session_timeout" not in profile_settings("test")
    for name in PROFILES:
        assert load_settings(profile=name, **profile_settings(name, {}))
    with pytest.raises(SettingsError, match="raise MESH_FETCH_LONG_IDLE_WAIT"):
        load_settings(fetch_idle_wait=1.0, fetch_long_idle_wait=0.5)
    with pytest.raises(SettingsError, match="no settings profile 'prod'"):
        load_settings(profile="prod")


def test_a_json_setting_that_is_not_json_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_SUPERVISION_POLICIES", "{not json")
    with pytest.raises(SettingsError, match="MESH_SUPERVISION_POLICIES take JSON"):
        load_settings()


def test_agent_definition_mistakes_raise_setup_error() -> None:
    with pytest.raises(SetupError, match="must match"):
        Agent("Bad Name")
    agent = Agent("unit")

    def sync(ctx: TaskContext, m: Input) -> None: ...

    async def unannotated(ctx, m):  # type: ignore[no-untyped-def]
        ...

    async def unregistered(ctx: TaskContext, m: Unregistered) -> None: ...

    async def three(ctx: TaskContext, m: Input, extra: int) -> None: ...

    async def ok(ctx: TaskContext, m: Input) -> None: ...

    with pytest.raises(SetupError, match="async def"):
        agent.task(sync)  # type: ignore[type-var]
    with pytest.raises(SetupError, match="annotate"):
        agent.task(unannotated)
    with pytest.raises(SetupError, match="not registered"):
        agent.task(unregistered)
    with pytest.raises(SetupError, match="exactly"):
        agent.task(three)  # type: ignore[arg-type]
    with pytest.raises(SetupError, match="no handlers"):
        agent.validate()
    agent.task(ok)
    with pytest.raises(SetupError, match="already has task handler"):
        agent.task(ok)
    assert agent.task_handler is not None and agent.task_handler.message_type == "test.unit.input"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_cli_rejects_bad_input_with_one_line() -> None:
    bad_json = run_cli("submit", "knowledge", "{not json")
    assert bad_json.returncode == 2
    assert bad_json.stderr.startswith("mesh: task input is not valid JSON")
    assert bad_json.stderr.count("\n") == 1
    missing = run_cli("run", "no.such.module:agent")
    assert missing.returncode == 2 and "cannot import" in missing.stderr


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_the_supervisor_connects_with_the_security_settings_the_workers_use(
    protocol: str,
) -> None:
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from mesh.supervision.app import faust_credentials

    sasl = {"sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "u", "sasl_password": "p"}
    settings = Settings(security_protocol=protocol, **sasl)  # type: ignore[arg-type]
    auth = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert auth["security_protocol"] == protocol
    if protocol.startswith("SASL_"):
        assert (auth["sasl_mechanism"], auth["sasl_plain_username"]) == ("SCRAM-SHA-512", "u")
    assert (auth.get("ssl_context") is not None) == protocol.endswith("SSL")


def test_sasl_without_credentials_fails_at_start_up_saying_what_to_set() -> None:
    env = {"MESH_SECURITY_PROTOCOL": "SASL_SSL", "MESH_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    refused = run_cli("supervisor", "run", env=env)
    assert refused.returncode == 2, refused.stderr
    assert "needs MESH_SASL_MECHANISM, MESH_SASL_USERNAME and MESH_SASL_PASSWORD" in refused.stderr
    assert refused.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("bad value\nmore detail"), "bad value"),
        (ValueError("\n  \nafter blank lines"), "after blank lines"),
        (ValueError(""), "ValueError"),
        (ValueError("x" * 600), "x" * 500),
    ],
)
def test_an_errors_first_line_is_its_first_non_blank_line(error: Exception, expected: str) -> None:
    assert first_line(error) == expected
