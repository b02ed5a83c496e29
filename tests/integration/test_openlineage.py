"""The OpenLineage plugin (contrib/floe_dbt_openlineage) with the real openlineage-python client,
its file and HTTP transports, the real dbt-core and the real Fusion binary on jaffle_shop.

The plugin is not handed to the plugin manager here: it must arrive through its ``floe.dbt`` entry
point, like in any installation, and switch itself on from the standard OpenLineage settings.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from floe_dbt_openlineage import OpenLineagePlugin

from floe_dbt_hooks import CompileRequest, DBTRunResult, RunRequest, create_plugin_manager
from floe_dbt_hooks.artifacts import load_artifact
from floe_dbt_hooks.errors import DBTCompilationError
from floe_dbt_hooks.plugin.manager import FloePluginManager
from tests.conftest import RunCLI, copy_example

pytestmark = pytest.mark.integration

Event = dict[str, Any]
FUSION_BIN = os.environ.get("FLOE_DBT_FUSION_BIN", "")
RUNTIMES = ("core", "fusion")
INVOCATION_JOB = "dbt-run-jaffle_shop"
NAMESPACE = "duckdb://jaffle_shop.duckdb"
MODEL_LINEAGE = {
    "stg_customers": ["jaffle_shop.main.raw_customers"],
    "stg_orders": ["jaffle_shop.main.raw_orders"],
    "stg_payments": ["jaffle_shop.main.raw_payments"],
    "orders": ["jaffle_shop.main.stg_orders", "jaffle_shop.main.stg_payments"],
    "customers": ["jaffle_shop.main.orders", "jaffle_shop.main.stg_customers"],
}
"""Each model's inputs as datasets (sorted by name), from the project's refs."""
SEED_ROWS = {"raw_customers": 15, "raw_orders": 24, "raw_payments": 29}


@pytest.fixture(autouse=True)
def _isolated_environment(isolated_openlineage_env: None) -> None:
    """Every test here runs with the shared, restored OpenLineage-free environment."""


@pytest.fixture
def fusion_available() -> None:
    assert Path(FUSION_BIN).is_file(), (
        "FLOE_DBT_FUSION_BIN must point at the real Fusion binary; scripts/bootstrap.py test sets it"
    )


class Receiver:
    """What the local lineage endpoint was sent."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.requests: list[tuple[str, Event]] = []
        self.lock = threading.Lock()

    @property
    def events(self) -> list[Event]:
        with self.lock:
            return [event for _, event in self.requests]


