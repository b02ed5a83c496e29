"""The dbt Fusion runtime: the Rust engine as a subprocess, declining whatever it cannot serve.

Fusion serves a request addressed to it (``--runtime fusion`` or ``plugins.dbt_runtime: fusion``)
when it can. It declines, by calling ``dbt_fallback`` and returning None, when the binary is missing
or too old, when the profile's adapter is unknown to it or its driver is not installed here, or
when it rejects the project while parsing, before any node has executed. The next runtime (dbt-core,
``trylast``) then serves. Once a node has started, a failure is that run's failure: never a fallback.

Only this module is imported at plugin discovery; detection and execution load on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from floe_dbt_hooks import hookimpl
from floe_dbt_hooks.config import FloeConfig

if TYPE_CHECKING:
    from floe_dbt_fusion.detection import Detection, FusionBinary
    from floe_dbt_fusion.events import Diagnostic
    from floe_dbt_hooks.models import (
        CompileRequest,
        CompileResult,
        DBTRunResult,
        InvocationRequest,
        InvocationResult,
        LintRequest,
        LintResult,
        RunRequest,
        RuntimeEvent,
        RuntimeInfo,
    )
    from floe_dbt_hooks.project import DBTProject, ProfileTarget
    from floe_dbt_hooks.runtime.process import EngineProcess

RUNTIME_NAME = "fusion"
PLUGIN_NAME = "floe_dbt_fusion"
DEFAULT_TIMEOUT = 3600.0
DATABASE_COMMANDS = ("run", "test", "build", "seed", "snapshot", "docs")
_Result = TypeVar("_Result", bound="InvocationResult")


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

    @property
    def _min_version(self) -> str:
        from floe_dbt_fusion.detection import MIN_VERSION

        return str(self._settings.get("min_version", MIN_VERSION))

    def _driver_paths(self) -> list[str]:
        value = self._settings.get("driver_path", [])
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def detect(self) -> Detection:
        """The binary this runtime would use now (cached per binary path and mtime)."""
        from floe_dbt_fusion.detection import detect

        return detect(self._settings.get("binary"), min_version=self._min_version)

    @hookimpl
    def dbt_runtime_info(self) -> RuntimeInfo:
        from floe_dbt_fusion.adapters import SUPPORTED
        from floe_dbt_hooks.models import RuntimeInfo

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
                "min_version": self._min_version,
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
        from floe_dbt_hooks.models import CompileResult

        return self._serve(request, "compile", CompileResult)

    @hookimpl
    def dbt_run(self, request: RunRequest) -> DBTRunResult | None:
        from floe_dbt_hooks.models import DBTRunResult

        return self._serve(request, request.command, DBTRunResult)

    @hookimpl
    def dbt_lint(self, request: LintRequest) -> LintResult | None:
        """Fusion's ``dbt lint``; with ``fix``, Fusion fixes a scratch copy and only whole, changed
        model files come back (see :mod:`floe_dbt_fusion.shadow_fix`), then the project is linted
        again to report what is left."""
        import attrs

        from floe_dbt_fusion import invocation, shadow_fix

        if not request.fix:
            executed = self._execute(request, "lint")
            if executed is None:
                return None
            project, _profile, _binary, bridge, completed = executed
            return invocation.lint_result(request, project, bridge, completed)
        prepared = self._prepare(request, "lint")
        if prepared is None:
            return None
        _binary, project, _profile = prepared
        before = shadow_fix.snapshot(project)
        with shadow_fix.shadow_project(project) as shadow:
            fixing = attrs.evolve(request, project_dir=shadow, isolate=True, target_path=None)
            executed = self._execute(fixing, "lint")
            if executed is None:
                return None
            _shadow, _profile, _binary, bridge, completed = executed
            fixed = invocation.lint_result(fixing, _shadow, bridge, completed)
            written = shadow_fix.copy_back(project, shadow, before)
        again = self._execute(attrs.evolve(request, fix=False), "lint")
        if again is None:
            return None
        project, _profile, _binary, bridge, completed = again
        remaining = invocation.lint_result(request, project, bridge, completed)
        return attrs.evolve(remaining, fixed_count=fixed.fixed_count, fixed_files=written,
                            elapsed_time=fixed.elapsed_time + remaining.elapsed_time)

    def _serve(
        self, request: InvocationRequest, command: str, result_cls: type[_Result]
    ) -> _Result | None:
        from floe_dbt_fusion import invocation

        executed = self._execute(request, command)
        if executed is None:
            return None
        project, profile, binary, bridge, completed = executed
        return invocation.read_result(result_cls, command, request, project, profile,
                                      binary.version, bridge, completed)

    def _execute(self, request: InvocationRequest, command: str) -> Any:
        """Prepare, run and check for a parse-time rejection; None when Fusion declined."""
        from floe_dbt_fusion import invocation

        prepared = self._prepare(request, command)
        if prepared is None:
            return None
        binary, project, profile = prepared
        from floe_dbt_hooks.project import prepare_target_path

        prepare_target_path(project, request)
        timeout = float(request.timeout or self._settings.get("timeout", DEFAULT_TIMEOUT))

        def track(process: EngineProcess | None) -> None:
            with self._lock:
                if process is None:
                    self._running.pop(request.invocation_id, None)
                else:
                    self._running[request.invocation_id] = process

        bridge, completed = invocation.execute(
            request, invocation.command_argv(binary.path, command, request, project, profile),
            project, profile,
            env=invocation.child_env(project, profile, binary.path, self._settings,
                                     self._driver_paths()),
            timeout=timeout, lock=command in DATABASE_COMMANDS, emit=self._emit, track=track,
        )
        rejected = invocation.rejection(bridge, completed)
        if rejected and command == "lint":
            rejected = invocation.lint_rejection(rejected)
        if rejected:
            self._decline(request, "parse-rejected", "FLOE-DBT-E001", rejected)
            return None
        return project, profile, binary, bridge, completed

    def _prepare(
        self, request: InvocationRequest, command: str
    ) -> tuple[FusionBinary, DBTProject, ProfileTarget] | None:
        """Decide, before running anything, whether Fusion can serve; decline if not."""
        if self._config.runtime_for(request.runtime) != RUNTIME_NAME:
            return None
        from floe_dbt_fusion.adapters import check_adapter
        from floe_dbt_hooks.project import load_profile_target, load_project

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

    def _emit(self, event: RuntimeEvent) -> None:
        if self._hook is not None:
            self._hook.dbt_event(event=event)

    def _decline(
        self, request: InvocationRequest, reason_code: str, error_code: str,
        details: str | list[Diagnostic], hint: str | None = None,
    ) -> None:
        """Report why Fusion will not serve (strict mode raises from here); the caller returns None."""
        from floe_dbt_hooks.models import FallbackEvent
        from floe_dbt_hooks.secrets import redact

        located = None
        if isinstance(details, list):
            message = "dbt Fusion rejected the project while parsing: " + "; ".join(
                f"{d.code} {d.name} at {d.file_path}:{d.line}: {d.text}" if d.file_path
                else f"{d.code} {d.name}: {d.text}" for d in details[:5]
            )
            codes = tuple(dict.fromkeys(d.code for d in details))
            located = next((d for d in details if d.file_path), None)
            hint = hint or ("fix the reported config (dbt-autofix rewrites most older forms) or "
                            "keep this project on --runtime core")
        else:
            message, codes = details, ()
        if self._hook is not None:
            self._hook.dbt_fallback(event=FallbackEvent(
                runtime=RUNTIME_NAME, reason_code=reason_code, error_code=error_code,
                message=redact(message), request=request, hint=hint, engine_codes=codes,
                file_path=located.file_path if located else None,
                line=located.line if located else None,
            ))

    def __repr__(self) -> str:
        return f"<FusionRuntime {RUNTIME_NAME}>"
