"""The one result builder: dbt's run results and node facts -> the framework's results, redacted.

Every runtime describes finished nodes the way run_results.json does (``unique_id``, ``status``,
``message``, ``execution_time``, ``adapter_response``, ``failures``, ``timing``, ``relation_name``)
and knows nodes the way manifest.json does (``resource_type``, ``name``, ``original_file_path``,
``relation_name``). dbt-core hands its in-memory results over in that form, Fusion and the dbt CLI
their files, a remote runtime the files it downloaded. From there the builder is the same for all:
statuses folded into one vocabulary, messages redacted, the failing line taken from the message,
and artifact paths set only for files that exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from floe_dbt_hooks.models import (
    InvocationRequest,
    InvocationResult,
    NodeInfo,
    NodeResult,
    NodeStatus,
    NodeTiming,
)
from floe_dbt_hooks.secrets import redact

if TYPE_CHECKING:
    from floe_dbt_hooks.project import DBTProject, ProfileTarget

_Result = TypeVar("_Result", bound=InvocationResult)

_STATUS: dict[str, NodeStatus] = {
    "success": "success",
    "pass": "success",
    "error": "error",
    "runtime error": "error",
    "fail": "fail",
    "warn": "warn",
    "skipped": "skipped",
    "skip": "skipped",
    "no-op": "success",
    "reused": "success",
}
_DBT_LINE = re.compile(r"\bline (\d+)\b")
_ENGINE_LOCATION = re.compile(r"-->\s*[^\s:]+:(\d+):\d+")


def normalise_status(raw: str | None) -> NodeStatus:
    """Fold dbt's and Fusion's node statuses into the framework's vocabulary."""
    return _STATUS.get((raw or "").strip().lower(), "error")


def resource_type_of(unique_id: str) -> str:
    return unique_id.split(".", 1)[0]


def line_of(message: str | None) -> int | None:
    """The source line an engine's error message points at (dbt: ``line 3``; Fusion: ``--> f:3:5``)."""
    match = _ENGINE_LOCATION.search(message or "") or _DBT_LINE.search(message or "")
    return int(match.group(1)) if match else None


def node_location(file_path: str | None, line: int | None, message: str | None) -> str:
    """``path:line: `` (or ``path: ``) to put before a failed node's message in a log line; the
    line from the message when the result carries none; empty without a file."""
    if not file_path:
        return ""
    line = line if line is not None else line_of(message)
    return f"{file_path}:{line}: " if line else f"{file_path}: "


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _rows_affected(response: Any) -> int | None:
    value = response.get("rows_affected") if isinstance(response, Mapping) else None
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def node_result(item: Mapping[str, Any], node: Mapping[str, Any]) -> NodeResult:
    """One run_results.json entry, with the manifest's facts about its node."""
    unique_id = str(item.get("unique_id") or "")
    status = normalise_status(item.get("status"))
    raw = item.get("message")
    message = redact(str(raw)) if raw else None
    failed = status in ("error", "fail")
    return NodeResult(
        unique_id=unique_id,
        resource_type=str(node.get("resource_type") or resource_type_of(unique_id)),
        name=str(node.get("name") or unique_id.rsplit(".", 1)[-1]),
        status=status,
        execution_time=float(item.get("execution_time") or 0.0),
        rows_affected=_rows_affected(item.get("adapter_response")),
        failures=item.get("failures"),
        message=message,
        error_message=message if failed else None,
        file_path=node.get("original_file_path"),
        line=line_of(message) if status == "error" else None,
        relation_name=item.get("relation_name") or node.get("relation_name"),
        timing=tuple(
            NodeTiming(name=str(t.get("name") or ""), started_at=_moment(t.get("started_at")),
                       completed_at=_moment(t.get("completed_at")))
            for t in item.get("timing") or ()
        ),
    )


