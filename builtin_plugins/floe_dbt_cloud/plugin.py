"""The dbt Cloud runtime: a request addressed to ``cloud`` runs as a dbt Cloud job run.

It serves ``dbt_run`` and ``dbt_compile`` by triggering the configured job with the request's
dbt command (Admin API v2), ``dbt_cancel`` by cancelling the run it triggered, and
``dbt_artifact_path`` by downloading a cloud invocation's artifacts. Without a ``job_id`` it runs on a
job of its own per project and environment (:mod:`floe_dbt_cloud.jobs`). Not configured (no account,
no job nor project and environment, or no token) it declines through ``dbt_fallback`` before
anything is sent; once a run is triggered it never declines.

Only this module is imported at plugin discovery; the HTTP client loads on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from floe_dbt_cloud import PLUGIN_NAME, RUNTIME_NAME
from floe_dbt_hooks.plugin.markers import hookimpl
from floe_dbt_hooks.runtime.base import RuntimePlugin
from floe_dbt_hooks.runtime.running import RunningInvocations

if TYPE_CHECKING:
    from floe_dbt_cloud.invocation import LiveRun
    from floe_dbt_cloud.settings import CloudSettings
    from floe_dbt_hooks.models import (
        ArtifactRequest,
        CompileRequest,
        CompileResult,
        DBTRunResult,
        InvocationRequest,
        InvocationResult,
        RunRequest,
        RuntimeInfo,
    )

API_VERSION = "admin-api-v2"
_Result = TypeVar("_Result", bound="InvocationResult")


class CloudRuntime(RuntimePlugin):
    """Runs requests as dbt Cloud job runs; concurrent invocations are separate runs."""

    runtime_name = RUNTIME_NAME

    def __init__(self) -> None:
        super().__init__()
        self._running: RunningInvocations[LiveRun] = RunningInvocations()

    def cloud_settings(self) -> CloudSettings:
        from floe_dbt_cloud.settings import load_settings

        return load_settings(self.settings)

    @hookimpl
    def dbt_runtime_info(self) -> RuntimeInfo:
        from floe_dbt_hooks.errors import FloeDBTError
        from floe_dbt_hooks.models import RuntimeInfo

        try:
            settings = self.cloud_settings()
            missing = settings.missing()
            reason = f"not configured: {', '.join(missing)}" if missing else None
            details = {"access_url": settings.access_url, "account_id": settings.account_id,
                       "job_id": settings.job_id, "project_id": settings.project_id,
                       "environment_id": settings.environment_id, "job_name": settings.job_name,
                       "token_env": settings.token_env,
                       "poll_interval": settings.poll_interval, "timeout": settings.timeout}
        except FloeDBTError as exc:
            reason, details = str(exc), {}
        return RuntimeInfo(
            name=self.runtime_name, plugin=PLUGIN_NAME, version=API_VERSION,
            available=reason is None, reason=reason, supports_parallel_execution=True,
            details={**details, "execution": "dbt Cloud job runs (steps_override per request)"},
        )

    @hookimpl
    def dbt_compile(self, request: CompileRequest) -> CompileResult | None:
        from floe_dbt_hooks.models import CompileResult

        return self._serve(request, "compile", CompileResult)

    @hookimpl
    def dbt_run(self, request: RunRequest) -> DBTRunResult | None:
        from floe_dbt_hooks.models import DBTRunResult

        return self._serve(request, request.command, DBTRunResult)

    @hookimpl
    def dbt_cancel(self, invocation_id: str) -> bool | None:
        """Cancel the dbt Cloud run serving ``invocation_id``: the thread serving it wakes and
        sends the cancel (before the trigger has answered, as soon as the run has an id), so no
        other thread uses a client the invocation may be closing."""
        live = self._running.get(invocation_id)
        if live is None:
            return None
        live.cancelled.set()
        return True

    @hookimpl
    def dbt_artifact_path(self, request: ArtifactRequest) -> Path | None:
        if self.config.runtime_for(request.runtime) != self.runtime_name:
            return None
        from floe_dbt_cloud.artifacts import artifact_path

        settings = self.cloud_settings()
        return artifact_path(request, settings) if not settings.missing() else None

    def _serve(self, request: InvocationRequest, command: str,
               result_cls: type[_Result]) -> _Result | None:
        if not self.addressed(request):
            return None
        settings = self.cloud_settings()
        missing = settings.missing()
        if missing:
            self.decline(
                request, "not-configured", "FLOE-DBT-E003",
                f"dbt Cloud is not configured: missing {', '.join(missing)}",
                hint=f"set plugins.cloud.account_id and job_id (or project_id and "
                     f"environment_id) in floe.yml and the token in ${settings.token_env}",
            )
            return None
        import attrs

        from floe_dbt_cloud.client import CloudAPIError, CloudClient
        from floe_dbt_cloud.invocation import JobNotFound, LiveRun
        from floe_dbt_cloud.jobs import forget_job, job_error, resolve_job
        from floe_dbt_cloud.runner import serve
        from floe_dbt_hooks.project import load_project, prepare_target_path

        project = load_project(request.project_dir)
        with CloudClient(settings) as client:
            for attempt in (1, 2):
                try:
                    job_id, _ = resolve_job(client, settings)
                except CloudAPIError as exc:
                    raise job_error(exc, settings) from None
                with self._running.serving(request.invocation_id,
                                           LiveRun(client=client)) as live:
                    try:
                        return serve(request, command, result_cls, project=project,
                                     target_path=prepare_target_path(project, request),
                                     settings=attrs.evolve(settings, job_id=job_id), live=live,
                                     emit=self.emit)
                    except JobNotFound:
                        if settings.job_id is not None or attempt == 2:
                            raise
                        forget_job(settings)
        raise AssertionError("unreachable: the second attempt returns or raises")
