"""One dbt invocation inside an Airflow task: run it, log it node by node, summarise it.

The request goes through ``pm.hook.dbt_run`` (or ``dbt_compile``) of the project's facade, so the
configured runtime serves it with fallback, plugins and the project's ``floe_hooks.py``. Each node
that finishes is a task-log line as it happens (from the relay); a runtime that declines is a
warning line. The summary is plain JSON for XCom: the invocation's runtime, what declined and why,
and one entry per node (status, timing, rows, file, dbt's message).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs

from floe_dbt_airflow.project import DbtProject
from floe_dbt_airflow.relay import EventRelay, Listener
from floe_dbt_hooks.models import (
    CompileRequest,
    FallbackEvent,
    InvocationResult,
    NodeResult,
    ParentRun,
    RunRequest,
    RuntimeEvent,
)

FAILED = ("error", "fail")
"""Node statuses that fail a task (``warn`` does not: that is what severity warn means)."""


@attrs.define
class _TaskLog:
    """The relay's listener for one invocation: a task-log line per node and per decline, then
    the same event to ``also`` (the live publisher of a ``single_invocation`` task)."""

    log: logging.Logger | Any
    also: Listener | None = None

    def node_started(self, event: RuntimeEvent) -> None:
        node = event.node
        assert node is not None
        self.log.info("dbt %s %s started (%s)", node.resource_type, node.unique_id, event.runtime)
        if self.also is not None:
            self.also.node_started(event)

    def node_finished(self, event: RuntimeEvent) -> None:
        node = event.node
        assert node is not None
        timing = f" in {node.execution_time:.2f}s" if node.execution_time is not None else ""
        rows = f", {node.rows_affected} rows" if node.rows_affected is not None else ""
        line = f"dbt {node.resource_type} {node.unique_id}: {node.status}{timing}{rows}"
        if node.status in FAILED:
            self.log.error("%s: %s", line, node.message or "")
        elif node.status in ("warn", "skipped"):
            self.log.warning("%s%s", line, f": {node.message}" if node.message else "")
        else:
            self.log.info(line)
        if self.also is not None:
            self.also.node_finished(event)

    def declined(self, event: FallbackEvent) -> None:
        self.log.warning("runtime %s declined (%s): %s; the next runtime serves",
                         event.runtime, event.reason_code, event.message)
        if self.also is not None:
            self.also.declined(event)


def run_invocation(
    project: DbtProject,
    command: str,
    *,
    log: logging.Logger | Any,
    select: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    selector: str | None = None,
    full_refresh: bool = False,
    on_start: Any = None,
    parent_run: ParentRun | None = None,
    also: Listener | None = None,
) -> InvocationResult:
    """Run ``command`` on the selection through the facade; returns the runtime's result.
    ``also`` hears every node and decline of this invocation after the task log."""
    facade = project.facade()
    pm = facade.plugin_manager(project.project_dir)
    options = project.request_options()
    if command == "compile":
        request: RunRequest | CompileRequest = CompileRequest(
            project_dir=project.project_dir, select=select, exclude=exclude, selector=selector,
            parent_run=parent_run, **options)
    else:
        request = RunRequest(project_dir=project.project_dir, command=command,  # type: ignore[arg-type]
                             select=select, exclude=exclude, selector=selector,
                             full_refresh=full_refresh, parent_run=parent_run, **options)
    if on_start is not None:
        on_start(request.invocation_id, pm)
    listener = _TaskLog(log=log, also=also)
    stop = EventRelay.shared().listen(request.invocation_id, listener)
    words = " ".join(request.select) or "(all)"
    log.info("dbt %s --select %s%s (%s) on runtime %s", command, words,
             f" --exclude {' '.join(request.exclude)}" if request.exclude else "",
             request.invocation_id, pm.config.runtime_for(request.runtime))
    try:
        result: InvocationResult
        if isinstance(request, CompileRequest):
            result = pm.hook.dbt_compile(request=request)
        else:
            result = pm.hook.dbt_run(request=request)
    finally:
        stop()
    return result


def fallback_fields(result: InvocationResult) -> dict[str, Any]:
    if not result.declined:
        return {}
    first = result.declined[0]
    return {"fallback_from": first.runtime, "fallback_reason_code": first.reason_code,
            "fallback_reason": first.message}


def node_summary(node: NodeResult) -> dict[str, Any]:
    """One node's outcome as JSON for XCom."""
    data: dict[str, Any] = {
        "unique_id": node.unique_id, "resource_type": node.resource_type, "name": node.name,
        "status": node.status, "execution_time": round(node.execution_time, 6),
    }
    for field in ("rows_affected", "failures", "relation_name", "file_path", "line"):
        value = getattr(node, field)
        if value is not None:
            data[field] = value
    message = node.error_message or node.message
    if message:
        data["message"] = message
    return data


def summary(result: InvocationResult, plan_files: Mapping[str, str | None] | None = None
            ) -> dict[str, Any]:
    """The invocation as JSON for XCom: runtime, fallback, timing and every node."""
    nodes = {}
    for node in result.nodes:
        item = node_summary(node)
        if "file_path" not in item and plan_files and plan_files.get(node.unique_id):
            item["file_path"] = plan_files[node.unique_id]
        nodes[node.unique_id] = item
    return {
        "command": result.command, "success": result.success, "runtime": result.runtime,
        "invocation_id": result.invocation_id, "elapsed_time": round(result.elapsed_time, 3),
        "interrupted": result.interrupted, **fallback_fields(result),
        "run_results": str(result.run_results_path) if result.run_results_path else None,
        "nodes": nodes,
    }


def where(node: Mapping[str, Any]) -> str:
    """``models/x.sql:3: `` or ``models/x.sql: `` or nothing, for error lines."""
    file_path = node.get("file_path")
    if not file_path:
        return ""
    line = node.get("line")
    return f"{file_path}:{line}: " if line else f"{file_path}: "
