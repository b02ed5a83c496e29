"""Turn Fusion's ``--log-format json`` lines into the same RuntimeEvents dbt-core's callbacks give.

Fusion prints one JSON object per line with dbt-core's envelope (``info.name``, ``info.code``,
``info.level``, ``info.msg``, ``data``). ``NodeStart`` (Q024) and ``NodeFinished`` (Q025) become
``node_start``/``node_finish``; everything else becomes a ``log`` event. Fusion reports errors and
warnings as ``Generic`` events whose text carries its own code and location, e.g.
``[error] [SerializationError (dbt1013)]: ... --> dbt_project.yml:24:21``; those are parsed into
:class:`Diagnostic` so errors keep Fusion's code, file and line.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from floe_dbt_hooks.artifacts import normalise_status
from floe_dbt_hooks.models import EventKind, NodeInfo, RuntimeEvent
from floe_dbt_hooks.secrets import redact

_DIAGNOSTIC = re.compile(
    r"^\[(?P<severity>error|warning)\]\s+\[(?P<name>\w+) \((?P<code>dbt\d+)\)\]:\s*(?P<text>.*?)"
    r"(?:\n\s*-->\s*(?P<file>[^\s:]+):(?P<line>\d+):(?P<column>\d+))?\s*$",
    re.DOTALL,
)
_RULE = re.compile(r"\[([A-Z]{2}\d{2})\]\.?\s*$")


@attrs.frozen
class Diagnostic:
    """An error or warning Fusion reported, with its own code and source position."""

    severity: str
    name: str
    code: str
    text: str
    file_path: str | None = None
    line: int | None = None
    column: int | None = None
    unique_id: str | None = None

    @property
    def rule(self) -> str | None:
        """The SQLFluff-style rule code lint findings end with (``[CV05]``)."""
        match = _RULE.search(self.text)
        return match.group(1) if match else None


def parse_diagnostic(message: str, unique_id: str | None = None) -> Diagnostic | None:
    match = _DIAGNOSTIC.match(message.strip())
    if match is None:
        return None
    return Diagnostic(
        severity=match.group("severity"),
        name=match.group("name"),
        code=match.group("code"),
        text=match.group("text").strip(),
        file_path=match.group("file"),
        line=int(match.group("line")) if match.group("line") else None,
        column=int(match.group("column")) if match.group("column") else None,
        unique_id=unique_id,
    )


def _timestamp(info: dict[str, Any]) -> datetime | None:
    value = info.get("ts")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class LineBridge:
    """Consumes Fusion's stdout lines for one invocation; remembers what the runtime needs."""

    def __init__(self, invocation_id: str, runtime: str,
                 emit: Callable[[RuntimeEvent], None]) -> None:
        self._invocation_id = invocation_id
        self._runtime = runtime
        self._emit = emit
        self._lock = threading.Lock()
        self.started: list[str] = []
        self.finished: dict[str, NodeInfo] = {}
        self.diagnostics: list[Diagnostic] = []
        self.other_lines: list[str] = []
        self.success: bool | None = None
        self.engine_invocation_id: str | None = None

    @property
    def nodes_started(self) -> int:
        return len(self.started)

    def __call__(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        try:
            payload = json.loads(text)
            info, data = payload["info"], payload.get("data") or {}
        except (ValueError, KeyError, TypeError):
            self.other_lines.append(redact(text))
            return
        self._handle(info, data)

    def _node(self, node_info: dict[str, Any], **extra: Any) -> NodeInfo:
        relation = node_info.get("node_relation") or {}
        return NodeInfo(
            unique_id=node_info.get("unique_id", ""),
            resource_type=node_info.get("resource_type", ""),
            name=node_info.get("node_name", ""),
            file_path=node_info.get("node_path") or None,
            relation_name=relation.get("relation_name") or None,
            **extra,
        )

    def _handle(self, info: dict[str, Any], data: dict[str, Any]) -> None:
        if self.engine_invocation_id is None and info.get("invocation_id"):
            self.engine_invocation_id = str(info["invocation_id"])
        name = str(info.get("name", ""))
        level = str(info.get("level", "info"))
        message = redact(str(info.get("msg", "")))
        kind: EventKind = "log"
        node: NodeInfo | None = None
        if name == "NodeStart":
            with self._lock:
                self.started.append(data.get("node_info", {}).get("unique_id", ""))
                index = len(self.started)
            kind, node = "node_start", self._node(data.get("node_info", {}), index=index)
        elif name == "NodeFinished":
            run_result = data.get("run_result") or {}
            status = normalise_status(run_result.get("status"))
            node = self._node(
                data.get("node_info", {}), status=status,
                execution_time=float(run_result.get("execution_time") or 0.0),
            )
            kind = "node_finish"
            with self._lock:
                self.finished[node.unique_id] = node
        elif name == "CommandCompleted":
            self.success = bool(data.get("success"))
        elif name == "Generic" and level in ("error", "warn"):
            unique_id = (data.get("node_info") or {}).get("unique_id")
            diagnostic = parse_diagnostic(message, unique_id)
            if diagnostic is not None:
                with self._lock:
                    self.diagnostics.append(diagnostic)
        self._emit(RuntimeEvent(
            invocation_id=self._invocation_id, runtime=self._runtime, kind=kind, name=name,
            level=level, code=str(info.get("code") or "") or None, message=message,
            timestamp=_timestamp(info), node=node,
        ))

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]
