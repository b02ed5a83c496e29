"""Turn dbtRunner's callback messages into the framework's RuntimeEvents.

dbt fires protobuf ``EventMsg`` objects; ``NodeStart`` (Q024) and ``NodeFinished`` (Q025) become
``node_start``/``node_finish`` events with the node's identity, status, timing and rows affected;
every other message becomes a ``log`` event with dbt's name, code, level and redacted text. The
total node count comes from ``ConcurrencyLine`` (Q027), so progress displays know how far along a
run is.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from floe_dbt_hooks.artifacts import normalise_status
from floe_dbt_hooks.models import NodeInfo, RuntimeEvent
from floe_dbt_hooks.secrets import redact

Emit = Callable[[RuntimeEvent], None]


def _timestamp(msg: Any) -> datetime | None:
    try:
        ts = msg.info.ts
        return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9).astimezone()
    except (AttributeError, ValueError, OverflowError):
        return None


def _rows_affected(run_result: Any) -> int | None:
    try:
        value = run_result.adapter_response["rows_affected"]
    except (KeyError, ValueError, TypeError):
        return None
    return int(value) if value is not None else None


class CallbackBridge:
    """A dbtRunner callback bound to one invocation; dbt calls it from its worker threads."""

    def __init__(self, invocation_id: str, runtime: str, emit: Emit) -> None:
        self._invocation_id = invocation_id
        self._runtime = runtime
        self._emit = emit
        self._total: int | None = None
        self._started = itertools.count(1)
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def __call__(self, msg: Any) -> None:
        try:
            self._handle(msg)
        except Exception:
            return

    def _node(self, node_info: Any, **extra: Any) -> NodeInfo:
        return NodeInfo(
            unique_id=node_info.unique_id,
            resource_type=node_info.resource_type,
            name=node_info.node_name,
            file_path=node_info.node_path or None,
            relation_name=node_info.node_relation.relation_name or None,
            total=self._total,
            **extra,
        )

    def _handle(self, msg: Any) -> None:
        name = msg.info.name
        if name == "ConcurrencyLine":
            self._total = int(msg.data.node_count)
        if name == "NodeStart":
            with self._lock:
                index = next(self._started)
            event = RuntimeEvent(
                invocation_id=self._invocation_id, runtime=self._runtime, kind="node_start",
                name=name, code=msg.info.code, level=msg.info.level,
                timestamp=_timestamp(msg),
                node=self._node(msg.data.node_info, index=index),
            )
        elif name == "NodeFinished":
            run_result = msg.data.run_result
            status = normalise_status(run_result.status or msg.data.node_info.node_status)
            event = RuntimeEvent(
                invocation_id=self._invocation_id, runtime=self._runtime, kind="node_finish",
                name=name, code=msg.info.code, level=msg.info.level,
                message=redact(run_result.message or ""),
                timestamp=_timestamp(msg),
                node=self._node(
                    msg.data.node_info,
                    status=status,
                    execution_time=float(run_result.execution_time),
                    rows_affected=_rows_affected(run_result),
                    message=redact(run_result.message) if run_result.message else None,
                ),
            )
        else:
            text = redact(msg.info.msg or "")
            if msg.info.level == "error":
                self.errors.append(text)
            elif msg.info.level == "warn":
                self.warnings.append(text)
            event = RuntimeEvent(
                invocation_id=self._invocation_id, runtime=self._runtime, kind="log",
                name=name, code=msg.info.code, level=msg.info.level, message=text,
                timestamp=_timestamp(msg),
            )
        self._emit(event)
