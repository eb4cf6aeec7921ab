"""Process logging: text for people, JSON lines for log pipelines (`MESH_LOG_FORMAT`)."""

from __future__ import annotations

import logging
import sys

import orjson

from mesh.settings import Settings


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(settings: Settings, *, name: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        prefix = f"[{name}] " if name else ""
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s")
        )
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    # aiokafka logs every reconnect attempt at ERROR; our own messages say what matters.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLogger().level))
