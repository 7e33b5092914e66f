"""One JSON log line format for every fraudstream process. Callers pass card tokens, never card numbers.

A line holds `ts`, `level`, `logger`, `msg`, the record's extra attributes (`extra={"swipe_id": ...}`)
or its `fields` mapping (`extra={"fields": {...}}`), both flattened into the line, and `exception`
with the trace when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else came from `extra=` and goes into the line.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key == "fields" and isinstance(value, dict):
                line.update(value)
            elif key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(
    level: str = "INFO", quiet: tuple[str, ...] = ("uvicorn", "uvicorn.error", "uvicorn.access")
) -> None:
    """Route every logger (ours, uvicorn's, py4j's, librdkafka's bridge) through one JSON handler on stderr.

    `quiet` loggers lose their own handlers and propagate to it, so nothing prints twice.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in quiet:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
