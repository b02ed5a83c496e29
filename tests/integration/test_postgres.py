"""PostgreSQL as a real target: the runtime contract, the example through the CLI, and faults
(server down, wrong password, unknown database, a backend killed mid-run) against a throwaway
cluster this run started (tests/services/postgres.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from floe_dbt_core.connection_errors import describe_connection_failure

from floe_dbt_hooks.testing import RuntimeContract, write_project
from tests.conftest import RunCLI
from tests.services.fixtures import postgres_profile, unique_schema
from tests.services.postgres import PostgresServer
from tests.services.processes import free_port, kill_group

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

FAULT_SECONDS = 60.0
"""A connection fault must end the invocation well within this (connect_timeout is 5-10 s)."""


def query(server: PostgresServer, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(server.dsn())
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


class TestCorePostgresContract(RuntimeContract):
    """dbt-core's contract on PostgreSQL, each test in a schema of its own."""

    runtime = "core"
    universal_fallback = True

    @pytest.fixture
    def contract_profiles_yml(self, pg_env: dict[str, str]) -> str:
        return postgres_profile("contract", pg_env["FLOE_PG_SCHEMA"])

    @pytest.fixture
    def contract_column(self, postgres_server: PostgresServer,
                        pg_env: dict[str, str]) -> Callable[[str, str], list[Any]]:
        schema = pg_env["FLOE_PG_SCHEMA"]
        return lambda model, column: [
            row[0] for row in query(postgres_server, f'select {column} from "{schema}".{model}')]


def test_example_builds_on_postgres(example_project: Path, floe_dbt: RunCLI,
                                    postgres_server: PostgresServer, pg_env: dict[str, str]) -> None:
    result = floe_dbt("build", "--project-dir", str(example_project), "-t", "postgres",
                      "--output", "json")
    assert result.code == 0, result
    data = json.loads(result.stdout)
    assert data["node_counts"] == {"success": 33}
    assert data["metadata"]["adapter_type"] == "postgres"
    rows = query(postgres_server, f'select count(*) from "{pg_env["FLOE_PG_SCHEMA"]}".customers')
    assert rows == [(15,)]
    assert query(postgres_server, "select rolsuper from pg_roles where rolname = current_user") == [
        (False,)], "built as an ordinary role, as in production"
    assert not list(example_project.glob("*.duckdb")), "nothing of the DuckDB targets is touched"


def _assert_connection_fault(result: Any, elapsed: float, endpoint: str, password: str,
                             field: str) -> None:
    output = result.stdout + result.stderr
    assert result.code == 2, result
    assert "FLOE-DBT-E003" in result.stderr, result
    assert endpoint in output.replace('"', "").replace(", port ", ":"), result
    assert f"profile field{'s' if ' and ' in field else ''} {field}" in result.stderr, result
    assert "profiles.yml" in result.stderr, result
    assert "Traceback" not in output, result
    assert password not in output
    assert elapsed < FAULT_SECONDS, f"took {elapsed:.0f}s"


@pytest.mark.parametrize(
    ("fault", "override", "field"),
    [
        ("server down", {"FLOE_PG_PORT": "unused"}, "'host' and 'port'"),
        ("wrong password", {"FLOE_PG_PASSWORD": "not-the-password-4711"}, "'user' and 'password'"),
        ("unknown database", {"FLOE_PG_DATABASE": "no_such_database"}, "'dbname'"),
    ],
)
def test_connection_faults_are_configuration_errors(
    fault: str, override: dict[str, str], field: str, example_project: Path, floe_dbt: RunCLI,
    postgres_server: PostgresServer, pg_env: dict[str, str],
) -> None:
    env = {**pg_env, **override}
    if env["FLOE_PG_PORT"] == "unused":
        env["FLOE_PG_PORT"] = str(free_port())
    started = time.monotonic()
    result = floe_dbt("build", "--project-dir", str(example_project), "-t", "postgres", env=env)
    _assert_connection_fault(result, time.monotonic() - started,
                             f"127.0.0.1:{env['FLOE_PG_PORT']}", env["FLOE_PG_PASSWORD"], field)


