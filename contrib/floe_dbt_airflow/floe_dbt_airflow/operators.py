"""Airflow operators that run dbt through floe-dbt-hooks.

* :class:`DbtBuildOperator`, :class:`DbtRunOperator`, :class:`DbtTestOperator`,
  :class:`DbtSeedOperator`, :class:`DbtSnapshotOperator`, :class:`DbtCompileOperator`: one dbt
  command on a selection (the whole project by default) in one task.
* :class:`DbtNodeOperator`: one model, seed or snapshot with the tests that go with it
  (``per_node`` mode); :class:`DbtTestsOperator`: tests on their own.
* :class:`DbtReportOperator`: a sensor that reports one node's outcome from a ``single_invocation``
  task, live: it finishes as soon as that task has published its node (and the node's tests).

Every operator returns a JSON summary (XCom ``return_value``): the runtime that served, the
fallback reason when the configured runtime declined, and status, timing, rows, file and dbt's
message per node. A node that fails fails its task with dbt's file and message; a test that fails
fails the task when its severity is ``error`` and logs a warning when it is ``warn``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowRescheduleException

from floe_dbt_airflow.invocation import FAILED, run_invocation, summary, where
from floe_dbt_airflow.lineage import task_parent_run
from floe_dbt_airflow.live import NodePublisher, node_key
from floe_dbt_airflow.project import DbtProject
from floe_dbt_airflow.relay import Listener
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
               selector: str | None = None, context: Any = None,
               also: Listener | None = None) -> dict[str, Any]:
        """Run ``command``; ``context`` (the task's) makes this task the lineage parent run;
        ``also`` hears each node as it finishes."""
        try:
            result = run_invocation(self.project, command, log=self.log, select=select,
                                    exclude=exclude, selector=selector,
                                    full_refresh=self.full_refresh, on_start=self._remember,
                                    parent_run=task_parent_run(context) if context else None,
                                    also=also)
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
    """``single_invocation``: ``build`` the selection once. Each node's outcome is an XCom
    (:func:`floe_dbt_airflow.live.node_key`) the moment dbt finishes it, for the report sensors;
    the whole summary is the task's ``return_value`` at the end, as before. Fails only when dbt
    could not run; node failures are the reports' to show."""

    def __init__(self, **kwargs: Any) -> None:
        # Reports wait on this task: when slots are short it should start before them.
        kwargs.setdefault("priority_weight", 1000)
        super().__init__(**kwargs)

    def execute(self, context: Any) -> dict[str, Any]:
        ti = context["ti"]
        publisher = NodePublisher(ti.xcom_push, command="build", log=self.log).start()
        try:
            data = self.invoke("build", self.select, self.exclude, self.selector, context,
                               also=publisher)
        finally:
            publisher.close()
        if publisher.failed:
            self.log.warning("%d node outcome(s) not published live; their reports use the "
                             "final result", publisher.failed)
        if not data["success"] and not data["nodes"]:
            raise DbtFailure(_failure_text(data, []) + "\nno node ran; see the task log")
        failed = sum(n["status"] in FAILED for n in data["nodes"].values())
        self.log.info("dbt build ran %d node(s), %d failed, %d published live; the node tasks "
                      "report each one", len(data["nodes"]), failed, publisher.published)
        return data


ENDED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
"""States of an invocation task that will publish nothing more (in this try)."""
NOT_STARTED = frozenset({None, "none", "scheduled", "queued", "up_for_retry", "up_for_reschedule",
                         "restarting"})
"""States of an invocation task that has not started (or is about to start again)."""


class DbtReportOperator(BaseSensorOperator):
    """One node's outcome from a ``single_invocation`` task, as this task's own state, live.

    A sensor: each poke pulls the node's (and its tests') live XComs from the invocation task and
    succeeds or fails as soon as they decide (the node failed or was skipped, a test failed, or
    the node and all its tests are known). When the invocation task has ended, its final
    ``return_value`` decides, and a node it never reported fails this task. While the invocation
    task has not started yet, the sensor gives its slot back (reschedules) instead of holding it.
    Its ``timeout`` defaults to the invocation's (see :func:`floe_dbt_airflow.factory.add_tasks`).
    """

    ui_color = "#e6f2ff"

    def __init__(self, *, invocation_task_id: str, unique_id: str, tests: Sequence[str] = (),
                 file_path: str | None = None, poke_interval: float | timedelta = 2.0,
                 **kwargs: Any) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.invocation_task_id = invocation_task_id
        self.unique_id = unique_id
        self.tests = tuple(tests)
        self.file_path = file_path

    def poke(self, context: Any) -> bool | PokeReturnValue:
        ti = context["ti"]
        header, nodes = self._live(ti)
        if self._decided(nodes):
            return PokeReturnValue(True, self._report({**header, "nodes": nodes}))
        state = self._invocation_state(ti)
        if state in ENDED:
            return PokeReturnValue(True, self._report(self._final(ti, state, header, nodes)))
        if state in NOT_STARTED and not self.reschedule:
            self.log.info("task %s has not started (%s): giving the slot back for %.0fs",
                          self.invocation_task_id, state, self.poke_interval)
            raise AirflowRescheduleException(
                datetime.now(timezone.utc) + timedelta(seconds=self.poke_interval))
        return False

    def _live(self, ti: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        header: dict[str, Any] = {}
        nodes: dict[str, dict[str, Any]] = {}
        for uid in (self.unique_id, *self.tests):
            value = ti.xcom_pull(task_ids=self.invocation_task_id, key=node_key(uid))
            if isinstance(value, dict) and isinstance(value.get("node"), dict):
                nodes[uid] = value["node"]
                header = value.get("invocation") or header
            elif uid == self.unique_id:
                break  # tests come after their node: nothing more to see yet
        return header, nodes

    def _decided(self, nodes: dict[str, dict[str, Any]]) -> bool:
        node = nodes.get(self.unique_id)
        if node is None:
            return False
        failed = [n for n in nodes.values() if n["status"] in FAILED]
        if any(not n.get("message") for n in failed):
            return False  # Fusion sends the error text apart: the final result carries it
        if failed or node["status"] == "skipped":
            return True  # dbt skips the tests of a node that failed or was skipped
        return all(uid in nodes for uid in self.tests)

    def _invocation_state(self, ti: Any) -> str | None:
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[self.invocation_task_id],
                                    run_ids=[ti.run_id])
        state = (states.get(ti.run_id) or {}).get(self.invocation_task_id)
        return None if state is None else str(getattr(state, "value", state))

    def _final(self, ti: Any, state: str, header: dict[str, Any],
               live: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The invocation ended: its final summary (or what it published) decides."""
        data = ti.xcom_pull(task_ids=self.invocation_task_id)
        if isinstance(data, dict) and isinstance(data.get("nodes"), dict):
            wanted = {self.unique_id, *self.tests}
            nodes = {**live, **{u: n for u, n in data["nodes"].items() if u in wanted}}
            data = {**data, "nodes": nodes}
        else:
            data = {**header, "nodes": live}
        if self.unique_id not in data["nodes"]:
            raise DbtFailure(
                f"task {self.invocation_task_id} ended ({state}) without reporting "
                f"{self.unique_id}: dbt did not run it (invocation {data.get('invocation_id')}, "
                f"runtime {data.get('runtime')}); see that task's log")
        return data

    def _report(self, data: dict[str, Any]) -> dict[str, Any]:
        for node in data["nodes"].values():
            self.log.info("dbt %s %s: %s in %.2fs", node["resource_type"], node["unique_id"],
                          node["status"], node.get("execution_time") or 0.0)
        return _judge(self, data, self.unique_id, self.file_path)


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
