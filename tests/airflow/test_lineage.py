"""The OpenLineage plugin, active in a real Airflow task, names that task as the dbt runs' parent.

Lineage is switched on through the environment (file transport into the test's folder), which
switches on Airflow's own OpenLineage provider too (installed in .venv-airflow): its task and DAG
run events land in the same file, so the test compares our parent run ids with the provider's own.
Without the provider the operators derive run ids themselves; a child process that cannot import
the provider checks that fallback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.harness import ROOT, AirflowHome
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


PROVIDER = "providers-openlineage"
"""In the ``producer`` URL of the provider's events."""


def test_dbt_runs_hang_under_the_provider_task_and_dag_run(
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
    airflow = [e for e in events if PROVIDER in e["producer"]]
    ours = [e for e in events if PROVIDER not in e["producer"]]
    # The provider's own events: one run per task instance, under one DAG run.
    task_runs = {e["job"]["name"]: e["run"]["runId"] for e in airflow
                 if e["eventType"] == "START" and e["job"]["name"] != "lineage"}
    assert set(task_runs) == {"lineage.seed", "lineage.build"}, airflow
    dag_runs = {e["run"]["facets"]["parent"]["run"]["runId"] for e in airflow
                if e["job"]["name"] != "lineage"}
    assert len(dag_runs) == 1

    invocations = {e["run"]["runId"]: e for e in ours
                   if e["job"]["name"] == "dbt-run-jaffle_shop" and e["eventType"] == "START"}
    assert len(invocations) == 2
    by_task = {_facet(e)[1]: (run_id, _facet(e)) for run_id, e in invocations.items()}
    assert set(by_task) == {"lineage.seed", "lineage.build"}
    for task, (_, facet) in by_task.items():
        # Our parent is the provider's run of that task instance, our root its DAG run.
        assert facet[0] == "floe-test"
        assert facet[2] == task_runs[task], (task, facet, task_runs)
        assert facet[3:] == ("lineage", *dag_runs)

    nodes = [e for e in ours if e["job"]["name"] != "dbt-run-jaffle_shop"]
    seeded = {e["job"]["name"] for e in nodes if e["run"]["facets"]["parent"]["run"]["runId"]
              == by_task["lineage.seed"][0]}
    built = {e["job"]["name"] for e in nodes if e["run"]["facets"]["parent"]["run"]["runId"]
             == by_task["lineage.build"][0]}
    assert seeded == {"jaffle_shop.main.jaffle_shop.raw_customers.seed"}
    assert any(name.endswith("stg_customers.build.run") for name in built), built
    assert any(".test" in name for name in built), built
    assert {_facet(e)[3:] for e in nodes} == {("lineage", *dag_runs)}


def _context(try_number: int, map_index: int = -1) -> dict[str, Any]:
    from types import SimpleNamespace

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ti = SimpleNamespace(dag_id="d", task_id="t", try_number=try_number, map_index=map_index)
    return {"ti": ti, "dag_run": SimpleNamespace(logical_date=when, clear_number=0)}


WITHOUT_PROVIDER = """
import json, sys
from datetime import datetime, timezone
from types import SimpleNamespace
import attrs
# The provider modules lineage.py reads fail to import, as if the provider were not installed
# (Airflow's own provider discovery still finds the package, so it is not blocked as a whole).
for name in ("airflow.providers.openlineage.conf", "airflow.providers.openlineage.plugins.adapter"):
    sys.modules[name] = None
from floe_dbt_airflow.lineage import task_parent_run

def context(try_number, map_index=-1):
    ti = SimpleNamespace(dag_id="d", task_id="t", try_number=try_number, map_index=map_index)
    run = SimpleNamespace(logical_date=datetime(2026, 1, 1, tzinfo=timezone.utc), clear_number=0)
    return {"ti": ti, "dag_run": run}

print(json.dumps([attrs.asdict(task_parent_run(context(*args)))
                  for args in ((1,), (1,), (2,), (1, 0), (1, 1))]))
"""


def _without_provider() -> list[dict[str, Any]]:
    """task_parent_run's answers in a process where the provider cannot be imported."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", WITHOUT_PROVIDER], capture_output=True, text=True,
                          timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    result: list[dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_run_ids_are_the_providers_when_it_is_installed() -> None:
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
    from floe_dbt_airflow.lineage import task_parent_run

    parent = task_parent_run(_context(3, 2))
    assert parent is not None
    when = _context(1)["dag_run"].logical_date
    assert parent.run_id == OpenLineageAdapter.build_task_instance_run_id(
        dag_id="d", task_id="t", try_number=3, logical_date=when, map_index=2)
    assert parent.root_run_id == OpenLineageAdapter.build_dag_run_id(
        dag_id="d", logical_date=when, clear_number=0)
    derived = _without_provider()
    assert parent.root_run_id != derived[0]["root_run_id"]


def test_derived_run_ids_without_the_provider_are_stable_per_try_and_new_per_retry() -> None:
    first, again, retry, *mapped = _without_provider()
    assert first == again
    assert (first["namespace"], first["job_name"], first["root_job_name"]) == ("default", "d.t", "d")
    assert first["run_id"] != retry["run_id"]
    assert first["root_run_id"] == retry["root_run_id"]
    assert str(uuid.UUID(first["run_id"])) == first["run_id"]
    assert len({p["run_id"] for p in mapped} | {first["run_id"]}) == 3

    from floe_dbt_airflow.lineage import task_parent_run

    assert task_parent_run({}) is None
