"""Prefect tasks that run dbt through the hook framework, and what they report.

:func:`dbt_unit_task` makes the task for one :class:`~floe_dbt_prefect.plan.PlanUnit`: a
``MaterializingTask`` over the unit's models, seeds and snapshots (the asset keys prefect-dbt uses,
``asset_deps`` the relations they read, ``materialized_by="dbt"``), so Prefect emits
``prefect.asset.materialization.*`` and ``prefect.asset.referenced`` events when it ends, with
each node's status, runtime, timing, rows and fallback as the materialization's metadata; a unit
of tests only is a plain task. :func:`dbt_task` makes one task that runs a whole command and emits
the same asset events itself as each node finishes.

In both, each finished node is a line in the task's log (dbt's file, line and message for a
failure), a runtime that declined is a warning in the log and a ``dbt-fallback`` markdown artifact,
and a failed model, seed, snapshot or ``severity: error`` test fails the task with dbt's file and
message (``warn`` tests log a warning). The task returns a JSON-ready summary of its nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prefect import Task, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.assets import Asset, AssetProperties, add_asset_metadata
from prefect.events import emit_event
from prefect.tasks import MaterializingTask

from floe_dbt_hooks.models import (
    DBTRunResult,
    Declined,
    FallbackEvent,
    NodeResult,
    RunCommand,
    RuntimeEvent,
    from_dict,
    to_dict,
)
from floe_dbt_hooks.runtime.results import node_location
from floe_dbt_prefect.plan import AssetSpec, PlanUnit
from floe_dbt_prefect.project import DbtProject, invoke

FAILED = ("error", "fail")
FALLBACK_ARTIFACT = "dbt-fallback"


class DbtNodeFailure(RuntimeError):
    """dbt nodes failed in a task; the message names each one's file, line and dbt's message,
    ``summary`` is what the task would have returned (plain data: it crosses process
    boundaries with any task runner)."""

    def __init__(self, message: str, summary: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.summary = dict(summary or {})

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.summary))


def prefect_asset(spec: AssetSpec) -> Any:
    return Asset(key=spec.key, properties=AssetProperties(
        name=spec.name, description=(spec.description or None) and spec.description[:2500],
        owners=list(spec.owners) or None))


def dbt_unit_task(unit: PlanUnit, **task_options: Any) -> Task[..., dict[str, Any]]:
    """The Prefect task that runs ``unit``; ``task_options`` go to ``Task`` (``retries``,
    ``retry_delay_seconds``, ``tags``, ``timeout_seconds``...).

    A per-node unit is a ``MaterializingTask`` of its asset (Prefect emits the events when the
    task ends); a unit of several nodes (a wave, a single invocation) is a plain task that emits
    each node's events as the node finishes, so one failed node does not mark its neighbours'
    materializations failed."""
    options: dict[str, Any] = {"name": f"dbt {unit.name}",
                               "task_run_name": _run_name(unit), **task_options}
    if unit.kind != "node" or len(unit.assets) != 1:
        return Task(fn=run_unit, **options)
    spec = unit.assets[0]
    return MaterializingTask(fn=run_unit, assets=[prefect_asset(spec)], materialized_by="dbt",
                             asset_deps=list(spec.upstream) or None, **options)


def _run_name(unit: PlanUnit) -> str:
    if unit.kind == "node" and len(unit.assets) == 1:
        return f"Materialize {unit.name}"
    return f"Execute {unit.name}"


def run_unit(project: Mapping[str, Any], unit: Mapping[str, Any],
             command: RunCommand = "build", full_refresh: bool = False) -> dict[str, Any]:
    """The body of a unit's task (module level, so process-pool runners can pickle it)."""
    dbt = DbtProject.from_json(project)
    plan_unit = from_dict(dict(unit), PlanUnit)
    materializing = plan_unit.kind == "node" and len(plan_unit.assets) == 1
    request = dbt.request(command, plan_unit.select, plan_unit.exclude, full_refresh=full_refresh)
    reporter = _Reporter(request.invocation_id, emit_for=None if materializing else
                         {spec.unique_id: spec for spec in plan_unit.assets})
    reporter.logger.info(f"dbt {command} --select {' '.join(plan_unit.select)}"
                         + (f" --exclude {' '.join(plan_unit.exclude)}" if plan_unit.exclude
                            else "") + f" (invocation {request.invocation_id})")
    result = invoke(dbt, request, on_node=reporter.node, on_fallback=reporter.fallback)
    try:
        reporter.finish(result, plan_unit.key)
    finally:
        if materializing:
            spec = plan_unit.assets[0]
            node = reporter.nodes.get(spec.unique_id)
            if node is not None:
                add_asset_metadata(spec.key, reporter.metadata(node))
    return reporter.summary(result, plan_unit.key)


