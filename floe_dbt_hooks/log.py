"""Framework logging through structlog, imported on first use so discovery stays fast.

Library users get standard-library logging (records under the ``floe_dbt_hooks`` logger), so an
embedding application keeps control of handlers and levels; the CLI configures rendering itself.
Every event passes through the secret redactor.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import MutableMapping
from typing import Any

from floe_dbt_hooks.secrets import redact

LOGGER_NAME = "floe_dbt_hooks"


def _redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


@functools.cache
def _configured() -> Any:
    import structlog

    return structlog.wrap_logger(
        logging.getLogger(LOGGER_NAME),
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            _redact_event,
            structlog.stdlib.render_to_log_kwargs,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def get_logger(**context: Any) -> Any:
    """A structlog logger bound to ``context``; records go to the stdlib ``floe_dbt_hooks`` logger."""
    logger = _configured()
    return logger.bind(**context) if context else logger
