"""Map dbt-core's in-memory results and exceptions onto the framework's models and errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from floe_dbt_hooks.errors import (
    DBTCompilationError,
    DBTConfigurationError,
    DBTExecutionError,
    FloeDBTError,
)
from floe_dbt_hooks.project import ProfileTarget
from floe_dbt_hooks.runtime.results import line_of

_FILE = re.compile(r"\(([^()\s]+\.(?:sql|yml|yaml|py|csv|md))\)")


def run_result_entries(execution: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """A dbt ``RunExecutionResult`` as run_results.json entries plus the manifest facts of their
    nodes, the form the shared result builder takes from every runtime."""
    entries: list[dict[str, Any]] = []
    nodes: dict[str, dict[str, Any]] = {}
    for item in execution.results:
        node = item.node
        entries.append({
            "unique_id": node.unique_id,
            "status": str(item.status),
            "message": item.message,
            "execution_time": item.execution_time,
            "adapter_response": item.adapter_response,
            "failures": item.failures,
            "timing": [{"name": t.name, "started_at": t.started_at,
                        "completed_at": t.completed_at} for t in item.timing],
        })
        nodes[node.unique_id] = {
            "resource_type": str(node.resource_type),
            "name": node.name,
            "original_file_path": getattr(node, "original_file_path", None),
            "relation_name": getattr(node, "relation_name", None),
        }
    return entries, nodes


def _error_class(exc: BaseException | None) -> type[FloeDBTError]:
    names = {cls.__name__ for cls in type(exc).__mro__} if exc is not None else set()
    if names & {"DbtProjectError", "DbtProfileError", "DbtConfigError", "DbtUsageException",
                "DbtEnvironmentError", "FailedToConnectError"}:
        return DBTConfigurationError
    if names & {"CompilationError", "ParsingError", "JinjaRenderingError", "UndefinedMacroError",
                "DbtValidationError"}:
        return DBTCompilationError
    return DBTExecutionError


def error_from_dbt(
    exc: BaseException | None, logged_errors: list[str], default_file: Path | None,
    profile: ProfileTarget | None = None, *, selector: str | None = None,
) -> FloeDBTError:
    """The FLOE-DBT error for a failed dbtRunner call, keeping dbt's message, file and line; a
    failure to connect names the target's host:port and the profile field to fix."""
    original = str(exc) if exc is not None else "\n".join(logged_errors) or "dbt failed"
    if profile is not None:
        from floe_dbt_core.connection_errors import describe_connection_failure, rendered_output

        described = describe_connection_failure(
            "\n".join([original, *logged_errors]), rendered_output(profile))
        if described is not None:
            return DBTConfigurationError(described[0], file_path=str(profile.profiles_file),
                                         original_message=original, hint=described[1])
    node = getattr(exc, "node", None)
    file_path: str | None = getattr(node, "original_file_path", None)
    if file_path is None:
        match = _FILE.search(original)
        file_path = match.group(1) if match else None
    in_selectors = file_path is None and _selectors_failed(exc, original, selector)
    if in_selectors and default_file is not None:
        file_path = str(default_file.with_name("selectors.yml"))
    if file_path is None and default_file is not None and not logged_errors:
        file_path = str(default_file)
    line = getattr(exc, "lineno", None) or line_of(original)
    first_line = original.strip().splitlines()[0] if original.strip() else original
    cls = DBTConfigurationError if in_selectors else _error_class(exc)
    return cls(
        first_line if len(original) > 400 else original.strip(),
        file_path=file_path,
        line=line if isinstance(line, int) else None,
        original_message=original,
        hint=f"check the definition of selector '{selector}' in selectors.yml (methods and "
        "values are strings)" if in_selectors and selector else _hint_for(cls),
    )


_SELECTOR_TEXT = re.compile(r"selector file|selector named|root-level selector definitions")


def _selectors_failed(exc: BaseException | None, original: str, selector: str | None) -> bool:
    """Whether dbt failed on selectors.yml: reading it (its YAML errors name no file, and were
    reported against dbt_project.yml), or applying the named selector a run asked for (dbt 1.11
    raises AttributeError on a definition whose value is not a string)."""
    trace = exc.__traceback__ if exc is not None else None
    while trace is not None:
        source = trace.tb_frame.f_code.co_filename.replace("\\", "/")
        if source.endswith("/dbt/config/selectors.py") or (
                selector and "/dbt/graph/selector" in source):
            return True
        trace = trace.tb_next
    return _SELECTOR_TEXT.search(original) is not None


def _hint_for(cls: type[FloeDBTError]) -> str:
    if cls is DBTCompilationError:
        return "fix the Jinja/SQL or YAML at the file and line shown, then re-run"
    if cls is DBTConfigurationError:
        return "check dbt_project.yml, profiles.yml and the flags you passed"
    return "see dbt's message above; logs/dbt.log in the target or project has the details"
