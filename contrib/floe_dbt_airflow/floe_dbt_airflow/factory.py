"""``DbtTaskGroup`` and ``DbtDag``: a dbt project as Airflow tasks, one per model, seed and snapshot.

Shaped like Cosmos's classes of the same names (a task group inside your DAG, or a whole DAG)::

    with DAG("jaffle_shop", schedule=None) as dag:
        DbtTaskGroup(group_id="dbt", project=DbtProject(project_dir=...), select=["+customers"])

Modes:

* ``per_node`` (default): each node task runs ``build`` of its node (and, after-each, the node's
  tests) through the facade with the configured runtime and fallback, so any executor can place
  it on any worker. Dependencies follow the dbt graph through ephemeral models.
* ``single_invocation``: one task runs the selection once and publishes each node's outcome (an
  XCom per node) the moment dbt finishes it; one report task per node, a sensor that starts with
  the invocation (not after it), succeeds or fails like a node task would as soon as its node is
  known, so the graph view, asset events and downstream work follow the build live, node by node.

Tests (``test_behavior``): ``after_each`` runs a node's tests in its task (a failing ``error``
test fails it and dbt skips what is downstream); ``separate`` gives them a ``<node>_test`` task
after the node; ``none`` leaves them out. A test reading several nodes none of which comes after
all the others gets a task of its own after all of them.

The plan comes from :func:`floe_dbt_airflow.cache.load_plan`: cached, so that re-parsing the
DAG file costs a stat per project file and one small JSON read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow.sdk import DAG, Asset, BaseOperator, TaskGroup

from floe_dbt_airflow.cache import LoadedPlan, load_plan
from floe_dbt_airflow.operators import (
    DbtInvocationOperator,
    DbtNodeOperator,
    DbtReportOperator,
    DbtTestsOperator,
    _words,
)
from floe_dbt_airflow.plan import TEST_BEHAVIORS, PlannedNode, TaskPlan
from floe_dbt_airflow.project import DbtProject
from floe_dbt_hooks.errors import DBTConfigurationError

MODES = ("per_node", "single_invocation")
log = logging.getLogger(__name__)
AssetFactory = Callable[[PlannedNode, TaskPlan], "Asset | None"]


def default_asset(node: PlannedNode, plan: TaskPlan) -> Asset | None:
    """``<adapter>://<database>/<schema>/<table>`` named after the relation, for data-aware
    scheduling (``schedule=[Asset(...)]`` in a downstream DAG)."""
    if not (node.schema and node.alias):
        return None
    adapter = (plan.adapter_type or "dbt").lower()
    database = (node.database or plan.project_name or "default").lower()
    uri = f"{adapter}://{database}/{node.schema.lower()}/{node.alias.lower()}"
    name = (node.relation_name or f"{database}.{node.schema}.{node.alias}").replace('"', "")
    return Asset(uri=uri, name=name)


def DbtTaskGroup(
    *,
    group_id: str,
    project: DbtProject,
    select: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    mode: str = "per_node",
    test_behavior: str = "after_each",
    operator_args: Mapping[str, Any] | None = None,
    asset_factory: AssetFactory | None = default_asset,
    plan_cache: bool = True,
    report_args: Mapping[str, Any] | None = None,
    **group_args: Any,
) -> TaskGroup:
    """A task group with the project's tasks; call it inside ``with DAG(...)``."""
    loaded = _plan(project, select, exclude, mode, test_behavior, plan_cache)
    with TaskGroup(group_id=group_id, **group_args) as group:
        add_tasks(loaded.plan, project, mode=mode, operator_args=operator_args,
                  asset_factory=asset_factory, report_args=report_args)
    return group


def DbtDag(
    *,
    dag_id: str,
    project: DbtProject,
    select: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    mode: str = "per_node",
    test_behavior: str = "after_each",
    operator_args: Mapping[str, Any] | None = None,
    asset_factory: AssetFactory | None = default_asset,
    plan_cache: bool = True,
    report_args: Mapping[str, Any] | None = None,
    **dag_args: Any,
) -> DAG:
    """A DAG whose tasks are the project's (``dag_args`` go to ``DAG``: schedule, start_date...)."""
    loaded = _plan(project, select, exclude, mode, test_behavior, plan_cache)
    with DAG(dag_id=dag_id, **dag_args) as dag:
        add_tasks(loaded.plan, project, mode=mode, operator_args=operator_args,
                  asset_factory=asset_factory, report_args=report_args)
    return dag


