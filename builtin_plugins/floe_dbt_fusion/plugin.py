"""The dbt Fusion runtime: the Rust engine as a subprocess, declining whatever it cannot serve.

Fusion serves a request addressed to it (``--runtime fusion`` or ``plugins.dbt_runtime: fusion``)
when it can. It declines, by calling ``dbt_fallback`` and returning None, when the binary is missing
or too old, when the profile's adapter is unknown to it or its driver is not installed here, or
when it rejects the project while parsing, before any node has executed. The next runtime (dbt-core,
``trylast``) then serves. Once a node has started, a failure is that run's failure: never a fallback.

Only this module is imported at plugin discovery; detection and execution load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from floe_dbt_fusion import PLUGIN_NAME, RUNTIME_NAME
from floe_dbt_hooks.plugin.markers import hookimpl
from floe_dbt_hooks.runtime.base import RuntimePlugin
from floe_dbt_hooks.runtime.running import RunningInvocations

if TYPE_CHECKING:
    from floe_dbt_fusion.detection import Detection
    from floe_dbt_fusion.diagnostics import Diagnostic
    from floe_dbt_fusion.invocation import Execution, Prepared
    from floe_dbt_hooks.models import (
        CompileRequest,
        CompileResult,
        DBTRunResult,
        InvocationRequest,
        InvocationResult,
        LintRequest,
        LintResult,
        RunRequest,
        RuntimeInfo,
    )
    from floe_dbt_hooks.runtime.process import EngineProcess

DEFAULT_TIMEOUT = 3600.0
_Result = TypeVar("_Result", bound="InvocationResult")


class FusionRuntime(RuntimePlugin):
    """Runs the dbt Fusion binary; concurrent invocations run in parallel (own target paths)."""

    runtime_name = RUNTIME_NAME

    def __init__(self) -> None:
        super().__init__()
        self._running: RunningInvocations[EngineProcess] = RunningInvocations()

    @property
    def _min_version(self) -> str:
        from floe_dbt_fusion.detection import MIN_VERSION

        return str(self.settings.get("min_version", MIN_VERSION))

    def _driver_paths(self) -> list[str]:
        value = self.settings.get("driver_path", [])
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def detect(self) -> Detection:
        """The binary this runtime would use now (cached per binary path and mtime)."""
        from floe_dbt_fusion.detection import detect

        return detect(self.settings.get("binary"), min_version=self._min_version)

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

    @hookimpl
    def dbt_cancel(self, invocation_id: str) -> bool | None:
        """Stop a running invocation (its whole process group); None if it is not running here."""
        process = self._running.get(invocation_id)
        if process is None:
            return None
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

        prepared = self._prepare(request, "lint")
        if prepared is None:
            return None
        if not request.fix:
            executed = self._execute(request, "lint", prepared)
            return None if executed is None else invocation.lint_result(request, executed)
        before = shadow_fix.snapshot(prepared.project)
        with shadow_fix.shadow_project(prepared.project) as shadow:
            fixing = attrs.evolve(request, project_dir=shadow, isolate=True, target_path=None)
            fixing_prepared = self._prepare(fixing, "lint")
            executed = None if fixing_prepared is None else self._execute(
                fixing, "lint", fixing_prepared)
            if executed is None:
                return None
            fixed = invocation.lint_result(fixing, executed)
            written = shadow_fix.copy_back(prepared.project, shadow, before)
        again = self._execute(attrs.evolve(request, fix=False), "lint", prepared)
        if again is None:
            return None
        remaining = invocation.lint_result(request, again)
        return attrs.evolve(remaining, fixed_count=fixed.fixed_count, fixed_files=written,
                            elapsed_time=fixed.elapsed_time + remaining.elapsed_time)

    def _serve(
        self, request: InvocationRequest, command: str, result_cls: type[_Result]
    ) -> _Result | None:
        from floe_dbt_fusion import invocation

        prepared = self._prepare(request, command)
        executed = None if prepared is None else self._execute(request, command, prepared)
        if executed is None:
            return None
        return invocation.read_result(result_cls, command, request, executed)

    def _execute(self, request: InvocationRequest, command: str,
                 prepared: Prepared) -> Execution | None:
        """Run Fusion and check for a parse-time rejection; None when Fusion declined."""
        import contextlib

        from floe_dbt_fusion import invocation, parse_cache
        from floe_dbt_hooks.models import RUN_COMMANDS
        from floe_dbt_hooks.project import prepare_target_path
        from floe_dbt_hooks.runtime.process import CommandLineTooLong

        target_path = prepare_target_path(prepared.project, request)
        timeout = float(request.timeout or self.settings.get("timeout", DEFAULT_TIMEOUT))
        partial_parse = bool(self.settings.get("partial_parse", True)) and \
            parse_cache.may_reuse(command, request)
        isolated = request.target_path is None and target_path != prepared.project.target_path
        slots = int(self.settings.get("partial_parse_slots", parse_cache.SLOTS))

        def track(process: EngineProcess | None) -> None:
            self._running.set(request.invocation_id, process)

        with parse_cache.work_slot(prepared, slots) \
                if partial_parse and request.target_path is None else contextlib.nullcontext() \
                as work:
            engine_target = work if work is not None else target_path
            shared = parse_cache.SharedState.begin(prepared, engine_target) \
                if partial_parse and (work is not None or not isolated) else None
            try:
                executed = invocation.execute(
                    request,
                    invocation.command_argv(prepared.binary.path, command, request,
                                            prepared.project, prepared.profile,
                                            partial_parse=shared is not None,
                                            engine_target_path=work),
                    prepared,
                    env=invocation.child_env(prepared.project, prepared.profile,
                                             prepared.binary.path, self.settings,
                                             self._driver_paths()),
                    timeout=timeout, lock=command in RUN_COMMANDS, emit=self.emit, track=track,
                )
            except CommandLineTooLong as exc:
                self.decline(request, "command-line-too-long", exc.code, exc.message,
                             hint=exc.hint)
                return None
            if work is not None:
                parse_cache.hand_over(work, target_path, merge=not isolated)
            if shared is not None:
                shared.end(executed)
        if executed.interrupted:
            return executed
        rejected = invocation.rejection(executed)
        if rejected and command == "lint":
            rejected = invocation.lint_rejection(rejected)
        if rejected:
            self._decline_rejection(request, rejected)
            return None
        return executed

    def _prepare(self, request: InvocationRequest, command: str) -> Prepared | None:
        """Decide, before running anything, whether Fusion can serve; decline if not."""
        if not self.addressed(request):
            return None
        from floe_dbt_fusion.adapters import check_adapter
        from floe_dbt_fusion.invocation import Prepared
        from floe_dbt_hooks.models import RUN_COMMANDS
        from floe_dbt_hooks.project import load_profile_target, load_project

        found = self.detect()
        if found.binary is None:
            self.decline(request, found.reason_code or "binary-missing", "FLOE-DBT-E005",
                         found.message or "dbt Fusion not found", hint=found.hint)
            return None
        project = load_project(request.project_dir)
        profile = load_profile_target(project, request.profiles_dir, request.target)
        check = check_adapter(
            profile.adapter_type,
            needs_driver=command in RUN_COMMANDS and self.settings.get("check_driver", True),
            extra_driver_dirs=self._driver_paths(),
            method=profile.method,
        )
        if not check.ok:
            self.decline(request, check.reason_code or "adapter-unavailable", "FLOE-DBT-E006",
                         check.message or "adapter unavailable", hint=check.hint)
            return None
        return Prepared(binary=found.binary, project=project, profile=profile)

    def _decline_rejection(self, request: InvocationRequest, rejected: list[Diagnostic]) -> None:
        """Fusion failed before any node ran (nothing executed): safe to fall back."""
        from floe_dbt_fusion.diagnostics import classify, summarize

        located = next((d for d in rejected if d.file_path), None)
        file_path = located.file_path if located else None
        if file_path is None and request.selector and any(
                d.name == "SelectorError" for d in rejected):
            file_path = "selectors.yml"
        why = classify(rejected)
        self.decline(
            request, why.reason_code, why.error_code, f"{why.what}: {summarize(rejected)}",
            hint=why.hint,
            engine_codes=tuple(dict.fromkeys(d.code for d in rejected)),
            file_path=file_path,
            line=located.line if located else None,
        )
