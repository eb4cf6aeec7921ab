"""The gateway serves, and a malformed request gets a problem body naming the field."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.conftest import GatewayServer

pytestmark = pytest.mark.broker


def test_unknown_path_is_a_problem_json_404(gateway: GatewayServer) -> None:
    response = httpx.get(f"{gateway.url}/no/such/path", timeout=5)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
