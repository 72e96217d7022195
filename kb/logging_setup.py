"""Log output for the CLI, the crawler and the web workers: plain text for people, JSON lines for machines.

One small formatter on the standard library's logging (no dependency for ~30 lines): each record becomes one
JSON object with ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``pid`` and whatever the caller put
in ``extra=`` (the web app adds ``request_id``, ``method``, ``path``, ``status``, ``duration_ms``,
``user_id``; :mod:`web.request_log`). Exceptions are one ``exc_info`` string, so a line never breaks.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and goes into the JSON.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which worker, when several serve
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def default_format(stream: TextIO | None = None) -> str:
    """Text on a terminal, JSON otherwise (a service manager or a log collector reads it)."""
    stream = stream or sys.stderr
    return "text" if stream.isatty() else "json"


def configure_logging(log_format: str | None = None, *, level: int = logging.INFO,
                      stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) as text or JSON; replaces earlier handlers
    installed here, so calling it twice (a command run in-process by a test) does not double lines."""
    if log_format is None:
        log_format = default_format(stream)
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.set_name("kb")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "kb"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
