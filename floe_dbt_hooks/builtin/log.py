"""Framework logging through structlog, imported on first use so discovery stays fast.

Library users get standard-library logging (records under the ``floe_dbt_hooks`` logger, the event
name as the message and the bound context as record attributes), so an embedding application keeps
control of handlers and levels; the CLI renders those records as text or JSON lines. Every event
passes through the secret redactor and, while a span is recording, carries its trace and span ids.

:class:`InvocationLogger` is the built-in plugin that logs each invocation and node with bound
context (invocation id, runtime, project, target, node).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, MutableMapping
from typing import TYPE_CHECKING, Any

from floe_dbt_hooks.plugin.markers import hookimpl
from floe_dbt_hooks.secrets import redact

if TYPE_CHECKING:
    import logging

    from floe_dbt_hooks.models import (
        CompileRequest,
        CompileResult,
        DBTRunResult,
        InvocationRequest,
        LintRequest,
        LintResult,
        RunRequest,
        RuntimeEvent,
    )

LOGGER_NAME = "floe_dbt_hooks"
_DEBUG, _INFO, _WARNING, _ERROR = 10, 20, 30, 40
"""The standard library's level numbers, so that discovering this plugin does not import logging."""


_deferred: dict[str, Any] = {}
"""A host's logger set-up waiting for the first record: ``level`` and ``setup``."""


@functools.cache
def stdlib_logger() -> logging.Logger:
    """The ``floe_dbt_hooks`` logger, given a NullHandler the first time it is asked for (and the
    set-up passed to :func:`configure_on_first_use`, if any). Everything that logs under this name
    asks here, so a deferred set-up is always in place before the first record."""
    import logging

    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(logging.NullHandler())
    setup = _deferred.pop("setup", None)
    _deferred.clear()
    if setup is not None:
        setup(logger)
    return logger


def configure_on_first_use(level: int, setup: Callable[[logging.Logger], None]) -> None:
    """Configure the ``floe_dbt_hooks`` logger with ``setup`` when it is first needed, answering
    "is ``level`` enabled?" until then without importing :mod:`logging`: a CLI command that logs
    nothing (a successful compile at the default level) never pays for it. Applied at once when
    the logger already exists."""
    if stdlib_logger.cache_info().currsize:
        setup(stdlib_logger())
        return
    _deferred.update(level=level, setup=setup)


def discard_deferred_configuration() -> None:
    """Forget a set-up that was never applied (the CLI, when its command ends)."""
    _deferred.clear()


def _redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def _add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    from floe_dbt_hooks.builtin.tracing import current_ids

    event_dict.update(current_ids())
    return event_dict


@functools.cache
def _configured() -> Any:
    import structlog

    return structlog.wrap_logger(
        stdlib_logger(),
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            _add_trace_ids,
            _redact_event,
            structlog.stdlib.render_to_log_kwargs,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def get_logger(**context: Any) -> Any:
    """A structlog logger bound to ``context``; records go to the stdlib ``floe_dbt_hooks`` logger."""
    logger = _configured()
    return logger.bind(**context) if context else logger


def _enabled(level: int) -> bool:
    deferred = _deferred.get("level")
    if deferred is not None:
        return bool(level >= deferred)
    return stdlib_logger().isEnabledFor(level)


class InvocationLogger:
    """Logs invocations (info), nodes (info when finished, debug when started) and engine warnings.

    Its wrappers sit outside the dispatcher's (both tryfirst, this one registered later), so the
    finished event sees the declined runtimes."""

    def _invocation(self, hook: str, request: InvocationRequest) -> Generator[None, Any, Any]:
        def log() -> Any:
            return get_logger(invocation_id=request.invocation_id,
                              project=str(request.project_dir), target=request.target, hook=hook,
                              command=getattr(request, "command", None))

        if _enabled(_INFO):
            log().info("invocation_started", requested_runtime=request.runtime,
                       select=list(request.select))
        try:
            result = yield
        except Exception as exc:
            if _enabled(_ERROR):
                log().error("invocation_failed", error_code=getattr(exc, "code", None),
                            error=str(exc))
            raise
        if _enabled(_INFO):
            log().info("invocation_finished", runtime=result.runtime,
                       success=getattr(result, "success", getattr(result, "passed", None)),
                       node_counts=getattr(result, "node_counts", None),
                       declined=[d.reason_code for d in result.declined],
                       elapsed=round(result.elapsed_time, 3))
        return result

    @hookimpl(wrapper=True, tryfirst=True)
    def dbt_compile(self, request: CompileRequest) -> Generator[None, CompileResult, CompileResult]:
        result: CompileResult = yield from self._invocation("dbt_compile", request)
        return result

    @hookimpl(wrapper=True, tryfirst=True)
    def dbt_run(self, request: RunRequest) -> Generator[None, DBTRunResult, DBTRunResult]:
        result: DBTRunResult = yield from self._invocation("dbt_run", request)
        return result

    @hookimpl(wrapper=True, tryfirst=True)
    def dbt_lint(self, request: LintRequest) -> Generator[None, LintResult, LintResult]:
        result: LintResult = yield from self._invocation("dbt_lint", request)
        return result

    @hookimpl
    def dbt_event(self, event: RuntimeEvent) -> None:
        node = event.node
        if event.kind == "node_finish" and node is not None and _enabled(_INFO):
            get_logger(invocation_id=event.invocation_id, runtime=event.runtime,
                       node=node.unique_id).info(
                "node_finished", status=node.status, resource_type=node.resource_type,
                execution_time=node.execution_time, rows_affected=node.rows_affected,
                detail=node.message,
            )
        elif event.kind == "node_start" and node is not None and _enabled(_DEBUG):
            get_logger(invocation_id=event.invocation_id, runtime=event.runtime,
                       node=node.unique_id).debug("node_started", resource_type=node.resource_type)
        elif event.kind == "log" and event.level in ("warn", "error") and _enabled(_WARNING):
            get_logger(invocation_id=event.invocation_id, runtime=event.runtime).log(
                _ERROR if event.level == "error" else _WARNING,
                "engine_message", engine_event=event.name, code=event.code, detail=event.message,
            )
