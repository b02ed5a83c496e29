"""Run one DAG with ``dag.test()`` in this process (a fresh one per call, started by harness.py).

Usage: ``python run_dag.py <dag_id>`` with AIRFLOW_HOME and AIRFLOW__CORE__DAGS_FOLDER set. Creates
the SQLite metadata database, parses the dags folder, runs the DAG; the caller reads the outcome
from the database. Prints one ``RUN_DAG {...}`` JSON line (import errors, timings).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(dag_id: str) -> int:
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    parse_started = time.perf_counter()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    parsed = time.perf_counter() - parse_started
    report: dict[str, object] = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
                                 "parse_seconds": round(parsed, 3)}
    dag = bag.get_dag(dag_id)
    if dag is None:
        report["error"] = f"no DAG {dag_id}"
        print("RUN_DAG " + json.dumps(report), flush=True)
        return 2
    run = dag.test()
    report.update(state=str(run.state), total_seconds=round(time.perf_counter() - started, 3))
    print("RUN_DAG " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
