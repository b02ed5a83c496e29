"""What every runtime plugin shares: its name, its configuration, and how it talks to the others.

A runtime decides whether a request is addressed to it (:func:`addressed_to`: the request's own
``runtime``, else ``plugins.dbt_runtime`` / ``FLOE_DBT_RUNTIME``), declines what it cannot serve by
reporting through ``dbt_fallback`` and returning None (:meth:`RuntimePlugin.decline`), and reports its
progress through ``dbt_event`` (:meth:`RuntimePlugin.emit`). Subclass :class:`RuntimePlugin` for a
class-based runtime; a module-based one (a project's ``floe_hooks.py``) calls :func:`addressed_to`
with the config its ``dbt_configure`` received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from floe_dbt_hooks.config import FloeConfig
from floe_dbt_hooks.plugin.markers import hookimpl

if TYPE_CHECKING:
    import pluggy

    from floe_dbt_hooks.models import InvocationRequest, RuntimeEvent


def addressed_to(runtime: str, request: InvocationRequest, config: FloeConfig) -> bool:
    """Whether ``request`` asks for ``runtime``: its own choice, else the configured runtime."""
    return config.runtime_for(request.runtime) == runtime


class RuntimePlugin:
    """Base class for runtime plugins: keeps the config and hook relay from ``dbt_configure``."""

    runtime_name: ClassVar[str]
    """The name users select the runtime by (``--runtime NAME``)."""
    settings_key: ClassVar[str | None] = None
    """The ``plugins.<key>`` section of floe.yml with this runtime's settings (default: its name)."""

    def __init__(self) -> None:
        self.config = FloeConfig()
        self._hook: pluggy.HookRelay | None = None

    @hookimpl
    def dbt_configure(self, config: FloeConfig, hook: pluggy.HookRelay) -> None:
        self.config = config
        self._hook = hook

    @property
    def settings(self) -> Mapping[str, Any]:
        return self.config.settings_for(self.settings_key or self.runtime_name)

    def addressed(self, request: InvocationRequest) -> bool:
        return addressed_to(self.runtime_name, request, self.config)

    def emit(self, event: RuntimeEvent) -> None:
        """Deliver a progress event to every ``dbt_event`` observer."""
        if self._hook is not None:
            self._hook.dbt_event(event=event)

    def decline(
        self, request: InvocationRequest, reason_code: str, error_code: str, message: str, *,
        hint: str | None = None, engine_codes: tuple[str, ...] = (), file_path: str | None = None,
        line: int | None = None,
    ) -> None:
        """Report why this runtime will not serve ``request`` (strict mode raises from here);
        the caller then returns None so that the next runtime is tried."""
        from floe_dbt_hooks.models import FallbackEvent
        from floe_dbt_hooks.secrets import redact

        if self._hook is None:
            return
        self._hook.dbt_fallback(event=FallbackEvent(
            runtime=self.runtime_name, reason_code=reason_code, error_code=error_code,
            message=redact(message), request=request, hint=hint, engine_codes=engine_codes,
            file_path=file_path, line=line,
        ))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.runtime_name}>"
