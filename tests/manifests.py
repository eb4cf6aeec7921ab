"""Offline checks of deploy/: render the kustomizations of deploy/k8s without kustomize
(a small renderer for the features they use), validate every object against the
Kubernetes schemas of a pinned version (kubernetes-validate's, strict) and the KEDA CRDs
vendored in deploy/k8s/schemas, and `deploy/compose.yaml` against the Compose
Specification's schema (vendored by check-jsonschema). Each check returns the problems
it found, so a test can show that a broken copy is caught.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import jsonschema
import yaml
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

KUBERNETES_VERSION = "1.33.0"  # the API the manifests are written for
Obj = dict[str, Any]

# What the renderer implements; a kustomization using anything else fails loudly.
_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
_CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


def render(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize <directory>` prints (in another order): its
    resources (files, or directories rendered first), JSON 6902 patches on their
    targets, then the namespace and image transformers."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - _FIELDS
    if unknown:
        raise ValueError(f"{directory}: the test renderer does not implement {sorted(unknown)}")
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects += render(path)
        else:
            objects += [o for o in yaml.safe_load_all(path.read_text()) if o]
    for patch in kustomization.get("patches", []):
        operations = yaml.safe_load((directory / patch["path"]).read_text())
        if not isinstance(operations, list):
            raise ValueError(f"{patch['path']}: the test renderer applies JSON 6902 patches only")
        targets = [i for i, o in enumerate(objects) if _targeted(o, patch["target"])]
        if not targets:
            raise ValueError(f"{patch['path']}: its target {patch['target']} matches nothing")
        for i in targets:
            objects[i] = jsonpatch.apply_patch(objects[i], operations)
    if namespace := kustomization.get("namespace"):
        for obj in objects:
            _set_namespace(obj, namespace)
    for image in kustomization.get("images", []):
        for container in _containers(objects):
            name = container["image"].split("@")[0].rsplit(":", 1)[0]
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    return objects


def _targeted(obj: Obj, target: dict[str, str]) -> bool:
    if "kind" in target and obj["kind"] != target["kind"]:
        return False
    if "name" in target and obj["metadata"]["name"] != target["name"]:
        return False
    labels = obj["metadata"].get("labels", {})
    for term in filter(None, target.get("labelSelector", "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _set_namespace(obj: Obj, namespace: str) -> None:
    if obj["kind"] not in _CLUSTER_SCOPED:
        obj["metadata"]["namespace"] = namespace
    if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
        for subject in obj.get("subjects", []):
            if subject["kind"] == "ServiceAccount":
                subject["namespace"] = namespace


def _containers(objects: list[Obj]) -> Iterator[Obj]:
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        yield from pod.get("containers", [])
        yield from pod.get("initContainers", [])


# -- schemas -------------------------------------------------------------------------


def schema_problems(objects: list[Obj], crd_dir: Path) -> list[str]:
    """Each object against its schema: Kubernetes' own kinds strictly (an unknown field
    is an error), KEDA's against the CRDs in `crd_dir` made as strict."""
    crds = _crd_schemas(crd_dir)
    problems = []
    for obj in objects:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        group = obj.get("apiVersion", "").split("/")[0]
        if (obj.get("kind"), obj.get("apiVersion")) in crds:
            validator = jsonschema.Draft7Validator(crds[obj["kind"], obj["apiVersion"]])
            problems += [f"{where}: {_path(e)}: {e.message}" for e in validator.iter_errors(obj)]
        elif group.endswith("keda.sh"):
            problems.append(f"{where}: no vendored CRD schema for {obj['apiVersion']}")
        elif (validator := _kubernetes_validator(obj["kind"], obj["apiVersion"])) is None:
            problems.append(f"{where}: Kubernetes {KUBERNETES_VERSION} has no such kind")
        else:
            problems += [f"{where}: {_path(e)}: {e.message}" for e in validator.iter_errors(obj)]
    return problems


@functools.cache
def _kubernetes_validator(kind: str, api_version: str) -> jsonschema.Validator | None:
    """What `kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)` checks,
    built once per kind (it reads the schema definitions, megabytes of JSON, per call)."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict"
    try:
        schema = schema_contents(
            f"{folder}/{kind.lower()}-{group_version}.json", KUBERNETES_VERSION
        )
    except FileNotFoundError:
        return None
    definitions = schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _path(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(top)"


def _crd_schemas(crd_dir: Path) -> dict[tuple[str, str], Obj]:
    schemas = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            schemas[crd["spec"]["names"]["kind"], api_version] = schema
    return schemas


def _strict(schema: Any) -> Any:
    """An API server prunes fields a CRD does not declare; flag them instead (a typo
    such as `lagTreshold` would otherwise be dropped without a word)."""
    if isinstance(schema, dict):
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            _strict(value)
    elif isinstance(schema, list):
        for value in schema:
            _strict(value)
    return schema


def compose_problems(compose_file: Path) -> list[str]:
    """`compose_file` against the Compose Specification's JSON Schema."""
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendored.joinpath("compose-spec.json").read_text())
    document = yaml.safe_load(compose_file.read_text())
    # Its `$schema` names draft-07 by a URL jsonschema does not list (https, no "#").
    assert schema["$schema"].rstrip("#").endswith("/draft-07/schema"), schema["$schema"]
    validator = jsonschema.Draft7Validator(schema)
    return [f"{_path(e)}: {e.message}" for e in validator.iter_errors(document)]
