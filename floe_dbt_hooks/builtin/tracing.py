"""OpenTelemetry spans for every hook call, through one mechanism: pluggy's hook-call monitoring.

Each hook call made through a plugin manager becomes a span named after the hook (``dbt_run``,
``dbt_compile``, ``dbt_lint``, ``dbt_fallback``...), a child of whatever span is current, carrying the
request's and the result's facts (runtime, command, project, target, adapter, selection, node counts
by status, fallback reasons, engine version); a FLOE-DBT error is recorded with its code. The
runtimes' node events (``dbt_event``, which itself gets no span: there is one per dbt event) become
one ``dbt.node`` child span per executed node, with its status, timing and rows affected, whichever
runtime served. Subprocess runtimes pass the ids from :func:`engine_trace_ids` down, so Fusion's own
spans join the same trace under the hook's span.

Costs nothing when no one traces: if ``opentelemetry.trace`` has not been imported by the host
application (which any configured SDK implies), no OpenTelemetry code is imported or run at all.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from floe_dbt_hooks.secrets import redact

if TYPE_CHECKING:
    from datetime import datetime

    import pluggy

TRACER_NAME = "floe_dbt_hooks"
UNTRACED_HOOKS = frozenset({"dbt_event"})
_LIFECYCLE = frozenset({"dbt_compile", "dbt_run", "dbt_lint"})


def _otel_loaded() -> bool:
    return "opentelemetry.trace" in sys.modules


def _ns(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1e9) if moment is not None else None


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """OpenTelemetry takes str/bool/int/float and sequences of them; drop Nones, redact text."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, str):
            out[key] = redact(value)
        elif isinstance(value, (bool, int, float)):
            out[key] = value
        elif isinstance(value, (list, tuple)):
            out[key] = [redact(str(v)) for v in value]
        else:
            out[key] = redact(str(value))
    return out


def _request_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    request = kwargs.get("request")
    event = kwargs.get("event")
    attributes: dict[str, Any] = {}
    if request is not None:
        attributes.update({
            "floe.dbt.invocation_id": getattr(request, "invocation_id", None),
            "floe.dbt.command": getattr(request, "command", None),
            "floe.dbt.project_dir": str(getattr(request, "project_dir", "")),
            "floe.dbt.requested_runtime": getattr(request, "runtime", None),
            "floe.dbt.select": list(getattr(request, "select", ())),
            "floe.dbt.exclude": list(getattr(request, "exclude", ())),
        })
    if event is not None and hasattr(event, "reason_code"):
        attributes.update({
            "floe.dbt.declining_runtime": event.runtime,
            "floe.dbt.fallback.reason_code": event.reason_code,
            "floe.dbt.fallback.error_code": event.error_code,
        })
    return attributes


def _result_attributes(result: Any) -> dict[str, Any]:
    metadata = getattr(result, "metadata", None) or {}
    attributes: dict[str, Any] = {
        "floe.dbt.runtime": getattr(result, "runtime", None),
        "floe.dbt.command": getattr(result, "command", None),
        "floe.dbt.success": getattr(result, "success", getattr(result, "passed", None)),
        "floe.dbt.target": getattr(result, "target", None),
        "floe.dbt.project": metadata.get("project_name"),
        "floe.dbt.adapter_type": metadata.get("adapter_type"),
        "floe.dbt.engine_version": metadata.get("dbt_version") or metadata.get("fusion_version"),
    }
    declined = getattr(result, "declined", ())
    if declined:
        attributes["floe.dbt.fallback.reason_code"] = [d.reason_code for d in declined]
        attributes["floe.dbt.fallback.declined_runtimes"] = [d.runtime for d in declined]
    for status, count in (getattr(result, "node_counts", None) or {}).items():
        attributes[f"floe.dbt.nodes.{status}"] = count
    violations = getattr(result, "violations", None)
    if violations is not None:
        attributes["floe.dbt.lint.violations"] = len(violations)
    return attributes


class _Invocation:
    """The span of one lifecycle hook call and the node spans opened under it."""

    def __init__(self, span: Any) -> None:
        self.span = span
        self.nodes: dict[str, Any] = {}
        self.finished: dict[str, Any] = {}


