"""The OpenLineage plugin's parts without a dbt engine: when it switches on, how it names jobs,
namespaces and datasets, which nodes it reports, and that lineage trouble never changes a result.

Runtimes here are small fake plugins; the plugin itself still arrives through its entry point, and
events go through the real client's file transport.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from floe_dbt_openlineage import OpenLineagePlugin, transport_source
from floe_dbt_openlineage.datasets import DatasetIndex
from floe_dbt_openlineage.events import node_job_name
from floe_dbt_openlineage.namespace import dataset_namespace, fix_snowflake_account, target_output
from floe_dbt_openlineage.nodes import ExecutedNode, executed_nodes
from floe_dbt_openlineage.settings import RunRef, from_environment

from floe_dbt_hooks import DBTRunResult, NodeResult, RunRequest, RuntimeInfo, hookimpl
from floe_dbt_hooks.errors import DBTExecutionError
from floe_dbt_hooks.models import CompileResult, NodeTiming, ParentRun, from_dict, to_dict
from floe_dbt_hooks.plugin.manager import create_plugin_manager
from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES, write_project

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _isolated_environment(isolated_openlineage_env: None) -> None:
    """Every test here runs with the shared, restored OpenLineage-free environment."""


# --- switching on -------------------------------------------------------------------------------


def test_no_transport_means_inactive(tmp_path: Path) -> None:
    assert transport_source({}, tmp_path, tmp_path) is None
    assert transport_source({"OPENLINEAGE_NAMESPACE": "x", "OPENLINEAGE__TRANSPORT__TYPE": ""},
                            tmp_path, tmp_path) is None


@pytest.mark.parametrize(("env", "source"), [
    ({"OPENLINEAGE_URL": "http://lineage:5000"}, "OPENLINEAGE_URL"),
    ({"OPENLINEAGE__TRANSPORT__TYPE": "console"}, "OPENLINEAGE__TRANSPORT__TYPE"),
    ({"OPENLINEAGE__TRANSPORT": '{"type": "console"}'}, "OPENLINEAGE__TRANSPORT"),
])
def test_environment_variables_switch_it_on(tmp_path: Path, env: dict[str, str], source: str) -> None:
    assert transport_source(env, tmp_path, tmp_path) == (source, None)
    assert transport_source({**env, "OPENLINEAGE_DISABLED": "True"}, tmp_path, tmp_path) is None


def test_config_file_is_found_where_the_client_looks(tmp_path: Path) -> None:
    cwd, home, elsewhere = (tmp_path / n for n in ("cwd", "home", "elsewhere"))
    for folder in (cwd, home / ".openlineage", elsewhere):
        folder.mkdir(parents=True)
    (home / ".openlineage" / "openlineage.yml").write_text("transport: {type: console}\n")
    assert transport_source({}, cwd, home) == (
        f"config file {home / '.openlineage' / 'openlineage.yml'}",
        home / ".openlineage" / "openlineage.yml")
    (cwd / "openlineage.yml").write_text("transport: {type: console}\n")
    assert transport_source({}, cwd, home)[1] == cwd / "openlineage.yml"  # type: ignore[index]
    explicit = elsewhere / "lineage.yml"
    explicit.write_text("transport: {type: console}\n")
    env = {"OPENLINEAGE_CONFIG": str(explicit)}
    assert transport_source(env, cwd, home)[1] == explicit  # type: ignore[index]
    missing = {"OPENLINEAGE_CONFIG": str(elsewhere / "missing.yml")}
    assert transport_source(missing, cwd, home)[1] == cwd / "openlineage.yml"  # type: ignore[index]


def test_settings_follow_dbt_ol_naming_variables(tmp_path: Path) -> None:
    settings = from_environment("OPENLINEAGE_URL", None, {})
    assert (settings.job_namespace, settings.job_name, settings.parent, settings.root) == (
        "dbt", None, None, None)
    env = {"OPENLINEAGE_NAMESPACE": "analytics", "OPENLINEAGE_DBT_JOB_NAME": "nightly",
           "OPENLINEAGE_PARENT_ID": "airflow/dag.task/run-1"}
    settings = from_environment("OPENLINEAGE_URL", None, env)
    assert (settings.job_namespace, settings.job_name) == ("analytics", "nightly")
    assert settings.parent == settings.root == RunRef("airflow", "dag.task", "run-1")
    env["OPENLINEAGE_ROOT_PARENT_ID"] = "airflow/dag/run-0"
    assert from_environment("x", None, env).root == RunRef("airflow", "dag", "run-0")
    assert RunRef.parse("not-a-parent") is None
    assert RunRef.parse("a//c") is None
    config = tmp_path / "ol.yml"
    config.write_text("transport:\n  type: file\n  log_file_path: x.jsonl\n")
    assert from_environment("f", config, {}).client_config() == {
        "transport": {"type": "file", "log_file_path": "x.jsonl"}}


def test_plugin_module_never_imports_openlineage() -> None:
    code = ("import sys, floe_dbt_openlineage\n"
            "floe_dbt_openlineage.OpenLineagePlugin().dbt_configure(None)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'openlineage'))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True, env=env).stdout
    assert out.strip() == "[]"


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("adapter", "output", "namespace"), [
    ("duckdb", {"path": "jaffle_shop.duckdb"}, "duckdb://jaffle_shop.duckdb"),
    ("duckdb", {}, "duckdb://:memory:"),
    ("duckdb", {"path": "md:analytics"}, "duckdb://md:analytics"),
    ("postgres", {"host": "db", "port": 5432}, "postgres://db:5432"),
    ("redshift", {"host": "rs.amazonaws.com", "port": 5439}, "redshift://rs.amazonaws.com:5439"),
    ("snowflake", {"account": "xy12345.eu-west-1"}, "snowflake://xy12345.eu-west-1.aws"),
    ("snowflake", {"account": "myorg-myaccount"}, "snowflake://myorg-myaccount"),
    ("bigquery", {"project": "p"}, "bigquery"),
    ("databricks", {"host": "dbc.cloud.databricks.com"}, "databricks://dbc.cloud.databricks.com"),
    ("sqlserver", {"server": "sql", "port": 1433}, "mssql://sql:1433"),
    ("athena", {"region_name": "eu-west-1"}, "awsathena://athena.eu-west-1.amazonaws.com"),
    ("glue", {"region": "eu-west-1", "role_arn": "arn:aws:iam::123456789012:role/r"},
     "arn:aws:glue:eu-west-1:123456789012"),
    ("spark", {"host": "spark", "method": "thrift"}, "spark://spark:10001"),
    ("postgres", {"host": "127.0.0.1", "port": "5433"}, "postgres://127.0.0.1:5433"),
    ("postgres", {"host": "db"}, "postgres://db:5432"),
    ("spark", {"method": "session", "host": "NA",
               "server_side_parameters": {"spark.sql.warehouse.dir": "/tmp/wh"}}, "file"),
    ("spark", {"method": "session", "host": "NA"}, "file"),
    ("spark", {"method": "session", "host": "NA",
               "server_side_parameters": {"spark.sql.warehouse.dir": "s3a://lake/warehouse"}},
     "s3://lake"),
    ("spark", {"method": "session", "host": "NA",
               "server_side_parameters": {"spark.sql.warehouse.dir": "hdfs://nn:8020/user/hive"}},
     "hdfs://nn:8020"),
    ("spark", {"method": "session", "host": "NA", "server_side_parameters": {
        "spark.hadoop.hive.metastore.uris": "thrift://meta:9083,thrift://meta2:9083"}},
     "hive://meta:9083"),
    ("mysql", {"host": "db", "port": 3306}, "mysql://db:3306"),
    ("sqlite", {"database": "main"}, "sqlite://main"),
])
def test_dataset_namespace_matches_dbt_ol(adapter: str, output: dict[str, Any], namespace: str) -> None:
    assert dataset_namespace(adapter, output) == namespace


def test_snowflake_locator_gets_default_region() -> None:
    assert fix_snowflake_account("xy12345") == "xy12345.us-west-1.aws"
    assert fix_snowflake_account("xy12345.east-us-2.azure") == "xy12345.east-us-2.azure"


def test_target_output_renders_env_vars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = DUCKDB_PROFILES.replace("path: contract.duckdb",
                                       "path: \"{{ env_var('OL_DB', 'x.duckdb') }}\"")
    project = write_project(tmp_path / "p", {**CONTRACT_PROJECT, "profiles.yml": profiles})
    monkeypatch.setenv("OL_DB", "warehouse.duckdb")
    output = target_output(project, None, None)
    assert dataset_namespace(str(output["type"]), output) == "duckdb://warehouse.duckdb"


def test_example_targets_render_to_spec_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's postgres and spark targets, env_var() defaults and overrides, nested
    server_side_parameters included."""
    example = Path(__file__).resolve().parents[2] / "examples" / "jaffle_shop"
    monkeypatch.delenv("FLOE_PG_HOST", raising=False)
    monkeypatch.setenv("FLOE_PG_PORT", "6543")
    monkeypatch.setenv("FLOE_SPARK_WAREHOUSE", "s3a://lake/wh")
    postgres = target_output(example, None, "postgres")
    assert dataset_namespace("postgres", postgres) == "postgres://127.0.0.1:6543"
    spark = target_output(example, None, "spark")
    assert dataset_namespace("spark", spark) == "s3://lake"