def _plan(project: DbtProject, select: str | Sequence[str] | None,
          exclude: str | Sequence[str] | None, mode: str, test_behavior: str,
          cache: bool) -> LoadedPlan:
    if mode not in MODES:
        raise DBTConfigurationError(f"unknown mode {mode!r}",
                                    hint=f"use one of: {', '.join(MODES)}")
    if test_behavior not in TEST_BEHAVIORS:
        raise DBTConfigurationError(f"unknown test_behavior {test_behavior!r}",
                                    hint=f"use one of: {', '.join(TEST_BEHAVIORS)}")
    loaded = load_plan(project, select=_words(select), exclude=_words(exclude),
                       test_behavior=test_behavior, cache=cache)
    log.info("dbt task plan for %s: %d node task(s), %s in %.3fs", project.project_dir,
             len(loaded.plan.nodes), loaded.how, loaded.elapsed)
    return loaded


def add_tasks(
    plan: TaskPlan,
    project: DbtProject,
    *,
    mode: str = "per_node",
    operator_args: Mapping[str, Any] | None = None,
    asset_factory: AssetFactory | None = default_asset,
    report_args: Mapping[str, Any] | None = None,
) -> dict[str, BaseOperator]:
    """Create the plan's tasks in the current DAG / task group; returns them by node unique id
    (tests with a task of their own by the test's unique id). ``report_args`` go to the report
    sensors of ``single_invocation`` only (``mode``, ``poke_interval``, ``timeout``...)."""
    args = dict(operator_args or {})
    separate = plan.test_behavior == "separate"
    tasks: dict[str, BaseOperator] = {}
    ends: dict[str, BaseOperator] = {}
    """The task downstream nodes wait for: the node's test task when tests are separate."""
    by_task_id = {n.task_id: n for n in plan.nodes}
    invocation: BaseOperator | None = None
    reports = args
    if mode == "single_invocation":
        exclude = (*plan.exclude, "resource_type:test") if plan.test_behavior == "none" \
            else plan.exclude
        invocation = DbtInvocationOperator(task_id="dbt_build", project=project,
                                           select=list(plan.select), exclude=list(exclude), **args)
        reports = _report_args(invocation, project, args, report_args)
    for node in plan.nodes:
        asset = asset_factory(node, plan) if asset_factory else None
        outlets = [asset] if asset is not None else []
        tests = () if separate else node.tests
        if invocation is not None:
            task: BaseOperator = DbtReportOperator(
                task_id=node.task_id, invocation_task_id=invocation.task_id,
                unique_id=node.unique_id, tests=tests, file_path=node.file_path,
                outlets=outlets, **reports)
        else:
            exclude = node.exclude + (node.test_selectors if separate else ())
            task = DbtNodeOperator(
                task_id=node.task_id, project=project, unique_id=node.unique_id,
                node_select=(node.selector, *(() if separate else node.test_selectors)),
                node_exclude=exclude, file_path=node.file_path, outlets=outlets, **args)
        tasks[node.unique_id] = ends[node.task_id] = task
        if separate and node.tests:
            test_task = _tests_task(f"{node.task_id}_test", node.test_selectors, node.tests,
                                    project, invocation, reports)
            task >> test_task
            ends[node.task_id] = test_task
    for node in plan.nodes:
        for parent in node.upstream:
            if parent in by_task_id:
                ends[parent] >> tasks[node.unique_id]
    for test in plan.tests:
        test_task = _tests_task(test.task_id, (test.selector,), (test.unique_id,), project,
                                invocation, reports)
        for parent in test.upstream:
            ends[parent] >> test_task
        tasks[test.unique_id] = test_task
    return tasks


def _tests_task(task_id: str, selectors: Sequence[str], unique_ids: Sequence[str],
                project: DbtProject, invocation: BaseOperator | None,
                args: Mapping[str, Any]) -> BaseOperator:
    if invocation is None:
        return DbtTestsOperator(task_id=task_id, project=project, select=list(selectors), **args)
    first, *rest = unique_ids
    return DbtReportOperator(task_id=task_id, invocation_task_id=invocation.task_id,
                             unique_id=first, tests=rest, **args)


def _report_args(invocation: BaseOperator, project: DbtProject, args: Mapping[str, Any],
                 extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The report sensors' arguments: the operators' ones, then a ``timeout`` equal to the
    invocation's (its ``execution_timeout``, else the project's dbt timeout) so that no report
    outwaits the build it watches, then ``report_args``."""
    reports = dict(args)
    limit = invocation.execution_timeout.total_seconds() if invocation.execution_timeout \
        else project.timeout
    if limit:
        reports["timeout"] = limit
    reports.update(extra or {})
    return reports
