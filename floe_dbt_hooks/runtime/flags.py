"""The dbt command-line flags a request stands for; dbt-core and Fusion share this vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

from floe_dbt_hooks.models import FULL_REFRESH_COMMANDS, InvocationRequest, RunRequest
from floe_dbt_hooks.project import DBTProject, ProfileTarget, invocation_log_path


def request_flags(
    request: InvocationRequest,
    command: str,
    project: DBTProject,
    profile: ProfileTarget,
    target_path: Path,
    *,
    engine_target_path: Path | None = None,
) -> list[str]:
    """Project, profile, target path, logs, selection, threads, vars and full-refresh flags.

    ``engine_target_path`` is where the engine is told to write when that is not the invocation's
    own target path (a runtime that copies the artifacts over afterwards); logs still go to the
    invocation's folder."""
    flags = [
        "--project-dir", str(project.project_dir),
        "--profiles-dir", str(profile.profiles_dir),
        "--target", profile.target,
        "--target-path", str(engine_target_path or target_path),
    ]
    log_path = invocation_log_path(request, target_path)
    if log_path is not None:
        flags += ["--log-path", str(log_path)]
    if command != "docs":
        for selection in request.select:
            flags += ["--select", selection]
        for exclusion in request.exclude:
            flags += ["--exclude", exclusion]
        if request.selector:
            flags += ["--selector", request.selector]
    if request.threads is not None:
        flags += ["--threads", str(request.threads)]
    if request.vars:
        flags += ["--vars", json.dumps(dict(request.vars), sort_keys=True)]
    if isinstance(request, RunRequest) and request.full_refresh and command in FULL_REFRESH_COMMANDS:
        flags.append("--full-refresh")
    return flags