@pytest.mark.parametrize(("unique_id", "kind", "command", "name"), [
    ("model.shop.orders", "model", "run", "db.main.shop.orders"),
    ("model.shop.orders", "model", "build", "db.main.shop.orders.build.run"),
    ("seed.shop.raw", "seed", "seed", "db.main.shop.raw.seed"),
    ("snapshot.shop.snap", "snapshot", "build", "db.main.shop.snap.build.snapshot"),
    ("test.shop.not_null_x.abc", "test", "test", "db.main.shop.not_null_x.abc.test"),
    ("model.shop.orders", "model", "compile", "db.main.shop.orders.compile"),
])
def test_node_job_names_follow_dbt_ol(unique_id: str, kind: str, command: str, name: str) -> None:
    assert node_job_name(unique_id, kind, {"database": "db", "schema": "main"}, command) == name


# --- datasets -----------------------------------------------------------------------------------

MANIFEST: dict[str, Any] = {
    "nodes": {
        "model.p.base": {"resource_type": "model", "unique_id": "model.p.base", "database": "db",
                         "schema": "s", "alias": "base", "config": {"materialized": "ephemeral"},
                         "depends_on": {"nodes": ["source.p.raw.events", "seed.p.codes"]}},
        "seed.p.codes": {"resource_type": "seed", "unique_id": "seed.p.codes", "database": "db",
                         "schema": "s", "alias": "codes", "columns": {}, "depends_on": {}},
        "model.p.out": {"resource_type": "model", "unique_id": "model.p.out", "database": "db",
                        "schema": "marts", "alias": "out_v2", "description": "Final.",
                        "columns": {"id": {"name": "id", "data_type": "int", "description": "Key."}},
                        "config": {"materialized": "table"},
                        "depends_on": {"nodes": ["model.p.base", "seed.p.codes"]}},
        "test.p.unique_out_id": {"resource_type": "test", "unique_id": "test.p.unique_out_id",
                                 "name": "unique_out_id", "attached_node": "model.p.out",
                                 "test_metadata": {"name": "unique", "kwargs": {"column_name": "id"}},
                                 "config": {"severity": "ERROR", "error_if": "> 5"},
                                 "depends_on": {"nodes": ["model.p.out"]}},
    },
    "sources": {
        "source.p.raw.events": {"resource_type": "source", "unique_id": "source.p.raw.events",
                                "name": "events", "identifier": "events_2026", "database": "lake",
                                "schema": "raw", "columns": {}},
    },
}


