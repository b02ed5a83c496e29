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
import pluggy

from floe_dbt_hooks import DBTRunResult, RunRequest, RuntimeInfo, hookimpl
from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.config import FloeConfig
from floe_dbt_hooks.project import load_profile_target, load_project, prepare_target_path
from floe_dbt_hooks.runtime.base import addressed_to
from floe_dbt_hooks.runtime.events import EventParser
from floe_dbt_hooks.runtime.flags import request_flags
from floe_dbt_hooks.runtime.process import EngineProcess
from floe_dbt_hooks.runtime.results import invocation_result, run_results_nodes

RUNTIME = "dbt-cli"
_configured: dict[str, object] = {"config": FloeConfig(), "hook": None}


@hookimpl
def dbt_configure(config: FloeConfig, hook: pluggy.HookRelay) -> None:
    _configured.update(config=config, hook=hook)


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
    config = _configured["config"]
    assert isinstance(config, FloeConfig)
    if not addressed_to(RUNTIME, request, config):
        return None  # not addressed to this runtime (--runtime, FLOE_DBT_RUNTIME, floe.yml): decline
    hook = _configured["hook"]
    project = load_project(request.project_dir)
    profile = load_profile_target(project, request.profiles_dir, request.target)
    target_path = prepare_target_path(project, request)
    dbt = Path(sys.executable).with_name("dbt")
    argv = [str(dbt), request.command, "--log-format", "json",
            *request_flags(request, request.command, project, profile, target_path)]
    events = EventParser(request.invocation_id, RUNTIME,
                         emit=lambda event: hook.dbt_event(event=event) if hook else None)
    process = EngineProcess(argv, cwd=project.project_dir, env={**os.environ, "DO_NOT_TRACK": "1"},
                            timeout=request.timeout or 3600, on_line=events.feed_line)
    completed = process.run()
    run_results = target_path / "run_results.json"
    manifest = target_path / "manifest.json"
    return invocation_result(
        DBTRunResult, request=request, command=request.command, runtime=RUNTIME, project=project,
        profile=profile, target_path=target_path, success=completed.returncode == 0,
        elapsed_time=completed.elapsed,
        nodes=run_results_nodes(load_artifact(run_results),
                                load_artifact(manifest) if manifest.is_file() else None),
        metadata={"warnings": events.warnings()},
    )
