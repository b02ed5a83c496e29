"""pytest fixtures for the real PostgreSQL and Spark services (see tests/services/shared.py for how
one instance serves the whole run), and the profiles that point dbt at them."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.services.postgres import PostgresServer, start_postgres, stop_postgres
from tests.services.shared import shared_root, shared_service, stop_shared_services
from tests.services.spark import SparkCluster, java_available, start_spark, stop_spark


def _stop_postgres(text: str) -> None:
    stop_postgres(PostgresServer.from_json(text))


def _stop_spark(text: str) -> None:
    stop_spark(SparkCluster.from_json(text))


def _stop_spark_session() -> None:
    """Stop this process's SparkSession (dbt-spark's session method leaves it running) before the
    cluster goes, so its executors are released instead of failing loudly at exit."""
    if "pyspark" not in sys.modules:
        return
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession() or SparkSession._instantiatedSession
    if session is not None:
        session.stop()


STOPPERS = {"postgres": _stop_postgres, "spark": _stop_spark}


def pytest_sessionfinish(session: pytest.Session) -> None:
    _stop_spark_session()
    if hasattr(session.config, "workerinput"):
        return
    factory: pytest.TempPathFactory | None = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        stop_shared_services(factory.getbasetemp(), STOPPERS)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> PostgresServer:
    return shared_service(shared_root(tmp_path_factory), "postgres", start_postgres,
                          PostgresServer.from_json, PostgresServer.to_json)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> SparkCluster:
    if not java_available():
        pytest.fail("java is missing: run 'python3 scripts/bootstrap.py setup' as root")
    return shared_service(shared_root(tmp_path_factory), "spark", start_spark,
                          SparkCluster.from_json, SparkCluster.to_json)


def unique_schema(prefix: str) -> str:
    """A schema name no other test (or xdist worker) of this run uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_env(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The example's ``postgres`` target variables in this process's environment (the password
    only ever travels this way), with a schema of this test's own."""
    values = {**postgres_server.env(), "FLOE_PG_SCHEMA": unique_schema("t")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def postgres_profile(profile: str, schema: str, threads: int = 2) -> str:
    """A profiles.yml whose connection values come from FLOE_PG_* variables (see ``pg_env``)."""
    output = {
        "type": "postgres",
        "host": "{{ env_var('FLOE_PG_HOST') }}",
        "port": "{{ env_var('FLOE_PG_PORT') | as_number }}",
        "user": "{{ env_var('FLOE_PG_USER') }}",
        "password": "{{ env_var('FLOE_PG_PASSWORD') }}",
        "dbname": "{{ env_var('FLOE_PG_DATABASE') }}",
        "schema": schema,
        "threads": threads,
        "connect_timeout": 5,
        "retries": 0,
    }
    return yaml.safe_dump({profile: {"target": "dev", "outputs": {"dev": output}}}, sort_keys=False)


@pytest.fixture(scope="session")
def spark_process_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """This process's Spark warehouse and Derby home: a SparkSession (and its static settings)
    lives as long as the process, and Derby admits one JVM per metastore folder."""
    base = tmp_path_factory.getbasetemp()
    return base / "spark-warehouse", base / "derby"


def spark_profile(profile: str, schema: str, parameters: dict[str, str]) -> str:
    output = {
        "type": "spark", "method": "session", "host": "NA", "schema": schema, "threads": 1,
        "server_side_parameters": parameters,
    }
    return yaml.safe_dump({profile: {"target": "dev", "outputs": {"dev": output}}},
                          sort_keys=False)
