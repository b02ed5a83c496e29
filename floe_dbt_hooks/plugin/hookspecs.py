"""The hook contract every floe-dbt plugin implements a part of.

Lifecycle hooks (``dbt_compile``, ``dbt_run``, ``dbt_lint``) are ``firstresult``: runtimes are tried in
pluggy's order (tryfirst plugins, then normal ones, then the trylast dbt-core runtime), and the first
one to return a result serves the request. A runtime that cannot or should not serve *returns None*
to decline; raising aborts the whole call, pluggy does not fall through. A runtime that the request
asked for declines by first calling ``dbt_fallback`` with the reason, so that observers see it and
strict mode can stop it.

Cross-cutting behaviour (timing, logging, tracing, policy) wraps these hooks with
``@hookimpl(wrapper=True)``.

A project's ``floe_hooks.py`` may implement any of these hooks; it is registered last, after the
built-ins and entry-point plugins, and receives ``dbt_configure`` like every other plugin.
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
    """Hand every plugin the resolved floe config and the hook relay.

    :param config: The resolved configuration (floe.yml, environment, CLI), including each plugin's
        ``plugins.<name>`` settings.
    :param hook: The hook relay, for calling ``dbt_fallback`` and ``dbt_event``.

    Historic: a plugin registered after the call (a project's ``floe_hooks.py``) is configured too.
    """


@hookspec(firstresult=True)
def dbt_compile(request: CompileRequest) -> CompileResult | None:
    """Parse and compile the project's selected nodes.

    :param request: The project, profile, target, selection and runtime asked for.
    :returns: The compile result, whose ``manifest_path`` holds the compiled manifest; or None to
        decline.

    Stops at first non-None result. A runtime serves only requests addressed
    to it (``floe_dbt_hooks.runtime.base.addressed_to``), except dbt-core, the fallback, which serves
    whatever reaches it.
    """


@hookspec(firstresult=True)
def dbt_run(request: RunRequest) -> DBTRunResult | None:
    """Execute ``request.command`` (run, test, build, seed, snapshot, docs) on the selection.

    :param request: The project, profile, target, selection, command and runtime asked for.
    :returns: The run result, or None to decline.

    Stops at first non-None result. Node failures are node statuses in the result, not exceptions;
    an error before any node ran raises a FLOE-DBT error. Never decline after a node has started:
    the next runtime would run it again.
    """


@hookspec(firstresult=True)
def dbt_lint(request: LintRequest) -> LintResult | None:
    """Lint (and with ``request.fix``, fix) the project's SQL.

    :param request: The project, selection, ``fix`` and linter options.
    :returns: The findings, or None to decline.

    Stops at first non-None result.
    """


@hookspec
def dbt_fallback(event: FallbackEvent) -> None:
    """A runtime the request asked for is declining it; called before the next runtime is tried.

    :param event: Which runtime declines, a stable ``reason_code``, the FLOE-DBT ``error_code``, a
        message and a hint, and the request.

    Observers log, count or trace it. Raising stops the fallback: the built-in strict plugin raises
    the error named by ``event.error_code`` when fallback is switched off.
    """


@hookspec
def dbt_event(event: RuntimeEvent) -> None:
    """A runtime reports progress: node start and finish, and its log events.

    :param event: The event, with dbt's name and code whichever runtime sent it.

    Called from the thread doing the work: implementations must be quick. One observer raising does
    not keep the event from the others; the error is logged with the observer's plugin name.
    """


@hookspec(firstresult=True)
def dbt_cancel(invocation_id: str) -> bool | None:
    """Stop a running invocation (a signal, an orchestrator stopping a step).

    :param invocation_id: The ``invocation_id`` of the request being served.
    :returns: True when this runtime is running that invocation and was asked to stop it; None
        when it is not this runtime's.

    Stops at first non-None result. The invocation then ends with an execution error (or, for a
    remote runtime, its run is cancelled remotely); it never falls back.
    """


@hookspec
def dbt_runtime_info() -> RuntimeInfo | None:
    """Describe the runtime this plugin provides.

    :returns: Name, version, availability (and why not), capabilities; None for plugins that are
        not runtimes.

    Must be cheap: no engine import, no subprocess on every call (cache what you detect).
    """


@hookspec(firstresult=True)
def dbt_artifact_path(request: ArtifactRequest) -> Path | None:
    """Locate (or fetch) a project's artifact and return its local path.

    :param request: The artifact kind, the project, the target path and the runtime that wrote it.
    :returns: A local path, or None when this plugin does not hold it.

    Stops at first non-None result. The framework's own implementation (trylast) looks in the
    target path; a remote runtime downloads the artifact first.
    """
