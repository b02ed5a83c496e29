"""Prefect 3 integration for floe-dbt-hooks: a dbt project as per-node, per-wave or single Prefect
tasks that run through the hook framework's runtimes (dbt-core, dbt Fusion, any plugin) with
fallback, Prefect asset events per node, and run summaries and fallbacks as artifacts.

    from floe_dbt_prefect import DbtProject, dbt_flow

    flow = dbt_flow(DbtProject(project_dir="examples/jaffle_shop", runtime="fusion"))
    flow()

Prefect is imported only when a flow or task helper is first used.
"""

from __future__ import annotations

from typing import Any

from floe_dbt_prefect.plan import AssetSpec, BuildPlan, PlanUnit, asset_key, build_plan
from floe_dbt_prefect.project import DbtProject

_LAZY = {
    "dbt_flow": "floe_dbt_prefect.flows",
    "run_dbt": "floe_dbt_prefect.flows",
    "plan_project": "floe_dbt_prefect.flows",
    "DbtFlowFailure": "floe_dbt_prefect.flows",
    "dbt_task": "floe_dbt_prefect.tasks",
    "dbt_unit_task": "floe_dbt_prefect.tasks",
    "DbtNodeFailure": "floe_dbt_prefect.tasks",
}

__all__ = ["AssetSpec", "BuildPlan", "DbtProject", "PlanUnit", "asset_key", "build_plan",
           *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'floe_dbt_prefect' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
