"""The one parser of dbt's event envelope: every runtime's events become the same RuntimeEvents.

dbt-core (its callbacks' protobuf messages), the dbt CLI and Fusion (``--log-format json`` lines), and a
remote runtime's logs all describe work with one envelope: ``info`` (``name``, ``code``, ``level``,
``msg``, ``ts``, ``invocation_id``) and ``data`` (``node_info``, ``run_result``, ...). A runtime hands
the envelope to :class:`EventParser` (a JSON line with :meth:`EventParser.feed_line`, an already
decoded envelope with :meth:`EventParser.feed`); the parser emits ``node_start``/``node_finish``/``log``
events with redacted text and keeps what the runtime needs afterwards: the nodes started and
finished, the engine's error and warning messages, whether the command said it succeeded.

``NodeStart``/``NodeFinished`` are debug-level: an engine logging at info level (the dbt CLI's
default) sends only the result lines (``LogStartLine``, ``LogModelResult``, ``LogTestResult``...),
so those describe the nodes for a stream that never sent a ``NodeStart``.

Fields a runtime's events do not carry stay None: Fusion sends no node count up front
(``ConcurrencyLine``) and no rows affected per node, so its progress has no total until the end.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from floe_dbt_hooks.models import EventKind, NodeInfo, RuntimeEvent
from floe_dbt_hooks.runtime.results import normalise_status
from floe_dbt_hooks.secrets import redact

Emit = Callable[[RuntimeEvent], None]
_STACK_TRACES = frozenset({"MainStackTrace"})
"""Events carrying a Python stack trace: debug level whatever the engine says, as dbt's own CLI
shows them; the error itself arrives as its own event."""
_RESULT_LINES = frozenset({"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult",
                           "LogNodeResult"})


@attrs.frozen
class EngineMessage:
    """An error or warning the engine logged, with the node it was about when it said so."""

    level: str
    name: str
    code: str | None
    text: str
    unique_id: str | None = None


def parse_timestamp(value: Any) -> datetime | None:
    """dbt's ``ts``: an ISO 8601 string (JSON logs) or a datetime (converted callbacks)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


class EventParser:
    """Parses one invocation's event stream; safe to feed from several threads (dbt's workers)."""

    def __init__(self, invocation_id: str, runtime: str, emit: Emit) -> None:
        self._invocation_id = invocation_id
        self._runtime = runtime
        self._emit = emit
        self._lock = threading.Lock()
        self.total: int | None = None
        self.started: list[str] = []
        self.finished: dict[str, NodeInfo] = {}
        self.messages: list[EngineMessage] = []
        self.other_lines: list[str] = []
        self.success: bool | None = None
        self.engine_invocation_id: str | None = None
        self.finished_before_stop: frozenset[str] | None = None
        """The nodes that had finished when the engine was asked to stop (None: never asked)."""
        self._node_events = False

    @property
    def nodes_started(self) -> int:
        return len(self.started)

    def stop_requested(self) -> None:
        """Remember which nodes had finished when the engine was asked to stop: an engine that
        reports nodes while it shuts down may call unfinished work a success."""
        with self._lock:
            if self.finished_before_stop is None:
                self.finished_before_stop = frozenset(self.finished)

    def errors(self) -> list[str]:
        """The texts of the error-level messages, in order (redacted)."""
        return [m.text for m in self.messages if m.level == "error"]

    def warnings(self) -> list[str]:
        return [m.text for m in self.messages if m.level == "warn"]

    def feed_line(self, line: str) -> None:
        """One line of an engine's ``--log-format json`` output; other lines are kept, redacted."""
        text = line.strip()
        if not text:
            return
        try:
            payload = json.loads(text)
            info, data = payload["info"], payload.get("data") or {}
            if not isinstance(info, dict) or not isinstance(data, dict):
                raise TypeError(type(info).__name__)
        except (ValueError, KeyError, TypeError):
            with self._lock:
                self.other_lines.append(redact(text))
            return
        self.feed(info, data)

    def feed(self, info: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        """One decoded envelope; emits the RuntimeEvent it describes."""
        name = str(info.get("name") or "")
        level = "debug" if name in _STACK_TRACES else str(info.get("level") or "info")
        message = redact(str(info.get("msg") or ""))
        node_info = data.get("node_info") or {}
        kind: EventKind = "log"
        node: NodeInfo | None = None
        with self._lock:
            if self.engine_invocation_id is None and info.get("invocation_id"):
                self.engine_invocation_id = str(info["invocation_id"])
            self.total = _int(data.get("node_count" if name == "ConcurrencyLine" else "total")) \
                or self.total
            self._node_events = self._node_events or name == "NodeStart"
            if name == "NodeStart" or (name == "LogStartLine" and not self._node_events):
                self.started.append(str(node_info.get("unique_id") or ""))
                kind, node = "node_start", self._node(node_info, index=len(self.started))
            elif name == "NodeFinished":
                kind, node = "node_finish", self._finished(node_info, data.get("run_result") or {})
                node = self._with_logged_error(node)
                self.finished[node.unique_id] = node
            elif name in _RESULT_LINES and not self._node_events:
                # A result line's own ``status`` is dbt's message for successes ("OK", "CREATE
                # VIEW"); the node's status rides in its node_info.
                outcome = {**data, "status": node_info.get("node_status") or data.get("status")}
                kind, node = "node_finish", self._with_logged_error(
                    self._finished(node_info, outcome))
                self.finished[node.unique_id] = node
            elif name == "CommandCompleted":
                self.success = bool(data.get("success"))
            elif level in ("error", "warn") and message:
                self.messages.append(EngineMessage(
                    level=level, name=name, code=str(info.get("code") or "") or None, text=message,
                    unique_id=node_info.get("unique_id") or None,
                ))
        self._emit(RuntimeEvent(
            invocation_id=self._invocation_id, runtime=self._runtime, kind=kind, name=name,
            level=level, code=str(info.get("code") or "") or None,
            message=node.message if node is not None and node.message else message,
            timestamp=parse_timestamp(info.get("ts")), node=node,
        ))

    def _with_logged_error(self, node: NodeInfo) -> NodeInfo:
        """A failed node whose result has no message gets the error the engine logged about it
        (Fusion logs the database error on a line of its own, before the node's result), so that
        the node's event already says why, not only the run's final results."""
        if node.message or node.status not in ("error", "fail"):
            return node
        for message in reversed(self.messages):
            if message.level == "error" and message.unique_id == node.unique_id:
                return attrs.evolve(node, message=message.text)
        return node

    def _node(self, node_info: Mapping[str, Any], **extra: Any) -> NodeInfo:
        relation = node_info.get("node_relation") or {}
        return NodeInfo(
            unique_id=str(node_info.get("unique_id") or ""),
            resource_type=str(node_info.get("resource_type") or ""),
            name=str(node_info.get("node_name") or ""),
            file_path=node_info.get("node_path") or None,
            relation_name=relation.get("relation_name") or None,
            total=self.total,
            **extra,
        )

    def _finished(self, node_info: Mapping[str, Any], run_result: Mapping[str, Any]) -> NodeInfo:
        response = run_result.get("adapter_response") or {}
        text = run_result.get("message")
        return self._node(
            node_info,
            status=normalise_status(run_result.get("status") or node_info.get("node_status")),
            execution_time=_float(run_result.get("execution_time")) or 0.0,
            rows_affected=_int(response.get("rows_affected")) if isinstance(response, Mapping)
            else None,
            message=redact(str(text)) if text else None,
        )
