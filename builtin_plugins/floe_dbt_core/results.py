"""Map dbt-core's in-memory results and exceptions onto the framework's models and errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from floe_dbt_hooks.artifacts import normalise_status
from floe_dbt_hooks.errors import (
    DBTCompilationError,
    DBTConfigurationError,
    DBTExecutionError,
    FloeDBTError,
)
from floe_dbt_hooks.models import NodeResult, NodeTiming
from floe_dbt_hooks.secrets import redact

_LINE = re.compile(r"\bline (\d+)\b")
_FILE = re.compile(r"\(([^()\s]+\.(?:sql|yml|yaml|py|csv|md))\)")


def _rows_affected(adapter_response: Any) -> int | None:
    if isinstance(adapter_response, dict):
        value = adapter_response.get("rows_affected")
        return int(value) if value is not None else None
    return None


def node_results(execution: Any, project_dir: Path) -> tuple[NodeResult, ...]:
    """NodeResults from a dbt ``RunExecutionResult``, in dbt's completion order."""
    out: list[NodeResult] = []
    for item in execution.results:
        node = item.node
        status = normalise_status(str(item.status))
        message = redact(item.message) if item.message else None
        out.append(
            NodeResult(
                unique_id=node.unique_id,
                resource_type=str(node.resource_type),
                name=node.name,
                status=status,
                execution_time=float(item.execution_time or 0.0),
                rows_affected=_rows_affected(item.adapter_response),
                failures=item.failures,
                message=message,
                error_message=message if status in ("error", "fail") else None,
                file_path=getattr(node, "original_file_path", None),
                line=_line_of(item.message) if status == "error" else None,
                relation_name=getattr(node, "relation_name", None),
                timing=tuple(
                    NodeTiming(name=t.name, started_at=t.started_at, completed_at=t.completed_at)
                    for t in item.timing
                ),
            )
        )
    return tuple(out)


def _line_of(message: str | None) -> int | None:
    match = _LINE.search(message or "")
    return int(match.group(1)) if match else None


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
    exc: BaseException | None, logged_errors: list[str], default_file: Path | None
) -> FloeDBTError:
    """The FLOE-DBT error for a failed dbtRunner call, keeping dbt's message, file and line."""
    original = str(exc) if exc is not None else "\n".join(logged_errors) or "dbt failed"
    node = getattr(exc, "node", None)
    file_path: str | None = getattr(node, "original_file_path", None)
    if file_path is None:
        match = _FILE.search(original)
        file_path = match.group(1) if match else None
    if file_path is None and default_file is not None and not logged_errors:
        file_path = str(default_file)
    line = getattr(exc, "lineno", None) or _line_of(original)
    first_line = original.strip().splitlines()[0] if original.strip() else original
    cls = _error_class(exc)
    return cls(
        first_line if len(original) > 400 else original.strip(),
        file_path=file_path,
        line=line if isinstance(line, int) else None,
        original_message=original,
        hint=_hint_for(cls),
    )


def _hint_for(cls: type[FloeDBTError]) -> str:
    if cls is DBTCompilationError:
        return "fix the Jinja/SQL or YAML at the file and line shown, then re-run"
    if cls is DBTConfigurationError:
        return "check dbt_project.yml, profiles.yml and the flags you passed"
    return "see dbt's message above; logs/dbt.log in the target or project has the details"
