"""A Spark standalone cluster on loopback: one master and two workers, each its own process started
with pyspark's ``bin/spark-class``, so executors run in the workers, not in the test process.

Each process gets its own process group; stopping a worker (the fault test does that mid-run) kills
the java child, not just the wrapper script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.services.processes import (
    LOOPBACK,
    free_port,
    group_alive,
    kill_group,
    port_open,
    spawn,
    wait_until,
)

START_TIMEOUT = 120.0
WORKERS = 2
WORKER_CORES = "3"
WORKER_MEMORY = "3g"
"""Caps, not reservations (the jobs are tiny): each test process's own application holds one core
and 512 MB per worker while the process lives, so two such processes and a CLI run's application
(1 GB executors) fit beside each other."""


@dataclass(frozen=True)
class SparkCluster:
    """How to reach a running cluster and which process groups belong to it."""

    master_url: str
    master_port: int
    master_ui_port: int
    master_pgid: int
    worker_pgids: tuple[int, ...]
    root: str

    def server_side_parameters(self, warehouse: Path, derby_home: Path) -> dict[str, str]:
        """Session settings that put the driver on loopback and the executors in the workers.
        ``derby_home`` keeps each test process's Derby metastore apart (Derby admits one JVM)."""
        return {
            "spark.master": self.master_url,
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={derby_home}",
            "spark.executor.memory": "512m",
            "spark.cores.max": str(WORKERS),
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
        }

    def alive_workers(self) -> int:
        return int(master_state(self).get("aliveworkers", 0))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SparkCluster:
        data = json.loads(text)
        data["worker_pgids"] = tuple(data["worker_pgids"])
        return cls(**data)


def spark_home() -> Path:
    """pyspark's package folder is a Spark distribution: ``bin/spark-class`` and ``jars/``."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def java_available() -> bool:
    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": LOOPBACK,
        "SPARK_LOCAL_DIRS": str(root / "local"), "SPARK_NO_DAEMONIZE": "1",
    }


def start_spark() -> SparkCluster:
    """Start master and workers and wait until both workers registered; the caller owns the
    cluster and must call :func:`stop_spark`."""
    if not java_available():
        raise FileNotFoundError("java not found: run 'python3 scripts/bootstrap.py setup' as root "
                                "(it installs Debian's openjdk-17-jre-headless)")
    root = Path(tempfile.mkdtemp(prefix="floe-spark-"))
    (root / "local").mkdir()
    env = _env(root)
    spark_class = str(spark_home() / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    master = spawn([spark_class, "org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
                    "--port", str(port), "--webui-port", str(ui_port)],
                   log=root / "master.log", env=env, cwd=root)
    workers: list[int] = []
    cluster = SparkCluster(f"spark://{LOOPBACK}:{port}", port, ui_port, master.pid, (), str(root))
    try:
        wait_until(lambda: port_open(ui_port) and port_open(port), timeout=START_TIMEOUT,
                   what=f"Spark master on {LOOPBACK}:{port}", alive=lambda: master.poll() is None)
        workers += [start_worker(cluster, root / f"worker-{index}").pid for index in range(WORKERS)]
        cluster = SparkCluster(cluster.master_url, port, ui_port, master.pid, tuple(workers),
                               str(root))
        wait_until(lambda: _registered(cluster) == WORKERS, timeout=START_TIMEOUT,
                   what=f"{WORKERS} Spark workers registered with {cluster.master_url}")
    except BaseException:
        for pgid in (*workers, master.pid):
            kill_group(pgid)
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster


def start_worker(cluster: SparkCluster, work_dir: Path, port: int = 0) -> subprocess.Popen[bytes]:
    """One more worker process for ``cluster``; the caller stops it (its own process group). The
    master lists it as ``worker-<time>-127.0.0.1-<port>``."""
    work_dir.mkdir(parents=True)
    return spawn(
        [str(spark_home() / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker",
         cluster.master_url, "--host", LOOPBACK, "--port", str(port), "--cores", WORKER_CORES,
         "--memory", WORKER_MEMORY,
         "--webui-port", str(free_port()), "--work-dir", str(work_dir)],
        log=work_dir.with_suffix(".log"), env=_env(Path(cluster.root)), cwd=work_dir,
    )


def master_state(cluster: SparkCluster) -> dict[str, Any]:
    """The master's view (workers, their used cores, applications) from its JSON endpoint."""
    with urllib.request.urlopen(f"http://{LOOPBACK}:{cluster.master_ui_port}/json/",
                                timeout=5) as response:
        state: dict[str, Any] = json.load(response)
    return state


def _registered(cluster: SparkCluster) -> int:
    """Workers the master lists as alive; 0 while its UI is still starting (it may answer with
    an HTML page before the JSON endpoint is up)."""
    try:
        return cluster.alive_workers()
    except (OSError, ValueError):
        return 0


def kill_worker(cluster: SparkCluster, index: int) -> None:
    """SIGKILL one worker's JVM (and its executors), as a crashed machine would vanish."""
    kill_group(cluster.worker_pgids[index], grace=0.0)


def stop_spark(cluster: SparkCluster) -> None:
    for pgid in (*cluster.worker_pgids, cluster.master_pgid):
        if group_alive(pgid):
            kill_group(pgid)
    shutil.rmtree(cluster.root, ignore_errors=True)


def process_session() -> Any:
    """The SparkSession dbt-spark created in this process (getActiveSession is per thread, and
    dbt ran in another one); getOrCreate returns it instead of making a new one."""
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate()
