"""Strict mode: when fallback is off, a declining runtime is an error instead of a fallback.

Switched on by ``plugins.dbt_fallback: false`` in floe.yml, ``FLOE_DBT_FALLBACK=false``, the CLI's
``--no-fallback`` or ``fallback=False`` on a request. It raises the error class matching the
decline's FLOE-DBT code, so nothing runs on the next runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from floe_dbt_hooks.config import FloeConfig
from floe_dbt_hooks.errors import error_for_code
from floe_dbt_hooks.plugin.markers import hookimpl

if TYPE_CHECKING:
    from floe_dbt_hooks.models import FallbackEvent


class StrictFallback:
    """Raises from ``dbt_fallback`` when the request or the config forbids falling back."""

    def __init__(self) -> None:
        self._config = FloeConfig()

    @hookimpl
    def dbt_configure(self, config: FloeConfig) -> None:
        self._config = config

    @hookimpl(trylast=True)
    def dbt_fallback(self, event: FallbackEvent) -> None:
        if self._config.fallback_for(event.request.fallback):
            return
        raise error_for_code(event.error_code)(
            f"runtime '{event.runtime}' cannot serve this request and fallback is off: "
            f"{event.message}",
            hint=event.hint,
            engine_codes=event.engine_codes,
            file_path=event.file_path,
            line=event.line,
        )
