"""floe_dbt_prefect on a real Prefect server with real dbt-core and the real Fusion binary, on DuckDB
copies of examples/jaffle_shop: flow and task run states, artifacts, logs and asset events as the
server recorded them."""

from __future__ import annotations

from pathlib import Path

import pytest
from floe_dbt_prefect import DbtProject, dbt_flow, dbt_task

from tests.prefect.conftest import materializations, recorded, relation_counts, table

pytestmark = pytest.mark.integration

SEEDS = {"raw_customers", "raw_orders", "raw_payments"}
MODELS = {"stg_customers", "stg_orders", "stg_payments", "orders", "customers"}
BUILT = {f"duckdb://jaffle_shop/main/{name}" for name in SEEDS | MODELS}


def test_per_node_on_core(project: Path) -> None:
    state = dbt_flow(DbtProject(project_dir=project, runtime="core"))(return_state=True)

    run = recorded(state)
    assert run.flow_run.state.is_completed(), state.message
    tasks = run.task_runs()
    # One task per model and seed (with its own tests), one per relationships test.
    assert {n for n in tasks if n.startswith("Materialize ")} == (
        {f"Materialize seed {s}" for s in SEEDS} | {f"Materialize model {m}" for m in MODELS})
    assert len([n for n in tasks if n.startswith("Execute test relationships")]) == 3
    assert all(t.state.is_completed() for t in tasks.values()), {
        n: t.state.name for n, t in tasks.items()}
    rows = table({a.key: a for a in run.artifacts()}["dbt-run-summary"])
    assert {r["node"] for r in rows if r["status"] == "success"} >= {
        "model.jaffle_shop.orders", "test.jaffle_shop.assert_order_amounts_not_negative"}
    assert "dbt-fallback" not in {a.key for a in run.artifacts()}

    events = run.asset_events(wanted=len(BUILT))
    done = materializations(events)
    assert set(done) == BUILT
    orders = done["duckdb://jaffle_shop/main/orders"]
    assert orders["event"] == "prefect.asset.materialization.succeeded"
    assert orders["payload"]["runtime"] == "core"
    assert orders["payload"]["status"] == "success"
    assert orders["resource"]["prefect.resource.name"] == "orders"
    related = {r["prefect.resource.id"] for r in orders["related"]}
    assert {"duckdb://jaffle_shop/main/stg_orders", "duckdb://jaffle_shop/main/stg_payments",
            "dbt"} <= related
    assert relation_counts(project)["customers"] == 15


def test_per_wave_on_fusion(project: Path) -> None:
    state = dbt_flow(DbtProject(project_dir=project, runtime="fusion", fallback=False),
                     mode="per_wave")(return_state=True)

    run = recorded(state)
    assert run.flow_run.state.is_completed(), state.message
    tasks = run.task_runs()
    assert sorted(tasks) == [f"Execute dbt wave {i}" for i in range(4)]
    assert all(t.state.is_completed() for t in tasks.values())
    done = materializations(run.asset_events(wanted=len(BUILT)))
    assert set(done) == BUILT
    assert {e["payload"]["runtime"] for e in done.values()} == {"fusion"}
    assert all(e["event"].endswith(".succeeded") for e in done.values())
    # The wave task emitted each node's event itself, linked to the task run that built it.
    wave = tasks["Execute dbt wave 3"]
    customers = done["duckdb://jaffle_shop/main/customers"]
    assert f"prefect.task-run.{wave.id}" in {r["prefect.resource.id"] for r in customers["related"]}
    assert relation_counts(project)["orders"] == 24


def test_fallback_in_logs_and_artifacts(project: Path) -> None:
    dbt = DbtProject(project_dir=project, runtime="fusion",
                     plugin_settings={"fusion": {"binary": str(project / "no-such-dbt")}})
    state = dbt_flow(dbt, mode="single", exclude="customers")(return_state=True)

    run = recorded(state)
    assert run.flow_run.state.is_completed(), state.message
    artifacts = {a.key: a for a in run.artifacts()}
    fallback = artifacts["dbt-fallback"]
    assert fallback.type == "markdown"
    assert "binary-missing" in fallback.data
    assert "no-such-dbt" in fallback.data
    assert "Served by **core**" in fallback.data
    rows = table(artifacts["dbt-run-summary"])
    assert {r["fallback"] for r in rows} == {"fusion (binary-missing)"}
    assert {r["runtime"] for r in rows} == {"core"}
    logs = run.logs(lambda text: "declined (binary-missing)" in text)
    warnings = [log.message for log in logs if log.level == 30]
    assert any("runtime fusion declined (binary-missing)" in w for w in warnings), warnings
    done = materializations(run.asset_events(wanted=len(BUILT) - 1))
    assert set(done) == BUILT - {"duckdb://jaffle_shop/main/customers"}
    orders = done["duckdb://jaffle_shop/main/orders"]
    assert orders["payload"]["fallback_from"] == "fusion"
    assert orders["payload"]["fallback_reason_code"] == "binary-missing"
    assert orders["payload"]["runtime"] == "core"


