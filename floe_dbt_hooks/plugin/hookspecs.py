"""The hook contract every floe-dbt plugin implements a part of.

Lifecycle hooks (``dbt_compile``, ``dbt_run``, ``dbt_lint``) are ``firstresult``: runtimes are tried in
pluggy's order (tryfirst plugins, then normal ones, then the trylast dbt-core runtime), and the first
one to return a result serves the request. A runtime that cannot or should not serve *returns None*
to decline; raising aborts the whole call, pluggy does not fall through. A runtime that the request
asked for declines by first calling ``dbt_fallback`` with the reason, so that observers see it and
strict mode can stop it.

Cross-cutting behaviour (timing, logging, tracing, policy) wraps these hooks with
``@hookimpl(wrapper=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from floe_dbt_hooks.plugin.markers import hookspec

if TYPE_CHECKING:
    import pluggy

    from floe_dbt_hooks.config import FloeConfig
    from floe_dbt_hooks.models import (
        ArtifactRequest,
        CompileRequest,
        CompileResult,
        DBTRunResult,
        FallbackEvent,
        LintRequest,
        LintResult,
        RunRequest,
        RuntimeEvent,
        RuntimeInfo,
    )


@hookspec(historic=True)
def dbt_configure(config: FloeConfig, hook: pluggy.HookRelay) -> None:
    """Hand every plugin the resolved floe config and the hook relay, once, at registration.

    Historic: a plugin registered later (a project's ``floe_hooks.py``) is configured too. Runtimes
    keep ``hook`` to send ``dbt_fallback`` and ``dbt_event`` calls.
    """


@hookspec(firstresult=True)
def dbt_compile(request: CompileRequest) -> CompileResult | None:
    """Parse and compile the project's selected nodes.

    Stops at first non-None result; return None to decline. A runtime serves only when
    ``request.runtime`` (or the configured runtime) names it, or when it is the fallback.
    """


@hookspec(firstresult=True)
def dbt_run(request: RunRequest) -> DBTRunResult | None:
    """Execute ``request.command`` (run, test, build, seed, snapshot, docs) on the selection.

    Stops at first non-None result; return None to decline. Node failures are reported as node
    statuses in the result; errors before any node runs raise a FLOE-DBT error.
    """


@hookspec(firstresult=True)
def dbt_lint(request: LintRequest) -> LintResult | None:
    """Lint (and with ``request.fix``, fix) the project's SQL.

    Stops at first non-None result; return None to decline.
    """


@hookspec
def dbt_fallback(event: FallbackEvent) -> None:
    """A runtime the request asked for is declining it; called before the next runtime is tried.

    Observers log, count or trace it. Raising stops the fallback: the built-in strict plugin
    raises the error named by ``event.error_code`` when fallback is switched off.
    """


@hookspec
def dbt_event(event: RuntimeEvent) -> None:
    """A runtime reports progress: node start and finish, and its log events.

    Called from the thread doing the work; implementations must be quick and must not raise.
    """


@hookspec
def dbt_runtime_info() -> RuntimeInfo | None:
    """Describe the runtime this plugin provides: name, version, availability, capabilities.

    Must be cheap: no engine import, no subprocess on every call (cache what you detect).
    """


@hookspec(firstresult=True)
def dbt_artifact_path(request: ArtifactRequest) -> Path | None:
    """Locate (or fetch) a project's artifact and return its local path.

    Stops at first non-None result. The framework's own implementation (trylast) looks in the
    target path; a remote runtime may download the artifact first.
    """
