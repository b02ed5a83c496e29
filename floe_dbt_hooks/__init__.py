"""floe-dbt-hooks: run dbt projects through interchangeable runtimes behind one pluggy hook API.

Importing this package is cheap: it loads pluggy and attrs, never dbt, sqlfluff or an OTel SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from floe_dbt_hooks._markers import NAME, hookimpl, hookspec
from floe_dbt_hooks.manager import FloePluginManager, create_plugin_manager
from floe_dbt_hooks.models import (
    CompileRequest,
    CompileResult,
    DBTRunResult,
    FallbackEvent,
    LintRequest,
    LintResult,
    LintViolation,
    NodeResult,
    RunRequest,
    RuntimeEvent,
    RuntimeInfo,
)

if TYPE_CHECKING:
    from floe_dbt_hooks.api import DBTFacade

__version__ = "0.1.0"

__all__ = [
    "NAME",
    "CompileRequest",
    "CompileResult",
    "DBTFacade",
    "DBTRunResult",
    "FallbackEvent",
    "FloePluginManager",
    "LintRequest",
    "LintResult",
    "LintViolation",
    "NodeResult",
    "RunRequest",
    "RuntimeEvent",
    "RuntimeInfo",
    "create_plugin_manager",
    "hookimpl",
    "hookspec",
]


def __getattr__(name: str) -> Any:
    if name == "DBTFacade":
        from floe_dbt_hooks.api import DBTFacade

        return DBTFacade
    raise AttributeError(f"module 'floe_dbt_hooks' has no attribute {name!r}")
