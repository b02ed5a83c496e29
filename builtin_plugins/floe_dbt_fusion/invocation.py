"""One Fusion invocation: its argv and environment, the child process, and reading its results.

Kept apart from the plugin so that discovering plugins never imports any of it: the hooks import
this module on their first call.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from floe_dbt_fusion.adapters import driver_dirs
from floe_dbt_fusion.events import Diagnostic, LineBridge
from floe_dbt_hooks.artifacts import load_artifact, node_results_from_run_results
from floe_dbt_hooks.builtin.tracing import engine_trace_ids
from floe_dbt_hooks.errors import DBTExecutionError
from floe_dbt_hooks.models import (
    InvocationRequest,
    InvocationResult,
    LintRequest,
    LintResult,
    LintViolation,
    NodeResult,
    RuntimeEvent,
)
from floe_dbt_hooks.project import (
    DBTProject,
    ProfileTarget,
    invocation_target_path,
    referenced_env_vars,
)
from floe_dbt_hooks.runtime.flags import request_flags
from floe_dbt_hooks.runtime.locks import database_lock
from floe_dbt_hooks.runtime.process import Completed, EngineProcess
from floe_dbt_hooks.secrets import redact

RUNTIME_NAME = "fusion"
OTEL_FILE = "otel.jsonl"
"""Where Fusion writes its own spans (under its log path) when our trace is recording."""
_PASSED_ENV = (
    "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY",
    "HTTP_PROXY", "NO_PROXY", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "DBT_ALLOW_EXPERIMENTAL_ADAPTERS",
)
_PASSED_PREFIXES = ("DBT_ENV_SECRET_", "DBT_ENV_CUSTOM_ENV_")
_FIXED = re.compile(r"Fixed (\d+) violation\(s\) in (\S+)")
_RULE_SUFFIX = re.compile(r"\s*\[[A-Z]{2}\d{2}\]\.?\s*$")

_Result = TypeVar("_Result", bound=InvocationResult)


def command_argv(binary: Path, command: str, request: InvocationRequest, project: DBTProject,
                 profile: ProfileTarget) -> list[str]:
    """Fusion's argv for a framework command; ``docs`` is Fusion's ``compile --write-catalog``."""
    words = ["compile", "--write-catalog"] if command == "docs" else [command]
    argv = [str(binary), *words, "--log-format", "json"]
    invocation_id, parent_span = engine_trace_ids(request.invocation_id)
    argv += ["--invocation-id", invocation_id]
    if parent_span is not None:
        argv += ["--parent-span-id", parent_span, "--otel-file-name", OTEL_FILE]
    argv += request_flags(request, command, project, profile,
                          invocation_target_path(project, request))
    if isinstance(request, LintRequest) and request.fix:
        argv.append("--fix")
    return argv


def child_env(project: DBTProject, profile: ProfileTarget, binary: Path,
              settings: Mapping[str, Any], driver_paths: list[str]) -> dict[str, str]:
    """Only what Fusion and the project need: no inherited RUST_BACKTRACE, no DBT_* flags."""
    source = os.environ
    env = {name: source[name] for name in _PASSED_ENV if name in source}
    env.update({k: v for k, v in source.items() if k.startswith(_PASSED_PREFIXES)})
    wanted = set(referenced_env_vars(project, profile)) | {
        str(name) for name in settings.get("pass_env", [])
    }
    env.update({name: source[name] for name in wanted if name in source})
    env["PATH"] = os.pathsep.join([str(binary.parent), "/usr/local/bin", "/usr/bin", "/bin"])
    env["DO_NOT_TRACK"] = "1"
    env["RUST_BACKTRACE"] = "0"
    drivers = [str(d) for d in driver_dirs(driver_paths, source) if d.is_dir()]
    if drivers:
        env["ADBC_DRIVER_PATH"] = os.pathsep.join(drivers)
    return env


def execute(
    request: InvocationRequest, argv: list[str], project: DBTProject, profile: ProfileTarget, *,
    env: dict[str, str], timeout: float, lock: bool, emit: Callable[[RuntimeEvent], None],
    track: Callable[[EngineProcess | None], None],
) -> tuple[LineBridge, Completed]:
    """Run Fusion to the end; a timeout, cancel or kill is an execution error, never a result."""
    bridge = LineBridge(request.invocation_id, RUNTIME_NAME, emit)
    process = EngineProcess(argv, cwd=project.project_dir, env=env, timeout=timeout, on_line=bridge)
    track(process)
    try:
        with database_lock(profile) if lock else contextlib.nullcontext():
            completed = process.run()
    finally:
        track(None)
    if completed.ended_by != "exit" or completed.returncode < 0:
        how = {
            "timeout": f"timed out after {timeout:.0f}s",
            "cancel": "was cancelled",
        }.get(completed.ended_by, f"was killed by signal {-completed.returncode}")
        raise DBTExecutionError(
            f"dbt Fusion {how} after {bridge.nodes_started} node(s) had started "
            f"({len(bridge.finished)} finished); its artifacts are incomplete and were not read",
            original_message=redact(completed.stderr[-2000:]) or None,
            hint="raise the timeout (plugins.fusion.timeout or the request's timeout)"
            if completed.ended_by == "timeout" else None,
        )
    return bridge, completed


def rejection(bridge: LineBridge, completed: Completed) -> list[Diagnostic]:
    """The errors of a project Fusion refused before any node ran: none tied to a node."""
    if completed.returncode == 0 or bridge.nodes_started:
        return []
    errors = bridge.errors()
    return errors if errors and all(d.unique_id is None for d in errors) else []


def failure(command: str, bridge: LineBridge, stderr: str) -> DBTExecutionError:
    errors = bridge.errors()
    first = errors[0] if errors else None
    detail = "; ".join(f"{d.code}: {d.text}" for d in errors[:5]) or redact(stderr.strip()[-2000:])
    return DBTExecutionError(
        f"dbt Fusion {command} failed without writing results: {detail or 'no output'}",
        file_path=first.file_path if first else None,
        line=first.line if first else None,
        engine_codes=tuple(d.code for d in errors),
    )


def read_result(
    result_cls: type[_Result], command: str, request: InvocationRequest, project: DBTProject,
    profile: ProfileTarget, version: str, bridge: LineBridge, completed: Completed,
) -> _Result:
    """The result from Fusion's run_results.json (and manifest.json for node file paths)."""
    target_path = invocation_target_path(project, request)
    run_results_file = target_path / "run_results.json"
    manifest_file = target_path / "manifest.json"
    catalog_file = target_path / "catalog.json"
    if not run_results_file.is_file():
        raise failure(command, bridge, completed.stderr)
    manifest = load_artifact(manifest_file) if manifest_file.is_file() else None
    return result_cls(
        success=completed.returncode == 0,
        command=command,
        runtime=RUNTIME_NAME,
        invocation_id=request.invocation_id,
        project_dir=project.project_dir,
        target=profile.target,
        target_path=target_path,
        manifest_path=manifest_file if manifest is not None else None,
        run_results_path=run_results_file,
        catalog_path=catalog_file if command == "docs" and catalog_file.is_file() else None,
        elapsed_time=completed.elapsed,
        nodes=node_results_from_run_results(load_artifact(run_results_file), manifest)
        or _nodes_from_events(bridge, manifest),
        metadata={
            "fusion_version": version,
            "engine_invocation_id": bridge.engine_invocation_id,
            "adapter_type": profile.adapter_type,
            "profile": profile.profile,
            "project_name": project.name,
            "warnings": [d.text for d in bridge.diagnostics if d.severity == "warning"],
        },
    )


