"""Resolve a dbt node selection to model files with dbt itself (``dbt ls --output path``).

Used by the lint only for selections it cannot resolve by itself (graph operators, tags, configs,
``--exclude``, named selectors). dbt runs in-process under the runtime's process-wide lock, from the
project folder, writing to its own target path so no other invocation's artifacts are touched.
"""

from __future__ import annotations

import attrs

from floe_dbt_core.events import CoreCallback
from floe_dbt_core.invoke import _DBT_LOCK, _QUIET
from floe_dbt_core.results import error_from_dbt
from floe_dbt_hooks.errors import FloeDBTError
from floe_dbt_hooks.models import LintRequest
from floe_dbt_hooks.project import DBTProject, ProfileTarget
from floe_dbt_hooks.runtime.events import EventParser
from floe_dbt_hooks.runtime.flags import request_flags
from floe_dbt_hooks.runtime.workdir import run_in_directory


def dbt_list_paths(request: LintRequest, project: DBTProject,
                   profile: ProfileTarget) -> list[str]:
    """Project-relative paths of the models the request's selection names."""
    from dbt.cli.main import dbtRunner

    from floe_dbt_core import atomic_artifacts

    atomic_artifacts.install()
    target_path = project.target_path / "floe" / "lint-select"
    listing = attrs.evolve(request, target_path=target_path)
    flags = request_flags(listing, "ls", project, profile, target_path)
    callback = CoreCallback(EventParser(request.invocation_id, "core", lambda event: None))
    argv = ["ls", "--resource-type", "model", "--output", "path", *flags, *_QUIET]
    with _DBT_LOCK:
        outcome = run_in_directory(project.project_dir,
                                   lambda: dbtRunner(callbacks=[callback]).invoke(argv))
    if not outcome.success or not isinstance(outcome.result, list):
        error = error_from_dbt(outcome.exception, callback.parser.errors(), project.project_file)
        raise _as_lint_error(error)
    return [str(path) for path in outcome.result]


def _as_lint_error(error: FloeDBTError) -> FloeDBTError:
    from floe_dbt_hooks.errors import DBTLintError

    return DBTLintError(
        f"could not resolve the selection with dbt: {error.message}",
        file_path=error.file_path, line=error.line, original_message=error.original_message,
        hint=error.hint or "check the --select/--exclude expression with 'dbt ls'",
    )
