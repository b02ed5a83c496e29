"""The README's DAG file (examples/airflow/jaffle_shop_dag.py), run as Airflow runs it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.airflow.harness import ROOT, AirflowHome
from tests.conftest import copy_example

EXAMPLE_DAG = ROOT / "examples" / "airflow" / "jaffle_shop_dag.py"
MODEL_TASKS = ("stg_customers", "stg_orders", "stg_payments", "orders", "customers")

pytestmark = pytest.mark.integration


def test_example_dag_builds_jaffle_shop_per_node_on_dbt_core(
        airflow_home: AirflowHome, tmp_path: Path) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    airflow_home.add_dag(EXAMPLE_DAG)

    outcome = airflow_home.run("jaffle_shop", JAFFLE_SHOP_DIR=str(project))

    assert outcome.report.get("state") == "success", outcome
    assert not outcome.report["import_errors"], outcome
    tasks = {f"jaffle_shop.{name}" for name in MODEL_TASKS}
    assert {t: outcome.states.get(t) for t in tasks} == dict.fromkeys(tasks, "success"), outcome
    assert outcome.states["seed"] == "success"
    # A relationships test between two sibling models runs after both, in a task of its own.
    relationship_tasks = [t for t in outcome.states if "relationships_stg_orders" in t]
    assert relationship_tasks
    assert outcome.states[relationship_tasks[0]] == "success"

    customers = outcome.xcoms["jaffle_shop.customers"]
    assert customers["unique_id"] == "model.jaffle_shop.customers"
    assert customers["status"] == "success"
    assert customers["runtime"] == "core"
    assert customers["execution_time"] > 0
    assert customers["invocation_id"]
    assert customers["file_path"] == "models/marts/customers.sql"
    assert {t["status"] for t in customers["tests"].values()} == {"success"}
    assert any(t.startswith("test.jaffle_shop.unique_customers_customer_id.")
               for t in customers["tests"])
    seed = outcome.xcoms["seed"]
    assert seed["nodes"]["seed.jaffle_shop.raw_orders"]["rows_affected"] == 24

    # One Airflow asset event per model task, with the relation as URI.
    assert ("duckdb://jaffle_shop/main/customers", "jaffle_shop.customers") in outcome.asset_events
    assert {task for _, task in outcome.asset_events} >= tasks
    # ... which queued the example's second DAG, scheduled on the customers asset.
    assert "after_customers" in outcome.queued_dags
    # Each node's outcome is a task-log line as it finishes.
    assert "dbt model model.jaffle_shop.customers: success" in outcome.output
    # The DAG file was parsed twice (the DagBag here, then dag.test()'s bundle sync): the second
    # parse took the cached task plan.
    assert "5 node task(s), built in" in outcome.output
    assert "5 node task(s), cached in" in outcome.output

    with duckdb.connect(str(project / "jaffle_shop.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from customers").fetchone() == (15,)


def test_readme_shows_the_example_dag_file_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Airflow"):]
    block = section[section.index("```python\n") + len("```python\n"):]
    assert block[:block.index("```\n")] == EXAMPLE_DAG.read_text(encoding="utf-8")