_LINT_ERROR_CODES = {"dbt0101": "PRS", "dbt1501": "TMP", "dbt1502": "TMP"}
"""Fusion's parse and Jinja errors under SQLFluff's names for the same findings."""


def _in_model_file(diagnostic: Diagnostic) -> bool:
    return bool(diagnostic.file_path and diagnostic.file_path.endswith(".sql"))


def lint_rejection(errors: list[Diagnostic]) -> list[Diagnostic]:
    """For lint, errors inside model files are findings, not a rejected project: only errors
    elsewhere (dbt_project.yml, YAML, profiles) make Fusion decline."""
    return [] if all(_in_model_file(d) for d in errors) else errors


def _nodes_from_events(
    bridge: LineBridge, manifest: Mapping[str, Any] | None
) -> tuple[NodeResult, ...]:
    """Fusion's ``compile`` leaves run_results.json empty; its node events say what was compiled."""
    known = (manifest or {}).get("nodes", {})
    return tuple(
        NodeResult(
            unique_id=node.unique_id, resource_type=node.resource_type, name=node.name,
            status=node.status or "success", execution_time=node.execution_time or 0.0,
            file_path=known.get(node.unique_id, {}).get("original_file_path") or node.file_path,
            relation_name=node.relation_name,
        )
        for node in bridge.finished.values()
    )


def lint_result(request: LintRequest, project: DBTProject, bridge: LineBridge,
                completed: Completed) -> LintResult:
    """Fusion's lint findings (SQLFluff-style rule code plus its own dbtNNNN code) as a LintResult.

    A model Fusion cannot render or parse is a finding too (``TMP`` / ``PRS``, as SQLFluff names
    them, with Fusion's code kept); an error that names no model file means the linter could not
    run, a DBTLintError."""
    unlocated = [d for d in bridge.errors() if not _in_model_file(d)]
    if completed.returncode != 0 and (unlocated or not bridge.errors()):
        from floe_dbt_hooks.errors import DBTLintError

        first = unlocated[0] if unlocated else None
        raise DBTLintError(
            "dbt Fusion's lint could not run: " + (
                "; ".join(f"{d.code}: {d.text}" for d in unlocated[:5])
                or redact(completed.stderr.strip()[-2000:]) or f"exit {completed.returncode}"),
            file_path=first.file_path if first else None, line=first.line if first else None,
            engine_codes=tuple(d.code for d in unlocated),
        )
    violations = tuple(
        LintViolation(
            file_path=d.file_path or "", line=d.line or 0, column=d.column or 0,
            code=d.rule or _LINT_ERROR_CODES.get(d.code, d.code),
            message=_RULE_SUFFIX.sub("", d.text),
            severity="error" if d.severity == "error" else "warning",
            fixable=False, engine_code=d.code,
        )
        for d in bridge.diagnostics if d.file_path
    )
    fixed = [(int(n), path) for n, path in _FIXED.findall(completed.stderr)]
    model_root = project.source_paths[0]
    return LintResult(
        passed=not violations,
        runtime=RUNTIME_NAME,
        invocation_id=request.invocation_id,
        violations=violations,
        files_checked=sum(1 for _ in model_root.rglob("*.sql")) if model_root.is_dir() else 0,
        fixed_count=sum(n for n, _ in fixed),
        fixed_files=tuple(path for _, path in fixed),
        elapsed_time=completed.elapsed,
    )