def _executed(unique_id: str, kind: str, status: str = "success", **extra: Any) -> ExecutedNode:
    return ExecutedNode(unique_id=unique_id, resource_type=kind, status=status,  # type: ignore[arg-type]
                        started_at=NOW, completed_at=NOW, **extra)


def test_inputs_look_through_ephemeral_models_and_name_sources_by_identifier() -> None:
    index = DatasetIndex(MANIFEST, "duckdb://w.duckdb")
    inputs = index.inputs(_executed("model.p.out", "model"))
    assert [i.name for i in inputs] == ["db.s.codes", "lake.raw.events_2026"]
    output = index.output(_executed("model.p.out", "model", rows_affected=7), statistics=True)
    assert output is not None
    assert (output.namespace, output.name) == ("duckdb://w.duckdb", "db.marts.out_v2")
    facets: Any = output.facets
    assert [(f.name, f.type, f.description) for f in facets["schema"].fields] == [("id", "int", "Key.")]
    assert facets["documentation"].description == "Final."
    assert output.outputFacets["outputStatistics"].rowCount == 7  # type: ignore[index, attr-defined]
    assert index.output(_executed("model.p.base", "model"), statistics=True) is None
    codes = index.output(_executed("seed.p.codes", "seed", rows_affected=0), statistics=True)
    assert codes is not None
    assert "schema" not in (codes.facets or {})
    assert codes.outputFacets == {}


