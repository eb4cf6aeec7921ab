"""A worker pod's `controller.kubernetes.io/pod-deletion-cost`, kept at its in-flight work.

When a Deployment scales in (KEDA lowering its replicas, ADR 038), its ReplicaSet
deletes the pods of lowest deletion cost first (Kubernetes 1.22 and later). A worker
holding tasks costs more than an idle one, so scale-in takes idle workers first; a
busy one taken anyway drains on SIGTERM: it stops fetching, lets its tasks finish
within `MESH_SHUTDOWN_GRACE` and hands the rest back uncommitted (mesh/runtime/worker.py).

Turned on by `MESH_POD_DELETION_COST=true`: the worker PATCHes its own pod through the
in-cluster API with its service-account token (RBAC: `patch` on `pods`,
deploy/k8s/base/rbac.yaml). Kubernetes advises against updating the annotation often
(each update is a write to the API server), so the cost is the in-flight count's
power-of-two bucket (0 idle, 1 for one task, 2 for two or three, 3 for four to seven,
...), read every `MESH_POD_DELETION_COST_INTERVAL` s and patched only when it changed.
A failed PATCH is logged and tried again next time: the cost is a hint, never a
reason to stop the worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import orjson

from mesh.errors import SettingsError
from mesh.settings import Settings

log = logging.getLogger(__name__)

ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_MAX_COST = 2**31 - 1  # the annotation is an int32
T = TypeVar("T")


def deletion_cost(inflight: int) -> int:
    """The cost of a pod holding `inflight` tasks: their count's power-of-two bucket."""
    return min(max(inflight, 0).bit_length(), _MAX_COST)


def deletion_cost_patch(cost: int) -> bytes:
    """The JSON merge patch (RFC 7386) that sets the annotation to `cost`."""
    return orjson.dumps({"metadata": {"annotations": {ANNOTATION: str(cost)}}})


@dataclass(frozen=True)
class PodApi:
    """This pod's object on the API server, and the credentials to write it."""

    base_url: str  # https://<KUBERNETES_SERVICE_HOST>:<KUBERNETES_SERVICE_PORT>
    namespace: str
    pod: str
    token_file: Path  # re-read per request: the kubelet rotates bound tokens
    ca_file: Path | None = None  # None: the system's trust store

    @property
    def pod_url(self) -> str:
        return f"{self.base_url}/api/v1/namespaces/{self.namespace}/pods/{self.pod}"

    @classmethod
    def in_cluster(cls, settings: Settings, environ: Mapping[str, str]) -> PodApi:
        """The API server a pod reaches (the variables Kubernetes sets in every pod).

        Raises:
            SettingsError: not in a pod, or MESH_POD_NAME/MESH_POD_NAMESPACE unset.
        """
        host = environ.get("KUBERNETES_SERVICE_HOST")
        if not host:
            raise SettingsError(
                "MESH_POD_DELETION_COST=true works inside a Kubernetes pod only "
                "(KUBERNETES_SERVICE_HOST is not set); set MESH_POD_DELETION_COST=false"
            )
        if not (settings.pod_name and settings.pod_namespace):
            raise SettingsError(
                "MESH_POD_DELETION_COST=true needs MESH_POD_NAME and MESH_POD_NAMESPACE "
                "(from the downward API: fieldRef metadata.name and metadata.namespace)"
            )
        token = SERVICE_ACCOUNT / "token"
        if not token.is_file():
            raise SettingsError(
                f"MESH_POD_DELETION_COST=true needs the service-account token at {token}; "
                "set automountServiceAccountToken: true on the pod"
            )
        port = environ.get("KUBERNETES_SERVICE_PORT", "443")
        address = f"[{host}]" if ":" in host else host  # an IPv6 service address
        return cls(
            base_url=f"https://{address}:{port}",
            namespace=settings.pod_namespace,
            pod=settings.pod_name,
            token_file=token,
            ca_file=SERVICE_ACCOUNT / "ca.crt",
        )


class PodDeletionCost:
    """Keeps the pod's deletion cost at `deletion_cost(inflight())`."""

    def __init__(self, api: PodApi, *, inflight: Callable[[], int], interval: float) -> None:
        self.api = api
        self._inflight = inflight
        self._interval = interval
        verify: ssl.SSLContext | bool = True
        if api.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(api.ca_file))
        self._client = httpx.AsyncClient(verify=verify, timeout=5.0)
        self.written: int | None = None  # the cost the API server last accepted
        self._failing = False  # one warning per run of failures, not one per interval

    async def update(self) -> bool:
        """PATCH the cost when it differs from the one last written; True if it did."""
        cost = deletion_cost(self._inflight())
        if cost == self.written:
            return False
        try:
            token = (await asyncio.to_thread(self.api.token_file.read_text)).strip()
            answer = await self._client.patch(
                self.api.pod_url,
                content=deletion_cost_patch(cost),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/merge-patch+json",
                    "Accept": "application/json",
                },
            )
        except (OSError, httpx.HTTPError) as exc:  # an unreadable token, no API server
            self._failed("pod deletion cost %d not written: %s", cost, exc)
            return False
        if answer.status_code != httpx.codes.OK:
            self._failed(
                "pod deletion cost %d refused: HTTP %d %s (the Role must allow `patch` on pods)",
                cost,
                answer.status_code,
                answer.text[:200],
            )
            return False
        self.written, self._failing = cost, False
        return True

    def _failed(self, message: str, *args: object) -> None:
        (log.debug if self._failing else log.warning)(message, *args)
        self._failing = True

    async def kept_current_while(self, work: Awaitable[T]) -> T:
        """Await `work` (the worker's run), updating the cost every interval meanwhile."""
        try:
            async with asyncio.TaskGroup() as group:
                updates = group.create_task(self._keep_current())
                try:
                    return await work
                finally:
                    updates.cancel()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _keep_current(self) -> None:
        while True:
            await self.update()
            await asyncio.sleep(self._interval)


def pod_deletion_cost(
    settings: Settings, *, inflight: Callable[[], int], environ: Mapping[str, str] | None = None
) -> PodDeletionCost | None:
    """The keeper of this pod's deletion cost, or None without MESH_POD_DELETION_COST.

    Raises:
        SettingsError: turned on outside a pod, or without the pod's name and namespace.
    """
    if not settings.pod_deletion_cost:
        return None
    api = PodApi.in_cluster(settings, os.environ if environ is None else environ)
    return PodDeletionCost(api, inflight=inflight, interval=settings.pod_deletion_cost_interval)
