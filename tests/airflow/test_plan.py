"""The task plan at DAG-parse time: selection, ephemeral models, the cache, bad input, and
selections that never grow a task's argv (no real task runs here; the DAG is only built)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from floe_dbt_airflow import DbtDag, DbtProject, DbtTaskGroup
from floe_dbt_airflow.cache import load_plan
from floe_dbt_airflow.plan import build_plan

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.orchestration.graph import DBTGraph
from tests.conftest import copy_example

START = {"schedule": None, "start_date": __import__("datetime").datetime(2026, 1, 1)}


@pytest.fixture
def project(tmp_path: Path) -> DbtProject:
    root = copy_example(tmp_path / "jaffle_shop")
    (root / "models" / "staging" / "stg_recent.sql").write_text(
        "{{ config(materialized='ephemeral') }}\nselect * from {{ ref('stg_orders') }}\n")
    (root / "models" / "marts" / "recent_orders.sql").write_text(
        "select * from {{ ref('stg_recent') }}\n")
    return DbtProject(project_dir=root, runtime="fusion", fallback=False)


@pytest.mark.integration
def test_plan_follows_the_dbt_graph_through_ephemeral_models(project: DbtProject) -> None:
    plan = load_plan(project, select=("+recent_orders", "+customers"), exclude=("stg_payments",),
                     cache=False).plan

    tasks = {n.task_id: n for n in plan.nodes}
    assert set(tasks) == {"raw_customers", "raw_orders", "raw_payments", "stg_customers",
                          "stg_orders", "recent_orders", "orders", "customers"}
    assert "stg_recent" not in tasks  # ephemeral: compiled into its child, no task
    assert tasks["recent_orders"].upstream == ("stg_orders",)
    # stg_payments is excluded: orders waits for the planned nodes it reads through it.
    assert set(tasks["orders"].upstream) == {"stg_orders", "raw_payments"}
    assert set(tasks["customers"].upstream) == {"orders", "stg_customers"}
    # relationships orders -> customers runs after both, with customers (the later one).
    assert any("relationships_orders_customer_id" in t for t in tasks["customers"].tests)
    assert plan.runtime == "fusion"
    assert plan.manifest_how == "compiled"


@pytest.mark.integration
def test_reparse_reads_the_cached_plan_until_a_project_file_changes(project: DbtProject) -> None:
    first = load_plan(project, select=("path:models",))
    second = load_plan(project, select=("path:models",))
    assert (first.how, second.how) == ("built", "cached")
    assert second.plan == first.plan
    other_selection = load_plan(project, select=("customers",))
    assert other_selection.how == "built"

    model = project.project_dir / "models" / "marts" / "customers.sql"
    stamp = model.stat().st_mtime_ns + 5_000_000_000
    os.utime(model, ns=(stamp, stamp))
    assert load_plan(project, select=("path:models",)).how == "built"
    assert load_plan(project, select=("path:models",)).how == "cached"

    (project.project_dir / "models" / "marts" / "new_model.sql").write_text("select 1 as id\n")
    rebuilt = load_plan(project, select=("path:models",))
    assert rebuilt.how == "built"
    assert "new_model" in {n.task_id for n in rebuilt.plan.nodes}

    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert load_plan(project, select=("path:models",)).how == "cached"
        timings.append(time.perf_counter() - started)
    print(f"cached plan load: best {min(timings) * 1000:.1f} ms")


@pytest.mark.integration
def test_dag_shapes_per_node_and_single_invocation(project: DbtProject) -> None:
    per_node = DbtDag(dag_id="per_node", project=project, select="path:models", **START)
    tasks = per_node.task_dict
    assert set(tasks["customers"].upstream_task_ids) == {"orders", "stg_customers"}
    assert [a.uri for a in tasks["customers"].outlets] == ["duckdb://jaffle_shop/main/customers"]
    node = tasks["customers"]
    assert node.select[0] == "fqn:jaffle_shop.marts.customers"
    assert len(node.select) > 1  # its tests run after it, in the same dbt build

    with DAG("single", **START) as single:
        DbtTaskGroup(group_id="dbt", project=project, select="path:models",
                     mode="single_invocation")
        DbtTaskGroup(group_id="timed", project=project, select="stg_customers",
                     mode="single_invocation", operator_args={"execution_timeout": timedelta(minutes=5)},
                     report_args={"mode": "reschedule", "poke_interval": 10})
    tasks = single.task_dict
    assert tasks["dbt.dbt_build"].select == ("path:models",)
    # Reports are sensors that start with the build (live), not after it: only dbt's graph
    # orders them; the roots have no upstream task at all.
    assert set(tasks["dbt.customers"].upstream_task_ids) == {"dbt.orders", "dbt.stg_customers"}
    assert tasks["dbt.customers"].invocation_task_id == "dbt.dbt_build"
    assert tasks["dbt.stg_customers"].upstream_task_ids == set()
    assert tasks["dbt.dbt_build"].downstream_task_ids == set()
    # A report waits no longer than its build may run; report_args reach the sensors only.
    report, build = tasks["timed.stg_customers"], tasks["timed.dbt_build"]
    assert (report.timeout, report.mode, report.poke_interval) == (300, "reschedule", 10)
    assert build.execution_timeout == timedelta(minutes=5)
    assert build.priority_weight == 1000


def test_bad_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DBTConfigurationError, match="does not exist"):
        DbtDag(dag_id="missing", project=DbtProject(project_dir=tmp_path / "nope"), **START)
    project = DbtProject(project_dir=copy_example(tmp_path / "jaffle_shop"))
    with pytest.raises(DBTConfigurationError, match="unknown mode 'waves'") as error:
        DbtDag(dag_id="bad", project=project, mode="waves", **START)
    assert "per_node, single_invocation" in str(error.value)
    with pytest.raises(DBTConfigurationError, match="unknown test_behavior"):
        DbtDag(dag_id="bad", project=project, test_behavior="later", **START)


def _chain_manifest(size: int) -> dict[str, Any]:
    """``size`` models, each reading the previous one, each with a not_null test."""
    nodes: dict[str, Any] = {}
    for i in range(size):
        uid = f"model.big.m{i}"
        nodes[uid] = {"unique_id": uid, "name": f"m{i}", "resource_type": "model",
                      "package_name": "big", "fqn": ["big", f"m{i}"],
                      "config": {"materialized": "view"}, "schema": "main", "database": "big",
                      "depends_on": {"nodes": [f"model.big.m{i - 1}"] if i else []}}
        test = f"test.big.not_null_m{i}_id.abc"
        nodes[test] = {"unique_id": test, "name": f"not_null_m{i}_id", "resource_type": "test",
                       "package_name": "big", "fqn": ["big", f"not_null_m{i}_id"], "config": {},
                       "attached_node": uid, "test_metadata": {"name": "not_null"},
                       "depends_on": {"nodes": [uid]}}
    return {"metadata": {"project_name": "big", "adapter_type": "duckdb"}, "nodes": nodes}


def test_large_selections_keep_every_task_argv_small() -> None:
    """dagster-dbt had to move to a selectors file past ~200 resources. Here no task's selection
    grows with the selection: a node task names its node and its tests; a single invocation
    passes the user's words, never the expanded node list."""
    plan = build_plan(DBTGraph(_chain_manifest(5000)), select=("fqn:*",))
    assert len(plan.nodes) == 5000
    longest = max(len(" ".join((n.selector, *n.test_selectors, *n.exclude))) for n in plan.nodes)
    assert longest < 200
    assert plan.select == ("fqn:*",)
