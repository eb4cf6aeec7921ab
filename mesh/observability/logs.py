"""Process logging: text for people, JSON lines for log pipelines (`MESH_LOG_FORMAT`).

Every record names its service (the agent type, "gateway" or "supervisor") and
instance. A record logged while a task runs also carries the task's id, correlation id
and agent (the runner binds them with `task_log_context`), and the trace and span ids
of the active OpenTelemetry span when there is one. So one grep, or one log-pipeline
query, follows a task across every process that touched it.

Payload bodies are never logged at INFO; at DEBUG they go through
`schemas.redaction.redacted`, which masks fields a schema marks sensitive.

At INFO the console says what the mesh does, not what its libraries do: faust's
service start-up lines and recovery tables, and uvicorn's and httpx's per-request lines
(the gateway's, the model clients') come back with `MESH_LOG_LEVEL=DEBUG`; their
warnings and errors always show.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry import trace

from mesh.settings import Settings

# Per asyncio task (contextvars follow tasks), so concurrent tasks never mix ids. The
# fields are one flat tuple (name, value, name, value...), made into a dict only when a
# record is logged: every waiting task holds them (ADR 033).
_Fields = tuple[str, ...]
_task_fields: ContextVar[_Fields] = ContextVar("mesh_log", default=())
# The agent type a record concerns, where one process runs several (`mesh run a b`):
# set around each worker's run, so its records name it rather than the process.
_service: ContextVar[str | None] = ContextVar("mesh_log_service", default=None)


@contextlib.contextmanager
def service_log_context(service: str) -> Iterator[None]:
    """Within the block (and tasks it starts), records name `service` as theirs."""
    token = _service.set(service)
    try:
        yield
    finally:
        _service.reset(token)


@contextlib.contextmanager
def task_log_context(**fields: str | None) -> Iterator[None]:
    """Within the block (and tasks it starts), records carry these fields."""
    token = bind_task_fields(**fields)
    try:
        yield
    finally:
        unbind_task_fields(token)


def bind_task_fields(**fields: str | None) -> Token[_Fields]:
    """`task_log_context` without its context manager, for the runner: records logged
    from here on carry these fields, until `unbind_task_fields(token)`."""
    outer = _task_fields.get()
    named = tuple(item for k, v in fields.items() if v for item in (k, v))
    return _task_fields.set(outer + named if outer else named)


def unbind_task_fields(token: Token[_Fields]) -> None:
    _task_fields.reset(token)


def context_fields() -> dict[str, str]:
    """The task fields bound here, plus the active span's trace and span ids."""
    bound = _task_fields.get()
    fields = dict(zip(bound[::2], bound[1::2], strict=True))
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        fields["trace_id"] = format(span.trace_id, "032x")
        fields["span_id"] = format(span.span_id, "016x")
    return fields


class ContextFilter(logging.Filter):
    """Adds `service`, `instance` and the task fields to every record it passes."""

    def __init__(self, service: str, instance: str) -> None:
        super().__init__()
        self.service = service
        self.instance = instance

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = _service.get() or self.service
        record.instance = self.instance
        record.mesh_fields = context_fields()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": getattr(record, "service", ""),
            "instance": getattr(record, "instance", ""),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "mesh_fields", {}),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    """The console format of `make dev`: the message, then the task it concerns."""

    def __init__(self, service: str) -> None:
        self._service = service
        prefix = "[%(service)s] " if service else ""
        super().__init__(f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "service"):  # not passed through a `ContextFilter`
            record.service = self._service
        line = super().format(record)
        task_id = getattr(record, "mesh_fields", {}).get("task_id")
        return f"{line} [task {task_id}]" if task_id else line


class LibraryChatter(logging.Filter):
    """Drops records below WARNING that code of `packages` logged.

    By where the record was made, not by logger name: faust's services (mode) log
    through a helper that names the caller's module, so the supervisor's own faust
    subclasses log their "[^--Consumer]: Starting..." lines as `mesh.supervision.app`.
    """

    def __init__(self, packages: tuple[str, ...]) -> None:
        super().__init__()
        self._directories = tuple(_package_directories(packages))

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.pathname.startswith(
            self._directories
        )


def _package_directories(packages: tuple[str, ...]) -> list[str]:
    """Where the installed `packages` live (without importing those not imported yet)."""
    found = []
    for package in packages:
        module = sys.modules.get(package)
        locations = getattr(module, "__path__", None)
        if locations is None:
            try:
                spec = importlib.util.find_spec(package)
            except (ImportError, ValueError):
                spec = None
            locations = spec.submodule_search_locations if spec else None
        found += [f"{location.rstrip('/')}/" for location in locations or ()]
    return found


def configure_logging(settings: Settings, *, name: str = "") -> None:
    """Log to stderr in `settings.log_format`, as service `name`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter(name, settings.instance_id))
    if settings.log_level != "DEBUG":
        handler.addFilter(LibraryChatter(("faust", "mode")))
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter(name))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    quiet = max(logging.WARNING, logging.getLogger().level)
    # aiokafka logs every reconnect attempt at ERROR; our own messages say what matters.
    logging.getLogger("aiokafka").setLevel(quiet)
    if settings.log_level != "DEBUG":
        # A line per HTTP request drowns everything else (readiness probes, polling
        # clients); the gateway's own metrics count the requests.
        logging.getLogger("uvicorn.access").setLevel(quiet)
        # The model SDKs' HTTP client logs every request at INFO; mesh_llm_* count them.
        for client in ("httpx", "httpx2"):  # httpx2: the openai SDK's fork
            logging.getLogger(client).setLevel(quiet)
