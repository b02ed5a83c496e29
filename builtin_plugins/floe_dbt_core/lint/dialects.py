"""Which SQLFluff dialect lints a project: derived from the profile target's adapter type.

SQLFluff has no "dbt" dialect: a model is SQL for whatever database the target runs on, so the
adapter type in profiles.yml decides. The project's own SQLFluff config still wins: this is only the
default for a project that does not name a dialect itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from floe_dbt_hooks.errors import DBTLintError

ADAPTER_DIALECTS: Mapping[str, str] = {
    "athena": "athena",
    "bigquery": "bigquery",
    "clickhouse": "clickhouse",
    "databricks": "databricks",
    "db2": "db2",
    "duckdb": "duckdb",
    "exasol": "exasol",
    "fabric": "tsql",
    "glue": "sparksql",
    "greenplum": "greenplum",
    "hive": "hive",
    "impala": "impala",
    "mariadb": "mariadb",
    "materialize": "materialize",
    "motherduck": "duckdb",
    "mysql": "mysql",
    "oracle": "oracle",
    "postgres": "postgres",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "spark": "sparksql",
    "sqlite": "sqlite",
    "sqlserver": "tsql",
    "starrocks": "starrocks",
    "synapse": "tsql",
    "teradata": "teradata",
    "trino": "trino",
    "vertica": "vertica",
}
"""dbt adapter type -> SQLFluff dialect. Databricks gets SQLFluff's ``databricks`` dialect (a
superset of ``sparksql`` with Unity Catalog syntax); plain Spark and Glue get ``sparksql``."""


def dialect_for_adapter(adapter_type: str, profiles_file: Path | None = None) -> str:
    """The SQLFluff dialect for ``adapter_type``; an adapter without one is a lint error."""
    dialect = ADAPTER_DIALECTS.get(adapter_type.lower())
    if dialect is None:
        known = ", ".join(sorted(ADAPTER_DIALECTS))
        raise DBTLintError(
            f"the '{adapter_type}' adapter has no SQLFluff dialect, so its SQL cannot be linted "
            "without one",
            file_path=profiles_file,
            hint=f"set 'dialect = ...' in the project's .sqlfluff (run 'sqlfluff dialects' for the "
            f"list); adapters with a known dialect: {known}",
        )
    return dialect
