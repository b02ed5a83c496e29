"""The dbt Fusion runtime: the Rust engine as a subprocess, declining whatever it cannot serve.

Fusion serves a request addressed to it (``--runtime fusion`` or ``plugins.dbt_runtime: fusion``)
when it can. It declines, by calling ``dbt_fallback`` and returning None, when the binary is missing
or too old, when the profile's adapter is unknown to it or its driver is not installed here, or
when it rejects the project while parsing, before any node has executed. The next runtime (dbt-core,
``trylast``) then serves. Once a node has started, a failure is that run's failure: never a fallback.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pluggy

from floe_dbt_fusion.adapters import SUPPORTED, check_adapter, driver_dirs
from floe_dbt_fusion.detection import MIN_VERSION, Detection, FusionBinary, detect
from floe_dbt_fusion.events import Diagnostic, LineBridge
from floe_dbt_hooks import hookimpl
from floe_dbt_hooks.artifacts import load_artifact, node_results_from_run_results
from floe_dbt_hooks.config import FloeConfig
from floe_dbt_hooks.dbt_flags import request_flags
from floe_dbt_hooks.errors import DBTExecutionError
from floe_dbt_hooks.locks import database_lock
from floe_dbt_hooks.models import (
    CompileRequest,
    CompileResult,
    DBTRunResult,
    FallbackEvent,
    InvocationRequest,
    InvocationResult,
    LintRequest,
    LintResult,
    LintViolation,
    RunRequest,
    RuntimeEvent,
    RuntimeInfo,
)
from floe_dbt_hooks.process import EngineProcess
from floe_dbt_hooks.project import (
    DBTProject,
    ProfileTarget,
    invocation_target_path,
    load_profile_target,
    load_project,
    referenced_env_vars,
)
from floe_dbt_hooks.secrets import redact

RUNTIME_NAME = "fusion"
PLUGIN_NAME = "floe_dbt_fusion"
DEFAULT_TIMEOUT = 3600.0
DATABASE_COMMANDS = ("run", "test", "build", "seed", "snapshot", "docs")
_PASSED_ENV = (
    "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY",
    "HTTP_PROXY", "NO_PROXY", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "DBT_ALLOW_EXPERIMENTAL_ADAPTERS",
)
_PASSED_PREFIXES = ("DBT_ENV_SECRET_", "DBT_ENV_CUSTOM_ENV_")
_FIXED = re.compile(r"Fixed (\d+) violation\(s\) in (\S+)")

_Result = TypeVar("_Result", bound=InvocationResult)


class FusionRuntime:
    """Runs the dbt Fusion binary; concurrent invocations run in parallel (own target paths)."""

    def __init__(self) -> None:
        self._config = FloeConfig()
        self._hook: pluggy.HookRelay | None = None
        self._running: dict[str, EngineProcess] = {}
        self._lock = threading.Lock()

    @hookimpl
    def dbt_configure(self, config: FloeConfig, hook: pluggy.HookRelay) -> None:
        self._config = config
        self._hook = hook

    @property
    def _settings(self) -> Mapping[str, Any]:
        return self._config.settings_for("fusion")

    def detect(self) -> Detection:
        """The binary this runtime would use now (cached per binary path and mtime)."""
        return detect(
            self._settings.get("binary"),
            min_version=str(self._settings.get("min_version", MIN_VERSION)),
        )

    @hookimpl
    def dbt_runtime_info(self) -> RuntimeInfo:
        found = self.detect()
        binary = found.binary
        return RuntimeInfo(
            name=RUNTIME_NAME,
            plugin=PLUGIN_NAME,
            version=binary.version if binary else None,
            available=binary is not None,
            reason=None if binary else f"{found.message} ({found.hint})",
            supports_parallel_execution=True,
            supports_sql_linting=True,
            adapters=SUPPORTED,
            details={
                "binary": str(binary.path) if binary else None,
                "found_by": binary.source if binary else None,
                "min_version": str(self._settings.get("min_version", MIN_VERSION)),
                "execution": "subprocess per invocation; DuckDB files are written one "
                             "invocation at a time",
            },
        )

    def cancel(self, invocation_id: str) -> bool:
        """Stop a running invocation (its whole process group); False if it is not running."""
        with self._lock:
            process = self._running.get(invocation_id)
        if process is None:
            return False
        process.cancel()
        return True

    @hookimpl
    def dbt_compile(self, request: CompileRequest) -> CompileResult | None:
        return self._serve(request, "compile", CompileResult)

    @hookimpl
    def dbt_run(self, request: RunRequest) -> DBTRunResult | None:
        return self._serve(request, request.command, DBTRunResult)

    @hookimpl
    def dbt_lint(self, request: LintRequest) -> LintResult | None:
        prepared = self._prepare(request, "lint")
        if prepared is None:
            return None
        binary, project, profile = prepared
        argv = [str(binary.path), "lint", "--log-format", "json",
                *request_flags(request, "lint", project, profile,
                               invocation_target_path(project, request))]
        if request.fix:
            argv.append("--fix")
        bridge, completed = self._execute(request, argv, project, profile, lock=False)
        if completed.returncode != 0:
            rejected = self._rejection(bridge)
            if rejected:
                self._decline(request, "parse-rejected", "FLOE-DBT-E001", rejected)
                return None
            raise self._failure("lint", bridge, completed.stderr)
        violations = tuple(
            LintViolation(
                file_path=d.file_path or "", line=d.line or 0, column=d.column or 0,
                code=d.rule or d.code, message=re.sub(r"\s*\[[A-Z]{2}\d{2}\]\s*$", "", d.text),
                severity="error" if d.severity == "error" else "warning",
                fixable=False, engine_code=d.code,
            )
            for d in bridge.diagnostics if d.file_path
        )
        fixed = [(int(n), path) for n, path in _FIXED.findall(completed.stderr)]
        return LintResult(
            passed=not violations,
            runtime=RUNTIME_NAME,
            invocation_id=request.invocation_id,
            violations=violations,
            files_checked=_lintable_files(project),
            fixed_count=sum(n for n, _ in fixed),
            fixed_files=tuple(path for _, path in fixed),
            elapsed_time=completed.elapsed,
        )

    def _prepare(
        self, request: InvocationRequest, command: str
    ) -> tuple[FusionBinary, DBTProject, ProfileTarget] | None:
        """Decide, before running anything, whether Fusion can serve; decline if not."""
        if self._config.runtime_for(request.runtime) != RUNTIME_NAME:
            return None
        found = self.detect()
        if found.binary is None:
            self._decline(request, found.reason_code or "binary-missing", "FLOE-DBT-E005",
                          found.message or "dbt Fusion not found", hint=found.hint)
            return None
        project = load_project(request.project_dir)
        profile = load_profile_target(project, request.profiles_dir, request.target)
        check = check_adapter(
            profile.adapter_type,
            needs_driver=command in DATABASE_COMMANDS and self._settings.get("check_driver", True),
            extra_driver_dirs=self._driver_paths(),
        )
        if not check.ok:
            self._decline(request, check.reason_code or "adapter-unavailable", "FLOE-DBT-E006",
                          check.message or "adapter unavailable", hint=check.hint)
            return None
        return found.binary, project, profile

    def _driver_paths(self) -> list[str]:
        value = self._settings.get("driver_path", [])
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def _serve(
        self, request: InvocationRequest, command: str, result_cls: type[_Result]
    ) -> _Result | None:
        prepared = self._prepare(request, command)
        if prepared is None:
            return None
        binary, project, profile = prepared
        target_path = invocation_target_path(project, request)
        words = ["compile", "--write-catalog"] if command == "docs" else [command]
        argv = [str(binary.path), *words, "--log-format", "json",
                "--invocation-id", request.invocation_id,
                *request_flags(request, command, project, profile, target_path)]
        bridge, completed = self._execute(
            request, argv, project, profile, lock=command in DATABASE_COMMANDS
        )
        if completed.returncode != 0 and bridge.nodes_started == 0:
            rejected = self._rejection(bridge)
            if rejected:
                self._decline(request, "parse-rejected", "FLOE-DBT-E001", rejected)
                return None
        run_results_file = target_path / "run_results.json"
        manifest_file = target_path / "manifest.json"
        catalog_file = target_path / "catalog.json"
        if not run_results_file.is_file():
            raise self._failure(command, bridge, completed.stderr)
        manifest = load_artifact(manifest_file) if manifest_file.is_file() else None
        nodes = node_results_from_run_results(load_artifact(run_results_file), manifest)
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
            nodes=nodes,
            metadata={
                "fusion_version": binary.version,
                "adapter_type": profile.adapter_type,
                "profile": profile.profile,
                "project_name": project.name,
                "warnings": [d.text for d in bridge.diagnostics if d.severity == "warning"],
            },
        )

    def _execute(
        self, request: InvocationRequest, argv: list[str], project: DBTProject,
        profile: ProfileTarget, *, lock: bool,
    ) -> tuple[LineBridge, Any]:
        bridge = LineBridge(request.invocation_id, RUNTIME_NAME, self._emit)
        timeout = float(request.timeout or self._settings.get("timeout", DEFAULT_TIMEOUT))
        process = EngineProcess(
            argv, cwd=project.project_dir, env=self._child_env(project, profile, Path(argv[0])),
            timeout=timeout, on_line=bridge,
        )
        with self._lock:
            self._running[request.invocation_id] = process
        try:
            with database_lock(profile) if lock else contextlib.nullcontext():
                completed = process.run()
        finally:
            with self._lock:
                self._running.pop(request.invocation_id, None)
        if completed.ended_by != "exit" or completed.returncode < 0:
            how = {
                "timeout": f"timed out after {timeout:.0f}s",
                "cancel": "was cancelled",
            }.get(completed.ended_by, f"was killed by signal {-completed.returncode}")
            raise DBTExecutionError(
                f"dbt Fusion {how} after {bridge.nodes_started} node(s) had started "
                f"({len(bridge.finished)} finished); its artifacts are incomplete and were not "
                "read",
                original_message=redact(completed.stderr[-2000:]) or None,
                hint="raise the timeout (plugins.fusion.timeout or the request's timeout)"
                if completed.ended_by == "timeout" else None,
            )
        return bridge, completed

    def _child_env(self, project: DBTProject, profile: ProfileTarget,
                   binary: Path) -> dict[str, str]:
        """Only what Fusion and the project need: no inherited RUST_BACKTRACE, no DBT_* flags."""
        source = os.environ
        env = {name: source[name] for name in _PASSED_ENV if name in source}
        env.update({k: v for k, v in source.items() if k.startswith(_PASSED_PREFIXES)})
        wanted = set(referenced_env_vars(project, profile)) | {
            str(name) for name in self._settings.get("pass_env", [])
        }
        env.update({name: source[name] for name in wanted if name in source})
        env["PATH"] = os.pathsep.join([str(binary.parent), "/usr/local/bin", "/usr/bin", "/bin"])
        env["DO_NOT_TRACK"] = "1"
        env["RUST_BACKTRACE"] = "0"
        drivers = [str(d) for d in driver_dirs(self._driver_paths(), source) if d.is_dir()]
        if drivers:
            env["ADBC_DRIVER_PATH"] = os.pathsep.join(drivers)
        return env

    def _emit(self, event: RuntimeEvent) -> None:
        if self._hook is not None:
            self._hook.dbt_event(event=event)

    def _rejection(self, bridge: LineBridge) -> list[Diagnostic]:
        """The errors of a project Fusion refused to parse: none tied to a node."""
        errors = bridge.errors()
        return errors if errors and all(d.unique_id is None for d in errors) else []

    def _decline(
        self, request: InvocationRequest, reason_code: str, error_code: str,
        details: str | list[Diagnostic], hint: str | None = None,
    ) -> None:
        if isinstance(details, list):
            message = "dbt Fusion rejected the project while parsing: " + "; ".join(
                f"{d.code} {d.name} at {d.file_path}:{d.line}: {d.text}" if d.file_path
                else f"{d.code} {d.name}: {d.text}" for d in details[:5]
            )
            codes = tuple(dict.fromkeys(d.code for d in details))
            hint = hint or "fix the reported config (dbt-autofix rewrites most older forms) or " \
                "keep this project on --runtime core"
        else:
            message, codes = details, ()
        located = next((d for d in details if d.file_path), None) if isinstance(details, list) \
            else None
        if self._hook is not None:
            self._hook.dbt_fallback(event=FallbackEvent(
                runtime=RUNTIME_NAME, reason_code=reason_code, error_code=error_code,
                message=redact(message), request=request, hint=hint, engine_codes=codes,
                file_path=located.file_path if located else None,
                line=located.line if located else None,
            ))

    def _failure(self, command: str, bridge: LineBridge, stderr: str) -> DBTExecutionError:
        errors = bridge.errors()
        first = errors[0] if errors else None
        detail = "; ".join(f"{d.code}: {d.text}" for d in errors[:5]) or redact(stderr.strip()[-2000:])
        return DBTExecutionError(
            f"dbt Fusion {command} failed without writing results: {detail or 'no output'}",
            file_path=first.file_path if first else None,
            line=first.line if first else None,
            engine_codes=tuple(d.code for d in errors),
        )

    def __repr__(self) -> str:
        return f"<FusionRuntime {RUNTIME_NAME}>"


def _lintable_files(project: DBTProject) -> int:
    return sum(
        1 for root in project.source_paths[:1] if root.is_dir() for _ in root.rglob("*.sql")
    )