def dbt_task(project: DbtProject, command: RunCommand = "build", *,
             select: str | Iterable[str] | None = None,
             exclude: str | Iterable[str] | None = None, full_refresh: bool = False,
             assets: bool = True, **task_options: Any) -> Task[..., dict[str, Any]]:
    """One task that runs ``command`` on the selection in one dbt invocation (dbt orders and
    parallelises the nodes), reporting every node as it finishes and, with ``assets``, emitting a
    Prefect asset event per model, seed and snapshot. Call the returned task in a flow."""
    words = tuple(select.split() if isinstance(select, str) else select or ())
    not_words = tuple(exclude.split() if isinstance(exclude, str) else exclude or ())
    options: dict[str, Any] = {"name": f"dbt {command}", **task_options}

    def body() -> dict[str, Any]:
        return run_command(project.to_json(), command, words, not_words, full_refresh, assets)

    return Task(fn=body, **options)


def run_command(project: Mapping[str, Any], command: RunCommand, select: Iterable[str],
                exclude: Iterable[str], full_refresh: bool = False,
                assets: bool = True) -> dict[str, Any]:
    """The body of :func:`dbt_task`: one invocation, asset events as nodes finish."""
    dbt = DbtProject.from_json(project)
    specs: dict[str, AssetSpec] = {}
    if assets:
        from floe_dbt_hooks.orchestration.graph import DBTGraph
        from floe_dbt_prefect.plan import asset_spec

        graph = DBTGraph(dbt.load_manifest().manifest, dbt.project_dir)
        specs = {uid: spec for uid in graph.asset_ids()
                 if (spec := asset_spec(graph, uid)) is not None}
    request = dbt.request(command, select, exclude, full_refresh=full_refresh)
    reporter = _Reporter(request.invocation_id, emit_for=specs)
    reporter.logger.info(f"dbt {command} (invocation {request.invocation_id})")
    result = invoke(dbt, request, on_node=reporter.node, on_fallback=reporter.fallback)
    reporter.finish(result, "all")
    return reporter.summary(result, "all")


