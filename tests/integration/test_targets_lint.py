"""The core linter takes its SQLFluff dialect from the selected target of the example's profile:
``postgres`` for the postgres target, ``sparksql`` for the spark target, and the same model is
judged by that dialect's grammar (Spark's backquoted identifiers parse in sparksql, not in
postgres; PostgreSQL's ``ILIKE`` and ``::`` casts parse in postgres)."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_dbt_hooks import DBTFacade
from floe_dbt_hooks.models import LintResult

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SPARK_SQL = ("select `customer_id`, explode(array(1, 2)) as n\n"
             "from {{ ref('stg_customers') }}\n")
POSTGRES_SQL = ("select customer_id::text as customer_key\nfrom {{ ref('stg_customers') }}\n"
                "where first_name ilike 'a%'\n")


def _lint(project: Path, target: str) -> LintResult:
    return DBTFacade(runtime="core").lint_project(project, target=target,
                                                  select=["spark_only", "postgres_only"])


def _parse_errors(result: LintResult, name: str) -> list[str]:
    return [v.code for v in result.violations
            if v.file_path == f"models/{name}.sql" and v.code == "PRS"]


@pytest.fixture
def project(example_project: Path) -> Path:
    (example_project / "models" / "spark_only.sql").write_text(SPARK_SQL)
    (example_project / "models" / "postgres_only.sql").write_text(POSTGRES_SQL)
    return example_project


def test_postgres_target_lints_as_postgres(project: Path, pg_env: dict[str, str]) -> None:
    result = _lint(project, "postgres")
    assert result.metadata["dialect"] == "postgres"
    assert _parse_errors(result, "postgres_only") == []
    assert _parse_errors(result, "spark_only") == ["PRS"]


@pytest.mark.spark
def test_spark_target_lints_as_sparksql(project: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_SPARK_WAREHOUSE", str(tmp_path / "warehouse"))
    result = _lint(project, "spark")
    assert result.metadata["dialect"] == "sparksql"
    assert _parse_errors(result, "spark_only") == []