def _connect_error(server: PostgresServer, **override: str) -> str:
    settings = {"host": server.host, "port": str(server.port), "user": server.user,
                "password": server.password, "dbname": server.database, "connect_timeout": "5",
                **override}
    with pytest.raises(psycopg2.OperationalError) as caught:
        psycopg2.connect(**settings)
    return str(caught.value)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"port": "free"}, "'host' and 'port'"),
        ({"password": "not-the-password-4711"}, "'password'"),
        ({"dbname": "no_such_database"}, "'dbname'"),
        ({"user": "nobody_here"}, "'user'"),
    ],
)
def test_real_connection_failures_name_the_profile_field(
    override: dict[str, str], field: str, postgres_server: PostgresServer
) -> None:
    """describe_connection_failure on what psycopg2 really says for each fault of this server."""
    if override.get("port") == "free":
        override = {"port": str(free_port())}
    output = {"type": "postgres", "host": postgres_server.host,
              "port": int(override.get("port", postgres_server.port)),
              "user": override.get("user", postgres_server.user),
              "dbname": override.get("dbname", postgres_server.database),
              "password": override.get("password", postgres_server.password)}
    described = describe_connection_failure(_connect_error(postgres_server, **override), output)
    assert described is not None
    message, hint = described
    assert f"127.0.0.1:{output['port']}" in message
    assert field in message
    assert postgres_server.password not in message + hint
    assert hint


def test_password_appears_in_no_output_or_file(example_project: Path, floe_dbt: RunCLI,
                                               postgres_server: PostgresServer,
                                               pg_env: dict[str, str]) -> None:
    """Successful and failed runs, debug logging on: the password is in no output and no file
    under the project (target/, logs/, artifacts)."""
    password = pg_env["FLOE_PG_PASSWORD"]
    outputs: list[str] = []
    for args, env in (
        (("build", "--output", "json"), pg_env),
        (("compile",), pg_env),
        (("docs", "generate"), pg_env),
        (("run",), {**pg_env, "FLOE_PG_DATABASE": "no_such_database"}),
    ):
        result = floe_dbt(*args, "--project-dir", str(example_project), "-t", "postgres",
                          env={**env, "DBT_LOG_LEVEL_FILE": "debug"})
        outputs += [result.stdout, result.stderr]
    assert all(password not in text for text in outputs)
    files = [p for p in example_project.rglob("*") if p.is_file()]
    assert any(p.name == "dbt.log" for p in files), "the debug log was written and checked"
    leaking = [p for p in files if password.encode() in p.read_bytes()]
    assert leaking == []


SLOW_PROJECT: dict[str, str] = {
    "dbt_project.yml": "name: slow\nprofile: slow\nconfig-version: 2\nversion: '1.0.0'\n",
    "models/fast.sql": "select 1 as id\n",
    "models/slow.sql": "{{ config(materialized='table') }}\nselect f.id from {{ ref('fast') }} as f "
                       "cross join pg_sleep(60)\n",
    "models/after_slow.sql": "select * from {{ ref('slow') }}\n",
    "models/after_after.sql": "select * from {{ ref('after_slow') }}\n",
}


