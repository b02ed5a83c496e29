"""Run one DAG like ``dag.test()``, but every task in a process of its own, at the same time.

``dag.test()`` runs ready tasks one after another in its own process, so a sensor can never watch
a task that is still running. Here its scheduling loop stays (dependencies, trigger rules,
reschedules, the SQLite metadata database) and only the step that runs a task is replaced: it
queues the task instance and starts ``python run_concurrent.py task ...``, which runs that one
task through the Task SDK's in-process supervisor, as a LocalExecutor worker would run it through
its supervisor. The loop sees each task's state in the database as the task process writes it.

Usage: ``python run_concurrent.py dag <dag_id>`` with AIRFLOW_HOME and AIRFLOW__CORE__DAGS_FOLDER
set. Prints one ``RUN_DAG {...}`` JSON line, like run_dag.py, then every task process's output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

TASK_TIMEOUT = 240.0
"""Seconds a task process may take; it and its children are killed after that."""


def _dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"no DAG {dag_id}: {bag.import_errors}")
    return dag


def run_dag(dag_id: str) -> int:
    import airflow.sdk.definitions.dag as dag_module
    from airflow.utils import db
    from airflow.utils.state import TaskInstanceState

    started = time.perf_counter()
    db.initdb()
    dag = _dag(dag_id)
    children: list[tuple[str, subprocess.Popen[str], float]] = []

    def start_task(*, ti: Any, task: Any, run_triggerer: bool = False) -> None:
        ti.set_state(TaskInstanceState.QUEUED)
        argv = [sys.executable, __file__, "task", dag_id, ti.task_id, ti.run_id, str(ti.id),
                str(ti.try_number), str(ti.map_index), str(ti.dag_version_id)]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        children.append((ti.task_id, process, time.monotonic()))

    dag_module._run_task = start_task
    try:
        run = dag.test()
        state = str(run.state)
    finally:
        outputs = [_finish(task_id, process, since) for task_id, process, since in children]
    report = {"state": state, "total_seconds": round(time.perf_counter() - started, 3),
              "task_processes": len(children)}
    print("RUN_DAG " + json.dumps(report), flush=True)
    for output in outputs:
        print(output, flush=True)
    return 0


def _finish(task_id: str, process: subprocess.Popen[str], since: float) -> str:
    left = max(1.0, TASK_TIMEOUT - (time.monotonic() - since))
    try:
        output, _ = process.communicate(timeout=left)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    return f"--- task {task_id} (exit {process.returncode}) ---\n{output}"


def run_task(dag_id: str, task_id: str, run_id: str, ti_id: str, try_number: str,
             map_index: str, dag_version_id: str) -> int:
    from airflow.sdk.api.datamodels._generated import TaskInstance
    from airflow.sdk.execution_time.supervisor import run_task_in_process

    task = _dag(dag_id).get_task(task_id)
    ti = TaskInstance(id=uuid.UUID(ti_id), task_id=task_id, dag_id=dag_id, run_id=run_id,
                      try_number=int(try_number), map_index=int(map_index),
                      dag_version_id=uuid.UUID(dag_version_id))
    result = run_task_in_process(ti=ti, task=task)
    print(f"RUN_TASK {task_id} {result.ti.state}", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    if sys.argv[1] == "dag":
        sys.exit(run_dag(sys.argv[2]))
    sys.exit(run_task(*sys.argv[2:9]))
