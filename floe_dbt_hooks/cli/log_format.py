"""How the CLI renders the framework's log records: readable text on a terminal, JSON lines on
request (``--log-format json``), always on stderr so stdout stays the command's output."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from floe_dbt_hooks.builtin.log import LOGGER_NAME

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


def configure_cli_logging(log_format: str, level: str) -> None:
    """Send ``floe_dbt_hooks`` records to stderr in ``log_format`` at ``level`` and above."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper()))
    logger.propagate = False
