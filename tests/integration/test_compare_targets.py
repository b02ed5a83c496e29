"""``compare --execute`` on server targets: each runtime's build goes into a schema of its own on
the same PostgreSQL server or Spark cluster, and the tables are compared with SQL that engine
supports (row counts, column types, order-independent content checksums).

Fusion declines PostgreSQL and Spark here (experimental adapters, no ADBC driver offline), so the
two builds compared are dbt-core's, each into the place compare prepared for one runtime: real data
in two schemas, one of them then changed on the server."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from floe_dbt_hooks.compare.runner import BuildPlace, build_place, compare_runtimes, read_tables
from floe_dbt_hooks.models import DBTRunResult, RunRequest
from floe_dbt_hooks.plugin.manager import create_plugin_manager
from floe_dbt_hooks.testing import CONTRACT_PROJECT, write_project
from tests.services.fixtures import spark_profile, unique_schema
from tests.services.postgres import PostgresServer
from tests.services.spark import SparkCluster, process_session

pytestmark = pytest.mark.integration
RUNTIMES = ("core", "fusion")


def _build_into(project: Path, place: BuildPlace, target: str | None) -> DBTRunResult:
    pm = create_plugin_manager(project, runtime="core", fallback=False)
    result: DBTRunResult = pm.hook.dbt_run(request=RunRequest(
        project_dir=project, command="build", profiles_dir=place.profiles_dir, target=target,
        runtime="core", fallback=False))
    assert result.success, result.failures
    return result


@pytest.mark.postgres
def test_postgres_builds_compare_by_schema(example_project: Path, postgres_server: PostgresServer,
                                           pg_env: dict[str, str], tmp_path: Path) -> None:
    schema = pg_env["FLOE_PG_SCHEMA"]
    places = [build_place(example_project, None, "postgres", tmp_path / "work", runtime)
              for runtime in RUNTIMES]
    assert [p.output["schema"] for p in places] == [f"{schema}_core", f"{schema}_fusion"]
    for place in places:
        assert pg_env["FLOE_PG_PASSWORD"] not in (place.profiles_dir / "profiles.yml").read_text()
    builds = [_build_into(example_project, place, "postgres") for place in places]

    tables = read_tables(places, builds)
    orders = tables["model.jaffle_shop.orders"]
    assert orders.row_counts == (24, 24)
    assert orders.same, orders
    assert "order_id:integer" in orders.columns[0]
    assert all(t.same for t in tables.values()), {k: v for k, v in tables.items() if not v.same}

    connection = psycopg2.connect(postgres_server.dsn())
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'update "{schema}_fusion".raw_payments set amount = amount + 100 '
                           "where id = 1")
            cursor.execute(f'alter table "{schema}_fusion".customers '
                           "alter column number_of_orders type numeric")
    finally:
        connection.close()
    changed = read_tables(places, builds)
    payments = changed["seed.jaffle_shop.raw_payments"]
    assert payments.row_counts == (29, 29)
    assert payments.checksums[0] != payments.checksums[1], "one amount changed"
    customers = changed["model.jaffle_shop.customers"]
    assert customers.columns[0] != customers.columns[1], "a column type changed"
    assert changed["model.jaffle_shop.stg_customers"].same


@pytest.mark.postgres
def test_compare_on_postgres_reports_fusion_declining(example_project: Path,
                                                      pg_env: dict[str, str]) -> None:
    result = compare_runtimes(example_project, RUNTIMES, target="postgres", execute=True)
    core, fusion = result.outcomes
    assert core.ok
    assert not fusion.ok
    assert fusion.message
    assert not result.executed or all(n.verdict != "same" or n.data for n in result.nodes)


@pytest.mark.spark
def test_spark_builds_compare_by_schema(tmp_path: Path, spark_cluster: SparkCluster,
                                        spark_process_dirs: tuple[Path, Path]) -> None:
    schema = unique_schema("cmp")
    warehouse, derby = spark_process_dirs
    project = write_project(tmp_path / "contract", {
        **CONTRACT_PROJECT,
        "profiles.yml": spark_profile("contract", schema,
                                      spark_cluster.server_side_parameters(warehouse, derby)),
    })
    places = [build_place(project, None, None, tmp_path / "work", runtime) for runtime in RUNTIMES]
    builds = [_build_into(project, place, None) for place in places]
    tables = read_tables(places, builds)
    adults = tables["model.contract.adults"]
    assert adults.row_counts == (2, 2)
    assert adults.same, adults
    assert adults.columns[0] == ("id:bigint", "name:string")

    process_session().sql(f"insert into {schema}_fusion.adults values (9, 'extra')")
    changed = read_tables(places, builds)["model.contract.adults"]
    assert changed.row_counts == (2, 3)
    assert changed.checksums[0] != changed.checksums[1]
