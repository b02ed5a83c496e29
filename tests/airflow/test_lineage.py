"""The OpenLineage plugin, active in a real Airflow task, names that task as the dbt runs' parent.

Lineage is switched on through the environment (file transport into the test's folder); the
Airflow OpenLineage provider is not installed here, so run ids are the operators' derived ones.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.harness import AirflowHome
from tests.conftest import copy_example

pytestmark = pytest.mark.integration

DAG_FILE = '''
from datetime import datetime
from airflow.sdk import DAG
from floe_dbt_airflow import DbtBuildOperator, DbtProject, DbtSeedOperator

project = DbtProject(project_dir={project!r}, runtime="core")
with DAG("lineage", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    seed = DbtSeedOperator(task_id="seed", project=project, select="raw_customers")
    # stg_customers and the tests on it alone (the relationships test also needs stg_orders).
    build = DbtBuildOperator(task_id="build", project=project, select="stg_customers",
                             exclude="test_name:relationships")
    seed >> build
'''


def _facet(event: dict[str, Any]) -> tuple[str, str, str, str, str]:
    parent = event["run"]["facets"]["parent"]
    return (parent["job"]["namespace"], parent["job"]["name"], parent["run"]["runId"],
            parent["root"]["job"]["name"], parent["root"]["run"]["runId"])


def test_dbt_runs_hang_under_the_airflow_task_and_dag_run(
        airflow_home: AirflowHome, tmp_path: Path) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    airflow_home.add_dag(DAG_FILE.format(project=str(project)))
    events_file = tmp_path / "lineage.jsonl"

    outcome = airflow_home.run(
        "lineage", OPENLINEAGE__TRANSPORT__TYPE="file",
        OPENLINEAGE__TRANSPORT__LOG_FILE_PATH=str(events_file),
        OPENLINEAGE__TRANSPORT__APPEND="true", AIRFLOW__OPENLINEAGE__NAMESPACE="floe-test")

    assert outcome.report.get("state") == "success", outcome.output[-12000:]
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    invocations = {e["run"]["runId"]: e for e in events
                   if e["job"]["name"] == "dbt-run-jaffle_shop" and e["eventType"] == "START"}
    assert len(invocations) == 2
    by_task = {_facet(e)[1]: (run_id, _facet(e)) for run_id, e in invocations.items()}
    assert set(by_task) == {"lineage.seed", "lineage.build"}
    roots = {facet[3:] for _, facet in by_task.values()}
    assert [root[0] for root in roots] == ["lineage"]
    assert {facet[0] for _, facet in by_task.values()} == {"floe-test"}
    assert by_task["lineage.seed"][1][2] != by_task["lineage.build"][1][2]

    nodes = [e for e in events if e["job"]["name"] != "dbt-run-jaffle_shop"]
    seeded = {e["job"]["name"] for e in nodes if e["run"]["facets"]["parent"]["run"]["runId"]
              == by_task["lineage.seed"][0]}
    built = {e["job"]["name"] for e in nodes if e["run"]["facets"]["parent"]["run"]["runId"]
             == by_task["lineage.build"][0]}
    assert seeded == {"jaffle_shop.main.jaffle_shop.raw_customers.seed"}
    assert any(name.endswith("stg_customers.build.run") for name in built), built
    assert any(".test" in name for name in built), built
    assert {_facet(e)[3:] for e in nodes} == roots


def test_derived_run_ids_are_stable_per_try_and_new_per_retry() -> None:
    from types import SimpleNamespace

    from floe_dbt_airflow.lineage import task_parent_run

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def context(try_number: int, map_index: int = -1) -> dict[str, Any]:
        ti = SimpleNamespace(dag_id="d", task_id="t", try_number=try_number, map_index=map_index)
        return {"ti": ti, "dag_run": SimpleNamespace(logical_date=when, clear_number=0)}

    first, again, retry = (task_parent_run(context(n)) for n in (1, 1, 2))
    assert first is not None
    assert retry is not None
    assert first == again
    assert (first.namespace, first.job_name, first.root_job_name) == ("default", "d.t", "d")
    assert first.run_id != retry.run_id
    assert first.root_run_id == retry.root_run_id
    assert str(uuid.UUID(first.run_id)) == first.run_id
    mapped = [task_parent_run(context(1, i)) for i in (0, 1)]
    assert len({p.run_id for p in mapped if p} | {first.run_id}) == 3
    assert task_parent_run({}) is None