def _break(project: Path) -> None:
    (project / "models" / "marts" / "orders.sql").write_text(
        "select order_id, no_such_column from {{ ref('stg_orders') }}\n")


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_failed_model_fails_its_task_and_skips_downstream(project: Path, runtime: str) -> None:
    _break(project)
    state = dbt_flow(DbtProject(project_dir=project, runtime=runtime, fallback=False),
                     tests="none")(return_state=True)

    run = recorded(state)
    assert run.flow_run.state.is_failed()
    tasks = run.task_runs()
    failed = tasks["Materialize model orders"]
    assert failed.state.is_failed()
    assert "models/marts/orders.sql" in (failed.state.message or "") or \
        "orders" in (failed.state.message or "")
    assert all(tasks[f"Materialize model {m}"].state.is_completed()
               for m in ("stg_orders", "stg_customers", "stg_payments"))
    # customers reads orders: not run, as dbt would skip it.
    assert "Materialize model customers" not in tasks
    logs = run.logs(lambda text: "model orders ERROR" in text)
    errors = [log.message for log in logs if log.level == 40]
    assert any("model orders ERROR" in e and "no_such_column" in e for e in errors), errors
    assert any("not run: upstream model.jaffle_shop.orders" in log.message for log in logs)
    rows = {r["node"]: r for r in table({a.key: a for a in run.artifacts()}["dbt-run-summary"])}
    assert rows["model.jaffle_shop.orders"]["status"] == "error"
    assert rows["model.jaffle_shop.customers"]["status"] == "skipped"
    done = materializations(run.asset_events(wanted=7))
    assert done["duckdb://jaffle_shop/main/orders"]["event"] == \
        "prefect.asset.materialization.failed"
    assert "duckdb://jaffle_shop/main/customers" not in done


def test_task_factory_in_a_users_flow(project: Path) -> None:
    from prefect import flow

    seed = dbt_task(DbtProject(project_dir=project), "seed", assets=False)
    build = dbt_task(DbtProject(project_dir=project, runtime="fusion"), "build",
                     select="stg_customers", exclude="test_name:relationships")

    @flow
    def mine() -> list[str]:
        seeded = seed()
        built = build()
        return [seeded["runtime"], built["runtime"], *sorted(
            n["unique_id"] for n in built["nodes"] if n["resource_type"] == "model")]

    state = mine(return_state=True)
    assert state.is_completed(), state.message
    assert state.result() == ["core", "fusion", "model.jaffle_shop.stg_customers"]
    done = materializations(recorded(state).asset_events(wanted=1))
    assert set(done) == {"duckdb://jaffle_shop/main/stg_customers"}


def test_test_severity_decides_the_task_state(project: Path) -> None:
    tests = project / "tests"
    (tests / "few_customers.sql").write_text(
        "{{ config(severity='warn') }}\nselect * from {{ ref('raw_customers') }} where id < 3\n")
    (tests / "no_customers.sql").write_text(
        "select * from {{ ref('stg_customers') }} where customer_id > 0\n")
    state = dbt_flow(DbtProject(project_dir=project, runtime="core"),
                     select="+stg_customers", exclude="test_name:relationships")(return_state=True)

    run = recorded(state)
    assert run.flow_run.state.is_failed()
    tasks = run.task_runs()
    assert tasks["Materialize seed raw_customers"].state.is_completed()  # warn: logged only
    failed = tasks["Materialize model stg_customers"].state
    assert failed.is_failed()
    assert "test.jaffle_shop.no_customers" in (failed.message or "")
    logs = run.logs(lambda text: "test few_customers WARN" in text)
    assert any("test few_customers WARN" in log.message and log.level == 30 for log in logs)
    rows = {r["node"]: r for r in table({a.key: a for a in run.artifacts()}["dbt-run-summary"])}
    assert rows["test.jaffle_shop.few_customers"]["status"] == "warn"
    assert rows["test.jaffle_shop.no_customers"]["status"] == "fail"
    assert rows["model.jaffle_shop.stg_customers"]["status"] == "success"
