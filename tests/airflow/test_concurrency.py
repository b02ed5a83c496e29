"""Two Airflow task runs at once, in separate processes, on one dbt project and one DuckDB file.

Each process is a scheduler's worth of nothing shared (its own AIRFLOW_HOME and SQLite); one runs
its tasks on dbt-core, the other on Fusion. Every invocation gets its own target folder (its
artifacts never overwrite the other's), and the DuckDB writer lock makes the second writer wait
instead of failing with DuckDB's "could not set lock on file".
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tests.airflow.harness import AirflowHome
from tests.conftest import copy_example

pytestmark = pytest.mark.integration

DAG_FILE = '''
from datetime import datetime
from airflow.sdk import DAG
from floe_dbt_airflow import DbtProject, DbtSeedOperator, DbtTaskGroup

project = DbtProject(project_dir={project!r}, runtime={runtime!r}, fallback=False)
with DAG("concurrent", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    DbtSeedOperator(task_id="seed", project=project) >> DbtTaskGroup(
        group_id="dbt", project=project, select="path:models")
'''


def _when(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace(" ", "T"))


def test_two_dag_runs_in_two_processes_share_one_project(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    homes = {runtime: AirflowHome(tmp_path / f"airflow-{runtime}") for runtime in ("core", "fusion")}
    for runtime, home in homes.items():
        home.add_dag(DAG_FILE.format(project=str(project), runtime=runtime))

    processes = {runtime: home.start("concurrent") for runtime, home in homes.items()}
    outcomes = {runtime: homes[runtime].finish(process, "concurrent")
                for runtime, process in processes.items()}

    for runtime, outcome in outcomes.items():
        assert outcome.report.get("state") == "success", outcome
        assert set(outcome.states.values()) == {"success"}, outcome
        assert {x["runtime"] for x in outcome.xcoms.values()} == {runtime}, outcome.xcoms
    results = [x for o in outcomes.values() for x in o.xcoms.values()]
    invocations = {x["invocation_id"] for x in results}
    run_results = {x["run_results"] for x in results}
    assert len(invocations) == len(results) == len(run_results) == 16  # 2 x (seed, 5 models, 2 tests)
    assert all(Path(p).is_file() for p in run_results)
    # The two runs' dbt tasks overlapped in time: they really ran at once.
    spans = {runtime: (min(_when(s) for s, _ in o.windows.values()),
                       max(_when(e) for _, e in o.windows.values()))
             for runtime, o in outcomes.items()}
    assert spans["core"][0] < spans["fusion"][1], spans
    assert spans["fusion"][0] < spans["core"][1], spans
    with duckdb.connect(str(project / "jaffle_shop.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from customers").fetchone() == (15,)
