"""Logging set-up: text or one JSON object per line, with the fields of the work in hand.

Fields a line carries besides its message:

* `extra={...}` given to the logging call (kept as JSON keys, or `key=value` after a text line);
* the fields of `log_fields(...)`, a context that follows the code running inside it (the
  request id of an HTTP request, the occurrence and delivery ids of a send), so every line
  logged there carries them, the lines of a channel plugin included.
"""

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from clarion.settings import LoggingSettings

_fields: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("clarion_log_fields", default={})

# Everything a LogRecord has by itself: any other attribute came from `extra` or `log_fields`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


@contextlib.contextmanager
def log_fields(**fields: Any) -> Iterator[None]:
    """Every line logged inside (in this task and the tasks it starts) carries `fields`."""
    token = _fields.set({**_fields.get(), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


def current_field(name: str) -> Any:
    """A field of the current `log_fields` context (e.g. "request_id"), None outside one."""
    return _fields.get().get(name)


class ContextFields(logging.Filter):
    """Copies the `log_fields` context onto each record (an explicit `extra` of the same name wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _fields.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **extra_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value …` (the extra fields, sorted)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        fields = extra_fields(record)
        line = super().formatMessage(record)
        return line + "".join(f" {key}={value}" for key, value in sorted(fields.items()))


def configure_logging(settings: LoggingSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    handler.addFilter(ContextFields())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
