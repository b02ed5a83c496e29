"""``single_invocation`` reports live: a node's report task finishes while the build still runs.

The DAG runs with every task in a process of its own (``run_concurrent.py``), so the invocation
task and the report sensors really run at once on one SQLite metadata database. To make "while
the invocation still runs" a fact rather than a race, the project's ``floe_hooks.py`` holds the
invocation task once its build is done, before it returns its final summary, until the seed's
report task has ended (or 120 s have passed, which fails the test): a report that read the final
``return_value`` could never end in that window; only the live per-node XComs can end it.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from floe_dbt_airflow import DbtReportOperator
from floe_dbt_airflow.live import NodePublisher, node_key

from floe_dbt_hooks.models import FallbackEvent, NodeInfo, RunRequest, RuntimeEvent
from tests.airflow.harness import AirflowHome
from tests.conftest import copy_example

SEED = "seed.jaffle_shop.raw_customers"
MODEL = "model.jaffle_shop.stg_customers"

LIVE_DAG = '''
from datetime import datetime
from airflow.sdk import DAG
from floe_dbt_airflow import DbtProject, DbtTaskGroup

project = DbtProject(project_dir={project!r}, runtime={runtime!r}, fallback=False)
with DAG("live", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    DbtTaskGroup(group_id="dbt", project=project, select="raw_customers stg_customers",
                 exclude="test_name:relationships", mode="single_invocation",
                 report_args={{"poke_interval": 0.5}})
'''

GATE = '''
"""Test gate: hold the invocation task, its build done, until the seed's report task ended."""
import os
import sqlite3
import time

from floe_dbt_hooks import hookimpl


@hookimpl(wrapper=True)
def dbt_run(request):
    result = yield
    database = os.path.join(os.environ["AIRFLOW_HOME"], "airflow.db")
    started = time.monotonic()
    while time.monotonic() - started < 120:
        with sqlite3.connect(database, timeout=30) as db:
            row = db.execute("select state from task_instance where task_id = 'dbt.raw_customers'"
                             ).fetchone()
        if row and row[0] in ("success", "failed"):
            verdict = f"released: dbt.raw_customers {{row[0]}}"
            break
        time.sleep(0.2)
    else:
        verdict = "timed out"
    with open({gate_file!r}, "w") as out:
        out.write(verdict)
    return result
'''

ORPHAN_DAG = '''
from datetime import datetime
from airflow.sdk import DAG
from floe_dbt_airflow import DbtInvocationOperator, DbtProject, DbtReportOperator

