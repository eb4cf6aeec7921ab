"""The pod-deletion-cost keeper (mesh/runtime/pod_deletion_cost.py, ADR 038) against a
real HTTP server standing in for the Kubernetes API server (no cluster runs here):
what it sends, when it sends it, and that a refusal never stops the worker."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mesh.errors import SettingsError
from mesh.runtime.pod_deletion_cost import (
    ANNOTATION,
    PodApi,
    PodDeletionCost,
    deletion_cost,
    pod_deletion_cost,
)
from mesh.settings import Settings
from tests.helpers import eventually


@dataclass
class Patch:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class StandInApiServer:
    """Test double of the Kubernetes API server: records each request and answers
    `status` (200 with the patched pod, or a 403 Status as RBAC would)."""

    port: int = 0
    status: int = 200
    requests: list[Patch] = field(default_factory=list)


@pytest.fixture
def api_server() -> Iterator[StandInApiServer]:
    stand_in = StandInApiServer()

    class Handler(BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            stand_in.requests.append(Patch("PATCH", self.path, dict(self.headers), body))
            answer = body if stand_in.status == 200 else {"kind": "Status", "code": 403}
            payload = json.dumps(answer).encode()
            self.send_response(stand_in.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stand_in.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield stand_in
    server.shutdown()
    server.server_close()


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("first-token\n")
    return path


def keeper(api_server: StandInApiServer, token: Path, inflight: list[int]) -> PodDeletionCost:
    api = PodApi(
        base_url=f"http://127.0.0.1:{api_server.port}",
        namespace="agentmesh",
        pod="knowledge-7d9f-abcde",
        token_file=token,
    )
    return PodDeletionCost(api, inflight=lambda: inflight[0], interval=0.05)


def test_the_cost_is_the_inflight_counts_power_of_two_bucket() -> None:
    assert [deletion_cost(n) for n in (0, 1, 2, 3, 4, 7, 8, 1000)] == [0, 1, 2, 2, 3, 3, 4, 10]


async def test_patches_its_own_pod_with_a_merge_patch_and_the_token(
    api_server: StandInApiServer, token: Path
) -> None:
    inflight = [5]
    cost = keeper(api_server, token, inflight)
    try:
        assert await cost.update()
    finally:
        await cost.aclose()
    [patch] = api_server.requests
    assert patch.path == "/api/v1/namespaces/agentmesh/pods/knowledge-7d9f-abcde"
    assert patch.headers["Authorization"] == "Bearer first-token"
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    assert patch.body == {"metadata": {"annotations": {ANNOTATION: "3"}}}


async def test_patches_only_when_the_cost_changed_and_rereads_a_rotated_token(
    api_server: StandInApiServer, token: Path
) -> None:
    inflight = [0]
    cost = keeper(api_server, token, inflight)
    try:
        assert await cost.update()
        inflight[0] = 0
        assert not await cost.update()  # unchanged: no write to the API server
        await asyncio.to_thread(token.write_text, "rotated-token")
        inflight[0] = 2
        assert await cost.update()
    finally:
        await cost.aclose()
    assert [p.body["metadata"]["annotations"][ANNOTATION] for p in api_server.requests] == [
        "0",
        "2",
    ]
    assert api_server.requests[-1].headers["Authorization"] == "Bearer rotated-token"


async def test_a_refused_patch_is_tried_again_and_never_stops_the_worker(
    api_server: StandInApiServer, token: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api_server.status = 403  # the Role lacks `patch` on pods
    inflight = [1]
    cost = keeper(api_server, token, inflight)
    done = asyncio.Event()

    async def worker_run() -> str:
        await eventually(lambda: len(api_server.requests) >= 2, timeout=10, what="retries")
        api_server.status = 200
        await eventually(lambda: cost.written == 1, timeout=10, what="the cost written")
        done.set()
        return "stopped"

    assert await cost.kept_current_while(worker_run()) == "stopped"
    assert done.is_set()
    assert "refused: HTTP 403" in caplog.text


def test_turned_on_outside_a_pod_fails_at_start_up_saying_what_to_set() -> None:
    on = Settings(pod_deletion_cost=True, pod_name="w-1", pod_namespace="agentmesh")
    assert pod_deletion_cost(Settings(), inflight=lambda: 0, environ={}) is None
    with pytest.raises(SettingsError, match="KUBERNETES_SERVICE_HOST is not set"):
        pod_deletion_cost(on, inflight=lambda: 0, environ={})
    nameless = Settings(pod_deletion_cost=True)
    with pytest.raises(SettingsError, match="MESH_POD_NAME and MESH_POD_NAMESPACE"):
        pod_deletion_cost(nameless, inflight=lambda: 0, environ={"KUBERNETES_SERVICE_HOST": "x"})
