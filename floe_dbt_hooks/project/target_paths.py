"""Where an invocation's artifacts and logs go, and pruning of old isolated invocation folders.

Kept apart from project loading: loading reads what the user wrote; this decides the on-disk layout
the framework creates under ``<target-path>`` (``target/floe/<invocation_id>/`` for isolated runs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from floe_dbt_hooks.models import InvocationRequest
    from floe_dbt_hooks.project.loading import DBTProject


def invocation_target_path(project: DBTProject, request: InvocationRequest) -> Path:
    """Where an invocation writes artifacts: the request's path, its own isolated folder under
    ``<target-path>/floe/<invocation_id>``, or the project's target path."""
    if request.target_path is not None:
        path = request.target_path
        return path if path.is_absolute() else project.project_dir / path
    if request.isolate:
        return project.target_path / "floe" / request.invocation_id
    return project.target_path


def invocation_log_path(request: InvocationRequest, target_path: Path) -> Path | None:
    """Where an invocation writes logs: beside its own artifacts when it has its own target path,
    else None (the engine's default, ``<project>/logs``, as dbt users expect)."""
    if request.isolate or request.target_path is not None:
        return target_path
    return None


KEEP_INVOCATIONS = 50
"""Isolated invocation folders kept per project: older ones beyond this many are removed..."""
KEEP_SECONDS = 3600
"""...but never one younger than this, so a concurrent reader never loses its artifacts."""


def prepare_target_path(project: DBTProject, request: InvocationRequest) -> Path:
    """Create the invocation's target path; for isolated invocations, first remove the oldest
    ``target/floe/<invocation_id>`` folders beyond :data:`KEEP_INVOCATIONS`. Either way, atomic-write
    temporaries older than :data:`KEEP_SECONDS` that a killed writer left in the project's target
    folder or the invocation's are removed."""
    from floe_dbt_hooks.fsutil import sweep_atomic_temporaries

    path = invocation_target_path(project, request)
    if request.isolate and request.target_path is None:
        _prune_invocations(path.parent)
    for folder in {project.target_path, path}:
        sweep_atomic_temporaries(folder, KEEP_SECONDS)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _prune_invocations(folder: Path) -> None:
    import shutil
    import time
    import uuid

    def is_invocation(entry: os.DirEntry[str]) -> bool:
        try:
            uuid.UUID(entry.name)
        except ValueError:
            return False
        return entry.is_dir(follow_symlinks=False)

    try:
        with os.scandir(folder) as entries:
            found = sorted(((e.stat().st_mtime, e.path) for e in entries if is_invocation(e)),
                           reverse=True)
    except OSError:
        return
    cutoff = time.time() - KEEP_SECONDS
    for mtime, path in found[KEEP_INVOCATIONS:]:
        if mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)
