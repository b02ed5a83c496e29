"""``kill -9`` of the CLI mid-run on dbt-core and Fusion: the next run works and no artifact is ever
half-written (tests/integration/kill_loop.py; benchmarks/kill_loop.py runs the same loop longer)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.kill_loop import (
    cli_argv,
    kill_loop,
    make_project,
    project_processes,
    run_to_end,
)

pytestmark = pytest.mark.integration

ITERATIONS = {"core": 3, "fusion": 10}
"""Kills per runtime, each followed by a run to the end: about 30 s on dbt-core, 20 s on Fusion
(2 cores); benchmarks/kill_loop.py runs more."""


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_kill_9_at_random_points_leaves_complete_artifacts(tmp_path: Path, runtime: str) -> None:
    if runtime == "fusion" and not os.environ.get("FLOE_DBT_FUSION_BIN"):
        pytest.fail("FLOE_DBT_FUSION_BIN is not set (scripts/bootstrap.py installs Fusion)")
    project = make_project(tmp_path / "contract")
    report = kill_loop(project, runtime, ITERATIONS[runtime], seed=14)
    assert report.iterations == ITERATIONS[runtime]
    assert report.killed_before_end >= ITERATIONS[runtime] // 2, report


SLOW_MODEL = (
    "{{ config(materialized='table') }}\n"
    "select count(*) as n from range(3000000) a, range(3000000) b\n"
    "where (a.range * 31 + b.range) % 1000003 = 7\n"
)
"""Runs far longer than any test: only a stop ends it."""


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_kill_9_during_a_long_query_frees_the_database(tmp_path: Path, runtime: str) -> None:
    """The engine stops with its parent (Fusion: the parent-death signal), so the next run gets
    the DuckDB file at once instead of DuckDB's lock error."""
    if runtime == "fusion" and not os.environ.get("FLOE_DBT_FUSION_BIN"):
        pytest.fail("FLOE_DBT_FUSION_BIN is not set (scripts/bootstrap.py installs Fusion)")
    project = make_project(tmp_path / "contract")
    (project / "models" / "slow.sql").write_text(SLOW_MODEL, encoding="utf-8")
    argv = [*cli_argv(project, runtime), "-s", "people slow"]
    process = subprocess.Popen(argv, cwd=project, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env={**os.environ, "DO_NOT_TRACK": "1"})
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "START model slow" in line:
                break
        else:
            raise AssertionError(f"the run ended before the slow model: {process.wait()}")
        time.sleep(1.0)
        engines = [pid for pid in project_processes(project) if pid != process.pid]
        assert len(engines) == (1 if runtime == "fusion" else 0), engines
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        started = time.monotonic()
        while project_processes(project) and time.monotonic() - started < 30:
            time.sleep(0.05)
        assert not project_processes(project), "the engine outlived its parent by 30 s"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in project_processes(project):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    after = run_to_end(project, runtime, "-s", "people")
    assert after.returncode == 0, after.stderr[-3000:]
