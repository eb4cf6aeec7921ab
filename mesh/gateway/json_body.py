"""JSON request bodies, read strictly: `JsonBodyRoute` is the route class of every API
router.

A body is taken only as JSON (`application/json` or `+json`; anything else is 415),
and only as JSON the mesh can carry on: UTF-8 text, nested at most
`MESH_GATEWAY_MAX_JSON_DEPTH` levels, numbers that fit in 64 bits and are finite,
strings of Unicode text (no lone surrogate). Each of these otherwise fails later, in
the publisher's encoder or a consumer's decoder, as a 500 or a dead letter; here it
is a problem body naming `body`. The route class also documents, per route, the
problems the machinery answers (400/413/415/422), so the OpenAPI document is whole.
"""

from __future__ import annotations

import email.message
import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from mesh.gateway.problems import ProblemError, problem_responses

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1  # orjson writes integers in [-2**63, 2**64 - 1]
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
            parse_int=_int64,
            parse_float=_finite,
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


def _int64(literal: str) -> int:
    number = int(literal)
    if not _INT64_MIN <= number <= _UINT64_MAX:
        raise _Unfit(f"the integer {literal[:30]} does not fit in 64 bits")
    return number


def _finite(literal: str) -> float:
    number = float(literal)
    if number in (float("inf"), float("-inf")):
        raise _Unfit(f"the number {literal[:30]} is too large for a 64-bit float")
    return number


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
