"""Running DAGs in a real Airflow 3 and reading the outcome from its metadata database.

Each run is a fresh Python process (``run_dag.py``) with its own ``AIRFLOW_HOME`` (SQLite), the
way a scheduler's task process starts from nothing; the test then opens that SQLite file and
reads the task instances, XComs and asset events Airflow recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RUN_TIMEOUT = 300


@attrs.define
class DagRunOutcome:
    dag_id: str
    returncode: int
    output: str
    report: dict[str, Any]
    states: dict[str, str]
    xcoms: dict[str, Any]
    """``return_value`` XCom per task id."""
    asset_events: list[tuple[str, str]]
    """(asset uri, source task id) per asset event."""
    windows: dict[str, tuple[str | None, str | None]]
    queued_dags: list[str] = attrs.field(factory=list)
    """DAGs an asset event queued to run (``asset_dag_run_queue``: data-aware scheduling)."""

    def __repr__(self) -> str:
        return (f"<dag {self.dag_id} exit {self.returncode} states={self.states}>\n"
                f"{self.output[-6000:]}")


@attrs.define
class AirflowHome:
    """A temporary AIRFLOW_HOME with its own dags folder and SQLite database."""

    root: Path

    @property
    def dags(self) -> Path:
        return self.root / "dags"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            AIRFLOW_HOME=str(self.root), AIRFLOW__CORE__DAGS_FOLDER=str(self.dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__UNIT_TEST_MODE="False",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            DO_NOT_TRACK="1", RUST_BACKTRACE="0",
            PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]),
        )
        env.update(extra)
        return env

    def add_dag(self, source: Path | str, name: str | None = None) -> Path:
        self.dags.mkdir(parents=True, exist_ok=True)
        if isinstance(source, Path):
            return Path(shutil.copy(source, self.dags / (name or source.name)))
        path = self.dags / (name or "dag.py")
        path.write_text(source)
        return path

    def start(self, dag_id: str, *, concurrent: bool = False, **env: str) -> subprocess.Popen[str]:
        """Run the DAG in a fresh process: with ``dag.test()`` (tasks one after another), or with
        ``concurrent`` each task in a process of its own, at once (``run_concurrent.py``)."""
        argv = [str(HERE / "run_concurrent.py"), "dag", dag_id] if concurrent \
            else [str(HERE / "run_dag.py"), dag_id]
        return subprocess.Popen(
            [sys.executable, *argv], env=self.env(**env),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def finish(self, process: subprocess.Popen[str], dag_id: str) -> DagRunOutcome:
        try:
            output, _ = process.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            output, _ = process.communicate()
        report: dict[str, Any] = {}
        for line in output.splitlines():
            if line.startswith("RUN_DAG "):
                report = json.loads(line[len("RUN_DAG "):])
        return read_outcome(self.root / "airflow.db", dag_id, process.returncode, output, report)

    def run(self, dag_id: str, *, concurrent: bool = False, **env: str) -> DagRunOutcome:
        return self.finish(self.start(dag_id, concurrent=concurrent, **env), dag_id)

    def xcom_keys(self, dag_id: str, task_id: str) -> list[str]:
        with sqlite3.connect(self.root / "airflow.db") as db:
            return sorted(row[0] for row in db.execute(
                "select key from xcom where dag_id = ? and task_id = ?", (dag_id, task_id)))


def read_outcome(database: Path, dag_id: str, returncode: int, output: str,
                 report: dict[str, Any]) -> DagRunOutcome:
    states: dict[str, str] = {}
    xcoms: dict[str, Any] = {}
    events: list[tuple[str, str]] = []
    windows: dict[str, tuple[str | None, str | None]] = {}
    queued: list[str] = []
    if database.exists():
        with sqlite3.connect(database) as db:
            for task_id, state, start, end in db.execute(
                    "select task_id, state, start_date, end_date from task_instance "
                    "where dag_id = ?", (dag_id,)):
                states[task_id] = state
                windows[task_id] = (start, end)
            for task_id, value in db.execute(
                    "select task_id, value from xcom where dag_id = ? and key = 'return_value'",
                    (dag_id,)):
                xcoms[task_id] = json.loads(value) if isinstance(value, str | bytes) else value
            events = list(db.execute(
                "select asset.uri, asset_event.source_task_id from asset_event "
                "join asset on asset.id = asset_event.asset_id where asset_event.source_dag_id = ?",
                (dag_id,)))
            queued = [row[0] for row in db.execute("select target_dag_id from asset_dag_run_queue")]
    return DagRunOutcome(dag_id=dag_id, returncode=returncode, output=output, report=report,
                         states=states, xcoms=xcoms, asset_events=events, windows=windows, queued_dags=queued)
