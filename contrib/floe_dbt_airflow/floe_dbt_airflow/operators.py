"""Airflow operators that run dbt through floe-dbt-hooks.

* :class:`DbtBuildOperator`, :class:`DbtRunOperator`, :class:`DbtTestOperator`,
  :class:`DbtSeedOperator`, :class:`DbtSnapshotOperator`, :class:`DbtCompileOperator`: one dbt
  command on a selection (the whole project by default) in one task.
* :class:`DbtNodeOperator`: one model, seed or snapshot with the tests that go with it
  (``per_node`` mode); :class:`DbtTestsOperator`: tests on their own.
* :class:`DbtReportOperator`: reports one node's outcome from a ``single_invocation`` task's result.

Every operator returns a JSON summary (XCom ``return_value``): the runtime that served, the
fallback reason when the configured runtime declined, and status, timing, rows, file and dbt's
message per node. A node that fails fails its task with dbt's file and message; a test that fails
fails the task when its severity is ``error`` and logs a warning when it is ``warn``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from floe_dbt_airflow.invocation import FAILED, run_invocation, summary, where
from floe_dbt_airflow.lineage import task_parent_run
from floe_dbt_airflow.project import DbtProject
from floe_dbt_hooks.errors import FloeDBTError


class DbtFailure(AirflowException):
    """A dbt node failed (or dbt could not run): the message names each node's file and error."""


