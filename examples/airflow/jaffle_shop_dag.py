"""Airflow DAG: examples/jaffle_shop as one task per seed and model, its tests after each.

Put this file in Airflow's dags folder. JAFFLE_SHOP_DIR points at the dbt project (default: the
example next to this folder); FLOE_DBT_RUNTIME=fusion runs every task on dbt Fusion instead of
dbt-core (falling back to dbt-core when Fusion cannot serve).
"""

import os
from datetime import datetime
from pathlib import Path

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset

from floe_dbt_airflow import DbtProject, DbtSeedOperator, DbtTaskGroup

PROJECT = DbtProject(
    project_dir=os.environ.get("JAFFLE_SHOP_DIR", Path(__file__).parent.parent / "jaffle_shop"),
    runtime=os.environ.get("FLOE_DBT_RUNTIME"),  # None: floe.yml's runtime, dbt-core by default
)

with DAG(
    dag_id="jaffle_shop",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dbt"],
) as dag:
    seeds = DbtSeedOperator(task_id="seed", project=PROJECT)
    models = DbtTaskGroup(
        group_id="jaffle_shop",
        project=PROJECT,
        select=["path:models"],        # dbt selection syntax; exclude= works the same way
        mode="per_node",               # or "single_invocation": one dbt build, per-node reports
        test_behavior="after_each",    # or "separate" (a <model>_test task) or "none"
        operator_args={"retries": 1},
    )
    seeds >> models

# Data-aware scheduling: this DAG runs whenever the customers task has built the table.
with DAG(
    dag_id="after_customers",
    schedule=[Asset(uri="duckdb://jaffle_shop/main/customers", name="jaffle_shop.main.customers")],
    start_date=datetime(2026, 1, 1),
    catchup=False,
) as downstream:
    EmptyOperator(task_id="customers_refreshed")