class HookTracer:
    """The monitoring pair installed on a plugin manager; see the module docstring."""

    def __init__(self) -> None:
        self._tokens: threading.local = threading.local()
        self._invocations: dict[str, _Invocation] = {}
        self._lock = threading.Lock()

    def install(self, pm: pluggy.PluginManager) -> None:
        pm.add_hookcall_monitoring(self.before, self.after)

    def _stack(self) -> list[Any]:
        stack = getattr(self._tokens, "stack", None)
        if stack is None:
            stack = self._tokens.stack = []
        return stack

    def before(self, hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Open the hook's span (pushing None when nothing is traced, so ``after`` always pops)."""
        traced = _otel_loaded() and hook_name not in UNTRACED_HOOKS
        if hook_name in UNTRACED_HOOKS and _otel_loaded():
            self._node_event(kwargs["event"])
        if not traced:
            self._stack().append(None)
            return
        from opentelemetry import context, trace

        span = trace.get_tracer(TRACER_NAME).start_span(
            hook_name, attributes=_clean(_request_attributes(kwargs))
        )
        token = context.attach(trace.set_span_in_context(span))
        self._stack().append((span, token))
        request = kwargs.get("request")
        if hook_name in _LIFECYCLE and request is not None:
            with self._lock:
                self._invocations[request.invocation_id] = _Invocation(span)
        event = kwargs.get("event")
        if hook_name == "dbt_fallback" and event is not None:
            with self._lock:
                parent = self._invocations.get(event.request.invocation_id)
            if parent is not None:
                parent.span.add_event("fallback", _clean({
                    "runtime": event.runtime, "reason_code": event.reason_code,
                    "error_code": event.error_code, "message": event.message,
                }))

    def after(self, outcome: Any, hook_name: str, hook_impls: Sequence[Any],
              kwargs: Mapping[str, Any]) -> None:
        stack = self._stack()
        entry = stack.pop() if stack else None
        if entry is None:
            return
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        span, token = entry
        request = kwargs.get("request")
        invocation = None
        if hook_name in _LIFECYCLE and request is not None:
            with self._lock:
                invocation = self._invocations.pop(request.invocation_id, None)
        exception = outcome.exception
        result = None if exception is not None else outcome.get_result()
        if invocation is not None:
            self._end_nodes(invocation, result)
        if exception is not None:
            code = getattr(exception, "code", None)
            span.set_attributes(_clean({"floe.dbt.error_code": code}))
            span.add_event("exception", _clean({
                "exception.type": type(exception).__name__,
                "exception.message": str(exception),
            }))
            span.set_status(Status(StatusCode.ERROR, redact(f"{code or ''} {exception}".strip())))
        elif hook_name in _LIFECYCLE and result is not None:
            span.set_attributes(_clean(_result_attributes(result)))
            failed = getattr(result, "success", True) is False
            if failed:
                span.set_status(Status(StatusCode.ERROR, "one or more nodes failed"))
        span.end()
        context.detach(token)

    def _node_event(self, event: Any) -> None:
        node = event.node
        if node is None or event.kind not in ("node_start", "node_finish"):
            return
        with self._lock:
            invocation = self._invocations.get(event.invocation_id)
        if invocation is None:
            return
        if event.kind == "node_start":
            from opentelemetry import trace

            span = trace.get_tracer(TRACER_NAME).start_span(
                "dbt.node",
                context=trace.set_span_in_context(invocation.span),
                start_time=_ns(event.timestamp),
                attributes=_clean({
                    "floe.dbt.node.unique_id": node.unique_id,
                    "floe.dbt.node.resource_type": node.resource_type,
                    "floe.dbt.node.name": node.name,
                    "floe.dbt.node.file_path": node.file_path,
                    "floe.dbt.runtime": event.runtime,
                }),
            )
            with self._lock:
                invocation.nodes[node.unique_id] = span
        else:
            with self._lock:
                invocation.finished[node.unique_id] = event

    def _end_nodes(self, invocation: _Invocation, result: Any) -> None:
        """Close node spans once the result is known: it has what events may lack (Fusion's
        rows affected); the end time is the node's own finish time."""
        from opentelemetry.trace import Status, StatusCode

        by_id = {n.unique_id: n for n in getattr(result, "nodes", ())}
        for unique_id, span in invocation.nodes.items():
            finish = invocation.finished.get(unique_id)
            node = by_id.get(unique_id)
            status = (node.status if node else None) or (
                finish.node.status if finish is not None and finish.node else None
            )
            span.set_attributes(_clean({
                "floe.dbt.node.status": status or "unknown",
                "floe.dbt.node.execution_time": node.execution_time if node else (
                    finish.node.execution_time if finish is not None and finish.node else None),
                "floe.dbt.node.rows_affected": node.rows_affected if node else (
                    finish.node.rows_affected if finish is not None and finish.node else None),
                "floe.dbt.node.message": node.message if node else None,
            }))
            if status in ("error", "fail"):
                span.set_status(Status(StatusCode.ERROR, redact(node.message or status)
                                       if node else status))
            span.end(end_time=_ns(finish.timestamp) if finish is not None else None)


def engine_trace_ids(invocation_id: str) -> tuple[str, str | None]:
    """(invocation id, parent span id) to hand a subprocess engine so its spans join our trace.

    Fusion uses its invocation id as the trace id, so while a span is recording the invocation id
    given to it is the trace id in UUID form and the parent is the current span; otherwise it is the
    request's own invocation id and no parent.
    """
    if not _otel_loaded():
        return invocation_id, None
    import uuid

    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return invocation_id, None
    return str(uuid.UUID(int=span_context.trace_id)), format(span_context.span_id, "016x")


def current_ids() -> dict[str, str]:
    """trace_id and span_id of the current span, for log events; empty when none is recording."""
    if not _otel_loaded():
        return {}
    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
    }
