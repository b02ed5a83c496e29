"""Per-node tasks of a real Airflow 3 DAG run through the warm dbt-core server
(``DbtProject(plugin_settings={"core": {"server": True}})``): every model task is served by one
server process, with the same task states and results as in-process dbt-core."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from tests.airflow.harness import AirflowHome
from tests.conftest import copy_example

pytestmark = pytest.mark.integration

DAG_FILE = '''
from datetime import datetime
from airflow.sdk import DAG
from floe_dbt_airflow import DbtProject, DbtSeedOperator, DbtTaskGroup

project = DbtProject(project_dir={project!r}, runtime="core",
                     plugin_settings={{"core": {{"server": True}}}})
with DAG("served", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    DbtSeedOperator(task_id="seed", project=project) >> DbtTaskGroup(
        group_id="dbt", project=project, select="path:models", mode="per_node")
'''
MODEL_TASKS = ("stg_customers", "stg_orders", "stg_payments", "orders", "customers")


def _servers(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if entry.name.isdigit() and b"floe_dbt_core.server" in cmdline \
                    and os.fsencode(folder) in cmdline and b") Z" not in (entry / "stat").read_bytes():
                found.append(int(entry.name))
    return found


def test_per_node_tasks_share_one_warm_server(airflow_home: AirflowHome, tmp_path: Path) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    folder = Path(tempfile.mkdtemp(prefix="floe-af-srv-")) / "s"
    airflow_home.add_dag(DAG_FILE.format(project=str(project)))
    try:
        outcome = airflow_home.run("served", FLOE_DBT_SERVER_DIR=str(folder))
        assert outcome.report.get("state") == "success", outcome
        tasks = {f"dbt.{name}" for name in MODEL_TASKS}
        assert {t: outcome.states.get(t) for t in tasks} == dict.fromkeys(tasks, "success")
        assert outcome.xcoms["dbt.customers"]["runtime"] == "core"
        assert "dbt model model.jaffle_shop.customers: success" in outcome.output
        [log] = folder.glob("*.log")
        text = log.read_text()
        pids = set(re.findall(r"^\S+ \S+ (\d+) INFO invocation \S+: ", text, re.MULTILINE))
        served = re.findall(r"INFO invocation \S+: (\w+)", text)
        assert len(pids) == 1, text
        assert len(served) >= len(MODEL_TASKS) + 1, text
    finally:
        for pid in _servers(folder):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _servers(folder) and time.monotonic() < deadline:
            time.sleep(0.1)
        leftovers = _servers(folder)
        shutil.rmtree(folder.parent, ignore_errors=True)
    assert leftovers == []
