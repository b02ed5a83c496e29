"""Node failures, test severities, fallback and the whole-project operators, in a real Airflow 3.

The same broken project runs per node on dbt-core and as one invocation on dbt Fusion; both
must leave the same task states: dbt's failure where it happened (with dbt's file and message),
Airflow's ``upstream_failed`` where dbt would skip, a ``warn`` test logged but not failing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.airflow.harness import AirflowHome, DagRunOutcome
from tests.conftest import copy_example

pytestmark = pytest.mark.integration

DAG_FILE = '''
from datetime import datetime
from airflow.sdk import DAG
from floe_dbt_airflow import DbtProject, DbtSeedOperator, DbtTaskGroup

project = DbtProject(project_dir={project!r}, runtime={runtime!r})
with DAG("broken", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    DbtSeedOperator(task_id="seed", project=project) >> DbtTaskGroup(
        group_id="dbt", project=project, select="path:models", mode={mode!r})
'''


def _break(project: Path) -> Path:
    """stg_customers (a table here, so the query runs) fails at run time; an error-severity
    test on stg_orders fails; a warn-severity test on stg_payments returns rows."""
    (project / "models" / "staging" / "stg_customers.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select cast('not a number' as integer) as customer_id, 'x' as email, "
        "current_date as signup_date, 'a' as first_name, 'b' as last_name\n")
    (project / "tests" / "stg_orders_fails.sql").write_text(
        "select * from {{ ref('stg_orders') }} limit 1\n")
    (project / "tests" / "stg_payments_warns.sql").write_text(
        "{{ config(severity='warn') }}\nselect * from {{ ref('stg_payments') }} limit 2\n")
    return project


def _check_broken(outcome: DagRunOutcome, runtime: str) -> None:
    assert outcome.report.get("state") == "failed", outcome
    states = outcome.states
    assert states["seed"] == "success", outcome
    assert states["dbt.stg_customers"] == "failed", outcome
    assert states["dbt.stg_orders"] == "failed", outcome
    assert states["dbt.stg_payments"] == "success", outcome
    assert states["dbt.orders"] == "upstream_failed", outcome
    assert states["dbt.customers"] == "upstream_failed", outcome

    payments = outcome.xcoms["dbt.stg_payments"]
    assert payments["runtime"] == runtime
    assert payments["status"] == "success"
    warned = [t for t in payments["tests"].values() if "stg_payments_warns" in t["unique_id"]]
    assert [t["status"] for t in warned] == ["warn"], payments
    assert "dbt.stg_customers" not in outcome.xcoms  # a failed task pushes no result
    # The failing task's error names dbt's file and carries dbt's message.
    error_lines = [line for line in outcome.output.splitlines()
                   if "model.jaffle_shop.stg_customers: models/staging/stg_customers.sql" in line]
    assert error_lines, outcome
    assert "not a number" in outcome.output.lower() or "conversion" in outcome.output.lower()
    assert any("stg_orders_fails" in line and "tests/stg_orders_fails.sql" in line
               for line in outcome.output.splitlines()), outcome
    # Only the task that succeeded emitted its model's asset event.
    assert outcome.asset_events == [("duckdb://jaffle_shop/main/stg_payments", "dbt.stg_payments")]


def test_per_node_on_dbt_core_fails_the_failing_nodes_only(
        airflow_home: AirflowHome, tmp_path: Path) -> None:
    project = _break(copy_example(tmp_path / "jaffle_shop"))
    airflow_home.add_dag(DAG_FILE.format(project=str(project), runtime="core", mode="per_node"))

    outcome = airflow_home.run("broken")

    _check_broken(outcome, "core")


def test_single_invocation_on_fusion_reports_each_node(
        airflow_home: AirflowHome, tmp_path: Path) -> None:
    project = _break(copy_example(tmp_path / "jaffle_shop"))
    airflow_home.add_dag(DAG_FILE.format(project=str(project), runtime="fusion",
                                         mode="single_invocation"))

    outcome = airflow_home.run("broken")

    # The one dbt build ran everything and succeeded as a task: the node reports carry failures.
    assert outcome.states["dbt.dbt_build"] == "success", outcome
    build = outcome.xcoms["dbt.dbt_build"]
    assert build["runtime"] == "fusion", build
    assert "fallback_from" not in build
    assert build["nodes"]["model.jaffle_shop.stg_customers"]["status"] == "error"
    assert build["nodes"]["model.jaffle_shop.customers"]["status"] == "skipped"
    _check_broken(outcome, "fusion")
