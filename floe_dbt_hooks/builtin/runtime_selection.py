"""The framework's own plugin: one wrapper around every lifecycle hook.

Before the runtimes are tried it checks that the addressed runtime exists (listing the installed
ones when it does not) and that every ``--select``/``--exclude`` word uses a selector method dbt
knows (dbt-core rejects a typo'd method, Fusion quietly selects nothing); while they are tried it
records each ``dbt_fallback``; afterwards it stamps the declined list onto the result, and turns
"nobody served" into a clear error. It also serves ``dbt_artifact_path`` from the local target path,
last, so a remote runtime can serve it first.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from floe_dbt_hooks.errors import DBTConfigurationError
from floe_dbt_hooks.plugin.markers import hookimpl

if TYPE_CHECKING:
    from floe_dbt_hooks.models import (
        ArtifactRequest,
        CompileRequest,
        CompileResult,
        DBTRunResult,
        Declined,
        FallbackEvent,
        InvocationRequest,
        LintRequest,
        LintResult,
        RunRequest,
    )
    from floe_dbt_hooks.plugin.manager import FloePluginManager

class RuntimeSelection:
    """Checks runtime selection, records fallbacks, and completes results."""

    def __init__(self, pm: FloePluginManager) -> None:
        self._pm = pm
        self._declined: dict[str, list[Declined]] = {}
        self._lock = threading.Lock()

    def installed_runtimes(self) -> dict[str, str]:
        """Runtime name -> plugin name, from every plugin's ``dbt_runtime_info``."""
        infos = self._pm.hook.dbt_runtime_info()
        return {info.name: info.plugin for info in infos}

    def _installed(self, wanted: str) -> bool:
        """Whether a runtime named ``wanted`` is registered. A :class:`RuntimePlugin` says so by its
        ``runtime_name`` at no cost; only otherwise is every plugin's ``dbt_runtime_info`` asked
        (which finds binaries, reads settings), for runtimes that do not subclass it."""
        from floe_dbt_hooks.runtime.base import RuntimePlugin

        if any(isinstance(plugin, RuntimePlugin) and plugin.runtime_name == wanted
               for plugin in self._pm.get_plugins()):
            return True
        return wanted in self.installed_runtimes()

    def _dispatch(self, request: InvocationRequest) -> Generator[None, Any, Any]:
        wanted = self._pm.config.runtime_for(request.runtime)
        if not self._installed(wanted):
            installed = self.installed_runtimes()
            raise DBTConfigurationError(
                f"unknown runtime '{wanted}'",
                hint=f"installed runtimes: {', '.join(sorted(installed)) or 'none'}; "
                "choose one with --runtime, FLOE_DBT_RUNTIME or plugins.dbt_runtime in floe.yml",
            )
        _check_selector_methods(request)
        with self._lock:
            self._declined[request.invocation_id] = []
        try:
            result = yield
        finally:
            with self._lock:
                declined = tuple(self._declined.pop(request.invocation_id, ()))
        if result is None:
            reasons = "; ".join(f"{d.runtime}: {d.message}" for d in declined)
            raise DBTConfigurationError(
                f"no runtime served the request for runtime '{wanted}'"
                + (f" ({reasons})" if reasons else ""),
                hint="check 'floe-dbt plugins' for runtime availability",
            )
        return attrs.evolve(result, declined=declined) if declined else result

    @hookimpl(wrapper=True, tryfirst=True)
    def dbt_compile(self, request: CompileRequest) -> Generator[None, CompileResult | None,
                                                                  CompileResult]:
        result: CompileResult = yield from self._dispatch(request)
        return result

    @hookimpl(wrapper=True, tryfirst=True)
    def dbt_run(self, request: RunRequest) -> Generator[None, DBTRunResult | None, DBTRunResult]:
        result: DBTRunResult = yield from self._dispatch(request)
        return result

    @hookimpl(wrapper=True, tryfirst=True)
    def dbt_lint(self, request: LintRequest) -> Generator[None, LintResult | None, LintResult]:
        result: LintResult = yield from self._dispatch(request)
        return result

    @hookimpl(tryfirst=True)
    def dbt_fallback(self, event: FallbackEvent) -> None:
        with self._lock:
            self._declined.setdefault(event.request.invocation_id, []).append(event.as_declined())
        from floe_dbt_hooks.builtin.log import get_logger

        get_logger().warning(
            "runtime_fallback",
            runtime=event.runtime,
            reason_code=event.reason_code,
            error_code=event.error_code,
            reason=event.message,
            hint=event.hint,
            invocation_id=event.request.invocation_id,
        )

    @hookimpl(trylast=True)
    def dbt_artifact_path(self, request: ArtifactRequest) -> Path | None:
        from floe_dbt_hooks.artifacts import artifact_file
        from floe_dbt_hooks.project import load_project

        target_path = request.target_path or load_project(request.project_dir).target_path
        return artifact_file(target_path, request.kind)


def _check_selector_methods(request: InvocationRequest) -> None:
    from floe_dbt_hooks.runtime.selection import DBT_METHODS, selection_words, unknown_method

    for flag, words in (("--select", request.select), ("--exclude", request.exclude)):
        for word in selection_words(words):
            method = unknown_method(word)
            if method is not None:
                raise DBTConfigurationError(
                    f"unknown selector method '{method}' in {flag} '{word}'",
                    hint=f"dbt's selector methods: {', '.join(DBT_METHODS)}")
