"""The invocations a runtime is serving right now, by invocation id: what its ``dbt_cancel`` looks
up to stop one (an engine process, a dbt-core run, a dbt Cloud run). Thread-safe, since cancels
come from signal handlers and orchestrator threads while invocations run on others."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RunningInvocations(Generic[T]):
    """``invocation id -> handle`` for the invocations in flight."""

    def __init__(self) -> None:
        self._handles: dict[str, T] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many invocations are in flight (a test's or a drain loop's question)."""
        with self._lock:
            return len(self._handles)

    def get(self, invocation_id: str) -> T | None:
        with self._lock:
            return self._handles.get(invocation_id)

    def set(self, invocation_id: str, handle: T | None) -> None:
        """Record ``handle`` for ``invocation_id``; None forgets it (the invocation ended)."""
        with self._lock:
            if handle is None:
                self._handles.pop(invocation_id, None)
            else:
                self._handles[invocation_id] = handle

    @contextlib.contextmanager
    def serving(self, invocation_id: str, handle: T) -> Iterator[T]:
        """Record ``handle`` for the block."""
        self.set(invocation_id, handle)
        try:
            yield handle
        finally:
            self.set(invocation_id, None)
