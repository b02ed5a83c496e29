"""The job a run is triggered on when ``plugins.cloud`` names no ``job_id``.

With ``project_id`` and ``environment_id`` configured, the runtime uses one job of its own per
project and environment, the way dagster-dbt keeps an ad-hoc job: it lists the account's jobs
filtered by project and environment (``GET jobs/?project_id=..&environment_id=..``, paged) and takes
the one named ``job_name``; when there is none it creates it (``POST jobs/``). Every run overrides
the job's steps, so the job only lends its environment (connection, dbt version, credentials).

The answer is kept for the life of the process per account, project, environment and name, so a
process lists at most once and creates at most once; a lock keeps concurrent invocations from
creating the job twice.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from floe_dbt_hooks.errors import DBTConfigurationError, DBTExecutionError

if TYPE_CHECKING:
    from floe_dbt_cloud.client import CloudAPIError, CloudClient
    from floe_dbt_cloud.settings import CloudSettings
    from floe_dbt_hooks.errors import FloeDBTError

_Key = tuple[str, int, int, int, str]
_cache: dict[_Key, int] = {}
_lock = threading.Lock()

ACTIVE = 1


def _key(settings: CloudSettings) -> _Key:
    assert settings.account_id is not None
    assert settings.project_id is not None
    assert settings.environment_id is not None
    return (settings.access_url.rstrip("/"), settings.account_id, settings.project_id,
            settings.environment_id, settings.job_name)


def new_job_body(settings: CloudSettings) -> dict[str, Any]:
    """A ``HumanReadableJobDefinitionRequest`` with every field openapi-v2.yaml marks required.

    The job never runs on its own: no schedule, no webhooks, no docs, no lint; its
    ``execute_steps`` are a placeholder that each trigger replaces with ``steps_override``."""
    return {
        "account_id": settings.account_id, "project_id": settings.project_id,
        "environment_id": settings.environment_id, "name": settings.job_name,
        "description": "Runs requests from floe-dbt-hooks; each run overrides its steps.",
        "execute_steps": ["dbt build"], "job_type": "other", "state": ACTIVE,
        "execution": {"timeout_seconds": 0},
        "settings": {"threads": 4, "target_name": "default"},
        "triggers": {"github_webhook": False, "schedule": False, "git_provider_webhook": False,
                     "on_merge": False},
        "generate_docs": False, "run_generate_sources": False, "lifecycle_webhooks": False,
        "run_compare_changes": False, "run_lint": False, "errors_on_lint_failure": False,
    }


def find_job(client: CloudClient, settings: CloudSettings) -> int | None:
    """The id of the active job named ``job_name`` in the project and environment, if any."""
    for job in client.jobs(project_id=settings.project_id,
                           environment_id=settings.environment_id):
        if job.get("name") == settings.job_name and job.get("state", ACTIVE) == ACTIVE:
            return int(job["id"])
    return None


def resolve_job(client: CloudClient, settings: CloudSettings) -> tuple[int, bool]:
    """The job id to trigger, and whether this call created the job.

    A configured ``job_id`` is returned as it is; otherwise the job is found or created once per
    process. Creating is not retried after an answer that may have created it; the next
    invocation lists again and finds it."""
    if settings.job_id is not None:
        return settings.job_id, False
    key = _key(settings)
    with _lock:
        if key in _cache:
            return _cache[key], False
        found = find_job(client, settings)
        created = found is None
        job_id = found if found is not None else client.create_job(new_job_body(settings))
        _cache[key] = job_id
        return job_id, created


def existing_job(client: CloudClient, settings: CloudSettings) -> int | None:
    """The configured, remembered or listed job, never a new one (for reading artifacts)."""
    if settings.job_id is not None:
        return settings.job_id
    key = _key(settings)
    with _lock:
        if key not in _cache:
            found = find_job(client, settings)
            if found is None:
                return None
            _cache[key] = found
        return _cache[key]


def job_error(exc: CloudAPIError, settings: CloudSettings) -> FloeDBTError:
    """What a failure to find or create the job means for the invocation (no run was triggered)."""
    from floe_dbt_cloud.client import CloudAuthError, CloudNotFound
    from floe_dbt_cloud.invocation import configuration_error

    where = (f"project {settings.project_id}, environment {settings.environment_id} of account "
             f"{settings.account_id}")
    if isinstance(exc, CloudAuthError):
        return configuration_error(exc, settings)
    if isinstance(exc, CloudNotFound) or exc.status == 400:
        return DBTConfigurationError(
            f"dbt Cloud would not find or create job {settings.job_name!r} in {where}: {exc}",
            hint="check plugins.cloud.project_id and environment_id (FLOE_DBT_CLOUD_PROJECT_ID, "
                 "FLOE_DBT_CLOUD_ENVIRONMENT_ID), or name an existing job with job_id")
    maybe = " (the job may have been created: the next run finds it)" \
        if exc.maybe_processed else ""
    return DBTExecutionError(
        f"could not find or create job {settings.job_name!r} in {where}: {exc}{maybe}",
        hint="dbt Cloud may be unavailable; no run was triggered, try again later")


def forget_job(settings: CloudSettings) -> None:
    """Drop the remembered job for ``settings`` (it was deleted in dbt Cloud)."""
    with _lock:
        _cache.pop(_key(settings), None)


def forget_jobs() -> None:
    """Drop every remembered job (a job deleted in dbt Cloud, or a test's new account)."""
    with _lock:
        _cache.clear()
