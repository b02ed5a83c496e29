"""Flows over a dbt project: parse once, then run the plan's units as Prefect tasks.

:func:`run_dbt` runs inside any flow: it gets the manifest from the selected runtime once
(:meth:`DbtProject.load_manifest`: Fusion compiles in a fraction of a second; with dbt-core a
fresh ``target/manifest.json`` is reused), builds the :class:`~floe_dbt_prefect.plan.BuildPlan`
and submits the units wave by wave to the flow's task runner, each task waiting for the units
it depends on. A unit whose upstream failed is not run (dbt would skip it): it is logged and
listed as ``skipped``. At the end a ``dbt-run-summary`` table artifact lists every node's outcome,
a ``dbt-fallback`` markdown artifact lists any runtime that declined, and the flow run fails if
any node failed. :func:`dbt_flow` wraps it as a ready flow.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prefect import Flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from floe_dbt_hooks.models import to_dict
from floe_dbt_hooks.orchestration.graph import DBTGraph
from floe_dbt_prefect.plan import BuildPlan, PlanUnit, build_plan
from floe_dbt_prefect.project import DbtProject
from floe_dbt_prefect.tasks import (
    FALLBACK_ARTIFACT,
    DbtNodeFailure,
    dbt_unit_task,
    fallback_markdown,
)

SUMMARY_ARTIFACT = "dbt-run-summary"


class DbtFlowFailure(RuntimeError):
    """Some units of the plan failed; the message lists them."""


def plan_project(project: DbtProject, *, mode: str = "per_node", tests: str = "attached",
                 select: str | Iterable[str] | None = None,
                 exclude: str | Iterable[str] | None = None,
                 reuse_manifest: bool | None = None) -> BuildPlan:
    """Parse the project once (through its runtime) and plan ``mode`` for the selection."""
    loaded = project.load_manifest(reuse=reuse_manifest)
    graph = DBTGraph(loaded.manifest, project.project_dir)
    return build_plan(graph, mode=mode, tests=tests, select=select, exclude=exclude,
                      manifest_path=str(loaded.path), manifest_how=loaded.how,
                      manifest_runtime=loaded.runtime, parse_seconds=loaded.elapsed,
                      declined=loaded.declined)


def run_dbt(project: DbtProject | str | Path, *, mode: str = "per_node",
            tests: str = "attached", select: str | Iterable[str] | None = None,
            exclude: str | Iterable[str] | None = None, full_refresh: bool = False,
            reuse_manifest: bool | None = None, raise_on_failure: bool = True,
            plan: BuildPlan | None = None, **task_options: Any) -> dict[str, Any]:
    """Run the project as Prefect tasks from inside a flow; returns every unit's summary.

    ``mode``: ``per_node`` (a task per model, seed and snapshot, with its tests), ``per_wave`` (a
    task per wave of independent nodes) or ``single`` (one task, one dbt invocation).
    ``tests``: ``attached``, ``separate`` or ``none``. ``task_options`` go to every task
    (``retries``, ``tags``...). Pass ``plan`` to reuse one built by :func:`plan_project`.
    """
    dbt = project if isinstance(project, DbtProject) else DbtProject(project_dir=project)
    logger = get_run_logger()
    if plan is None:
        plan = plan_project(dbt, mode=mode, tests=tests, select=select, exclude=exclude,
                            reuse_manifest=reuse_manifest)
    logger.info(f"dbt plan: {len(plan.units)} task(s) in {len(plan.waves)} wave(s), mode "
                f"{plan.mode}, manifest {plan.manifest_how} ({plan.manifest_path}) in "
                f"{plan.parse_seconds:.2f}s")
    for declined in plan.declined:
        logger.warning(f"runtime {declined.runtime} declined parsing ({declined.reason_code}): "
                       f"{declined.message}; {plan.manifest_runtime} parsed the project")
    if plan.declined:
        create_markdown_artifact(markdown=fallback_markdown(plan.declined, plan.manifest_runtime),
                                 key=FALLBACK_ARTIFACT, description="dbt parse fell back")
    project_json = dbt.to_json()
    futures: dict[str, Any] = {}
    outcome: dict[str, dict[str, Any]] = {}
    for wave in plan.waves:
        submitted: dict[str, Any] = {}
        for unit in wave:
            blocked = [d for d in unit.depends_on if outcome.get(d, {}).get("state") != "ok"]
            if blocked:
                logger.warning(f"{unit.name} not run: upstream {', '.join(blocked)} did not "
                               "succeed")
                outcome[unit.key] = {"state": "skipped", "unit": unit.key, "blocked_by": blocked}
                continue
            task = dbt_unit_task(unit, **task_options)
            wait_for = [futures[d] for d in unit.depends_on if d in futures]
            submitted[unit.key] = task.submit(project_json, _unit_json(unit), "build",
                                              full_refresh, wait_for=wait_for or None)
        for key, future in submitted.items():
            futures[key] = future
            future.wait()
            state = future.state
            if state.is_completed():
                outcome[key] = {"state": "ok", **future.result()}
            else:
                try:
                    future.result()
                except DbtNodeFailure as exc:
                    outcome[key] = {**exc.summary, "state": "failed", "error": str(exc)}
                except Exception as exc:
                    outcome[key] = {"state": "failed", "unit": key, "error": str(exc)}
                else:  # pragma: no cover - a non-completed state always raises
                    outcome[key] = {"state": "failed", "unit": key}
    _summary_artifact(plan, outcome)
    failed = [k for k, v in outcome.items() if v["state"] == "failed"]
    if failed and raise_on_failure:
        details = "\n".join(f"- {plan.unit(k).name}: {outcome[k].get('error', '')}"
                            for k in failed)
        skipped = [k for k, v in outcome.items() if v["state"] == "skipped"]
        raise DbtFlowFailure(f"{len(failed)} dbt task(s) failed\n{details}"
                             + (f"\nnot run: {', '.join(skipped)}" if skipped else ""))
    return {"plan": {"mode": plan.mode, "units": len(plan.units), "waves": len(plan.waves),
                     "manifest": plan.manifest_how}, "units": outcome}


def _unit_json(unit: PlanUnit) -> dict[str, Any]:
    data: dict[str, Any] = to_dict(unit)
    return data


def _summary_artifact(plan: BuildPlan, outcome: dict[str, dict[str, Any]]) -> None:
    rows: list[dict[str, Any]] = []
    for unit in plan.units:
        result = outcome.get(unit.key, {})
        declined = result.get("declined") or []
        fallback = f"{declined[0]['runtime']} ({declined[0]['reason_code']})" if declined else ""
        nodes = result.get("nodes") or [{"unique_id": uid, "status": result.get("state", "")}
                                        for uid in (*unit.nodes, *unit.tests)]
        for node in nodes:
            rows.append({"task": unit.name, "node": node["unique_id"], "status": node["status"],
                         "runtime": result.get("runtime", ""),
                         "seconds": round(float(node.get("execution_time") or 0.0), 3),
                         "rows": node.get("rows_affected"), "fallback": fallback,
                         "invocation": result.get("invocation_id", "")})
    create_table_artifact(table=rows, key=SUMMARY_ARTIFACT,
                          description=f"dbt {plan.mode}: {len(plan.units)} task(s)")


def dbt_flow(project: DbtProject | str | Path, *, mode: str = "per_node",
             tests: str = "attached", select: str | Iterable[str] | None = None,
             exclude: str | Iterable[str] | None = None, name: str | None = None,
             task_runner: Any = None, reuse_manifest: bool | None = None,
             task_options: dict[str, Any] | None = None,
             **flow_options: Any) -> Flow[..., dict[str, Any]]:
    """A flow that runs ``project`` (see :func:`run_dbt`); call it, serve it or deploy it.

    The flow takes one parameter, ``full_refresh``. ``task_runner`` defaults to Prefect's thread
    pool: Fusion invocations then run side by side, dbt-core's queue in-process (pass a
    ``ProcessPoolTaskRunner`` for one dbt-core process per task). ``flow_options`` go to
    ``Flow`` (``retries``, ``log_prints``...).
    """
    dbt = project if isinstance(project, DbtProject) else DbtProject(project_dir=project)
    options = dict(task_options or {})

    def body(full_refresh: bool = False) -> dict[str, Any]:
        return run_dbt(dbt, mode=mode, tests=tests, select=select, exclude=exclude,
                       full_refresh=full_refresh, reuse_manifest=reuse_manifest, **options)

    flow_name = name or f"dbt-{Path(dbt.project_dir).name}"
    extra: dict[str, Any] = {"task_runner": task_runner} if task_runner is not None else {}
    return Flow(fn=body, name=flow_name, **extra, **flow_options)