project = DbtProject(project_dir={project!r}, runtime="fusion", fallback=False)
with DAG("orphan", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    DbtInvocationOperator(task_id="build", project=project, select="raw_customers")
    DbtReportOperator(task_id="seeded", invocation_task_id="build", unique_id={seed!r},
                      poke_interval=0.5)
    DbtReportOperator(task_id="never_built", invocation_task_id="build", unique_id={model!r},
                      poke_interval=0.5)
'''


def _when(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace(" ", "T"))


@pytest.mark.integration
@pytest.mark.parametrize("runtime", ["fusion", "core"])
def test_report_task_ends_while_the_build_still_runs(airflow_home: AirflowHome, tmp_path: Path,
                                                     runtime: str) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    gate_file = tmp_path / "gate.txt"
    (project / "floe_hooks.py").write_text(GATE.format(gate_file=str(gate_file)))
    airflow_home.add_dag(LIVE_DAG.format(project=str(project), runtime=runtime))

    outcome = airflow_home.run("live", concurrent=True)

    assert outcome.report.get("state") == "success", outcome
    assert outcome.states == {"dbt.dbt_build": "success", "dbt.raw_customers": "success",
                              "dbt.stg_customers": "success"}, outcome
    assert gate_file.read_text() == "released: dbt.raw_customers success", outcome
    # The seed's report ended before the invocation did, from the task instance table.
    seed_end = _when(outcome.windows["dbt.raw_customers"][1])
    build_end = _when(outcome.windows["dbt.dbt_build"][1])
    assert seed_end < build_end, outcome.windows
    assert _when(outcome.windows["dbt.raw_customers"][0]) < build_end
    # One live XCom per node, besides the final summary kept for compatibility.
    keys = airflow_home.xcom_keys("live", "dbt.dbt_build")
    live = [k for k in keys if k.startswith("floe_node.")]
    assert f"floe_node.{SEED}" in live, keys
    assert f"floe_node.{MODEL}" in live, keys
    assert "return_value" in keys
    final = outcome.xcoms["dbt.dbt_build"]
    assert set(final["nodes"]) == {k.removeprefix("floe_node.") for k in live}
    seeded = outcome.xcoms["dbt.raw_customers"]
    assert (seeded["unique_id"], seeded["status"], seeded["runtime"]) == (SEED, "success", runtime)
    staged = outcome.xcoms["dbt.stg_customers"]
    assert staged["status"] == "success"
    assert len(staged["tests"]) == 4, staged  # not_null and unique, two columns each
    assert {t["status"] for t in staged["tests"].values()} == {"success"}
    assert len(live) == 2 + 4


@pytest.mark.integration
def test_report_fails_when_the_build_ended_without_its_node(airflow_home: AirflowHome,
                                                           tmp_path: Path) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    airflow_home.add_dag(ORPHAN_DAG.format(project=str(project), seed=SEED, model=MODEL))

    outcome = airflow_home.run("orphan")  # dag.test(): one task after another

    assert outcome.states == {"build": "success", "seeded": "success",
                              "never_built": "failed"}, outcome
    assert outcome.xcoms["seeded"]["status"] == "success"
    assert f"task build ended (success) without reporting {MODEL}" in outcome.output, outcome
    value = json.dumps(outcome.xcoms["build"])
    assert SEED in value
    assert MODEL not in value


def _finished(unique_id: str, status: str, message: str | None = None) -> RuntimeEvent:
    kind, _, name = unique_id.partition(".")
    return RuntimeEvent(invocation_id="inv-1", runtime="fusion", kind="node_finish",
                        name="NodeFinished", node=NodeInfo(
                            unique_id=unique_id, resource_type=kind, name=name.split(".")[-1],
                            status=status, execution_time=0.25, message=message))  # type: ignore[arg-type]


def test_publisher_pushes_each_node_from_its_own_thread_and_survives_a_failed_push(
        tmp_path: Path) -> None:
    pushed: list[tuple[str, dict[str, Any], str]] = []

    def push(key: str, value: dict[str, Any]) -> None:
        if "broken" in key:
            raise ConnectionError("api server went away")
        pushed.append((key, value, threading.current_thread().name))

    log = logging.getLogger("test-live")
    publisher = NodePublisher(push, command="build", log=log).start()
    publisher.declined(FallbackEvent(runtime="fusion", reason_code="binary-missing",
                                     error_code="FLOE-DBT-E101", message="no binary",
                                     request=RunRequest(project_dir=tmp_path, command="build")))
    publisher.node_finished(_finished(SEED, "success"))
    publisher.node_finished(_finished("model.jaffle_shop.broken", "error", "boom"))
    publisher.node_finished(_finished(MODEL, "error", "Conversion Error"))
    publisher.close()

    assert (publisher.published, publisher.failed) == (2, 1)
    assert [key for key, _, _ in pushed] == [node_key(SEED), node_key(MODEL)]
    assert {thread for _, _, thread in pushed} == {"floe-live-xcom"}
    seed = pushed[0][1]
    assert seed["invocation"] == {"command": "build", "runtime": "fusion", "invocation_id": "inv-1",
                                  "fallback_from": "fusion",
                                  "fallback_reason_code": "binary-missing",
                                  "fallback_reason": "no binary"}
    assert seed["node"] == {"unique_id": SEED, "resource_type": "seed", "name": "raw_customers",
                            "status": "success", "execution_time": 0.25}
    assert pushed[1][1]["node"]["message"] == "Conversion Error"
    json.dumps([value for _, value, _ in pushed])  # XCom values must be plain JSON


@pytest.mark.parametrize(("seen", "decided"), [
    ({}, False),                                                   # nothing yet
    ({MODEL: "success"}, False),                                   # its tests still running
    ({MODEL: "success", "t1": "success"}, False),
    ({MODEL: "success", "t1": "success", "t2": "warn"}, True),     # all known: success
    ({MODEL: "success", "t1": "fail"}, True),                      # a failed test decides at once
    ({MODEL: "error"}, True),                                      # dbt skips its tests
    ({MODEL: "skipped"}, True),
    ({MODEL: "error:"}, False),                                    # no message yet: final decides
])
def test_report_decides_as_soon_as_its_node_and_tests_do(seen: dict[str, str],
                                                         decided: bool) -> None:
    report = DbtReportOperator(task_id="r", invocation_task_id="b", unique_id=MODEL,
                               tests=["t1", "t2"])
    nodes = {}
    for uid, status in seen.items():
        bare = status.rstrip(":")
        nodes[uid] = {"unique_id": uid, "status": bare,
                      **({"message": "dbt said why"} if bare in ("error", "fail")
                         and not status.endswith(":") else {})}
    assert report._decided(nodes) is decided
