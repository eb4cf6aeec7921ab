"""Each principal's Kafka ACLs (mesh/security, ADR 045): least privilege for the
reference deployment, the committed Strimzi users equal to `mesh kafka acls`, and the
security settings refused at start-up with what to change.

The real run that checks these ACLs against what the processes do is
tests/e2e/test_kafka_acls.py."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from mesh.agent import Agent
from mesh.cli._services import REFERENCE_AGENTS
from mesh.cli.main import main
from mesh.cli.support import load_agent
from mesh.errors import SettingsError
from mesh.security.acls import Principal, mesh_principals, user_name
from mesh.security.render import kafka_acls_commands, strimzi_users
from mesh.settings import Settings, load_settings
from mesh.topics import Topics
from tests.conftest import ROOT
from tests.manifests import render
from tests.unit.test_settings_and_definitions import run_cli

STRIMZI = ROOT / "deploy" / "k8s" / "overlays" / "strimzi"
AGENTS = [load_agent(spec) for spec in REFERENCE_AGENTS]


def principals(settings: Settings | None = None) -> dict[str, Principal]:
    return {p.user: p for p in mesh_principals(settings or load_settings(), AGENTS)}


def test_an_agent_type_consumes_only_its_own_group_and_topics() -> None:
    topics = Topics()
    everyone = principals()
    for agent in AGENTS:
        own = everyone[user_name(f"agent-{agent.name}")]
        assert own.allows("group", topics.group(agent.name), "Read")
        assert own.allows("topic", topics.inbox(agent.name), "Read")
        for other in AGENTS:
            if other is agent:
                continue
            assert not own.allows("group", topics.group(other.name), "Read")
            assert not own.allows("topic", topics.inbox(other.name), "Read")
            assert not own.allows("topic", topics.journal(other.name), "Write")
            # Another inbox only along a delegation, either way (outcomes go back up).
            related = other.name in agent.delegates_to or agent.name in other.delegates_to
            assert own.allows("topic", topics.inbox(other.name), "Write") == related


def test_two_agent_types_that_would_share_a_kafka_user_are_refused() -> None:
    with pytest.raises(SettingsError, match="'a_b' and 'a-b' would both be Kafka user"):
        mesh_principals(load_settings(), [Agent("a_b"), Agent("a-b")])


def test_wildcards_only_where_a_library_names_the_topics() -> None:
    for principal in principals().values():
        prefixed = [a for a in principal.acls if a.pattern == "prefixed"]
        expected = ["mesh-supervisor-"] if principal.user == "mesh-supervisor" else []
        assert sorted({a.name for a in prefixed}) == expected, principal.user
        assert not [a for a in principal.acls if a.resource == "cluster"]


def test_every_name_carries_the_namespace() -> None:
    spaced = principals(load_settings(namespace="team1"))
    for principal in spaced.values():
        assert all(acl.name.startswith("team1.") for acl in principal.acls), principal.user
    # An idempotent producer needs no cluster ACL (Kafka 3.0+, KIP-679): Write implies it.
    assert spaced["mesh-gateway"].allows("cluster", "kafka-cluster", "IdempotentWrite")


def test_the_gateway_and_supervisor_reach_every_inbox_but_consume_none() -> None:
    topics = Topics()
    everyone = principals()
    for user in ("mesh-gateway", "mesh-supervisor"):
        for agent in AGENTS:
            assert everyone[user].allows("topic", topics.inbox(agent.name), "Write")
            assert everyone[user].allows("group", topics.group(agent.name), "Describe")
            assert not everyone[user].allows("group", topics.group(agent.name), "Read")
    # Emitted events: the triage agent's reply, declared in `emits`.
    triage = everyone["mesh-agent-triage"]
    assert triage.allows("topic", "support.reply.drafted", "Write")
    assert not everyone["mesh-agent-orders"].allows("topic", "support.reply.drafted", "Write")


def test_kafka_acls_commands_name_the_principal_and_operations() -> None:
    everyone = list(principals().values())
    commands = [line for line in kafka_acls_commands(everyone).splitlines() if line[:1] != "#"]
    assert len(commands) == sum(
        len({(a.resource, a.pattern, a.name) for a in p.acls}) for p in everyone
    )
    argv = shlex.split(commands[0])
    assert argv[:3] == ["kafka-acls.sh", "--bootstrap-server", "$BOOTSTRAP"]
    assert argv[argv.index("--allow-principal") + 1] == "User:mesh-agent-triage"
    assert argv[-2:] == ["--resource-pattern-type", "literal"]


def test_the_committed_kafka_users_are_what_the_cli_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MESH_NAMESPACE", "MESH_RETRY_TIERS"):
        monkeypatch.delenv(name, raising=False)
    assert main(["kafka", "acls", "--format", "strimzi", "--cluster", "kafka"]) == 0
    printed = capsys.readouterr().out
    committed = (STRIMZI / "kafka-users.yaml").read_text()
    assert printed == committed, (
        "deploy/k8s/overlays/strimzi/kafka-users.yaml is stale: regenerate it with "
        "`mesh kafka acls --format strimzi --cluster kafka > "
        "deploy/k8s/overlays/strimzi/kafka-users.yaml`"
    )
    assert printed == strimzi_users(list(principals().values()), cluster="kafka")


def test_each_deployment_of_the_strimzi_overlay_has_its_kafka_user() -> None:
    objects = render(STRIMZI)
    users = {o["metadata"]["name"] for o in objects if o["kind"] == "KafkaUser"}
    used = {
        env["value"]
        for o in objects
        if o["kind"] == "Deployment"
        for env in o["spec"]["template"]["spec"]["containers"][0]["env"]
        if env["name"] == "MESH_SASL_USERNAME"
    }
    assert used == users == set(principals())
    volumes = [
        o["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"]
        for o in objects
        if o["kind"] == "Deployment"
    ]
    assert set(volumes) == {"kafka-cluster-ca-cert"}


@pytest.mark.parametrize(
    ("cafile", "says"),
    [
        ("/nonexistent/ca.crt", "cannot be read (No such file or directory)"),
        ("NOT_PEM", "holds no usable CA certificate"),
    ],
)
def test_an_unusable_ca_file_stops_a_worker_at_start_up_naming_it(
    cafile: str, says: str, tmp_path: Path
) -> None:
    if cafile == "NOT_PEM":
        cafile = str(tmp_path / "ca.crt")
        Path(cafile).write_text("not a certificate\n")
    env = {
        "MESH_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "MESH_SECURITY_PROTOCOL": "SSL",
        "MESH_SSL_CAFILE": cafile,
    }
    refused = run_cli("run", "tests.e2e.sample_agents:sleeper", env=env)
    assert refused.returncode == 2, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith(f"mesh: MESH_SSL_CAFILE={cafile!r} {says}"), last


def test_a_gateway_that_cannot_reach_the_broker_stops_in_one_line() -> None:
    """Its Kafka parts start before uvicorn serves, so the reason is the CLI's line, not a
    lifespan traceback."""
    refused = run_cli("gateway", env={"MESH_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("mesh: cannot reach the broker at '127.0.0.1:1'"), last
