"""One Fusion invocation: its argv and environment, the child process, and reading its results.

Kept apart from the plugin so that discovering plugins never imports any of it: the hooks import
this module on their first call. What only reading the results needs (diagnostics, the artifact
loader, the database lock) is imported once Fusion has started (:func:`_prefetch`), while the
engine runs on the other core, not before it starts.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from floe_dbt_fusion import RUNTIME_NAME
from floe_dbt_fusion.adapters import driver_dirs
from floe_dbt_hooks.builtin.tracing import engine_trace_ids
from floe_dbt_hooks.errors import DBTExecutionError
from floe_dbt_hooks.models import (
    InvocationRequest,
    InvocationResult,
    LintRequest,
    LintResult,
    LintViolation,
    NodeResult,
)
from floe_dbt_hooks.project import (
    DBTProject,
    ProfileTarget,
    invocation_target_path,
    referenced_env_vars,
)
from floe_dbt_hooks.runtime.events import Emit, EventParser
from floe_dbt_hooks.runtime.flags import request_flags
from floe_dbt_hooks.runtime.process import Completed, EngineProcess
from floe_dbt_hooks.runtime.results import (
    event_nodes,
    invocation_result,
    manifest_nodes,
    run_results_nodes,
    write_interrupted_run_results,
)

if TYPE_CHECKING:
    from floe_dbt_fusion.detection import FusionBinary
    from floe_dbt_fusion.diagnostics import Diagnostic

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
                 profile: ProfileTarget, *, partial_parse: bool = False,
                 engine_target_path: Path | None = None) -> list[str]:
    """Fusion's argv for a framework command; ``docs`` is Fusion's ``compile --write-catalog``."""
    words = ["compile", "--write-catalog"] if command == "docs" else [command]
    argv = [str(binary), *words, "--log-format", "json"]
    if partial_parse:
        argv.append("--partial-parse")
    invocation_id, parent_span = engine_trace_ids(request.invocation_id)
    argv += ["--invocation-id", invocation_id]
    if parent_span is not None:
        argv += ["--parent-span-id", parent_span, "--otel-file-name", OTEL_FILE]
    argv += request_flags(request, command, project, profile,
                          invocation_target_path(project, request),
                          engine_target_path=engine_target_path)
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


@attrs.frozen
class Prepared:
    """What Fusion needs to serve a request, found before anything runs."""

    binary: FusionBinary
    project: DBTProject
    profile: ProfileTarget


@attrs.frozen
class Execution:
    """A finished Fusion process: what it said (parsed events) and how it ended."""

    prepared: Prepared
    parser: EventParser
    completed: Completed

    @property
    def interrupted(self) -> bool:
        """Stopped through ``dbt_cancel`` (a signal, an orchestrator): its nodes so far count."""
        return self.completed.ended_by == "cancel"

    @property
    def project(self) -> DBTProject:
        return self.prepared.project


def execute(
    request: InvocationRequest, argv: list[str], prepared: Prepared, *,
    env: dict[str, str], timeout: float, lock: bool, emit: Emit,
    track: Callable[[EngineProcess | None], None],
) -> Execution:
    """Run Fusion to the end; a timeout, cancel or kill is an execution error, never a result."""
    parser = EventParser(request.invocation_id, RUNTIME_NAME, emit)
    process = EngineProcess(argv, cwd=prepared.project.project_dir, env=env, timeout=timeout,
                            on_line=parser.feed_line, on_cancel=parser.stop_requested)
    track(process)
    try:
        if lock:
            from floe_dbt_hooks.runtime.locks import database_lock

            locking: contextlib.AbstractContextManager[Any] = database_lock(prepared.profile)
        else:
            locking = contextlib.nullcontext()
        with locking as held:

            def started(pid: int) -> None:
                if held is not None:
                    held.engine_started(pid)
                _prefetch()

            completed = process.run(on_start=started)
    finally:
        track(None)
    if completed.ended_by == "timeout" or (completed.ended_by == "exit"
                                           and completed.returncode < 0):
        from floe_dbt_fusion.diagnostics import summarize

        how = f"timed out after {timeout:.0f}s" if completed.ended_by == "timeout" \
            else f"was killed by signal {-completed.returncode}"
        raise DBTExecutionError(
            f"dbt Fusion {how} after {parser.nodes_started} node(s) had started "
            f"({len(parser.finished)} finished); its artifacts are incomplete and were not read",
            original_message=summarize([], completed.stderr) or None,
            hint="raise the timeout (plugins.fusion.timeout or the request's timeout)"
            if completed.ended_by == "timeout" else None,
        )
    return Execution(prepared=prepared, parser=parser, completed=completed)


_AFTER_START = ("floe_dbt_fusion.diagnostics", "floe_dbt_hooks.artifacts")


def _prefetch() -> None:
    """Import what reading Fusion's results needs, called as soon as Fusion has started: the
    imports then overlap the engine's run instead of adding to the command's time. Never raises:
    the engine is running and must be waited for."""
    for name in _AFTER_START:
        try:
            __import__(name)
        except ImportError:
            return  # reported where the module is used, after Fusion has been waited for


def rejection(execution: Execution) -> list[Diagnostic]:
    """The errors of a project Fusion refused before any node ran: none tied to a node."""
    if execution.completed.returncode == 0 or execution.parser.nodes_started:
        return []
    from floe_dbt_fusion.diagnostics import errors

    found = errors(execution.parser)
    return found if found and all(d.unique_id is None for d in found) else []


def failure(command: str, execution: Execution) -> DBTExecutionError:
    from floe_dbt_fusion.diagnostics import errors, summarize

    found = errors(execution.parser)
    first = found[0] if found else None
    return DBTExecutionError(
        f"dbt Fusion {command} failed without writing results: "
        f"{summarize(found, execution.completed.stderr) or 'no output'}",
        file_path=first.file_path if first else None,
        line=first.line if first else None,
        engine_codes=tuple(d.code for d in found),
    )


def read_result(
    result_cls: type[_Result], command: str, request: InvocationRequest, execution: Execution,
) -> _Result:
    """The result from Fusion's run_results.json (and manifest.json for node file paths); its
    ``compile`` leaves run_results empty, so compiled nodes come from its node events.

    Fusion's node events carry each node's path as its manifest has it (``node_path`` is the
    ``original_file_path``), so a compile whose events all have one does not decode the manifest
    (~6 ms for 50 models, after Fusion has finished)."""
    from floe_dbt_fusion.diagnostics import diagnostics
    from floe_dbt_hooks.artifacts import load_artifact

    prepared, parser = execution.prepared, execution.parser
    target_path = invocation_target_path(prepared.project, request)
    run_results_file = target_path / "run_results.json"
    manifest_file = target_path / "manifest.json"
    loaded: list[Mapping[str, Any] | None] = []

    def manifest() -> Mapping[str, Any] | None:
        if not loaded:
            loaded.append(load_artifact(manifest_file) if manifest_file.is_file() else None)
        return loaded[0]

    if execution.interrupted:
        nodes = _interrupted_nodes(parser, manifest())
        write_interrupted_run_results(run_results_file, nodes,
                                      invocation_id=request.invocation_id,
                                      elapsed_time=execution.completed.elapsed)
    elif not run_results_file.is_file():
        raise failure(command, execution)
    else:
        run_results = load_artifact(run_results_file)
        if run_results.get("results"):
            nodes = run_results_nodes(run_results, manifest())
        else:
            finished = list(parser.finished.values())
            paths_known = all(node.file_path for node in finished)
            nodes = event_nodes(finished, {} if paths_known else manifest_nodes(manifest()))
    return invocation_result(
        result_cls, request=request, command=command, runtime=RUNTIME_NAME,
        project=prepared.project, profile=prepared.profile, target_path=target_path,
        success=execution.completed.returncode == 0 and not execution.interrupted,
        elapsed_time=execution.completed.elapsed, nodes=nodes,
        interrupted=execution.interrupted, nodes_total=parser.total,
        metadata={
            "fusion_version": prepared.binary.version,
            "engine_invocation_id": parser.engine_invocation_id,
            "warnings": [d.text for d in diagnostics(parser) if d.severity == "warning"],
        },
    )


def _interrupted_nodes(parser: EventParser,
                       manifest: Mapping[str, Any] | None) -> tuple[NodeResult, ...]:
    """What finished before Fusion was asked to stop, as it said; what it reported while shutting
    down (it may call a stopped node a success) is an interrupted error."""
    before = parser.finished_before_stop or frozenset()
    nodes = event_nodes(parser.finished.values(), manifest_nodes(manifest))
    return tuple(
        node if node.unique_id in before else attrs.evolve(
            node, status="error", error_message=_STOPPED, message=_STOPPED)
        for node in nodes
    )


_STOPPED = "interrupted: the invocation was stopped before this node finished"
_LINT_ERROR_CODES = {"dbt0101": "PRS", "dbt1501": "TMP", "dbt1502": "TMP"}
"""Fusion's parse and Jinja errors under SQLFluff's names for the same findings."""


def _in_model_file(diagnostic: Diagnostic) -> bool:
    return bool(diagnostic.file_path and diagnostic.file_path.endswith(".sql"))


def lint_rejection(errors: list[Diagnostic]) -> list[Diagnostic]:
    """For lint, errors inside model files are findings, not a rejected project: only errors
    elsewhere (dbt_project.yml, YAML, profiles) make Fusion decline."""
    return [] if all(_in_model_file(d) for d in errors) else errors


def lint_result(request: LintRequest, execution: Execution) -> LintResult:
    """Fusion's lint findings (SQLFluff-style rule code plus its own dbtNNNN code) as a LintResult.

    A model Fusion cannot render or parse is a finding too (``TMP`` / ``PRS``, as SQLFluff names
    them, with Fusion's code kept); an error that names no model file means the linter could not
    run, a DBTLintError."""
    from floe_dbt_fusion.diagnostics import diagnostics, summarize

    completed = execution.completed
    found = diagnostics(execution.parser)
    unlocated = [d for d in found if d.severity == "error" and not _in_model_file(d)]
    if completed.returncode != 0 and (unlocated or not any(d.severity == "error" for d in found)):
        from floe_dbt_hooks.errors import DBTLintError

        first = unlocated[0] if unlocated else None
        raise DBTLintError(
            "dbt Fusion's lint could not run: "
            + (summarize(unlocated, completed.stderr) or f"exit {completed.returncode}"),
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
        for d in found if d.file_path
    )
    fixed = [(int(n), path) for n, path in _FIXED.findall(completed.stderr)]
    model_root = execution.project.source_paths[0]
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
