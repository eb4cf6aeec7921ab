"""The per-tenant metrics' `tenant` label stays bounded (ADR 046): a tenant the settings
name keeps its name, any other is `other`, none is `""`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from mesh.errors import SettingsError
from mesh.models.accounting import count_usage
from mesh.models.types import Usage
from mesh.observability.tenants import OTHER_TENANT, label_tenants, tenant_label
from mesh.settings import load_settings


@pytest.fixture(autouse=True)
def no_labelled_tenants() -> Iterator[None]:
    yield
    label_tenants(())


def test_only_named_tenants_keep_their_name() -> None:
    label_tenants({"acme"})
    assert tenant_label("acme") == "acme"
    assert tenant_label("anyone-a-token-names") == OTHER_TENANT == "other"
    assert tenant_label(None) == tenant_label("") == ""


def test_the_settings_name_tenants_in_three_places() -> None:
    keys = [{"name": "ci", "key_sha256": "0" * 64, "tenant": "globex", "scopes": ["read"]}]
    settings = load_settings(
        metrics_tenants=["initech"],
        budgets={"tenant:acme": {"usd": 5}, "agent:triage": {"usd": 1}},
        gateway_api_keys=json.dumps(keys),
    )
    assert settings.labelled_tenants == {"initech", "acme", "globex"}


def test_other_is_no_tenant_name() -> None:
    with pytest.raises(SettingsError, match="MESH_METRICS_TENANTS"):
        load_settings(metrics_tenants=["other"])


def test_model_usage_is_counted_per_tenant() -> None:
    label_tenants({"acme"})

    def tokens(tenant: str) -> float:
        labels = {"tenant": tenant, "kind": "output"}
        return REGISTRY.get_sample_value("mesh_tenant_llm_tokens_total", labels) or 0.0

    before = {tenant: tokens(tenant) for tenant in ("acme", "other")}
    usage = Usage(input_tokens=10, output_tokens=7)
    count_usage("triage", "gpt-test", "acme", usage, 0.5)
    count_usage("triage", "gpt-test", "stranger", usage, 0.5)
    assert tokens("acme") - before["acme"] == 7
    assert tokens("other") - before["other"] == 7
    assert REGISTRY.get_sample_value("mesh_tenant_llm_cost_usd_total", {"tenant": "acme"})
