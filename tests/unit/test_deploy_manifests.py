"""deploy/ checked offline (ADR 038): the kustomize base and dev overlay render, every
object is valid for Kubernetes 1.33 (strict) or for KEDA's CRDs, the objects agree
with the mesh (groups and topics as `mesh.topics.Topics` names them, drain times as
the settings give them, probes where the processes serve them), and
`deploy/compose.yaml` follows the Compose Specification. Broken copies are caught."""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mesh.cli._services import REFERENCE_AGENTS
from mesh.cli.support import load_agent
from mesh.errors import SettingsError
from mesh.security.acls import user_name
from mesh.settings import Settings, load_settings
from mesh.topics import Topics
from tests.conftest import ROOT
from tests.manifests import Obj, compose_problems, render, schema_problems

K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = [
    K8S / "base",
    K8S / "overlays" / "dev",
    K8S / "cluster",
    K8S / "overlays" / "strimzi",
]
AGENT_KUSTOMIZATIONS = [k for k in KUSTOMIZATIONS if k.name != "cluster"]
# What a worker's drain may take beyond twice MESH_SHUTDOWN_GRACE (mesh/runtime/worker.py
# `_drain`): MESH_REBALANCE_GRACE for effects under way, 5 s for handed-back tasks to
# stop, and at least 15 s to commit, leave the group and flush the producer.
_DRAIN_BEYOND_GRACE = 5 + 15


_render_once = functools.cache(render)


def rendered(kustomization: Path) -> list[Obj]:
    """`render(kustomization)`, parsed once per session; a copy each test may change."""
    return copy.deepcopy(_render_once(kustomization))


