"""Many invocations of one DuckDB project at once: Fusion builds from threads of one process and
dbt-core builds in other processes. They queue on floe's writer lock; every one succeeds and
leaves its own intact artifacts. (The full 16 + 4 version is ``benchmarks/run.py --only load``.)"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from floe_dbt_hooks import DBTFacade
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project

pytestmark = pytest.mark.integration

FUSION_BUILDS = 4
CORE_PROCESSES = 2
CORE_BUILD = """
import json, sys
from floe_dbt_hooks import DBTFacade
result = DBTFacade(runtime="core", fallback=False).build(sys.argv[1])
print(json.dumps({"success": result.success, "runtime": result.runtime,
                  "invocation_id": result.invocation_id, "nodes": len(result.nodes),
                  "run_results": str(result.run_results_path),
                  "manifest": str(result.manifest_path)}))
"""


def _summary(result: Any) -> dict[str, Any]:
    return {"success": result.success, "runtime": result.runtime,
            "invocation_id": result.invocation_id, "nodes": len(result.nodes),
            "engine_invocation_id": result.metadata.get("engine_invocation_id"),
            "run_results": str(result.run_results_path), "manifest": str(result.manifest_path)}


def _core_build(project: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CORE_BUILD, str(project)], capture_output=True,
                          text=True, timeout=240, check=False,
                          env={**os.environ, "DO_NOT_TRACK": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def test_concurrent_fusion_and_core_builds_all_succeed_with_intact_artifacts(
        tmp_path: Path) -> None:
    assert Path(os.environ.get("FLOE_DBT_FUSION_BIN", "")).is_file(), "needs the real Fusion"
    project = write_project(tmp_path / "contract",
                            {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})
    fusion = DBTFacade(runtime="fusion", fallback=False)
    with concurrent.futures.ThreadPoolExecutor(FUSION_BUILDS + CORE_PROCESSES) as pool:
        core = [pool.submit(_core_build, project) for _ in range(CORE_PROCESSES)]
        builds = [pool.submit(lambda: _summary(fusion.build(project)))
                  for _ in range(FUSION_BUILDS)]
        results = [f.result() for f in [*builds, *core]]

    assert [r["runtime"] for r in results] == ["fusion"] * FUSION_BUILDS + ["core"] * CORE_PROCESSES
    assert len({r["invocation_id"] for r in results}) == len(results)
    for result in results:
        assert result["success"], result
        run_results = json.loads(Path(result["run_results"]).read_text())
        manifest = json.loads(Path(result["manifest"]).read_text())
        assert Path(result["run_results"]).parent.name == result["invocation_id"]
        if result["runtime"] == "fusion":  # dbt-core writes an invocation id of its own
            # Fusion's is floe's, or the trace-derived one while a trace records (an earlier
            # test in this process may have left a tracer provider installed).
            assert run_results["metadata"]["invocation_id"] == result["engine_invocation_id"]
            assert result["engine_invocation_id"] is not None
        statuses = [r["status"] for r in run_results["results"]]
        assert len(statuses) == result["nodes"] > 0
        assert set(statuses) <= {"success", "pass"}, statuses
        assert "model.contract.adults" in manifest["nodes"]
