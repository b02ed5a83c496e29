"""Which nodes an invocation executed, with their times and SQL, from any runtime's result.

Both runtimes report nodes the same way (``result.nodes``, from run_results), but put the compiled
SQL in different artifacts: dbt-core writes it into run_results.json (its manifest may come from an
earlier parse and hold none), dbt Fusion into manifest.json. Fusion's ``compile`` reports no nodes at
all; then the compiled nodes are the manifest's nodes marked ``compiled``. Everything here is plain
data, so the event builder never needs to know which runtime ran.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import attrs

from floe_dbt_hooks.models import InvocationResult, NodeResult, NodeStatus

LINEAGE_RESOURCE_TYPES = ("model", "seed", "snapshot", "test", "unit_test")
"""Node kinds that become OpenLineage runs; hooks and operations do not."""


@attrs.frozen(kw_only=True)
class ExecutedNode:
    """One node's run: what it is, how it ended, when, and the SQL it ran."""

    unique_id: str
    resource_type: str
    status: NodeStatus
    started_at: datetime
    completed_at: datetime
    rows_affected: int | None = None
    failures: int | None = None
    message: str | None = None
    compiled_code: str | None = None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _times(node: NodeResult, fallback: datetime) -> tuple[datetime, datetime]:
    """The execute phase's start and end (compile's when a node never executed)."""
    phases = {t.name: t for t in node.timing}
    phase = phases.get("execute") or phases.get("compile")
    start = _utc(phase.started_at if phase else None) or fallback
    end = _utc(phase.completed_at if phase else None) or start
    return start, max(start, end)


def executed_nodes(
    result: InvocationResult, manifest: dict[str, Any] | None, run_results: dict[str, Any] | None,
    *, fallback_time: datetime,
) -> list[ExecutedNode]:
    """The nodes to report, in the order the runtime finished them; skipped nodes never ran."""
    compiled_sql: dict[str, str] = {
        str(item.get("unique_id")): str(item["compiled_code"])
        for item in (run_results or {}).get("results", [])
        if item.get("compiled_code")
    }
    manifest_nodes: dict[str, Any] = (manifest or {}).get("nodes", {})

    def sql_of(unique_id: str) -> str | None:
        code = compiled_sql.get(unique_id) or manifest_nodes.get(unique_id, {}).get("compiled_code")
        return str(code) if code else None

    out: list[ExecutedNode] = []
    for node in result.nodes:
        if node.status == "skipped" or node.resource_type not in LINEAGE_RESOURCE_TYPES:
            continue
        if result.command == "compile" and node.resource_type == "seed":
            continue  # nothing to compile in a seed
        start, end = _times(node, fallback_time)
        out.append(ExecutedNode(
            unique_id=node.unique_id, resource_type=node.resource_type, status=node.status,
            started_at=start, completed_at=end, rows_affected=node.rows_affected,
            failures=node.failures, message=node.error_message or node.message,
            compiled_code=sql_of(node.unique_id),
        ))
    if result.command == "compile" and not result.nodes:
        for unique_id, data in sorted(manifest_nodes.items()):
            if data.get("compiled") and data.get("resource_type") in LINEAGE_RESOURCE_TYPES:
                out.append(ExecutedNode(
                    unique_id=unique_id, resource_type=str(data["resource_type"]), status="success",
                    started_at=fallback_time, completed_at=fallback_time,
                    compiled_code=sql_of(unique_id),
                ))
    return out
