"""``kill -9`` of the CLI mid-run on dbt-core and Fusion: the next run works and no artifact is ever
half-written (tests/integration/kill_loop.py; benchmarks/kill_loop.py runs the same loop longer)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.kill_loop import kill_loop, make_project

pytestmark = pytest.mark.integration

ITERATIONS = {"core": 3, "fusion": 12}
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
