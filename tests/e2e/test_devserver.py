"""`mesh dev` orchestration: banner, orderly Ctrl-C shutdown, no orphans after SIGKILL,
its `.mesh/dev.env` (removed on a clean stop; left by a SIGKILL, and then named as
not running by the commands that find it), and the model it gives the agents.

`run_dev` runs in a real subprocess (through a tiny `python -c` driver), because the
behaviour under test is about signals and process trees.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from mesh.dev.devserver import child_environment
from tests.helpers import poll

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BANNER_END = b"Press Ctrl-C to stop."
NO_MESH_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
DRIVER = """
import json, sys
from mesh.dev.devserver import main_dev
commands, model = json.loads(sys.argv[1]), sys.argv[2] == "model"
sys.exit(main_dev([], bootstrap_servers=None, extra_commands=commands, model=model))
"""


class DevProcess:
    """A `run_dev` subprocess plus the pids its banner announced."""

    def __init__(
        self,
        extra_commands: list[list[str]],
        directory: Path,
        *,
        model: bool = False,
        environment: dict[str, str] | None = None,
    ) -> None:
        import json

        env = dict(os.environ if environment is None else environment)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.directory = directory
        self.dev_env = directory / ".mesh" / "dev.env"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, json.dumps(extra_commands), "model" if model else ""],
            cwd=directory,
            env=env,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self.output = b""
        self.pids: list[int] = []

    def read_until(self, marker: bytes, timeout: float) -> None:
        """Read stdout until `marker` appears; fail after `timeout` seconds or at EOF."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} within {timeout}s; output so far: {self.output!r}"
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                assert chunk, f"stdout closed before {marker!r}; output: {self.output!r}"
                self.output += chunk

    def wait_banner(self) -> None:
        self.read_until(BANNER_END, timeout=30)
        # The broker line and one line per child each carry "pid N".
        self.pids = [int(pid) for pid in re.findall(rb"\bpid (\d+)", self.output)]

    def close(self) -> None:
        """Teardown: make sure nothing this test started survives a failure."""
        for pid in [self.proc.pid, *self.pids]:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def _gone(pid: int) -> bool:
    """True if `pid` no longer runs; an unreaped zombie (orphans may wait on init) counts."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _wait_all_gone(pids: list[int], timeout: float = 10) -> None:
    poll(lambda: all(_gone(pid) for pid in pids) or None, timeout=timeout, what=f"{pids} to exit")


@pytest.fixture
def dev_factory(tmp_path: Path) -> Iterator[Callable[[list[list[str]]], DevProcess]]:
    started: list[DevProcess] = []

    def start(extra_commands: list[list[str]]) -> DevProcess:
        dev = DevProcess(extra_commands, tmp_path)
        started.append(dev)
        dev.wait_banner()
        return dev

    yield start
    for dev in started:
        dev.close()


def test_sigint_stops_everything(dev_factory: Callable[[list[list[str]]], DevProcess]) -> None:
    dev = dev_factory([SLEEPER, SLEEPER])
    assert len(dev.pids) == 3, dev.output  # broker + two children
    address = re.search(rb"broker +(127\.0\.0\.1:\d+)", dev.output)
    assert address is not None, dev.output
    assert all(not _gone(pid) for pid in dev.pids)
    written = dev.dev_env.read_text()
    assert f"MESH_BOOTSTRAP_SERVERS={address.group(1).decode()}\n" in written
    assert "MESH_IDEMPOTENT_PRODUCER=false\n" in written  # what a second terminal lacked

    os.kill(dev.proc.pid, signal.SIGINT)  # only the dev process, as a terminal would
    assert dev.proc.wait(timeout=20) == 0
    _wait_all_gone(dev.pids)
    assert not dev.dev_env.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_sigkill_leaves_no_orphans(dev_factory: Callable[[list[list[str]]], DevProcess]) -> None:
    dev = dev_factory([SLEEPER, SLEEPER])
    assert len(dev.pids) == 3, dev.output

    os.kill(dev.proc.pid, signal.SIGKILL)
    assert dev.proc.wait(timeout=10) == -signal.SIGKILL
    _wait_all_gone(dev.pids)

    # The file outlives a killed `mesh dev`; a command in a second terminal says so.
    assert dev.dev_env.exists()
    mesh = [sys.executable, "-m", "mesh", "agents"]
    agents = subprocess.run(
        mesh, cwd=dev.directory, env=NO_MESH_ENV, capture_output=True, text=True, timeout=60
    )
    assert agents.returncode == 1, agents
    assert f"pid {dev.proc.pid}) is not running" in agents.stderr, agents.stderr
    assert "start `make dev` again" in agents.stderr and "Traceback" not in agents.stderr


def test_child_exit_stops_the_mesh(dev_factory: Callable[[list[list[str]]], DevProcess]) -> None:
    crasher = [sys.executable, "-c", "import time, sys; time.sleep(0.5); sys.exit(3)"]
    dev = dev_factory([SLEEPER, crasher])
    assert dev.proc.wait(timeout=20) == 1
    dev.read_until(b"exited unexpectedly with code 3", timeout=5)
    _wait_all_gone(dev.pids)


def test_child_environment_respects_user_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_SESSION_TIMEOUT", "30")
    monkeypatch.setenv("MESH_BOOTSTRAP_SERVERS", "elsewhere:9092")
    env = child_environment("127.0.0.1:1234", {"MESH_FETCH_MAX_WAIT": "0.2", "EXTRA": "x"})
    assert env["MESH_BOOTSTRAP_SERVERS"] == "127.0.0.1:1234"
    assert env["MESH_SESSION_TIMEOUT"] == "30"
    assert env["MESH_HEARTBEAT_INTERVAL"] == "1"
    assert env["MESH_FETCH_MAX_WAIT"] == "0.2"
    assert env["EXTRA"] == "x"


def test_mistakes_are_named_before_anything_starts(tmp_path: Path) -> None:
    def dev(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "mesh", "dev", *args]
        return subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = dev("--no-supervisor", env=NO_MESH_ENV | {"MESH_GATEWAY_PORT": str(port)})
    assert busy.returncode == 1, busy
    assert f"the gateway's address 127.0.0.1:{port} is taken" in busy.stderr, busy.stderr
    assert "set MESH_GATEWAY_PORT to a free port" in busy.stderr

    typo = dev("--agent", "agents.nosuch:agent", env=NO_MESH_ENV)
    assert typo.returncode == 2, typo
    assert "mesh: cannot import 'agents.nosuch'" in typo.stderr, typo.stderr
    assert not (tmp_path / ".mesh").exists()  # nothing was started, nothing written


def test_the_embedded_model_runs_and_every_child_gets_its_endpoint(tmp_path: Path) -> None:
    show_env = [
        sys.executable,
        "-c",
        "import os, time; print('child sees', "
        "os.environ['MESH_MODEL_ENDPOINT'], flush=True); time.sleep(600)",
    ]
    dev = DevProcess([show_env], tmp_path, model=True, environment=NO_MESH_ENV)
    try:
        dev.wait_banner()
        assert len(dev.pids) == 3, dev.output  # broker, model server, the command
        settings = dev.dev_env.read_text()
        endpoint = re.search(r"^MESH_MODEL_ENDPOINT=(\S+)$", settings, re.MULTILINE)
        assert endpoint is not None and "MESH_MODEL_NAME=SmolLM2-135M-Instruct\n" in settings
        url = endpoint.group(1)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url), url
        assert f"model     {url} (SmolLM2-135M-Instruct".encode() in dev.output
        assert b"model-server (SmolLM2-135M-Instruct)" in dev.output
        # The banner waited for llama.cpp's /health, so the model answers now.
        models = httpx.get(f"{url}/models", timeout=10).json()
        assert [m["id"] for m in models["data"]] == ["SmolLM2-135M-Instruct"]
        dev.read_until(f"child sees {url}".encode(), timeout=10)

        os.kill(dev.proc.pid, signal.SIGINT)
        assert dev.proc.wait(timeout=30) == 0
        _wait_all_gone(dev.pids)
    finally:
        dev.close()


def test_a_given_model_endpoint_starts_no_model(tmp_path: Path) -> None:
    hosted = {"MESH_MODEL_ENDPOINT": "https://models.example.com/v1", "MESH_MODEL_NAME": "m-1"}
    dev = DevProcess([SLEEPER], tmp_path, model=True, environment=NO_MESH_ENV | hosted)
    try:
        dev.wait_banner()
        assert len(dev.pids) == 2, dev.output  # broker, the command: no model server
        assert b"model     https://models.example.com/v1 (m-1, from MESH_MODEL_ENDPOINT)" in (
            dev.output
        )
        assert "MESH_MODEL_ENDPOINT=https://models.example.com/v1\n" in dev.dev_env.read_text()
    finally:
        dev.close()
