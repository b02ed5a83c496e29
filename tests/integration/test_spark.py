"""Apache Spark as a real target through dbt-spark's session method: the runtime contract with the
executors in a standalone cluster's two workers, the example through the CLI in local[*] mode and on
the cluster while a worker is killed, and an unreachable master.

dbt-spark's session method keeps one SparkSession (one JVM) per process, so the in-process tests of
one xdist worker share it: each worker has its own Derby home and warehouse (Derby admits one JVM),
and the cluster has room for both workers' applications beside a CLI run's. CLI runs are their own
processes with their own Derby metastore in the project folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from floe_dbt_hooks.plugin.manager import FloePluginManager
from floe_dbt_hooks.testing import CONTRACT_PROJECT, RuntimeContract, write_project
from tests.conftest import RunCLI
from tests.services.fixtures import spark_profile, unique_schema
from tests.services.processes import free_port, kill_group, wait_until
from tests.services.spark import SparkCluster, master_state, process_session, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.spark]

SPARK_CLI_TIMEOUT = 420


class TestCoreSparkClusterContract(RuntimeContract):
    """dbt-core's contract on Spark, the executors in the standalone cluster's workers."""

    runtime = "core"
    universal_fallback = True

    @pytest.fixture
    def spark_schema(self) -> str:
        return unique_schema("contract")

    @pytest.fixture
    def contract_profiles_yml(self, spark_cluster: SparkCluster, spark_schema: str,
                              spark_process_dirs: tuple[Path, Path]) -> str:
        warehouse, derby = spark_process_dirs
        return spark_profile("contract", spark_schema,
                             spark_cluster.server_side_parameters(warehouse, derby))

    @pytest.fixture
    def contract_column(self, spark_schema: str) -> Callable[[str, str], list[Any]]:
        return lambda model, column: [
            row[0] for row in process_session().sql(
                f"select {column} from {spark_schema}.{model}").collect()]

    def test_executors_run_in_both_workers(
        self, pm: FloePluginManager, contract_project: Path, spark_cluster: SparkCluster,
    ) -> None:
        """The session is the cluster's, with an executor in each worker."""
        result = self.run(pm, contract_project, command="seed")
        assert result.success
        assert process_session().sparkContext.master == spark_cluster.master_url
        state = master_state(spark_cluster)
        assert [w["coresused"] >= 1 for w in state["workers"] if w["state"] == "ALIVE"] == [True, True]


def test_local_mode_through_the_cli(tmp_path: Path, floe_dbt: RunCLI) -> None:
    """local[*]: Spark inside the floe-dbt process, no cluster (the example's spark target builds
    this way as it ships; the contract project keeps the test short)."""
    warehouse, schema = tmp_path / "warehouse", unique_schema("local")
    parameters = {"spark.master": "local[*]", "spark.driver.host": "127.0.0.1",
                  "spark.sql.warehouse.dir": str(warehouse), "spark.sql.shuffle.partitions": "2",
                  "spark.ui.enabled": "false"}
    project = write_project(tmp_path / "contract", {
        **CONTRACT_PROJECT, "profiles.yml": spark_profile("contract", schema, parameters)})
    result = floe_dbt("build", "--project-dir", str(project), "--output", "json")
    assert result.code == 0, result
    data = json.loads(result.stdout)
    assert data["node_counts"] == {"success": 6}
    assert data["metadata"]["adapter_type"] == "spark"
    assert (warehouse / f"{schema}.db" / "adults").is_dir()
    assert (project / "metastore_db").is_dir(), "the CLI's own Derby metastore, in the project"


def test_unreachable_master_is_an_error_naming_it(example_project: Path, floe_dbt: RunCLI,
                                                  tmp_path: Path) -> None:
    """A master that does not answer is found by a TCP probe before the SparkSession starts
    (Spark's own client retries for a minute): exit 2, E003 naming it and the profile field."""
    port = free_port()
    master = f"spark://127.0.0.1:{port}"
    started = time.monotonic()
    result = floe_dbt("run", "--project-dir", str(example_project), "-t", "spark", "-s", "stg_orders",
                      env={"FLOE_SPARK_MASTER": master,
                           "FLOE_SPARK_WAREHOUSE": str(tmp_path / "warehouse")})
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.code == 2, result
    assert "FLOE-DBT-E003" in result.stderr, result
    assert f"127.0.0.1:{port}" in result.stderr, result
    assert "server_side_parameters.spark.master" in result.stderr, result
    assert "Traceback" not in output
    assert elapsed < 30, f"took {elapsed:.0f}s"


@pytest.fixture
def extra_worker(spark_cluster: SparkCluster,
                 tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A third worker of this test's own, so killing it leaves the shared cluster whole; yields
    the process and the suffix of its id in the master's list."""
    before = spark_cluster.alive_workers()
    port = free_port()
    worker = start_worker(spark_cluster, tmp_path / "extra-worker", port)
    try:
        wait_until(lambda: spark_cluster.alive_workers() == before + 1, timeout=120,
                   what="the extra worker registered", alive=lambda: worker.poll() is None)
        yield worker, f"-127.0.0.1-{port}"
    finally:
        kill_group(worker.pid, grace=2.0)
        worker.wait(timeout=30)


def _cores_used(spark_cluster: SparkCluster, id_suffix: str) -> int:
    workers = master_state(spark_cluster)["workers"]
    return sum(int(w["coresused"]) for w in workers
               if w["id"].endswith(id_suffix) and w["state"] == "ALIVE")


def test_example_survives_a_worker_killed_mid_run(
    example_project: Path, spark_cluster: SparkCluster,
    extra_worker: tuple[subprocess.Popen[bytes], str], tmp_path: Path,
) -> None:
    """The example built on the cluster by the CLI; the extra worker holding one of its executors
    is killed (SIGKILL, with its executor) while the build runs; Spark reschedules the lost tasks
    on the remaining workers and the build succeeds."""
    worker, id_suffix = extra_worker
    env = {**os.environ, "DO_NOT_TRACK": "1", "FLOE_SPARK_MASTER": spark_cluster.master_url,
           "FLOE_SPARK_WAREHOUSE": str(tmp_path / "warehouse")}
    script = Path(sys.executable).parent / "floe-dbt"
    process = subprocess.Popen(
        [str(script), "build", "--project-dir", str(example_project), "-t", "spark",
         "--output", "json"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _cores_used(spark_cluster, id_suffix) > 0, timeout=180,
                   what="an executor of the build on the extra worker",
                   alive=lambda: process.poll() is None)
        time.sleep(5)
        assert process.poll() is None, "the build was still running when the worker was killed"
        kill_group(worker.pid, grace=0.0)
        stdout, _ = process.communicate(timeout=SPARK_CLI_TIMEOUT)
    finally:
        if process.poll() is None:
            kill_group(process.pid, grace=2.0)
            process.wait()
    assert process.returncode == 0, stdout[-3000:]
    assert json.loads(stdout)["node_counts"] == {"success": 33}
    states = [w["state"] for w in master_state(spark_cluster)["workers"]
              if w["id"].endswith(id_suffix)]
    assert states, "the master knew the extra worker"
    assert "ALIVE" not in states, "the master saw the worker die"
