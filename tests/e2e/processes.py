"""Running agents as separate `mesh run` processes, the way users deploy them."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from mesh.settings import Settings
from tests.conftest import ROOT, settings_env
from tests.helpers import eventually

_ASSIGNED = re.compile(r"assigned (\d+) partitions")


class MeshProcess:
    """One `mesh` child process (an agent's `mesh run <spec>` by default), its log in a
    file."""

    def __init__(
        self,
        spec: str,
        settings: Settings,
        log_dir: Path,
        instance: str,
        extra_env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        """`mesh run <spec>`, or `mesh <command>` when given (e.g. the supervisor)."""
        self.spec = spec
        self.instance = instance
        self.log_path = log_dir / f"{instance}.log"
        env = settings_env(settings) | (extra_env or {})
        env["MESH_INSTANCE_ID"] = instance
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mesh", *(command or ["run", spec])],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def assigned_counts(self) -> list[int]:
        return [int(n) for n in _ASSIGNED.findall(self.log())]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the process and wait; past `timeout` s, kill it. Returns its exit code
        (negative for a signal: -9 when it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._log.close()


async def wait_until_split(
    processes: list[MeshProcess], *, partitions: dict[str, int], timeout: float = 60.0
) -> None:
    """Wait until every group has shared out all its partitions among its processes.

    Args:
        partitions: per agent spec, how many partitions its group consumes in all.
    """

    def split() -> bool:
        latest: dict[str, list[int]] = {}
        for p in processes:
            if p.proc.poll() is not None:
                raise AssertionError(f"{p.instance} exited early:\n{p.log()}")
            counts = p.assigned_counts()
            if not counts:
                return False
            latest.setdefault(p.spec, []).append(counts[-1])
        return all(
            sum(counts) == partitions[spec] and min(counts) > 0 for spec, counts in latest.items()
        )

    await eventually(split, timeout=timeout, interval=0.2, what="the groups to settle")
