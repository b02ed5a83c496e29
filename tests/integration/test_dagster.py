"""The Dagster integration on real Dagster (``materialize`` with an ephemeral instance), real
dbt-core and dbt Fusion, and the example project on DuckDB: every assertion that matters reads the
DuckDB file the run wrote."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DagsterEventType,
    Definitions,
    ExecuteInProcessResult,
    materialize,
)
from floe_dbt_dagster import (
    DBTResource,
    DBTStream,
    build_dbt_asset_selection,
    floe_dbt_assets,
    get_asset_key_for_model,
)

from floe_dbt_hooks import DBTFacade
from floe_dbt_hooks.orchestration.graph import DBTGraph
from tests.conftest import copy_example

pytestmark = pytest.mark.integration

FUSION_BIN = os.environ.get("FLOE_DBT_FUSION_BIN", "")
MODELS = {"stg_customers", "stg_orders", "stg_payments", "customers", "orders"}
SEEDS = {"raw_customers", "raw_orders", "raw_payments"}


@pytest.fixture(autouse=True)
def _real_fusion() -> None:
    assert Path(FUSION_BIN).is_file(), "FLOE_DBT_FUSION_BIN must point at the real Fusion binary"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "jaffle_shop")


def dbt_assets(resource: DBTResource, streams: list[DBTStream] | None = None,
               name: str = "jaffle_shop", **options: Any) -> AssetsDefinition:
    @floe_dbt_assets(resource=resource, name=name, **options)
    def assets(context: AssetExecutionContext, dbt: DBTResource) -> Iterator[Any]:
        stream = dbt.stream(context)
        if streams is not None:
            streams.append(stream)
        yield from stream

    return assets


def run(assets: AssetsDefinition, resource: DBTResource, **options: Any) -> ExecuteInProcessResult:
    return materialize([assets], resources={"dbt": resource}, raise_on_error=False, **options)


def materialized(result: ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    return {e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def checks(result: ExecuteInProcessResult) -> dict[str, Any]:
    found = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.event_specific_data
            found[f"{data.asset_key.to_user_string()}:{data.check_name}"] = data
    return found


def step_failure(result: ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert failures, "the step did not fail"
    return str(failures[0].event_specific_data.error.message)


def relations(project: Path, database: str = "jaffle_shop.duckdb") -> dict[str, int]:
    """Every table and view in the DuckDB file with its row count."""
    with duckdb.connect(str(project / database), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
        ).fetchall()]
        return {n: con.execute(f'select count(*) from "{n}"').fetchone()[0]  # type: ignore[index]
                for n in names}


def test_full_materialization_on_core(project: Path) -> None:
    resource = DBTResource(project_dir=str(project), runtime="core")
    streams: list[DBTStream] = []
    assets = dbt_assets(resource, streams)
    specs = {s.key.to_user_string(): s for s in assets.specs}
    assert set(specs) == MODELS | SEEDS
    assert specs["customers"].group_name == "marts"
    assert specs["stg_orders"].group_name == "staging"
    assert {d.asset_key.to_user_string() for d in specs["orders"].deps} == {
        "stg_orders", "stg_payments"}
    assert specs["customers"].description.startswith("One row per customer")
    refs = specs["customers"].metadata["dagster/code_references"].code_references
    assert refs[0].file_path == str(project / "models" / "marts" / "customers.sql")
    assert specs["customers"].metadata["dagster/table_name"] == '"jaffle_shop"."main"."customers"'
    assert specs["customers"].kinds == {"dbt", "duckdb"}
    check_specs = {f"{c.asset_key.to_user_string()}:{c.name}": c for c in assets.check_specs}
    assert len(check_specs) == 25
    relationship = check_specs[
        "orders:relationships_orders_customer_id__customer_id__ref_customers_"]
    assert relationship.blocking
    assert {d.asset_key for d in relationship.additional_deps} == {AssetKey("customers")}
    assert "orders:assert_order_amounts_not_negative" in check_specs  # singular test, one parent
    assert get_asset_key_for_model([assets], "orders") == AssetKey("orders")

    result = run(assets, resource)

    assert result.success
    done = materialized(result)
    assert set(done) == MODELS | SEEDS
    customers = done["customers"]
    assert customers["status"] == "success"
    assert customers["runtime"] == "core"
    assert customers["relation_name"] == '"jaffle_shop"."main"."customers"'
    assert customers["execution_time"] >= 0
    assert "fallback_reason" not in customers
    assert done["raw_orders"]["rows_affected"] == 24
    evaluated = checks(result)
    assert len(evaluated) == 25
    assert all(c.passed for c in evaluated.values())
    tables = relations(project)
    assert tables["customers"] == 15
    assert tables["orders"] == 24
    assert tables["raw_payments"] == 29
    assert set(tables) >= MODELS | SEEDS
    assert streams[0].result is not None
    assert streams[0].result.runtime == "core"
    assert streams[0].yielded_while_running > 0, "events were batched at the end, not streamed"


def test_subset_runs_exactly_the_selection(project: Path) -> None:
    resource = DBTResource(project_dir=str(project), runtime="core")
    assets = dbt_assets(resource)
    seeds = run(assets, resource, selection=[AssetKey(s) for s in SEEDS])
    assert seeds.success
    assert set(materialized(seeds)) == SEEDS
    assert set(relations(project)) == SEEDS

    # stg_customers alone, one of its four checks deselected. dbt's eager indirect selection would
    # also run stg_orders' relationships test to stg_customers, which fails with no stg_orders.
    selection = build_dbt_asset_selection([assets], "stg_customers") - AssetSelection.checks(
        AssetCheckKey(AssetKey("stg_customers"), "unique_stg_customers_email"))
    subset = run(assets, resource, selection=selection)
    assert subset.success, step_failure(subset)
    assert set(materialized(subset)) == {"stg_customers"}
    assert set(checks(subset)) == {
        "stg_customers:unique_stg_customers_customer_id",
        "stg_customers:not_null_stg_customers_customer_id",
        "stg_customers:not_null_stg_customers_signup_date",
    }
    assert set(relations(project)) == SEEDS | {"stg_customers"}


def _break_stg_orders(project: Path) -> None:
    path = project / "models" / "staging" / "stg_orders.sql"
    path.write_text(path.read_text().replace("select", "select no_such_column,", 1))


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_failing_model_fails_its_asset_and_skips_downstream(project: Path, runtime: str) -> None:
    _break_stg_orders(project)
    resource = DBTResource(project_dir=str(project), runtime=runtime, fallback=False)
    result = run(dbt_assets(resource), resource)

    assert not result.success
    assert set(materialized(result)) == SEEDS | {"stg_customers", "stg_payments"}
    message = step_failure(result)
    assert "model.jaffle_shop.stg_orders: models/staging/stg_orders.sql" in message
    assert "no_such_column" in message
    assert "skipped downstream: model.jaffle_shop.orders, model.jaffle_shop.customers" in message \
        or {"model.jaffle_shop.orders", "model.jaffle_shop.customers"} <= set(
            message.split("skipped downstream: ")[1].split("\n")[0].split(", "))
    tables = relations(project)
    assert {"stg_customers", "stg_payments"} <= set(tables)
    assert not {"stg_orders", "orders", "customers"} & set(tables)


def test_failing_test_is_a_failed_check(project: Path) -> None:
    (project / "tests" / "customers_have_no_orders.sql").write_text(
        "select * from {{ ref('customers') }} where number_of_orders > 0\n")
    resource = DBTResource(project_dir=str(project), runtime="core")
    result = run(dbt_assets(resource), resource)

    failed = checks(result)["customers:customers_have_no_orders"]
    assert not failed.passed
    assert failed.severity.value == "ERROR"
    assert failed.metadata["failures"].value > 0
    assert all(c.passed for k, c in checks(result).items() if k != "customers:customers_have_no_orders")
    assert set(materialized(result)) == MODELS | SEEDS  # the model itself was built
    assert "blocking asset check" in step_failure(result)  # severity error: Dagster fails the step
    assert relations(project)["customers"] == 15


def test_runtime_fusion(project: Path) -> None:
    resource = DBTResource(project_dir=str(project), runtime="fusion", fallback=False)
    loaded = resource.load_manifest()
    assert (loaded.how, loaded.runtime) == ("compiled", "fusion")
    streams: list[DBTStream] = []
    result = run(dbt_assets(resource, streams), resource)

    assert result.success, step_failure(result)
    done = materialized(result)
    assert set(done) == MODELS | SEEDS
    assert {m["runtime"] for m in done.values()} == {"fusion"}
    assert done["orders"]["relation_name"] == '"jaffle_shop"."main"."orders"'
    assert len(checks(result)) == 25
    # Fusion's node events carry no row counts; run_results.json does, as a later observation.
    observed = {e.asset_key.to_user_string(): e.event_specific_data.asset_observation.metadata
                for e in result.all_events if e.event_type == DagsterEventType.ASSET_OBSERVATION}
    assert observed["raw_customers"]["rows_affected"].value == 15
    assert relations(project)["orders"] == 24
    assert streams[0].yielded_while_running > 0


def test_runtime_fusion_falling_back_to_core(project: Path) -> None:
    resource = DBTResource(project_dir=str(project), runtime="fusion",
                           plugin_settings={"fusion": {"binary": str(project / "no-such-dbt")}})
    result = run(dbt_assets(resource), resource)

    assert result.success, step_failure(result)
    done = materialized(result)
    assert set(done) == MODELS | SEEDS
    for metadata in done.values():
        assert metadata["runtime"] == "core"
        assert metadata["fallback_from"] == "fusion"
        assert metadata["fallback_reason_code"] == "binary-missing"
        assert "no-such-dbt" in metadata["fallback_reason"]
    assert relations(project)["customers"] == 15


def _node_span(stream: DBTStream) -> tuple[Any, Any]:
    assert stream.result is not None
    starts = [t.started_at for n in stream.result.nodes for t in n.timing if t.started_at]
    ends = [t.completed_at for n in stream.result.nodes for t in n.timing if t.completed_at]
    return min(starts), max(ends)


@pytest.mark.parametrize("runtime", ["core", "fusion"])
def test_two_runs_in_one_process(project: Path, runtime: str) -> None:
    """Two Dagster runs at once, into two DuckDB files: dbt-core's invocations never interleave
    (the runtime's process-wide lock), Fusion's run in parallel."""
    (project / "models" / "marts" / "busy.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select count(*) as n from range(25000) a, range(25000) b\n"
        "where (a.range * 31 + b.range) % 1000003 = 7\n")  # a few seconds: parallel runs overlap
    barrier = threading.Barrier(2, timeout=120)
    streams: dict[str, DBTStream] = {}
    outcomes: dict[str, bool] = {}

    def launch(target: str) -> None:
        resource = DBTResource(project_dir=str(project), runtime=runtime, target=target,
                               fallback=False)

        @floe_dbt_assets(resource=resource, name=f"jaffle_{target}")
        def assets(context: AssetExecutionContext, dbt: DBTResource) -> Iterator[Any]:
            barrier.wait()
            streams[target] = dbt.stream(context)
            yield from streams[target]

        outcomes[target] = run(assets, resource).success

    threads = [threading.Thread(target=launch, args=(t,)) for t in ("dev", "ci")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert outcomes == {"dev": True, "ci": True}
    (a_start, a_end), (b_start, b_end) = _node_span(streams["dev"]), _node_span(streams["ci"])
    overlap = a_start < b_end and b_start < a_end
    assert overlap == (runtime == "fusion"), (runtime, a_start, a_end, b_start, b_end)
    assert relations(project, "jaffle_shop.duckdb")["customers"] == 15
    assert relations(project, "ci.duckdb")["customers"] == 15


def test_core_definitions_reuse_a_fresh_manifest(project: Path) -> None:
    resource = DBTResource(project_dir=str(project), runtime="core")
    first = resource.load_manifest()
    assert (first.how, first.runtime) == ("compiled", "core")
    again = resource.load_manifest()
    assert again.how == "reused"
    assert again.path == first.path
    assert again.freshness is not None
    assert again.freshness.fresh

    extra = project / "models" / "marts" / "extra.sql"
    extra.write_text("select 1 as id\n")  # written after the manifest: it is stale now
    added = resource.load_manifest()
    assert added.how == "compiled"
    assert "model.jaffle_shop.extra" in added.manifest["nodes"]

    extra.unlink()  # a removed model leaves no newer file, but its folder changed
    removed = resource.load_manifest()
    assert removed.how == "compiled"
    assert "model.jaffle_shop.extra" not in removed.manifest["nodes"]

    # A manifest the CLI (or dbt) wrote in target/ is reused as well.
    DBTFacade(runtime="core").compile(project, isolate=False)
    written = resource.load_manifest()
    assert written.how == "reused"
    assert written.path == project / "target" / "manifest.json"
    assert DBTResource(project_dir=str(project), runtime="core", target="ci").load_manifest().how \
        == "reused"  # target/manifest.json records no target: documented


def test_definitions_selection_matches_dbt(project: Path) -> None:
    """The manifest-side selector agrees with dbt-core's own selection on the example."""
    facade = DBTFacade(runtime="core")
    manifest = facade.get_manifest(project, facade.compile(project).target_path)
    graph = DBTGraph(manifest, project)
    for select, exclude in [("staging", None), ("+orders", None), ("stg_orders+", None),
                            ("@stg_customers", None), ("path:models/marts", None),
                            ("resource_type:seed", None), ("config.materialized:view", None),
                            ("marts,resource_type:model", None), ("fqn:*", "staging"),
                            ("1+customers", "resource_type:test"), ("*payments*", None)]:
        ours = graph.select(select, exclude)
        dbt = {n.unique_id for n in facade.compile(project, select=select, exclude=exclude).nodes}
        assert ours & set(graph.nodes) == dbt, (select, exclude)


def test_definitions_object_loads(project: Path) -> None:
    resource = DBTResource(project_dir=str(project), runtime="fusion")
    assets = dbt_assets(resource, select="marts")
    defs = Definitions(assets=[assets], resources={"dbt": resource})
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} >= {"orders", "customers"}
    assert {s.key.to_user_string() for s in assets.specs} == {"orders", "customers"}
    assert AssetCheckKey(AssetKey("orders"), "unique_orders_order_id") in assets.check_keys



