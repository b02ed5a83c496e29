"""Send events through the OpenLineage client, and never let sending them hurt the dbt run.

One client per invocation, configured the standard way (the pinned ``openlineage.yml``, then the
``OPENLINEAGE_*`` variables), closed at the end so asynchronous transports flush. The first event
that cannot be sent stops the rest of that invocation's events: the client's HTTP transport already
retried it, and retrying every remaining event against a backend that is down would hold the run up
for minutes. One warning says how many events were dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from floe_dbt_hooks.builtin.log import get_logger

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

    from floe_dbt_openlineage.settings import LineageSettings

CLOSE_TIMEOUT = 10.0
"""Seconds an asynchronous transport may take to flush at the end of an invocation."""


class Emitter:
    """Emits one invocation's events; after a failure it counts what it drops instead."""

    def __init__(self, settings: LineageSettings, invocation_id: str) -> None:
        from openlineage.client import OpenLineageClient

        self._invocation_id = invocation_id
        self._client: OpenLineageClient | None = OpenLineageClient(config=settings.client_config())
        self.sent = 0
        self.dropped = 0
        self._error: str | None = None

    def emit(self, event: RunEvent) -> bool:
        if self._client is None or self._error is not None:
            self.dropped += 1
            return False
        try:
            self._client.emit(event)
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        """Flush and close the transport, then report what could not be sent."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=CLOSE_TIMEOUT)
            except Exception as exc:
                self._error = self._error or f"{type(exc).__name__}: {exc}"
        if self._error is not None:
            warn("openlineage_emit_failed", invocation_id=self._invocation_id, error=self._error,
                 events_sent=self.sent, events_dropped=self.dropped,
                 hint="check the OpenLineage transport (openlineage.yml, OPENLINEAGE_URL); "
                 "the dbt run itself is not affected")


def warn(event: str, **context: Any) -> None:
    """A lineage problem is a warning in the framework's log, never an error of the run."""
    get_logger().warning(event, **context)
