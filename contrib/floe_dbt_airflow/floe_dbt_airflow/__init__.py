"""Airflow integration for floe-dbt-hooks: a dbt project as per-node Airflow tasks (or one task)
that run through the hook framework's runtimes (dbt-core, dbt Fusion) with fallback.

Importing this package imports Airflow; nothing on floe's plugin-discovery path imports it.
"""

from floe_dbt_airflow.factory import DbtDag, DbtTaskGroup, add_tasks, default_asset
from floe_dbt_airflow.operators import (
    DbtBuildOperator,
    DbtCompileOperator,
    DbtFailure,
    DbtInvocationOperator,
    DbtNodeOperator,
    DbtOperator,
    DbtReportOperator,
    DbtRunOperator,
    DbtSeedOperator,
    DbtSnapshotOperator,
    DbtTestOperator,
    DbtTestsOperator,
)
from floe_dbt_airflow.project import DbtProject

__all__ = [
    "DbtBuildOperator",
    "DbtCompileOperator",
    "DbtDag",
    "DbtFailure",
    "DbtInvocationOperator",
    "DbtNodeOperator",
    "DbtOperator",
    "DbtProject",
    "DbtReportOperator",
    "DbtRunOperator",
    "DbtSeedOperator",
    "DbtSnapshotOperator",
    "DbtTaskGroup",
    "DbtTestOperator",
    "DbtTestsOperator",
    "add_tasks",
    "default_asset",
]