def test_test_nodes_read_the_tested_relation_with_an_assertion() -> None:
    index = DatasetIndex(MANIFEST, "ns")
    executed = _executed("test.p.unique_out_id", "test", status="fail", failures=9)
    assert index.output(executed, statistics=True) is None
    (tested,) = index.inputs(executed)
    facets: Any = tested.inputFacets
    (assertion,) = facets["dataQualityAssertions"].assertions
    assert (assertion.assertion, assertion.column, assertion.success, assertion.severity) == (
        "unique", "id", False, "error")
    assert (assertion.actual, assertion.expected) == ("9", "> 5")


# --- which nodes ----------------------------------------------------------------------------------


def _result(cls: type[Any], command: str, nodes: tuple[NodeResult, ...]) -> Any:
    return cls(success=True, command=command, runtime="core", invocation_id="i", project_dir=".",
               nodes=nodes)


def test_executed_nodes_skip_what_did_not_run_and_take_sql_from_run_results() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)
    nodes = (
        NodeResult(unique_id="model.p.out", resource_type="model", name="out", status="success",
                   timing=(NodeTiming(name="compile", started_at=naive, completed_at=naive),
                           NodeTiming(name="execute", started_at=naive, completed_at=naive))),
        NodeResult(unique_id="model.p.later", resource_type="model", name="later", status="skipped"),
        NodeResult(unique_id="operation.p.hook", resource_type="operation", name="h", status="success"),
    )
    run_results = {"results": [{"unique_id": "model.p.out", "compiled_code": "select 1"}]}
    manifest = {"nodes": {"model.p.out": {"compiled_code": "select 2"}}}
    (out,) = executed_nodes(_result(DBTRunResult, "run", nodes), manifest, run_results,
                            fallback_time=NOW)
    assert (out.unique_id, out.compiled_code, out.started_at) == ("model.p.out", "select 1", NOW)
    (out,) = executed_nodes(_result(DBTRunResult, "run", nodes), manifest, None, fallback_time=NOW)
    assert out.compiled_code == "select 2"


def test_compile_without_node_results_reports_the_manifests_compiled_nodes() -> None:
    manifest = {"nodes": {
        "model.p.a": {"resource_type": "model", "compiled": True, "compiled_code": "select 1"},
        "model.p.b": {"resource_type": "model", "compiled": False},
        "seed.p.s": {"resource_type": "seed"},
    }}
    found = executed_nodes(_result(CompileResult, "compile", ()), manifest, None, fallback_time=NOW)
    assert [(n.unique_id, n.status, n.compiled_code) for n in found] == [
        ("model.p.a", "success", "select 1")]
    seed = NodeResult(unique_id="seed.p.s", resource_type="seed", name="s", status="success")
    assert executed_nodes(_result(CompileResult, "compile", (seed,)), manifest, None,
                          fallback_time=NOW) == []


# --- the wrapper, with a fake runtime -------------------------------------------------------------


class FakeRuntime:
    """A runtime that returns a fixed result, or raises."""

    name = "fake_runtime"

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    @hookimpl
    def dbt_runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo(name="fake", plugin=self.name, version="1", available=True)

    @hookimpl(tryfirst=True)
    def dbt_run(self, request: RunRequest) -> DBTRunResult:
        if self.error is not None:
            raise self.error
        return DBTRunResult(
            success=False, command=request.command, runtime="fake",
            invocation_id=request.invocation_id, project_dir=request.project_dir,
            metadata={"dbt_version": "9.9.9"},
            nodes=(NodeResult(unique_id="model.contract.adults", resource_type="model", name="adults",
                              status="error", error_message="boom"),
                   NodeResult(unique_id="model.contract.base_people", resource_type="model",
                              name="base_people", status="success")),
        )


def _run_fake(tmp_path: Path, runtime: FakeRuntime,
              parent_run: ParentRun | None = None) -> tuple[Any, list[dict[str, Any]]]:
    project = write_project(tmp_path / "contract", {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})
    output = tmp_path / "events.jsonl"
    os.environ.update({"OPENLINEAGE__TRANSPORT__TYPE": "file",
                       "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(output),
                       "OPENLINEAGE__TRANSPORT__APPEND": "true"})
    pm = create_plugin_manager(project, runtime="fake", plugins=[runtime])
    assert isinstance(pm.get_plugin("openlineage"), OpenLineagePlugin)
    try:
        result = pm.hook.dbt_run(request=RunRequest(project_dir=project, command="run",
                                                    parent_run=parent_run))
    finally:
        events = [json.loads(line) for line in output.read_text().splitlines()] \
            if output.exists() else []
    return result, events


