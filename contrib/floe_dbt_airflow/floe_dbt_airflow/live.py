"""Live per-node outcomes of a ``single_invocation`` build, as XComs pushed while dbt runs.

The invocation task publishes each node's outcome under :func:`node_key` the moment the
runtime's ``node_finish`` event arrives; the report tasks (sensors) pull those keys and finish
as soon as their node is known, instead of waiting for the whole build to end.

Events arrive on the engine's thread. Pushing an XCom is a round trip to Airflow's execution
API, so :class:`NodePublisher` queues each outcome and one thread of its own pushes them: the
engine never waits on Airflow, and pushes never run two at a time (the in-process supervisor
that ``dag.test()`` uses is not thread-safe).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from floe_dbt_hooks.models import FallbackEvent, NodeInfo, RuntimeEvent

KEY_PREFIX = "floe_node."
"""XCom keys of live outcomes: the prefix and the node's unique id."""


def node_key(unique_id: str) -> str:
    return f"{KEY_PREFIX}{unique_id}"


def event_summary(node: NodeInfo) -> dict[str, Any]:
    """One finished node as JSON, with the keys of :func:`floe_dbt_airflow.invocation.node_summary`
    that an event carries (a node's failure count and line only come with the final result)."""
    data: dict[str, Any] = {
        "unique_id": node.unique_id, "resource_type": node.resource_type, "name": node.name,
        "status": node.status or "success",
        "execution_time": round(node.execution_time or 0.0, 6),
    }
    for field in ("rows_affected", "relation_name", "file_path", "message"):
        value = getattr(node, field)
        if value is not None:
            data[field] = value
    return data


Push = Callable[[str, Any], None]


class NodePublisher:
    """A relay listener that pushes one XCom per finished node from a thread of its own.

    Each value is ``{"invocation": {...}, "node": {...}}``: the invocation part (command, runtime,
    invocation id, the fallback when a runtime declined) is what a report task's result needs
    besides its node. A push that fails is logged and counted, never raised into the engine.
    """

    def __init__(self, push: Push, *, command: str, log: logging.Logger | Any) -> None:
        self._push = push
        self._log = log
        self._header: dict[str, Any] = {"command": command}
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="floe-live-xcom", daemon=True)
        self.published = 0
        self.failed = 0

    def start(self) -> NodePublisher:
        self._thread.start()
        return self

    def node_started(self, event: RuntimeEvent) -> None:
        self._header.setdefault("invocation_id", event.invocation_id)

    def node_finished(self, event: RuntimeEvent) -> None:
        node = event.node
        if node is None:
            return
        self._header.update(runtime=event.runtime, invocation_id=event.invocation_id)
        value = {"invocation": dict(self._header), "node": event_summary(node)}
        self._queue.put((node_key(node.unique_id), value))

    def declined(self, event: FallbackEvent) -> None:
        if "fallback_from" not in self._header:
            self._header.update(fallback_from=event.runtime,
                                fallback_reason_code=event.reason_code,
                                fallback_reason=event.message)

    def close(self, timeout: float = 60.0) -> None:
        """Push what is queued, then stop the thread (waits at most ``timeout`` seconds)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            key, value = item
            try:
                self._push(key, value)
                self.published += 1
            except Exception as error:  # a lost live report: the final XCom still has the node
                self.failed += 1
                self._log.warning("could not publish %s live: %s", key, error)
