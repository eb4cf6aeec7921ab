"""The web console (ADR 042): one HTML page, a stylesheet and a few small JavaScript
modules under `static/`, served by the gateway at `/console`. Nothing is built and
nothing comes from the network: the browser loads the files as they are in the
package, and the page reads the gateway's own API (`/v1/...`, SSE included). With
auth on it signs in first, to a session cookie (`session`, ADR 047).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PATH = "/console"


def install_console(app: FastAPI) -> None:
    """Serve the console at `/console` (its files under `/console/static`); not part of
    the API, so not in the OpenAPI document."""

    @app.get(PATH, include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get(PATH + "/", include_in_schema=False)
    async def console_slash() -> RedirectResponse:
        return RedirectResponse(PATH)

    app.mount(PATH + "/static", StaticFiles(directory=STATIC), name="console-static")
