"""floe-dbt-hooks: run dbt projects through interchangeable runtimes behind one pluggy hook API.

Importing this package is cheap: it loads pluggy and attrs, never dbt, sqlfluff or an OTel SDK;
the models and the facade load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from floe_dbt_hooks.plugin.manager import FloePluginManager, create_plugin_manager
from floe_dbt_hooks.plugin.markers import NAME, hookimpl, hookspec

if TYPE_CHECKING:
    from floe_dbt_hooks.api import DBTFacade
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


_LAZY = {"DBTFacade": "floe_dbt_hooks.api"} | {
    name: "floe_dbt_hooks.models"
    for name in __all__
    if name[0].isupper() and name not in ("NAME", "DBTFacade", "FloePluginManager")
}


def __getattr__(name: str) -> Any:
    """Models and the facade load on first use, keeping ``import floe_dbt_hooks`` cheap."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'floe_dbt_hooks' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
