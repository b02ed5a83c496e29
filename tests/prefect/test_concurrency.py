"""prefect-dbt #19927: dbt invocations from parallel tasks of one process interfered (dbt-core's
adapter registry and connections are process-wide, so one invocation's clean-up broke the
other's, and a failure in one failed them all). Here two flow runs on ONE project run at once in
one process, each with parallel tasks, one of them failing a node on purpose: each must end
exactly as it would alone, with its own artifacts."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from floe_dbt_prefect import DbtProject, dbt_flow

from tests.prefect.conftest import recorded, relation_counts, table

pytestmark = pytest.mark.integration

FILTER_MODEL = "select * from {{ ref('stg_orders') }} where {{ var('orders_filter', 'true') }}\n"


@pytest.mark.parametrize("runtimes", [("core", "core"), ("core", "fusion")])
def test_concurrent_flow_runs_on_one_project(project: Path, runtimes: tuple[str, str]) -> None:
    (project / "models" / "marts" / "filtered_orders.sql").write_text(FILTER_MODEL)
    good = dbt_flow(DbtProject(project_dir=project, runtime=runtimes[0], fallback=False),
                    name="good", tests="none")
    # Same project, same DuckDB file; a var makes one of its models fail in this run only.
    bad = dbt_flow(DbtProject(project_dir=project, runtime=runtimes[1], fallback=False,
                              vars={"orders_filter": "no_such_column = 1"}),
                   name="bad", tests="none", select="+filtered_orders")
    states: dict[str, Any] = {}
    start = threading.Barrier(2)

    def run(name: str, flow: Any) -> None:
        start.wait()
        states[name] = flow(return_state=True)

    threads = [threading.Thread(target=run, args=(name, flow))
               for name, flow in (("good", good), ("bad", bad))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert set(states) == {"good", "bad"}

    good_run, bad_run = recorded(states["good"]), recorded(states["bad"])
    good_tasks, bad_tasks = good_run.task_runs(), bad_run.task_runs()
    assert good_run.flow_run.state.is_completed(), states["good"].message
    assert all(t.state.is_completed() for t in good_tasks.values()), {
        n: t.state.name for n, t in good_tasks.items()}
    assert len(good_tasks) == 9  # 3 seeds, 3 staging models, orders, customers, filtered_orders

    assert bad_run.flow_run.state.is_failed()
    failed = {n for n, t in bad_tasks.items() if t.state.is_failed()}
    assert failed == {"Materialize model filtered_orders"}
    assert "no_such_column" in (bad_tasks["Materialize model filtered_orders"].state.message or "")
    assert {n for n, t in bad_tasks.items() if t.state.is_completed()} == {
        "Materialize seed raw_orders", "Materialize model stg_orders"}

    # Every task's invocation wrote its own artifacts: no results of one run in the other's.
    rows = [r for run in (good_run, bad_run)
            for r in table({a.key: a for a in run.artifacts()}["dbt-run-summary"])]
    by_invocation: dict[str, set[str]] = {}
    for row in rows:
        by_invocation.setdefault(row["invocation"], set()).add(row["node"])
    assert len(by_invocation) == 9 + 3
    engine_ids = set()
    for invocation, nodes in by_invocation.items():
        results = json.loads((project / "target" / "floe" / invocation / "run_results.json")
                             .read_text())
        assert {r["unique_id"] for r in results["results"]} == nodes
        engine_ids.add(results["metadata"]["invocation_id"])
    assert len(engine_ids) == len(by_invocation)
    assert relation_counts(project)["filtered_orders"] == 24


def test_per_node_tasks_in_separate_processes(project: Path) -> None:
    """Tasks on a process pool (as on workers elsewhere): each gets the plan as JSON and runs in
    its own dbt-core process; two processes build into one DuckDB file and queue on its writer
    lock instead of failing (prefect-dbt's PER_NODE fails here with DuckDB's lock error)."""
    from prefect.task_runners import ProcessPoolTaskRunner

    flow = dbt_flow(DbtProject(project_dir=project, runtime="core"), tests="none",
                    select="raw_orders raw_payments",
                    task_runner=ProcessPoolTaskRunner(max_workers=2))
    state = flow(return_state=True)

    run = recorded(state)
    assert run.flow_run.state.is_completed(), state.message
    tasks = run.task_runs()
    assert sorted(tasks) == ["Materialize seed raw_orders", "Materialize seed raw_payments"]
    assert all(t.state.is_completed() for t in tasks.values())
    counts = relation_counts(project)
    assert (counts["raw_orders"], counts["raw_payments"]) == (24, 29)
