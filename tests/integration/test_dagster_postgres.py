"""The Dagster assets of the example materialize against the PostgreSQL test cluster (real Dagster,
real dbt-core): the assets name the server's relations and the server holds the rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dagster import AssetExecutionContext, materialize
from floe_dbt_dagster import DBTResource, floe_dbt_assets

from tests.services.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MODELS = {"stg_customers", "stg_orders", "stg_payments", "customers", "orders"}
SEEDS = {"raw_customers", "raw_orders", "raw_payments"}


def test_example_assets_materialize_on_postgres(example_project: Path,
                                                postgres_server: PostgresServer,
                                                pg_env: dict[str, str]) -> None:
    schema = pg_env["FLOE_PG_SCHEMA"]
    resource = DBTResource(project_dir=str(example_project), runtime="core", target="postgres")

    @floe_dbt_assets(resource=resource, name="jaffle_shop_pg")
    def assets(context: AssetExecutionContext, dbt: DBTResource) -> Iterator[Any]:
        yield from dbt.stream(context)

    specs = {s.key.to_user_string(): s for s in assets.specs}
    assert specs["customers"].kinds == {"dbt", "postgres"}
    assert specs["customers"].metadata["dagster/table_name"] == f'"floe"."{schema}"."customers"'

    result = materialize([assets], resources={"dbt": resource}, raise_on_error=False)

    assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert done == MODELS | SEEDS
    connection = psycopg2.connect(postgres_server.dsn())
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'select count(*) from "{schema}".customers')
            assert cursor.fetchone() == (15,)
    finally:
        connection.close()
