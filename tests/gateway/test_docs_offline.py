"""`/docs` and `/redoc` work without the internet: every asset their pages load is
served by the gateway itself (the fastapi-offline wheel ships them), none from a CDN.
On the in-memory transport."""

from __future__ import annotations

import re

import pytest

from tests.gateway.memory_support import memory_gateway

# Every URL a page loads: src/href attributes, Swagger UI's `url`, ReDoc's `spec-url`.
_REFERENCES = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_api_docs_load_only_local_assets(page: str) -> None:
    async with memory_gateway() as mesh:
        response = await mesh.http.get(page)
        assert response.status_code == 200
        html = response.text
        assert "http://" not in html and "https://" not in html, "nothing from elsewhere"
        urls = {a or b for a, b in _REFERENCES.findall(html)}
        assert "/openapi.json" in urls
        if page == "/docs":
            assert '"validatorUrl": null' in html  # its badge would be fetched from afar
        assets = {url for url in urls if url.endswith((".js", ".css"))}
        assert assets, f"{page} loads its scripts from somewhere: {urls}"
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            loaded = await mesh.http.get(url)
            assert loaded.status_code == 200, url
            assert len(loaded.content) > 0, url
