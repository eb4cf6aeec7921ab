"""JSON request bodies, read strictly: `JsonBodyRoute` is the route class of every API
router.

A body is taken only as JSON (`application/json` or `+json`; anything else is 415),
and only as JSON the mesh can carry on: UTF-8 text, nested at most
`MESH_GATEWAY_MAX_JSON_DEPTH` levels, numbers between -2**63 and 2**64 - 1 (what
orjson, which encodes every envelope, writes), strings of Unicode text (no lone
surrogate). Each of these otherwise fails later, in the publisher's encoder or a
consumer's decoder, as a 500 or a dead letter; here it is a problem body naming
`body`. `JsonObject` says the same in the OpenAPI document (`JsonValue`), and the
route class documents, per route, the problems the machinery answers
(400/413/415/422), so the document is whole.
"""

from __future__ import annotations

import email.message
import json
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BeforeValidator, WithJsonSchema

from mesh.gateway._problems import ProblemError, problem_responses

NUMBER_MIN = -(2**63)
NUMBER_MAX = 2**64 - 1  # orjson writes integers in [-2**63, 2**64 - 1]
# Points into the OpenAPI document's components (mesh/gateway/_openapi.py): the request
# models' JSON Schema exists only there (`model_json_schema()` alone cannot resolve it).
JSON_VALUE_REF: dict[str, Any] = {"$ref": "#/components/schemas/JsonValue"}
# Any JSON value the mesh carries (an OpenAPI component; mesh/gateway/_openapi.py).
JSON_VALUE: dict[str, Any] = {
    "description": f"Any JSON value; numbers lie between {NUMBER_MIN} and {NUMBER_MAX}.",
    "anyOf": [
        {"type": "string"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "number", "minimum": NUMBER_MIN, "maximum": NUMBER_MAX},
        {"type": "array", "items": JSON_VALUE_REF},
        {"type": "object", "additionalProperties": JSON_VALUE_REF},
    ],
}
JSON_OBJECT_SCHEMA = {"type": "object", "additionalProperties": JSON_VALUE_REF}
# A free-form JSON object of a request body (validated as a dict; documented as above).
JsonObject = Annotated[dict[str, Any], WithJsonSchema(JSON_OBJECT_SCHEMA)]


def _json_number(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("should be a JSON number, not a boolean or a string")
    return value


# An integer as JSON Schema has it (10, or 10.0), never `true` or `"10"` (pydantic's lax
# mode takes those; its strict mode refuses 10.0).
JsonInt = Annotated[int, BeforeValidator(_json_number)]
# A \u escape of a UTF-16 surrogate: a pair becomes one character, a lone one stays
# a surrogate that no UTF-8 encoder takes. Strings are walked only when one is there.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


class _Unfit(ValueError):
    """A number the mesh cannot carry, found while parsing."""


def is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def parse_json_body(body: bytes, *, max_depth: int) -> Any:
    """The body as JSON, or a ProblemError (400, 422) that says what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(400, "body", f"not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(
            text,
            parse_int=_in_range(int),
            parse_float=_in_range(float),
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        reason = f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        raise ProblemError(422, "body", reason) from None
    except _Unfit as exc:
        raise ProblemError(422, "body", str(exc)) from None
    except RecursionError:  # deeper than the parser goes: far past any limit
        raise ProblemError(422, "body", _too_deep(max_depth)) from None
    _check_shape(value, max_depth, strings=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def _in_range(kind: Callable[[str], int | float]) -> Callable[[str], int | float]:
    def parse(literal: str) -> int | float:
        number = kind(literal)
        if not NUMBER_MIN <= number <= NUMBER_MAX:  # also inf, from a float like 1e999
            raise _Unfit(f"the number {literal[:30]} is not between {NUMBER_MIN} and {NUMBER_MAX}")
        return number

    return parse


def _no_constant(literal: str) -> Any:
    raise _Unfit(f"{literal} is not JSON")


def _check_shape(value: Any, max_depth: int, *, strings: bool) -> None:
    """Depth first without recursion: a too-deep body must not exhaust the stack."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
            if strings:
                _check_strings(node.keys())
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise ProblemError(422, "body", _too_deep(max_depth))
        if strings:
            _check_strings(child for child in children if isinstance(child, str))
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    if strings and isinstance(value, str):
        _check_strings([value])


def _check_strings(strings: Any) -> None:
    for text in strings:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ProblemError(
                422, "body", "a string holds a lone UTF-16 surrogate (not Unicode text)"
            ) from None


def _too_deep(max_depth: int) -> str:
    return f"nested deeper than {max_depth} levels (MESH_GATEWAY_MAX_JSON_DEPTH)"


class BoundedJsonRequest(Request):
    """A request whose `json()` is `parse_json_body` (FastAPI reads bodies through it)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            settings = self.app.state.gateway.settings
            body = await self.body()
            self._json = parse_json_body(body, max_depth=settings.gateway_max_json_depth)
        return self._json


class JsonBodyRoute(APIRoute):
    """Reads a route's JSON body with `BoundedJsonRequest`; 415 for a body of another
    media type. Documents the problems that reading and validating answer."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        dependant = self.dependant
        takes_params = any((dependant.path_params, dependant.query_params, dependant.header_params))
        machinery = [400, 413, 415, 422] if self.body_field else [422] if takes_params else []
        self.responses = {**problem_responses(*machinery), **self.responses}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def bounded(request: Request) -> Response:
            request = BoundedJsonRequest(request.scope, request.receive)
            if await request.body() and not is_json(request.headers.get("content-type")):
                raise ProblemError(
                    415,
                    "header.content-type",
                    f"{request.headers.get('content-type') or 'none'} is not JSON; "
                    "send the body as application/json",
                )
            return await handler(request)

        return bounded
