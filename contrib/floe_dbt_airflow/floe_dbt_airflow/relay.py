"""A floe plugin that hands each runtime event to the Airflow task that started the invocation.

Runtimes call ``dbt_event`` / ``dbt_fallback`` from whatever thread the engine reports on; the
relay looks the invocation id up and calls that task's listener, which writes the task-log line
and records the outcome. Listeners must be quick and never raise: the relay swallows nothing
itself, so a listener that fails would fail the hook call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ClassVar, Protocol

from floe_dbt_hooks import hookimpl
from floe_dbt_hooks.models import FallbackEvent, RuntimeEvent


class Listener(Protocol):
    def node_finished(self, event: RuntimeEvent) -> None: ...

    def node_started(self, event: RuntimeEvent) -> None: ...

    def declined(self, event: FallbackEvent) -> None: ...


class EventRelay:
    """One per process, registered on every facade this integration builds."""

    name = "floe_dbt_airflow_relay"
    _shared: ClassVar[EventRelay | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._listeners: dict[str, Listener] = {}
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> EventRelay:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def listen(self, invocation_id: str, listener: Listener) -> Callable[[], None]:
        """Route ``invocation_id``'s events to ``listener``; call the result to stop."""
        with self._lock:
            self._listeners[invocation_id] = listener

        def stop() -> None:
            with self._lock:
                self._listeners.pop(invocation_id, None)

        return stop

    def _get(self, invocation_id: str) -> Listener | None:
        with self._lock:
            return self._listeners.get(invocation_id)

    @hookimpl
    def dbt_event(self, event: RuntimeEvent) -> None:
        listener = self._get(event.invocation_id)
        if listener is None or event.node is None:
            return
        if event.kind == "node_finish":
            listener.node_finished(event)
        elif event.kind == "node_start":
            listener.node_started(event)

    @hookimpl
    def dbt_fallback(self, event: FallbackEvent) -> None:
        listener = self._get(event.request.invocation_id)
        if listener is not None:
            listener.declined(event)