class _Reporter:
    """Turns one invocation's node events and fallbacks into log lines, artifacts and events."""

    def __init__(self, invocation_id: str, emit_for: Mapping[str, AssetSpec] | None = None
                 ) -> None:
        self.invocation_id = invocation_id
        self.logger = get_run_logger()
        self.nodes: dict[str, NodeResult] = {}
        self.runtimes: dict[str, str] = {}
        self._terse: set[str] = set()
        self.declined: list[Declined] = []
        self._emit_for = emit_for or {}
        self._emitted: set[str] = set()

    def fallback(self, event: FallbackEvent) -> None:
        self.declined.append(event.as_declined())
        self.logger.warning(f"runtime {event.runtime} declined ({event.reason_code}): "
                            f"{event.message}; the next runtime serves")

    def node(self, event: RuntimeEvent) -> None:
        node = event.node
        assert node is not None
        result = NodeResult(unique_id=node.unique_id, resource_type=node.resource_type,
                            name=node.name, status=node.status or "error",
                            execution_time=node.execution_time or 0.0,
                            rows_affected=node.rows_affected, message=node.message,
                            file_path=node.file_path, relation_name=node.relation_name)
        self._record(result, event.runtime)

    def _record(self, node: NodeResult, runtime: str) -> None:
        self.nodes[node.unique_id] = node
        self.runtimes[node.unique_id] = runtime
        label = f"{node.resource_type} {node.name}"
        timing = f" in {node.execution_time:.2f}s" if node.execution_time else ""
        if node.status == "success":
            rows = f", {node.rows_affected} rows" if node.rows_affected is not None else ""
            self.logger.info(f"{label} OK{timing}{rows} (runtime {runtime})")
        elif node.status == "warn":
            self.logger.warning(f"{label} WARN{timing}: {node.message or ''}")
        elif node.status == "skipped":
            self.logger.warning(f"{label} skipped by dbt (an upstream node failed)")
        else:
            detail = node.error_message or node.message
            if detail:
                self.logger.error(f"{label} {node.status.upper()}{timing}: {_where(node)}{detail}")
            else:  # the event carried no message (Fusion's do not): the result will have it
                self._terse.add(node.unique_id)
        spec = self._emit_for.get(node.unique_id)
        if spec is not None and node.unique_id not in self._emitted and node.status != "skipped":
            self._emitted.add(node.unique_id)
            _emit_materialization(spec, node.status not in FAILED, self.metadata(node))

    def finish(self, result: DBTRunResult, unit: str) -> None:
        """Nodes the events did not carry come from the result; details (line numbers, rows
        from run_results.json) replace the events' where the result has them; fallback becomes
        an artifact; failures fail the task."""
        for node in result.nodes:
            if node.unique_id not in self.nodes:
                self._record(node, result.runtime)
            else:
                if node.unique_id in self._terse:
                    self.logger.error(
                        f"{node.resource_type} {node.name} {node.status.upper()} in "
                        f"{node.execution_time:.2f}s: {_where(node)}"
                        f"{node.error_message or node.message or 'no message from dbt'}")
                self.nodes[node.unique_id] = node
        if not self.declined and result.declined:
            for declined in result.declined:
                self.declined.append(declined)
                self.logger.warning(f"runtime {declined.runtime} declined "
                                    f"({declined.reason_code}): {declined.message}")
        if self.declined:
            create_markdown_artifact(markdown=fallback_markdown(self.declined, result.runtime),
                                     key=FALLBACK_ARTIFACT,
                                     description=f"dbt ran on {result.runtime} after a fallback")
        failed = [n for n in result.nodes if n.status in FAILED]
        if failed:
            lines = [f"- {n.unique_id}: {_where(n)}{n.error_message or n.message or n.status}"
                     for n in failed]
            skipped = [n.unique_id for n in result.nodes if n.status == "skipped"]
            text = (f"dbt {result.command} on runtime {result.runtime}: {len(failed)} node(s) "
                    "failed\n" + "\n".join(lines))
            if skipped:
                text += f"\nskipped downstream: {', '.join(skipped)}"
            raise DbtNodeFailure(text, self.summary(result, unit))
        if not result.success:
            raise DbtNodeFailure(f"dbt {result.command} on runtime {result.runtime} did not "
                                 f"succeed (interrupted: {result.interrupted}); see the log",
                                 self.summary(result, unit))

    def _fallback_metadata(self) -> dict[str, Any]:
        if not self.declined:
            return {}
        first = self.declined[0]
        return {"fallback_from": first.runtime, "fallback_reason_code": first.reason_code,
                "fallback_reason": first.message}

    def metadata(self, node: NodeResult) -> dict[str, Any]:
        data: dict[str, Any] = {"status": node.status, "runtime": self.runtimes.get(
                                    node.unique_id, ""), "unique_id": node.unique_id,
                                "invocation_id": self.invocation_id,
                                "execution_time": round(node.execution_time, 6),
                                **self._fallback_metadata()}
        if node.rows_affected is not None:
            data["rows_affected"] = node.rows_affected
        return data

    def summary(self, result: DBTRunResult, unit: str) -> dict[str, Any]:
        return {"unit": unit, "success": result.success, "runtime": result.runtime,
                "invocation_id": result.invocation_id, "command": result.command,
                "run_results_path": str(result.run_results_path or ""),
                "elapsed_time": result.elapsed_time,
                "declined": [to_dict(d) for d in self.declined],
                "nodes": [{"unique_id": n.unique_id, "resource_type": n.resource_type,
                           "status": n.status, "execution_time": n.execution_time,
                           "rows_affected": n.rows_affected,
                           "message": n.error_message or n.message} for n in result.nodes]}


def _emit_materialization(spec: AssetSpec, succeeded: bool, payload: dict[str, Any]) -> None:
    """The events a MaterializingTask emits when it ends, for one node of a single invocation."""
    resource = {"prefect.resource.id": spec.key, "prefect.resource.name": spec.name}
    if spec.description:
        resource["prefect.asset.description"] = spec.description[:2500]
    related = [{"prefect.resource.id": key, "prefect.resource.role": "asset"}
               for key in spec.upstream]
    related.append({"prefect.resource.id": "dbt", "prefect.resource.role": "asset-materialized-by"})
    for key in spec.upstream:
        emit_event(event="prefect.asset.referenced", resource={"prefect.resource.id": key},
                   related=[])
    emit_event(event=f"prefect.asset.materialization.{'succeeded' if succeeded else 'failed'}",
               resource=resource, related=related, payload=payload)


def fallback_markdown(declined: Iterable[Declined], served_by: str | None) -> str:
    rows = "\n".join(f"| {d.runtime} | `{d.reason_code}` | {_cell(d.message)} |" for d in declined)
    served = f"\n\nServed by **{served_by}**." if served_by else ""
    return ("## dbt runtime fallback\n\n| runtime | reason | message |\n|---|---|---|\n"
            + rows + served)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _where(node: NodeResult) -> str:
    return node_location(node.file_path, node.line, node.message)