@contextlib.contextmanager
def lineage_receiver(status: int = 201, lifetime: float = 300.0) -> Iterator[Receiver]:
    """An HTTP endpoint on 127.0.0.1 (ephemeral port) that keeps every POSTed event and answers
    ``status``; it stops when the block ends, or by itself after ``lifetime`` seconds."""
    max_body = 5_000_000

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= max_body:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with receiver.lock:
                receiver.requests.append((self.path, json.loads(body)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    deadline = threading.Timer(lifetime, server.shutdown)
    deadline.daemon = True
    deadline.start()
    try:
        yield receiver
    finally:
        deadline.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _file_transport(path: Path) -> None:
    """Configure the file transport through OPENLINEAGE_CONFIG, one standard way."""
    config = path.with_suffix(".yml")
    config.write_text(f"transport:\n  type: file\n  log_file_path: {path}\n  append: true\n")
    os.environ["OPENLINEAGE_CONFIG"] = str(config)


def _read_events(path: Path) -> list[Event]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _manager(project: Path, runtime: str) -> FloePluginManager:
    pm = create_plugin_manager(project, runtime=runtime, fallback=False)
    plugin = pm.get_plugin("openlineage")
    assert isinstance(plugin, OpenLineagePlugin), "loaded through the floe.dbt entry point"
    assert pm.origins["openlineage"].distribution == "floe-dbt-openlineage"
    assert plugin.active
    return pm


def _build(project: Path, runtime: str, command: str = "build") -> DBTRunResult:
    result: DBTRunResult = _manager(project, runtime).hook.dbt_run(
        request=RunRequest(project_dir=project, command=command)  # type: ignore[arg-type]
    )
    assert result.runtime == runtime
    return result


def _runs(events: list[Event]) -> dict[str, list[Event]]:
    runs: dict[str, list[Event]] = {}
    for event in events:
        runs.setdefault(event["run"]["runId"], []).append(event)
    return runs


def _node_runs(events: list[Event], invocation_run_id: str) -> dict[str, list[Event]]:
    """Node runs by job name: every run whose parent is the invocation."""
    out: dict[str, list[Event]] = {}
    for run_id, run in _runs(events).items():
        if run_id != invocation_run_id:
            assert run[0]["run"]["facets"]["parent"]["run"]["runId"] == invocation_run_id
            out[run[0]["job"]["name"]] = run
    return out


def _job_ref(job: dict[str, Any]) -> tuple[str, str]:
    return job["namespace"], job["name"]


def _node_job(unique_id: str, command: str, schema: str = "main") -> str:
    kind = unique_id.split(".")[0]
    local = unique_id.split(".", 1)[1]
    suffix = {"model": "run"}.get(kind, kind)
    return f"jaffle_shop.{schema}.{local}.build.{suffix}" if command == "build" else \
        f"jaffle_shop.{schema}.{local}"


def check_build_events(events: list[Event], result: DBTRunResult, runtime: str) -> None:
    """Everything a successful build of jaffle_shop must have produced, whatever the runtime."""
    run_id = result.metadata["openlineage_run_id"]
    uuid.UUID(run_id)
    first, last = events[0], events[-1]
    assert (first["eventType"], first["run"]["runId"], first["job"]) == (
        "START", run_id, {**first["job"], "namespace": "dbt", "name": INVOCATION_JOB})
    assert (last["eventType"], last["run"]["runId"]) == ("COMPLETE", run_id)
    assert [e["eventType"] for e in _runs(events)[run_id]] == ["START", "COMPLETE"]
    dbt_run = last["run"]["facets"]["dbt_run"]
    assert dbt_run["invocation_id"] == result.invocation_id
    assert (dbt_run["dbt_runtime"], dbt_run["project_name"], dbt_run["profile_name"]) == (
        runtime, "jaffle_shop", "jaffle_shop")
    assert last["run"]["facets"]["processing_engine"]["name"] == "dbt"
    assert "parent" not in first["run"]["facets"], "no orchestrator above this invocation"

    nodes = _node_runs(events, run_id)
    executed = {n.unique_id for n in result.nodes}
    assert len(executed) == 33
    assert len(nodes) == 33, sorted(nodes)
    for job_name, run in nodes.items():
        assert [e["eventType"] for e in run] == ["START", "COMPLETE"], job_name
        start, end = run
        assert start["eventTime"] <= end["eventTime"]
        parent = start["run"]["facets"]["parent"]
        assert _job_ref(parent["job"]) == ("dbt", INVOCATION_JOB)
        assert parent["root"]["run"]["runId"] == run_id
        assert end["run"]["facets"]["parent"] == parent
        assert start["job"]["namespace"] == "dbt"
        for dataset in (*start["inputs"], *start["outputs"]):
            assert dataset["namespace"] == NAMESPACE
    assert len({e["run"]["runId"] for run in nodes.values() for e in run}) == 33

    for model, inputs in MODEL_LINEAGE.items():
        start, end = nodes[_node_job(f"model.jaffle_shop.{model}", "build")]
        assert [i["name"] for i in end["inputs"]] == inputs
        assert [o["name"] for o in end["outputs"]] == [f"jaffle_shop.main.{model}"]
        assert end["job"]["facets"]["jobType"]["jobType"] == "MODEL"
        sql = end["job"]["facets"]["sql"]
        assert sql["dialect"] == "duckdb"
        assert f'"jaffle_shop"."main"."{inputs[0].rsplit(".", 1)[1]}"' in sql["query"]
        assert end["job"]["facets"]["dbt_node"]["unique_id"] == f"model.jaffle_shop.{model}"
    customers = nodes[_node_job("model.jaffle_shop.customers", "build")][1]["outputs"][0]
    fields = {f["name"]: f.get("description") for f in customers["facets"]["schema"]["fields"]}
    assert fields["customer_id"] == "Primary key of the customer."
    assert set(fields) == {"customer_id", "first_name", "last_name", "signup_date", "first_order",
                           "most_recent_order", "number_of_orders", "customer_lifetime_value"}
    assert customers["facets"]["dataSource"]["uri"] == NAMESPACE
    for seed, rows in SEED_ROWS.items():
        _, end = nodes[_node_job(f"seed.jaffle_shop.{seed}", "build")]
        assert end["inputs"] == []
        assert end["outputs"][0]["name"] == f"jaffle_shop.main.{seed}"
        assert end["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == rows

    test_id = next(u for u in executed if u.startswith("test.jaffle_shop.not_null_customers_customer_id"))
    _, end = nodes[_node_job(test_id, "build", schema="main_dbt_test__audit")]
    assert end["job"]["facets"]["jobType"]["jobType"] == "TEST"
    (tested,) = end["inputs"]
    assert tested["name"] == "jaffle_shop.main.customers"
    (assertion,) = tested["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert (assertion["assertion"], assertion["column"], assertion["success"]) == (
        "not_null", "customer_id", True)
    assert end["outputs"] == []


def _normalised(events: list[Event]) -> dict[tuple[str, str], Event]:
    """Node events without what legitimately differs between two invocations: ids and times."""
    out = {}
    for event in events:
        facets = event["run"]["facets"]
        if "parent" not in facets:
            continue
        event = json.loads(json.dumps(event))
        del event["eventTime"], event["run"]["runId"]
        for name in ("parent", "dbt_run", "processing_engine"):
            event["run"]["facets"].pop(name)
        out[(event["job"]["name"], event["eventType"])] = event
    return out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_build_events_over_http(runtime: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if runtime == "fusion":
        request.getfixturevalue("fusion_available")
    project = copy_example(tmp_path / "jaffle_shop")
    with lineage_receiver() as receiver:
        os.environ["OPENLINEAGE_URL"] = receiver.url
        result = _build(project, runtime)
    assert result.success
    assert {path for path, _ in receiver.requests} == {"/api/v1/lineage"}
    check_build_events(receiver.events, result, runtime)


def test_file_transport_events_are_identical_on_core_and_fusion(
    tmp_path: Path, fusion_available: None
) -> None:
    results, events = {}, {}
    for runtime in RUNTIMES:
        output = tmp_path / f"{runtime}.jsonl"
        _file_transport(output)
        results[runtime] = _build(copy_example(tmp_path / runtime / "jaffle_shop"), runtime)
        events[runtime] = _read_events(output)
        check_build_events(events[runtime], results[runtime], runtime)
    core, fusion = (_normalised(events[r]) for r in RUNTIMES)
    assert core.keys() == fusion.keys()
    for key in core:
        assert core[key] == fusion[key], key


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_failing_model_fails_its_run_and_the_invocation(
    runtime: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if runtime == "fusion":
        request.getfixturevalue("fusion_available")
    project = copy_example(tmp_path / "jaffle_shop")
    (project / "models" / "marts" / "orders.sql").write_text(
        "select order_id, nonexistent_column from {{ ref('stg_orders') }}\n"
    )
    output = tmp_path / "events.jsonl"
    os.environ.update({"OPENLINEAGE__TRANSPORT__TYPE": "file", "OPENLINEAGE__TRANSPORT__APPEND": "true",
                       "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(output)})
    result = _build(project, runtime)
    assert not result.success
    events = _read_events(output)
    run_id = result.metadata["openlineage_run_id"]
    assert [e["eventType"] for e in _runs(events)[run_id]] == ["START", "FAIL"]
    error = events[-1]["run"]["facets"]["errorMessage"]
    assert error["message"] == "1 node(s) failed: model.jaffle_shop.orders"
    nodes = _node_runs(events, run_id)
    start, fail = nodes[_node_job("model.jaffle_shop.orders", "build")]
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert "nonexistent_column" in fail["run"]["facets"]["errorMessage"]["message"]
    assert fail["run"]["facets"]["errorMessage"]["programmingLanguage"] == "SQL"
    assert [o["name"] for o in start["outputs"]] == ["jaffle_shop.main.orders"]
    assert fail["outputs"] == [], "a failed node wrote nothing"
    skipped = {n.unique_id for n in result.nodes if n.status == "skipped"}
    assert "model.jaffle_shop.customers" in skipped
    assert _node_job("model.jaffle_shop.customers", "build") not in nodes, "skipped nodes never ran"
    assert len(nodes) == len(result.nodes) - len(skipped)
    assert all(run[-1]["eventType"] == "COMPLETE" for job, run in nodes.items()
               if ".orders." not in job)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_raising_invocation_emits_fail_and_reraises(
    runtime: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if runtime == "fusion":
        request.getfixturevalue("fusion_available")
    project = copy_example(tmp_path / "jaffle_shop")
    (project / "models" / "staging" / "stg_orders.sql").write_text("select 1 as id\n{% if %}\n")
    output = tmp_path / "events.jsonl"
    _file_transport(output)
    pm = _manager(project, runtime)
    with pytest.raises(DBTCompilationError) as raised:
        pm.hook.dbt_compile(request=CompileRequest(project_dir=project))
    events = _read_events(output)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        ("START", INVOCATION_JOB), ("FAIL", INVOCATION_JOB)]
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"]
    message = events[1]["run"]["facets"]["errorMessage"]["message"]
    assert message == str(raised.value)
    assert "FLOE-DBT-E001" in message


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_compile_reports_compiled_nodes(
    runtime: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if runtime == "fusion":
        request.getfixturevalue("fusion_available")
    project = copy_example(tmp_path / "jaffle_shop")
    output = tmp_path / "events.jsonl"
    _file_transport(output)
    result = _manager(project, runtime).hook.dbt_compile(
        request=CompileRequest(project_dir=project, select="customers"))
    events = _read_events(output)
    nodes = _node_runs(events, result.metadata["openlineage_run_id"])
    assert "jaffle_shop.main.jaffle_shop.customers.compile" in nodes
    assert all(job.endswith(".compile") for job in nodes)
    _, end = nodes["jaffle_shop.main.jaffle_shop.customers.compile"]
    assert [i["name"] for i in end["inputs"]] == MODEL_LINEAGE["customers"]
    assert "outputStatistics" not in end["outputs"][0]["outputFacets"]
    assert "stg_customers" in end["job"]["facets"]["sql"]["query"]
    manifest = load_artifact(result.manifest_path)
    tests = {u for u, n in manifest["nodes"].items() if u.startswith("test.")
             and "model.jaffle_shop.customers" in n["depends_on"]["nodes"]}
    assert len(nodes) == 1 + len(tests), sorted(nodes)


def test_unreachable_backend_never_breaks_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    caplog.set_level(logging.WARNING, logger="floe_dbt_hooks")
    with lineage_receiver(status=400) as receiver:
        os.environ.update({"OPENLINEAGE__TRANSPORT__TYPE": "http",
                           "OPENLINEAGE__TRANSPORT__URL": receiver.url})
        result = _build(project, "core", command="seed")
    assert result.success
    assert result.node_counts == {"success": 3}
    assert len(receiver.requests) == 1, "the first refused event stops the rest"
    warnings = [r for r in caplog.records if r.getMessage() == "openlineage_emit_failed"]
    assert len(warnings) == 1
    # the refused START, 3 seeds x (START, COMPLETE) and the invocation's COMPLETE
    assert (getattr(warnings[0], "events_sent", None), getattr(warnings[0], "events_dropped", None)) == (
        0, 8)
    assert "HTTPError" in getattr(warnings[0], "error", "")


def test_inactive_without_transport_and_openlineage_never_imported(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    script = (
        "import sys\n"
        "from floe_dbt_hooks import RunRequest, create_plugin_manager\n"
        f"pm = create_plugin_manager({str(project)!r})\n"
        "plugin = pm.get_plugin('openlineage')\n"
        "assert plugin is not None and not plugin.active\n"
        f"result = pm.hook.dbt_run(request=RunRequest(project_dir={str(project)!r}, command='seed'))\n"
        "assert result.success and 'openlineage_run_id' not in result.metadata\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('openlineage')\n"
        "                or m in ('floe_dbt_openlineage.lineage', 'floe_dbt_openlineage.settings'))\n"
        "print('loaded:', loaded)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    env.update(HOME=str(tmp_path), DO_NOT_TRACK="1")
    completed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "loaded: []" in completed.stdout, completed.stdout


def test_cli_with_openlineage_yml_in_the_working_directory(
    tmp_path: Path, floe_dbt: RunCLI
) -> None:
    project = copy_example(tmp_path / "jaffle_shop")
    output = tmp_path / "events.jsonl"
    (tmp_path / "openlineage.yml").write_text(
        f"transport:\n  type: file\n  log_file_path: {output}\n  append: true\n")
    env = {"OPENLINEAGE_NAMESPACE": "analytics", "OPENLINEAGE_DBT_JOB_NAME": "nightly",
           "OPENLINEAGE_PARENT_ID": "airflow/dag.task/01a21fe6-0000-7000-8000-000000000001"}
    plugins = floe_dbt("plugins", "--project-dir", str(project), env=env)
    assert "entry point from floe-dbt-openlineage 0.1.0" in plugins.stdout, plugins
    result = floe_dbt("seed", "--project-dir", str(project), "-s", "raw_orders", env=env)
    assert result.code == 0, result
    events = _read_events(output)
    assert [(e["eventType"], e["job"]["namespace"], e["job"]["name"]) for e in events] == [
        ("START", "analytics", "nightly"),
        ("START", "analytics", "jaffle_shop.main.jaffle_shop.raw_orders.seed"),
        ("COMPLETE", "analytics", "jaffle_shop.main.jaffle_shop.raw_orders.seed"),
        ("COMPLETE", "analytics", "nightly"),
    ]
    parent = events[0]["run"]["facets"]["parent"]
    assert (_job_ref(parent["job"]), parent["run"]["runId"]) == (
        ("airflow", "dag.task"), "01a21fe6-0000-7000-8000-000000000001")
    node_parent = events[1]["run"]["facets"]["parent"]
    assert node_parent["run"]["runId"] == events[0]["run"]["runId"]
    assert _job_ref(node_parent["root"]["job"]) == ("airflow", "dag.task")
    blocked = floe_dbt("seed", "--project-dir", str(project), "-s", "raw_orders",
                       "-p", "no:openlineage", env=env)
    assert blocked.code == 0, blocked
    assert len(_read_events(output)) == 4, "a blocked plugin emits nothing"
