"""The dbt-core runtime: dbtRunner in-process (and SQLFluff for lint), the universal fallback (``trylast``).

It serves whatever reaches it: requests addressed to ``core``, and requests whose runtime declined
(each having reported through ``dbt_fallback``). dbt is imported on first use, never at discovery.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, TypeVar

import attrs

from floe_dbt_core import PLUGIN_NAME, RUNTIME_NAME
from floe_dbt_hooks.plugin.markers import hookimpl
from floe_dbt_hooks.runtime.base import RuntimePlugin

if TYPE_CHECKING:
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

_Result = TypeVar("_Result", bound="InvocationResult")
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


class CoreRuntime(RuntimePlugin):
    """Runs dbt-core's dbtRunner in this process, one invocation at a time."""

    runtime_name = RUNTIME_NAME

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

    @hookimpl
    def dbt_cancel(self, invocation_id: str) -> bool | None:
        """Interrupt a running dbtRunner invocation (see :func:`floe_dbt_core.invoke.cancel`),
        or ask the warm server running it to."""
        client = sys.modules.get("floe_dbt_core.server.client")
        if client is not None and client.cancel(invocation_id):
            return True
        invoke = sys.modules.get("floe_dbt_core.invoke")
        if invoke is None:
            return None
        return True if invoke.cancel(invocation_id) else None

    @hookimpl(trylast=True)
    def dbt_compile(self, request: CompileRequest) -> CompileResult:
        from floe_dbt_hooks.models import CompileResult

        return self._invoke(request, "compile", CompileResult)

    @hookimpl(trylast=True)
    def dbt_run(self, request: RunRequest) -> DBTRunResult:
        from floe_dbt_hooks.models import DBTRunResult

        return self._invoke(request, request.command, DBTRunResult)

    def _invoke(self, request: InvocationRequest, command: str, result_cls: type[_Result]
                ) -> _Result:
        """On the warm server when it is switched on and a slot is free, else in-process."""
        from floe_dbt_core.server.settings import server_settings

        settings = server_settings(self.settings, self.config.source)
        not_sent: dict[str, object] | None = None
        if settings.enabled:
            from floe_dbt_core.server.client import ServerUnavailable, forward

            outcome = forward(request, command, settings, emit=self.emit, result_cls=result_cls)
            if not isinstance(outcome, ServerUnavailable):
                return outcome
            import logging

            logging.getLogger(__name__).warning(
                "dbt-core server not used (%s): %s; running in-process", outcome.reason_code,
                outcome.message)
            not_sent = outcome.as_metadata()
        from floe_dbt_core.invoke import invoke

        result = invoke(request, command, emit=self.emit, result_cls=result_cls)
        if not_sent is None:
            return result
        return attrs.evolve(result, metadata={**result.metadata, "server": not_sent})

    @hookimpl(trylast=True)
    def dbt_lint(self, request: LintRequest) -> LintResult:
        from floe_dbt_core.lint import lint

        return lint(request, self.config.settings_for("sqlfluff"))