@pytest.fixture
def running_cli(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed with their children if the test leaves them running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            kill_group(process.pid, grace=2.0)
            process.wait()


def test_backend_killed_mid_run_errors_that_node_and_skips_dependants(
    tmp_path: Path, postgres_server: PostgresServer, pg_env: dict[str, str],
    running_cli: list[subprocess.Popen[str]],
) -> None:
    schema = unique_schema("killed")
    project = write_project(tmp_path / "slow", {**SLOW_PROJECT,
                                                "profiles.yml": postgres_profile("slow", schema)})
    script = Path(sys.executable).parent / "floe-dbt"
    process = subprocess.Popen(
        [str(script), "run", "--project-dir", str(project), "--output", "json"],
        cwd=tmp_path, env={**os.environ, "DO_NOT_TRACK": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    running_cli.append(process)
    started = time.monotonic()
    terminated: list[tuple[Any, ...]] = []
    while not terminated and time.monotonic() - started < 90 and process.poll() is None:
        terminated = query(
            postgres_server,
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where state = 'active' and query like %s and pid <> pg_backend_pid()",
            "%pg_sleep(60)%",
        )
        time.sleep(0.3)
    if not terminated:
        process.kill()
        pytest.fail(f"the slow query was never seen running: {process.communicate(timeout=30)}")
    stdout, stderr = process.communicate(timeout=120)
    assert time.monotonic() - started < 60, "no hang after the backend died"
    assert process.returncode == 1, (stdout, stderr)
    assert "Traceback" not in stderr
    statuses = {node["name"]: node["status"] for node in json.loads(stdout)["nodes"]}
    assert statuses == {"fast": "success", "slow": "error", "after_slow": "skipped",
                        "after_after": "skipped"}


def test_warm_manifests_follow_the_target_across_engines(
        tmp_path: Path, postgres_server: PostgresServer, pg_env: dict[str, str]) -> None:
    """One process builds DuckDB, then PostgreSQL, then DuckDB again: each target gets its own
    warm manifest, and each build lands its own data in its own database."""
    import duckdb
    import yaml
    from floe_dbt_core import invoke as core_invoke

    from floe_dbt_hooks import DBTFacade
    from floe_dbt_hooks.testing import CONTRACT_PROJECT, DUCKDB_PROFILES

    profiles = yaml.safe_load(DUCKDB_PROFILES)
    profiles["contract"]["outputs"]["pg"] = yaml.safe_load(
        postgres_profile("contract", pg_env["FLOE_PG_SCHEMA"]))["contract"]["outputs"]["dev"]
    project = write_project(tmp_path / "contract", {
        **CONTRACT_PROJECT, "profiles.yml": yaml.safe_dump(profiles, sort_keys=False)})
    core_invoke.forget_warm_manifests()
    facade = DBTFacade()
    for target, min_age in (("dev", 40), ("pg", 10), ("dev", 10)):
        result = facade.build(project, target=target, vars={"min_age": min_age})
        assert result.success, result
        assert result.metadata["adapter_type"] == ("postgres" if target == "pg" else "duckdb")
    assert sorted(name for _, name, _ in core_invoke._warm) == ["dev", "pg"]
    with duckdb.connect(str(project / "contract.duckdb"), read_only=True) as db:
        duck = sorted(row[0] for row in db.execute("select name from adults").fetchall())
    pg = sorted(row[0] for row in query(
        postgres_server, f'select name from "{pg_env["FLOE_PG_SCHEMA"]}".adults'))
    assert duck == pg
    assert len(duck) > 1, "the last DuckDB build used its own vars, not the 40 of the first"


_TRACED_BUILD = """
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from floe_dbt_hooks import DBTFacade
from floe_dbt_hooks.errors import FloeDBTError

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
try:
    DBTFacade().build(sys.argv[1], target="postgres")
except FloeDBTError as exc:
    print("error:", exc)
print(json.dumps([
    {"name": s.name, "attributes": dict(s.attributes or {}), "status": s.status.description,
     "events": [dict(e.attributes or {}) for e in s.events]}
    for s in exporter.get_finished_spans()], default=str))
"""


@pytest.mark.parametrize("password_ok", [True, False], ids=["build", "wrong-password"])
def test_password_appears_in_no_span(password_ok: bool, example_project: Path,
                                     postgres_server: PostgresServer, pg_env: dict[str, str]) -> None:
    """With an OpenTelemetry SDK recording, a build on PostgreSQL (and one whose login fails)
    leaves the password from env_var() in no span attribute, event or status."""
    password = pg_env["FLOE_PG_PASSWORD"] if password_ok else "wrong-pw-Zq81-never-print"
    env = {**os.environ, **pg_env, "FLOE_PG_PASSWORD": password, "DO_NOT_TRACK": "1"}
    completed = subprocess.run([sys.executable, "-c", _TRACED_BUILD, str(example_project)],
                               env=env, capture_output=True, text=True, timeout=300, check=True)
    spans = json.loads(completed.stdout.splitlines()[-1])
    assert "dbt_run" in {s["name"] for s in spans}, completed.stdout
    assert ("error:" in completed.stdout) is not password_ok, completed.stdout
    node_spans = [s for s in spans if s["name"] == "dbt.node"]
    assert len(node_spans) == (33 if password_ok else 0), completed.stdout
    assert password not in completed.stdout + completed.stderr
