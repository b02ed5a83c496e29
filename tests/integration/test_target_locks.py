"""The DuckDB writer lock (floe_dbt_hooks.runtime.locks) applies to DuckDB files only: a server
target never queues behind it, while a DuckDB build of the same project does."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from floe_dbt_hooks.project import load_profile_target, load_project
from tests.conftest import RunCLI
from tests.services.processes import kill_group

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

HOLD_SECONDS = 25.0
HOLDER = """
import fcntl, sys, time
with open(sys.argv[1], "a+b") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_only_duckdb_targets_have_a_database_file(example_project: Path) -> None:
    project = load_project(example_project)
    files = {target: load_profile_target(project, None, target).database_file
             for target in ("dev", "postgres", "spark")}
    assert files == {"dev": example_project / "jaffle_shop.duckdb", "postgres": None, "spark": None}


def test_postgres_build_ignores_a_held_duckdb_lock(example_project: Path, floe_dbt: RunCLI,
                                                   pg_env: dict[str, str]) -> None:
    lock = example_project / ".jaffle_shop.duckdb.floe-lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(HOLD_SECONDS)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        held_at = time.monotonic()
        result = floe_dbt("seed", "--project-dir", str(example_project), "-t", "postgres")
        assert result.code == 0, result
        assert time.monotonic() - held_at < HOLD_SECONDS - 5, "did not wait for DuckDB's lock"
        duckdb_seed = floe_dbt("seed", "--project-dir", str(example_project), "-t", "dev")
        assert duckdb_seed.code == 0, duckdb_seed
        assert time.monotonic() - held_at >= HOLD_SECONDS - 0.5, "DuckDB's build queued on it"
    finally:
        kill_group(holder.pid, grace=1.0)
        holder.wait(timeout=10)
    assert sorted(p.name for p in example_project.glob(".*.floe-lock")) == [lock.name]