def _words(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(w for item in value for w in str(item).split())


class DbtOperator(BaseOperator):
    """Run ``command`` on a selection of ``project`` through the hook framework."""

    command: ClassVar[str] = "build"
    template_fields: Sequence[str] = ("select", "exclude", "selector")
    ui_color = "#ffd9b3"

    def __init__(self, *, project: DbtProject, select: str | Sequence[str] | None = None,
                 exclude: str | Sequence[str] | None = None, selector: str | None = None,
                 full_refresh: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.select = _words(select)
        self.exclude = _words(exclude)
        self.selector = selector
        self.full_refresh = full_refresh
        self._running: tuple[str, Any] | None = None

    def _remember(self, invocation_id: str, pm: Any) -> None:
        self._running = (invocation_id, pm)

    def on_kill(self) -> None:
        """Airflow stops the task: ask the runtime serving it to stop the engine."""
        if self._running is not None:
            invocation_id, pm = self._running
            pm.hook.dbt_cancel(invocation_id=invocation_id)

    def invoke(self, command: str, select: tuple[str, ...], exclude: tuple[str, ...],
               selector: str | None = None, context: Any = None) -> dict[str, Any]:
        """Run ``command``; ``context`` (the task's) makes this task the lineage parent run."""
        try:
            result = run_invocation(self.project, command, log=self.log, select=select,
                                    exclude=exclude, selector=selector,
                                    full_refresh=self.full_refresh, on_start=self._remember,
                                    parent_run=task_parent_run(context) if context else None)
        except FloeDBTError as error:
            raise DbtFailure(f"dbt {command} could not run: {error}") from error
        finally:
            self._running = None
        data = summary(result)
        if data.get("fallback_from"):
            self.log.warning("served by %s: %s declined (%s)", data["runtime"],
                             data["fallback_from"], data["fallback_reason_code"])
        return data

    def execute(self, context: Any) -> dict[str, Any]:
        data = self.invoke(self.command, self.select, self.exclude, self.selector, context)
        failed = [n for n in data["nodes"].values() if n["status"] in FAILED]
        if failed or not data["success"]:
            raise DbtFailure(_failure_text(data, failed))
        return data


class DbtBuildOperator(DbtOperator):
    command = "build"


class DbtRunOperator(DbtOperator):
    command = "run"


class DbtTestOperator(DbtOperator):
    command = "test"


class DbtSeedOperator(DbtOperator):
    command = "seed"


class DbtSnapshotOperator(DbtOperator):
    command = "snapshot"


class DbtCompileOperator(DbtOperator):
    command = "compile"


class DbtNodeOperator(DbtOperator):
    """One model, seed or snapshot (``build`` of it and the tests that go with it)."""

    def __init__(self, *, unique_id: str, node_select: Sequence[str],
                 node_exclude: Sequence[str] = (), file_path: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(select=list(node_select), exclude=list(node_exclude), **kwargs)
        self.unique_id = unique_id
        self.file_path = file_path

    def execute(self, context: Any) -> dict[str, Any]:
        data = self.invoke("build", self.select, self.exclude, context=context)
        return _judge(self, data, self.unique_id, self.file_path)


class DbtTestsOperator(DbtOperator):
    """Tests only (``test`` on their ``fqn:`` selectors): the separate-tasks setting."""

    command = "test"

    def execute(self, context: Any) -> dict[str, Any]:
        data = self.invoke("test", self.select, self.exclude, context=context)
        return _judge(self, data, None, None)


class DbtInvocationOperator(DbtOperator):
    """``single_invocation``: ``build`` the selection once and hand every node's outcome to the
    report tasks. Fails only when dbt could not run; node failures are the reports' to show."""

    def execute(self, context: Any) -> dict[str, Any]:
        data = self.invoke("build", self.select, self.exclude, self.selector, context)
        if not data["success"] and not data["nodes"]:
            raise DbtFailure(_failure_text(data, []) + "\nno node ran; see the task log")
        failed = sum(n["status"] in FAILED for n in data["nodes"].values())
        self.log.info("dbt build ran %d node(s), %d failed; the node tasks report each one",
                      len(data["nodes"]), failed)
        return data


class DbtReportOperator(BaseOperator):
    """One node's outcome from a ``single_invocation`` task's XCom, as this task's own state."""

    ui_color = "#e6f2ff"

    def __init__(self, *, invocation_task_id: str, unique_id: str, tests: Sequence[str] = (),
                 file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.invocation_task_id = invocation_task_id
        self.unique_id = unique_id
        self.tests = tuple(tests)
        self.file_path = file_path

    def execute(self, context: Any) -> dict[str, Any]:
        data = context["ti"].xcom_pull(task_ids=self.invocation_task_id)
        if not isinstance(data, dict) or "nodes" not in data:
            raise DbtFailure(f"no result from task {self.invocation_task_id} in this run")
        wanted = {self.unique_id, *self.tests}
        mine = {uid: node for uid, node in data["nodes"].items() if uid in wanted}
        if self.unique_id not in mine:
            raise DbtFailure(f"dbt did not report {self.unique_id} in invocation "
                             f"{data.get('invocation_id')} ({data.get('runtime')})")
        for node in mine.values():
            self.log.info("dbt %s %s: %s in %.2fs", node["resource_type"], node["unique_id"],
                          node["status"], node.get("execution_time") or 0.0)
        return _judge(self, {**data, "nodes": mine}, self.unique_id, self.file_path)


def _judge(task: BaseOperator, data: dict[str, Any], unique_id: str | None,
           file_path: str | None) -> dict[str, Any]:
    """The task's XCom value, or the exception that fails it."""
    nodes = data["nodes"]
    node = nodes.get(unique_id) if unique_id else None
    if node is not None and file_path and "file_path" not in node:
        node["file_path"] = file_path
    tests = [n for uid, n in nodes.items() if uid != unique_id and n["resource_type"] == "test"]
    result = {k: v for k, v in data.items() if k != "nodes"}
    if node is not None:
        result.update(node)
    elif unique_id is not None:
        result.update(unique_id=unique_id, status="error",
                      message="dbt did not run this node (see the task log)")
    result["tests"] = {t["unique_id"]: t for t in tests}
    for test in tests:
        if test["status"] == "warn":
            task.log.warning("dbt test %s warned: %s", test["unique_id"], test.get("message", ""))
    failed = [n for n in nodes.values() if n["status"] in FAILED]
    if failed or (unique_id is not None and node is None):
        raise DbtFailure(_failure_text(data, failed or [result]))
    return result


def _failure_text(data: dict[str, Any], failed: list[dict[str, Any]]) -> str:
    lines = [f"dbt {data.get('command')} on runtime {data.get('runtime')}: "
             f"{len(failed)} node(s) failed"]
    for node in failed:
        lines.append(f"- {node['unique_id']}: {where(node)}{node.get('message') or node['status']}")
    skipped = [n["unique_id"] for n in data.get("nodes", {}).values() if n["status"] == "skipped"]
    if skipped:
        lines.append(f"skipped downstream: {', '.join(skipped)}")
    if data.get("fallback_from"):
        lines.append(f"runtime {data['fallback_from']} declined "
                     f"({data.get('fallback_reason_code')}): {data.get('fallback_reason')}")
    return "\n".join(lines)
