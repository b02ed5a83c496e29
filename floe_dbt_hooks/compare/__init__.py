"""Shadow runs: compare what two runtimes do with one project before switching it over.

:func:`compare_runtimes` compiles the project under each runtime (concurrently), compares nodes,
normalised compiled SQL, configs that matter and the dependency graph, and with ``execute`` builds
each runtime into its own DuckDB file and compares the resulting tables. The answer is a frozen
:class:`~floe_dbt_hooks.compare.result.CompareResult` with a verdict per node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from floe_dbt_hooks.compare.result import CompareResult, NodeComparison
    from floe_dbt_hooks.compare.runner import compare_runtimes

__all__ = ["CompareResult", "NodeComparison", "compare_runtimes"]


def __getattr__(name: str) -> Any:
    """Load the comparison machinery on first use (the CLI imports this package to add a parser)."""
    if name == "compare_runtimes":
        from floe_dbt_hooks.compare.runner import compare_runtimes

        return compare_runtimes
    if name in ("CompareResult", "NodeComparison"):
        from floe_dbt_hooks.compare import result

        return getattr(result, name)
    raise AttributeError(f"module 'floe_dbt_hooks.compare' has no attribute {name!r}")