def mesh_problems(objects: list[Obj]) -> list[str]:
    """What would make the rendered objects disagree with the mesh they deploy."""
    by_kind: dict[str, dict[str, Obj]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    config = by_kind["ConfigMap"]["mesh-config"]["data"]
    problems = _settings_problems(config)
    if problems:
        return problems
    settings = _settings(config)
    deployments = by_kind.get("Deployment", {})
    for name, deployment in deployments.items():
        problems += [f"Deployment/{name}: {p}" for p in _pod_problems(deployment, config)]
        problems += [f"Deployment/{name}: {p}" for p in _credential_problems(deployment)]
    problems += _agent_problems(deployments, by_kind.get("ScaledObject", {}), settings)
    problems += _replica_problems(deployments, by_kind.get("PodDisruptionBudget", {}))
    problems += _service_problems(deployments, by_kind.get("Service", {}))
    return problems


def _settings(config: dict[str, str]) -> Settings:
    """The settings a pod gets: the ConfigMap, plus the SASL credentials of the Secret."""
    environ = {**config, "MESH_SASL_USERNAME": "user", "MESH_SASL_PASSWORD": "secret"}
    fields = {k.removeprefix("MESH_").lower(): v for k, v in environ.items()}
    return load_settings(
        **{k: yaml.safe_load(v) if v.startswith(("[", "{")) else v for k, v in fields.items()}
    )


def _settings_problems(config: dict[str, str]) -> list[str]:
    unknown = [k for k in config if k.removeprefix("MESH_").lower() not in Settings.model_fields]
    try:
        _settings(config)
    except SettingsError as exc:  # names the MESH_* variable
        return [f"ConfigMap/mesh-config: {exc}"]
    return [f"ConfigMap/mesh-config: {k} is not a setting (mesh/settings.py)" for k in unknown]


def _pod_problems(deployment: Obj, config: dict[str, str]) -> list[str]:
    pod = deployment["spec"]["template"]["spec"]
    problems = []
    for container in pod["containers"]:
        ports = {p["name"] for p in container.get("ports", [])}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = container.get(probe, {}).get("httpGet", {}).get("port")
            if port not in ports:
                problems.append(f"{container['name']}: {probe} on a port it does not serve")
        if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            problems.append(f"{container['name']}: readiness is not /readyz")
        if not container.get("resources", {}).get("requests"):
            problems.append(f"{container['name']}: no resource requests")
        if container["args"][0] == "run":  # a worker: its drain must fit the grace period
            env = {**config, **{e["name"]: e.get("value") for e in container.get("env", [])}}
            needed = (
                2 * float(env["MESH_SHUTDOWN_GRACE"])
                + float(env["MESH_REBALANCE_GRACE"])
                + _DRAIN_BEYOND_GRACE
            )
            granted = pod.get("terminationGracePeriodSeconds", 30)  # Kubernetes' default
            if granted < needed:
                problems.append(
                    f"terminationGracePeriodSeconds {granted} is below the {needed:g} s "
                    "its drain may take"
                )
    return problems


def _credential_problems(deployment: Obj) -> list[str]:
    """Its own Kafka user (ADR 045): the principal of what it runs, with the password
    from the Secret of that name."""
    container = _containers(deployment)[0]
    args = container["args"]
    role = f"agent-{load_agent(args[1]).name}" if args[0] == "run" else args[0]
    user = user_name(role)
    env = {e["name"]: e for e in container.get("env", [])}
    problems = []
    if env.get("MESH_SASL_USERNAME", {}).get("value") != user:
        problems.append(f"MESH_SASL_USERNAME is not {user!r}")
    password = env.get("MESH_SASL_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
    if (password.get("name"), password.get("key")) != (user, "password"):
        problems.append(f"MESH_SASL_PASSWORD is not the key 'password' of the Secret {user!r}")
    return problems


def _agent_problems(
    deployments: dict[str, Obj], scaled: dict[str, Obj], settings: Settings
) -> list[str]:
    topics = Topics(settings.namespace)
    problems = []
    for spec in REFERENCE_AGENTS:
        agent = load_agent(spec).name
        worker = [d for d in deployments.values() if _args(d) == ["run", spec]]
        if len(worker) != 1:
            problems.append(f"{len(worker)} Deployments run {spec} (one expected)")
            continue
        name = worker[0]["metadata"]["name"]
        scaler = [s for s in scaled.values() if s["spec"]["scaleTargetRef"]["name"] == name]
        if len(scaler) != 1:
            problems.append(f"{len(scaler)} ScaledObjects scale Deployment/{name}")
            continue
        so = scaler[0]["spec"]
        kafka = so["triggers"][0]["metadata"]
        if kafka["consumerGroup"] != topics.group(agent):
            problems.append(f"ScaledObject of {agent}: group is not {topics.group(agent)!r}")
        if kafka["topic"] != topics.inbox(agent):
            problems.append(f"ScaledObject of {agent}: topic is not {topics.inbox(agent)!r}")
        if so["maxReplicaCount"] > settings.partitions:
            problems.append(f"ScaledObject of {agent}: more replicas than partitions")
        if so.get("fallback", {}).get("behavior") != "currentReplicasIfHigher":
            problems.append(f"ScaledObject of {agent}: a failed lag query may scale it down")
        scale_down = so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        if scale_down["stabilizationWindowSeconds"] < 300:
            problems.append(f"ScaledObject of {agent}: scale-in within 5 minutes of a peak")
    return problems


def _replica_problems(deployments: dict[str, Obj], budgets: dict[str, Obj]) -> list[str]:
    problems = []
    for name in ("supervisor", "gateway"):
        if deployments[name]["spec"]["replicas"] < 2:
            problems.append(f"Deployment/{name}: fewer than two replicas")
    for name, budget in budgets.items():
        wanted = budget["spec"]["selector"]["matchLabels"]
        if not any(_selects(wanted, d) for d in deployments.values()):
            problems.append(f"PodDisruptionBudget/{name} selects no Deployment's pods")
    return problems


def _service_problems(deployments: dict[str, Obj], services: dict[str, Obj]) -> list[str]:
    problems = []
    for name, service in services.items():
        selected = [d for d in deployments.values() if _selects(service["spec"]["selector"], d)]
        ports = {p["name"] for d in selected for c in _containers(d) for p in c.get("ports", [])}
        if not selected or any(p["targetPort"] not in ports for p in service["spec"]["ports"]):
            problems.append(f"Service/{name} reaches no serving port")
    return problems


def _selects(labels: dict[str, str], deployment: Obj) -> bool:
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    return all(pod_labels.get(k) == v for k, v in labels.items())


def _containers(deployment: Obj) -> list[Obj]:
    return deployment["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


def _args(deployment: Obj) -> Any:
    return _containers(deployment)[0].get("args")


# -- the tests -----------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_every_object_is_valid_for_kubernetes_and_keda(kustomization: Path) -> None:
    objects = rendered(kustomization)
    assert schema_problems(objects, K8S / "schemas") == []


def test_the_base_has_what_the_mesh_needs() -> None:
    assert {o["kind"] for o in rendered(K8S / "base")} >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "ScaledObject",
        "TriggerAuthentication",
        "Role",
        "RoleBinding",
    }
    [policy] = [o for o in rendered(K8S / "cluster") if o["kind"] == "ValidatingAdmissionPolicy"]
    assert "controller.kubernetes.io/pod-deletion-cost" in str(policy["spec"]["validations"])


@pytest.mark.parametrize("kustomization", AGENT_KUSTOMIZATIONS, ids=lambda p: p.name)
def test_the_objects_agree_with_the_mesh(kustomization: Path) -> None:
    assert mesh_problems(rendered(kustomization)) == []


def test_the_dev_overlay_puts_everything_in_its_namespace() -> None:
    objects = rendered(K8S / "overlays" / "dev")
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {"agentmesh-dev"}
    [binding] = [o for o in objects if o["kind"] == "RoleBinding"]
    assert binding["subjects"][0]["namespace"] == "agentmesh-dev"
    images = {c["image"] for o in objects if o["kind"] == "Deployment" for c in _containers(o)}
    assert images == {"localhost:5001/agentmesh:dev"}


def test_broken_copies_are_caught(tmp_path: Path) -> None:
    broken_copy = tmp_path / "k8s"
    shutil.copytree(K8S, broken_copy)
    triage = broken_copy / "base" / "agents" / "triage.yaml"
    text = triage.read_text()
    # A misspelt Deployment field, a fallback without its replicas, the wrong group.
    broken = text.replace("terminationGracePeriodSeconds: 150", "terminationGracePeriod: 150")
    broken = broken.replace("    replicas: 2\n    behavior: currentReplicasIfHigher\n", "")
    broken = broken.replace("consumerGroup: mesh.triage", "consumerGroup: triage")
    # Another agent type's Kafka user (and so its ACLs).
    broken = broken.replace("value: mesh-agent-triage}", "value: mesh-agent-orders}")
    assert broken.count("\n") < text.count("\n")
    triage.write_text(broken)
    objects = render(broken_copy / "overlays" / "dev")
    problems = "\n".join(schema_problems(objects, broken_copy / "schemas"))
    assert "Deployment/agent-triage: spec/template/spec" in problems
    assert "'terminationGracePeriod' was unexpected" in problems
    assert "ScaledObject/agent-triage: spec/fallback: 'replicas' is a required property" in problems
    assert "ScaledObject of triage: group is not 'mesh.triage'" in mesh_problems(objects)
    assert "Deployment/agent-triage: MESH_SASL_USERNAME is not 'mesh-agent-triage'" in (
        mesh_problems(objects)
    )


def test_a_grace_period_shorter_than_the_drain_is_caught(tmp_path: Path) -> None:
    objects = rendered(K8S / "base")
    [config] = [o for o in objects if o["kind"] == "ConfigMap"]
    config["data"]["MESH_SHUTDOWN_GRACE"] = "120"
    assert "Deployment/agent-orders: terminationGracePeriodSeconds 150 is below the 262 s" in (
        "\n".join(mesh_problems(objects))
    )
    config["data"]["MESH_SHUTDOWN_GRACE"] = "-1"
    assert "MESH_SHUTDOWN_GRACE: Input should be greater than or equal to 0" in (
        "\n".join(mesh_problems(objects))
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) absent")
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_the_renderer_agrees_with_kubectl_kustomize(kustomization: Path) -> None:
    printed = subprocess.run(
        ["kubectl", "kustomize", str(kustomization)], capture_output=True, text=True, check=True
    ).stdout
    theirs = [o for o in yaml.safe_load_all(printed) if o]

    def key(obj: Obj) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    assert sorted(rendered(kustomization), key=key) == sorted(theirs, key=key)


def test_compose_follows_the_compose_specification(tmp_path: Path) -> None:
    compose = ROOT / "deploy" / "compose.yaml"
    assert compose_problems(compose) == []
    broken = tmp_path / "compose.yaml"
    text = compose.read_text()
    broken.write_text(text.replace("  kafka:\n    image:", "  kafka:\n    imag:", 1))
    assert compose_problems(broken) == [
        "services/kafka: 'imag' does not match any of the regexes: '^x-'"
    ]
    broken.write_text(text.replace('ports: ["8000:8000"]', "ports: 8000", 1))
    assert compose_problems(broken) == ["services/gateway/ports: 8000 is not of type 'array'"]