def test_nodes_without_artifacts_still_get_runs(tmp_path: Path) -> None:
    result, events = _run_fake(tmp_path, FakeRuntime())
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        ("START", "dbt-run-contract"),
        ("START", "contract.adults"), ("FAIL", "contract.adults"),
        ("START", "contract.base_people"), ("COMPLETE", "contract.base_people"),
        ("FAIL", "dbt-run-contract"),
    ]
    assert result.metadata["openlineage_run_id"] == events[0]["run"]["runId"]
    assert events[2]["run"]["facets"]["errorMessage"]["message"] == "boom"
    assert events[-1]["run"]["facets"]["processing_engine"]["version"] == "9.9.9"
    assert all(e["inputs"] == [] and e["outputs"] == [] for e in events)


TASK_RUN = "01900000-0000-7000-8000-000000000002"
DAG_RUN = "01900000-0000-7000-8000-000000000003"


def test_requests_parent_run_wins_over_the_environments(tmp_path: Path) -> None:
    """An orchestrator's per-invocation parent (an Airflow task) names the invocation's parent and
    root, and so the root of every node run, even when the environment names another parent."""
    os.environ["OPENLINEAGE_PARENT_ID"] = "env/env.task/00000000-0000-0000-0000-000000000001"
    parent = ParentRun(namespace="airflow", job_name="dag.task", run_id=TASK_RUN,
                       root_job_name="dag", root_run_id=DAG_RUN)
    _, events = _run_fake(tmp_path, FakeRuntime(), parent)
    invocation = events[0]["run"]
    facet = invocation["facets"]["parent"]
    assert (facet["job"]["namespace"], facet["job"]["name"], facet["run"]["runId"]) == (
        "airflow", "dag.task", TASK_RUN)
    assert (facet["root"]["job"]["name"], facet["root"]["run"]["runId"]) == ("dag", DAG_RUN)
    node = events[1]["run"]["facets"]["parent"]
    assert (node["job"]["name"], node["run"]["runId"]) == ("dbt-run-contract", invocation["runId"])
    assert (node["root"]["job"]["name"], node["root"]["run"]["runId"]) == ("dag", DAG_RUN)
    request = RunRequest(project_dir=tmp_path, parent_run=parent)
    assert from_dict(to_dict(request), RunRequest) == request
    _, env_events = _run_fake(tmp_path / "env", FakeRuntime())
    assert env_events[0]["run"]["facets"]["parent"]["job"]["name"] == "env.task"


def test_raising_runtime_gives_fail_and_the_same_error(tmp_path: Path) -> None:
    error = DBTExecutionError("engine crashed")
    with pytest.raises(DBTExecutionError) as raised:
        _run_fake(tmp_path, FakeRuntime(error))
    assert raised.value is error
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert "engine crashed" in events[1]["run"]["facets"]["errorMessage"]["message"]


def test_missing_openlineage_only_costs_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "floe_dbt_openlineage.lineage", None)  # import fails
    caplog.set_level(logging.WARNING, logger="floe_dbt_hooks")
    result, events = _run_fake(tmp_path, FakeRuntime())
    assert len(result.nodes) == 2
    assert "openlineage_run_id" not in result.metadata
    assert events == []
    assert [r.getMessage() for r in caplog.records] == ["openlineage_unavailable"]


def test_bad_transport_config_only_costs_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    os.environ["OPENLINEAGE_CONFIG"] = str(tmp_path / "openlineage.yml")
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: no-such-transport\n")
    caplog.set_level(logging.WARNING, logger="floe_dbt_hooks")
    project = write_project(tmp_path / "contract", {**CONTRACT_PROJECT, "profiles.yml": DUCKDB_PROFILES})
    pm = create_plugin_manager(project, runtime="fake", plugins=[FakeRuntime()])
    result = pm.hook.dbt_run(request=RunRequest(project_dir=project, command="run"))
    assert len(result.nodes) == 2
    assert "openlineage_setup_failed" in [r.getMessage() for r in caplog.records]
