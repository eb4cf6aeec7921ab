"""`.mesh/dev.env`: how commands in a second terminal find the mesh `mesh dev` runs.

`mesh dev` writes the file in the directory it runs in (the project directory for
`make dev`): the broker address and the dev profile, as `MESH_*` lines a shell can
also `source`. Any other `mesh` command run there (or in a subdirectory) with no
`MESH_BOOTSTRAP_SERVERS` of its own reads it, so the commands the banner prints work
as printed; variables set in the environment still win, one by one. The file is
removed when `mesh dev` stops cleanly; one left behind by a killed `mesh dev` names a
process that is gone, which `DevMesh.running` tells.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEV_ENV = Path(".mesh", "dev.env")

# Per process (each child gets its own), or secrets that must not land on disk.
# The gateway's auth switch is its own: its keys are secrets and never written, and a
# command in another shell that read the switch without them would refuse to start.
_NOT_WRITTEN = frozenset({"MESH_INSTANCE_ID", "MESH_METRICS_PORT", "MESH_GATEWAY_AUTH"})
_SECRET = re.compile(r"PASSWORD|SECRET|API_KEY")  # e.g. MESH_MODEL_API_KEY
_PID_LINE = re.compile(r"^# mesh dev pid (\d+)")


@dataclass(frozen=True)
class DevMesh:
    """What a dev env file says: where it is, who wrote it, the settings it holds."""

    path: Path
    pid: int | None
    settings: Mapping[str, str]

    @property
    def bootstrap_servers(self) -> str:
        return self.settings.get("MESH_BOOTSTRAP_SERVERS", "?")

    @property
    def running(self) -> bool:
        """True while the `mesh dev` that wrote the file is alive."""
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, but another user's
            return True
        return True

    def describe(self) -> str:
        """E.g. "the dev mesh at 127.0.0.1:4567 (.mesh/dev.env, pid 42)"."""
        return f"the dev mesh at {self.bootstrap_servers} ({_shown(self.path)}, pid {self.pid})"


def dev_settings(environment: Mapping[str, str]) -> dict[str, str]:
    """The `MESH_*` variables of `environment` that a client of the dev mesh needs."""
    return {
        name: value
        for name, value in sorted(environment.items())
        if name.startswith("MESH_") and name not in _NOT_WRITTEN and not _SECRET.search(name)
    }


def write_dev_env(directory: Path, settings: Mapping[str, str], *, pid: int) -> Path:
    """Write `directory/.mesh/dev.env` (and a .gitignore that keeps `.mesh/` out of git).

    Written to a temporary name and renamed, so a command reading it never sees half.
    """
    path = directory / DEV_ENV
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by `mesh dev`\n*\n")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [
        f"# mesh dev pid {pid}, started {started}; removed when it stops.",
        "# `mesh` commands run in this directory use these settings unless",
        "# MESH_BOOTSTRAP_SERVERS is set. Other tools: set -a; . .mesh/dev.env; set +a",
        *(f"{name}={shlex.quote(value)}" for name, value in settings.items()),
    ]
    partial = path.with_suffix(f".{pid}.tmp")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)
    return path


def remove_dev_env(path: Path, *, pid: int) -> None:
    """Remove the file if it is still the one `pid` wrote (a later `mesh dev` may own it)."""
    found = read_dev_env(path)
    if found is not None and found.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read_dev_env(path: Path) -> DevMesh | None:
    """The file's contents, or None when there is no such file."""
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    pid = None
    settings: dict[str, str] = {}
    for line in text.splitlines():
        if match := _PID_LINE.match(line):
            pid = int(match.group(1))
        name, sep, value = line.partition("=")
        if sep and name.startswith("MESH_"):
            words = shlex.split(value)
            settings[name] = words[0] if words else ""
    return DevMesh(path, pid, settings)


def find_dev_env(start: Path | None = None) -> DevMesh | None:
    """The nearest `.mesh/dev.env` in `start` (default: the working directory) or above."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        found = read_dev_env(directory / DEV_ENV)
        if found is not None:
            return found
    return None


def use_dev_mesh(environ: MutableMapping[str, str] | None = None) -> DevMesh | None:
    """With no broker configured, take the dev mesh's settings into `environ`.

    Args:
        environ: Default `os.environ`. Variables it already has are kept.

    Returns:
        The dev mesh used, or None (a broker is configured, or no file was found).
        The caller checks `running`: a stale file is returned too, so it can say so.
    """
    environ = os.environ if environ is None else environ
    if environ.get("MESH_BOOTSTRAP_SERVERS"):
        return None
    found = find_dev_env()
    if found is not None and found.running:
        environ.pop("MESH_BOOTSTRAP_SERVERS", None)  # set but empty: not configured
        for name, value in found.settings.items():
            environ.setdefault(name, value)
    return found


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is below it (shorter to read)."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)