def manifest_nodes(manifest: Mapping[str, Any] | None) -> dict[str, Any]:
    """unique_id -> node, for every executable node of a manifest.json payload."""
    if not manifest:
        return {}
    return {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}


def node_results(
    results: Iterable[Mapping[str, Any]], nodes: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[NodeResult, ...]:
    """NodeResults from run_results.json entries, in the engine's completion order."""
    known = nodes or {}
    return tuple(node_result(item, known.get(str(item.get("unique_id")), {})) for item in results)


def run_results_nodes(
    run_results: Mapping[str, Any], manifest: Mapping[str, Any] | None = None
) -> tuple[NodeResult, ...]:
    """NodeResults from a whole run_results.json payload (and its manifest, for file paths)."""
    return node_results(run_results.get("results") or (), manifest_nodes(manifest))


def event_nodes(
    finished: Iterable[NodeInfo], nodes: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[NodeResult, ...]:
    """NodeResults from node-finished events, for engines whose run_results stay empty (Fusion's
    ``compile``)."""
    known = nodes or {}
    return tuple(
        NodeResult(
            unique_id=info.unique_id, resource_type=info.resource_type, name=info.name,
            status=info.status or "success", execution_time=info.execution_time or 0.0,
            rows_affected=info.rows_affected, message=info.message,
            error_message=info.message if info.status in ("error", "fail") else None,
            file_path=known.get(info.unique_id, {}).get("original_file_path") or info.file_path,
            relation_name=info.relation_name,
        )
        for info in finished
    )


def invocation_result(
    result_cls: type[_Result],
    *,
    request: InvocationRequest,
    command: str,
    runtime: str,
    project: DBTProject,
    profile: ProfileTarget,
    target_path: Path,
    success: bool,
    elapsed_time: float,
    nodes: tuple[NodeResult, ...],
    metadata: Mapping[str, Any],
    interrupted: bool = False,
    nodes_total: int | None = None,
) -> _Result:
    """The result a runtime returns; artifact paths are set only for files that exist, the
    catalog only for ``docs`` (an older catalog.json in a shared target path is not this run's)."""
    manifest = target_path / "manifest.json"
    run_results = target_path / "run_results.json"
    catalog = target_path / "catalog.json"
    return result_cls(
        success=success,
        command=command,
        runtime=runtime,
        invocation_id=request.invocation_id,
        project_dir=project.project_dir,
        target=profile.target,
        target_path=target_path,
        manifest_path=manifest if manifest.is_file() else None,
        run_results_path=run_results if run_results.is_file() else None,
        catalog_path=catalog if command == "docs" and catalog.is_file() else None,
        elapsed_time=elapsed_time,
        nodes=nodes,
        interrupted=interrupted,
        nodes_total=nodes_total,
        metadata={
            "adapter_type": profile.adapter_type,
            "profile": profile.profile,
            "project_name": project.name,
            **metadata,
        },
    )


def write_interrupted_run_results(path: Path, nodes: tuple[NodeResult, ...], *,
                                  invocation_id: str, elapsed_time: float) -> None:
    """run_results.json for an interrupted invocation whose engine wrote none: the finished nodes
    in dbt's layout, written whole or not at all; ``metadata.floe_interrupted`` says so."""
    import json
    from datetime import datetime, timezone

    from floe_dbt_hooks.fsutil import atomic_write_text

    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    payload = {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                     "generated_at": now, "invocation_id": invocation_id,
                     "floe_interrupted": True},
        "results": [
            {"unique_id": n.unique_id, "status": n.status, "message": n.message,
             "execution_time": n.execution_time, "failures": n.failures,
             "adapter_response": {} if n.rows_affected is None
             else {"rows_affected": n.rows_affected},
             "timing": [], "thread_id": None, "relation_name": n.relation_name}
            for n in nodes
        ],
        "elapsed_time": elapsed_time,
        "args": {},
    }
    atomic_write_text(path, json.dumps(payload, indent=2))
