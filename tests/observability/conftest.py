"""The real Prometheus tools, found on PATH (`make prometheus` installs them; `make
test` runs it first). Missing tools fail these tests, saying how to install them: a
check of the deploy files that quietly skipped would prove nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import (
    ROOT,
    bootstrap_servers,  # noqa: F401 (imported: pytest scopes it to this package)
)

DEPLOY = ROOT / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
ALERT_TESTS = Path(__file__).parent / "alerts_test.yml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"`{name}` is not installed: run `make prometheus` (apt-get install prometheus)"
    if os.environ.get("MESH_TEST_SKIP_PROMETHEUS") == "1":
        pytest.skip(f"SKIPPED ON REQUEST (MESH_TEST_SKIP_PROMETHEUS=1): {reason}")
    pytest.fail(reason)


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _tool("prometheus")
