"""Whole-project operators, tests as separate tasks, exclusion, and a runtime that declines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.airflow.harness import AirflowHome
from tests.conftest import copy_example

pytestmark = pytest.mark.integration

DAG_FILE = '''
from datetime import datetime
from airflow.sdk import DAG
from floe_dbt_airflow import (DbtBuildOperator, DbtCompileOperator, DbtProject, DbtSeedOperator,
                              DbtTaskGroup, DbtTestOperator)

project = DbtProject(project_dir={project!r}, runtime="core")
# Fusion is asked for but its binary is missing: the framework falls back to dbt-core.
no_fusion = DbtProject(project_dir={project!r}, runtime="fusion",
                       plugin_settings={{"fusion": {{"binary": "/nonexistent/dbt"}}}})
with DAG("operators", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    seed = DbtSeedOperator(task_id="seed", project=no_fusion)
    models = DbtTaskGroup(group_id="dbt", project=project, select="path:models",
                          exclude="customers", test_behavior="separate")
    customers = DbtBuildOperator(task_id="build_customers", project=project, select="customers")
    tests = DbtTestOperator(task_id="test_all", project=project)
    compile_ = DbtCompileOperator(task_id="compile", project=project, select=["orders"])
    seed >> models >> customers >> tests >> compile_
'''


def test_whole_project_operators_separate_tests_and_fallback(
        airflow_home: AirflowHome, tmp_path: Path) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    airflow_home.add_dag(DAG_FILE.format(project=str(project)))

    outcome = airflow_home.run("operators")

    assert outcome.report.get("state") == "success", outcome
    assert set(outcome.states.values()) == {"success"}, outcome
    # exclude= removed customers (and, as dbt does, its tests) from the group.
    assert "dbt.customers" not in outcome.states
    assert {"dbt.stg_orders", "dbt.stg_orders_test", "dbt.orders", "dbt.orders_test"} <= set(
        outcome.states)
    # Separate tests: the model task built no test, the test task ran them.
    orders = outcome.xcoms["dbt.orders"]
    assert orders["status"] == "success"
    assert orders["tests"] == {}
    orders_tests = outcome.xcoms["dbt.orders_test"]
    assert orders_tests["command"] == "test"
    assert len(orders_tests["tests"]) >= 5
    assert all(t["status"] == "success" for t in orders_tests["tests"].values())
    assert not any("relationships_orders_customer_id" in t for t in orders_tests["tests"])

    seed = outcome.xcoms["seed"]
    assert seed["runtime"] == "core"
    assert seed["fallback_from"] == "fusion"
    assert seed["fallback_reason_code"] == "binary-missing"
    assert "runtime fusion declined (binary-missing)" in outcome.output

    built = outcome.xcoms["build_customers"]["nodes"]
    assert built["model.jaffle_shop.customers"]["status"] == "success"
    assert any(uid.startswith("test.jaffle_shop.relationships_orders_customer_id") for uid in built)
    everything = outcome.xcoms["test_all"]["nodes"]
    assert len(everything) >= 20
    assert {n["resource_type"] for n in everything.values()} == {"test"}
    compiled = outcome.xcoms["compile"]
    assert compiled["command"] == "compile"
    assert compiled["success"]
