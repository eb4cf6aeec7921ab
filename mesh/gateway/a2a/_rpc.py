"""The JSON-RPC 2.0 layer of the A2A binding (ADR 041): parse a request into the SDK's
protobuf request type, answer with a result or an A2A error, stream as SSE.

The SDK's own dispatcher needs `sse-starlette` and serves one `RequestHandler` per
process over its own task store; the gateway's state is its view, so this layer is
ours, with the SDK's types (`a2a.types`) and error codes (`a2a.utils.errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.types import a2a_pb2
from a2a.utils.errors import (
    A2AError,
    InvalidParamsError,
    InvalidRequestError,
    JSONParseError,
    MethodNotFoundError,
    VersionNotSupportedError,
)
from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import Message
from starlette.requests import Request

from mesh.gateway.auth import Scope

RequestId = str | int | None
PROTOCOL_VERSION = "1.0"
VERSION_HEADER = "A2A-Version"

# The methods of A2A 1.0's JSON-RPC binding (what a2a-sdk 1.x sends) -> params type.
METHODS: dict[str, type[Message]] = {
    "SendMessage": a2a_pb2.SendMessageRequest,
    "SendStreamingMessage": a2a_pb2.SendMessageRequest,
    "GetTask": a2a_pb2.GetTaskRequest,
    "ListTasks": a2a_pb2.ListTasksRequest,
    "CancelTask": a2a_pb2.CancelTaskRequest,
    "SubscribeToTask": a2a_pb2.SubscribeToTaskRequest,
    "CreateTaskPushNotificationConfig": a2a_pb2.TaskPushNotificationConfig,
    "GetTaskPushNotificationConfig": a2a_pb2.GetTaskPushNotificationConfigRequest,
    "ListTaskPushNotificationConfigs": a2a_pb2.ListTaskPushNotificationConfigsRequest,
    "DeleteTaskPushNotificationConfig": a2a_pb2.DeleteTaskPushNotificationConfigRequest,
}
STREAMING = frozenset({"SendStreamingMessage", "SubscribeToTask"})
# What each method asks of the caller (ADR 043's scopes; every call is a POST, so the
# method, not the HTTP verb, decides): reads `read`, cancel `operate`, the rest `submit`.
SCOPES: dict[str, Scope] = {
    "SendMessage": Scope.SUBMIT,
    "SendStreamingMessage": Scope.SUBMIT,
    "GetTask": Scope.READ,
    "ListTasks": Scope.READ,
    "CancelTask": Scope.OPERATE,
    "SubscribeToTask": Scope.READ,
    "CreateTaskPushNotificationConfig": Scope.SUBMIT,
    "GetTaskPushNotificationConfig": Scope.READ,
    "ListTaskPushNotificationConfigs": Scope.READ,
    "DeleteTaskPushNotificationConfig": Scope.SUBMIT,
}


class RpcCall:
    """One parsed JSON-RPC request: its id, method and params (a protobuf message)."""

    def __init__(self, request_id: RequestId, method: str, params: Message) -> None:
        self.id = request_id
        self.method = method
        self.params = params


class RpcFailure(Exception):
    """A request that fails before its method runs (the error to answer, with its id)."""

    def __init__(self, request_id: RequestId, error: A2AError) -> None:
        super().__init__(error.message)
        self.id = request_id
        self.error = error


async def parse_call(request: Request) -> RpcCall:
    """The call in `request`'s body. Raises RpcFailure with the error to answer."""
    version = request.headers.get(VERSION_HEADER, PROTOCOL_VERSION)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise RpcFailure(None, JSONParseError(str(exc))) from None
    if not isinstance(body, dict):
        raise RpcFailure(None, InvalidRequestError("a JSON-RPC request is an object"))
    request_id = body.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int | None):
        raise RpcFailure(None, InvalidRequestError("id: must be a string, a number or null"))
    if body.get("jsonrpc") != "2.0":
        raise RpcFailure(request_id, InvalidRequestError("jsonrpc: must be exactly '2.0'"))
    if version.split(".")[:2] != PROTOCOL_VERSION.split("."):
        reason = f"{VERSION_HEADER} {version!r}: this server speaks A2A {PROTOCOL_VERSION}"
        raise RpcFailure(request_id, VersionNotSupportedError(reason))
    method = body.get("method")
    params_type = METHODS.get(method) if isinstance(method, str) else None
    if params_type is None or not isinstance(method, str):
        reason = f"method {method!r}: not an A2A {PROTOCOL_VERSION} method ({', '.join(METHODS)})"
        raise RpcFailure(request_id, MethodNotFoundError(reason))
    params = body.get("params", {})
    try:
        parsed = ParseDict(params, params_type(), ignore_unknown_fields=True)
    except (ParseError, TypeError, ValueError) as exc:
        raise RpcFailure(request_id, InvalidParamsError(f"params: {exc}")) from None
    return RpcCall(request_id, method, parsed)


def result_body(request_id: RequestId, result: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def error_body(request_id: RequestId, error: A2AError) -> bytes:
    """The JSON-RPC error, with the SDK's details (ErrorInfo; BadRequest for fields)."""
    return orjson.dumps(build_error_response(request_id, error))


async def sse_frames(request_id: RequestId, results: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """Each result as one SSE `data:` frame holding a JSON-RPC response (None: a
    keep-alive comment); an A2A error raised while streaming as an `event: error`
    frame, which ends the stream."""
    try:
        async for result in results:
            if result is None:
                yield b": keepalive\n\n"
                continue
            yield b"data: " + result_body(request_id, result) + b"\n\n"
    except A2AError as exc:
        yield b"event: error\ndata: " + error_body(request_id, exc) + b"\n\n"
