"""Flow wall time of examples/jaffle_shop as Prefect tasks: floe_dbt_prefect or prefect-dbt.

    .venv-prefect/bin/python -m benchmarks.prefect_flows floe
    <a venv with prefect-dbt==0.7.25>/bin/python -m benchmarks.prefect_flows prefect-dbt [--concurrency 1]

Each case runs twice on a fresh copy of the project (the first run of a process pays dbt's import),
all on Prefect's local test server; prints one RESULT line per run. Not part of the test suite:
prefect-dbt is installed only where this comparison is made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "jaffle_shop"


def _copy(root: Path, name: str) -> Path:
    return Path(shutil.copytree(EXAMPLE, root / name, ignore=shutil.ignore_patterns(
        "target", "logs", "*.duckdb", "*.duckdb.wal", ".user.yml")))


def _floe(root: Path) -> None:
    from floe_dbt_prefect import DbtProject, dbt_flow

    for runtime in ("core", "fusion"):
        for mode in ("per_wave", "per_node"):
            for rep in range(2):
                project = _copy(root, f"floe-{runtime}-{mode}-{rep}")
                flow = dbt_flow(DbtProject(project_dir=project, runtime=runtime, fallback=False),
                                mode=mode)
                _time(f"floe {runtime} {mode} rep{rep}", flow)


def _prefect_dbt(root: Path, concurrency: int | None) -> None:
    from prefect import flow
    from prefect_dbt import PrefectDbtSettings
    from prefect_dbt.core._orchestrator import ExecutionMode, PrefectDbtOrchestrator

    for mode in ("PER_WAVE", "PER_NODE"):
        for rep in range(2):
            project = _copy(root, f"prefect-dbt-{mode}-{rep}")
            # dbt-duckdb resolves the profile's relative path against the working directory;
            # floe runs dbt there, prefect-dbt where it is started: start it in the project.
            os.chdir(project)
            extra: dict[str, Any] = {"concurrency": concurrency} if concurrency else {}

            def body(project: Path = project, mode: str = mode,
                     extra: dict[str, Any] = extra) -> Any:
                orchestrator = PrefectDbtOrchestrator(
                    settings=PrefectDbtSettings(project_dir=project, profiles_dir=project),
                    execution_mode=getattr(ExecutionMode, mode), **extra)
                return orchestrator.run_build()

            _time(f"prefect-dbt {mode} concurrency={concurrency} rep{rep}", flow(body))


def _time(label: str, flow: Any) -> None:
    started = time.perf_counter()
    state = flow(return_state=True)
    print(f"RESULT {label} {state.type.value} {time.perf_counter() - started:.2f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tool", choices=["floe", "prefect-dbt"])
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        if args.tool == "floe":
            _floe(Path(tmp))
        else:
            _prefect_dbt(Path(tmp), args.concurrency)


if __name__ == "__main__":  # process-pool task runners re-import the main module
    main()
