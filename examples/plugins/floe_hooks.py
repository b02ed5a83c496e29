"""An example floe_hooks.py: copy it next to a project's dbt_project.yml.

It shows both things a project-local plugin can do:

* wrap a hook: every ``dbt_run`` result gets ``over_budget`` in its metadata, True when the run
  took longer than ``FLOE_RUN_BUDGET_SECONDS`` (default 600);
* add a runtime: ``--runtime dbt-cli`` runs dbt-core's command line in a child process instead of
  in-process, for projects that want a fresh process per invocation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from pathlib import Path

import attrs

from floe_dbt_hooks import DBTRunResult, RunRequest, RuntimeInfo, hookimpl
from floe_dbt_hooks.artifacts import load_artifact, node_results_from_run_results
from floe_dbt_hooks.runtime.flags import request_flags
from floe_dbt_hooks.runtime.process import EngineProcess
from floe_dbt_hooks.project import invocation_target_path, load_profile_target, load_project

RUNTIME = "dbt-cli"


@hookimpl(specname="dbt_run", wrapper=True)
def flag_runs_over_budget(request: RunRequest) -> Generator[None, DBTRunResult, DBTRunResult]:
    result = yield
    budget = float(os.environ.get("FLOE_RUN_BUDGET_SECONDS", "600"))
    return attrs.evolve(result, metadata={**result.metadata, "over_budget": result.elapsed_time > budget})


@hookimpl
def dbt_runtime_info() -> RuntimeInfo:
    return RuntimeInfo(name=RUNTIME, plugin="floe_hooks", version="1", available=True)


@hookimpl(specname="dbt_run", tryfirst=True)
def run_with_dbt_cli(request: RunRequest) -> DBTRunResult | None:
    if request.runtime != RUNTIME:
        return None  # not addressed to this runtime: decline silently
    project = load_project(request.project_dir)
    profile = load_profile_target(project, request.profiles_dir, request.target)
    target_path = invocation_target_path(project, request)
    dbt = Path(sys.executable).with_name("dbt")
    argv = [str(dbt), request.command, *request_flags(request, request.command, project, profile, target_path)]
    process = EngineProcess(argv, cwd=project.project_dir, env={**os.environ, "DO_NOT_TRACK": "1"},
                            timeout=request.timeout or 3600, on_line=lambda line: None)
    completed = process.run()
    run_results = target_path / "run_results.json"
    return DBTRunResult(
        success=completed.returncode == 0,
        command=request.command,
        runtime=RUNTIME,
        invocation_id=request.invocation_id,
        project_dir=project.project_dir,
        target=profile.target,
        target_path=target_path,
        run_results_path=run_results,
        manifest_path=target_path / "manifest.json",
        elapsed_time=completed.elapsed,
        nodes=node_results_from_run_results(load_artifact(run_results)),
    )
