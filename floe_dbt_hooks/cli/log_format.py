"""How the CLI renders the framework's log records: readable text on a terminal, JSON lines on
request (``--log-format json``), always on stderr so stdout stays the command's output.

Imported only when the first record is about to be logged (see :func:`configure_cli_logging`)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and v is not None}


class TextFormatter(logging.Formatter):
    """``warning: runtime_fallback runtime=fusion reason_code=...``"""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        return f"{record.levelname.lower()}: {record.getMessage()} {fields}".rstrip()


class JSONFormatter(logging.Formatter):
    """One JSON object per record: timestamp, level, event, then the bound context."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "timestamp": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **_fields(record),
        }
        return json.dumps(payload, default=str)


def attach(logger: logging.Logger, log_format: str, level: str) -> None:
    """Make ``logger`` write to stderr in ``log_format`` at ``level`` and above, and only there."""
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper()))
    logger.propagate = False