def test_an_error_before_any_node_fails_the_step_with_the_floe_error(project: Path) -> None:
    assets = dbt_assets(DBTResource(project_dir=str(project), runtime="core"))
    wrong = DBTResource(project_dir=str(project), runtime="core", target="nope")
    result = run(assets, wrong)

    assert not result.success
    message = step_failure(result)
    assert "FLOE-DBT-E003" in message
    assert "target 'nope' not found" in message
    assert materialized(result) == {}


def test_stopping_the_step_cancels_fusion(project: Path) -> None:
    (project / "models" / "marts" / "slow.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select count(*) as n from range(3000000) a, range(3000000) b\n"
        "where (a.range * 31 + b.range) % 1000003 = 7\n")
    resource = DBTResource(project_dir=str(project), runtime="fusion", fallback=False)
    seen: list[str] = []
    stopped: list[float] = []

    @floe_dbt_assets(resource=resource, select="raw_customers slow")
    def assets(context: AssetExecutionContext, dbt: DBTResource) -> Iterator[Any]:
        events = iter(dbt.stream(context))
        first = next(events)  # the seed finished; the slow model is running now
        seen.append(first.asset_key.to_user_string())  # type: ignore[union-attr]
        yield first
        started = time.perf_counter()
        events.close()  # what Dagster does to the step's generator when the run is stopped
        pm = dbt.plugin_manager()
        fusion = pm.get_plugin("floe_dbt_fusion")
        while fusion._running and time.perf_counter() - started < 60:
            time.sleep(0.05)
        stopped.append(time.perf_counter() - started)

    result = run(assets, resource)
    assert seen == ["raw_customers"]
    assert result.success
    assert stopped, "the asset function did not get past closing the stream"
    assert stopped[0] < 30, stopped
    assert "slow" not in relations(project)
