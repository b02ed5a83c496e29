"""The dbt-core runtime: dbtRunner in-process (and SQLFluff for lint), the universal fallback (``trylast``).

It serves whatever reaches it: requests addressed to ``core``, and requests whose runtime declined
(each having reported through ``dbt_fallback``). dbt is imported on first use, never at discovery.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pluggy

from floe_dbt_hooks import hookimpl
from floe_dbt_hooks.config import FloeConfig

if TYPE_CHECKING:
    from floe_dbt_hooks.models import (
        CompileRequest,
        CompileResult,
        DBTRunResult,
        LintRequest,
        LintResult,
        RunRequest,
        RuntimeEvent,
        RuntimeInfo,
    )

RUNTIME_NAME = "core"
PLUGIN_NAME = "floe_dbt_core"
NOT_ADAPTERS = ("core", "adapters", "common", "extractor", "protos", "semantic-interfaces")


@functools.cache
def _installed_versions() -> tuple[str | None, tuple[str, ...]]:
    """dbt-core's version and the adapters installed beside it, from the cached package scan."""
    from floe_dbt_hooks.plugin.entrypoints import installed_versions

    versions = installed_versions()
    adapters = sorted(
        name[len("dbt-"):] for name in versions
        if name.startswith("dbt-") and name[len("dbt-"):] not in NOT_ADAPTERS
    )
    return versions.get("dbt-core"), tuple(adapters)


class CoreRuntime:
    """Runs dbt-core's dbtRunner in this process, one invocation at a time."""

    def __init__(self) -> None:
        self._config = FloeConfig()
        self._hook: pluggy.HookRelay | None = None

    @hookimpl
    def dbt_configure(self, config: FloeConfig, hook: pluggy.HookRelay) -> None:
        self._config = config
        self._hook = hook

    @hookimpl
    def dbt_runtime_info(self) -> RuntimeInfo:
        from floe_dbt_hooks.models import RuntimeInfo

        core_version, adapters = _installed_versions()
        return RuntimeInfo(
            name=RUNTIME_NAME,
            plugin=PLUGIN_NAME,
            version=core_version,
            available=core_version is not None,
            reason=None if core_version else "dbt-core is not installed (pip install dbt-core)",
            supports_parallel_execution=False,
            supports_sql_linting=True,
            adapters=adapters,
            details={"execution": "in-process dbtRunner, serialised by a process-wide lock",
                     "linter": "sqlfluff (dialect from the target's adapter), cached"},
        )

    def _emit(self, event: RuntimeEvent) -> None:
        if self._hook is not None:
            self._hook.dbt_event(event=event)

    @hookimpl(trylast=True)
    def dbt_compile(self, request: CompileRequest) -> CompileResult:
        from floe_dbt_core.invoke import invoke
        from floe_dbt_hooks.models import CompileResult

        return invoke(request, "compile", emit=self._emit, result_cls=CompileResult)

    @hookimpl(trylast=True)
    def dbt_run(self, request: RunRequest) -> DBTRunResult:
        from floe_dbt_core.invoke import invoke
        from floe_dbt_hooks.models import DBTRunResult

        return invoke(request, request.command, emit=self._emit, result_cls=DBTRunResult)

    @hookimpl(trylast=True)
    def dbt_lint(self, request: LintRequest) -> LintResult:
        from floe_dbt_core.lint import lint

        return lint(request, self._config.settings_for("sqlfluff"))

    def __repr__(self) -> str:
        return f"<CoreRuntime {RUNTIME_NAME}>"

