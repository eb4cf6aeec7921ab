"""The `tenant` label of the per-tenant metrics (ADR 046), kept bounded.

A tenant comes from a caller's key or token, and tokens can name any tenant: used as
it is, it would let callers mint Prometheus series. So the label is the tenant only
when the settings name it (`labelled_tenants`: MESH_METRICS_TENANTS, the tenants of
MESH_GATEWAY_API_KEYS, and those with a MESH_BUDGETS line), else `other`; a task
without a tenant (auth off) is `""`. Each service calls `label_tenants` at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable

OTHER_TENANT = "other"

_labelled: frozenset[str] = frozenset()


def label_tenants(names: Iterable[str]) -> None:
    """The tenants that get a label of their own in this process."""
    global _labelled
    _labelled = frozenset(names)


def tenant_label(tenant: str | None) -> str:
    if not tenant:
        return ""
    return tenant if tenant in _labelled else OTHER_TENANT
