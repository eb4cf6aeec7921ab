"""A real `prometheus` process for the tests, configured from deploy/prometheus.

The scrape config is the deployed one with only the targets (and faster intervals)
changed, so the job names the rules and dashboards rely on are the deployed ones.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.helpers import eventually_true
from tests.observability.conftest import PROMETHEUS_CONFIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    def __init__(self, binary: str, workdir: Path, targets: dict[str, list[str]]) -> None:
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        jobs = {job["job_name"] for job in config["scrape_configs"]}
        assert jobs == set(targets), f"the deployed config scrapes {jobs}, not {set(targets)}"
        for job in config["scrape_configs"]:
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
        config["global"] = {"scrape_interval": "500ms", "evaluation_interval": "500ms"}
        config["rule_files"] = [
            str(PROMETHEUS_CONFIG.parent / rule) for rule in config["rule_files"]
        ]
        path = workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = workdir / "prometheus.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.AsyncClient(base_url=self.url, timeout=10)

    async def wait_ready(self) -> None:
        async def ready() -> bool:
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                return (await self.http.get("/-/ready")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually_true(ready, timeout=30, what="prometheus to be ready")

    async def api(self, path: str, **params: str) -> Any:
        answer = (await self.http.get(f"/api/v1/{path}", params=params)).json()
        assert answer["status"] == "success", f"{path} {params}: {answer}"
        return answer["data"]

    async def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        data = await self.api("query", query=expr)
        return [(row["metric"], float(row["value"][1])) for row in data["result"]]

    async def value(self, expr: str) -> float | None:
        """The value of a one-series expression (None while it has no series)."""
        rows = await self.query(expr)
        assert len(rows) <= 1, f"{expr} gave {rows}"
        return rows[0][1] if rows else None

    async def until(self, expr: str, wanted: float, *, timeout: float = 30.0) -> None:
        seen: list[float | None] = []

        async def equal() -> bool:
            seen.append(await self.value(expr))
            return seen[-1] == wanted

        try:
            await eventually_true(equal, timeout=timeout, interval=0.25, what=f"{expr} == {wanted}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last values {seen[-5:]}") from None

    async def stop(self) -> None:
        await self.http.aclose()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
