"""What a request becomes in dbt Cloud: the body of ``POST jobs/{job_id}/run/``.

The job's own steps are replaced by one dbt command built from the request (``steps_override``):
command, selection, vars and full refresh. Threads and target travel as ``threads_override`` and
``target_name_override``; the configured branch, sha and schema as their overrides. ``cause`` is
required by the API and limited to 255 characters.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from floe_dbt_cloud.settings import CloudSettings
    from floe_dbt_hooks.models import InvocationRequest
    from floe_dbt_hooks.project import DBTProject

MAX_CAUSE = 255
_REFRESHABLE = ("run", "build", "seed")


def dbt_command(command: str, request: InvocationRequest, *, json_logs: bool) -> str:
    """The step's dbt command line, quoted as a shell would read it."""
    words = ["dbt", *(("docs", "generate") if command == "docs" else (command,))]
    if json_logs:
        words += ["--log-format", "json"]
    if request.select:
        words += ["--select", *request.select]
    if request.exclude:
        words += ["--exclude", *request.exclude]
    if request.selector:
        words += ["--selector", request.selector]
    if request.vars:
        words += ["--vars", json.dumps(dict(request.vars), sort_keys=True)]
    if command in _REFRESHABLE and getattr(request, "full_refresh", False):
        words.append("--full-refresh")
    return shlex.join(words)


def cause(command: str, project: DBTProject, request: InvocationRequest) -> str:
    text = f"floe-dbt {command} of {project.name} (invocation {request.invocation_id})"
    return text[:MAX_CAUSE]


def trigger_body(command: str, request: InvocationRequest, project: DBTProject,
                 settings: CloudSettings, timeout: float) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cause": cause(command, project, request),
        "steps_override": [dbt_command(command, request, json_logs=settings.json_logs)],
        "timeout_seconds_override": max(1, int(timeout)),
    }
    optional = {
        "threads_override": request.threads,
        "target_name_override": request.target,
        "schema_override": settings.schema_override,
        "git_branch": settings.git_branch,
        "git_sha": settings.git_sha,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body
