"""Serve one request on dbt Cloud: trigger the configured job with the request's step, wait,
download and build the same result the local runtimes build.

Once the trigger has been sent nothing here declines: a failure is this invocation's error (the
next runtime would run the models a second time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from floe_dbt_cloud import RUNTIME_NAME, invocation
from floe_dbt_cloud.client import CloudAPIError, CloudAuthError, CloudNotFound
from floe_dbt_cloud.invocation import CANCELLED, ERROR, SUCCESS, LiveRun, StepLogs
from floe_dbt_cloud.steps import trigger_body
from floe_dbt_hooks.errors import DBTConfigurationError, DBTExecutionError
from floe_dbt_hooks.project import (
    PROFILES_FILE,
    DBTProject,
    ProfileTarget,
    load_profile_target,
    resolve_profiles_dir,
)
from floe_dbt_hooks.runtime.events import EventParser
from floe_dbt_hooks.runtime.results import invocation_result, run_results_nodes

if TYPE_CHECKING:
    from floe_dbt_cloud.settings import CloudSettings
    from floe_dbt_hooks.models import InvocationRequest, InvocationResult, RuntimeEvent

_Result = TypeVar("_Result", bound="InvocationResult")


def profile_for(project: DBTProject, request: InvocationRequest) -> ProfileTarget:
    """The local profile when the project has one (a target dbt Cloud would not know is caught
    before a run is spent); otherwise a description from the request alone, since dbt Cloud
    keeps the connection in its environment."""
    directory = resolve_profiles_dir(project.project_dir, request.profiles_dir)
    if (directory / PROFILES_FILE).is_file():
        return load_profile_target(project, request.profiles_dir, request.target)
    return ProfileTarget(
        profiles_file=directory / PROFILES_FILE, profile=project.profile,
        target=request.target or "default", adapter_type="dbt-cloud", targets=(),
        threads=request.threads,
    )


def _trigger(live: LiveRun, settings: CloudSettings, body: dict[str, Any]) -> dict[str, Any]:
    assert settings.job_id is not None
    try:
        return live.client.trigger(settings.job_id, body)
    except CloudNotFound as exc:
        raise invocation.JobNotFound(exc, settings) from None
    except CloudAuthError as exc:
        raise invocation.configuration_error(exc, settings) from None
    except CloudAPIError as exc:
        if exc.status == 400:
            raise DBTConfigurationError(f"dbt Cloud rejected the run of job {settings.job_id}: "
                                        f"{exc}", hint="check the request's flags") from None
        maybe = " (a run may have been queued: check the job in dbt Cloud)" \
            if exc.maybe_processed else ""
        raise DBTExecutionError(f"could not trigger dbt Cloud job {settings.job_id}: {exc}{maybe}",
                                hint="dbt Cloud may be unavailable; try again later") from None


def serve(
    request: InvocationRequest, command: str, result_cls: type[_Result], *,
    project: DBTProject, target_path: Path, settings: CloudSettings, live: LiveRun,
    emit: Callable[[RuntimeEvent], None],
) -> _Result:
    started = time.monotonic()
    profile = profile_for(project, request)
    timeout = float(request.timeout or settings.timeout)
    parser = EventParser(request.invocation_id, RUNTIME_NAME, emit)
    run = _trigger(live, settings, trigger_body(command, request, project, settings, timeout))
    live.run_id = int(run["id"])
    if live.cancelled.is_set():
        invocation.cancel_quietly(live)
    try:
        run = invocation.wait_for_run(live, run, settings, StepLogs(parser), timeout)
        status = int(run.get("status") or 0)
        if status == CANCELLED or run.get("is_cancelled"):
            raise invocation.cancelled_error(run, by_us=live.cancelled.is_set())
        names = ["manifest.json", "run_results.json"] + (["catalog.json"] if command == "docs"
                                                         else [])
        payloads = invocation.download(live.client, run, target_path, names)
    except (CloudAuthError, CloudNotFound) as exc:
        raise DBTExecutionError(
            f"dbt Cloud run {live.run_id} was triggered but could no longer be read: {exc}",
            hint="the token may have been revoked while the run was going") from None
    except CloudAPIError as exc:
        raise DBTExecutionError(f"dbt Cloud run {live.run_id}: {exc}",
                                hint="dbt Cloud was unavailable after the retries; the run "
                                     "itself may still finish there") from None
    run_results = payloads.get("run_results.json") or {}
    nodes = run_results_nodes(run_results, payloads.get("manifest.json"))
    if status == ERROR and not nodes:
        raise invocation.run_failure(run, parser.errors())
    invocation.report_missing_events(parser, nodes, emit, request.invocation_id, RUNTIME_NAME)
    success = status == SUCCESS and all(n.status not in ("error", "fail") for n in nodes)
    return invocation_result(
        result_cls, request=request, command=command, runtime=RUNTIME_NAME, project=project,
        profile=profile, target_path=target_path, success=success,
        elapsed_time=time.monotonic() - started, nodes=nodes,
        metadata={
            "dbt_cloud_account_id": settings.account_id,
            "dbt_cloud_job_id": settings.job_id,
            "dbt_cloud_run_id": live.run_id,
            "dbt_cloud_href": run.get("href"),
            "dbt_cloud_status": run.get("status_humanized") or status,
            "dbt_cloud_requests": live.client.requests,
        },
    )
