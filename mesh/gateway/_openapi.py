"""The OpenAPI document (`/openapi.json`): FastAPI's, plus the components that routes
and models refer to by `$ref` but that no route returns as its own model: `Problem`,
the body of every error answer, and `JsonValue`, what a free-form JSON field holds."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from mesh.gateway._json_body import JSON_VALUE
from mesh.gateway._problems import Problem


def complete_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        components["JsonValue"] = JSON_VALUE
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
