"""`mesh dev` (what `make dev` runs) brings up the whole mesh: the embedded broker, the
embedded model, the reference agents, the supervisor and the gateway; a ticket posted
to the gateway is triaged, the `assistant` agent answers with the embedded model, the
model answers at the endpoint the mesh's settings name,
and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from mesh.dev.env_file import read_dev_env
from mesh.dev.model_server import MODEL_NAME
from tests.gateway.conftest import free_port
from tests.helpers import poll

pytestmark = pytest.mark.e2e


def _poll(check: Any, *, timeout: float, what: str, log: Path) -> Any:
    def listening_check() -> Any:
        try:
            return check()
        except httpx.TransportError:
            return None  # not listening yet

    return poll(
        listening_check,
        timeout=timeout,
        what=what,
        interval=0.5,
        explain=lambda: f"mesh dev said:\n{log.read_text()[-4000:]}",
    )


def test_mesh_dev_runs_agents_supervisor_and_gateway(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
    env |= {"MESH_GATEWAY_PORT": str(port), "MESH_NAMESPACE": f"dev{uuid.uuid4().hex[:8]}"}
    # Triage's two drafts by the embedded model (rejected: ADR 029) would hold the one
    # model thread for seconds to a minute; drafting is tested with the double in memory.
    env["TRIAGE_MODEL_DRAFTS"] = "0"
    log = tmp_path / "dev.log"
    with log.open("w") as out:
        # Not in the checkout: its `.mesh/dev.env` would steer every command run there.
        dev = subprocess.Popen(
            [sys.executable, "-m", "mesh", "dev"], cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            _poll(
                lambda: True if http.get("/readyz").status_code == 200 else None,
                timeout=120,
                what="the gateway to be ready",
                log=log,
            )
            ticket = {
                "ticket_id": "T-dev-1",
                "customer": {"email": "ada@example.com"},
                "subject": "Where is my order ORD-1001?",
                "body": "Please help.",
            }
            response = http.post("/v1/events/support.ticket.created", json=ticket)
            assert response.status_code == 202, response.text

            def triaged() -> dict[str, Any] | None:
                tasks = http.get("/v1/tasks", params={"agent": "triage"}).json()["tasks"]
                return next((t for t in tasks if t["status"] == "succeeded"), None)

            task = _poll(triaged, timeout=90, what="the ticket to be triaged", log=log)
            assert task["result"]["ticket_id"] == "T-dev-1"
            assert task["result"]["drafting"]["reason"].startswith("TRIAGE_MODEL_DRAFTS=0")
            _assert_the_assistant_answers(http, log)
        _assert_the_model_answers(tmp_path, log)
        _poll(
            lambda: True if "ready: checking every" in log.read_text() else None,
            timeout=60,
            what="the supervisor",
            log=log,
        )
    finally:
        dev.send_signal(signal.SIGINT)
        code = dev.wait(timeout=60)
    assert code == 0, log.read_text()[-4000:]


def _assert_the_assistant_answers(http: httpx.Client, log: Path) -> None:
    """The `assistant` reference agent answers a task with the embedded model."""
    asked = {"agent": "assistant", "input": {"question": "Say hello.", "max_tokens": 8}}
    response = http.post("/v1/tasks", json=asked)
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]

    def ended() -> dict[str, Any] | None:
        task = http.get(f"/v1/tasks/{task_id}").json()
        return task if task["status"] in ("succeeded", "failed", "dead_lettered") else None

    task = _poll(ended, timeout=90, what="the assistant to answer", log=log)
    assert task["status"] == "succeeded", task
    assert task["result"]["model"] == MODEL_NAME and task["result"]["output_tokens"] > 0, task


def _assert_the_model_answers(directory: Path, log: Path) -> None:
    """The banner names the embedded model; `.mesh/dev.env` gives its endpoint and
    name (as every child got them); a chat completion there answers."""
    _poll(
        lambda: True if "Press Ctrl-C to stop." in log.read_text() else None,
        timeout=60,
        what="the banner",
        log=log,
    )
    found = read_dev_env(directory / ".mesh" / "dev.env")
    assert found is not None, log.read_text()[-4000:]
    endpoint, name = found.settings["MESH_MODEL_ENDPOINT"], found.settings["MESH_MODEL_NAME"]
    assert name == MODEL_NAME
    assert f"  model     {endpoint} ({MODEL_NAME}, embedded llama.cpp" in log.read_text()
    request = {"model": name, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
    answer = httpx.post(f"{endpoint}/chat/completions", json=request, timeout=60).json()
    assert answer["choices"][0]["message"]["content"].strip(), answer
    assert answer["usage"]["completion_tokens"] > 0, answer
